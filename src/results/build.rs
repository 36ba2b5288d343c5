//! Building [`Results`] from merged figures: the only place statistics are computed.

use std::time::{Duration, SystemTime};

use super::histogram::encode_histogram;
use super::{
    EndpointKind, EndpointResult, ErrorKinds, Health, Histograms, LatencySummary, OutlierResult,
    Results, RunInfo, SCHEMA_VERSION, ScheduleInfo, ShardInfo, StopReason, TimelinePoint, Tool,
    Totals,
};
use crate::outcome::ErrorKind;
use crate::plan::{Open, RunSpec, Schedule};
use crate::record::{EndpointStats, Extremes, Stats, add_sparse, new_histogram};
use crate::targets::{FlowRole, Target};

/// `cpu_use` at or above this marks the generator as saturated.
const SATURATED_CPU: f64 = 0.9;
/// A schedule-lag p99 above this (ms) marks the generator as saturated.
const SATURATED_LAG_MS: f64 = 10.0;

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
    pub stopped_by: Option<StopReason>,
    /// How requests were paced.
    pub schedule: Schedule,
}

fn ms(us: f64) -> f64 {
    us.round() / 1_000.0
}

fn duration_ms(d: Duration) -> f64 {
    ms(d.as_micros() as f64)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Results {
    /// Builds the results of a run (or of a checkpoint when `meta.stopped_by` is `None`).
    pub fn build(meta: &RunMeta<'_>, targets: &[Target], stats: &Stats) -> Results {
        let elapsed_s = meta.elapsed.as_secs_f64();
        let endpoints: Vec<EndpointResult> = targets
            .iter()
            .zip(&stats.endpoints)
            .map(|(target, s)| EndpointResult::build(target, targets, s, elapsed_s))
            .collect();
        let mut all = new_histogram();
        let mut all_exact = Extremes::default();
        let mut lag = new_histogram();
        for s in stats.request_endpoints() {
            add_sparse(&mut all, &s.latency_new);
            add_sparse(&mut all, &s.latency_reused);
            add_sparse(&mut lag, &s.schedule_lag);
            all_exact.merge(&s.latency_exact);
        }
        let insecure = endpoints.iter().any(|e| e.insecure);
        Results {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "api-cannon".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run: RunInfo {
                insecure,
                ..run_info(meta, stats, LatencySummary::of(&lag, None))
            },
            totals: Totals {
                requests: stats.requests(),
                ok: stats.request_endpoints().map(|e| e.ok).sum(),
                errors: stats.errors(),
                rps: rate(stats.requests(), elapsed_s),
                latency_ms: LatencySummary::of(&all, Some(&all_exact)),
            },
            endpoints,
            thresholds: Vec::new(),
            shard: meta.spec.shard.map(|s| ShardInfo {
                index: s.index,
                count: s.of,
            }),
        }
    }
}

fn run_info(meta: &RunMeta<'_>, stats: &Stats, lag: LatencySummary) -> RunInfo {
    let stopped_by = meta.stopped_by.map(|s| match s {
        StopReason::Iterations => "iterations",
        StopReason::Duration => "duration",
        StopReason::Signal => "signal",
        StopReason::Threshold => "threshold",
    });
    RunInfo {
        started_at: rfc3339(meta.started_at),
        finished_at: rfc3339(meta.started_at + meta.elapsed),
        elapsed_s: meta.elapsed.as_secs_f64(),
        complete: matches!(
            meta.stopped_by,
            Some(StopReason::Iterations | StopReason::Duration)
        ),
        stopped_by: stopped_by.map(str::to_owned),
        iterations: meta
            .spec
            .iterations
            .or(meta.spec.duration.is_none().then_some(1)),
        concurrency: meta.spec.concurrency,
        sleep_ms: duration_ms(meta.spec.sleep),
        duration_s: meta.spec.duration.map(|d| d.as_secs_f64()),
        timeout_ms: duration_ms(meta.timeout),
        fresh_connections: meta.spec.fresh_connections,
        threads: meta.threads,
        insecure: false,
        schedule: schedule_info(meta.schedule, meta.spec),
        health: health(meta, stats, lag),
    }
}

fn schedule_info(schedule: Schedule, spec: &RunSpec) -> ScheduleInfo {
    let mut info = ScheduleInfo {
        kind: String::new(),
        rate_per_s: None,
        ramp_up_s: None,
        every_ms: None,
        max_connections: None,
    };
    info.kind = match schedule {
        Schedule::Burst { .. } => "burst",
        Schedule::Free => "free",
        Schedule::Open(Open::Rate {
            per_second,
            ramp_up,
        }) => {
            info.rate_per_s = Some(per_second);
            info.ramp_up_s = Some(ramp_up.as_secs_f64());
            info.max_connections = Some(spec.max_connections);
            "rate"
        }
        Schedule::Open(Open::Every { period }) => {
            info.every_ms = Some(duration_ms(period));
            info.max_connections = Some(spec.max_connections);
            "every"
        }
    }
    .to_owned();
    info
}

fn health(meta: &RunMeta<'_>, stats: &Stats, lag: LatencySummary) -> Health {
    let cpu_s = stats.cpu_time.as_secs_f64();
    let capacity = meta.elapsed.as_secs_f64() * meta.threads.max(1) as f64;
    let cpu_use = if capacity > 0.0 {
        cpu_s / capacity
    } else {
        0.0
    };
    let mut reasons = Vec::new();
    if cpu_use >= SATURATED_CPU {
        reasons.push(format!(
            "the worker threads were {:.0}% busy",
            cpu_use * 100.0
        ));
    }
    if let Some(p99) = lag.p99.filter(|p99| *p99 > SATURATED_LAG_MS) {
        reasons.push(format!(
            "requests went out {p99:.1} ms behind schedule at p99"
        ));
    }
    Health {
        cpu_s,
        cpu_use,
        max_in_flight: stats.max_in_flight,
        late_requests: stats.request_endpoints().map(|e| e.late).sum(),
        schedule_lag_ms: lag,
        saturated: !reasons.is_empty(),
        reasons,
    }
}

impl EndpointResult {
    fn build(
        target: &Target,
        targets: &[Target],
        s: &EndpointStats,
        elapsed_s: f64,
    ) -> EndpointResult {
        let kinds = |kind: ErrorKind| s.errors_by_kind[kind.index()];
        let latency = s.latency();
        let latency_raw = match s.schedule_lag.is_empty() {
            true => crate::record::copy_sparse(&latency),
            false => crate::record::copy_sparse(&s.latency_raw),
        };
        EndpointResult {
            name: target.name.clone(),
            kind: match target.is_whole_flow() {
                true => EndpointKind::Flow,
                false => EndpointKind::Request,
            },
            flow: match &target.flow {
                Some(FlowRole::Step { flow, .. }) => Some(flow.clone()),
                Some(FlowRole::Whole { .. }) => Some(target.name.clone()),
                None => None,
            },
            steps: match &target.flow {
                Some(FlowRole::Whole { steps, .. }) => steps
                    .iter()
                    .filter_map(|&i| targets.get(i))
                    .map(|t| t.name.clone())
                    .collect(),
                _ => Vec::new(),
            },
            method: target.method_label().to_owned(),
            url: target.display_url.clone(),
            timeout_ms: duration_ms(target.timeout),
            skipped: s.skipped,
            unfinished: s.started.saturating_sub(s.requests),
            http_version: s.http_version.map(str::to_owned),
            tls_version: s.tls_version.map(str::to_owned),
            insecure: target.insecure && target.url.scheme_str() == Some("https"),
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
            error_details: ErrorKind::ALL
                .iter()
                .filter_map(|kind| {
                    let detail = s.error_details[kind.index()].as_deref()?;
                    Some((kind.as_str().to_owned(), detail.to_owned()))
                })
                .collect(),
            error_kinds: ErrorKinds {
                status: kinds(ErrorKind::Status),
                timeout: kinds(ErrorKind::Timeout),
                connect: kinds(ErrorKind::Connect),
                tls: kinds(ErrorKind::Tls),
                protocol: kinds(ErrorKind::Protocol),
                body: kinds(ErrorKind::Body),
                capture: kinds(ErrorKind::Capture),
            },
            latency_ms: LatencySummary::of(&latency, Some(&s.latency_exact)),
            latency_raw_ms: LatencySummary::of(&latency_raw, None),
            latency_new_conn_ms: LatencySummary::of(&s.latency_new, None),
            latency_reused_conn_ms: LatencySummary::of(&s.latency_reused, None),
            ttfb_ms: LatencySummary::of(&s.ttfb, None),
            schedule_lag_ms: LatencySummary::of(&s.schedule_lag, None),
            late_requests: s.late,
            new_connections: s.new_connections,
            dns_ms: LatencySummary::of(&s.dns, None),
            connect_ms: LatencySummary::of(&s.connect, None),
            tls_ms: LatencySummary::of(&s.tls, None),
            outliers: s
                .outliers
                .slowest()
                .iter()
                .map(|o| OutlierResult {
                    t_s: o.intended.as_secs_f64(),
                    latency_ms: duration_ms(o.latency),
                    status: o.status,
                    error: o.error.map(|kind| kind.as_str().to_owned()),
                    iteration: o.iteration,
                    lane: o.lane,
                    new_connection: o.new_connection,
                })
                .collect(),
            first_ms: s.first.and_then(|f| f.latency).map(duration_ms),
            histogram: encode_histogram(&latency),
            histograms: Histograms {
                latency_raw: encode_histogram(&latency_raw),
                latency_new_conn: encode_histogram(&s.latency_new),
                latency_reused_conn: encode_histogram(&s.latency_reused),
                ttfb: encode_histogram(&s.ttfb),
                schedule_lag: encode_histogram(&s.schedule_lag),
                dns: encode_histogram(&s.dns),
                connect: encode_histogram(&s.connect),
                tls: encode_histogram(&s.tls),
            },
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
                // The sketch reports its bin's midpoint; keep it within the
                // bucket's exact extremes.
                p99_ms: b
                    .sketch
                    .quantile(0.99)
                    .and_then(|us| when_timed(us.clamp(b.min_us as f64, b.max_us as f64))),
                max_ms: when_timed(b.max_us as f64),
            }
        })
        .collect()
}
