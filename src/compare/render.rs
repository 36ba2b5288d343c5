//! A comparison as text, JSON or Markdown.

use std::fmt::Write as _;

use super::{Comparison, MetricChange};

fn value(metric: &str, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "-".to_owned(),
        ("error_rate", Some(v)) => format!("{:.3}%", v * 100.0),
        ("rps", Some(v)) => format!("{v:.1}"),
        (_, Some(v)) => format!("{v:.3}"),
    }
}

fn delta(m: &MetricChange) -> (String, String) {
    let absolute = match (m.metric, m.delta) {
        ("error_rate", Some(d)) => format!("{:+.3} pp", d * 100.0),
        (_, Some(d)) => format!("{d:+.3}"),
        (_, None) => "-".to_owned(),
    };
    let relative = m
        .relative
        .map_or_else(|| "-".to_owned(), |r| format!("{:+.1}%", r * 100.0));
    (absolute, relative)
}

/// Plain text for a terminal.
pub fn text(c: &Comparison) -> String {
    let mut out = format!(
        "api-cannon compare (tolerance {:.0}%)\n",
        c.tolerance * 100.0
    );
    for e in &c.endpoints {
        let _ = writeln!(
            out,
            "\n{}: {}{}  (KS D {:.4}, critical {:.4})",
            e.name,
            e.verdict,
            if e.error_rate_rose {
                "; error rate rose"
            } else {
                ""
            },
            e.ks.d,
            e.ks.critical
        );
        let _ = writeln!(
            out,
            "  {:<11} {:>12} {:>12} {:>12} {:>9}",
            "metric", "baseline", "current", "change", "%"
        );
        for m in &e.metrics {
            let (absolute, relative) = delta(m);
            let _ = writeln!(
                out,
                "  {:<11} {:>12} {:>12} {:>12} {:>9}",
                m.metric,
                value(m.metric, m.baseline),
                value(m.metric, m.current),
                absolute,
                relative
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
    let mut out = format!(
        "### api-cannon compare: {}\n\nTolerance {:.0}%; latency in ms.\n",
        if c.regressed {
            "❌ regressed"
        } else {
            "✅ no regression"
        },
        c.tolerance * 100.0
    );
    for e in &c.endpoints {
        let _ = writeln!(
            out,
            "\n**{}**: {}{} (KS D {:.4}, critical {:.4})\n",
            e.name.replace('|', "\\|"),
            e.verdict,
            if e.error_rate_rose {
                "; error rate rose"
            } else {
                ""
            },
            e.ks.d,
            e.ks.critical
        );
        out.push_str("| metric | baseline | current | change | % |\n|---|---:|---:|---:|---:|\n");
        for m in &e.metrics {
            let (absolute, relative) = delta(m);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {absolute} | {relative} |",
                m.metric,
                value(m.metric, m.baseline),
                value(m.metric, m.current)
            );
        }
    }
    for name in &c.unmatched {
        let _ = writeln!(out, "\nNot compared: {name}");
    }
    out
}
