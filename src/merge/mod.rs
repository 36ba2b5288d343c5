//! `merge`: many results files (shards, or runs from several machines) into one, losslessly.
//!
//! Histograms are decoded and added (exact: that is why every summary's histogram is
//! stored), counts and maps summed, the run spans the earliest start to the latest end, rps
//! is recomputed over that span, and the thresholds the inputs carried are evaluated again
//! on the merged figures. Timelines are aligned on wall-clock time; a bucket's p99 cannot be
//! merged exactly and becomes the largest of the inputs' (an upper bound).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use crate::record::new_coarse_histogram;
use crate::results::{
    EndpointFigures, EndpointResult, Health, LatencySummary, Results, RunInfo, SCHEMA_VERSION,
    TotalsSum, evaluate,
};
use crate::thresholds::Threshold;

/// A results file to merge, with the name messages use for it.
#[derive(Debug, Clone)]
pub struct Input {
    /// Usually the file's path.
    pub label: String,
    /// Its contents.
    pub results: Results,
}

/// Why files cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("merge needs at least one results file")]
    NoInputs,
    /// A file's endpoints differ from the first file's (without `--union`).
    #[error(
        "{label}: its endpoints differ from {first}'s ({detail}); merge runs of the same targets, or pass --union to keep every endpoint"
    )]
    Endpoints {
        /// The file.
        label: String,
        /// The first file.
        first: String,
        /// What differs.
        detail: String,
    },
    /// A value the merge needs is unreadable.
    #[error("{label}: {problem}")]
    Unreadable {
        /// The file.
        label: String,
        /// What is wrong.
        problem: String,
    },
}

/// The merged results and anything the user should know about the set.
#[derive(Debug)]
pub struct Merged {
    /// One schema-v1 results file.
    pub results: Results,
    /// e.g. a shard missing from the set.
    pub warnings: Vec<String>,
}

/// Merges `inputs`; `union` keeps endpoints that only some inputs have; `extra` thresholds
/// are evaluated besides the ones the inputs carried.
pub fn merge(inputs: &[Input], union: bool, extra: &[Threshold]) -> Result<Merged, MergeError> {
    let first = inputs.first().ok_or(MergeError::NoInputs)?;
    if !union {
        check_same_endpoints(inputs)?;
    }
    let starts = inputs
        .iter()
        .map(|i| parse_time(&i.label, &i.results.run.started_at))
        .collect::<Result<Vec<_>, _>>()?;
    // Each end is its start plus its own elapsed_s: finished_at keeps only milliseconds.
    let ends = inputs
        .iter()
        .zip(&starts)
        .map(|(i, start)| end_of(&i.label, *start, i.results.run.elapsed_s))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let start = starts
        .iter()
        .min()
        .copied()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let end = ends.max().unwrap_or(start);
    let elapsed_s = end.duration_since(start).unwrap_or_default().as_secs_f64();
    let offsets: Vec<f64> = starts
        .iter()
        .map(|s| s.duration_since(start).unwrap_or_default().as_secs_f64())
        .collect();

    // One endpoint at a time: its figures (a dozen histograms) are built, added to the
    // totals and dropped, so a file of 20,000 endpoints merges in the memory of one.
    let index: Vec<HashMap<Key<'_>, &EndpointResult>> = inputs.iter().map(by_key).collect();
    let mut totals = TotalsSum::default();
    let mut lag = new_coarse_histogram();
    let mut endpoints = Vec::new();
    for key in endpoint_keys(inputs) {
        let f = endpoint_figures(inputs, &index, &offsets, key)?;
        totals.add(&f);
        if !f.is_whole_flow() {
            f.add_schedule_lag_to(&mut lag);
        }
        endpoints.push(EndpointResult::build(&f, elapsed_s));
    }
    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        tool: first.results.tool.clone(),
        run: run_info(inputs, start, end, elapsed_s),
        totals: totals.finish(elapsed_s),
        endpoints,
        thresholds: Vec::new(),
        shard: None,
    };
    results.run.health = health(inputs, &results, &lag);
    results.thresholds = evaluate(&results, &thresholds(inputs, extra));
    Ok(Merged {
        results,
        warnings: shard_warnings(inputs),
    })
}

type Key<'a> = (&'a str, &'a str);

