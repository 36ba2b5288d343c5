//! Cold starts: the spikes the original charts showed, counted from two sources.
//!
//! - **Declared**: the response said so (a Server-Timing `init` metric by default, or the
//!   target's `cold_start` header). Exact, and it carries the init time.
//! - **Spikes**: when the server declares nothing, a complete response whose latency (from
//!   the actual send) exceeds both [`SPIKE_FACTOR`] × the endpoint's running median and the
//!   median + [`SPIKE_MIN`]. The median is that of the last [`WINDOW`] responses, refreshed
//!   every [`REFRESH_EVERY`]: a handful of spikes cannot move it. Until [`BASELINE`]
//!   responses are in, nothing can be judged, so the first ones (where a cold start is
//!   likeliest) wait and are judged against the first median. A thread judges the requests
//!   its own lanes sent; an endpoint that never gets [`BASELINE`] responses on a thread is
//!   not judged there.
//!
//! Counts are exact; the events (each a request to look up in the platform's logs) are the
//! first [`EVENTS_KEPT`] by start time.

use std::time::Duration;

use super::{LatencyHist, micros, server::ms_to_us};

/// Cold-start events kept per endpoint (the count stays exact beyond them).
pub const EVENTS_KEPT: usize = 1_000;
/// A spike is at least this many times the running median...
pub const SPIKE_FACTOR: u64 = 5;
/// ...and at least this much above it.
pub const SPIKE_MIN: Duration = Duration::from_millis(100);
/// Responses the running median is taken over.
pub const WINDOW: usize = 64;
/// Responses needed before anything is judged.
pub const BASELINE: usize = 10;
/// The median is recomputed after this many responses (a sort of [`WINDOW`] values).
pub const REFRESH_EVERY: u32 = 16;

/// One cold start: a request to look up in the platform's logs.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdEvent {
    /// When it was due, from the run's start.
    pub intended: Duration,
    /// Its latency (from the intended send, like every headline latency).
    pub latency: Duration,
    /// The init time the server declared, in milliseconds.
    pub init_ms: Option<f64>,
    /// Its lane.
    pub lane: u32,
    /// Whether it opened a connection.
    pub new_connection: bool,
    /// Its ID in the platform's logs.
    pub request_id: Option<Box<str>>,
}

/// The cold starts of one source.
#[derive(Debug, Clone, Default)]
pub struct ColdTally {
    /// Cold starts, exact.
    pub count: u64,
    /// Their latency in microseconds.
    pub latency: LatencyHist,
    /// Their declared init time in microseconds (declared ones only).
    pub init: LatencyHist,
    /// The first [`EVENTS_KEPT`] by start time.
    pub events: Vec<ColdEvent>,
}

impl ColdTally {
    /// Counts one cold start.
    pub fn record(&mut self, event: ColdEvent) {
        self.count += 1;
        self.latency.record(micros(event.latency));
        if let Some(ms) = event.init_ms {
            self.init.record(ms_to_us(ms));
        }
        if self.events.len() < EVENTS_KEPT {
            self.events.push(event);
            return;
        }
        // Lanes finish out of order: keep the earliest started, not the first finished.
        let order = |e: &ColdEvent| (e.intended, e.lane);
        if let Some(latest) = self.events.iter_mut().max_by_key(|e| order(e))
            && order(&event) < order(latest)
        {
            *latest = event;
        }
    }

    /// Adds another thread's cold starts.
    pub fn merge(&mut self, other: &ColdTally) {
        self.count += other.count;
        self.latency.add(&other.latency);
        self.init.add(&other.init);
        self.events.extend(other.events.iter().cloned());
        keep_earliest(&mut self.events);
    }
}

fn keep_earliest(events: &mut Vec<ColdEvent>) {
    events.sort_by_key(|e| (e.intended, e.lane));
    events.truncate(EVENTS_KEPT);
}

