//! Histograms made on first use and sized to what they hold.
//!
//! Every worker thread keeps every endpoint's series, and most of them stay empty on most
//! threads: phases on reused connections, lag under a closed loop, an endpoint whose lanes
//! all live on another thread. A full-range histogram (1 µs .. 1 h at 3 digits) costs
//! 188 KB whether it is used or not, so 500 endpoints on a 32-core machine would need GBs
//! before the first request. A [`Lazy`] series is nothing until its first value, then up
//! to [`FEW`] distinct values kept as they are, then a histogram covering only up to the
//! largest value seen (HdrHistogram's auto-resize, grown exactly), still clamped at
//! [`HIGHEST_US`]: a 20 ms endpoint's latency takes 48 KB, its connect phase ≈ 3 KB.
//!
//! Values and merges are exactly those of a full-range histogram of the same digits:
//! resizing only appends counters, it never moves a value to another bucket.

use std::borrow::Cow;
use std::sync::LazyLock;

use hdrhistogram::Histogram;

use super::{
    HIGHEST_US, SIGNIFICANT_DIGITS, add_sparse, cover, growing, new_coarse_histogram, new_histogram,
};

/// Significant digits of the connection phases (DNS, connect, TLS) and schedule lag:
/// diagnostic figures reported to 1%, which do not need the latency's 0.1%.
pub const COARSE_DIGITS: u8 = 2;

/// A latency series: 3 significant digits.
pub type LatencyHist = Lazy<SIGNIFICANT_DIGITS>;
/// A phase or lag series: [`COARSE_DIGITS`] significant digits.
pub type CoarseHist = Lazy<COARSE_DIGITS>;

/// Distinct values a series keeps as they are before it becomes a histogram.
pub const FEW: usize = 32;

/// A microsecond histogram of `DIGITS` significant digits, made only when it holds enough.
#[derive(Debug, Default)]
pub struct Lazy<const DIGITS: u8>(Series);

#[derive(Debug, Default)]
enum Series {
    #[default]
    Empty,
    /// Up to [`FEW`] distinct values, exact, with their counts: an endpoint fired at a few
    /// times (one of 500 routes, a connection opened once) holds a few hundred bytes
    /// instead of a histogram's 16 KB or more. Adding them to a histogram later gives
    /// exactly the histogram that recording them one by one would have.
    Few(Vec<(u64, u64)>),
    /// The histogram, covering up to the largest value. Boxed: every endpoint has eight
    /// series on every thread, most of them never dense, and a histogram inline is
    /// ≈ 120 bytes where a box is 8.
    Dense(Box<Histogram<u64>>),
}

static EMPTY_FINE: LazyLock<Histogram<u64>> = LazyLock::new(new_histogram);
static EMPTY_COARSE: LazyLock<Histogram<u64>> = LazyLock::new(new_coarse_histogram);

impl<const DIGITS: u8> Lazy<DIGITS> {
    /// Counts one value, in microseconds; values beyond [`HIGHEST_US`] count as it.
    pub fn record(&mut self, us: u64) {
        self.record_n(us, 1);
    }

    /// Counts `n` values of `us` microseconds.
    fn record_n(&mut self, us: u64, n: u64) {
        let us = us.min(HIGHEST_US);
        match &mut self.0 {
            Series::Dense(h) => {
                // Rare: once per power of two the largest value passes.
                cover(h, us);
                // Cannot fail: the histogram covers the value.
                let _ = h.record_n(us, n);
            }
            Series::Few(few) => match few.iter().position(|&(value, _)| value == us) {
                Some(i) => few[i].1 = few[i].1.saturating_add(n),
                None if few.len() < FEW => few.push((us, n)),
                None => {
                    let _ = self.dense(us).record_n(us, n);
                }
            },
            Series::Empty => self.0 = Series::Few(vec![(us, n)]),
        }
    }

    /// The series as a histogram covering `high` (made from the few values, if those are
    /// what it holds).
    fn dense(&mut self, high: u64) -> &mut Histogram<u64> {
        if let Series::Dense(h) = &mut self.0 {
            cover(h, high);
        } else {
            let few = match std::mem::take(&mut self.0) {
                Series::Few(few) => few,
                _ => Vec::new(),
            };
            let largest = few.iter().map(|&(value, _)| value).max().unwrap_or(0);
            let mut h = growing(DIGITS, high.max(largest));
            for (value, count) in few {
                let _ = h.record_n(value, count);
            }
            self.0 = Series::Dense(Box::new(h));
        }
        match &mut self.0 {
            Series::Dense(h) => h,
            _ => unreachable!("made dense just above"),
        }
    }

