//! The slowest requests of an endpoint: the cold-start spikes, found without per-request logs.

use std::time::Duration;

use crate::outcome::{ErrorKind, Outcome};
use crate::server_time::RequestId;

/// How many slowest requests are kept per endpoint.
pub const KEPT: usize = 10;

/// One slow request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlier {
    /// Its latency (from the intended send time).
    pub latency: Duration,
    /// When it was meant to start, from the start of the run.
    pub intended: Duration,
    /// The response status.
    pub status: u16,
    /// `Some(Status)` when the status was not expected.
    pub error: Option<ErrorKind>,
    /// Its iteration.
    pub iteration: u64,
    /// Its lane.
    pub lane: u32,
    /// Whether it opened a connection.
    pub new_connection: bool,
    /// Its ID in the platform's logs, when the response carried one.
    pub request_id: Option<Box<str>>,
}

/// The [`KEPT`] slowest complete responses, slowest first. Fixed size: a run of any length
/// keeps ten entries; checking a request against the fastest kept one is one comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outliers(Vec<Outlier>);

impl Outliers {
    /// Considers a finished request (transport failures have no latency and are skipped).
    /// `request_id` becomes text only if the request is kept.
    pub fn offer(&mut self, outcome: &Outcome, request_id: Option<RequestId<'_>>) {
        let Ok(response) = outcome.result else { return };
        if self.0.len() == KEPT
            && self
                .0
                .last()
                .is_some_and(|fastest| fastest.latency >= response.latency)
        {
            return;
        }
        self.insert(Outlier {
            latency: response.latency,
            intended: outcome.intended,
            status: response.status,
            error: outcome.error_kind(),
            iteration: outcome.iteration,
            lane: outcome.lane,
            new_connection: outcome.setup.is_some(),
            request_id: request_id.and_then(|id| id.text()),
        });
    }

    fn insert(&mut self, outlier: Outlier) {
        if self.0.capacity() == 0 {
            self.0.reserve_exact(KEPT + 1);
        }
        let at = self
            .0
            .partition_point(|kept| kept.latency >= outlier.latency);
        self.0.insert(at, outlier);
        self.0.truncate(KEPT);
    }

    /// Keeps the slowest of both sets.
    pub fn merge(&mut self, other: &Outliers) {
        for outlier in &other.0 {
            self.insert(outlier.clone());
        }
    }

    /// Slowest first.
    pub fn slowest(&self) -> &[Outlier] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::fixtures::response;

    fn outcome(latency_ms: u64, iteration: u64) -> Outcome {
        Outcome {
            iteration,
            ..response(0, latency_ms, 200)
        }
    }

    #[test]
    fn keeps_the_ten_slowest_slowest_first() {
        let mut kept = Outliers::default();
        for i in 0..100 {
            kept.offer(&outcome((i * 37) % 101, i), None);
        }
        let latencies: Vec<u64> = kept
            .slowest()
            .iter()
            .map(|o| o.latency.as_millis() as u64)
            .collect();
        let mut all: Vec<u64> = (0..100).map(|i| (i * 37) % 101).collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(latencies, all[..KEPT]);
    }

    #[test]
    fn merging_keeps_the_slowest_of_both() {
        let (mut a, mut b) = (Outliers::default(), Outliers::default());
        for i in 0..20 {
            a.offer(&outcome(i, i), None);
            b.offer(&outcome(100 + i, i), None);
        }
        a.merge(&b);
        assert_eq!(a.slowest()[0].latency, Duration::from_millis(119));
        assert_eq!(a.slowest()[KEPT - 1].latency, Duration::from_millis(110));
    }
}
