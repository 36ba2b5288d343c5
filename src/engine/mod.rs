//! The engine: starts the worker threads, hands out snapshots, stops on iterations,
//! duration or request, and returns the merged figures.
//!
//! It knows nothing of JSON, terminals or signals: the caller decides when to snapshot and
//! when to stop, and turns [`Stats`] into results.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

use crate::client::RequestTemplate;
use crate::outcome::StopReason;
use crate::plan::{Plan, Schedule, Share};
use crate::record::Stats;
use crate::request_log::Sink;

mod job;
mod lane;
mod open;
mod timer;
mod worker;

/// How far a stop request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopLevel {
    /// Keep going.
    Running,
    /// Start no new request; let those in flight finish (each within its timeout).
    Graceful,
    /// Abandon requests in flight too; they are not counted.
    Immediate,
}

/// What the workers share, read-only.
struct Shared {
    t0: Instant,
    /// Indexed like the plan's targets; `None` for flow steps (run by their flow's job).
    jobs: Vec<Option<Arc<job::Job>>>,
    /// By endpoint: whether it records whole flows (for empty figures to start from).
    whole_flows: Arc<[bool]>,
    schedule: Schedule,
    iterations: u64,
    concurrency: u32,
    duration: Option<Duration>,
    fresh_connections: bool,
    /// Where finished requests are logged (`--log-requests`).
    log: Option<Sink>,
}

/// Controls a running engine: snapshots and stop requests. Cheap to share by reference.
pub struct EngineControl {
    stop: watch::Sender<StopLevel>,
    workers: Vec<WorkerLink>,
    whole_flows: Arc<[bool]>,
    /// Monotonic start of the run; every offset in the figures is measured from it.
    pub t0: Instant,
    /// Wall-clock start of the run, for the timestamps written out.
    pub started_at: SystemTime,
}

struct WorkerLink {
    snapshots: mpsc::UnboundedSender<worker::SnapshotRequest>,
    slot: worker::FinalSlot,
}

/// The running engine, to be awaited with [`EngineRun::finish`].
pub struct EngineRun {
    done: Vec<oneshot::Receiver<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    slots: Vec<worker::FinalSlot>,
    stop: watch::Sender<StopLevel>,
    deadline: Option<Instant>,
    /// An open schedule whose due times end at the duration: finishing them is the
    /// duration ending the run, even before the deadline timer fires.
    schedule_ends_by_duration: bool,
    whole_flows: Arc<[bool]>,
    t0: Instant,
}

/// The end of a run.
#[derive(Debug)]
pub struct Finished {
    /// Every thread's figures, merged.
    pub stats: Stats,
    /// Why it ended: iterations, duration or signal (the engine never stops for a threshold).
    pub stopped_by: StopReason,
    /// Time from start to the last worker stopping.
    pub elapsed: Duration,
    /// Worker threads that died without leaving their figures (an internal error): the
    /// figures then miss their requests, and the caller must say so.
    pub lost_workers: usize,
}

/// Starts the workers of `plan`; `templates` is indexed like `plan.targets`.
pub fn start(
    plan: &Plan,
    templates: Vec<Arc<RequestTemplate>>,
) -> std::io::Result<(EngineControl, EngineRun)> {
    start_logging(plan, templates, None)
}

/// [`start`], with every finished request also handed to `log` (`--log-requests`).
pub fn start_logging(
    plan: &Plan,
    templates: Vec<Arc<RequestTemplate>>,
    log: Option<Sink>,
) -> std::io::Result<(EngineControl, EngineRun)> {
    // Build every runtime before the first thread starts, so a failure sends nothing.
    let runtimes = plan
        .threads
        .iter()
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let whole_flows: Arc<[bool]> = plan.targets.iter().map(|t| t.is_whole_flow()).collect();
    let (stop, stop_rx) = watch::channel(StopLevel::Running);
    let t0 = Instant::now();
    let started_at = SystemTime::now();
    let shared = Arc::new(Shared {
        t0,
        jobs: job::Job::for_targets(&plan.targets, &templates),
        whole_flows: Arc::clone(&whole_flows),
        schedule: plan.schedule,
        iterations: plan.iterations,
        concurrency: plan.spec.concurrency,
        duration: plan.spec.duration,
        fresh_connections: plan.spec.fresh_connections,
        log,
    });
    let workers = spawn_workers(plan, runtimes, &shared, &stop_rx)?;
    let run = EngineRun {
        done: workers.done,
        threads: workers.threads,
        slots: workers.links.iter().map(|l| Arc::clone(&l.slot)).collect(),
        stop: stop.clone(),
        deadline: plan.spec.duration.map(|d| t0 + d),
        schedule_ends_by_duration: schedule_ends_by_duration(plan),
        whole_flows: Arc::clone(&whole_flows),
        t0,
    };
    let control = EngineControl {
        stop,
        workers: workers.links,
        whole_flows,
        t0,
        started_at,
    };
    Ok((control, run))
}

