//! Results schema version 1: the one model every output reads (JSON, summary, and later
//! reports and comparisons). Built once from merged [`Stats`](crate::record::Stats);
//! documented field by field in docs/results.md and checked by docs/results.schema.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::ErrorKind;
use crate::thresholds::Threshold;

mod build;
mod figures;
mod histogram;
mod server;
mod threshold_record;
mod thresholds;

pub use build::{RunMeta, TotalsSum};
pub use figures::{Description, EndpointFigures};
pub use histogram::{decode_histogram, encode_histogram};
pub use server::{
    ColdEventResult, ColdFigures, ColdHistograms, ColdStartsResult, CountedSummary, ServerFigures,
};
pub use thresholds::evaluate;

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
    /// Every threshold, evaluated (empty when none was given).
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// Which part of a sharded run this file holds (`--shard I/N`); null for a whole run.
    #[serde(default)]
    pub shard: Option<ShardInfo>,
}

/// A shard's place in its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 0-based shard number.
    pub index: u32,
    /// How many shards make up the run.
    pub count: u32,
}

/// One evaluated threshold. Written with its parts (`scope`, `metric`, `op`, `limit`,
/// `condition`) beside its text (`expr`), and read back from the parts: a name holding
/// `<` or `:` cannot change what a gate means. A file whose parts and text disagree, or
/// (older files, text only) whose text does not parse, is refused when read: a gate must
/// never drop out of a merge unnoticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "threshold_record::Record",
    into = "threshold_record::Record"
)]
pub struct ThresholdResult {
    /// The endpoint it was evaluated on; null for the totals.
    pub endpoint: Option<String>,
    /// The threshold.
    pub threshold: Threshold,
    /// What was measured, in the metric's unit (ms, fraction, count, requests/s); null
    /// when there was nothing to measure (no timed response), which fails the threshold.
    pub measured: Option<f64>,
    /// The limit, in the same unit.
    pub limit: f64,
    /// Whether it held.
    pub passed: bool,
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
    /// True when any endpoint's TLS certificate went unverified.
    #[serde(default)]
    pub insecure: bool,
    /// How requests were paced.
    pub schedule: ScheduleInfo,
    /// Whether the generator itself kept up: read this before trusting the figures.
    pub health: Health,
    /// The per-request log (`--log-requests`); null when none was written.
    #[serde(default)]
    pub request_log: Option<RequestLogInfo>,
}

/// The per-request log of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogInfo {
    /// The file, as given.
    pub path: String,
    /// Lines written (at a checkpoint: handed to the writer so far). Equal to the
    /// requests of the run's endpoints unless some were dropped.
    pub lines: u64,
    /// Lines dropped because the writer fell behind (its channel was full).
    pub dropped: u64,
}

/// How requests were paced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// `burst` (--sleep), `free` (closed loop), `rate` (--rate) or `every` (--every).
    pub kind: String,
    /// Requests per second per endpoint (`rate` only).
    pub rate_per_s: Option<f64>,
    /// Time over which the rate climbed from 0, in seconds (`rate` only).
    pub ramp_up_s: Option<f64>,
    /// Period of the bursts in milliseconds (`every` only).
    pub every_ms: Option<f64>,
    /// Most connections an endpoint could open (`rate` and `every` only).
    pub max_connections: Option<u32>,
}

