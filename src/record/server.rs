//! The server's side of an endpoint's requests: its Server-Timing metrics, its own time
//! by the target's source, and the overhead around it (client latency minus server time:
//! network, TLS, gateway, queueing).
//!
//! Bounded whatever a server sends: at most [`TIMING_NAMES_KEPT`] metric names get a
//! histogram each (first come); durations under any later name go to one more histogram,
//! `_other`, and are counted in `timing_dropped`.

use std::time::Duration;

use super::{LatencyHist, micros};
use crate::server_time::{ServerReport, ServerTime};

/// Server-Timing metric names kept per endpoint.
pub const TIMING_NAMES_KEPT: usize = 16;

/// The name the results give durations of metrics beyond the first [`TIMING_NAMES_KEPT`].
pub const OTHER_TIMING: &str = "_other";

/// Milliseconds as a server writes them, to the histograms' microseconds.
pub fn ms_to_us(ms: f64) -> u64 {
    // Saturating float-to-int conversion: a value beyond u64 becomes u64::MAX, then clamped.
    (ms * 1_000.0).round() as u64
}

/// What the server said about one endpoint's requests (on one thread, or merged).
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Server-Timing durations per metric name, in microseconds, in order of first sight.
    pub timing: Vec<(Box<str>, LatencyHist)>,
    /// Durations of metrics whose name came after the first [`TIMING_NAMES_KEPT`].
    pub timing_other: LatencyHist,
    /// How many durations went to `timing_other`.
    pub timing_dropped: u64,
    /// The server's own time by the target's source, in microseconds.
    pub server: LatencyHist,
    /// Per request with a server time: its latency from the actual send minus that time.
    pub overhead: LatencyHist,
    /// Responses without a valid server time, when the target names a source.
    pub missing: u64,
}

impl ServerStats {
    /// Counts one complete response's report; `raw_latency` is from its actual send.
    pub fn record(&mut self, report: &ServerReport, raw_latency: Option<Duration>) {
        for (name, ms) in report.durations() {
            self.record_timing(name, ms_to_us(ms));
        }
        match report.time {
            ServerTime::NotAsked => {}
            ServerTime::Missing => self.missing += 1,
            ServerTime::Ms(ms) => {
                let us = ms_to_us(ms);
                self.server.record(us);
                if let Some(latency) = raw_latency {
                    // A server clock a little ahead of ours (rounding) is no negative time.
                    self.overhead.record(micros(latency).saturating_sub(us));
                }
            }
        }
    }

    fn record_timing(&mut self, name: &str, us: u64) {
        match self.timing.iter().position(|(known, _)| **known == *name) {
            Some(i) => self.timing[i].1.record(us),
            None if self.timing.len() < TIMING_NAMES_KEPT => {
                let mut h = LatencyHist::default();
                h.record(us);
                self.timing.push((name.into(), h));
            }
            None => {
                self.timing_other.record(us);
                self.timing_dropped += 1;
            }
        }
    }

    /// Adds another thread's figures. Names the other side kept beyond this side's room
    /// go to `_other`, so the bound holds after merging too.
    pub fn merge(&mut self, other: &ServerStats) {
        for (name, theirs) in &other.timing {
            match self.timing.iter().position(|(known, _)| known == name) {
                Some(i) => self.timing[i].1.add(theirs),
                None if self.timing.len() < TIMING_NAMES_KEPT => {
                    self.timing.push((name.clone(), theirs.clone()));
                }
                None => {
                    self.timing_other.add(theirs);
                    self.timing_dropped += theirs.len();
                }
            }
        }
        self.timing_other.add(&other.timing_other);
        self.timing_dropped += other.timing_dropped;
        self.server.add(&other.server);
        self.overhead.add(&other.overhead);
        self.missing += other.missing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    use crate::server_time::ServerSpec;

    fn report(timing: &str, spec: &ServerSpec) -> ServerReport {
        let mut h = HeaderMap::new();
        h.insert(
            "server-timing",
            HeaderValue::from_str(timing).expect("visible ASCII"),
        );
        ServerReport::read(spec, &h, None)
    }

    #[test]
    fn server_time_and_overhead_come_from_the_named_metric() {
        let spec = ServerSpec {
            time: Some("server-timing:app".parse().expect("valid")),
            ..ServerSpec::default()
        };
        let mut s = ServerStats::default();
        s.record(
            &report("app;dur=5, db;dur=2", &spec),
            Some(Duration::from_millis(20)),
        );
        s.record(&report("db;dur=2", &spec), Some(Duration::from_millis(20)));
        assert_eq!((s.server.len(), s.missing), (1, 1));
        assert!(
            s.server
                .histogram()
                .equivalent(s.server.histogram().max(), 5_000)
        );
        assert!(
            s.overhead
                .histogram()
                .equivalent(s.overhead.histogram().max(), 15_000)
        );
        let names: Vec<&str> = s.timing.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["app", "db"]);
    }

    #[test]
    fn names_beyond_the_bound_go_to_other_and_stay_bounded_through_merges() {
        let spec = ServerSpec::default();
        let (mut a, mut b) = (ServerStats::default(), ServerStats::default());
        for i in 0..100 {
            a.record(&report(&format!("a{i};dur=1"), &spec), None);
            b.record(&report(&format!("b{i};dur=1"), &spec), None);
        }
        assert_eq!((a.timing.len(), a.timing_dropped), (16, 84));
        a.merge(&b);
        assert_eq!(a.timing.len(), TIMING_NAMES_KEPT);
        assert_eq!(a.timing_dropped, 84 + 100);
        let kept: u64 = a.timing.iter().map(|(_, h)| h.len()).sum();
        assert_eq!(
            kept + a.timing_other.len(),
            200,
            "every duration counted once"
        );
    }
}
