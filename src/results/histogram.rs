//! Histograms in the results: summaries in milliseconds, and the lossless encoding.

use std::sync::LazyLock;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::LatencySummary;
use crate::record::{
    COARSE_DIGITS, Extremes, HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, add_sparse, new_histogram,
};

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

/// Serialises a histogram as HdrHistogram V2 compressed, base64 (the `histogram` field),
/// always over the full range (1 µs .. 1 h): the recorder sizes its histograms to what
/// they hold, but a reader adding the files' histograms (HdrHistogram's `add`) needs
/// every one to cover the others' values. Zeros past the largest value cost nothing.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    static EMPTY: LazyLock<[String; 2]> = LazyLock::new(|| {
        [SIGNIFICANT_DIGITS, COARSE_DIGITS].map(|digits| encode_as_is(&full_range(digits, None)))
    });
    match (h.high() < HIGHEST_US, h.is_empty(), h.sigfig()) {
        (false, _, _) => encode_as_is(h),
        (true, true, SIGNIFICANT_DIGITS) => EMPTY[0].clone(),
        (true, true, COARSE_DIGITS) => EMPTY[1].clone(),
        (true, _, digits) => encode_as_is(&full_range(digits, Some(h))),
    }
}

fn encode_as_is(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serialising into memory can only fail for histograms HdrHistogram cannot represent,
    // which ours never are; an empty string then marks the field as unavailable.
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// A histogram of `digits` over the full range, with `h`'s values.
fn full_range(digits: u8, h: Option<&Histogram<u64>>) -> Histogram<u64> {
    // Digits HdrHistogram refuses (a file from elsewhere): the values at ours, sized to them.
    let mut full = Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, digits)
        .unwrap_or_else(|_| new_histogram());
    if let Some(h) = h {
        add_sparse(&mut full, h);
    }
    full
}

/// The cookies that open HdrHistogram's V2 encoding, plain and compressed.
/// (The word size, 8 bytes, is or-ed into the base cookies as 0x10.)
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// The V2 header before the counts: cookie, payload length, offset, digits, bounds, ratio.
const V2_HEADER: usize = 40;
/// No histogram api-cannon writes comes near this once decompressed (≈200 KB at most).
const DECODED_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads a `histogram` field back into a histogram of microseconds.
///
/// Results files come from anywhere, so the lengths inside are checked before the
/// decoder trusts them: HdrHistogram's allocates whatever payload length the header
/// states, and a hand-edited file could state 4 GB.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    let plain = match u32_at(&bytes, 0) {
        Some(V2_COMPRESSED_COOKIE) => decompressed(&bytes)?,
        Some(V2_COOKIE) => bytes,
        _ => return Err("histogram is not HdrHistogram V2 (unknown cookie)".to_owned()),
    };
    let stated = u32_at(&plain, 4).map_or(usize::MAX, |n| n as usize);
    if u32_at(&plain, 0) != Some(V2_COOKIE) || stated > plain.len().saturating_sub(V2_HEADER) {
        return Err("histogram is corrupt: its stated length does not match its data".to_owned());
    }
    Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|e| format!("histogram is not HdrHistogram V2: {e:?}"))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

/// The V2 encoding inside a compressed one, decompressed up to [`DECODED_LIMIT`].
fn decompressed(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let length = u32_at(bytes, 4).ok_or("histogram is cut short")? as usize;
    let deflated = bytes
        .get(8..8 + length)
        .ok_or("histogram is cut short: its stated length is beyond its data")?;
    let mut plain = Vec::new();
    flate2::read::ZlibDecoder::new(deflated)
        .take(DECODED_LIMIT + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("histogram does not decompress: {e}"))?;
    if plain.len() as u64 > DECODED_LIMIT {
        return Err("histogram decompresses to more than 64 MiB: not one api-cannon wrote".into());
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn histograms_sized_to_their_values_are_written_over_the_full_range() {
        // What the recorder holds: a series sized to its largest value, 20 ms.
        let mut lazy = crate::record::LatencyHist::default();
        lazy.record(20_000);
        let held = lazy.into_histogram();
        assert!(held.high() < HIGHEST_US);
        let written = decode_histogram(&encode_histogram(&held)).unwrap();
        assert_eq!(written.high(), HIGHEST_US);
        assert_eq!((written.len(), written.max()), (1, held.max()));
        // So a reader can add another file's histogram with larger values to it.
        let mut other = new_histogram();
        other.record(2_000_000).unwrap();
        let mut sum = written;
        sum.add(decode_histogram(&encode_histogram(&other)).unwrap())
            .unwrap();
        assert_eq!(sum.len(), 2);
    }

    #[test]
    fn a_histogram_stating_a_huge_length_is_refused_not_allocated() {
        use std::io::{Read as _, Write as _};
        let mut h = new_histogram();
        h.record(250).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encode_histogram(&h))
            .unwrap();
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(&bytes[8..])
            .read_to_end(&mut plain)
            .unwrap();
        // The payload length inside claims nearly 4 GB.
        plain[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
        encoder.write_all(&plain).unwrap();
        let deflated = encoder.finish().unwrap();
        let mut forged = bytes[..4].to_vec();
        forged.extend_from_slice(&(deflated.len() as u32).to_be_bytes());
        forged.extend_from_slice(&deflated);
        let text = base64::engine::general_purpose::STANDARD.encode(forged);
        let error = decode_histogram(&text).unwrap_err();
        assert!(error.contains("corrupt"), "{error}");
        assert!(decode_histogram("AAAA").unwrap_err().contains("cookie"));
        assert!(decode_histogram(&text[..12]).is_err());
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
