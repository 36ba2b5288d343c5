//! Live progress on stderr: an indicatif bar with a line per endpoint on a terminal, a
//! status line every 10 s otherwise (CI logs), nothing with `--quiet`. It reads merged
//! snapshots the run driver (src/run.rs) takes a few times a second; it never touches the hot path.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::Stats;

/// Endpoints shown with a line of their own; the rest are summed in the main bar.
const MAX_ENDPOINT_LINES: usize = 10;

/// What the run will do, for the bar's length and ETA.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Requests the run sends if nothing stops it early.
    pub total_requests: Option<u64>,
    /// The run's duration limit.
    pub duration: Option<Duration>,
    /// Endpoint names, in results order.
    pub names: Vec<String>,
}

/// The progress display.
pub struct Progress {
    mode: Mode,
    scope: Scope,
    last: Option<(Duration, u64)>,
    /// The terminal's columns, which every line fits.
    width: usize,
}

enum Mode {
    Off,
    Lines,
    Bar {
        _multi: MultiProgress,
        main: ProgressBar,
        endpoints: Vec<ProgressBar>,
    },
}

impl Progress {
    /// A bar on a terminal, status lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool, scope: Scope) -> Progress {
        let mode = match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Mode::Off,
            (false, false) => Mode::Lines,
            (false, true) => bar(&scope),
        };
        let width = crate::fit::stderr_width();
        Progress {
            mode,
            scope,
            last: None,
            width,
        }
    }

    /// How often it wants a snapshot; `None` when it shows nothing.
    pub fn interval(&self) -> Option<Duration> {
        match self.mode {
            Mode::Off => None,
            Mode::Lines => Some(Duration::from_secs(10)),
            Mode::Bar { .. } => Some(Duration::from_millis(250)),
        }
    }

    /// Shows the figures of a snapshot taken `elapsed` into the run.
    pub fn update(&mut self, stats: &Stats, elapsed: Duration) {
        let done = stats.requests();
        let rps = match self.last {
            Some((at, before)) if elapsed > at => {
                (done - before.min(done)) as f64 / (elapsed - at).as_secs_f64()
            }
            _ => done as f64 / elapsed.as_secs_f64().max(1e-3),
        };
        self.last = Some((elapsed, done));
        let errors = stats.errors();
        // Skipped flow steps will never be sent: they count towards the expected total.
        let settled = done + stats.skipped();
        match &self.mode {
            Mode::Off => {}
            Mode::Lines => crate::say!("{}", self.status_line(settled, errors, rps, elapsed)),
            Mode::Bar {
                main, endpoints, ..
            } => {
                // The message first: setting the position redraws, and would show the
                // previous message beside the new count.
                match self.scope.total_requests {
                    Some(_) => {
                        main.set_message(format!("{rps:.0} req/s, {errors} errors"));
                        main.set_position(settled);
                    }
                    None => {
                        main.set_message(format!(
                            "{done} requests, {rps:.0} req/s, {errors} errors"
                        ));
                        main.set_position(elapsed.as_millis() as u64);
                    }
                }
                for ((line, e), name) in endpoints
                    .iter()
                    .zip(&stats.endpoints)
                    .zip(&self.scope.names)
                {
                    let latency = e.latency();
                    let p = |q| latency.value_at_quantile(q) as f64 / 1_000.0;
                    let (p50, p99) = if latency.is_empty() {
                        (0.0, 0.0)
                    } else {
                        (p(0.5), p(0.99))
                    };
                    let figures = (e.requests, e.errors(), p50, p99);
                    line.set_message(endpoint_line(name, figures, self.width));
                }
            }
        }
    }

    fn status_line(&self, done: u64, errors: u64, rps: f64, elapsed: Duration) -> String {
        let of = match (self.scope.total_requests, self.scope.duration) {
            (Some(total), _) => format!("{done}/{total} requests"),
            (None, Some(d)) => format!(
                "{done} requests, {:.0}/{:.0} s",
                elapsed.as_secs_f64(),
                d.as_secs_f64()
            ),
            (None, None) => format!("{done} requests"),
        };
        format!(
            "api-cannon: {of}, {rps:.0} req/s, {errors} errors, {:.0} s elapsed",
            elapsed.as_secs_f64()
        )
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(&self) {
        if let Mode::Bar {
            main, endpoints, ..
        } = &self.mode
        {
            for line in endpoints {
                line.finish_and_clear();
            }
            main.finish_and_clear();
        }
    }
}

/// Columns of an endpoint line besides its name (and the two of its indent).
const FIGURES_WIDTH: usize = 57;

/// An endpoint's live line within `width` columns (its indent included): the name cut
/// with `…` when there is no room for all of it, then requests, errors, p50 and p99.
fn endpoint_line(
    name: &str,
    (requests, errors, p50, p99): (u64, u64, f64, f64),
    width: usize,
) -> String {
    let room = width.saturating_sub(2 + FIGURES_WIDTH).max(8);
    let name: String = match name.chars().count() > room {
        true => name.chars().take(room - 1).chain(['…']).collect(),
        false => name.to_owned(),
    };
    format!("{name:<room$} {requests:>9} req {errors:>7} err  p50 {p50:>8.2}  p99 {p99:>8.2} ms")
}

fn bar(scope: &Scope) -> Mode {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let (length, template) = match (scope.total_requests, scope.duration) {
        (Some(total), _) => (
            total,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} (ETA {eta}) {msg}",
        ),
        (None, Some(d)) => (
            d.as_millis() as u64,
            "{spinner} [{elapsed_precise}] {wide_bar} (ETA {eta}) {msg}",
        ),
        (None, None) => (1, "{spinner} [{elapsed_precise}] {msg}"),
    };
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    let main = multi.add(ProgressBar::new(length).with_style(style));
    let line_style =
        ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    let endpoints = scope
        .names
        .iter()
        .take(MAX_ENDPOINT_LINES)
        .map(|_| multi.add(ProgressBar::new(1).with_style(line_style.clone())))
        .collect();
    Mode::Bar {
        _multi: multi,
        main,
        endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_line_fits_80_columns_whatever_its_name() {
        for name in ["go", "127.0.0.1:8787/slipspace/csharp/with/a/long/path"] {
            let line = endpoint_line(name, (123_456_789, 1_234_567, 1_234.5, 12_345.6), 80);
            assert!(2 + line.chars().count() <= 80, "{line}");
        }
        let cut = endpoint_line("a".repeat(40).as_str(), (1, 0, 1.0, 1.0), 80);
        assert!(
            cut.starts_with(&"a".repeat(20)) && cut.contains('…'),
            "{cut}"
        );
    }
}
