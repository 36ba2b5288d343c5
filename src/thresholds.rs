//! Thresholds: checks on the results that fail a build (exit code 1).
//!
//! Grammar: `[ENDPOINT:]METRIC OP VALUE`, e.g. `p99<200ms`, `rust:p95<=50ms`,
//! `error_rate<1%`, `rps>=100`, `errors<=0`.
//! - METRIC: `min`, `mean`, `max`, `pNN` or `pNN.N` (latency, VALUE a duration: `200ms`,
//!   `2s`, `1s500ms`), `error_rate` (VALUE a percentage `1%` or a fraction `0.01`), `errors`
//!   (a count), `rps` (requests per second); `server_` or `overhead_` before a latency
//!   metric (`server_p99`, `overhead_mean`) judges the server's own time or the rest of the
//!   latency (see the results' `server_ms` and `overhead_ms`); `cold_starts` (a count).
//! - OP: `<`, `<=`, `>`, `>=`.
//! - ENDPOINT: a target name; without one the threshold applies to every endpoint and to
//!   the totals. The name is everything before the last `:` of the left-hand side, so
//!   names with colons (`127.0.0.1:8080/hello:p99<1s`) work.
//!
//! This module only parses and names thresholds: a leaf of the vocabulary that the targets
//! file, the command line and the results all use. Evaluation reads the results model
//! (`results::thresholds`), so a threshold judges a live run, a checkpoint and a merged file
//! alike.

use std::fmt;

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
    /// A statistic of the server's own time (`server_p99`), ms.
    ServerTime(Stat),
    /// A statistic of the overhead, latency minus server time (`overhead_p99`), ms.
    Overhead(Stat),
    /// Cold starts, a count.
    ColdStarts,
}

/// A statistic of a distribution in ms other than the request latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Smallest value.
    Min,
    /// Mean.
    Mean,
    /// Largest value.
    Max,
    /// A percentile (0 < p < 100).
    Percentile(f64),
}

impl Stat {
    /// The latency metric of the same statistic, which says how to measure it.
    pub fn as_latency(self) -> Metric {
        match self {
            Stat::Min => Metric::Min,
            Stat::Mean => Metric::Mean,
            Stat::Max => Metric::Max,
            Stat::Percentile(p) => Metric::Percentile(p),
        }
    }

    fn of_latency(metric: Metric) -> Option<Stat> {
        Some(match metric {
            Metric::Min => Stat::Min,
            Metric::Mean => Stat::Mean,
            Metric::Max => Stat::Max,
            Metric::Percentile(p) => Stat::Percentile(p),
            _ => return None,
        })
    }
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
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        let equal = (measured - limit).abs() <= 1e-12 * limit.abs().max(1.0);
        match self {
            Op::Lt => measured < limit && !equal,
            Op::Le => measured <= limit || equal,
            Op::Gt => measured > limit && !equal,
            Op::Ge => measured >= limit || equal,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
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
     'errors<=0', 'rps>=100', 'server_p99<5ms', 'cold_starts<=3' (METRIC: min, mean, max, pNN, pNN.N, \
     error_rate, errors, rps, cold_starts, or server_/overhead_ before a latency metric; OP: < <= > >=)";

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
        // The operator is the last `<` or `>`: a value never holds one, and a target's name
        // may (`login->checkout:p99<2s`).
        let at = expr
            .rfind(['<', '>'])
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

    /// The metric as written in the condition (`p99`, `server_p99`, `error_rate`).
    pub fn metric_text(&self) -> &str {
        // The condition holds no endpoint name: its first `<` or `>` is the operator.
        self.condition.split(['<', '>']).next().unwrap_or_default()
    }

    /// A threshold from the parts a results file keeps: `condition` (its text without an
    /// endpoint) must say the same as `metric`, `op` and `limit`, and `endpoint` is taken
    /// as it is, never parsed out of a text, so no name can change what a gate means.
    pub fn from_parts(
        endpoint: Option<String>,
        condition: &str,
        metric: &str,
        op: &str,
        limit: f64,
    ) -> Result<Threshold, String> {
        let parsed = Threshold::parse(condition).map_err(|e| e.to_string())?;
        let same_limit = (parsed.limit - limit).abs() <= 1e-12 * limit.abs().max(1.0);
        if parsed.endpoint.is_some()
            || parsed.metric_text() != metric
            || parsed.op.as_str() != op
            || !same_limit
        {
            return Err(format!(
                "threshold `{condition}` does not say what its parts do (metric `{metric}`, \
                 op `{op}`, limit {limit}); the file was edited"
            ));
        }
        Ok(Threshold { endpoint, ..parsed })
    }

    /// The same condition for another endpoint (thresholds from a targets file).
    pub fn for_endpoint(mut self, name: &str) -> Threshold {
        self.endpoint = Some(name.to_owned());
        self
    }

    /// Whether it can no longer pass, whatever the rest of the run does: an error count
    /// only grows, so `errors<N` fails for good once reached. Used by `--fail-fast`.
    pub fn failed_for_good(&self, measured: f64) -> bool {
        matches!(self.metric, Metric::Errors | Metric::ColdStarts)
            && matches!(self.op, Op::Lt | Op::Le)
            && !self.op.holds(measured, self.limit)
    }
}

impl Threshold {
    /// Whether a measurement (in the metric's unit) meets the limit.
    pub fn holds(&self, measured: f64) -> bool {
        self.op.holds(measured, self.limit)
    }

