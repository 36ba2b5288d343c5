//! A small, sparse latency sketch for timeline buckets.
//!
//! Values fall into log-linear bins: exact below 8 µs, then 8 bins per power of two, so a
//! bin's midpoint is within 6.25% of any value in it. Only bins that saw a value are
//! stored, sorted, as a byte and a count: a bucket whose latencies span a factor of ten uses
//! about 27 bins, some 250 bytes, where a 1-digit HdrHistogram takes 1.9 KB whatever it
//! holds. That keeps a 1,000-bucket timeline small enough to copy at every snapshot.

/// Bins that hold exactly one value each (1 ..= 7 µs; 0 shares bin 0).
const EXACT: u64 = 8;
/// Largest value kept apart; larger ones (over 71 minutes) share the top bin.
const MAX_US: u64 = u32::MAX as u64;

/// Counts per log-linear bin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSketch {
    bins: Vec<u8>,
    counts: Vec<u64>,
}

fn bin_of(us: u64) -> u8 {
    let v = us.min(MAX_US);
    if v < EXACT {
        return v as u8;
    }
    let exponent = 63 - u64::from(v.leading_zeros()); // 3 ..= 31
    let sub = (v >> (exponent - 3)) - 8; // 0 ..= 7
    (EXACT + (exponent - 3) * 8 + sub) as u8
}

/// The midpoint of a bin, in microseconds.
fn midpoint_of(bin: u8) -> f64 {
    let bin = u64::from(bin);
    if bin < EXACT {
        return bin as f64;
    }
    let k = bin - EXACT;
    let shift = k / 8;
    let lower = (8 + k % 8) << shift;
    lower as f64 + (1u64 << shift) as f64 / 2.0
}

impl LogSketch {
    /// Counts one value, in microseconds.
    pub fn record(&mut self, us: u64) {
        self.add(bin_of(us), 1);
    }

    fn add(&mut self, bin: u8, n: u64) {
        match self.bins.binary_search(&bin) {
            Ok(i) => self.counts[i] += n,
            Err(i) => {
                self.bins.insert(i, bin);
                self.counts.insert(i, n);
            }
        }
    }

    /// Adds another sketch's counts.
    pub fn merge(&mut self, other: &LogSketch) {
        for (&bin, &n) in other.bins.iter().zip(&other.counts) {
            self.add(bin, n);
        }
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value at quantile `q` (0..=1), as its bin's midpoint in microseconds; `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (&bin, &n) in self.bins.iter().zip(&self.counts) {
            seen += n;
            if seen >= rank {
                return Some(midpoint_of(bin));
            }
        }
        self.bins.last().map(|&bin| midpoint_of(bin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bin_whose_midpoint_is_within_six_percent() {
        let mut v = 1u64;
        while v < MAX_US {
            let midpoint = midpoint_of(bin_of(v));
            assert!(
                (midpoint - v as f64).abs() <= v as f64 * 0.0625 + 0.5,
                "{v} → {midpoint}"
            );
            v = v * 9 / 8 + 1;
        }
        assert!(bin_of(u64::MAX) >= bin_of(MAX_US - 1));
    }

    #[test]
    fn quantiles_follow_the_counts() {
        let mut s = LogSketch::default();
        for _ in 0..990 {
            s.record(1_000);
        }
        for _ in 0..10 {
            s.record(50_000);
        }
        let p50 = s.quantile(0.5).unwrap();
        let p99 = s.quantile(0.99).unwrap();
        let p999 = s.quantile(0.999).unwrap();
        assert!((p50 - 1_000.0).abs() < 62.5, "{p50}");
        assert!((p99 - 1_000.0).abs() < 62.5, "{p99}");
        assert!((p999 - 50_000.0).abs() < 3_125.0, "{p999}");
        assert_eq!(s.count(), 1_000);
        assert_eq!(LogSketch::default().quantile(0.99), None);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            LogSketch::default(),
            LogSketch::default(),
            LogSketch::default(),
        );
        for v in (1..5_000u64).map(|i| i * 37 % 9_973 + 1) {
            if v % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }
}
