//! A threshold result as the file holds it: its parts and its text side by side.

use serde::{Deserialize, Serialize};

use super::ThresholdResult;
use crate::thresholds::Threshold;

/// The JSON form of a [`ThresholdResult`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    /// Where it was evaluated; null for the totals.
    endpoint: Option<String>,
    /// The whole threshold as text: `rust:p99<200ms`.
    expr: String,
    /// The endpoint the threshold names; null for one on every endpoint and the totals.
    /// (Absent, like the other parts, in files older than them.)
    #[serde(default)]
    scope: Option<String>,
    /// Its text without the endpoint: `p99<200ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<String>,
    /// The metric as written: `p99`, `error_rate`, `server_p99`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<String>,
    /// `<`, `<=`, `>` or `>=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<String>,
    measured: Option<f64>,
    limit: f64,
    passed: bool,
}

impl From<ThresholdResult> for Record {
    fn from(r: ThresholdResult) -> Record {
        let t = &r.threshold;
        Record {
            endpoint: r.endpoint.clone(),
            expr: t.to_string(),
            scope: t.endpoint.clone(),
            condition: Some(t.condition.clone()),
            metric: Some(t.metric_text().to_owned()),
            op: Some(t.op.as_str().to_owned()),
            measured: r.measured,
            limit: r.limit,
            passed: r.passed,
        }
    }
}

impl TryFrom<Record> for ThresholdResult {
    type Error = String;

    fn try_from(r: Record) -> Result<ThresholdResult, String> {
        let threshold = match (&r.condition, &r.metric, &r.op) {
            (Some(condition), Some(metric), Some(op)) => {
                let t = Threshold::from_parts(r.scope.clone(), condition, metric, op, r.limit)?;
                if t.to_string() != r.expr {
                    return Err(format!(
                        "threshold `{}`: its parts say `{t}`; the file was edited",
                        r.expr
                    ));
                }
                t
            }
            // Files written before the parts were: the text is all there is.
            _ => Threshold::parse(&r.expr).map_err(|e| e.to_string())?,
        };
        Ok(ThresholdResult {
            endpoint: r.endpoint,
            threshold,
            measured: r.measured,
            limit: r.limit,
            passed: r.passed,
        })
    }
}
