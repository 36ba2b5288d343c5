//! Building a run's [`Results`] from its merged records: each endpoint through
//! [`EndpointFigures`], the one builder a merged file uses too.

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::figures::{EndpointFigures, rate};
use super::{
    EndpointResult, Health, LatencySummary, Results, RunInfo, SCHEMA_VERSION, ScheduleInfo,
    ShardInfo, Tool, Totals,
};
use crate::outcome::{ErrorKind, StopReason};
use crate::plan::{LoadSpec, Open, Schedule};
use crate::record::{Extremes, Stats, new_coarse_histogram, new_histogram};
use crate::targets::Target;

/// `cpu_use` at or above this marks the generator as saturated.
const SATURATED_CPU: f64 = 0.9;
/// A schedule-lag p99 above this (ms) marks the generator as saturated, when it lasts:
/// at least [`LAGGING_MIN`] requests sent after the warm-up, and 1 in [`LAGGING_SHARE`],
/// were that late.
const SATURATED_LAG_MS: f64 = crate::record::LAGGING_AFTER.as_millis() as f64;

/// 1 in this many requests sent after the warm-up more than [`SATURATED_LAG_MS`] late (as
/// the p99 says, but without the first burst) makes the lag sustained...
const LAGGING_SHARE: u64 = 100;

/// ...when they are at least this many: one late burst of a light schedule (a busy
/// machine's scheduler, a timer woken late once) is not a generator that cannot keep up.
const LAGGING_MIN: u64 = 20;

/// How the run went, beside the figures.
#[derive(Debug, Clone)]
pub struct RunMeta<'a> {
    /// The user's settings.
    pub spec: &'a LoadSpec,
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

impl Results {
    /// Builds the results of a run (or of a checkpoint when `meta.stopped_by` is `None`).
    pub fn build(meta: &RunMeta<'_>, targets: &[Target], stats: &Stats) -> Results {
        let elapsed_s = meta.elapsed.as_secs_f64();
        let mut totals = TotalsSum::default();
        let mut lag = new_coarse_histogram();
        let mut insecure = false;
        // One endpoint at a time: its figures (copies of its histograms) are built, counted
        // and dropped, so results of 1,000 endpoints take the memory of one.
        let mut endpoints = Vec::with_capacity(targets.len());
        for (target, s) in targets.iter().zip(&stats.endpoints) {
            let f = EndpointFigures::from_stats(target, targets, s);
            totals.add(&f);
            if !f.is_whole_flow() {
                f.add_schedule_lag_to(&mut lag);
            }
            insecure |= f.is_insecure();
            endpoints.push(EndpointResult::build(&f, elapsed_s));
        }
        let lag = LatencySummary::of(&lag, None);
        Results {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "api-cannon".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run: RunInfo {
                insecure,
                ..run_info(meta, stats, lag)
            },
            totals: totals.finish(elapsed_s),
            endpoints,
            thresholds: Vec::new(),
            shard: meta.spec.shard.map(|s| ShardInfo {
                index: s.index,
                count: s.of,
            }),
        }
    }
}

/// [`Totals`] added up one endpoint at a time (merge drops each endpoint's figures once
/// counted, so its memory does not grow with the endpoints).
#[derive(Debug)]
pub struct TotalsSum {
    latency: Histogram<u64>,
    exact: Extremes,
    requests: u64,
    ok: u64,
    errors: u64,
}

impl Default for TotalsSum {
    fn default() -> Self {
        TotalsSum {
            latency: new_histogram(),
            exact: Extremes::default(),
            requests: 0,
            ok: 0,
            errors: 0,
        }
    }
}

impl TotalsSum {
    /// Counts an endpoint (whole flows are left out: their steps are the requests).
    pub fn add(&mut self, f: &EndpointFigures<'_>) {
        if f.is_whole_flow() {
            return;
        }
        f.add_latency_to(&mut self.latency, &mut self.exact);
        self.requests = self.requests.saturating_add(f.requests());
        self.ok = self.ok.saturating_add(f.ok());
        self.errors = self.errors.saturating_add(f.errors());
    }

    /// The totals, rates over `elapsed_s` seconds.
    pub fn finish(&self, elapsed_s: f64) -> Totals {
        Totals {
            requests: self.requests,
            ok: self.ok,
            errors: self.errors,
            rps: rate(self.requests, elapsed_s),
            latency_ms: LatencySummary::of(&self.latency, Some(&self.exact)),
        }
    }
}

fn run_info(meta: &RunMeta<'_>, stats: &Stats, lag: LatencySummary) -> RunInfo {
    RunInfo {
        started_at: rfc3339(meta.started_at),
        finished_at: rfc3339(meta.started_at + meta.elapsed),
        elapsed_s: meta.elapsed.as_secs_f64(),
        complete: meta.stopped_by.is_some_and(StopReason::is_complete),
        stopped_by: meta.stopped_by.map(|s| s.as_str().to_owned()),
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
        request_log: None,
    }
}

fn schedule_info(schedule: Schedule, spec: &LoadSpec) -> ScheduleInfo {
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

/// Whether the lag lasted: of requests sent after the warm-up, and more than a stray few.
/// A first burst that waited for the runtime to start is not a saturated generator.
fn lag_lasted(stats: &Stats) -> bool {
    let (lagging, scheduled) = stats.request_endpoints().fold((0, 0), |(lagging, all), s| {
        (lagging + s.lagging, all + s.schedule_lag.len())
    });
    lagging >= LAGGING_MIN && lagging.saturating_mul(LAGGING_SHARE) >= scheduled
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
    let sustained = lag_lasted(stats);
    if let Some(p99) = lag.p99.filter(|p99| *p99 > SATURATED_LAG_MS && sustained) {
        reasons.push(format!(
            "requests went out {p99:.1} ms behind schedule at p99"
        ));
    }
    let local: u64 = stats
        .request_endpoints()
        .map(|s| s.errors_by_kind[ErrorKind::Local.index()])
        .sum();
    if local > 0 {
        reasons.push(format!(
            "{local} requests never left this machine (no file descriptor, local port or \
             memory): raise the open-file limit (ulimit -n) or lower -c"
        ));
    }
    Health {
        cpu_s,
        cpu_use,
        max_in_flight: stats.max_in_flight,
        late_requests: stats.request_endpoints().map(|s| s.late).sum(),
        schedule_lag_ms: lag,
        saturated: !reasons.is_empty(),
        reasons,
    }
}
