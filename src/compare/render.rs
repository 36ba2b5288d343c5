//! A comparison as text, JSON or Markdown. Text and Markdown share their rows and headings.

use std::fmt::Write as _;

use super::{Comparison, EndpointComparison, MetricChange};

fn value(metric: &str, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "-".to_owned(),
        ("error_rate", Some(v)) => format!("{:.3}%", v * 100.0),
        ("rps", Some(v)) => format!("{v:.1}"),
        ("cold_starts", Some(v)) => format!("{v:.0}"),
        (_, Some(v)) => format!("{v:.3}"),
    }
}

/// metric, baseline, current, absolute change, relative change.
fn row(m: &MetricChange) -> [String; 5] {
    let absolute = match (m.metric, m.delta) {
        ("error_rate", Some(d)) => format!("{:+.3} pp", d * 100.0),
        (_, Some(d)) => format!("{d:+.3}"),
        (_, None) => "-".to_owned(),
    };
    let relative = m
        .relative
        .map_or_else(|| "-".to_owned(), |r| format!("{:+.1}%", r * 100.0));
    [
        m.metric.to_owned(),
        value(m.metric, m.baseline),
        value(m.metric, m.current),
        absolute,
        relative,
    ]
}

/// "slower; error rate rose (KS D 0.4123, critical 0.0512)".
fn verdict(e: &EndpointComparison) -> String {
    let errors = if e.error_rate_rose {
        "; error rate rose"
    } else {
        ""
    };
    // The distributions can differ (D above critical) while p50 and p99 stay within the
    // tolerance, or move apart: say so, or the label contradicts the figures beside it.
    let within = if e.verdict == "no significant change" && e.ks.significant {
        "; the distributions differ, but p50 and p99 did not both move one way beyond the tolerance"
    } else {
        ""
    };
    let server = match (e.server_verdict, e.server_ks) {
        (Some(server), Some(ks)) => {
            let (d, critical) = (ks.d, ks.critical);
            format!("\n  server time: {server} (KS D {d:.4}, critical {critical:.4})")
        }
        _ => String::new(),
    };
    format!(
        "{}{errors} (KS D {:.4}, critical {:.4}{within}){server}",
        e.verdict, e.ks.d, e.ks.critical
    )
}

/// Plain text for a terminal.
pub fn text(c: &Comparison) -> String {
    let mut out = format!(
        "api-cannon compare (tolerance {:.0}%)\n",
        c.tolerance * 100.0
    );
    for e in &c.endpoints {
        let _ = writeln!(out, "\n{}: {}", e.name, verdict(e));
        let heading = ["metric", "baseline", "current", "change", "%"].map(str::to_owned);
        for [metric, baseline, current, change, relative] in
            std::iter::once(heading).chain(e.metrics.iter().map(row))
        {
            let _ = writeln!(
                out,
                "  {metric:<15} {baseline:>12} {current:>12} {change:>12} {relative:>9}"
            );
        }
    }
    for name in &c.unmatched {
        let _ = writeln!(out, "\nnot compared: {name}");
    }
    let _ = writeln!(
        out,
        "\n{}",
        if c.regressed {
            "REGRESSED"
        } else {
            "no regression"
        }
    );
    out
}

/// JSON for tools.
pub fn json(c: &Comparison) -> String {
    let mut text = serde_json::to_string_pretty(c).unwrap_or_default();
    text.push('\n');
    text
}

/// GitHub-flavoured Markdown (for a step summary or a pull-request comment).
pub fn markdown(c: &Comparison) -> String {
    let status = if c.regressed {
        "❌ regressed"
    } else {
        "✅ no regression"
    };
    let mut out = format!(
        "### api-cannon compare: {status}\n\nTolerance {:.0}%; latency in ms.\n",
        c.tolerance * 100.0
    );
    for e in &c.endpoints {
        let _ = writeln!(
            out,
            "\n**{}**: {}\n",
            crate::export::markdown::escape(&e.name),
            verdict(e)
        );
        out.push_str("| metric | baseline | current | change | % |\n|---|---:|---:|---:|---:|\n");
        for cells in e.metrics.iter().map(row) {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    for name in &c.unmatched {
        let _ = writeln!(
            out,
            "\nNot compared: {}",
            crate::export::markdown::escape(name)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::KsTest;

    #[test]
    fn a_significant_difference_within_the_tolerance_is_explained() {
        let endpoint = |d: f64| EndpointComparison {
            name: "items".into(),
            verdict: "no significant change",
            error_rate_rose: false,
            ks: KsTest {
                d,
                critical: 0.5,
                significant: d > 0.5,
            },
            metrics: Vec::new(),
            server_verdict: None,
            server_ks: None,
        };
        assert!(verdict(&endpoint(0.8)).contains("the distributions differ, but p50 and p99"));
        assert!(!verdict(&endpoint(0.2)).contains("differ"));
    }
}
