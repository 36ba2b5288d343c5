//! The summary as GitHub-flavoured Markdown (for `$GITHUB_STEP_SUMMARY`): the same table as
//! the terminal summary, then the thresholds.

use std::fmt::Write as _;

use super::Exporter;
use super::summary::{HEADERS, heading, rows};
use crate::results::Results;

/// A Markdown summary (tables), for `$GITHUB_STEP_SUMMARY` and pull requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

impl Exporter for Markdown {
    fn render(&self, results: &Results) -> Vec<u8> {
        render(results)
    }
}

fn render(results: &Results) -> Vec<u8> {
    let mut out = String::new();
    let _ = writeln!(out, "### {}\n", heading(results));
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let align: Vec<&str> = HEADERS
        .iter()
        .enumerate()
        .map(|(i, _)| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for row in rows(results) {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if results.run.health.saturated {
        let _ = writeln!(
            out,
            "\n> **Warning:** the generator was saturated ({}): these numbers describe api-cannon, not the server.",
            escape(&results.run.health.reasons.join("; "))
        );
    }
    if !results.thresholds.is_empty() {
        let passed = results.thresholds.iter().filter(|t| t.passed).count();
        let _ = writeln!(
            out,
            "\n**Thresholds:** {passed} of {} passed\n",
            results.thresholds.len()
        );
        let _ = writeln!(out, "| | threshold | on | result |");
        let _ = writeln!(out, "|---|---|---|---|");
        for t in &results.thresholds {
            let mark = if t.passed { "✅" } else { "❌" };
            let on = t.endpoint.as_deref().unwrap_or("all endpoints");
            let _ = writeln!(
                out,
                "| {mark} | {} | {} | {} |",
                escape(&t.threshold.to_string()),
                escape(on),
                escape(&t.explain())
            );
        }
    }
    out.into_bytes()
}

/// Text exactly as written, whatever it holds: every ASCII punctuation mark is
/// backslash-escaped (CommonMark allows it for all of them), so a name can open no link,
/// image, tag, emphasis or code span and split no table cell; line breaks and other
/// control characters become spaces, so a name cannot start a row of its own (a fake
/// ✅ threshold line) in a job summary.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}
