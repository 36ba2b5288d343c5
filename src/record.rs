//! Live aggregates: what the lanes of one thread record, merged exactly across threads.
//!
//! Nothing here is shared between threads while a run goes on. Each worker thread owns one
//! [`Stats`] (one [`EndpointStats`] per endpoint) and its lanes record into it without locks;
//! the engine merges the threads' copies at checkpoints and at the end. HdrHistogram
//! addition is exact, so the merged figures are those of one histogram fed every request.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::{ErrorKind, Outcome};
use crate::timeline::Timeline;

/// Lowest latency the histograms resolve, in microseconds.
pub const LOWEST_US: u64 = 1;
/// Highest latency the histograms track, in microseconds (1 h); longer ones are clamped.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by the full-precision histograms.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A full-precision latency histogram in microseconds (1 µs .. 1 h, 3 digits, ≈188 KB).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counts per HTTP status code. A run sees a handful of codes, so a short vector searched
/// linearly beats a map and stops allocating after the first sighting of each code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts(Vec<(u16, u64)>);

impl StatusCounts {
    /// Adds `n` responses with `status`.
    pub fn add(&mut self, status: u16, n: u64) {
        match self.0.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += n,
            None => self.0.push((status, n)),
        }
    }

    /// `(status, count)` pairs sorted by status.
    pub fn sorted(&self) -> Vec<(u16, u64)> {
        let mut pairs = self.0.clone();
        pairs.sort_unstable();
        pairs
    }
}

/// Exact extremes and sum of a latency series, beside the histogram: HdrHistogram reports
/// a bucket's bounds (within 0.1%), but the story compares minima and maxima, so those are
/// kept to the microsecond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extremes {
    /// Values recorded.
    pub count: u64,
    /// Smallest value, in microseconds.
    pub min_us: u64,
    /// Largest value, in microseconds.
    pub max_us: u64,
    /// Sum of the values, in microseconds (for an exact mean).
    pub sum_us: u128,
}

impl Extremes {
    /// Adds one value.
    pub fn record(&mut self, us: u64) {
        self.merge(&Extremes {
            count: 1,
            min_us: us,
            max_us: us,
            sum_us: u128::from(us),
        });
    }

    /// Adds another series.
    pub fn merge(&mut self, other: &Extremes) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.count += other.count;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
        self.sum_us += other.sum_us;
    }
}

/// The very first request an endpoint sent: where a cold start shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstRequest {
    /// When it started, from the start of the run.
    pub started: Duration,
    /// Its latency, or `None` when it failed without a response.
    pub latency: Option<Duration>,
}

/// Everything recorded for one endpoint (on one thread, or merged).
#[derive(Debug, Clone)]
pub struct EndpointStats {
    /// Latency of every complete response, in microseconds.
    pub latency: Histogram<u64>,
    /// Exact min, max and sum of the same latencies.
    pub latency_exact: Extremes,
    /// Time to first byte (response head parsed) of every complete response, in microseconds.
    pub ttfb: Histogram<u64>,
    /// Requests finished: `ok + errors`.
    pub requests: u64,
    /// Requests with a complete response of an expected status.
    pub ok: u64,
    /// Counts per error kind, indexed by [`ErrorKind::index`].
    pub errors_by_kind: [u64; ErrorKind::ALL.len()],
    /// Complete responses per status code.
    pub status: StatusCounts,
    /// The endpoint's earliest request.
    pub first: Option<FirstRequest>,
    /// Requests bucketed by start time.
    pub timeline: Timeline,
}

impl Default for EndpointStats {
    fn default() -> Self {
        EndpointStats {
            latency: new_histogram(),
            latency_exact: Extremes::default(),
            ttfb: new_histogram(),
            requests: 0,
            ok: 0,
            errors_by_kind: [0; ErrorKind::ALL.len()],
            status: StatusCounts::default(),
            first: None,
            timeline: Timeline::default(),
        }
    }
}

impl EndpointStats {
    /// Requests that were not `ok`.
    pub fn errors(&self) -> u64 {
        self.errors_by_kind.iter().sum()
    }

