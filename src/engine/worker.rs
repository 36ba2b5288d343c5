//! A worker thread: a current-thread tokio runtime running its share of the lanes.

use std::rc::Rc;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinSet, LocalSet};

use super::lane::{Lane, ThreadContext, run_bursts, run_free};
use super::{Shared, StopLevel};
use crate::plan::{Schedule, ThreadPlan};
use crate::record::Stats;

/// A request for a copy of a worker's figures.
pub(super) type SnapshotRequest = oneshot::Sender<Stats>;

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
            LocalSet::new().block_on(&runtime, work(plan, shared, stop, snapshots, &slot));
            // Dropping the runtime here ends the connection tasks of this thread.
            drop(runtime);
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
        tls: shared.tls.clone(),
        fresh_connections: shared.fresh_connections,
        stats: Stats::new(shared.templates.len()).into(),
        stop: Default::default(),
    });
    let mut drivers = start_drivers(&plan, &shared, &ctx);
    let mut watching_stop = true;
    loop {
        tokio::select! {
            joined = drivers.join_next() => match joined {
                None => break,
                Some(Err(e)) if e.is_panic() => eprintln!("api-cannon: internal error in a lane: {e}"),
                Some(_) => {}
            },
            Some(reply) = snapshots.recv() => {
                let _ = reply.send(ctx.stats.borrow().clone());
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
    let stats = ctx.stats.replace(Stats::new(0));
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(stats);
    }
}

fn start_drivers(plan: &ThreadPlan, shared: &Shared, ctx: &Rc<ThreadContext>) -> JoinSet<()> {
    let mut drivers = JoinSet::new();
    for unit in &plan.units {
        let template = &shared.templates[unit.endpoint];
        let mut lanes = unit
            .lanes
            .iter()
            .map(|_| Lane::new(unit.endpoint, Arc::clone(template), Rc::clone(ctx)));
        match shared.schedule {
            Schedule::Burst { sleep } => {
                drivers.spawn_local(run_bursts(
                    lanes.collect(),
                    shared.iterations,
                    sleep,
                    Rc::clone(ctx),
                ));
            }
            Schedule::Free => {
                for lane in lanes.by_ref() {
                    drivers.spawn_local(run_free(lane, shared.iterations, Rc::clone(ctx)));
                }
            }
        }
    }
    drivers
}
