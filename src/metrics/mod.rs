//! `--metrics-listen`: the run's figures for Prometheus, served over HTTP while the run
//! goes. Nothing here touches the hot path: the run hands over a results snapshot (taken
//! like a checkpoint, once a second) and scrapes read the latest one. The exposition is
//! written by the `prometheus-client` crate: OpenMetrics text, and for scrapers that do
//! not ask for it, the Prometheus text format it differs from in three details.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::results::Results;

mod encode;
mod server;

pub use server::MetricsServer;

/// Upper bounds (s) of the request and server duration histograms' buckets: 1-2-5 steps
/// from 1 ms to 60 s, then `+Inf`.
pub const BUCKETS_S: [f64; 15] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0,
];

/// What a scrape shows: the latest results, and the requests in flight per endpoint
/// (indexed like `results.endpoints`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The results so far (or final).
    pub results: Results,
    /// Requests started and not finished, per endpoint.
    pub in_flight: Vec<u64>,
}

/// The latest snapshot, swapped in by the run and read by scrapes without a lock.
#[derive(Debug, Default)]
pub struct Live(ArcSwapOption<Snapshot>);

impl Live {
    /// Replaces what scrapes see.
    pub fn publish(&self, snapshot: Snapshot) {
        self.0.store(Some(Arc::new(snapshot)));
    }

    /// The exposition of the latest snapshot: OpenMetrics text when `openmetrics`, the
    /// Prometheus text format otherwise. Empty (but valid) before the first snapshot.
    pub fn exposition(&self, openmetrics: bool) -> String {
        let snapshot = self.0.load_full();
        let text = encode::openmetrics(snapshot.as_deref());
        match openmetrics {
            true => text,
            false => encode::prometheus_text(&text),
        }
    }
}
