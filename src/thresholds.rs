//! Thresholds: checks on the results that fail a build (exit code 1).
//!
//! Grammar: `[ENDPOINT:]METRIC OP VALUE`, e.g. `p99<200ms`, `rust:p95<=50ms`,
//! `error_rate<1%`, `rps>=100`, `errors<=0`.
//! - METRIC: `min`, `mean`, `max`, `pNN` or `pNN.N` (latency, VALUE a duration: `200ms`,
//!   `2s`, `1s500ms`), `error_rate` (VALUE a percentage `1%` or a fraction `0.01`), `errors`
//!   (a count), `rps` (requests per second).
//! - OP: `<`, `<=`, `>`, `>=`.
//! - ENDPOINT: a target name; without one the threshold applies to every endpoint and to
//!   the totals. The name is everything before the last `:` of the left-hand side, so
//!   names with colons (`127.0.0.1:8080/hello:p99<1s`) work.
//!
//! Thresholds read the results model only, so they evaluate the same on a live run, a
//! checkpoint, or a merged file.

use std::fmt;

use hdrhistogram::Histogram;

use crate::record::{add_sparse, new_histogram};
use crate::results::{EndpointResult, LatencySummary, Results, ThresholdResult, decode_histogram};

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The endpoint it is about; `None`: every endpoint and the totals.
    pub endpoint: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// How the measurement compares to the limit.
    pub op: Op,
    /// The limit, in the metric's unit (ms, fraction, count, or requests/s).
    pub limit: f64,
    /// The condition without the endpoint, normalised (`p99<200ms`).
    pub condition: String,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Smallest latency, ms.
    Min,
    /// Mean latency, ms.
    Mean,
    /// Largest latency, ms.
    Max,
    /// A latency percentile (0 < p < 100), ms.
    Percentile(f64),
    /// Errors ÷ requests, a fraction.
    ErrorRate,
    /// Errors, a count.
    Errors,
    /// Requests per second.
    Rps,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether `measured OP limit`. Values within a part in 10¹² count as equal: `0.7%` is
    /// 0.006999999999999999 in binary and 7 errors in 1,000 requests 0.007, and a limit met
    /// exactly must not pass or fail by the rounding of either.
    fn holds(self, measured: f64, limit: f64) -> bool {
        let equal = (measured - limit).abs() <= 1e-12 * limit.abs().max(1.0);
        match self {
            Op::Lt => measured < limit && !equal,
            Op::Le => measured <= limit || equal,
            Op::Gt => measured > limit && !equal,
            Op::Ge => measured >= limit || equal,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// The expected form, shown with every parse error.
pub const GRAMMAR: &str = "[ENDPOINT:]METRIC OP VALUE, e.g. 'p99<200ms', 'rust:p95<=50ms', 'error_rate<1%', \
     'errors<=0', 'rps>=100' (METRIC: min, mean, max, pNN, pNN.N, error_rate, errors, rps; OP: < <= > >=)";

/// A threshold that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("threshold `{expr}`: {problem}; expected {GRAMMAR}")]
pub struct ThresholdError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Threshold {
    /// Parses `[ENDPOINT:]METRIC OP VALUE`.
    pub fn parse(expr: &str) -> Result<Threshold, ThresholdError> {
        let fail = |problem: &str| ThresholdError {
            expr: expr.to_owned(),
            problem: problem.to_owned(),
        };
        let at = expr
            .find(['<', '>'])
            .ok_or_else(|| fail("no comparison (<, <=, > or >=)"))?;
        let (left, rest) = expr.split_at(at);
        let (op, value) = match rest.strip_prefix("<=").map(|v| (Op::Le, v)) {
            Some(found) => found,
            None => match rest.strip_prefix(">=") {
                Some(v) => (Op::Ge, v),
                None => match rest.strip_prefix('<') {
                    Some(v) => (Op::Lt, v),
                    None => (Op::Gt, &rest[1..]),
                },
            },
        };
        let (endpoint, metric_text) = match left.rsplit_once(':') {
            Some((name, metric)) if !name.trim().is_empty() => {
                (Some(name.trim().to_owned()), metric.trim())
            }
            Some(_) => return Err(fail("empty endpoint name before `:`")),
            None => (None, left.trim()),
        };
        let metric = parse_metric(metric_text).map_err(|p| fail(&p))?;
        let limit = parse_limit(metric, value.trim()).map_err(|p| fail(&p))?;
        let condition = format!("{metric_text}{}{}", op.as_str(), value.trim());
        Ok(Threshold {
            endpoint,
            metric,
            op,
            limit,
            condition,
        })
    }

    /// The same condition for another endpoint (thresholds from a targets file).
    pub fn for_endpoint(mut self, name: &str) -> Threshold {
        self.endpoint = Some(name.to_owned());
        self
    }

    /// Whether it can no longer pass, whatever the rest of the run does: an error count
    /// only grows, so `errors<N` fails for good once reached. Used by `--fail-fast`.
    pub fn failed_for_good(&self, measured: f64) -> bool {
        self.metric == Metric::Errors
            && matches!(self.op, Op::Lt | Op::Le)
            && !self.op.holds(measured, self.limit)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.endpoint {
            Some(name) => write!(f, "{name}:{}", self.condition),
            None => f.write_str(&self.condition),
        }
    }
}

fn parse_metric(text: &str) -> Result<Metric, String> {
    Ok(match text {
        "min" => Metric::Min,
        "mean" => Metric::Mean,
        "max" => Metric::Max,
        "error_rate" => Metric::ErrorRate,
        "errors" => Metric::Errors,
        "rps" => Metric::Rps,
        _ => match text.strip_prefix('p').map(str::parse::<f64>) {
            Some(Ok(p)) if p > 0.0 && p < 100.0 => Metric::Percentile(p),
            Some(_) => {
                return Err(format!(
                    "`{text}` is not a percentile between p0 and p100 (p99, p99.9)"
                ));
            }
            None => return Err(format!("unknown metric `{text}`")),
        },
    })
}

fn parse_limit(metric: Metric, text: &str) -> Result<f64, String> {
    match metric {
        Metric::Min | Metric::Mean | Metric::Max | Metric::Percentile(_) => {
            humantime::parse_duration(text)
                .map(|d| d.as_secs_f64() * 1_000.0)
                .map_err(|e| format!("`{text}` is not a duration ({e}); write 200ms, 2s, 1s500ms"))
        }
        Metric::ErrorRate => {
            let (number, scale) = match text.strip_suffix('%') {
                Some(n) => (n, 100.0),
                None => (text, 1.0),
            };
            match number.trim().parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&(v / scale)) => Ok(v / scale),
                _ => Err(format!("`{text}` is not a rate; write 1% or 0.01")),
            }
        }
        Metric::Errors | Metric::Rps => match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!("`{text}` is not a non-negative number")),
        },
    }
}

