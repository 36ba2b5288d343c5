//! Merging one endpoint's figures from several files.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{MergeError, decode};
use crate::record::{Extremes, OUTLIERS_KEPT, add_sparse, new_histogram, new_phase_histogram};
use crate::results::{
    EndpointResult, ErrorKinds, Histograms, LatencySummary, OutlierResult, TimelinePoint,
    encode_histogram,
};
use crate::timeline::{BASE_WIDTH_US, MAX_BUCKETS};

/// One file's figures for the endpoint, and when that file's run started relative to the
/// earliest (seconds).
pub(super) struct Part<'a> {
    pub label: &'a str,
    pub endpoint: &'a EndpointResult,
    pub offset_s: f64,
}

/// Exact extremes recovered from a summary: min and max as written, the sum as mean × count
/// (the mean is written to the microsecond).
pub(super) fn extremes(summary: &LatencySummary, count: u64) -> Extremes {
    match (summary.min, summary.max, summary.mean) {
        (Some(min), Some(max), Some(mean)) if count > 0 => Extremes {
            count,
            min_us: (min * 1_000.0).round() as u64,
            max_us: (max * 1_000.0).round() as u64,
            sum_us: (mean * 1_000.0 * count as f64).round() as u128,
        },
        _ => Extremes::default(),
    }
}

