//! `compare`: did it get slower? Per endpoint (matched by name), the change in latency,
//! error rate and throughput between a baseline and a current results file, and a verdict.
//!
//! The verdict uses the whole latency distributions, not just point estimates: a two-sample
//! Kolmogorov–Smirnov test on the two stored HDR histograms says whether the distributions
//! differ at all (α = 0.01), and the tolerance says whether the difference matters: an
//! endpoint is `slower` when the distributions differ significantly *and* its p50 or p99 rose
//! by more than the tolerance; `faster` when they differ and both fell by more than it;
//! otherwise `no significant change`. Noise moves a point estimate but rarely passes both
//! tests; a real regression passes both. An error rate that rose by more than the tolerance
//! (relatively) and by at least 0.1 percentage points, significantly by a two-proportion
//! z-test (p < 0.01), also fails the comparison.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::results::{EndpointResult, Results, decode_histogram};

pub mod render;

/// Kolmogorov–Smirnov coefficient for α = 0.01.
const KS_C_ALPHA: f64 = 1.628;
/// z for a one-sided p < 0.01.
const Z_ONE_PERCENT: f64 = 2.326;
/// Smallest error-rate rise that can fail a comparison, as a fraction (0.1 percentage points).
const MIN_ERROR_RATE_RISE: f64 = 0.001;

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The relative tolerance (0.1 = 10%).
    pub tolerance: f64,
    /// One entry per endpoint present in both files.
    pub endpoints: Vec<EndpointComparison>,
    /// Endpoints present in only one of the files.
    pub unmatched: Vec<String>,
    /// True when any endpoint is slower, its error rate rose, or it is missing from the
    /// current file (a renamed or dropped target must not pass a gate unseen): exit 1.
    pub regressed: bool,
}

/// One endpoint's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointComparison {
    /// The endpoint's name.
    pub name: String,
    /// `slower`, `faster` or `no significant change`.
    pub verdict: &'static str,
    /// Whether the error rate rose beyond the tolerance, significantly.
    pub error_rate_rose: bool,
    /// The distribution test.
    pub ks: KsTest,
    /// p50, p90, p99, mean, max (ms), error_rate (fraction), rps; then, when either file
    /// has a server time, server p50 and p99 and overhead p50 (ms); when either counted
    /// cold starts, their count.
    pub metrics: Vec<MetricChange>,
    /// The same verdict on the server's own time (`server_ms`), by the same tests; null
    /// when either file has no server time. `slower` fails the comparison too: the
    /// function got slower even where the network hid it.
    pub server_verdict: Option<&'static str>,
    /// The distribution test on the server's own time; null like `server_verdict`.
    pub server_ks: Option<KsTest>,
}

/// A two-sample Kolmogorov–Smirnov test on two latency histograms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KsTest {
    /// Largest distance between the two cumulative distributions (0..1).
    pub d: f64,
    /// The distance above which the distributions differ at α = 0.01.
    pub critical: f64,
    /// `d > critical`.
    pub significant: bool,
}

/// One metric before and after.
#[derive(Debug, Clone, Serialize)]
pub struct MetricChange {
    /// `p50_ms`, `p90_ms`, `p99_ms`, `mean_ms`, `max_ms`, `error_rate` or `rps`.
    pub metric: &'static str,
    /// In the baseline.
    pub baseline: Option<f64>,
    /// In the current file.
    pub current: Option<f64>,
    /// current − baseline.
    pub delta: Option<f64>,
    /// delta ÷ baseline (null when the baseline is 0 or missing).
    pub relative: Option<f64>,
}

/// A tolerance that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("--tolerance `{0}`: write a percentage (10%) or a fraction (0.1) between 0 and 1000%")]
pub struct ToleranceError(pub String);

/// `10%` or `0.1`.
pub fn parse_tolerance(text: &str) -> Result<f64, ToleranceError> {
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (text.trim(), 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1_000.0).contains(&v) && v / scale <= 10.0 => {
            Ok(v / scale)
        }
        _ => Err(ToleranceError(text.to_owned())),
    }
}

/// Compares `current` against `baseline`.
pub fn compare(baseline: &Results, current: &Results, tolerance: f64) -> Comparison {
    let mut endpoints = Vec::new();
    let mut unmatched = Vec::new();
    let mut missing = false;
    for b in &baseline.endpoints {
        match current.endpoints.iter().find(|c| c.name == b.name) {
            Some(c) => endpoints.push(compare_endpoint(b, c, tolerance)),
            None => {
                missing = true;
                unmatched.push(format!(
                    "{} (only in the baseline: not measured now)",
                    b.name
                ));
            }
        }
    }
    for c in &current.endpoints {
        if !baseline.endpoints.iter().any(|b| b.name == c.name) {
            unmatched.push(format!("{} (only in the current file)", c.name));
        }
    }
    let regressed = missing
        || endpoints.iter().any(|e| {
            e.verdict == "slower" || e.error_rate_rose || e.server_verdict == Some("slower")
        });
    Comparison {
        tolerance,
        endpoints,
        unmatched,
        regressed,
    }
}

fn error_rate(e: &EndpointResult) -> Option<f64> {
    (e.requests > 0).then(|| e.errors as f64 / e.requests as f64)
}

fn change(metric: &'static str, baseline: Option<f64>, current: Option<f64>) -> MetricChange {
    let delta = baseline.zip(current).map(|(b, c)| c - b);
    let relative = baseline
        .zip(delta)
        .and_then(|(b, d)| (b != 0.0).then(|| d / b));
    MetricChange {
        metric,
        baseline,
        current,
        delta,
        relative,
    }
}

