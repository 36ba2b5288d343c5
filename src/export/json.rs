//! The results as JSON (schema v1, pretty-printed, newline-terminated).

use super::Exporter;
use crate::results::Results;

/// The results file: schema v1 JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Exporter for Json {
    fn render(&self, results: &Results) -> Vec<u8> {
        // Serialising plain structs of numbers and strings into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(results).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
