//! Evaluating thresholds on the results model: the same verdict on a live run, a
//! checkpoint or a merged file, because all three are [`Results`].

use hdrhistogram::Histogram;

use super::{EndpointResult, LatencySummary, Results, ThresholdResult, decode_histogram};
use crate::record::{add_sparse, new_histogram};
use crate::thresholds::{Metric, Stat, Threshold, quantile};

impl ThresholdResult {
    /// "measured 250.1 ms, limit < 200 ms": the outcome in words, with units.
    pub fn explain(&self) -> String {
        self.threshold.explain(self.measured)
    }
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
        threshold: threshold.clone(),
        measured,
        limit: threshold.limit,
        passed: measured.is_some_and(|m| threshold.holds(m)),
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

fn rate(errors: u64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| errors as f64 / requests as f64)
}

fn measure_endpoint(metric: Metric, e: &EndpointResult) -> Option<f64> {
    let h = &e.histograms;
    match metric {
        Metric::ErrorRate => rate(e.errors, e.requests),
        Metric::Errors => Some(e.errors as f64),
        Metric::Rps => Some(e.rps),
        Metric::ColdStarts => e.cold_starts.as_ref().map(|c| c.count as f64),
        Metric::ServerTime(stat) => latency(stat.as_latency(), e.server_ms.as_ref()?, || {
            decode_histogram(&h.server).ok()
        }),
        Metric::Overhead(stat) => latency(stat.as_latency(), e.overhead_ms.as_ref()?, || {
            decode_histogram(&h.overhead).ok()
        }),
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
        Metric::ColdStarts => {
            let counts = r.request_endpoints().filter_map(|e| e.cold_starts.as_ref());
            counts.map(|c| c.count as f64).reduce(|a, b| a + b)
        }
        Metric::ServerTime(stat) => across(r, stat, |e| &e.histograms.server),
        Metric::Overhead(stat) => across(r, stat, |e| &e.histograms.overhead),
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

/// A statistic of one distribution over every request endpoint that has it (a server
/// time or overhead on the totals): from their histograms added up.
fn across(r: &Results, stat: Stat, encoded: fn(&EndpointResult) -> &String) -> Option<f64> {
    let mut all = new_histogram();
    for e in r.request_endpoints() {
        let text = encoded(e);
        if !text.is_empty() {
            add_sparse(&mut all, &decode_histogram(text).ok()?);
        }
    }
    let summary = LatencySummary::of(&all, None);
    latency(stat.as_latency(), &summary, || Some(all))
}

#[cfg(test)]
mod tests;
