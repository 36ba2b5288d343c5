//! api-cannon: a load generator for HTTP APIs.
//!
//! Data flows one way: [`cli`] → [`targets`] / [`plan`] → [`engine`] (with [`client`]) →
//! [`record`] → [`results`] → [`export`]; [`progress`] watches the engine through
//! snapshots, [`demo`] is the simulated API the demo, tests and benchmark fire at, and
//! [`app`] wires the commands together. See README.md, "Architecture".

pub mod app;
pub mod cli;
pub mod client;
pub mod demo;
pub mod engine;
pub mod export;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod record;
pub mod results;
pub mod targets;
pub mod timeline;
