use super::*;
use crate::record::new_histogram;

fn histogram(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = new_histogram();
    for v in values_us {
        h.record(v).unwrap();
    }
    h
}

/// A deterministic spread of values around `center_us` (±20%).
fn spread(center_us: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| center_us * 8 / 10 + (i * 7_919 % 1_000) * center_us * 4 / 10 / 1_000)
}

#[test]
fn identical_distributions_do_not_differ() {
    let t = ks_test(
        &histogram(spread(10_000, 2_000)),
        &histogram(spread(10_000, 3_000)),
    );
    assert!(!t.significant, "{t:?}");
    assert!(t.d < 0.01);
}

#[test]
fn a_shift_of_a_fifth_is_significant() {
    let t = ks_test(
        &histogram(spread(10_000, 2_000)),
        &histogram(spread(12_000, 2_000)),
    );
    assert!(t.significant, "{t:?}");
}

#[test]
fn few_samples_need_a_larger_difference() {
    let t = ks_test(
        &histogram(spread(10_000, 10)),
        &histogram(spread(10_500, 10)),
    );
    assert!(!t.significant, "{t:?}");
}

#[test]
fn tolerances_read_as_percentages_or_fractions() {
    assert_eq!(parse_tolerance("10%").unwrap(), 0.1);
    assert_eq!(parse_tolerance("0.25").unwrap(), 0.25);
    assert!(parse_tolerance("ten").is_err() && parse_tolerance("-5%").is_err());
}
