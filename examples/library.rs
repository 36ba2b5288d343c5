//! Using api-cannon as a library: start the demo API, fire a short run at one endpoint
//! through the same plan → engine → results pipeline the binary uses, and print the p99.
//!
//!     cargo run --release --example library

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use api_cannon::client::RequestTemplate;
use api_cannon::demo::DemoServer;
use api_cannon::engine;
use api_cannon::plan::{Plan, RunSpec};
use api_cannon::results::{Results, RunMeta};
use api_cannon::targets;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DemoServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 1)?;
    let url = format!("{}/slipspace/go", server.base_url());
    let timeout = Duration::from_secs(5);
    let targets = targets::from_urls(&[url], timeout)?;
    let templates = targets
        .iter()
        .map(|t| RequestTemplate::new(t).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = RunSpec {
        iterations: Some(20),
        concurrency: 3,
        sleep: Duration::from_millis(20),
        ..RunSpec::default()
    };
    let plan = Plan::new(targets, spec);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started_at = SystemTime::now();
    let finished = runtime.block_on(async {
        let (_control, run) = engine::start(&plan, templates)?;
        Ok::<_, std::io::Error>(run.finish().await)
    })?;
    let meta = RunMeta {
        spec: &plan.spec,
        timeout,
        threads: plan.threads.len(),
        started_at,
        elapsed: finished.elapsed,
        stopped_by: Some(finished.stopped_by.into()),
        schedule: plan.schedule,
    };
    let results = Results::build(&meta, &plan.targets, &finished.stats);
    let go = &results.endpoints[0];
    println!(
        "{}: {} requests, p99 {:?} ms (server counted {})",
        go.name,
        go.requests,
        go.latency_ms.p99,
        server.requests()
    );
    Ok(())
}
