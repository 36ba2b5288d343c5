//! The command line's view of a run: a progress bar or status lines, checkpoints written to
//! the results file and the HTML report, and SIGINT / SIGTERM as stop requests.

use std::time::Duration;

use crate::export::{Destination, Exporter as _, Json, Outputs};
use crate::plan::Plan;
use crate::progress::{Progress, Scope};
use crate::record::Stats;
use crate::results::Results;
use crate::run::{Observer, Stopping};
use crate::signals::{Signal, Signals};

/// Watches a run from the terminal.
pub(super) struct Terminal<'a> {
    quiet: bool,
    progress: Progress,
    signals: Option<Signals>,
    /// The first stop signal received: the exit code of a run it stopped.
    first_signal: Option<Signal>,
    destination: &'a Destination,
    outputs: &'a Outputs,
    /// The `--metrics-listen` endpoint, fed a snapshot every second.
    metrics: Option<&'a crate::metrics::MetricsServer>,
}

/// How often the metrics endpoint's figures are renewed.
const METRICS_EVERY: Duration = Duration::from_secs(1);

impl<'a> Terminal<'a> {
    pub(super) fn new(
        quiet: bool,
        plan: &Plan,
        destination: &'a Destination,
        outputs: &'a Outputs,
    ) -> Terminal<'a> {
        let scope = Scope {
            total_requests: plan.total_requests(),
            duration: plan.spec.duration,
            names: plan.targets.iter().map(|t| t.name.clone()).collect(),
        };
        Terminal {
            quiet,
            progress: Progress::new(quiet, scope),
            signals: None,
            first_signal: None,
            destination,
            outputs,
            metrics: None,
        }
    }

    /// Feeds `metrics` with a snapshot every second.
    pub(super) fn with_metrics(
        mut self,
        metrics: Option<&'a crate::metrics::MetricsServer>,
    ) -> Self {
        self.metrics = metrics;
        self
    }

    /// The first stop signal, if one came.
    pub(super) fn first_signal(&self) -> Option<Signal> {
        self.first_signal
    }
}

impl Observer for Terminal<'_> {
    fn started(&mut self) -> std::io::Result<()> {
        // From here on Ctrl-C is a stop request, not the end of the process.
        self.signals = Some(Signals::new()?);
        Ok(())
    }

    fn progress_every(&self) -> Option<Duration> {
        self.progress.interval()
    }

    fn progress(&mut self, stats: &Stats, elapsed: Duration) {
        self.progress.update(stats, elapsed);
    }

    fn live_every(&self) -> Option<Duration> {
        self.metrics.map(|_| METRICS_EVERY)
    }

    fn live(&mut self, results: &Results, in_flight: &[u64]) {
        if let Some(metrics) = self.metrics {
            metrics.publish(crate::metrics::Snapshot {
                results: results.clone(),
                in_flight: in_flight.to_vec(),
            });
        }
    }

    fn wants_checkpoints(&self) -> bool {
        self.destination.takes_checkpoints()
    }

    fn checkpoint(&mut self, results: &Results) {
        if self.destination.takes_checkpoints()
            && let Err(e) = self.destination.write(&Json.render(results))
        {
            // The run goes on: the final write may still succeed (disk freed, folder fixed).
            crate::say!("api-cannon: checkpoint failed: {e}");
        }
        if let Err(e) = self.outputs.write_checkpoint(results) {
            crate::say!("api-cannon: checkpoint report failed: {e}");
        }
    }

    async fn stop_requested(&mut self) {
        match &mut self.signals {
            Some(signals) => {
                let signal = signals.next().await;
                self.first_signal.get_or_insert(signal);
            }
            None => std::future::pending().await,
        }
    }

    fn stopping(&mut self, why: Stopping) {
        if self.quiet {
            return;
        }
        self.progress.finish();
        let said = match why {
            Stopping::Asked { in_flight: 0 } => "stopping".to_owned(),
            Stopping::Asked { in_flight } => format!(
                "stopping: letting {in_flight} requests in flight finish; press Ctrl-C \
                 again to stop now and drop them"
            ),
            Stopping::ThresholdFailed => "a threshold failed at a checkpoint (--fail-fast)".into(),
            Stopping::ErrorsExceeded => {
                "an error-count threshold can no longer pass (--fail-fast)".into()
            }
        };
        crate::fit::say(&format!("api-cannon: {said}"));
    }

    fn finished(&mut self) {
        self.progress.finish();
    }
}

/// The columns to fit what is printed to stderr: the terminal's, 80 when it is not one
/// (a CI log, a pipe).
pub(super) fn width() -> usize {
    crate::fit::stderr_width()
}
