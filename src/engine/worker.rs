//! A worker thread: a current-thread tokio runtime running its share of the lanes.

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinSet, LocalSet};

use super::lane::{Lane, ThreadContext, run_bursts, run_free};
use super::open::{DueTimes, run_open};
use super::{Shared, StopLevel};
use crate::plan::{Schedule, ThreadPlan};
use crate::record::Stats;

/// A request for a copy of a worker's figures.
pub(super) struct SnapshotRequest {
    pub reply: oneshot::Sender<Stats>,
    /// Only what progress shows (counts and latency), not every histogram and the
    /// timeline: a full copy four times a second would stall lanes and show as lag.
    pub light: bool,
}

/// Where a worker leaves its final figures: filled before it stops answering snapshot
/// requests, so a snapshot never misses a thread that finished early.
pub(super) type FinalSlot = Arc<Mutex<Option<Stats>>>;

pub(super) struct Channels {
    pub stop: watch::Receiver<StopLevel>,
    pub snapshots: mpsc::UnboundedReceiver<SnapshotRequest>,
    pub slot: FinalSlot,
    pub done: oneshot::Sender<()>,
}

pub(super) fn spawn(
    index: usize,
    runtime: tokio::runtime::Runtime,
    plan: ThreadPlan,
    shared: Arc<Shared>,
    channels: Channels,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("api-cannon-worker-{index}"))
        .spawn(move || {
            let Channels {
                stop,
                snapshots,
                slot,
                done,
            } = channels;
            super::timer::tighten_timer_slack();
            LocalSet::new().block_on(&runtime, work(plan, shared, stop, snapshots, &slot));
            // Ends the connection tasks of this thread without waiting for blocking ones: a
            // name lookup stuck in getaddrinfo must not hold the end of the run (or a
            // second Ctrl-C). The figures are in the slot already.
            runtime.shutdown_background();
            let _ = done.send(());
        })
}

async fn work(
    plan: ThreadPlan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<StopLevel>,
    mut snapshots: mpsc::UnboundedReceiver<SnapshotRequest>,
    slot: &FinalSlot,
) {
    let ctx = Rc::new(ThreadContext {
        t0: shared.t0,
        fresh_connections: shared.fresh_connections,
        stats: Stats::with_kinds(&shared.whole_flows).into(),
        stop: Default::default(),
        in_flight: Default::default(),
        deadline: shared.duration.and_then(|d| shared.t0.checked_add(d)),
        concurrency: u64::from(shared.concurrency),
        log: shared.log.as_ref().map(|sink| sink.batcher().into()),
    });
    let mut drivers = start_drivers(&plan, &shared, &ctx);
    let mut watching_stop = true;
    let mut hand_over = tokio::time::interval(crate::request_log::HAND_OVER_EVERY);
    loop {
        tokio::select! {
            _ = hand_over.tick(), if ctx.log.is_some() => ctx.hand_over_log(),
            joined = drivers.join_next() => match joined {
                None => break,
                Some(Err(e)) if e.is_panic() => crate::say!("api-cannon: internal error in a lane: {e}"),
                Some(_) => {}
            },
            Some(request) = snapshots.recv() => {
                let stats = ctx.stats.borrow();
                let mut copy = if request.light { stats.light_copy() } else { stats.clone() };
                drop(stats);
                copy.cpu_time = thread_cpu_time();
                let _ = request.reply.send(copy);
            }
            changed = stop.changed(), if watching_stop => match changed.map(|()| *stop.borrow_and_update()) {
                Ok(StopLevel::Graceful) => ctx.stop.request(),
                Ok(StopLevel::Immediate) => break,
                Ok(StopLevel::Running) => {}
                Err(_) => watching_stop = false,
            },
        }
    }
    drivers.abort_all();
    ctx.hand_over_log();
    let mut stats = ctx.stats.replace(Stats::new(0));
    stats.cpu_time = thread_cpu_time();
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(stats);
    }
}

fn start_drivers(plan: &ThreadPlan, shared: &Shared, ctx: &Rc<ThreadContext>) -> JoinSet<()> {
    let mut drivers = JoinSet::new();
    for unit in &plan.units {
        // Units exist for scheduled targets only, each of which has a job.
        let Some(Some(job)) = shared.jobs.get(unit.endpoint) else {
            continue;
        };
        let lane = |index: u32| Lane::new(index, Arc::clone(job), Rc::clone(ctx));
        match shared.schedule {
            Schedule::Burst { sleep } => {
                let lanes = unit.lanes.iter().map(|&i| lane(i)).collect();
                drivers.spawn_local(run_bursts(lanes, shared.iterations, sleep, Rc::clone(ctx)));
            }
            Schedule::Free => {
                for &index in &unit.lanes {
                    drivers.spawn_local(run_free(lane(index), shared.iterations, Rc::clone(ctx)));
                }
            }
            Schedule::Open(open) => {
                let due = DueTimes::new(
                    open,
                    unit.lanes.len() as u32,
                    unit.share,
                    shared.iterations,
                    shared.duration,
                );
                drivers.spawn_local(run_open(unit.clone(), Arc::clone(job), Rc::clone(ctx), due));
            }
        }
    }
    drivers
}

/// CPU time (user + system) of the calling thread so far; zero if the kernel will not say.
fn thread_cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    getrusage(UsageWho::RUSAGE_THREAD).map_or(Duration::ZERO, |usage| {
        let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    })
}