/// An endpoint's cold starts, from both sources, and the detector behind the spikes.
#[derive(Debug, Clone, Default)]
pub struct ColdStarts {
    /// Declared by the server; created at the first one.
    pub declared: Option<Box<ColdTally>>,
    /// Latency spikes; created at the first one.
    pub spikes: Option<Box<ColdTally>>,
    /// This thread's running median.
    pub detector: SpikeDetector,
}

impl ColdStarts {
    /// Counts a complete response: `declared` when the server said it was cold (with its
    /// init time), and judged as a possible spike by `raw_latency` in any case. `event`
    /// builds its event, only when one is needed. Returns whether it was cold: declared,
    /// or a spike (one judged later, against the first median, is not known yet: `false`).
    pub fn record(
        &mut self,
        raw_latency: Duration,
        declared: Option<Option<f64>>,
        event: impl Fn(Option<f64>) -> ColdEvent,
    ) -> bool {
        if let Some(init_ms) = declared {
            self.declared.get_or_insert_default().record(event(init_ms));
        }
        let verdict = self.detector.observe(raw_latency);
        let spikes = match verdict {
            Verdict::Normal => return declared.is_some(),
            Verdict::Spike => vec![event(None)],
            Verdict::Wait => {
                self.detector.wait(raw_latency, event(None));
                return declared.is_some();
            }
            Verdict::Baseline => {
                self.detector.wait(raw_latency, event(None));
                self.detector.judge_waiting()
            }
        };
        let tally = self.spikes.get_or_insert_default();
        for spike in spikes {
            tally.record(spike);
        }
        declared.is_some() || verdict == Verdict::Spike
    }

    /// Adds another thread's cold starts (each thread keeps its own detector).
    pub fn merge(&mut self, other: &ColdStarts) {
        for (mine, theirs) in [
            (&mut self.declared, &other.declared),
            (&mut self.spikes, &other.spikes),
        ] {
            if let Some(theirs) = theirs {
                mine.get_or_insert_default().merge(theirs);
            }
        }
    }
}

/// The running median and the judgement of each response against it.
#[derive(Debug, Clone, Default)]
pub struct SpikeDetector {
    /// The last [`WINDOW`] latencies from the actual send, in microseconds, as a ring;
    /// allocated at the first response (every thread holds a detector per endpoint, and
    /// most never see a response of most endpoints).
    window: Vec<u64>,
    /// Where the next value goes once the ring is full.
    next: usize,
    /// The median as of the last refresh, once [`BASELINE`] responses are in.
    median_us: Option<u64>,
    since_refresh: u32,
    /// Responses seen before the baseline, with their raw latency: judged once it exists.
    waiting: Vec<(u64, ColdEvent)>,
}

impl SpikeDetector {
    /// Whether a response of `raw_latency` may be a spike, before its event is built (the
    /// common case, a normal response, builds nothing). Also adds it to the window.
    pub fn observe(&mut self, raw_latency: Duration) -> Verdict {
        let us = micros(raw_latency);
        match self.window.len() {
            0 => {
                self.window.reserve_exact(WINDOW);
                self.window.push(us);
            }
            n if n < WINDOW => self.window.push(us),
            _ => self.window[self.next] = us,
        }
        self.next = (self.next + 1) % WINDOW;
        self.since_refresh += 1;
        match self.median_us {
            None if self.window.len() >= BASELINE => {
                self.refresh();
                Verdict::Baseline
            }
            None => Verdict::Wait,
            Some(median) => {
                if self.since_refresh >= REFRESH_EVERY {
                    self.refresh();
                }
                match is_spike(us, median) {
                    true => Verdict::Spike,
                    false => Verdict::Normal,
                }
            }
        }
    }

    /// Keeps an event to judge once the baseline exists.
    pub fn wait(&mut self, raw_latency: Duration, event: ColdEvent) {
        self.waiting.push((micros(raw_latency), event));
    }

