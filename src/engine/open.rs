//! Open-model schedules (`--rate`, `--every`): requests are due at clock times, whatever
//! earlier requests are doing. A dispatcher waits for each due time and hands the request to
//! an idle lane; when every lane is busy it starts another, up to the unit's limit; beyond
//! that the request waits for a lane and the wait shows in its latency, which is measured
//! from the due time (no coordinated omission).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::job::Job;
use super::lane::{Lane, ThreadContext, Ticket};
use super::timer::PreciseTimer;
use crate::plan::{Open, Share, Unit};

/// The due times of one unit's share of an endpoint's requests.
#[derive(Debug, Clone)]
pub(super) struct DueTimes {
    open: Open,
    burst: u64,
    share: Share,
    next: u64,
    limit: u64,
    until: Option<Duration>,
}

impl DueTimes {
    /// `iterations` requests (`--rate`) or bursts of `burst` requests (`--every`), none due
    /// at or after `until` (the run's duration): a run of R/s for D seconds sends R·D.
    pub fn new(
        open: Open,
        burst: u32,
        share: Share,
        iterations: u64,
        until: Option<Duration>,
    ) -> DueTimes {
        let burst = u64::from(burst.max(1));
        let limit = match open {
            Open::Rate { .. } => iterations,
            Open::Every { .. } => iterations.saturating_mul(burst),
        };
        DueTimes {
            open,
            burst,
            share,
            next: u64::from(share.index),
            limit,
            until,
        }
    }

    /// The next request of this share: its iteration and its due time from the run's start.
    #[cfg(test)]
    pub fn next(&mut self) -> Option<(u64, Duration)> {
        self.next_with_index()
            .map(|(_, iteration, due)| (iteration, due))
    }

    /// As [`DueTimes::next`], with the request's index in the endpoint's sequence first
    /// (its `{{seq}}`).
    pub fn next_with_index(&mut self) -> Option<(u64, u64, Duration)> {
        let index = self.next;
        if index >= self.limit {
            return None;
        }
        self.next = index.saturating_add(u64::from(self.share.of));
        let (iteration, due) = self.due(index)?;
        match self.until {
            Some(until) if due >= until => None,
            _ => Some((index, iteration, due)),
        }
    }

    /// The `{{seq}}` of request `index`: the index itself under `--rate` (shards take
    /// residues of one sequence); under `--every`, burst × concurrency + the lane slot, as in
    /// closed loops, so shards, which each start their bursts at index 0, never repeat one.
    pub fn seq(&self, index: u64, lanes: &[u32], concurrency: u64) -> u64 {
        match self.open {
            Open::Rate { .. } => index,
            Open::Every { .. } => {
                let slot = usize::try_from(index % self.burst).ok();
                match slot.and_then(|s| lanes.get(s)) {
                    Some(&lane) => (index / self.burst) * concurrency + u64::from(lane),
                    None => index,
                }
            }
        }
    }

    /// Whether the duration, not the iteration count, ends this schedule: some request
    /// would be due at or after it.
    pub fn ends_by_duration(&self) -> bool {
        let Some(until) = self.until else {
            return false;
        };
        match self.limit.checked_sub(1).and_then(|last| self.due(last)) {
            Some((_, last_due)) => last_due >= until,
            None => self.limit > 0,
        }
    }

    fn due(&self, index: u64) -> Option<(u64, Duration)> {
        match self.open {
            Open::Rate {
                per_second,
                ramp_up,
            } => Some((index, crate::plan::rate_offset(index, per_second, ramp_up))),
            Open::Every { period } => {
                let burst = index / self.burst;
                Some((burst, period.checked_mul(u32::try_from(burst).ok()?)?))
            }
        }
    }
}

/// A lane's mailbox: the dispatcher leaves a ticket and wakes it.
#[derive(Default)]
struct Slot {
    ticket: Cell<Option<Ticket>>,
    wake: Notify,
}

