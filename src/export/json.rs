//! The results as JSON (schema v1, pretty-printed, newline-terminated).

use crate::results::Results;

/// Renders results as JSON bytes.
pub fn render(results: &Results) -> Vec<u8> {
    // Serialising plain structs of numbers and strings into memory cannot fail.
    let mut bytes = serde_json::to_vec_pretty(results).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
