//! api-cannon: a load generator for HTTP APIs.
//!
//! Data flows one way: [`cli`] → [`targets`] → [`prepare`] (with [`plan`]) → [`run`] and
//! [`engine`] (with [`client`]) → [`record`] → [`results`] → [`export`]. [`outcome`],
//! [`server_time`], [`thresholds`] and [`signals`] are leaf vocabulary; [`progress`] shows the engine's
//! snapshots, [`merge`] and [`compare`] read results files, [`demo`] is the simulated API
//! the demo, tests and benchmark fire at, and [`app`] is the command layer. See README.md,
//! "Architecture".
//!
//! As a library: build a [`RunSpec`], [`prepare()`] it, then [`run()`] it with an
//! [`Observer`] (examples/library.rs).

/// Writes a line to stderr and ignores failure: a closed stderr (`2>&1 | head`, a dead
/// terminal) must never panic a run or lose its results, as `eprintln!` would. Not
/// wrapped: error messages stay one line to grep and copy (prose goes through
/// [`fit::say`], which wraps).
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
pub mod fit;
pub mod merge;
pub mod metrics;
pub mod outcome;
pub mod plan;
pub mod prepare;
pub mod progress;
pub mod record;
pub mod request_log;
pub mod results;
pub mod rng;
pub mod run;
pub mod server_time;
pub mod signals;
pub mod targets;
pub mod thresholds;
pub mod timeline;

pub use prepare::{Prepared, RunSpec, prepare};
pub use run::{Observer, run};
