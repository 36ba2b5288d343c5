//! The plan: how a run's lanes are laid out over worker threads, decided before any request.

use std::time::Duration;

use crate::targets::{FlowRole, Target};

/// What the user asked for, independent of the targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
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
    /// An open-model schedule (`--rate`, `--every`) instead of the closed loop.
    pub open: Option<Open>,
    /// Connections an endpoint may open at most in an open schedule.
    pub max_connections: u32,
    /// This process's part of a sharded run (`--shard I/N`); `None`: the whole run.
    pub shard: Option<Share>,
}

/// Worker threads to use when not told: one per core the process may run on.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for LoadSpec {
    /// The command line's defaults: one iteration of one lane, no sleep, no duration,
    /// keep-alive, one thread, closed loop, up to 1000 connections, the whole run.
    fn default() -> LoadSpec {
        LoadSpec {
            iterations: None,
            concurrency: 1,
            sleep: Duration::ZERO,
            duration: None,
            fresh_connections: false,
            threads: 1,
            open: None,
            max_connections: 1_000,
            shard: None,
        }
    }
}

/// An open-model schedule: request times are fixed by the clock, not by earlier responses,
/// so a stalled server cannot slow the load down (no coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Open {
    /// Request `i` of an endpoint is due at `t0 + i / per_second` (after an optional linear
    /// ramp from 0 over `ramp_up`).
    Rate {
        /// Requests per second per endpoint.
        per_second: f64,
        /// Time over which the rate climbs linearly from 0 to `per_second`.
        ramp_up: Duration,
    },
    /// Burst `k` of `concurrency` requests is due at `t0 + k · period`.
    Every {
        /// The period.
        period: Duration,
    },
}

impl Eq for Open {}

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
    /// Requests are due at clock times; a dispatcher hands each to an idle connection or
    /// opens another (up to a limit).
    Open(Open),
}

/// Lanes of one endpoint that one thread runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Index into [`Plan::targets`]: a target of its own or a whole flow, never a step.
    pub endpoint: usize,
    /// Lane numbers (0-based within the endpoint) started with the run.
    pub lanes: Vec<u32>,
    /// In an open schedule: this unit sends requests `i` with `i % share.of == share.index`.
    pub share: Share,
    /// In an open schedule: how many lanes (connections) this unit may grow to.
    pub max_lanes: u32,
    /// This unit's place among every unit of the endpoint (threads and shards): lanes it
    /// opens beyond `lanes` are numbered `concurrency + index + of × k`, so no two units
    /// ever use the same lane number.
    pub lane_ids: Share,
}

/// A unit's part of an endpoint's request sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Which residue this unit takes.
    pub index: u32,
    /// How many units share the endpoint.
    pub of: u32,
}

impl Share {
    /// The whole sequence.
    pub const ALL: Share = Share { index: 0, of: 1 };
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
    pub spec: LoadSpec,
    /// Burst or free lanes.
    pub schedule: Schedule,
    /// The iteration limit: requests per lane in closed loops, requests per endpoint with
    /// `--rate`, bursts with `--every` (`u64::MAX` when only a duration bounds the run).
    pub iterations: u64,
    /// One entry per worker thread to start.
    pub threads: Vec<ThreadPlan>,
}

