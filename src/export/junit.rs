//! JUnit XML, the format every CI system reads: one testsuite per run, one testcase per
//! endpoint and per threshold; a failed threshold is a `<failure>` with measured vs limit.

use std::fmt::Write as _;

use super::Exporter;
use super::summary::number;
use crate::results::{EndpointResult, Results, ThresholdResult};

/// JUnit XML: a test case per endpoint and per threshold, for CI test reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit;

impl Exporter for Junit {
    fn render(&self, results: &Results) -> Vec<u8> {
        render(results)
    }
}

fn render(results: &Results) -> Vec<u8> {
    let failed: Vec<&ThresholdResult> = results.thresholds.iter().filter(|t| !t.passed).collect();
    let endpoint_failures = results
        .endpoints
        .iter()
        .filter(|e| failures_of(e, &failed).next().is_some())
        .count();
    let tests = results.endpoints.len() + results.thresholds.len();
    let failures = endpoint_failures + failed.len();
    let time = format!("{:.3}", results.run.elapsed_s);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"api-cannon\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"api-cannon\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\" timestamp=\"{}\">",
        attr(&results.run.started_at)
    );
    for e in &results.endpoints {
        endpoint_case(&mut out, e, &failed, &time);
    }
    for t in &results.thresholds {
        threshold_case(&mut out, t);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out.into_bytes()
}

fn failures_of<'a>(
    e: &'a EndpointResult,
    failed: &'a [&'a ThresholdResult],
) -> impl Iterator<Item = &'a &'a ThresholdResult> {
    failed
        .iter()
        .filter(move |t| t.endpoint.as_deref() == Some(e.name.as_str()))
}

fn endpoint_case(out: &mut String, e: &EndpointResult, failed: &[&ThresholdResult], time: &str) {
    let _ = writeln!(
        out,
        "    <testcase classname=\"api-cannon.endpoint\" name=\"{}\" time=\"{time}\">",
        attr(&e.name)
    );
    let broken: Vec<String> = failures_of(e, failed)
        .map(|t| format!("{}: {}", t.threshold, t.explain()))
        .collect();
    if !broken.is_empty() {
        let _ = writeln!(
            out,
            "      <failure type=\"threshold\" message=\"{} threshold(s) failed\">{}</failure>",
            broken.len(),
            text(&broken.join("\n"))
        );
    }
    let l = &e.latency_ms;
    let stats = format!(
        "{} {}\nrequests {} ok {} errors {} rps {:.1}\nlatency ms: min {} mean {} p50 {} p90 {} p99 {} max {}",
        e.method,
        e.url,
        e.requests,
        e.ok,
        e.errors,
        e.rps,
        number(l.min),
        number(l.mean),
        number(l.p50),
        number(l.p90),
        number(l.p99),
        number(l.max)
    );
    let _ = writeln!(out, "      <system-out>{}</system-out>", text(&stats));
    out.push_str("    </testcase>\n");
}

fn threshold_case(out: &mut String, t: &ThresholdResult) {
    let on = t.endpoint.as_deref().unwrap_or("all endpoints");
    let name = format!("{} [{on}]", t.threshold);
    let _ = write!(
        out,
        "    <testcase classname=\"api-cannon.threshold\" name=\"{}\" time=\"0\"",
        attr(&name)
    );
    if t.passed {
        out.push_str("/>\n");
    } else {
        let why = t.explain();
        let _ = writeln!(
            out,
            ">\n      <failure type=\"threshold\" message=\"{}\">{}</failure>\n    </testcase>",
            attr(&why),
            text(&why)
        );
    }
}

/// Escapes text for an XML attribute value, dropping characters XML 1.0 cannot carry.
fn attr(s: &str) -> String {
    text(s).replace('"', "&quot;").replace('\n', "&#10;")
}

/// Escapes text content, leaving out what XML 1.0 cannot carry at all: control characters
/// other than tab and line breaks, and the non-characters U+FFFE and U+FFFF (a document
/// holding one is not well-formed, and CI systems reject the whole report).
fn text(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{fffe}' | '\u{ffff}'))
        })
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
