//! Running a prepared run: the engine started, watched at the caller's intervals, stopped on
//! request or by a failing gate, and its figures turned into [`Results`] once at the end.
//!
//! The caller watches through an [`Observer`]: progress and checkpoints arrive as snapshots
//! taken on the calling thread (never per request), and stop requests go the other way. It
//! knows nothing of terminals, files or signals; the command line's observer does.

use std::future::Future;
use std::time::Duration;

use crate::engine::{self, EngineControl, StopLevel};
use crate::outcome::StopReason;
use crate::prepare::Prepared;
use crate::record::Stats;
use crate::request_log::{Sink, Writer};
use crate::results::{RequestLogInfo, Results, RunMeta, evaluate};
use crate::thresholds::{Metric, Threshold};

/// Why a run is stopping before its end, as told to [`Observer::stopping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopping {
    /// The observer asked ([`Observer::stop_requested`]): the requests in flight (about
    /// `in_flight` when asked) may finish; a second request abandons them.
    Asked {
        /// Requests started and not finished when the stop was asked.
        in_flight: u64,
    },
    /// `fail_fast`: a threshold failed at a checkpoint.
    ThresholdFailed,
    /// `fail_fast`: an error-count threshold can no longer pass.
    ErrorsExceeded,
}

/// What a caller sees of a run while it goes. Every method is called on the thread that
/// called [`run`], between requests' bookkeeping, never from a worker; each has a default
/// that does nothing, so an observer implements only what it shows.
pub trait Observer {
    /// Called once inside the run's runtime, before any request is sent (where a caller
    /// registers signal handlers); an error ends the run with nothing sent.
    fn started(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// How often [`Observer::progress`] is called; `None`: never.
    fn progress_every(&self) -> Option<Duration> {
        None
    }

    /// Counts and latency so far (histograms other than latency are left empty), and the
    /// time since the run started.
    fn progress(&mut self, _stats: &Stats, _elapsed: Duration) {}

    /// Whether the run should take checkpoints (every `checkpoint_every`) for this observer.
    /// A `fail_fast` run takes them anyway, and shows them too.
    fn wants_checkpoints(&self) -> bool {
        false
    }

    /// The results so far at a checkpoint, thresholds evaluated, `run.stopped_by` null.
    fn checkpoint(&mut self, _results: &Results) {}

    /// How often [`Observer::live`] is called (for a metrics endpoint); `None`: never.
    fn live_every(&self) -> Option<Duration> {
        None
    }

    /// The results so far, taken like a checkpoint, with the requests in flight per
    /// endpoint (indexed like `results.endpoints`).
    fn live(&mut self, _results: &Results, _in_flight: &[u64]) {}

    /// Resolves when the caller wants the run to stop (a first request lets requests in
    /// flight finish, a second abandons them). Never resolves by default.
    fn stop_requested(&mut self) -> impl Future<Output = ()> {
        std::future::pending()
    }

    /// The run is stopping early, and why.
    fn stopping(&mut self, _why: Stopping) {}

    /// The run has ended; the final results follow.
    fn finished(&mut self) {}

    /// Something the user must know that is not in the results (an internal error).
    fn warning(&mut self, message: &str) {
        crate::say!("api-cannon: {message}");
    }
}

/// An observer that watches nothing: the run goes to its end.
#[derive(Debug, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}

/// How often `fail_fast` looks at error counts, which can fail for good at any moment.
const FAIL_FAST_EVERY: Duration = Duration::from_secs(1);

/// Fires `prepared` on its own worker threads and returns the results, thresholds
/// evaluated. Blocks the calling thread (it runs a small runtime of its own for the
/// observer's timers); call it from outside any async runtime.
pub fn run<O: Observer>(prepared: &Prepared, observer: &mut O) -> std::io::Result<Results> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(drive(prepared, observer))
}

/// What the run's driver keeps between ticks.
struct Watch<'a, O> {
    prepared: &'a Prepared,
    control: EngineControl,
    observer: &'a mut O,
    /// Why the driver asked the engine to stop, if it did.
    stopping: Option<Stopping>,
}

async fn drive<O: Observer>(prepared: &Prepared, observer: &mut O) -> std::io::Result<Results> {
    observer.started()?;
    let (sink, writer) = start_log(prepared)?;
    let (control, engine_run) =
        engine::start_logging(&prepared.plan, prepared.templates.clone(), sink)?;
    let gates = &prepared.thresholds;
    let fail_fast = prepared.fail_fast && !gates.is_empty();
    let mut progress_tick = ticker(observer.progress_every());
    let mut checkpoint_tick =
        ticker((observer.wants_checkpoints() || fail_fast).then_some(prepared.checkpoint_every));
    let mut errors_tick = ticker(watches_counts(fail_fast, gates).then_some(FAIL_FAST_EVERY));
    let mut live_tick = ticker(observer.live_every());
    let mut watch = Watch {
        prepared,
        control,
        observer,
        stopping: None,
    };
    let finish = engine_run.finish();
    tokio::pin!(finish);
    let finished = loop {
        tokio::select! {
            // The end of the run first: a tick due at the same moment must not delay it.
            biased;
            finished = &mut finish => break finished,
            Some(()) = next_tick(&mut progress_tick) => watch.progress().await,
            Some(()) = next_tick(&mut checkpoint_tick) => watch.checkpoint(fail_fast).await,
            Some(()) = next_tick(&mut errors_tick) => watch.errors_check().await,
            Some(()) = next_tick(&mut live_tick) => watch.live().await,
            () = watch.observer.stop_requested() => watch.stop_asked().await,
        }
    };
    watch.observer.finished();
    if finished.lost_workers > 0 {
        watch.observer.warning(&format!(
            "internal error: {} worker thread(s) died; their requests are missing from the figures",
            finished.lost_workers
        ));
    }
    // The engine calls any stop it was asked for a signal; the driver knows when it was a gate.
    let reason = match (finished.stopped_by, watch.stopping) {
        (StopReason::Signal, Some(Stopping::ThresholdFailed | Stopping::ErrorsExceeded)) => {
            StopReason::Threshold
        }
        (reason, _) => reason,
    };
    let mut results = watch.results(&finished.stats, finished.elapsed, Some(reason));
    finish_log(writer, &mut results, watch.observer);
    Ok(results)
}