impl Plan {
    /// Lays out `targets` according to `spec`.
    pub fn new(targets: Vec<Target>, spec: LoadSpec) -> Plan {
        let iterations = match (spec.iterations, spec.duration) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => 1,
        };
        let schedule = match (spec.open, spec.sleep.is_zero()) {
            (Some(open), _) => Schedule::Open(open),
            (None, true) => Schedule::Free,
            (None, false) => Schedule::Burst { sleep: spec.sleep },
        };
        let shard = spec.shard.unwrap_or(Share::ALL);
        let lanes = shard_lanes(spec.concurrency, shard);
        // Flow steps run inside their flow's instances: only the rest gets lanes.
        let scheduled: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].is_scheduled())
            .collect();
        let mut threads = match schedule {
            Schedule::Burst { .. } | Schedule::Open(Open::Every { .. }) => burst_layout(
                scheduled.len(),
                &lanes,
                spec.max_connections.div_ceil(shard.of),
                spec.threads,
                shard,
            ),
            Schedule::Free => free_layout(scheduled.len(), &lanes, spec.threads),
            Schedule::Open(Open::Rate { .. }) => rate_layout(
                scheduled.len(),
                &lanes,
                shard,
                spec.max_connections,
                spec.threads,
            ),
        };
        for unit in threads.iter_mut().flat_map(|t| t.units.iter_mut()) {
            unit.endpoint = scheduled[unit.endpoint];
        }
        Plan {
            targets,
            spec,
            schedule,
            iterations,
            threads,
        }
    }

    /// Requests the run sends if nothing stops it early (every step of every flow instance):
    /// bounded by the iterations, and for open schedules by what is due within the duration
    /// too; `None` for a closed loop that only a duration bounds.
    pub fn total_requests(&self) -> Option<u64> {
        let shard = self.spec.shard.unwrap_or(Share::ALL);
        let bounded = |n: u64| (n != u64::MAX).then_some(n);
        let lanes = shard_lanes(self.spec.concurrency, shard).len() as u64;
        let per_endpoint = match self.schedule {
            // With --rate, -n counts requests, of which this shard sends every N-th.
            Schedule::Open(Open::Rate {
                per_second,
                ramp_up,
            }) => {
                let due = match self.spec.duration {
                    Some(d) => self.iterations.min(rate_due_before(d, per_second, ramp_up)),
                    None => self.iterations,
                };
                let (index, of) = (u64::from(shard.index), u64::from(shard.of));
                bounded(due).map(|due| due.checked_sub(index).map_or(0, |rest| rest.div_ceil(of)))
            }
            Schedule::Open(Open::Every { period }) => {
                let bursts = match self.spec.duration {
                    // Burst k is due at k·period: those before the end.
                    Some(d) if !period.is_zero() => {
                        let due = d.as_nanos().div_ceil(period.as_nanos());
                        self.iterations.min(u64::try_from(due).unwrap_or(u64::MAX))
                    }
                    _ => self.iterations,
                };
                bounded(bursts).map(|b| b.saturating_mul(lanes))
            }
            _ => bounded(self.iterations).map(|n| n.saturating_mul(lanes)),
        };
        let per_instance: u64 = self
            .targets
            .iter()
            .map(|t| match &t.flow {
                Some(FlowRole::Whole { steps, .. }) => steps.len() as u64,
                Some(FlowRole::Step { .. }) => 0,
                None => 1,
            })
            .sum();
        per_endpoint.map(|n| n.saturating_mul(per_instance))
    }
}

