//! The human summary: a table per endpoint, printed to stderr at the end of a run.

use std::fmt::Write as _;

use super::Exporter;
use crate::fit;
use crate::results::{EndpointResult, Results};

/// Column headings of the endpoint table (latencies in ms), shared with the Markdown report.
pub(crate) const HEADERS: [&str; 12] = [
    "endpoint", "requests", "ok", "errors", "rps", "min", "mean", "p50", "p90", "p99", "max",
    "first",
];

/// One row per endpoint, plus a totals row when there are several: shared with the
/// Markdown report so both show the same figures.
pub(crate) fn rows(results: &Results) -> Vec<[String; 12]> {
    let mut rows: Vec<[String; 12]> = results.endpoints.iter().map(row).collect();
    if results.endpoints.len() > 1 {
        rows.push(totals_row(results));
    }
    rows
}

/// The human summary: the endpoint table, sparklines, errors, thresholds and run status,
/// fitted to `width` columns (the terminal's; 80 when it is not one).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Columns to fit.
    pub width: usize,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            width: fit::DEFAULT_WIDTH,
        }
    }
}

impl Exporter for Summary {
    fn render(&self, results: &Results) -> Vec<u8> {
        render(results, self.width).into_bytes()
    }
}

/// The endpoint table's columns left out first when it does not fit: first, min, mean,
/// p90, max (requests, ok, errors, rps, p50 and p99 stay).
const DROP_ORDER: [usize; 5] = [11, 5, 6, 8, 10];

/// The server-side table's: init p50, overhead p50, server p50.
const SERVER_DROP_ORDER: [usize; 3] = [6, 3, 1];

/// Renders the summary table, error breakdown and run status as text within `width`.
fn render(results: &Results, width: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", heading(results));
    let rows = rows(results).into_iter().map(Vec::from).collect();
    out.push_str(&fitted(&HEADERS, rows, &DROP_ORDER, width));
    out.push_str(&server_side(results, width));
    // Names that fit beside their sparkline set its column; longer ones go above it.
    let inline_max = fit::name_max(width);
    let name_width = results
        .endpoints
        .iter()
        .map(|e| e.name.chars().count())
        .filter(|n| *n <= inline_max)
        .max()
        .unwrap_or(0);
    for e in &results.endpoints {
        out.push_str(&spark_line(e, name_width, width));
    }
    for e in &results.endpoints {
        if let Some(line) = error_line(e) {
            let _ = writeln!(out, "{line}");
        }
    }
    let unfinished: u64 = results.request_endpoints().map(|e| e.unfinished).sum();
    if unfinished > 0 && results.run.stopped_by.is_some() {
        let _ = writeln!(
            out,
            "{unfinished} requests were still in flight when the run ended and are not in these figures (`unfinished`)"
        );
    }
    for line in flow_lines(results) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(line) = schedule_line(results) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&threshold_lines(results, false));
    out.push_str(&super::failures::failure_lines(results));
    if results.run.insecure {
        let _ = writeln!(
            out,
            "WARNING: TLS certificates were not verified (--insecure / insecure = true): anyone could have answered."
        );
    }
    let health = &results.run.health;
    if health.saturated {
        let _ = writeln!(
            out,
            "WARNING: the generator was saturated ({}): these numbers describe api-cannon, not the server. \
             Lower the rate or concurrency, add --threads, or run from a bigger machine.",
            health.reasons.join("; ")
        );
    }
    fit::wrap_lines(&out, width)
}

/// A table within `width`, with a note naming the columns it left out.
fn fitted(headers: &[&str], rows: Vec<Vec<String>>, drop_order: &[usize], width: usize) -> String {
    let table = fit::Table {
        headers,
        rows,
        drop_order,
    };
    let (mut text, dropped) = table.render(width);
    if !dropped.is_empty() {
        let _ = writeln!(
            text,
            "  (left out to fit {width} columns: {}; the results file has them)",
            dropped.join(", ")
        );
    }
    text
}

/// An endpoint's sparkline after its name, as wide as `width` leaves room for (the name on
/// a line of its own when there is too little).
fn spark_line(e: &EndpointResult, name_width: usize, width: usize) -> String {
    // "  NAME  SPARK  mean 1234 .. 5678 ms over 123.4 s": 36 columns besides the spark.
    let room = width.saturating_sub(name_width + 36);
    match room >= SPARK_MIN && e.name.chars().count() <= name_width {
        true => sparkline(e, room.min(SPARK_WIDTH))
            .map(|line| format!("  {:<name_width$}  {line}\n", e.name))
            .unwrap_or_default(),
        false => sparkline(e, SPARK_WIDTH.min(width.saturating_sub(40).max(SPARK_MIN)))
            .map(|line| format!("  {}\n    {line}\n", e.name))
            .unwrap_or_default(),
    }
}