/// Only a count that grows (errors, cold starts) can fail for good between checkpoints:
/// a `fail_fast` run with such a gate looks every second.
fn watches_counts(fail_fast: bool, gates: &[Threshold]) -> bool {
    fail_fast
        && gates
            .iter()
            .any(|t| matches!(t.metric, Metric::Errors | Metric::ColdStarts))
}

/// The request log's writer, when the run logs requests, and the lanes' end of it.
fn start_log(prepared: &Prepared) -> std::io::Result<(Option<Sink>, Option<Writer>)> {
    let Some(log) = &prepared.request_log else {
        return Ok((None, None));
    };
    let names = prepared.plan.targets.iter().map(|t| t.name.clone());
    let (sink, writer) = log.start(names.collect())?;
    Ok((Some(sink), Some(writer)))
}

/// Waits for the writer (every lane has ended, so every sink is gone: it drains and
/// flushes) and puts the lines it wrote in the results.
fn finish_log<O: Observer>(writer: Option<Writer>, results: &mut Results, observer: &mut O) {
    if let (Some(writer), Some(info)) = (writer, results.run.request_log.as_mut()) {
        match writer.finish() {
            Ok(lines) => info.lines = lines,
            Err(e) => {
                observer.warning(&format!("the request log {} is incomplete: {e}", info.path))
            }
        }
    }
}

impl<O: Observer> Watch<'_, O> {
    async fn progress(&mut self) {
        let stats = self.control.progress_snapshot().await;
        self.observer.progress(&stats, self.control.t0.elapsed());
    }

    async fn checkpoint(&mut self, fail_fast: bool) {
        let stats = self.control.snapshot().await;
        let results = self.results(&stats, self.control.t0.elapsed(), None);
        self.observer.checkpoint(&results);
        // At a checkpoint any failed threshold stops a fail-fast run.
        if fail_fast && results.thresholds.iter().any(|t| !t.passed) {
            self.stop_for(Stopping::ThresholdFailed);
        }
    }

    async fn live(&mut self) {
        let stats = self.control.snapshot().await;
        let in_flight: Vec<u64> = stats
            .endpoints
            .iter()
            .map(|e| e.started.saturating_sub(e.requests))
            .collect();
        let results = self.results(&stats, self.control.t0.elapsed(), None);
        self.observer.live(&results, &in_flight);
    }

    async fn errors_check(&mut self) {
        let stats = self.control.snapshot().await;
        let results = self.results(&stats, self.control.t0.elapsed(), None);
        if failed_for_good(&self.prepared.thresholds, &results) {
            self.stop_for(Stopping::ErrorsExceeded);
        }
    }

    /// A first request stops gracefully; any later one abandons requests in flight.
    async fn stop_asked(&mut self) {
        match self.stopping {
            Some(Stopping::Asked { .. }) => self.control.stop(StopLevel::Immediate),
            _ => {
                self.control.stop(StopLevel::Graceful);
                // After the stop: no new request starts, so the count only goes down.
                let in_flight = self.control.progress_snapshot().await.in_flight();
                let asked = Stopping::Asked { in_flight };
                self.stopping = Some(asked);
                self.observer.stopping(asked);
            }
        }
    }

    fn stop_for(&mut self, why: Stopping) {
        if self.stopping.is_none() {
            self.stopping = Some(why);
            self.control.stop(StopLevel::Graceful);
            self.observer.stopping(why);
        }
    }

    fn results(&self, stats: &Stats, elapsed: Duration, stopped_by: Option<StopReason>) -> Results {
        let plan = &self.prepared.plan;
        let meta = RunMeta {
            spec: &plan.spec,
            timeout: self.prepared.timeout,
            threads: plan.threads.len(),
            started_at: self.control.started_at,
            elapsed,
            stopped_by,
            schedule: plan.schedule,
        };
        let mut results = Results::build(&meta, &plan.targets, stats);
        results.run.request_log = self
            .prepared
            .request_log
            .as_ref()
            .map(|log| RequestLogInfo {
                path: log.path.display().to_string(),
                lines: stats.logged - stats.log_dropped,
                dropped: stats.log_dropped,
            });
        note_auth_trouble(&mut results, self.prepared);
        results.thresholds = evaluate(&results, &self.prepared.thresholds);
        results
    }
}

/// Renewals of a token or AWS credentials that failed are said under the endpoints that
/// use them (`error_details.auth`), even when no request failed for them because the last
/// value was still good: a user must learn of it before the last value runs out.
fn note_auth_trouble(results: &mut Results, prepared: &Prepared) {
    for (target, template) in prepared.plan.targets.iter().zip(&prepared.templates) {
        let Some(trouble) = template.auth_trouble() else {
            continue;
        };
        if let Some(e) = results.endpoints.iter_mut().find(|e| e.name == target.name) {
            e.error_details.entry("auth".to_owned()).or_insert(trouble);
        }
    }
}

fn failed_for_good(thresholds: &[Threshold], results: &Results) -> bool {
    thresholds.iter().any(|threshold| {
        evaluate(results, std::slice::from_ref(threshold))
            .iter()
            .any(|t| t.measured.is_some_and(|m| threshold.failed_for_good(m)))
    })
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