    /// "measured 250.1 ms, limit < 200 ms": an outcome in words, with the metric's unit;
    /// `None` is a measurement there was nothing to take (no timed response).
    pub fn explain(&self, measured: Option<f64>) -> String {
        let measured =
            measured.map_or_else(|| "nothing to measure".to_owned(), |v| self.metric.show(v));
        format!(
            "measured {measured}, limit {} {}",
            self.op.as_str(),
            self.metric.show(self.limit)
        )
    }
}

impl Metric {
    /// A value of this metric with its unit, as messages show it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{:.3}%", v * 100.0),
            Metric::Errors | Metric::ColdStarts => format!("{v:.0}"),
            Metric::Rps => format!("{v:.1} req/s"),
            _ => format!("{v:.3} ms"),
        }
    }
}

/// The quantile of percentile `p` as the results compute it: `99.9` is exactly the `0.999`
/// behind `p99_9` (`99.9 / 100.0` is 0.9990000000000001, which ranks one value higher
/// whenever the count is a multiple of 1,000).
pub fn quantile(p: f64) -> f64 {
    (p * 1_000.0).round() / 100_000.0
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
        "cold_starts" => Metric::ColdStarts,
        _ if text.starts_with("server_") || text.starts_with("overhead_") => {
            return of_distribution(text);
        }
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

/// `server_p99`, `overhead_mean`: a latency statistic of another distribution.
fn of_distribution(text: &str) -> Result<Metric, String> {
    let (kind, stat) = text.split_once('_').unwrap_or((text, ""));
    let stat = parse_metric(stat)
        .ok()
        .and_then(Stat::of_latency)
        .ok_or_else(|| {
            format!(
                "`{text}`: write {kind}_min, {kind}_mean, {kind}_max or {kind}_pNN (p99, p99.9)"
            )
        })?;
    Ok(match kind {
        "server" => Metric::ServerTime(stat),
        _ => Metric::Overhead(stat),
    })
}

fn parse_limit(metric: Metric, text: &str) -> Result<f64, String> {
    match metric {
        Metric::Min
        | Metric::Mean
        | Metric::Max
        | Metric::Percentile(_)
        | Metric::ServerTime(_)
        | Metric::Overhead(_) => humantime::parse_duration(text)
            .map(|d| d.as_secs_f64() * 1_000.0)
            .map_err(|e| format!("`{text}` is not a duration ({e}); write 200ms, 2s, 1s500ms")),
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
        Metric::Errors | Metric::Rps | Metric::ColdStarts => match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            _ => Err(format!("`{text}` is not a non-negative number")),
        },
    }
}

#[cfg(test)]
mod tests;
