//! Drives a running engine from the main thread: signals, progress, checkpoints.

use std::sync::Arc;
use std::time::Duration;

use super::AppError;
use super::signals::{Signal, Signals};
use crate::client::RequestTemplate;
use crate::engine::{self, EngineControl, StopLevel};
use crate::export::{Destination, json};
use crate::plan::Plan;
use crate::progress::{Progress, Scope};
use crate::results::{Results, RunMeta, StopReason};
use crate::thresholds::{Threshold, evaluate};

pub(super) struct Settings<'a> {
    pub timeout: Duration,
    pub checkpoint: Duration,
    pub quiet: bool,
    pub destination: &'a Destination,
    pub thresholds: &'a [Threshold],
    pub fail_fast: bool,
    /// Reports rewritten at checkpoints (the HTML report).
    pub reports: &'a super::Reports,
}

pub(super) struct Ended {
    pub results: Results,
    /// The first stop signal, if one ended the run.
    pub signal: Option<Signal>,
}

/// Why the coordinator asked the engine to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal(Signal),
    Threshold,
}

/// How often `--fail-fast` looks at error counts, which can fail for good at any moment.
const FAIL_FAST_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn coordinate(
    plan: &Plan,
    templates: Vec<Arc<RequestTemplate>>,
    settings: &Settings<'_>,
) -> Result<Ended, AppError> {
    let mut signals = Signals::new()?;
    let (control, run) = engine::start(plan, templates)?;
    let mut progress = Progress::new(
        settings.quiet,
        Scope {
            total_requests: plan.total_requests(),
            duration: plan.spec.duration,
            names: plan.targets.iter().map(|t| t.name.clone()).collect(),
        },
    );
    let watch_thresholds = settings.fail_fast && !settings.thresholds.is_empty();
    let mut progress_tick = ticker(progress.interval());
    let mut checkpoint_tick = ticker(
        (settings.destination.takes_checkpoints() || watch_thresholds)
            .then_some(settings.checkpoint),
    );
    // Only an error count can fail for good between checkpoints; look every second only then.
    let watch_errors = watch_thresholds
        && settings
            .thresholds
            .iter()
            .any(|t| t.metric == crate::thresholds::Metric::Errors);
    let mut fail_fast_tick = ticker(watch_errors.then_some(FAIL_FAST_EVERY));
    let mut stop: Option<Stop> = None;
    let finish = run.finish();
    tokio::pin!(finish);
    let finished = loop {
        tokio::select! {
            // The end of the run first: a tick due at the same moment must not delay it.
            biased;
            finished = &mut finish => break finished,
            Some(_) = next_tick(&mut progress_tick) => {
                let stats = control.progress_snapshot().await;
                progress.update(&stats, control.t0.elapsed());
            }
            Some(_) = next_tick(&mut checkpoint_tick) => {
                let results = snapshot_results(plan, settings, &control).await;
                if settings.destination.takes_checkpoints() {
                    write_checkpoint(settings.destination, &results);
                }
                if let Err(e) = settings.reports.write_html(&results) {
                    crate::say!("api-cannon: checkpoint report failed: {e}");
                }
                // At a checkpoint any failed threshold stops a --fail-fast run.
                if watch_thresholds && stop.is_none() && results.thresholds.iter().any(|t| !t.passed) {
                    stop = Some(Stop::Threshold);
                    control.stop(StopLevel::Graceful);
                    announce(settings, &progress, "a threshold failed at a checkpoint (--fail-fast)");
                }
            }
            Some(_) = next_tick(&mut fail_fast_tick) => {
                let results = snapshot_results(plan, settings, &control).await;
                if stop.is_none() && failed_for_good(settings.thresholds, &results) {
                    stop = Some(Stop::Threshold);
                    control.stop(StopLevel::Graceful);
                    announce(settings, &progress, "an error-count threshold can no longer pass (--fail-fast)");
                }
            }
            received = signals.next() => {
                if matches!(stop, Some(Stop::Signal(_))) {
                    control.stop(StopLevel::Immediate);
                } else {
                    stop = Some(Stop::Signal(received));
                    control.stop(StopLevel::Graceful);
                    announce(settings, &progress, "stopping; waiting for requests in flight (again to abandon them)");
                }
            }
        }
    };
    progress.finish();
    if finished.lost_workers > 0 {
        crate::say!(
            "api-cannon: internal error: {} worker thread(s) died; their requests are missing from the figures",
            finished.lost_workers
        );
    }
    let reason = match (StopReason::from(finished.stopped_by), stop) {
        (StopReason::Signal, Some(Stop::Threshold)) => StopReason::Threshold,
        (reason, _) => reason,
    };
    let meta = meta(plan, settings, &control, finished.elapsed, Some(reason));
    let mut results = Results::build(&meta, &plan.targets, &finished.stats);
    results.thresholds = evaluate(&results, settings.thresholds);
    let signal = match (reason, stop) {
        (StopReason::Signal, Some(Stop::Signal(signal))) => Some(signal),
        _ => None,
    };
    Ok(Ended { results, signal })
}

fn announce(settings: &Settings<'_>, progress: &Progress, what: &str) {
    if !settings.quiet {
        progress.finish();
        crate::say!("api-cannon: {what}");
    }
}

fn failed_for_good(thresholds: &[Threshold], results: &Results) -> bool {
    thresholds.iter().any(|threshold| {
        evaluate(results, std::slice::from_ref(threshold))
            .iter()
            .any(|t| t.measured.is_some_and(|m| threshold.failed_for_good(m)))
    })
}

/// The results so far (a checkpoint), thresholds evaluated.
async fn snapshot_results(
    plan: &Plan,
    settings: &Settings<'_>,
    control: &EngineControl,
) -> Results {
    let stats = control.snapshot().await;
    let meta = meta(plan, settings, control, control.t0.elapsed(), None);
    let mut results = Results::build(&meta, &plan.targets, &stats);
    results.thresholds = evaluate(&results, settings.thresholds);
    results
}

fn meta<'a>(
    plan: &'a Plan,
    settings: &Settings<'_>,
    control: &EngineControl,
    elapsed: Duration,
    stopped_by: Option<StopReason>,
) -> RunMeta<'a> {
    RunMeta {
        spec: &plan.spec,
        timeout: settings.timeout,
        threads: plan.threads.len(),
        started_at: control.started_at,
        elapsed,
        stopped_by,
        schedule: plan.schedule,
    }
}

fn write_checkpoint(destination: &Destination, results: &Results) {
    if let Err(e) = destination.write(&json::render(results)) {
        // The run goes on: the final write may still succeed (disk freed, folder fixed).
        crate::say!("api-cannon: checkpoint failed: {e}");
    }
}

fn ticker(every: Option<Duration>) -> Option<tokio::time::Interval> {
    every.map(|period| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    })
}

async fn next_tick(interval: &mut Option<tokio::time::Interval>) -> Option<()> {
    match interval {
        Some(interval) => {
            interval.tick().await;
            Some(())
        }
        None => std::future::pending().await,
    }
}