/// What each flow's row means, and the steps its failed instances left unsent.
fn flow_lines(r: &Results) -> Vec<String> {
    let flows = r.endpoints.iter().filter(|e| e.is_whole_flow());
    flows
        .map(|f| {
            let steps = r.endpoints.iter().filter(|e| f.steps.contains(&e.name));
            let skipped: Vec<String> = steps
                .filter(|e| e.skipped > 0)
                .map(|e| format!("{} {}", e.name, e.skipped))
                .collect();
            let skipped = match skipped.is_empty() {
                true => "no later step skipped".to_owned(),
                false => format!("later steps skipped: {}", skipped.join(", ")),
            };
            format!(
                "flow {}: {} (end to end over {} complete instances; {} failed; {skipped})",
                f.name, f.url, f.ok, f.errors
            )
        })
        .collect()
}

/// A line per threshold (`✓`/`✗`, expression, endpoint, measured against limit); with
/// `failed_only`, the failed ones: what `--quiet` and `merge` still print, as a gate that
/// fails must say why.
pub fn threshold_lines(results: &Results, failed_only: bool) -> String {
    let mut out = String::new();
    for t in results
        .thresholds
        .iter()
        .filter(|t| !failed_only || !t.passed)
    {
        let mark = if t.passed { "✓" } else { "✗" };
        let on = t.endpoint.as_deref().unwrap_or("(all)");
        let _ = writeln!(out, "{mark} {}  [{on}]  {}", t.threshold, t.explain());
    }
    out
}

fn schedule_line(r: &Results) -> Option<String> {
    let s = &r.run.schedule;
    let pace = match (s.kind.as_str(), s.rate_per_s, s.every_ms) {
        ("rate", Some(rate), _) => format!("rate {rate}/s per endpoint"),
        ("every", _, Some(ms)) => format!("a burst of {} every {ms} ms", r.run.concurrency),
        _ => return None,
    };
    let h = &r.run.health;
    Some(format!(
        "schedule: {pace}; sent behind schedule by p50 {} / p99 {} / max {} ms; {} late (> 1 ms); up to {} in flight",
        number(h.schedule_lag_ms.p50),
        number(h.schedule_lag_ms.p99),
        number(h.schedule_lag_ms.max),
        h.late_requests,
        h.max_in_flight
    ))
}

pub(crate) fn heading(r: &Results) -> String {
    let ended = match (r.run.complete, r.run.stopped_by.as_deref()) {
        (true, Some("duration")) => "ran for its duration".to_owned(),
        (true, _) => "complete".to_owned(),
        (false, Some(by)) => format!("INCOMPLETE (stopped by {by}): figures cover what finished"),
        (false, None) => "in progress".to_owned(),
    };
    format!(
        "api-cannon: {} requests in {:.2} s, {} errors, {}. Latencies in ms.",
        r.totals.requests, r.run.elapsed_s, r.totals.errors, ended
    )
}

pub(crate) fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_owned(),
    }
}

fn row(e: &EndpointResult) -> [String; 12] {
    let l = &e.latency_ms;
    [
        e.name.clone(),
        e.requests.to_string(),
        e.ok.to_string(),
        e.errors.to_string(),
        // Failures per second are no throughput: an endpoint that never worked says so.
        match e.failed_entirely() {
            true => "fail".to_owned(),
            false => format!("{:.1}", e.rps),
        },
        number(l.min),
        number(l.mean),
        number(l.p50),
        number(l.p90),
        number(l.p99),
        number(l.max),
        number(e.first_ms),
    ]
}

fn totals_row(r: &Results) -> [String; 12] {
    let l = &r.totals.latency_ms;
    [
        "(all)".to_owned(),
        r.totals.requests.to_string(),
        r.totals.ok.to_string(),
        r.totals.errors.to_string(),
        format!("{:.1}", r.totals.rps),
        number(l.min),
        number(l.mean),
        number(l.p50),
        number(l.p90),
        number(l.p99),
        number(l.max),
        String::new(),
    ]
}

/// Characters of a sparkline, at most.
const SPARK_WIDTH: usize = 40;