/// How many requests of a `--rate` schedule are due before `duration`: the first index
/// whose due time is not (due times only grow, so a binary search finds it).
fn rate_due_before(duration: Duration, per_second: f64, ramp_up: Duration) -> u64 {
    let mut high = (per_second * duration.as_secs_f64()).ceil().min(1e18) as u64 + 2;
    let mut low = 0;
    while low < high {
        let middle = low + (high - low) / 2;
        if rate_offset(middle, per_second, ramp_up) < duration {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// When request `index` is due at `per_second`, after a linear ramp from 0 over `ramp_up`:
/// during the ramp n(t) = R·t²/(2·D) requests have been due, so t = √(2·D·i/R); after it the
/// rate holds at R.
pub fn rate_offset(index: u64, per_second: f64, ramp_up: Duration) -> Duration {
    let i = index as f64;
    let ramp_s = ramp_up.as_secs_f64();
    let ramp_requests = per_second * ramp_s / 2.0;
    let seconds = match i < ramp_requests {
        true => (2.0 * ramp_s * i / per_second).sqrt(),
        false => ramp_s + (i - ramp_requests) / per_second,
    };
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

/// The lanes of an endpoint a shard runs: lane `l` belongs to shard `l % N`.
pub fn shard_lanes(concurrency: u32, shard: Share) -> Vec<u32> {
    (0..concurrency)
        .filter(|lane| lane % shard.of == shard.index)
        .collect()
}

/// Whole endpoints round-robin over threads: a burst waits for all its lanes (or, with
/// `--every`, is dispatched at once), so they share one thread and need no cross-thread
/// synchronisation.
fn burst_layout(
    endpoints: usize,
    lanes: &[u32],
    max_lanes: u32,
    threads: usize,
    shard: Share,
) -> Vec<ThreadPlan> {
    let count = threads.clamp(1, endpoints.max(1));
    let mut plans = vec![ThreadPlan::default(); count];
    for endpoint in 0..endpoints {
        plans[endpoint % count].units.push(Unit {
            endpoint,
            lanes: lanes.to_vec(),
            share: Share::ALL,
            max_lanes: max_lanes.max(lanes.len() as u32),
            lane_ids: shard,
        });
    }
    plans
}

/// Every lane round-robin over threads, so one busy endpoint can use every core.
fn free_layout(endpoints: usize, lanes: &[u32], threads: usize) -> Vec<ThreadPlan> {
    let total = endpoints * lanes.len();
    let count = threads.clamp(1, total.max(1));
    let mut plans = vec![ThreadPlan::default(); count];
    let mut next = 0;
    for endpoint in 0..endpoints {
        for &lane in lanes {
            let plan = &mut plans[next % count];
            match plan.units.last_mut() {
                Some(unit) if unit.endpoint == endpoint => unit.lanes.push(lane),
                _ => plan.units.push(Unit {
                    endpoint,
                    lanes: vec![lane],
                    share: Share::ALL,
                    max_lanes: 0,
                    lane_ids: Share::ALL,
                }),
            }
            next += 1;
        }
    }
    for unit in plans.iter_mut().flat_map(|p| &mut p.units) {
        unit.max_lanes = unit.lanes.len() as u32;
    }
    plans
}

/// With more threads than endpoints, each endpoint's request sequence is split over
/// `threads / endpoints` threads by residue (thread j sends requests j, j+k, j+2k, ...), so
/// the merged schedule is exactly the endpoint's; lanes and the connection limit are split
/// alike. A shard's part (`shard`) is split the same way within it.
fn rate_layout(
    endpoints: usize,
    lanes: &[u32],
    shard: Share,
    max_lanes: u32,
    threads: usize,
) -> Vec<ThreadPlan> {
    let shares = (threads / endpoints.max(1)).max(1) as u32;
    let count = threads.clamp(1, (endpoints * shares as usize).max(1));
    let mut plans = vec![ThreadPlan::default(); count];
    let mut next = 0;
    let of = shard.of * shares;
    for endpoint in 0..endpoints {
        for j in 0..shares {
            let mine: Vec<u32> = lanes
                .iter()
                .copied()
                .enumerate()
                .filter(|(k, _)| *k as u32 % shares == j)
                .map(|(_, l)| l)
                .collect();
            let max_lanes = max_lanes.div_ceil(of).max(mine.len() as u32).max(1);
            plans[next % count].units.push(Unit {
                endpoint,
                lanes: mine,
                share: Share {
                    index: shard.index + shard.of * j,
                    of,
                },
                max_lanes,
                lane_ids: Share {
                    index: shard.index + shard.of * j,
                    of,
                },
            });
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
        let plans = burst_layout(5, &[0, 1, 2], 1_000, 2, Share::ALL);
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
        let plans = free_layout(1, &(0..50).collect::<Vec<_>>(), 2);
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].units[0].lanes.len(), 25);
        assert_eq!(lanes_of(&plans, 0), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_rate_is_split_by_residue_over_spare_threads() {
        let plans = rate_layout(1, &[0, 1, 2, 3], Share::ALL, 1_000, 2);
        assert_eq!(plans.len(), 2);
        let shares: Vec<Share> = plans.iter().map(|p| p.units[0].share).collect();
        assert_eq!(
            shares,
            [Share { index: 0, of: 2 }, Share { index: 1, of: 2 }]
        );
        assert_eq!(
            plans[0].units[0].max_lanes + plans[1].units[0].max_lanes,
            1_000
        );
        assert_eq!(lanes_of(&plans, 0), vec![0, 1, 2, 3]);
        let crowded = rate_layout(3, &[0], Share::ALL, 10, 2);
        assert!(
            crowded
                .iter()
                .flat_map(|p| &p.units)
                .all(|u| u.share == Share::ALL)
        );
    }

    #[test]
    fn the_expected_total_counts_requests_per_schedule() {
        let target =
            crate::targets::from_urls(&["http://x/".to_owned()], Duration::from_secs(1)).unwrap();
        let spec = |open| LoadSpec {
            iterations: Some(10),
            concurrency: 3,
            threads: 2,
            open,
            ..LoadSpec::default()
        };
        let rate = Open::Rate {
            per_second: 5.0,
            ramp_up: Duration::ZERO,
        };
        let every = Open::Every {
            period: Duration::from_secs(1),
        };
        assert_eq!(
            Plan::new(target.clone(), spec(None)).total_requests(),
            Some(30)
        );
        assert_eq!(
            Plan::new(target.clone(), spec(Some(rate))).total_requests(),
            Some(10)
        );
        assert_eq!(
            Plan::new(target.clone(), spec(Some(every))).total_requests(),
            Some(30)
        );
        // Open schedules bounded by a duration: what is due before it ends.
        let until = |open, seconds| LoadSpec {
            iterations: None,
            duration: Some(Duration::from_secs(seconds)),
            ..spec(Some(open))
        };
        assert_eq!(
            Plan::new(target.clone(), until(rate, 60)).total_requests(),
            Some(300)
        );
        let ramped = Open::Rate {
            per_second: 200.0,
            ramp_up: Duration::from_secs(10),
        };
        // 1,000 during the ramp (the area of the triangle), then 200/s for 50 s.
        assert_eq!(
            Plan::new(target.clone(), until(ramped, 60)).total_requests(),
            Some(11_000)
        );
        assert_eq!(
            Plan::new(target.clone(), until(every, 2)).total_requests(),
            Some(6)
        );
        let both = LoadSpec {
            iterations: Some(1_000),
            ..until(rate, 1)
        };
        assert_eq!(Plan::new(target.clone(), both).total_requests(), Some(5));
        let closed = LoadSpec {
            open: None,
            ..until(rate, 1)
        };
        assert_eq!(Plan::new(target, closed).total_requests(), None);
    }

    #[test]
    fn shards_split_lanes_and_rates_without_overlap() {
        assert_eq!(shard_lanes(5, Share { index: 1, of: 2 }), vec![1, 3]);
        assert!(shard_lanes(2, Share { index: 2, of: 3 }).is_empty());
        // Shard 1 of 2 on 2 threads: residues 1 and 3 of 4, together every odd request.
        let plans = rate_layout(1, &[1, 3], Share { index: 1, of: 2 }, 1_000, 2);
        let shares: Vec<Share> = plans.iter().map(|p| p.units[0].share).collect();
        assert_eq!(
            shares,
            [Share { index: 1, of: 4 }, Share { index: 3, of: 4 }]
        );
    }

    #[test]
    fn units_number_their_extra_lanes_apart() {
        // --every on shard 1 of 3: its units say where they stand, so lanes opened beyond
        // the shard's own never take another shard's numbers.
        let plans = burst_layout(1, &[1, 4], 100, 2, Share { index: 1, of: 3 });
        assert_eq!(plans[0].units[0].lane_ids, Share { index: 1, of: 3 });
        let rate = rate_layout(1, &[0, 1], Share { index: 0, of: 2 }, 100, 2);
        let ids: Vec<Share> = rate.iter().map(|p| p.units[0].lane_ids).collect();
        assert_eq!(ids, [Share { index: 0, of: 4 }, Share { index: 2, of: 4 }]);
    }

    #[test]
    fn never_starts_idle_threads() {
        assert_eq!(free_layout(1, &[0], 8).len(), 1);
        assert_eq!(
            burst_layout(2, &(0..10).collect::<Vec<_>>(), 10, 8, Share::ALL).len(),
            2
        );
    }
}
