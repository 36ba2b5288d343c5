//! The metrics of a snapshot, written by `prometheus-client` as a collector: counters and
//! gauges set from the snapshot's figures, histograms from its HdrHistograms re-bucketed.

use std::fmt::Write as _;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{BUCKETS_S, Snapshot};
use crate::outcome::ErrorKind;
use crate::results::{EndpointResult, decode_histogram};

/// The snapshot as a collector (a scrape's registry holds one).
#[derive(Debug)]
struct Collected(Option<Snapshot>);

type Labels = Vec<(&'static str, String)>;

/// The OpenMetrics text of `snapshot` (the metrics' descriptors alone when there is none).
pub(super) fn openmetrics(snapshot: Option<&Snapshot>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Collected(snapshot.cloned())));
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// OpenMetrics text as the Prometheus text format (0.0.4), which knows neither `info`
/// nor a counter typed without its `_total`: counters and infos are typed under the name
/// their samples carry (an info as a gauge of 1), and `# UNIT` and `# EOF` go.
pub(super) fn prometheus_text(openmetrics: &str) -> String {
    let mut renamed: Vec<(String, &str, &str)> = Vec::new();
    for line in openmetrics.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        if let Some(name) = rest.strip_suffix(" counter") {
            renamed.push((name.to_owned(), "_total", "counter"));
        } else if let Some(name) = rest.strip_suffix(" info") {
            renamed.push((name.to_owned(), "_info", "gauge"));
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = renamed.iter().find_map(|(name, suffix, kind)| {
            if line
                == format!(
                    "# TYPE {name} {}",
                    if *kind == "gauge" { "info" } else { kind }
                )
            {
                return Some(format!("# TYPE {name}{suffix} {kind}"));
            }
            let help = line.strip_prefix("# HELP ")?.strip_prefix(name.as_str())?;
            help.starts_with(' ')
                .then(|| format!("# HELP {name}{suffix}{help}"))
        });
        let _ = writeln!(out, "{}", described.as_deref().unwrap_or(line));
    }
    out
}

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(snapshot) = &self.0 else {
            return Ok(());
        };
        let requests: Vec<(usize, &EndpointResult)> = snapshot
            .results
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_whole_flow())
            .collect();
        counters(&mut encoder, &requests)?;
        histograms(&mut encoder, &requests)?;
        gauges(&mut encoder, snapshot, &requests)
    }
}

fn endpoint(e: &EndpointResult) -> Labels {
    vec![("endpoint", e.name.clone())]
}

/// Requests by outcome and kind, responses by status, cold starts.
fn counters(
    encoder: &mut DescriptorEncoder,
    requests: &[(usize, &EndpointResult)],
) -> Result<(), std::fmt::Error> {
    let help = "Requests finished, by outcome (ok, error) and error kind";
    let mut metric =
        encoder.encode_descriptor("api_cannon_requests", help, None, MetricType::Counter)?;
    for (_, e) in requests {
        let mut ok = endpoint(e);
        ok.extend([("outcome", "ok".to_owned()), ("kind", String::new())]);
        counter(&mut metric, &ok, e.ok)?;
        for kind in ErrorKind::ALL {
            let mut labels = endpoint(e);
            labels.extend([
                ("outcome", "error".to_owned()),
                ("kind", kind.as_str().to_owned()),
            ]);
            counter(&mut metric, &labels, e.error_kinds.get(kind))?;
        }
    }
    let help = "Complete responses, by HTTP status";
    let mut metric =
        encoder.encode_descriptor("api_cannon_responses", help, None, MetricType::Counter)?;
    for (_, e) in requests {
        for (status, n) in &e.status {
            let mut labels = endpoint(e);
            labels.push(("status", status.clone()));
            counter(&mut metric, &labels, *n)?;
        }
    }
    let help = "Cold starts, declared by the server or seen as latency spikes";
    let mut metric =
        encoder.encode_descriptor("api_cannon_cold_starts", help, None, MetricType::Counter)?;
    for (_, e) in requests {
        if let Some(cold) = &e.cold_starts {
            counter(&mut metric, &endpoint(e), cold.count)?;
        }
    }
    Ok(())
}