/// Characters of a sparkline, at least.
const SPARK_MIN: usize = 12;
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Mean latency over time in one line, so spikes show without opening anything: the
/// timeline's buckets grouped into at most `width` characters, each the highest mean of
/// its group (a spike must not average away).
pub(crate) fn sparkline(e: &EndpointResult, width: usize) -> Option<String> {
    let means: Vec<f64> = e.timeline.iter().filter_map(|b| b.mean_ms).collect();
    if means.len() < 2 {
        return None;
    }
    let group = means.len().div_ceil(width);
    let peaks: Vec<f64> = means
        .chunks(group)
        .map(|c| c.iter().copied().fold(f64::MIN, f64::max))
        .collect();
    let (lo, hi) = peaks
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let line: String = peaks
        .iter()
        .map(|&v| {
            let level = if hi > lo {
                ((v - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                0
            };
            SPARKS[level.min(7)]
        })
        .collect();
    Some(format!(
        "{line}  mean {} .. {} ms over {:.1} s",
        number(Some(lo)),
        number(Some(hi)),
        e.timeline.len() as f64 * e.timeline_bucket_s
    ))
}

/// Column headings of the server-side table (ms).
const SERVER_HEADERS: [&str; 7] = [
    "server side",
    "server p50",
    "server p99",
    "overhead p50",
    "overhead p99",
    "cold",
    "init p50",
];

/// Where the time went, per endpoint: the server's own time, the rest (network, TLS,
/// gateway, queueing), and cold starts with a line each. Empty when no endpoint has a
/// server time or a cold start.
fn server_side(results: &Results, width: usize) -> String {
    let endpoints: Vec<&EndpointResult> = results.request_endpoints().collect();
    let timed = |e: &&EndpointResult| e.server_ms.as_ref().is_some_and(|s| s.p50.is_some());
    let cold = |e: &&EndpointResult| e.cold_starts.as_ref().is_some_and(|c| c.count > 0);
    if !endpoints.iter().any(|e| timed(e) || cold(e)) {
        return String::new();
    }
    let rows = endpoints.iter().map(|e| server_row(e).into()).collect();
    let mut out = fitted(&SERVER_HEADERS, rows, &SERVER_DROP_ORDER, width);
    for e in &endpoints {
        if let Some(line) = cold_line(e) {
            let _ = writeln!(out, "  {line}");
        }
        if let Some(missing) = e.server_time_missing.filter(|n| *n > 0) {
            let _ = writeln!(out, "  {}: {missing} responses had no server time", e.name);
        }
    }
    if endpoints.iter().any(|e| {
        e.cold_starts
            .as_ref()
            .is_some_and(|c| c.source == "spikes" && c.count > 0)
    }) {
        let _ = writeln!(
            out,
            "  ~ cold starts seen as latency spikes (over 5x the running median and\n    median + 100 ms); the server declared none (docs/server-time.md)"
        );
    }
    out
}

fn server_row(e: &EndpointResult) -> [String; 7] {
    let server = e.server_ms.clone().unwrap_or_default();
    let overhead = e.overhead_ms.clone().unwrap_or_default();
    let (cold, init) = match &e.cold_starts {
        Some(c) if c.source == "spikes" && c.count > 0 => (format!("~{}", c.count), None),
        Some(c) => (c.count.to_string(), c.init_ms.p50),
        None => ("-".to_owned(), None),
    };
    [
        e.name.clone(),
        number(server.p50),
        number(server.p99),
        number(overhead.p50),
        number(overhead.p99),
        cold,
        number(init),
    ]
}

/// `csharp: 4 cold starts, init p50 1434 ms, latency p50 1444 ms`.
fn cold_line(e: &EndpointResult) -> Option<String> {
    let c = e.cold_starts.as_ref().filter(|c| c.count > 0)?;
    let plural = if c.count == 1 { "" } else { "s" };
    let init = match c.init_ms.p50 {
        Some(ms) => format!(", init p50 {} ms", number(Some(ms))),
        None => String::new(),
    };
    Some(format!(
        "{}: {} cold start{plural}{init}, latency p50 {} ms",
        e.name,
        c.count,
        number(c.latency_ms.p50)
    ))
}

fn error_line(e: &EndpointResult) -> Option<String> {
    let k = &e.error_kinds;
    let parts: Vec<String> = k
        .pairs()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    if parts.is_empty() && e.error_details.is_empty() {
        return None;
    }
    let statuses: Vec<String> = e
        .status
        .iter()
        .map(|(code, n)| format!("{code}×{n}"))
        .collect();
    let statuses = match statuses.is_empty() {
        true => String::new(),
        false => format!("  (statuses: {})", statuses.join(" ")),
    };
    let mut line = match parts.is_empty() {
        // No failed request, only a note (a token refresh that failed while the old one
        // still worked).
        true => format!("  {}:", e.name),
        false => format!("  {} errors: {}{statuses}", e.name, parts.join(", ")),
    };
    for (kind, detail) in &e.error_details {
        let _ = write!(line, "\n    {kind}: {detail}");
    }
    Some(line)
}
