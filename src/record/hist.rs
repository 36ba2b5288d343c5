//! Histograms made on first use and sized to what they hold.
//!
//! Every worker thread keeps every endpoint's series, and most of them stay empty on most
//! threads: phases on reused connections, lag under a closed loop, an endpoint whose lanes
//! all live on another thread. A full-range histogram (1 µs .. 1 h at 3 digits) costs
//! 188 KB whether it is used or not, so 500 endpoints on a 32-core machine would need GBs
//! before the first request. A [`Lazy`] series is nothing until its first value, then
//! covers only up to the largest value seen (HdrHistogram's auto-resize), still clamped at
//! [`HIGHEST_US`]: a 20 ms endpoint's latency takes ≈ 56 KB, its connect phase ≈ 3 KB.
//!
//! Values and merges are exactly those of a full-range histogram of the same digits:
//! resizing only appends counters, it never moves a value to another bucket.

use std::sync::LazyLock;

use hdrhistogram::Histogram;

use super::{HIGHEST_US, SIGNIFICANT_DIGITS, cover, growing, new_coarse_histogram, new_histogram};

/// Significant digits of the connection phases (DNS, connect, TLS) and schedule lag:
/// diagnostic figures reported to 1%, which do not need the latency's 0.1%.
pub const COARSE_DIGITS: u8 = 2;

/// A latency series: 3 significant digits.
pub type LatencyHist = Lazy<SIGNIFICANT_DIGITS>;
/// A phase or lag series: [`COARSE_DIGITS`] significant digits.
pub type CoarseHist = Lazy<COARSE_DIGITS>;

/// A microsecond histogram of `DIGITS` significant digits, allocated at its first value.
#[derive(Debug, Default)]
pub struct Lazy<const DIGITS: u8>(Option<Histogram<u64>>);

static EMPTY_FINE: LazyLock<Histogram<u64>> = LazyLock::new(new_histogram);
static EMPTY_COARSE: LazyLock<Histogram<u64>> = LazyLock::new(new_coarse_histogram);

impl<const DIGITS: u8> Lazy<DIGITS> {
    /// Counts one value, in microseconds; values beyond [`HIGHEST_US`] count as it.
    pub fn record(&mut self, us: u64) {
        self.record_n(us, 1);
    }

    /// Counts `n` values of `us` microseconds.
    pub fn record_n(&mut self, us: u64, n: u64) {
        let us = us.min(HIGHEST_US);
        let h = self.0.get_or_insert_with(|| growing(DIGITS, us));
        // Rare: once per power of two the largest value passes.
        cover(h, us);
        // Cannot fail: the histogram covers the value.
        let _ = h.record_n(us, n);
    }

    /// Adds another series of the same layout.
    pub fn add(&mut self, other: &Lazy<DIGITS>) {
        if let Some(theirs) = &other.0 {
            self.add_histogram(theirs);
        }
    }

    /// Adds a histogram (of any layout: its values are re-recorded at their buckets).
    pub fn add_histogram(&mut self, theirs: &Histogram<u64>) {
        if theirs.is_empty() {
            return;
        }
        // Sized once to cover their largest value, not grown value by value.
        let high = theirs.max().min(HIGHEST_US);
        cover(self.0.get_or_insert_with(|| growing(DIGITS, high)), high);
        for bucket in theirs.iter_recorded() {
            self.record_n(bucket.value_iterated_to(), bucket.count_at_value());
        }
    }

    /// The histogram, or an empty one of the same layout when nothing was recorded.
    pub fn get(&self) -> &Histogram<u64> {
        match &self.0 {
            Some(h) => h,
            None if DIGITS == COARSE_DIGITS => &EMPTY_COARSE,
            None => &EMPTY_FINE,
        }
    }

    /// The histogram itself (an empty one when nothing was recorded).
    pub fn into_histogram(self) -> Histogram<u64> {
        self.0.unwrap_or_else(|| growing(DIGITS, 2))
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.0.as_ref().map_or(0, Histogram::len)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const DIGITS: u8> Clone for Lazy<DIGITS> {
    /// Copies only what is recorded, so a snapshot of a sparse series stays small.
    fn clone(&self) -> Self {
        let mut copy = Lazy(None);
        copy.add(self);
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LOWEST_US;

    /// What the recorder held before: every histogram over the whole range.
    fn full_range(digits: u8) -> Histogram<u64> {
        Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, digits).expect("valid bounds")
    }

    #[test]
    fn nothing_is_allocated_before_the_first_value() {
        let h = LatencyHist::default();
        assert!(h.0.is_none());
        assert!(h.get().is_empty());
        assert_eq!(h.clone().0, None);
    }

    #[test]
    fn holds_what_a_full_range_histogram_holds() {
        let mut lazy = LatencyHist::default();
        let mut full = full_range(SIGNIFICANT_DIGITS);
        for us in [1, 7, 999, 20_000, 1_234_567, 3_600_000_000, u64::MAX, 0] {
            lazy.record(us);
            full.saturating_record(us);
        }
        assert_eq!(lazy.len(), full.len());
        for q in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
            assert_eq!(lazy.get().value_at_quantile(q), full.value_at_quantile(q));
        }
        assert_eq!(
            (lazy.get().min(), lazy.get().max()),
            (full.min(), full.max())
        );
    }

    #[test]
    fn is_sized_to_its_largest_value() {
        let mut small = LatencyHist::default();
        small.record(20_000);
        let full = full_range(SIGNIFICANT_DIGITS);
        assert!(small.get().distinct_values() * 3 < full.distinct_values());
        let mut phase = CoarseHist::default();
        phase.record(150);
        assert!(phase.get().distinct_values() <= 512);
    }

    #[test]
    fn adding_is_exact_whatever_the_sizes() {
        let (mut a, mut b, mut whole) = (
            LatencyHist::default(),
            LatencyHist::default(),
            full_range(SIGNIFICANT_DIGITS),
        );
        for i in 0..2_000u64 {
            let us = 1 + i * i * 37 % 9_000_000;
            match i % 3 {
                0 => a.record(us),
                _ => b.record(us),
            }
            whole.saturating_record(us);
        }
        a.add(&b);
        let mut merged = full_range(SIGNIFICANT_DIGITS);
        crate::record::add_sparse(&mut merged, a.get());
        assert_eq!(merged, whole);
    }
}