    /// Counts one finished request.
    pub fn record(&mut self, outcome: &Outcome) {
        self.requests += 1;
        let error = outcome.error_kind();
        match error {
            Some(kind) => self.errors_by_kind[kind.index()] += 1,
            None => self.ok += 1,
        }
        let latency = outcome.result.ok().map(|response| {
            self.status.add(response.status, 1);
            self.ttfb.saturating_record(micros(response.ttfb));
            let us = micros(response.latency);
            self.latency.saturating_record(us);
            self.latency_exact.record(us);
            us
        });
        let first = FirstRequest {
            started: outcome.started,
            latency: outcome.result.ok().map(|r| r.latency),
        };
        self.note_first(first);
        self.timeline
            .record(micros(outcome.started), latency, error.is_some());
    }

    fn note_first(&mut self, candidate: FirstRequest) {
        if self
            .first
            .is_none_or(|known| candidate.started < known.started)
        {
            self.first = Some(candidate);
        }
    }

    /// Adds another thread's (or checkpoint's) figures for the same endpoint.
    pub fn merge(&mut self, other: &EndpointStats) {
        // Both sides use the same bounds, so addition cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
        self.latency_exact.merge(&other.latency_exact);
        self.requests += other.requests;
        self.ok += other.ok;
        for (mine, theirs) in self.errors_by_kind.iter_mut().zip(other.errors_by_kind) {
            *mine += theirs;
        }
        for &(status, n) in &other.status.0 {
            self.status.add(status, n);
        }
        if let Some(first) = other.first {
            self.note_first(first);
        }
        self.timeline.merge(&other.timeline);
    }
}

/// One [`EndpointStats`] per endpoint, in the order of the run's targets.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Indexed like the plan's endpoints.
    pub endpoints: Vec<EndpointStats>,
}

impl Stats {
    /// Empty figures for `endpoints` endpoints.
    pub fn new(endpoints: usize) -> Self {
        Stats {
            endpoints: (0..endpoints).map(|_| EndpointStats::default()).collect(),
        }
    }

    /// Adds another set of figures for the same endpoints.
    pub fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.endpoints.iter_mut().zip(&other.endpoints) {
            mine.merge(theirs);
        }
    }

    /// Requests finished across every endpoint.
    pub fn requests(&self) -> u64 {
        self.endpoints.iter().map(|e| e.requests).sum()
    }

    /// Errors across every endpoint.
    pub fn errors(&self) -> u64 {
        self.endpoints.iter().map(EndpointStats::errors).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Response;

    fn response(started_ms: u64, latency_ms: u64, status: u16) -> Outcome {
        Outcome {
            started: Duration::from_millis(started_ms),
            result: Ok(Response {
                status,
                expected: (200..300).contains(&status),
                latency: Duration::from_millis(latency_ms),
                ttfb: Duration::from_millis(latency_ms / 2),
            }),
        }
    }

    fn failure(started_ms: u64, kind: ErrorKind) -> Outcome {
        Outcome {
            started: Duration::from_millis(started_ms),
            result: Err(kind),
        }
    }

    #[test]
    fn counts_ok_errors_and_times_only_complete_responses() {
        let mut s = EndpointStats::default();
        s.record(&response(0, 10, 200));
        s.record(&response(1, 20, 500));
        s.record(&failure(2, ErrorKind::Timeout));
        assert_eq!((s.requests, s.ok, s.errors()), (3, 1, 2));
        assert_eq!(s.errors_by_kind[ErrorKind::Status.index()], 1);
        assert_eq!(s.errors_by_kind[ErrorKind::Timeout.index()], 1);
        assert_eq!(s.latency.len(), 2);
        assert_eq!(s.status.sorted(), vec![(200, 1), (500, 1)]);
    }

    #[test]
    fn merge_is_exact_and_keeps_the_earliest_first_request() {
        let mut a = EndpointStats::default();
        let mut b = EndpointStats::default();
        let mut whole = EndpointStats::default();
        for i in 0..1_000 {
            let o = response(i + 5, 1 + i % 97, if i % 50 == 0 { 503 } else { 200 });
            if i % 3 == 0 {
                a.record(&o)
            } else {
                b.record(&o)
            }
            whole.record(&o);
        }
        b.record(&response(1, 777, 200));
        whole.record(&response(1, 777, 200));
        a.merge(&b);
        assert_eq!(a.requests, whole.requests);
        assert_eq!(a.ok, whole.ok);
        assert_eq!(a.latency, whole.latency);
        assert_eq!(a.status.sorted(), whole.status.sorted());
        assert_eq!(
            a.first.and_then(|f| f.latency),
            Some(Duration::from_millis(777))
        );
    }
}