/// The started worker threads, and the ends of their channels the engine keeps.
struct Workers {
    links: Vec<WorkerLink>,
    done: Vec<oneshot::Receiver<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// One thread per entry of the plan, each on its own runtime.
fn spawn_workers(
    plan: &Plan,
    runtimes: Vec<tokio::runtime::Runtime>,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<StopLevel>,
) -> std::io::Result<Workers> {
    let mut workers = Workers {
        links: Vec::new(),
        done: Vec::new(),
        threads: Vec::new(),
    };
    for (index, (runtime, thread_plan)) in runtimes.into_iter().zip(&plan.threads).enumerate() {
        let (snapshot_tx, snapshots) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        let slot: worker::FinalSlot = Arc::new(Mutex::new(None));
        let channels = worker::Channels {
            stop: stop.clone(),
            snapshots,
            slot: Arc::clone(&slot),
            done: done_tx,
        };
        workers.threads.push(worker::spawn(
            index,
            runtime,
            thread_plan.clone(),
            Arc::clone(shared),
            channels,
        )?);
        workers.links.push(WorkerLink {
            snapshots: snapshot_tx,
            slot,
        });
        workers.done.push(done_rx);
    }
    Ok(workers)
}

/// Whether an open schedule's due times end at the duration (rather than at its iterations).
fn schedule_ends_by_duration(plan: &Plan) -> bool {
    match plan.schedule {
        Schedule::Open(open) => open::DueTimes::new(
            open,
            plan.spec.concurrency,
            Share::ALL,
            plan.iterations,
            plan.spec.duration,
        )
        .ends_by_duration(),
        _ => false,
    }
}

impl EngineControl {
    /// Asks the workers to stop; a second, stronger request overrides a first.
    pub fn stop(&self, level: StopLevel) {
        self.stop.send_if_modified(|current| {
            let stronger = matches!(
                (*current, level),
                (StopLevel::Running, _) | (StopLevel::Graceful, StopLevel::Immediate)
            );
            if stronger {
                *current = level;
            }
            stronger
        });
    }

    /// A merged copy of every worker's figures so far (for progress and checkpoints).
    pub async fn snapshot(&self) -> Stats {
        self.snapshot_of(false).await
    }

    /// Counts and latency only, cheap enough for a progress display several times a second.
    pub async fn progress_snapshot(&self) -> Stats {
        self.snapshot_of(true).await
    }

    async fn snapshot_of(&self, light: bool) -> Stats {
        let mut copies = Vec::with_capacity(self.workers.len());
        for link in &self.workers {
            let (reply, answer) = oneshot::channel();
            let live = match link
                .snapshots
                .send(worker::SnapshotRequest { reply, light })
            {
                Ok(()) => answer.await.ok(),
                Err(_) => None,
            };
            // A worker that has finished left its final figures in its slot (copied only
            // as far as the request needs: progress asks several times a second).
            let copy = live.or_else(|| {
                let slot = link.slot.lock().ok()?;
                let stats = slot.as_ref()?;
                Some(if light {
                    stats.light_copy()
                } else {
                    stats.clone()
                })
            });
            copies.extend(copy);
        }
        merge_all(copies, &self.whole_flows)
    }
}

/// Joins the worker threads and merges the figures they left: `(figures, threads that left
/// none)`.
fn final_figures(
    threads: Vec<std::thread::JoinHandle<()>>,
    slots: &[worker::FinalSlot],
    whole_flows: &[bool],
) -> (Stats, usize) {
    for thread in threads {
        let _ = thread.join();
    }
    let finals: Vec<Stats> = slots
        .iter()
        .filter_map(|slot| slot.lock().ok().and_then(|mut s| s.take()))
        .collect();
    let lost = slots.len() - finals.len();
    (merge_all(finals, whole_flows), lost)
}

/// Merges figures into the first set rather than into a fresh one: one copy fewer of every
/// histogram and timeline at each snapshot, which keeps peak memory flat on long runs.
fn merge_all(sets: Vec<Stats>, whole_flows: &[bool]) -> Stats {
    let mut sets = sets.into_iter();
    let mut merged = sets
        .next()
        .unwrap_or_else(|| Stats::with_kinds(whole_flows));
    for set in sets {
        merged.merge(&set);
    }
    merged
}

impl EngineRun {
    /// Waits for the run to end (iterations done, deadline passed, or stop requested) and
    /// returns the merged figures.
    pub async fn finish(self) -> Finished {
        let EngineRun {
            done,
            threads,
            slots,
            stop,
            deadline,
            schedule_ends_by_duration,
            whole_flows,
            t0,
        } = self;
        let all_done = futures_util::future::join_all(done);
        tokio::pin!(all_done);
        // (deadline reached, workers already done)
        let (deadline_hit, drained) = match deadline {
            // Lanes stop starting requests at the deadline themselves, so the workers may
            // finish a moment before this timer fires: that is still the duration's doing.
            Some(deadline) => tokio::select! {
                _ = &mut all_done => (Instant::now() >= deadline, true),
                _ = tokio::time::sleep_until(deadline.into()) => (true, false),
            },
            None => {
                (&mut all_done).await;
                (false, true)
            }
        };
        // A schedule whose last due time came before the deadline still runs for its
        // duration (as wrk and oha do): elapsed time and rps then describe what was asked.
        if let Some(deadline) = deadline.filter(|_| drained && schedule_ends_by_duration) {
            let mut stopped = stop.subscribe();
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = stopped.wait_for(|level| *level != StopLevel::Running) => {}
            }
        }
        // A stop already requested (by a signal) stays the reason, even if the deadline
        // then cuts the drain short.
        let signalled = *stop.borrow() != StopLevel::Running;
        if deadline_hit && !drained {
            stop.send_replace(StopLevel::Immediate);
            all_done.await;
        }
        let elapsed = t0.elapsed();
        let (stats, lost_workers) = final_figures(threads, &slots, &whole_flows);
        let stopped_by = match (signalled, deadline_hit || schedule_ends_by_duration) {
            (true, _) => StopReason::Signal,
            (false, true) => StopReason::Duration,
            (false, false) => StopReason::Iterations,
        };
        Finished {
            stats,
            stopped_by,
            elapsed,
            lost_workers,
        }
    }
}