/// Adds the histograms `pick` selects from every part; `None` when no part had one.
fn added(
    parts: &[Part<'_>],
    pick: impl Fn(&EndpointResult) -> &str,
) -> Result<Option<Histogram<u64>>, MergeError> {
    added_into(parts, pick, new_histogram)
}

/// As [`added`], into histograms made by `empty`: the phases' own 2-digit layout for
/// `dns`, `connect` and `tls`, so merging never moves a value to a coarser bucket bound.
fn added_into(
    parts: &[Part<'_>],
    pick: impl Fn(&EndpointResult) -> &str,
    empty: fn() -> Histogram<u64>,
) -> Result<Option<Histogram<u64>>, MergeError> {
    let mut sum: Option<Histogram<u64>> = None;
    for part in parts {
        if let Some(h) = decode(part.label, pick(part.endpoint))? {
            add_sparse(sum.get_or_insert_with(empty), &h);
        }
    }
    Ok(sum)
}

fn encoded(h: &Option<Histogram<u64>>) -> String {
    h.as_ref().map_or_else(String::new, encode_histogram)
}

pub(super) fn merge(parts: &[Part<'_>], elapsed_s: f64) -> Result<EndpointResult, MergeError> {
    let first = parts[0].endpoint;
    let latency = added(parts, |e| &e.histogram)?;
    let mut exact = Extremes::default();
    for part in parts {
        let timed = decode(part.label, &part.endpoint.histogram)?.map_or(0, |h| h.len());
        exact.merge(&extremes(&part.endpoint.latency_ms, timed));
    }
    let h = Histograms {
        latency_raw: encoded(&added(parts, |e| &e.histograms.latency_raw)?),
        latency_new_conn: encoded(&added(parts, |e| &e.histograms.latency_new_conn)?),
        latency_reused_conn: encoded(&added(parts, |e| &e.histograms.latency_reused_conn)?),
        ttfb: encoded(&added(parts, |e| &e.histograms.ttfb)?),
        schedule_lag: encoded(&added(parts, |e| &e.histograms.schedule_lag)?),
        dns: encoded(&added_into(
            parts,
            |e| &e.histograms.dns,
            new_phase_histogram,
        )?),
        connect: encoded(&added_into(
            parts,
            |e| &e.histograms.connect,
            new_phase_histogram,
        )?),
        tls: encoded(&added_into(
            parts,
            |e| &e.histograms.tls,
            new_phase_histogram,
        )?),
    };
    let summary = |text: &str| -> LatencySummary {
        decode("merged", text)
            .ok()
            .flatten()
            .map_or_else(LatencySummary::default, |h| LatencySummary::of(&h, None))
    };
    let requests: u64 = parts.iter().map(|p| p.endpoint.requests).sum();
    let earliest = parts
        .iter()
        .min_by(|a, b| a.offset_s.total_cmp(&b.offset_s))
        .map(|p| p.endpoint);
    let (timeline_bucket_s, timeline) = timeline(parts);
    Ok(EndpointResult {
        name: first.name.clone(),
        kind: first.kind,
        flow: first.flow.clone(),
        steps: first.steps.clone(),
        method: first.method.clone(),
        url: first.url.clone(),
        timeout_ms: first.timeout_ms,
        skipped: parts.iter().map(|p| p.endpoint.skipped).sum(),
        unfinished: parts.iter().map(|p| p.endpoint.unfinished).sum(),
        http_version: parts.iter().find_map(|p| p.endpoint.http_version.clone()),
        tls_version: parts.iter().find_map(|p| p.endpoint.tls_version.clone()),
        insecure: parts.iter().any(|p| p.endpoint.insecure),
        requests,
        ok: parts.iter().map(|p| p.endpoint.ok).sum(),
        errors: parts.iter().map(|p| p.endpoint.errors).sum(),
        rps: if elapsed_s > 0.0 {
            requests as f64 / elapsed_s
        } else {
            0.0
        },
        status: status(parts),
        error_kinds: error_kinds(parts),
        // The first file's detail of each kind, as within a run the first one is kept.
        error_details: parts.iter().rev().fold(Default::default(), |mut all, p| {
            all.extend(p.endpoint.error_details.clone());
            all
        }),
        latency_ms: latency.as_ref().map_or_else(LatencySummary::default, |l| {
            LatencySummary::of(l, Some(&exact))
        }),
        latency_raw_ms: summary(&h.latency_raw),
        latency_new_conn_ms: summary(&h.latency_new_conn),
        latency_reused_conn_ms: summary(&h.latency_reused_conn),
        ttfb_ms: summary(&h.ttfb),
        schedule_lag_ms: summary(&h.schedule_lag),
        late_requests: parts.iter().map(|p| p.endpoint.late_requests).sum(),
        new_connections: parts.iter().map(|p| p.endpoint.new_connections).sum(),
        dns_ms: summary(&h.dns),
        connect_ms: summary(&h.connect),
        tls_ms: summary(&h.tls),
        outliers: outliers(parts),
        first_ms: earliest.and_then(|e| e.first_ms),
        histogram: encoded(&latency),
        histograms: h,
        timeline_bucket_s,
        timeline,
    })
}

fn status(parts: &[Part<'_>]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for part in parts {
        for (code, n) in &part.endpoint.status {
            *out.entry(code.clone()).or_default() += n;
        }
    }
    out
}

fn error_kinds(parts: &[Part<'_>]) -> ErrorKinds {
    let mut k = ErrorKinds::default();
    for p in parts {
        let e = &p.endpoint.error_kinds;
        k.status += e.status;
        k.timeout += e.timeout;
        k.connect += e.connect;
        k.tls += e.tls;
        k.protocol += e.protocol;
        k.body += e.body;
        k.capture += e.capture;
    }
    k
}

fn outliers(parts: &[Part<'_>]) -> Vec<OutlierResult> {
    let mut all: Vec<OutlierResult> = parts
        .iter()
        .flat_map(|p| {
            p.endpoint.outliers.iter().map(move |o| OutlierResult {
                t_s: o.t_s + p.offset_s,
                ..o.clone()
            })
        })
        .collect();
    all.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
    all.truncate(OUTLIERS_KEPT);
    all
}

/// Buckets placed by their start on the merged clock, at the widest input width (doubled
/// while more than the bucket limit would be needed).
fn timeline(parts: &[Part<'_>]) -> (f64, Vec<TimelinePoint>) {
    let base = BASE_WIDTH_US as f64 / 1e6;
    let mut width = parts
        .iter()
        .map(|p| p.endpoint.timeline_bucket_s)
        .fold(base, f64::max);
    let last = parts
        .iter()
        .flat_map(|p| p.endpoint.timeline.iter().map(move |b| p.offset_s + b.t_s))
        .fold(0.0, f64::max);
    while last / width >= MAX_BUCKETS as f64 {
        width *= 2.0;
    }
    let mut out: Vec<TimelinePoint> = Vec::new();
    for p in parts {
        for b in &p.endpoint.timeline {
            let index = ((p.offset_s + b.t_s) / width + 1e-9).floor() as usize;
            if out.len() <= index {
                out.resize_with(index + 1, || empty_point(0.0));
            }
            out[index].absorb(b);
        }
    }
    for (i, point) in out.iter_mut().enumerate() {
        point.t_s = i as f64 * width;
    }
    (width, out)
}

fn empty_point(t_s: f64) -> TimelinePoint {
    TimelinePoint {
        t_s,
        requests: 0,
        errors: 0,
        min_ms: None,
        mean_ms: None,
        p99_ms: None,
        max_ms: None,
    }
}