/// The generator watching itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// CPU time of the worker threads, in seconds.
    pub cpu_s: f64,
    /// `cpu_s` ÷ elapsed ÷ threads: 1.0 means every worker thread was busy all the time.
    pub cpu_use: f64,
    /// Most requests in flight at once (sum of the worker threads' peaks).
    pub max_in_flight: u64,
    /// Requests of an open schedule sent more than 1 ms after they were due.
    pub late_requests: u64,
    /// Actual minus intended send time over every request of an open schedule (all null
    /// for closed loops, which have no intended times).
    pub schedule_lag_ms: LatencySummary,
    /// True when the generator, not the server, limited the run: `cpu_use` ≥ 0.9 or a
    /// schedule-lag p99 above 10 ms. The figures then describe the generator.
    pub saturated: bool,
    /// Why `saturated` is true, in words (empty when it is false).
    pub reasons: Vec<String>,
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
    /// The target's unique name (`flow/step` for a flow's step).
    pub name: String,
    /// `request` for an HTTP endpoint (a target or a flow step); `flow` for a flow's whole
    /// instances, whose latency runs from the first step's start to the last step's end.
    /// A flow's figures are left out of `totals`, which its steps already count.
    #[serde(default)]
    pub kind: EndpointKind,
    /// The flow this is (kind `flow`) or whose step this is; null for a target of its own.
    #[serde(default)]
    pub flow: Option<String>,
    /// For kind `flow`: its steps' endpoint names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// HTTP method (`FLOW` for kind `flow`).
    pub method: String,
    /// The URL as written (`${VAR}` unexpanded, password masked); for kind `flow` its steps.
    pub url: String,
    /// Per-request timeout in milliseconds (for kind `flow`, the sum of its steps').
    pub timeout_ms: f64,
    /// Flow steps not sent because an earlier step of their instance failed.
    #[serde(default)]
    pub skipped: u64,
    /// Requests started but not counted in `requests`: in a finished run, those the end
    /// of `--duration` or a second Ctrl-C cut short (wrk and oha drop them too, silently);
    /// in a checkpoint, those in flight.
    #[serde(default)]
    pub unfinished: u64,
    /// The HTTP version responses came in (`HTTP/1.1`); null when none arrived.
    #[serde(default)]
    pub http_version: Option<String>,
    /// The TLS version negotiated (`TLSv1.3`); null for http:// or when no connection opened.
    #[serde(default)]
    pub tls_version: Option<String>,
    /// True when the server's certificate was not verified (`--insecure`, `insecure = true`).
    #[serde(default)]
    pub insecure: bool,
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
    /// Per error kind that occurred, the first detail said: what the OS, TLS or HTTP layer
    /// reported (`invalid peer certificate: UnknownIssuer`), or for `timeout` the limit,
    /// for `capture` the value missing. Absent in files older than it.
    #[serde(default)]
    pub error_details: BTreeMap<String, String>,
    /// Latency of complete responses, request start to last body byte.
    pub latency_ms: LatencySummary,
    /// Latency from the actual send instead of the intended one (equal to `latency_ms` in
    /// closed loops; lower under an open schedule when the generator fell behind).
    pub latency_raw_ms: LatencySummary,
    /// Latency of requests that opened their connection (connection set-up included).
    pub latency_new_conn_ms: LatencySummary,
    /// Latency of requests on a connection that was already open.
    pub latency_reused_conn_ms: LatencySummary,
    /// Time to first byte (response head parsed) of complete responses, from the actual send.
    pub ttfb_ms: LatencySummary,
    /// Actual minus intended send time (open schedules; all null otherwise).
    pub schedule_lag_ms: LatencySummary,
    /// Requests sent more than 1 ms after they were due.
    pub late_requests: u64,
    /// Connections opened.
    pub new_connections: u64,
    /// Name resolution per opened connection (null figures when every host was an IP).
    pub dns_ms: LatencySummary,
    /// TCP connect per opened connection.
    pub connect_ms: LatencySummary,
    /// TLS handshake per opened https connection.
    pub tls_ms: LatencySummary,
    /// The slowest complete responses, slowest first (at most 10).
    pub outliers: Vec<OutlierResult>,
    /// Latency of the endpoint's very first request; null if it got no response.
    pub first_ms: Option<f64>,
    /// Server-Timing durations per metric name (at most 16 names, first come; later names
    /// together under `_other`). Empty when no response carried the header.
    #[serde(default)]
    pub server_timing_ms: BTreeMap<String, CountedSummary>,
    /// Durations counted under `_other` because 16 names were already kept.
    #[serde(default)]
    pub server_timing_dropped: u64,
    /// The server's own time by the target's `server_time` source; null when it names none
    /// (and nothing was timed).
    #[serde(default)]
    pub server_ms: Option<LatencySummary>,
    /// Per request with a server time: latency from the actual send minus server time
    /// (network, TLS, gateway, queueing); null like `server_ms`.
    #[serde(default)]
    pub overhead_ms: Option<LatencySummary>,
    /// Complete responses without a valid server time; null when no source is named.
    #[serde(default)]
    pub server_time_missing: Option<u64>,
    /// Cold starts, declared by the server or found as latency spikes; null for a whole
    /// flow and in files older than it.
    #[serde(default)]
    pub cold_starts: Option<ColdStartsResult>,
    /// The latency histogram in microseconds: HdrHistogram V2 compressed, base64.
    pub histogram: String,
    /// The histograms behind the other summaries, same encoding: what `merge` adds up.
    #[serde(default)]
    pub histograms: Histograms,
    /// Width of each timeline bucket, in seconds.
    pub timeline_bucket_s: f64,
    /// Requests by start time, in fixed-width buckets from the run's start.
    pub timeline: Vec<TimelinePoint>,
}

/// The histograms behind an endpoint's summaries other than `latency_ms` (whose histogram
/// is `histogram`), in microseconds, HdrHistogram V2 compressed, base64; empty strings in
/// files written before they were added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Behind `latency_raw_ms`.
    pub latency_raw: String,
    /// Behind `latency_new_conn_ms`.
    pub latency_new_conn: String,
    /// Behind `latency_reused_conn_ms`.
    pub latency_reused_conn: String,
    /// Behind `ttfb_ms`.
    pub ttfb: String,
    /// Behind `schedule_lag_ms`.
    pub schedule_lag: String,
    /// Behind `dns_ms`.
    pub dns: String,
    /// Behind `connect_ms`.
    pub connect: String,
    /// Behind `tls_ms`.
    pub tls: String,
    /// Behind `server_ms`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Behind `overhead_ms`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub overhead: String,
    /// Behind `server_timing_ms`, by metric name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_timing: BTreeMap<String, String>,
}

/// What an endpoint's figures count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// HTTP requests: a target of its own or a flow's step (files older than flows have
    /// no `kind`: theirs are all requests).
    #[default]
    Request,
    /// Whole instances of a flow.
    Flow,
}