/// "measured 250.1 ms, limit < 200 ms": a threshold's outcome in words, with units.
pub fn explain(result: &ThresholdResult) -> String {
    let Ok(threshold) = Threshold::parse(&result.expr) else {
        return format!("measured {:?}, limit {}", result.measured, result.limit);
    };
    let show = |v: f64| match threshold.metric {
        Metric::ErrorRate => format!("{:.3}%", v * 100.0),
        Metric::Errors => format!("{v:.0}"),
        Metric::Rps => format!("{v:.1} req/s"),
        _ => format!("{v:.3} ms"),
    };
    let measured = result
        .measured
        .map_or_else(|| "nothing to measure".to_owned(), show);
    format!(
        "measured {measured}, limit {} {}",
        threshold.op.as_str(),
        show(result.limit)
    )
}

/// Evaluates every threshold on `results`: a threshold naming an endpoint (or a flow) on
/// it, one naming none on every request endpoint and on the totals. Whole flows are judged
/// only by name: a flow's end-to-end latency adds up several requests, so a limit meant
/// for one request would not fit it.
pub fn evaluate(results: &Results, thresholds: &[Threshold]) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for threshold in thresholds {
        let endpoints = results
            .endpoints
            .iter()
            .filter(|e| match &threshold.endpoint {
                Some(name) => *name == e.name,
                None => !e.is_whole_flow(),
            });
        for e in endpoints {
            out.push(judge(
                threshold,
                Some(&e.name),
                measure_endpoint(threshold.metric, e),
            ));
        }
        if threshold.endpoint.is_none() {
            out.push(judge(
                threshold,
                None,
                measure_totals(threshold.metric, results),
            ));
        }
    }
    out
}

fn judge(threshold: &Threshold, endpoint: Option<&str>, measured: Option<f64>) -> ThresholdResult {
    ThresholdResult {
        endpoint: endpoint.map(str::to_owned),
        expr: threshold.to_string(),
        measured,
        limit: threshold.limit,
        passed: measured.is_some_and(|m| threshold.op.holds(m, threshold.limit)),
    }
}

fn latency(
    metric: Metric,
    summary: &LatencySummary,
    histogram: impl FnOnce() -> Option<Histogram<u64>>,
) -> Option<f64> {
    match metric {
        Metric::Min => summary.min,
        Metric::Mean => summary.mean,
        Metric::Max => summary.max,
        Metric::Percentile(p) => {
            let h = histogram().filter(|h| !h.is_empty())?;
            let us = (h.value_at_quantile(quantile(p)) as f64)
                .max(summary.min? * 1_000.0)
                .min(summary.max? * 1_000.0);
            Some(us.round() / 1_000.0)
        }
        _ => None,
    }
}

/// The quantile of percentile `p` as the results compute it: `99.9` is exactly the `0.999`
/// behind `p99_9` (`99.9 / 100.0` is 0.9990000000000001, which ranks one value higher
/// whenever the count is a multiple of 1,000).
fn quantile(p: f64) -> f64 {
    (p * 1_000.0).round() / 100_000.0
}

fn rate(errors: u64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| errors as f64 / requests as f64)
}

fn measure_endpoint(metric: Metric, e: &EndpointResult) -> Option<f64> {
    match metric {
        Metric::ErrorRate => rate(e.errors, e.requests),
        Metric::Errors => Some(e.errors as f64),
        Metric::Rps => Some(e.rps),
        _ => latency(metric, &e.latency_ms, || {
            decode_histogram(&e.histogram).ok()
        }),
    }
}

fn measure_totals(metric: Metric, r: &Results) -> Option<f64> {
    let t = &r.totals;
    match metric {
        Metric::ErrorRate => rate(t.errors, t.requests),
        Metric::Errors => Some(t.errors as f64),
        Metric::Rps => Some(t.rps),
        _ => latency(metric, &t.latency_ms, || {
            let mut all = new_histogram();
            // As `totals.latency_ms`: requests only, not flows' end-to-end figures.
            for e in r.request_endpoints() {
                add_sparse(&mut all, &decode_histogram(&e.histogram).ok()?);
            }
            Some(all)
        }),
    }
}

#[cfg(test)]
mod tests;