#[derive(Default)]
struct Pool {
    idle: RefCell<Vec<Rc<Slot>>>,
    freed: Notify,
    closed: Cell<bool>,
}

/// Runs one unit of an open schedule to the end of its due times (or a stop).
pub(super) async fn run_open(unit: Unit, job: Arc<Job>, ctx: Rc<ThreadContext>, mut due: DueTimes) {
    let mut lanes = Lanes::start(&unit, &job, &ctx);
    let mut timer = PreciseTimer::new().ok();
    while let Some((index, iteration, offset)) = due.next_with_index() {
        // Absurd rates put due times beyond what an Instant can hold: nothing more is due.
        let Some(intended) = ctx.t0.checked_add(offset) else {
            break;
        };
        wait_until(&mut timer, intended, &ctx).await;
        let Some(slot) = lanes.idle().await else {
            break;
        };
        slot.ticket.set(Some(Ticket {
            intended: Some(intended),
            iteration,
            seq: Some(due.seq(index, &unit.lanes, ctx.concurrency)),
        }));
        slot.wake.notify_one();
    }
    lanes.close().await;
}

/// The lanes of one unit: the ones it starts with, and more while every one is busy, up to
/// the unit's limit.
struct Lanes<'a> {
    unit: &'a Unit,
    job: &'a Arc<Job>,
    ctx: &'a Rc<ThreadContext>,
    pool: Rc<Pool>,
    tasks: JoinSet<()>,
    /// Every lane's mailbox, in the order the lanes started.
    slots: Vec<Rc<Slot>>,
}