/// One endpoint's figures added up over every input that has it, each placed on the merged
/// clock by its run's start.
fn endpoint_figures<'a>(
    inputs: &'a [Input],
    index: &[HashMap<Key<'_>, &'a EndpointResult>],
    offsets: &[f64],
    key: Key<'_>,
) -> Result<EndpointFigures<'a>, MergeError> {
    let mut sum: Option<EndpointFigures<'a>> = None;
    for ((input, &offset_s), endpoints) in inputs.iter().zip(offsets).zip(index) {
        let Some(&e) = endpoints.get(&key) else {
            continue;
        };
        let part = EndpointFigures::from_result(e, offset_s).map_err(|problem| {
            MergeError::Unreadable {
                label: input.label.clone(),
                problem,
            }
        })?;
        match &mut sum {
            // Counts that no longer fit are refused, not wrapped or clamped.
            Some(sum) if sum.requests().checked_add(part.requests()).is_none() => {
                return Err(MergeError::Unreadable {
                    label: input.label.clone(),
                    problem: format!(
                        "endpoint `{}`: its requests do not fit in a count added to the others'",
                        e.name
                    ),
                });
            }
            Some(sum) => sum.add(part),
            None => sum = Some(part),
        }
    }
    // Every key comes from some input's endpoints.
    sum.ok_or(MergeError::NoInputs)
}

/// An input's endpoints by key (the first of a key, should a file repeat one).
fn by_key(input: &Input) -> HashMap<Key<'_>, &EndpointResult> {
    let mut index = HashMap::new();
    for e in &input.results.endpoints {
        index.entry((e.name.as_str(), e.url.as_str())).or_insert(e);
    }
    index
}

/// Every endpoint key of the inputs, in the order they first appear.
fn endpoint_keys(inputs: &[Input]) -> Vec<Key<'_>> {
    let mut seen = HashSet::new();
    let mut keys: Vec<Key<'_>> = Vec::new();
    for input in inputs {
        for e in &input.results.endpoints {
            let key = (e.name.as_str(), e.url.as_str());
            if seen.insert(key) {
                keys.push(key);
            }
        }
    }
    keys
}

fn check_same_endpoints(inputs: &[Input]) -> Result<(), MergeError> {
    let keys = |r: &Results| -> BTreeSet<(String, String)> {
        r.endpoints
            .iter()
            .map(|e| (e.name.clone(), e.url.clone()))
            .collect()
    };
    let first = &inputs[0];
    let expected = keys(&first.results);
    for input in &inputs[1..] {
        let found = keys(&input.results);
        if found != expected {
            let missing: Vec<String> = expected
                .difference(&found)
                .map(|(n, u)| format!("{n} ({u})"))
                .collect();
            let extra: Vec<String> = found
                .difference(&expected)
                .map(|(n, u)| format!("{n} ({u})"))
                .collect();
            let detail = match (missing.is_empty(), extra.is_empty()) {
                (false, true) => format!("missing {}", missing.join(", ")),
                (true, false) => format!("extra {}", extra.join(", ")),
                _ => format!("missing {}; extra {}", missing.join(", "), extra.join(", ")),
            };
            return Err(MergeError::Endpoints {
                label: input.label.clone(),
                first: first.label.clone(),
                detail,
            });
        }
    }
    Ok(())
}

/// The latest moment an RFC 3339 timestamp can write (9999-12-31T23:59:59Z).
const LAST_WRITABLE_S: u64 = 253_402_300_799;

/// A run's end: its start plus `elapsed_s`, which must be a duration that ends before the
/// year 10000 (the merged file writes it; a later one cannot be written).
fn end_of(label: &str, start: SystemTime, elapsed_s: f64) -> Result<SystemTime, MergeError> {
    let problem = || MergeError::Unreadable {
        label: label.to_owned(),
        problem: format!(
            "run.elapsed_s {elapsed_s} is not a number of seconds that ends before the year 10000"
        ),
    };
    let elapsed = Duration::try_from_secs_f64(elapsed_s).map_err(|_| problem())?;
    let end = start.checked_add(elapsed).ok_or_else(problem)?;
    let last = SystemTime::UNIX_EPOCH + Duration::from_secs(LAST_WRITABLE_S);
    match end <= last {
        true => Ok(end),
        false => Err(problem()),
    }
}

fn parse_time(label: &str, text: &str) -> Result<SystemTime, MergeError> {
    humantime::parse_rfc3339(text).map_err(|e| MergeError::Unreadable {
        label: label.to_owned(),
        problem: format!("timestamp `{text}`: {e}"),
    })
}

