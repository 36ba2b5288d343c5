//! api-cannon: a load generator for HTTP APIs.
//!
//! Data flows one way: [`cli`] → [`targets`] / [`plan`] → [`engine`] (with [`client`]) →
//! [`record`] → [`results`] → [`export`]; [`progress`] watches the engine through
//! snapshots, [`demo`] is the simulated API the demo, tests and benchmark fire at, and
//! [`app`] wires the commands together. See README.md, "Architecture".

/// Writes a line to stderr and ignores failure: a closed stderr (`2>&1 | head`, a dead
/// terminal) must never panic a run or lose its results, as `eprintln!` would.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod app;
pub mod cli;
pub mod client;
pub mod compare;
pub mod demo;
pub mod engine;
pub mod export;
pub mod merge;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod record;
pub mod results;
pub mod rng;
pub mod targets;
pub mod thresholds;
pub mod timeline;