impl<'a> Lanes<'a> {
    /// Starts the unit's own lanes, all idle.
    fn start(unit: &'a Unit, job: &'a Arc<Job>, ctx: &'a Rc<ThreadContext>) -> Lanes<'a> {
        let mut lanes = Lanes {
            unit,
            job,
            ctx,
            pool: Rc::new(Pool::default()),
            tasks: JoinSet::new(),
            slots: Vec::new(),
        };
        for _ in &unit.lanes {
            let slot = lanes.start_lane();
            lanes.pool.idle.borrow_mut().push(slot);
        }
        lanes
    }

    /// Starts one more lane and returns its mailbox.
    fn start_lane(&mut self) -> Rc<Slot> {
        let k = self.slots.len();
        let id = match self.unit.lanes.get(k) {
            Some(&lane) => lane,
            None => {
                let extra = (k - self.unit.lanes.len()) as u32;
                let base = self.ctx.concurrency as u32;
                base.saturating_add(self.unit.lane_ids.index)
                    .saturating_add(self.unit.lane_ids.of.saturating_mul(extra))
            }
        };
        let slot = Rc::new(Slot::default());
        let lane = Lane::new(id, Arc::clone(self.job), Rc::clone(self.ctx));
        let pool = Rc::clone(&self.pool);
        self.tasks
            .spawn_local(lane_loop(lane, Rc::clone(&slot), pool));
        self.slots.push(Rc::clone(&slot));
        slot
    }

    /// The mailbox of a lane free to send the next request: an idle one, else a new one if
    /// the unit may grow, else the first to finish. `None` once nothing may start.
    async fn idle(&mut self) -> Option<Rc<Slot>> {
        let ctx = self.ctx;
        loop {
            // Nothing starts after a stop or the end of the duration, even a request that
            // was due before it and is still waiting for a connection.
            if !ctx.may_start() {
                return None;
            }
            if let Some(slot) = self.pool.idle.borrow_mut().pop() {
                return Some(slot);
            }
            if (self.slots.len() as u32) < self.unit.max_lanes {
                return Some(self.start_lane());
            }
            // Every connection is busy and no more may open: the request waits, and the
            // wait counts in its latency.
            let deadline = async {
                match ctx.deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.pool.freed.notified() => {}
                _ = ctx.stop.notified() => {}
                _ = deadline => {}
            }
        }
    }

    /// Tells every lane that no more tickets come and waits for them to finish.
    async fn close(mut self) {
        self.pool.closed.set(true);
        for slot in &self.slots {
            slot.wake.notify_one();
        }
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn wait_until(timer: &mut Option<PreciseTimer>, at: Instant, ctx: &ThreadContext) {
    if ctx.stop.requested() || at <= Instant::now() {
        return;
    }
    let precise = match timer {
        Some(timer) => tokio::select! {
            slept = timer.sleep_until(at) => slept.is_ok(),
            _ = ctx.stop.notified() => true,
        },
        None => false,
    };
    if !precise {
        // No timerfd (or it failed): tokio's millisecond timer is late by up to ~1 ms,
        // which the schedule lag then shows honestly.
        *timer = None;
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = ctx.stop.notified() => {}
        }
    }
}

async fn lane_loop(mut lane: Lane, slot: Rc<Slot>, pool: Rc<Pool>) {
    loop {
        let ticket = loop {
            if let Some(ticket) = slot.ticket.take() {
                break Some(ticket);
            }
            if pool.closed.get() {
                break None;
            }
            slot.wake.notified().await;
        };
        // A ticket handed out just before a stop or the end of the duration is not sent.
        let Some(ticket) = ticket.filter(|_| lane.may_start()) else {
            return;
        };
        lane.fire(ticket).await;
        pool.idle.borrow_mut().push(Rc::clone(&slot));
        pool.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(mut due: DueTimes) -> Vec<(u64, Duration)> {
        std::iter::from_fn(|| due.next()).collect()
    }

    #[test]
    fn a_rate_spaces_requests_evenly_and_shares_split_by_residue() {
        let rate = Open::Rate {
            per_second: 4.0,
            ramp_up: Duration::ZERO,
        };
        let all = offsets(DueTimes::new(rate, 1, Share::ALL, 6, None));
        assert_eq!(
            all.iter().map(|(_, t)| t.as_millis()).collect::<Vec<_>>(),
            [0, 250, 500, 750, 1000, 1250]
        );
        let odd = offsets(DueTimes::new(rate, 1, Share { index: 1, of: 2 }, 6, None));
        assert_eq!(odd.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 3, 5]);
    }

    #[test]
    fn a_ramp_climbs_linearly_then_holds() {
        let rate = Open::Rate {
            per_second: 100.0,
            ramp_up: Duration::from_secs(2),
        };
        let times = offsets(DueTimes::new(rate, 1, Share::ALL, 400, None));
        // 100 requests are due during the 2 s ramp (the area under the ramp), then 100/s.
        assert!(times[99].1 < Duration::from_secs(2) && times[100].1 >= Duration::from_secs(2));
        assert!(
            times[25].1 > Duration::from_millis(999) && times[25].1 < Duration::from_millis(1_001)
        );
        let held = times[300].1 - times[200].1;
        assert_eq!(held.as_millis(), 1_000);
    }

    #[test]
    fn nothing_is_due_at_or_after_the_duration() {
        let rate = Open::Rate {
            per_second: 10.0,
            ramp_up: Duration::ZERO,
        };
        let due = DueTimes::new(rate, 1, Share::ALL, u64::MAX, Some(Duration::from_secs(2)));
        assert!(due.ends_by_duration());
        assert_eq!(offsets(due).len(), 20);
        let short = DueTimes::new(rate, 1, Share::ALL, 5, Some(Duration::from_secs(2)));
        assert!(!short.ends_by_duration());
    }

    #[test]
    fn every_dispatches_bursts_on_a_fixed_clock() {
        let every = Open::Every {
            period: Duration::from_secs(5),
        };
        let times = offsets(DueTimes::new(every, 3, Share::ALL, 3, None));
        let expected: Vec<(u64, Duration)> = (0..9)
            .map(|i| (i / 3, Duration::from_secs(5 * (i / 3))))
            .collect();
        assert_eq!(times, expected);
    }
}