    /// Adds another series of the same layout.
    pub fn add(&mut self, other: &Lazy<DIGITS>) {
        match &other.0 {
            Series::Empty => {}
            Series::Few(few) => {
                for &(value, count) in few {
                    self.record_n(value, count);
                }
            }
            Series::Dense(theirs) => self.add_histogram(theirs),
        }
    }

    /// Adds a histogram (of any layout: its values are re-recorded at their buckets).
    fn add_histogram(&mut self, theirs: &Histogram<u64>) {
        if theirs.is_empty() {
            return;
        }
        // Sized once to cover their largest value, not grown value by value.
        let into = self.dense(theirs.max().min(HIGHEST_US));
        add_sparse(into, theirs);
    }

    /// The series as a histogram (an empty one when nothing was recorded; made from the
    /// values when there are few).
    pub fn histogram(&self) -> Cow<'_, Histogram<u64>> {
        match &self.0 {
            Series::Dense(h) => Cow::Borrowed(&**h),
            Series::Empty if DIGITS == COARSE_DIGITS => Cow::Borrowed(&EMPTY_COARSE),
            Series::Empty => Cow::Borrowed(&EMPTY_FINE),
            Series::Few(_) => {
                let mut copy = Lazy::<DIGITS>::default();
                copy.add(self);
                Cow::Owned(copy.into_histogram())
            }
        }
    }

    /// The histogram itself (an empty one when nothing was recorded).
    pub fn into_histogram(mut self) -> Histogram<u64> {
        if self.is_empty() {
            return growing(DIGITS, 2);
        }
        self.dense(0);
        match self.0 {
            Series::Dense(h) => *h,
            _ => growing(DIGITS, 2),
        }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        match &self.0 {
            Series::Empty => 0,
            Series::Few(few) => few.iter().map(|&(_, count)| count).sum(),
            Series::Dense(h) => h.len(),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const DIGITS: u8> Clone for Lazy<DIGITS> {
    /// Copies only what is recorded, so a snapshot of a sparse series stays small.
    fn clone(&self) -> Self {
        let mut copy = Lazy::default();
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
        assert!(matches!(h.0, Series::Empty));
        assert!(h.histogram().is_empty());
        assert!(matches!(h.clone().0, Series::Empty));
    }

    #[test]
    fn a_few_values_are_kept_as_they_are_until_more_come() {
        let mut h = LatencyHist::default();
        let mut full = full_range(SIGNIFICANT_DIGITS);
        for i in 0..FEW as u64 {
            h.record_n(100 + i * 1_000, 2);
            full.record_n(100 + i * 1_000, 2).expect("in range");
        }
        assert!(matches!(&h.0, Series::Few(few) if few.len() == FEW));
        assert_eq!((h.len(), h.histogram().len()), (2 * FEW as u64, full.len()));
        h.record(7);
        full.record(7).expect("in range");
        assert!(matches!(h.0, Series::Dense(_)));
        for q in [0.0, 0.1, 0.5, 0.99, 1.0] {
            assert_eq!(
                h.histogram().value_at_quantile(q),
                full.value_at_quantile(q)
            );
        }
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
            assert_eq!(
                lazy.histogram().value_at_quantile(q),
                full.value_at_quantile(q)
            );
        }
        assert_eq!(
            (lazy.histogram().min(), lazy.histogram().max()),
            (full.min(), full.max())
        );
    }

    #[test]
    fn is_sized_to_its_largest_value() {
        let mut small = LatencyHist::default();
        small.record(20_000);
        let full = full_range(SIGNIFICANT_DIGITS);
        assert!(small.histogram().distinct_values() * 3 < full.distinct_values());
        let mut phase = CoarseHist::default();
        phase.record(150);
        assert!(phase.histogram().distinct_values() <= 512);
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
        crate::record::add_sparse(&mut merged, &a.histogram());
        assert_eq!(merged, whole);
    }
}