    /// The waiting events that were spikes against the first median (call on
    /// [`Verdict::Baseline`]).
    pub fn judge_waiting(&mut self) -> Vec<ColdEvent> {
        let median = self.median_us.unwrap_or(u64::MAX);
        std::mem::take(&mut self.waiting)
            .into_iter()
            .filter(|(us, _)| is_spike(*us, median))
            .map(|(_, event)| event)
            .collect()
    }

    fn refresh(&mut self) {
        // Sorted in a copy on the stack: the ring keeps its order, nothing is allocated.
        let mut sorted = [0; WINDOW];
        let values = &mut sorted[..self.window.len()];
        values.copy_from_slice(&self.window);
        let middle = values.len() / 2;
        let (_, median, _) = values.select_nth_unstable(middle);
        self.median_us = Some(*median);
        self.since_refresh = 0;
    }
}

/// How one response stands against the running median.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a spike.
    Normal,
    /// A spike.
    Spike,
    /// No baseline yet: keep it to judge later ([`SpikeDetector::wait`]).
    Wait,
    /// This response completed the baseline: judge it and the waiting ones now.
    Baseline,
}

fn is_spike(us: u64, median_us: u64) -> bool {
    let floor = median_us.saturating_add(micros(SPIKE_MIN));
    us > median_us.saturating_mul(SPIKE_FACTOR) && us > floor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64) -> ColdEvent {
        ColdEvent {
            intended: Duration::from_millis(at_ms),
            latency: Duration::from_millis(1),
            init_ms: None,
            lane: 0,
            new_connection: false,
            request_id: None,
        }
    }

    /// Feeds latencies (ms) and returns the start times (ms) judged spikes.
    fn spikes(latencies_ms: &[u64]) -> Vec<u64> {
        let mut d = SpikeDetector::default();
        let mut found = Vec::new();
        for (i, &ms) in latencies_ms.iter().enumerate() {
            let raw = Duration::from_millis(ms);
            match d.observe(raw) {
                Verdict::Spike => found.push(i as u64),
                Verdict::Wait => d.wait(raw, event(i as u64)),
                Verdict::Baseline => {
                    d.wait(raw, event(i as u64));
                    found.extend(
                        d.judge_waiting()
                            .iter()
                            .map(|e| e.intended.as_millis() as u64),
                    );
                }
                Verdict::Normal => {}
            }
        }
        found
    }

    #[test]
    fn finds_injected_spikes_and_the_cold_first_request() {
        let mut stream = vec![2; 500];
        stream[0] = 900; // the first request: judged once a baseline exists
        for at in [100, 250, 400] {
            stream[at] = 500;
        }
        assert_eq!(spikes(&stream), vec![0, 100, 250, 400]);
    }

    #[test]
    fn flags_nothing_in_a_steady_or_slowly_drifting_stream() {
        let steady: Vec<u64> = (0..2_000).map(|i| 2 + i % 3).collect();
        assert!(spikes(&steady).is_empty());
        let drifting: Vec<u64> = (0..2_000).map(|i| 10 + i / 4).collect();
        assert!(spikes(&drifting).is_empty());
        // Slow and noisy, but no request 5× the median *and* 100 ms above it.
        let slow: Vec<u64> = (0..2_000).map(|i| 200 + (i * 37) % 300).collect();
        assert!(spikes(&slow).is_empty());
    }

    #[test]
    fn a_tally_keeps_the_earliest_events_and_an_exact_count() {
        let mut a = ColdTally::default();
        let mut b = ColdTally::default();
        for i in (0..EVENTS_KEPT as u64 + 500).rev() {
            a.record(event(i * 2));
            b.record(event(i * 2 + 1));
        }
        a.merge(&b);
        assert_eq!(a.count, 2 * (EVENTS_KEPT as u64 + 500));
        assert_eq!(a.events.len(), EVENTS_KEPT);
        assert_eq!(a.events[0].intended, Duration::ZERO);
        assert_eq!(
            a.events.last().map(|e| e.intended),
            Some(Duration::from_millis(EVENTS_KEPT as u64 - 1))
        );
    }
}
