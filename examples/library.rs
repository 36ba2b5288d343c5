//! Using api-cannon as a library, through the entry point the binary uses: describe a run
//! ([`RunSpec`]), [`prepare`](api_cannon::prepare) it (targets, TLS, plan, thresholds:
//! every check before a request goes out), then [`run`](api_cannon::run) it with an
//! [`Observer`] that sees progress. Here it fires at the demo API over HTTPS, trusting the
//! certificate the demo makes at start-up, and prints the p99.
//!
//!     cargo run --release --example library
//!
//! `cargo test` runs the test at the bottom, which fires the same run.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use api_cannon::demo::DemoServer;
use api_cannon::plan::LoadSpec;
use api_cannon::prepare::Targets;
use api_cannon::record::Stats;
use api_cannon::results::Results;
use api_cannon::thresholds::Threshold;
use api_cannon::{Observer, RunSpec};

/// Shows how many requests have finished, a few times a second.
struct Counter {
    updates: u32,
}

impl Observer for Counter {
    fn progress_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(200))
    }

    fn progress(&mut self, stats: &Stats, elapsed: Duration) {
        self.updates += 1;
        eprintln!(
            "{:>5.1} s: {} requests",
            elapsed.as_secs_f64(),
            stats.requests()
        );
    }
}

/// What one run at the demo measured, and what the demo's server counted.
struct Fired {
    results: Results,
    served: u64,
}

/// Fires `iterations` bursts of 3 requests, 20 ms apart, at the demo's `go` endpoint over
/// HTTPS, with a p99 threshold.
fn fire_at_demo(iterations: u64) -> Result<Fired, Box<dyn Error>> {
    let (server, certificate) =
        DemoServer::start_tls(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 1)?;
    let trusted = std::env::temp_dir().join(format!(
        "api-cannon-library-{}-{iterations}.pem",
        std::process::id()
    ));
    std::fs::write(&trusted, certificate)?;
    let url = format!("{}/slipspace/go", server.base_url());
    let mut spec = RunSpec::new(Targets::Urls(vec![url]));
    spec.load = LoadSpec {
        iterations: Some(iterations),
        concurrency: 3,
        sleep: Duration::from_millis(20),
        ..LoadSpec::default()
    };
    spec.client.tls.extra_roots = vec![trusted.clone()];
    spec.thresholds = vec![Threshold::parse("p99<5s")?];
    let prepared = api_cannon::prepare(spec);
    let _ = std::fs::remove_file(&trusted);
    let results = api_cannon::run(&prepared?, &mut Counter { updates: 0 })?;
    Ok(Fired {
        results,
        served: server.requests(),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let fired = fire_at_demo(20)?;
    let go = &fired.results.endpoints[0];
    println!(
        "{}: {} requests over {}, p99 {:?} ms (the server counted {}); thresholds held: {}",
        go.name,
        go.requests,
        go.tls_version.as_deref().unwrap_or("no TLS"),
        go.latency_ms.p99,
        fired.served,
        fired.results.thresholds.iter().all(|t| t.passed)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_library_entry_point_fires_at_an_https_target() {
        let fired = super::fire_at_demo(5).unwrap_or_else(|e| panic!("{e}"));
        let go = &fired.results.endpoints[0];
        assert!(go.url.starts_with("https://127.0.0.1:"), "{}", go.url);
        assert_eq!((go.requests, go.ok, fired.served), (15, 15, 15));
        assert_eq!(go.tls_version.as_deref(), Some("TLSv1.3"));
        assert_eq!(go.http_version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            fired.results.thresholds.len(),
            2,
            "the endpoint and the totals"
        );
        assert!(fired.results.thresholds.iter().all(|t| t.passed));
        assert_eq!(fired.results.run.stopped_by.as_deref(), Some("iterations"));
    }
}
