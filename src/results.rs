//! Results schema version 1: the one model every output reads (JSON, summary, and later
//! reports and comparisons). Built once from merged [`Stats`]; documented field by field
//! in docs/results.md and checked by docs/results.schema.json.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::engine::StoppedBy;
use crate::outcome::ErrorKind;
use crate::plan::RunSpec;
use crate::record::{EndpointStats, Extremes, Stats, new_histogram};
use crate::targets::Target;

/// The schema version written to `schema_version`; bumped only for breaking changes.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA_VERSION`] for files this version writes.
    pub schema_version: u32,
    /// The program that wrote the file.
    pub tool: Tool,
    /// What was run and how it ended.
    pub run: RunInfo,
    /// Every endpoint together.
    pub totals: Totals,
    /// One entry per target, in the order of the targets.
    pub endpoints: Vec<EndpointResult>,
}

/// The program that wrote the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// `api-cannon`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The run's settings and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Start, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// End (or the checkpoint's time), RFC 3339 UTC with milliseconds.
    pub finished_at: String,
    /// Seconds from start to end (or checkpoint).
    pub elapsed_s: f64,
    /// True only when the run ended normally (iterations done, or duration elapsed).
    pub complete: bool,
    /// `iterations`, `duration` or `signal`; null in a checkpoint of a run still going.
    pub stopped_by: Option<String>,
    /// Iterations per endpoint asked for; null when only a duration bounds the run.
    pub iterations: Option<u64>,
    /// Lanes (connections) per endpoint.
    pub concurrency: u32,
    /// Pause between iterations, in milliseconds (0: lanes run free).
    pub sleep_ms: f64,
    /// Run duration limit in seconds; null when none was set.
    pub duration_s: Option<f64>,
    /// The `--timeout` in milliseconds (targets may override it; see each endpoint).
    pub timeout_ms: f64,
    /// Whether every request opened a new connection.
    pub fresh_connections: bool,
    /// Worker threads used.
    pub threads: usize,
}

/// Every endpoint together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Requests finished (`ok + errors`).
    pub requests: u64,
    /// Requests with a complete response of an expected status.
    pub ok: u64,
    /// Requests that were not `ok`.
    pub errors: u64,
    /// Requests per second over the run's elapsed time.
    pub rps: f64,
    /// Latency of every complete response of every endpoint.
    pub latency_ms: LatencySummary,
}

/// One endpoint's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointResult {
    /// The target's unique name.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// The URL as written (`${VAR}` unexpanded, password masked).
    pub url: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: f64,
    /// Requests finished (`ok + errors`).
    pub requests: u64,
    /// Requests with a complete response of an expected status.
    pub ok: u64,
    /// Requests that were not `ok` (the sum of `error_kinds`).
    pub errors: u64,
    /// Requests per second over the run's elapsed time.
    pub rps: f64,
    /// Complete responses per status code (keys are the codes as strings).
    pub status: BTreeMap<String, u64>,
    /// Errors per kind.
    pub error_kinds: ErrorKinds,
    /// Latency of complete responses, request start to last body byte.
    pub latency_ms: LatencySummary,
    /// Time to first byte (response head parsed) of complete responses.
    pub ttfb_ms: LatencySummary,
    /// Latency of the endpoint's very first request; null if it got no response.
    pub first_ms: Option<f64>,
    /// The latency histogram in microseconds: HdrHistogram V2 compressed, base64.
    pub histogram: String,
    /// Width of each timeline bucket, in seconds.
    pub timeline_bucket_s: f64,
    /// Requests by start time, in fixed-width buckets from the run's start.
    pub timeline: Vec<TimelinePoint>,
}

/// Errors per kind (see [`ErrorKind`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorKinds {
    /// Complete response, unexpected status.
    pub status: u64,
    /// No complete response within the timeout.
    pub timeout: u64,
    /// Connection refused, unreachable, or name not resolved.
    pub connect: u64,
    /// TLS handshake failed.
    pub tls: u64,
    /// Malformed response, or connection closed before one.
    pub protocol: u64,
    /// Failed while reading the body.
    pub body: u64,
}

/// A latency distribution in milliseconds (microsecond precision). Every value is null
/// when nothing was timed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Smallest value.
    pub min: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Population standard deviation.
    pub stddev: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p99_9: Option<f64>,
}

/// One timeline bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Start of the bucket, seconds from the run's start.
    pub t_s: f64,
    /// Requests that started in the bucket.
    pub requests: u64,
    /// Of those, the ones not `ok`.
    pub errors: u64,
    /// Smallest latency; null when nothing was timed in the bucket.
    pub min_ms: Option<f64>,
    /// Mean latency.
    pub mean_ms: Option<f64>,
    /// 99th percentile latency, from a 1-digit sketch: within 6.25%.
    pub p99_ms: Option<f64>,
    /// Largest latency.
    pub max_ms: Option<f64>,
}