impl EndpointResult {
    /// Whether this stands for whole flow instances (kind `flow`) rather than requests.
    pub fn is_whole_flow(&self) -> bool {
        self.kind == EndpointKind::Flow
    }

    /// Whether requests were sent here and not one got an ok response: an endpoint that did
    /// not work at all (a flow's row is left to its steps, which say where it failed).
    pub fn failed_entirely(&self) -> bool {
        !self.is_whole_flow() && self.requests > 0 && self.ok == 0
    }
}

impl Results {
    /// The endpoints of HTTP requests (every one but whole flows): what totals add up and
    /// thresholds naming no endpoint judge.
    pub fn request_endpoints(&self) -> impl Iterator<Item = &EndpointResult> {
        self.endpoints.iter().filter(|e| !e.is_whole_flow())
    }
}

/// Errors per kind, indexed like [`ErrorKind::ALL`]. Written as an object with one key per
/// kind, in that order (`{"status": 0, "timeout": 2, ...}`); a kind missing from an older
/// file (`capture`) reads as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorKinds([u64; ErrorKind::ALL.len()]);

impl ErrorKinds {
    /// The counts as recorded, indexed by [`ErrorKind::index`].
    pub fn from_counts(counts: [u64; ErrorKind::ALL.len()]) -> ErrorKinds {
        ErrorKinds(counts)
    }

    /// Errors of `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }

    /// Every kind with its count, in the order of [`ErrorKind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.iter().map(|&kind| (kind, self.get(kind)))
    }

    /// `(name, count)` for every kind: what the summary and the report list.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.iter().map(|(kind, n)| (kind.as_str(), n))
    }

    /// Errors of every kind together.
    pub fn total(&self) -> u64 {
        // Saturating: counts read from a file can be anything.
        self.0.iter().fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// Adds another set of counts (saturating: counts read from a file can be anything).
    pub fn add(&mut self, other: &ErrorKinds) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = mine.saturating_add(theirs);
        }
    }
}

impl Serialize for ErrorKinds {
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = out.serialize_map(Some(ErrorKind::ALL.len()))?;
        for (name, n) in self.pairs() {
            map.serialize_entry(name, &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ErrorKinds {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<ErrorKinds, D::Error> {
        // Unknown keys are passed over, as for every other object of the schema.
        let named = BTreeMap::<String, serde_json::Value>::deserialize(input)?;
        let mut counts = [0; ErrorKind::ALL.len()];
        for kind in ErrorKind::ALL {
            if let Some(value) = named.get(kind.as_str()) {
                counts[kind.index()] = value.as_u64().ok_or_else(|| {
                    serde::de::Error::custom(format_args!(
                        "error_kinds.{}: {value} is not a count",
                        kind.as_str()
                    ))
                })?;
            }
        }
        Ok(ErrorKinds(counts))
    }
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

/// One of the slowest requests of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlierResult {
    /// When it was due, seconds from the run's start.
    pub t_s: f64,
    /// Its latency in milliseconds.
    pub latency_ms: f64,
    /// Its response status.
    pub status: u16,
    /// `status` when that status was not expected; null when it was ok.
    pub error: Option<String>,
    /// Its iteration (burst number, lane-local count, or index in the rate schedule).
    pub iteration: u64,
    /// The lane that sent it.
    pub lane: u32,
    /// Whether it opened a connection.
    pub new_connection: bool,
    /// Its ID in the platform's logs, when the response carried one.
    #[serde(default)]
    pub request_id: Option<String>,
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
    /// 99th percentile latency, from the bucket's log-linear sketch: within 6.25%.
    pub p99_ms: Option<f64>,
    /// Largest latency.
    pub max_ms: Option<f64>,
    /// Mean server time of the responses that reported one (`server_time`); absent when
    /// none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_mean_ms: Option<f64>,
}

impl TimelinePoint {
    /// Adds another bucket's figures to this one, for coarser views (the report's charts)
    /// and merged files: counts summed, extremes kept, the mean weighted by requests (the
    /// timed count is not written per bucket; they are equal when every request got a
    /// response), and the p99 the larger of the two, an upper bound.
    pub fn absorb(&mut self, other: &TimelinePoint) {
        let (a, b) = (self.requests as f64, other.requests as f64);
        self.mean_ms = match (self.mean_ms, other.mean_ms) {
            (Some(x), Some(y)) if a + b > 0.0 => {
                Some(((x * a + y * b) / (a + b) * 1_000.0).round() / 1_000.0)
            }
            (x, y) => x.or(y),
        };
        self.server_mean_ms = match (self.server_mean_ms, other.server_mean_ms) {
            (Some(x), Some(y)) if a + b > 0.0 => {
                Some(((x * a + y * b) / (a + b) * 1_000.0).round() / 1_000.0)
            }
            (x, y) => x.or(y),
        };
        self.requests += other.requests;
        self.errors += other.errors;
        self.min_ms = either(self.min_ms, other.min_ms, f64::min);
        self.max_ms = either(self.max_ms, other.max_ms, f64::max);
        self.p99_ms = either(self.p99_ms, other.p99_ms, f64::max);
    }
}

fn either(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}
