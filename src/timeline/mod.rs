//! Fixed-width time buckets: the data behind the line charts of latency over time.
//!
//! Memory is bounded whatever the run's length: buckets start [`BASE_WIDTH_US`] wide and,
//! when a run outgrows [`MAX_BUCKETS`], neighbours merge and the width doubles. So a
//! three-day run keeps between 500 and 1,000 buckets per endpoint, a few hundred bytes each.

mod sketch;

pub use sketch::LogSketch;

/// Width of a bucket at the start of a run, in microseconds (100 ms).
pub const BASE_WIDTH_US: u64 = 100_000;
/// Most buckets a timeline holds before it halves its resolution.
pub const MAX_BUCKETS: usize = 1_000;

/// Requests that started in one interval of the run.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Requests started in the interval, whatever their outcome.
    pub requests: u64,
    /// Of those, the ones that were not `ok`.
    pub errors: u64,
    /// Sum of the timed latencies, in microseconds.
    pub sum_us: u64,
    /// Smallest timed latency, in microseconds (meaningful when `timed() > 0`).
    pub min_us: u64,
    /// Largest timed latency, in microseconds.
    pub max_us: u64,
    /// The timed latencies, for the bucket's p99 (within 6.25%).
    pub sketch: LogSketch,
    timed: u64,
    /// Sum of the server times reported in the bucket, in microseconds.
    pub server_sum_us: u64,
    /// Responses in the bucket that reported a server time.
    pub server_timed: u64,
}

impl Bucket {
    /// Number of timed (complete) responses in the bucket.
    pub fn timed(&self) -> u64 {
        self.timed
    }

    fn record(&mut self, latency_us: Option<u64>, error: bool) {
        self.requests += 1;
        self.errors += u64::from(error);
        let Some(us) = latency_us else { return };
        self.min_us = if self.timed == 0 {
            us
        } else {
            self.min_us.min(us)
        };
        self.timed += 1;
        self.max_us = self.max_us.max(us);
        self.sum_us = self.sum_us.saturating_add(us);
        self.sketch.record(us);
    }

    fn absorb(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.server_sum_us = self.server_sum_us.saturating_add(other.server_sum_us);
        self.server_timed += other.server_timed;
        if other.timed() == 0 {
            return;
        }
        self.min_us = if self.timed() == 0 {
            other.min_us
        } else {
            self.min_us.min(other.min_us)
        };
        self.max_us = self.max_us.max(other.max_us);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.timed += other.timed;
        self.sketch.merge(&other.sketch);
    }
}

/// A run's requests bucketed by start time.
#[derive(Debug, Clone)]
pub struct Timeline {
    width_us: u64,
    buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width_us: BASE_WIDTH_US,
            buckets: Vec::new(),
        }
    }
}

impl Timeline {
    /// Width of every bucket, in microseconds.
    pub fn width_us(&self) -> u64 {
        self.width_us
    }

    /// The buckets in time order; bucket `i` covers `[i·width, (i+1)·width)` from the run's start.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// Counts one request that started `started_us` after the run began; `latency_us` is
    /// `None` for a transport error (counted, not timed).
    pub fn record(&mut self, started_us: u64, latency_us: Option<u64>, error: bool) {
        let index = self.index_for(started_us);
        self.buckets[index].record(latency_us, error);
    }

    /// Adds the server time a response reported to the bucket of its request (recorded
    /// with [`Timeline::record`] just before).
    pub fn record_server(&mut self, started_us: u64, server_us: u64) {
        let index = self.index_for(started_us);
        let bucket = &mut self.buckets[index];
        bucket.server_sum_us = bucket.server_sum_us.saturating_add(server_us);
        bucket.server_timed += 1;
    }

    /// Adds another timeline (from another thread or checkpoint) into this one.
    pub fn merge(&mut self, other: &Timeline) {
        while self.width_us < other.width_us {
            self.coarsen();
        }
        // Widths are BASE_WIDTH_US · 2^k on both sides, so each of the other's buckets
        // nests inside exactly one of ours.
        for (i, bucket) in other.buckets.iter().enumerate() {
            if bucket.requests == 0 {
                continue;
            }
            let index = self.index_for(i as u64 * other.width_us);
            self.buckets[index].absorb(bucket);
        }
    }

    /// Index of the bucket for a start offset, growing or coarsening the timeline as needed.
    fn index_for(&mut self, started_us: u64) -> usize {
        let mut index = (started_us / self.width_us) as usize;
        while index >= MAX_BUCKETS {
            self.coarsen();
            index = (started_us / self.width_us) as usize;
        }
        if index >= self.buckets.len() {
            self.buckets.resize_with(index + 1, Bucket::default);
        }
        index
    }

    /// Doubles the width, merging neighbouring buckets pairwise.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let mut merged: Vec<Bucket> = Vec::with_capacity(old.len().div_ceil(2));
        for (i, bucket) in old.into_iter().enumerate() {
            if i % 2 == 0 {
                merged.push(bucket);
            } else if let Some(last) = merged.last_mut() {
                last.absorb(&bucket);
            }
        }
        self.buckets = merged;
        self.width_us *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_requests_by_start_time() {
        let mut t = Timeline::default();
        t.record(0, Some(1_000), false);
        t.record(50_000, Some(3_000), true);
        t.record(250_000, None, true);
        assert_eq!(t.buckets().len(), 3);
        let first = &t.buckets()[0];
        assert_eq!((first.requests, first.errors, first.timed()), (2, 1, 2));
        assert_eq!(
            (first.min_us, first.max_us, first.sum_us),
            (1_000, 3_000, 4_000)
        );
        assert_eq!(t.buckets()[1].requests, 0);
        assert_eq!((t.buckets()[2].requests, t.buckets()[2].timed()), (1, 0));
    }

    #[test]
    fn stays_bounded_over_a_three_day_run() {
        let mut t = Timeline::default();
        let three_days_us = 3 * 24 * 3_600 * 1_000_000_u64;
        let step = 5_000_000; // one request every 5 s
        let mut n = 0;
        for started in (0..three_days_us).step_by(step) {
            t.record(started, Some(10_000), false);
            n += 1;
        }
        assert!(t.buckets().len() <= MAX_BUCKETS);
        assert!(t.buckets().len() >= MAX_BUCKETS / 2);
        assert_eq!(t.buckets().iter().map(|b| b.requests).sum::<u64>(), n);
    }

    #[test]
    fn merging_timelines_of_different_widths_keeps_every_count() {
        let mut fine = Timeline::default();
        let mut coarse = Timeline::default();
        for i in 0..100 {
            fine.record(i * 100_000, Some(1_000 + i), false);
        }
        for i in 0..3_000 {
            coarse.record(i * 100_000, Some(2_000), i % 10 == 0);
        }
        assert!(coarse.width_us() > fine.width_us());
        fine.merge(&coarse);
        assert_eq!(fine.width_us(), coarse.width_us());
        assert_eq!(
            fine.buckets().iter().map(|b| b.requests).sum::<u64>(),
            3_100
        );
        assert_eq!(fine.buckets().iter().map(|b| b.errors).sum::<u64>(), 300);
        assert_eq!(fine.buckets()[0].min_us, 1_000);
    }
}