fn run_info(inputs: &[Input], start: SystemTime, end: SystemTime, elapsed_s: f64) -> RunInfo {
    let runs: Vec<&RunInfo> = inputs.iter().map(|i| &i.results.run).collect();
    let mut run = runs[0].clone();
    run.started_at = humantime::format_rfc3339_millis(start).to_string();
    run.finished_at = humantime::format_rfc3339_millis(end).to_string();
    run.elapsed_s = elapsed_s;
    run.complete = runs.iter().all(|r| r.complete);
    // The weakest ending wins: a checkpoint, then a signal, a threshold, the duration.
    run.stopped_by = if runs.iter().any(|r| r.stopped_by.is_none()) {
        None
    } else {
        ["signal", "threshold", "duration", "iterations"]
            .into_iter()
            .find(|reason| {
                runs.iter()
                    .any(|r| r.stopped_by.as_deref() == Some(*reason))
            })
            .map(str::to_owned)
    };
    run.threads = runs.iter().map(|r| r.threads).sum();
    run.insecure = runs.iter().any(|r| r.insecure);
    // Each run's request log stays with it: a merged file has none of its own.
    run.request_log = None;
    // Shards of one run each record the whole run's settings, so those stay as they are;
    // separate runs (several machines) add their lanes, rates and connection limits up.
    if inputs.iter().any(|i| i.results.shard.is_none()) {
        run.concurrency = runs.iter().map(|r| r.concurrency).sum();
        if runs.iter().all(|r| r.schedule.rate_per_s.is_some()) {
            run.schedule.rate_per_s = Some(runs.iter().filter_map(|r| r.schedule.rate_per_s).sum());
        }
        if runs.iter().all(|r| r.schedule.max_connections.is_some()) {
            run.schedule.max_connections =
                Some(runs.iter().filter_map(|r| r.schedule.max_connections).sum());
        }
    }
    run
}

fn health(inputs: &[Input], r: &Results, lag: &hdrhistogram::Histogram<u64>) -> Health {
    let healths: Vec<&Health> = inputs.iter().map(|i| &i.results.run.health).collect();
    let cpu_s: f64 = healths.iter().map(|h| h.cpu_s).sum();
    let capacity = r.run.elapsed_s * r.run.threads.max(1) as f64;
    let mut reasons: Vec<String> = Vec::new();
    for (input, h) in inputs.iter().zip(&healths) {
        reasons.extend(
            h.reasons
                .iter()
                .map(|reason| format!("{}: {reason}", input.label)),
        );
    }
    Health {
        cpu_s,
        cpu_use: if capacity > 0.0 {
            cpu_s / capacity
        } else {
            0.0
        },
        max_in_flight: healths.iter().map(|h| h.max_in_flight).sum(),
        late_requests: healths.iter().map(|h| h.late_requests).sum(),
        schedule_lag_ms: LatencySummary::of(lag, None),
        saturated: healths.iter().any(|h| h.saturated),
        reasons,
    }
}

/// The inputs' thresholds (once each) and the extra ones.
fn thresholds(inputs: &[Input], extra: &[Threshold]) -> Vec<Threshold> {
    let mut out: Vec<Threshold> = Vec::new();
    let carried = inputs
        .iter()
        .flat_map(|i| i.results.thresholds.iter().map(|t| &t.threshold));
    for threshold in carried.chain(extra) {
        if !out.contains(threshold) {
            out.push(threshold.clone());
        }
    }
    out
}

fn shard_warnings(inputs: &[Input]) -> Vec<String> {
    let shards: Vec<_> = inputs
        .iter()
        .filter_map(|i| i.results.shard.map(|s| (i, s)))
        .collect();
    if shards.is_empty() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if shards.len() != inputs.len() {
        warnings.push("some files are shards and some are not: check the set".to_owned());
    }
    let counts: BTreeSet<u32> = shards.iter().map(|(_, s)| s.count).collect();
    if counts.len() > 1 {
        warnings.push(format!(
            "the shards come from runs of different sizes: {counts:?}"
        ));
    }
    // A file can claim any count: list missing shards only for a plausible one.
    let count = counts.iter().max().copied().unwrap_or(0).min(10_000);
    let present: BTreeSet<u32> = shards.iter().map(|(_, s)| s.index).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        warnings.push(format!(
            "incomplete shard set: missing {}; the merged figures cover only the shards given",
            missing.join(", ")
        ));
    }
    if present.len() < shards.len() {
        warnings.push("a shard appears more than once: its requests are counted twice".to_owned());
    }
    warnings
}
