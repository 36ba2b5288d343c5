//! Histograms in the results: summaries in milliseconds, and the lossless encoding.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::LatencySummary;
use crate::record::Extremes;

fn ms(us: f64) -> f64 {
    us.round() / 1_000.0
}

impl LatencySummary {
    /// Summarises a microsecond histogram in milliseconds; `exact` (when kept) supplies
    /// min, max and mean to the microsecond instead of to the histogram's 0.1%.
    pub fn of(h: &Histogram<u64>, exact: Option<&Extremes>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let (min, max, mean) = match exact.filter(|e| e.count > 0) {
            Some(e) => (
                e.min_us as f64,
                e.max_us as f64,
                e.sum_us as f64 / e.count as f64,
            ),
            None => (h.min() as f64, h.max() as f64, h.mean()),
        };
        // A percentile is its bucket's upper bound (within 0.1%); never report one above
        // the exact maximum or below the exact minimum.
        // max/min rather than clamp: a hand-edited file may have min > max, and clamp panics.
        let q = |quantile: f64| Some(ms((h.value_at_quantile(quantile) as f64).max(min).min(max)));
        LatencySummary {
            min: Some(ms(min)),
            mean: Some(ms(mean)),
            stddev: Some(ms(h.stdev())),
            max: Some(ms(max)),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
        }
    }
}

/// Serialises a histogram as HdrHistogram V2 compressed, base64 (the `histogram` field).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serialising into memory can only fail for histograms HdrHistogram cannot represent,
    // which ours never are; an empty string then marks the field as unavailable.
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Reads a `histogram` field back into a histogram of microseconds.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram is not HdrHistogram V2: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;

    #[test]
    fn histograms_survive_the_round_trip() {
        let mut h = new_histogram();
        for v in [1, 250, 20_000, 1_500_000, 3_600_000_000] {
            h.record(v).unwrap();
        }
        let text = encode_histogram(&h);
        assert!(text.starts_with("HISTF"), "{text}");
        assert_eq!(decode_histogram(&text).unwrap(), h);
    }

    #[test]
    fn summaries_are_in_milliseconds_and_null_when_empty() {
        let mut h = new_histogram();
        let mut exact = Extremes::default();
        for v in 1..=1_000 {
            h.record(v * 1_234).unwrap();
            exact.record(v * 1_234);
        }
        let s = LatencySummary::of(&h, Some(&exact));
        assert_eq!(s.min, Some(1.234));
        assert_eq!(s.max, Some(1_234.0));
        assert_eq!(s.mean, Some(617.617));
        assert!((s.p50.unwrap() - 617.0).abs() < 0.7, "{s:?}");
        let approximate = LatencySummary::of(&h, None);
        assert!((approximate.max.unwrap() - 1_234.0).abs() < 1.3);
        assert_eq!(
            LatencySummary::of(&new_histogram(), None),
            LatencySummary::default()
        );
    }
}