fn counter(
    metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &Labels,
    value: u64,
) -> Result<(), std::fmt::Error> {
    metric
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// Request and server durations, re-bucketed from the HdrHistograms.
fn histograms(
    encoder: &mut DescriptorEncoder,
    requests: &[(usize, &EndpointResult)],
) -> Result<(), std::fmt::Error> {
    let help = "Latency of complete responses (any status), connection set-up included";
    let mut metric = encoder.encode_descriptor(
        "api_cannon_request_duration_seconds",
        help,
        None,
        MetricType::Histogram,
    )?;
    for (_, e) in requests {
        let sum_s = e.latency_ms.mean.unwrap_or(0.0) / 1e3;
        histogram(&mut metric, &endpoint(e), &e.histogram, sum_s)?;
    }
    let help = "The server's own time, as its responses reported it";
    let mut metric = encoder.encode_descriptor(
        "api_cannon_server_duration_seconds",
        help,
        None,
        MetricType::Histogram,
    )?;
    for (_, e) in requests {
        if let Some(server) = e
            .server_ms
            .as_ref()
            .filter(|_| !e.histograms.server.is_empty())
        {
            let sum_s = server.mean.unwrap_or(0.0) / 1e3;
            histogram(&mut metric, &endpoint(e), &e.histograms.server, sum_s)?;
        }
    }
    Ok(())
}

/// One histogram: the encoded HdrHistogram counted into [`BUCKETS_S`]; `mean_s` times
/// the count is its `_sum`.
fn histogram(
    metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &Labels,
    encoded: &str,
    mean_s: f64,
) -> Result<(), std::fmt::Error> {
    let Ok(h) = decode_histogram(encoded) else {
        return Ok(());
    };
    let mut buckets: Vec<(f64, u64)> = BUCKETS_S.iter().map(|b| (*b, 0)).collect();
    buckets.push((f64::MAX, 0));
    for v in h.iter_recorded() {
        // A value counts in the first bucket whose bound it does not pass (µs → s).
        let value_s = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
        let at = BUCKETS_S
            .iter()
            .position(|b| value_s <= *b)
            .unwrap_or(BUCKETS_S.len());
        buckets[at].1 += v.count_at_value();
    }
    let count = h.len();
    metric
        .encode_family(labels)?
        .encode_histogram::<NoLabelSet>(mean_s * count as f64, count, &buckets, None)
}

/// In flight, schedule lag, saturation, completion, and the run's description.
fn gauges(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
    requests: &[(usize, &EndpointResult)],
) -> Result<(), std::fmt::Error> {
    let help = "Requests sent and not yet answered";
    let mut metric =
        encoder.encode_descriptor("api_cannon_in_flight", help, None, MetricType::Gauge)?;
    for (i, e) in requests {
        let n = snapshot.in_flight.get(*i).copied().unwrap_or(0);
        metric
            .encode_family(&endpoint(e))?
            .encode_gauge(&(i64::try_from(n).unwrap_or(i64::MAX)))?;
    }
    let run = &snapshot.results.run;
    let lag_s = run.health.schedule_lag_ms.p99.unwrap_or(0.0) / 1e3;
    let plain: [(&str, &str, f64); 3] = [
        (
            "api_cannon_schedule_lag_seconds",
            "p99 of how late requests were sent behind an open schedule, since the start",
            lag_s,
        ),
        (
            "api_cannon_generator_saturated",
            "1 when the generator, not the server, limited the run (run.health)",
            f64::from(u8::from(run.health.saturated)),
        ),
        (
            "api_cannon_run_complete",
            "1 once the run has ended as asked (its iterations or duration)",
            f64::from(u8::from(run.complete)),
        ),
    ];
    for (name, help, value) in plain {
        encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?
            .encode_gauge(&value)?;
    }
    let labels: Labels = vec![
        ("version", snapshot.results.tool.version.clone()),
        ("schedule", run.schedule.kind.clone()),
    ];
    encoder
        .encode_descriptor("api_cannon_run", "What this run is", None, MetricType::Info)?
        .encode_info(&labels)
}
