//! `run --dry-run`: what a run would do, with everything validated and nothing sent.

use std::fmt::Write as _;
use std::time::Duration;

use crate::export::Destination;
use crate::plan::{Open, Plan, Schedule};
use crate::thresholds::Threshold;

/// Describes the plan: endpoints, lanes, schedule, expected requests and duration.
pub(super) fn describe(plan: &Plan, thresholds: &[Threshold], destination: &Destination) -> String {
    let mut out = String::from("api-cannon dry run: everything is valid; nothing was sent.\n");
    let spec = &plan.spec;
    let _ = writeln!(out, "schedule: {}", schedule(plan));
    let _ = writeln!(
        out,
        "threads: {}; connections: {} per endpoint{}",
        plan.threads.len(),
        spec.concurrency,
        if spec.fresh_connections {
            ", a new one for every request"
        } else {
            ", kept alive"
        }
    );
    let _ = writeln!(out, "requests: {}", requests(plan));
    let _ = writeln!(out, "duration: {}", duration(plan));
    endpoints(&mut out, plan);
    if !thresholds.is_empty() {
        let _ = writeln!(out, "thresholds:");
        for t in thresholds {
            let _ = writeln!(out, "  {t}");
        }
    }
    let _ = match destination {
        Destination::File(path) => writeln!(out, "results would go to: {}", path.display()),
        Destination::Stdout => writeln!(out, "results would go to: stdout"),
    };
    crate::fit::wrap_lines(&out, crate::fit::DEFAULT_WIDTH)
}

/// What the run sends, in all and per request endpoint.
fn requests(plan: &Plan) -> String {
    match plan.total_requests() {
        Some(total) => {
            let endpoints = plan.targets.iter().filter(|t| !t.is_whole_flow()).count();
            format!(
                "{total} in all ({} per endpoint)",
                total / endpoints.max(1) as u64
            )
        }
        None => "as many as the duration allows".to_owned(),
    }
}

/// Per endpoint its name, then its method, URL and timeout on a line of their own (a
/// name and a URL side by side did not fit 80 columns).
fn endpoints(out: &mut String, plan: &Plan) {
    let _ = writeln!(out, "endpoints:");
    for t in &plan.targets {
        let _ = writeln!(out, "  {}", t.name);
        let _ = writeln!(
            out,
            "    {} {}  (timeout {})",
            t.method_label(),
            t.display_url,
            humantime::format_duration(t.timeout)
        );
        if let Some(source) = t.server.time.as_ref().filter(|_| !t.is_whole_flow()) {
            let _ = writeln!(out, "    server time from {source}");
        }
    }
}

fn schedule(plan: &Plan) -> String {
    let c = plan.spec.concurrency;
    match plan.schedule {
        Schedule::Burst { sleep } => {
            format!(
                "bursts of {c} per endpoint, {} sleep after each",
                humantime::format_duration(sleep)
            )
        }
        Schedule::Free => format!(
            "{c} free-running lane{} per endpoint (closed loop)",
            if c == 1 { "" } else { "s" }
        ),
        Schedule::Open(Open::Rate {
            per_second,
            ramp_up,
        }) if ramp_up.is_zero() => {
            format!(
                "{per_second} requests/s per endpoint (open model), up to {} connections",
                plan.spec.max_connections
            )
        }
        Schedule::Open(Open::Rate {
            per_second,
            ramp_up,
        }) => format!(
            "{per_second} requests/s per endpoint after a {} ramp (open model), up to {} connections",
            humantime::format_duration(ramp_up),
            plan.spec.max_connections
        ),
        Schedule::Open(Open::Every { period }) => format!(
            "a burst of {c} per endpoint every {} (open model), up to {} connections",
            humantime::format_duration(period),
            plan.spec.max_connections
        ),
    }
}

/// The expected duration: exact for open schedules, a lower bound for bursts (sleeps only),
/// unknown for free lanes (it depends on the server); capped by `--duration`.
fn duration(plan: &Plan) -> String {
    let iterations = (plan.iterations != u64::MAX).then_some(plan.iterations);
    let estimate = match (plan.schedule, iterations) {
        (Schedule::Burst { sleep }, Some(n)) => Some((
            sleep.saturating_mul(u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX)),
            "at least, plus response times",
        )),
        (
            Schedule::Open(Open::Rate {
                per_second,
                ramp_up,
            }),
            Some(n),
        ) => Some((
            crate::plan::rate_offset(n.saturating_sub(1), per_second, ramp_up),
            "until the last request is due",
        )),
        (Schedule::Open(Open::Every { period }), Some(n)) => Some((
            period.saturating_mul(u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX)),
            "until the last burst is due",
        )),
        _ => None,
    };
    match (estimate, plan.spec.duration) {
        (Some((d, _)), Some(limit)) if d >= limit => {
            format!("{} (--duration)", humantime::format_duration(limit))
        }
        (Some((d, how)), _) => format!("{} ({how})", humantime::format_duration(round(d))),
        (None, Some(limit)) => format!("{} (--duration)", humantime::format_duration(limit)),
        (None, None) => "as long as the server takes (free lanes)".to_owned(),
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
