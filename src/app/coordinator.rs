//! Drives a running engine from the main thread: signals, progress, checkpoints.

use std::sync::Arc;
use std::time::Duration;

use super::AppError;
use super::signals::{Signal, Signals};
use crate::client::RequestTemplate;
use crate::engine::{self, EngineControl, StopLevel, StoppedBy};
use crate::export::{Destination, json};
use crate::plan::Plan;
use crate::progress::{Progress, Scope};
use crate::record::Stats;
use crate::results::{Results, RunMeta};

pub(super) struct Settings<'a> {
    pub timeout: Duration,
    pub checkpoint: Duration,
    pub quiet: bool,
    pub destination: &'a Destination,
}

pub(super) struct Ended {
    pub results: Results,
    /// The first stop signal, if one ended the run.
    pub signal: Option<Signal>,
}

pub(super) async fn coordinate(
    plan: &Plan,
    templates: Vec<Arc<RequestTemplate>>,
    tls: Option<Arc<rustls::ClientConfig>>,
    settings: &Settings<'_>,
) -> Result<Ended, AppError> {
    let mut signals = Signals::new()?;
    let (control, run) = engine::start(plan, templates, tls)?;
    let mut progress = Progress::new(
        settings.quiet,
        Scope {
            total_requests: plan.total_requests(),
            duration: plan.spec.duration,
            names: plan.targets.iter().map(|t| t.name.clone()).collect(),
        },
    );
    let mut progress_tick = ticker(progress.interval());
    let mut checkpoint_tick = ticker(
        settings
            .destination
            .takes_checkpoints()
            .then_some(settings.checkpoint),
    );
    let mut signal = None;
    let finish = run.finish();
    tokio::pin!(finish);
    let finished = loop {
        tokio::select! {
            finished = &mut finish => break finished,
            Some(_) = next_tick(&mut progress_tick) => {
                let stats = control.snapshot().await;
                progress.update(&stats, control.t0.elapsed());
            }
            Some(_) = next_tick(&mut checkpoint_tick) => {
                let stats = control.snapshot().await;
                write_checkpoint(plan, settings, &control, &stats);
            }
            received = signals.next() => {
                if signal.is_none() {
                    signal = Some(received);
                    control.stop(StopLevel::Graceful);
                    if !settings.quiet {
                        progress.finish();
                        crate::say!("api-cannon: stopping; waiting for requests in flight (again to abandon them)");
                    }
                } else {
                    control.stop(StopLevel::Immediate);
                }
            }
        }
    };
    progress.finish();
    let meta = meta(
        plan,
        settings,
        &control,
        finished.elapsed,
        Some(finished.stopped_by),
    );
    let results = Results::build(&meta, &plan.targets, &finished.stats);
    let signal = signal.filter(|_| finished.stopped_by == StoppedBy::Signal);
    Ok(Ended { results, signal })
}

fn meta<'a>(
    plan: &'a Plan,
    settings: &Settings<'_>,
    control: &EngineControl,
    elapsed: Duration,
    stopped_by: Option<StoppedBy>,
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

fn write_checkpoint(plan: &Plan, settings: &Settings<'_>, control: &EngineControl, stats: &Stats) {
    let meta = meta(plan, settings, control, control.t0.elapsed(), None);
    let results = Results::build(&meta, &plan.targets, stats);
    if let Err(e) = settings.destination.write(&json::render(&results)) {
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
