//! The plan: how a run's lanes are laid out over worker threads, decided before any request.

use std::time::Duration;

use crate::targets::Target;

/// What the user asked for, independent of the targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Iterations per endpoint; `None` means "until `duration`" (or 1 if that is unset too).
    pub iterations: Option<u64>,
    /// Lanes (connections) per endpoint, at least 1.
    pub concurrency: u32,
    /// Pause after every iteration of an endpoint; zero lets lanes run free.
    pub sleep: Duration,
    /// Stop after this long, even if iterations remain.
    pub duration: Option<Duration>,
    /// Open a new connection for every request instead of keeping connections alive.
    pub fresh_connections: bool,
    /// Worker threads (at least 1); the plan uses fewer when there is less work to share.
    pub threads: usize,
}

/// How the lanes of an endpoint are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The endpoint's lanes fire together; the iteration ends when all have finished, then
    /// the endpoint sleeps before the next one. All its lanes live on one thread.
    Burst {
        /// The pause between iterations.
        sleep: Duration,
    },
    /// Each lane sends its next request as soon as its previous one finished (closed loop).
    Free,
}

/// Lanes of one endpoint that one thread runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Index into [`Plan::targets`].
    pub endpoint: usize,
    /// Lane numbers (0-based within the endpoint).
    pub lanes: Vec<u32>,
}

/// The work of one worker thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadPlan {
    /// What the thread runs.
    pub units: Vec<Unit>,
}

/// A validated run, ready for the engine.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The endpoints, in results order.
    pub targets: Vec<Target>,
    /// The user's settings.
    pub spec: RunSpec,
    /// Burst or free lanes.
    pub schedule: Schedule,
    /// Requests each lane sends at most (`u64::MAX` when only a duration bounds the run).
    pub iterations: u64,
    /// One entry per worker thread to start.
    pub threads: Vec<ThreadPlan>,
}

impl Plan {
    /// Lays out `targets` according to `spec`.
    pub fn new(targets: Vec<Target>, spec: RunSpec) -> Plan {
        let iterations = match (spec.iterations, spec.duration) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => 1,
        };
        let schedule = match spec.sleep.is_zero() {
            true => Schedule::Free,
            false => Schedule::Burst { sleep: spec.sleep },
        };
        let threads = match schedule {
            Schedule::Burst { .. } => burst_layout(targets.len(), spec.concurrency, spec.threads),
            Schedule::Free => free_layout(targets.len(), spec.concurrency, spec.threads),
        };
        Plan {
            targets,
            spec,
            schedule,
            iterations,
            threads,
        }
    }

    /// Requests the run sends if nothing stops it early; `None` when only a duration bounds it.
    pub fn total_requests(&self) -> Option<u64> {
        (self.iterations != u64::MAX)
            .then(|| self.iterations * u64::from(self.spec.concurrency) * self.targets.len() as u64)
    }
}

/// Whole endpoints round-robin over threads: a burst waits for all its lanes, so they share
/// one thread and the wait needs no cross-thread synchronisation.
fn burst_layout(endpoints: usize, concurrency: u32, threads: usize) -> Vec<ThreadPlan> {
    let count = threads.clamp(1, endpoints.max(1));
    let mut plans = vec![ThreadPlan::default(); count];
    for endpoint in 0..endpoints {
        plans[endpoint % count].units.push(Unit {
            endpoint,
            lanes: (0..concurrency).collect(),
        });
    }
    plans
}

/// Every lane round-robin over threads, so one busy endpoint can use every core.
fn free_layout(endpoints: usize, concurrency: u32, threads: usize) -> Vec<ThreadPlan> {
    let total = endpoints * concurrency as usize;
    let count = threads.clamp(1, total.max(1));
    let mut plans = vec![ThreadPlan::default(); count];
    let mut next = 0;
    for endpoint in 0..endpoints {
        for lane in 0..concurrency {
            let plan = &mut plans[next % count];
            match plan.units.last_mut() {
                Some(unit) if unit.endpoint == endpoint => unit.lanes.push(lane),
                _ => plan.units.push(Unit {
                    endpoint,
                    lanes: vec![lane],
                }),
            }
            next += 1;
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes_of(plans: &[ThreadPlan], endpoint: usize) -> Vec<u32> {
        let mut lanes: Vec<u32> = plans
            .iter()
            .flat_map(|p| &p.units)
            .filter(|u| u.endpoint == endpoint)
            .flat_map(|u| u.lanes.clone())
            .collect();
        lanes.sort_unstable();
        lanes
    }

    #[test]
    fn bursts_keep_each_endpoint_on_one_thread() {
        let plans = burst_layout(5, 3, 2);
        assert_eq!(plans.len(), 2);
        for endpoint in 0..5 {
            let holders = plans
                .iter()
                .filter(|p| p.units.iter().any(|u| u.endpoint == endpoint));
            assert_eq!(holders.count(), 1);
            assert_eq!(lanes_of(&plans, endpoint), vec![0, 1, 2]);
        }
    }

    #[test]
    fn free_lanes_spread_over_threads_and_none_is_lost() {
        let plans = free_layout(1, 50, 2);
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].units[0].lanes.len(), 25);
        assert_eq!(lanes_of(&plans, 0), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn never_starts_idle_threads() {
        assert_eq!(free_layout(1, 1, 8).len(), 1);
        assert_eq!(burst_layout(2, 10, 8).len(), 2);
    }
}