/// How the run went, beside the figures.
#[derive(Debug, Clone)]
pub struct RunMeta<'a> {
    /// The user's settings.
    pub spec: &'a RunSpec,
    /// The `--timeout`.
    pub timeout: Duration,
    /// Worker threads used.
    pub threads: usize,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Time from start to end (or to the checkpoint).
    pub elapsed: Duration,
    /// `None` while the run is still going (checkpoints).
    pub stopped_by: Option<StoppedBy>,
}

fn ms(us: f64) -> f64 {
    (us).round() / 1_000.0
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Results {
    /// Builds the results of a run (or of a checkpoint when `meta.stopped_by` is `None`).
    pub fn build(meta: &RunMeta<'_>, targets: &[Target], stats: &Stats) -> Results {
        let elapsed_s = meta.elapsed.as_secs_f64();
        let endpoints: Vec<EndpointResult> = targets
            .iter()
            .zip(&stats.endpoints)
            .map(|(target, s)| EndpointResult::build(target, s, elapsed_s))
            .collect();
        let mut all = new_histogram();
        let mut all_exact = Extremes::default();
        for s in &stats.endpoints {
            let _ = all.add(&s.latency);
            all_exact.merge(&s.latency_exact);
        }
        let stopped_by = meta.stopped_by.map(|s| match s {
            StoppedBy::Iterations => "iterations",
            StoppedBy::Duration => "duration",
            StoppedBy::Signal => "signal",
        });
        Results {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "api-cannon".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run: RunInfo {
                started_at: rfc3339(meta.started_at),
                finished_at: rfc3339(meta.started_at + meta.elapsed),
                elapsed_s,
                complete: matches!(
                    meta.stopped_by,
                    Some(StoppedBy::Iterations | StoppedBy::Duration)
                ),
                stopped_by: stopped_by.map(str::to_owned),
                iterations: meta
                    .spec
                    .iterations
                    .or(meta.spec.duration.is_none().then_some(1)),
                concurrency: meta.spec.concurrency,
                sleep_ms: meta.spec.sleep.as_secs_f64() * 1_000.0,
                duration_s: meta.spec.duration.map(|d| d.as_secs_f64()),
                timeout_ms: meta.timeout.as_secs_f64() * 1_000.0,
                fresh_connections: meta.spec.fresh_connections,
                threads: meta.threads,
            },
            totals: Totals {
                requests: stats.requests(),
                ok: stats.endpoints.iter().map(|e| e.ok).sum(),
                errors: stats.errors(),
                rps: rate(stats.requests(), elapsed_s),
                latency_ms: LatencySummary::of(&all, Some(&all_exact)),
            },
            endpoints,
        }
    }
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl EndpointResult {
    fn build(target: &Target, s: &EndpointStats, elapsed_s: f64) -> EndpointResult {
        let kinds = |kind: ErrorKind| s.errors_by_kind[kind.index()];
        EndpointResult {
            name: target.name.clone(),
            method: target.method.to_string(),
            url: target.display_url.clone(),
            timeout_ms: target.timeout.as_secs_f64() * 1_000.0,
            requests: s.requests,
            ok: s.ok,
            errors: s.errors(),
            rps: rate(s.requests, elapsed_s),
            status: s
                .status
                .sorted()
                .into_iter()
                .map(|(code, n)| (code.to_string(), n))
                .collect(),
            error_kinds: ErrorKinds {
                status: kinds(ErrorKind::Status),
                timeout: kinds(ErrorKind::Timeout),
                connect: kinds(ErrorKind::Connect),
                tls: kinds(ErrorKind::Tls),
                protocol: kinds(ErrorKind::Protocol),
                body: kinds(ErrorKind::Body),
            },
            latency_ms: LatencySummary::of(&s.latency, Some(&s.latency_exact)),
            ttfb_ms: LatencySummary::of(&s.ttfb, None),
            first_ms: s
                .first
                .and_then(|f| f.latency)
                .map(|d| ms(d.as_micros() as f64)),
            histogram: encode_histogram(&s.latency),
            timeline_bucket_s: s.timeline.width_us() as f64 / 1e6,
            timeline: timeline_points(s),
        }
    }
}

fn timeline_points(s: &EndpointStats) -> Vec<TimelinePoint> {
    let width = s.timeline.width_us();
    s.timeline
        .buckets()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let timed = b.timed();
            let when_timed = |v: f64| (timed > 0).then(|| ms(v));
            TimelinePoint {
                t_s: (i as u64 * width) as f64 / 1e6,
                requests: b.requests,
                errors: b.errors,
                min_ms: when_timed(b.min_us as f64),
                mean_ms: when_timed(b.sum_us as f64 / timed.max(1) as f64),
                // The 1-digit sketch reports its bucket's upper bound; keep it within the
                // bucket's exact extremes.
                p99_ms: b.sketch.as_ref().and_then(|h| {
                    when_timed(
                        (h.value_at_quantile(0.99) as f64).clamp(b.min_us as f64, b.max_us as f64),
                    )
                }),
                max_ms: when_timed(b.max_us as f64),
            }
        })
        .collect()
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
        let q = |quantile: f64| Some(ms((h.value_at_quantile(quantile) as f64).clamp(min, max)));
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