fn compare_endpoint(b: &EndpointResult, c: &EndpointResult, tolerance: f64) -> EndpointComparison {
    let (lb, lc) = (&b.latency_ms, &c.latency_ms);
    let mut metrics = vec![
        change("p50_ms", lb.p50, lc.p50),
        change("p90_ms", lb.p90, lc.p90),
        change("p99_ms", lb.p99, lc.p99),
        change("mean_ms", lb.mean, lc.mean),
        change("max_ms", lb.max, lc.max),
        change("error_rate", error_rate(b), error_rate(c)),
        change("rps", Some(b.rps), Some(c.rps)),
    ];
    let ks = ks_of(&b.histogram, &c.histogram);
    let verdict = verdict_of(ks, &metrics[0], &metrics[2], tolerance);
    let (server_ks, server_verdict) = match (&b.server_ms, &c.server_ms) {
        (Some(sb), Some(sc)) => {
            let (p50, p99) = (change("", sb.p50, sc.p50), change("", sb.p99, sc.p99));
            let ks = ks_of(&b.histograms.server, &c.histograms.server);
            (Some(ks), Some(verdict_of(ks, &p50, &p99, tolerance)))
        }
        _ => (None, None),
    };
    metrics.extend(server_changes(b, c));
    EndpointComparison {
        name: b.name.clone(),
        verdict,
        error_rate_rose: error_rate_rose(b, c, tolerance),
        ks,
        metrics,
        server_verdict,
        server_ks,
    }
}

/// The KS test on two encoded histograms; not significant when either does not decode.
fn ks_of(baseline: &str, current: &str) -> KsTest {
    match (decode_histogram(baseline), decode_histogram(current)) {
        (Ok(hb), Ok(hc)) => ks_test(&hb, &hc),
        _ => KsTest {
            d: 0.0,
            critical: 1.0,
            significant: false,
        },
    }
}

/// `slower` when the distributions differ and p50 or p99 rose beyond the tolerance;
/// `faster` when they differ and both fell beyond it.
fn verdict_of(ks: KsTest, p50: &MetricChange, p99: &MetricChange, tolerance: f64) -> &'static str {
    let relative = [p50.relative, p99.relative];
    let rose = relative.iter().flatten().any(|r| *r > tolerance);
    let fell = relative.iter().all(|r| r.is_some_and(|r| r < -tolerance));
    match (ks.significant, rose, fell) {
        (true, true, _) => "slower",
        (true, false, true) => "faster",
        _ => "no significant change",
    }
}

/// Server time, overhead and cold starts, where either file has them.
fn server_changes(b: &EndpointResult, c: &EndpointResult) -> Vec<MetricChange> {
    let mut out = Vec::new();
    if b.server_ms.is_some() || c.server_ms.is_some() {
        let server = |e: &EndpointResult| e.server_ms.clone().unwrap_or_default();
        let overhead = |e: &EndpointResult| e.overhead_ms.clone().unwrap_or_default();
        out.push(change("server_p50_ms", server(b).p50, server(c).p50));
        out.push(change("server_p99_ms", server(b).p99, server(c).p99));
        out.push(change("overhead_p50_ms", overhead(b).p50, overhead(c).p50));
    }
    let cold = |e: &EndpointResult| e.cold_starts.as_ref().map(|c| c.count as f64);
    if cold(b).is_some_and(|n| n > 0.0) || cold(c).is_some_and(|n| n > 0.0) {
        out.push(change("cold_starts", cold(b), cold(c)));
    }
    out
}

/// The two-sample KS statistic over the histograms' buckets (both use the same bucket
/// layout, so bucket values line up) and its critical value at α = 0.01.
pub fn ks_test(a: &Histogram<u64>, b: &Histogram<u64>) -> KsTest {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return KsTest {
            d: 0.0,
            critical: 1.0,
            significant: false,
        };
    }
    let mut xs: Vec<(u64, u64, u64)> = Vec::new();
    for v in a.iter_recorded() {
        xs.push((v.value_iterated_to(), v.count_at_value(), 0));
    }
    for v in b.iter_recorded() {
        xs.push((v.value_iterated_to(), 0, v.count_at_value()));
    }
    xs.sort_unstable_by_key(|x| x.0);
    let (mut ca, mut cb, mut d) = (0u64, 0u64, 0f64);
    let mut i = 0;
    while i < xs.len() {
        // Every bucket with the same value moves both cumulative counts before comparing.
        let value = xs[i].0;
        while i < xs.len() && xs[i].0 == value {
            ca += xs[i].1;
            cb += xs[i].2;
            i += 1;
        }
        d = d.max((ca as f64 / n as f64 - cb as f64 / m as f64).abs());
    }
    let critical = KS_C_ALPHA * ((n + m) as f64 / (n as f64 * m as f64)).sqrt();
    KsTest {
        d,
        critical,
        significant: d > critical,
    }
}

fn error_rate_rose(b: &EndpointResult, c: &EndpointResult, tolerance: f64) -> bool {
    let (Some(pb), Some(pc)) = (error_rate(b), error_rate(c)) else {
        return false;
    };
    if pc - pb < MIN_ERROR_RATE_RISE || pc <= pb * (1.0 + tolerance) {
        return false;
    }
    let (nb, nc) = (b.requests as f64, c.requests as f64);
    let pooled = (b.errors + c.errors) as f64 / (nb + nc);
    let se = (pooled * (1.0 - pooled) * (1.0 / nb + 1.0 / nc)).sqrt();
    se > 0.0 && (pc - pb) / se > Z_ONE_PERCENT
}

#[cfg(test)]
mod tests;
