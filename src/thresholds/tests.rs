use std::time::{Duration, SystemTime};

use super::*;
use crate::outcome::fixtures::{failure, response};
use crate::outcome::{ErrorKind, Outcome};
use crate::plan::{RunSpec, Schedule};
use crate::record::Stats;
use crate::results::RunMeta;

#[test]
fn parses_every_metric_and_operator() {
    let cases = [
        ("p99<200ms", None, Metric::Percentile(99.0), Op::Lt, 200.0),
        (
            "rust:p95<=50ms",
            Some("rust"),
            Metric::Percentile(95.0),
            Op::Le,
            50.0,
        ),
        (
            "p99.9 < 1s",
            None,
            Metric::Percentile(99.9),
            Op::Lt,
            1_000.0,
        ),
        ("error_rate<1%", None, Metric::ErrorRate, Op::Lt, 0.01),
        ("error_rate<=0.05", None, Metric::ErrorRate, Op::Le, 0.05),
        ("errors<=0", None, Metric::Errors, Op::Le, 0.0),
        ("rps>=100", None, Metric::Rps, Op::Ge, 100.0),
        ("mean>1ms", None, Metric::Mean, Op::Gt, 1.0),
        (
            "127.0.0.1:8080/hello:max<2s",
            Some("127.0.0.1:8080/hello"),
            Metric::Max,
            Op::Lt,
            2_000.0,
        ),
    ];
    for (expr, endpoint, metric, op, limit) in cases {
        let t = Threshold::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.endpoint.as_deref(), t.metric, t.op),
            (endpoint, metric, op),
            "{expr}"
        );
        assert!((t.limit - limit).abs() < 1e-9, "{expr}: {}", t.limit);
    }
}

#[test]
fn bad_expressions_say_what_is_wrong_and_show_the_form() {
    for (expr, problem) in [
        ("p99 200ms", "no comparison"),
        ("p101<1s", "not a percentile"),
        ("latency<1s", "unknown metric `latency`"),
        ("p99<fast", "not a duration"),
        ("error_rate<150%", "not a rate"),
        (":p99<1s", "empty endpoint"),
        ("rps>=-3", "not a non-negative number"),
    ] {
        let message = Threshold::parse(expr).unwrap_err().to_string();
        assert!(message.contains(problem), "{expr}: {message}");
        assert!(
            message.contains("expected [ENDPOINT:]METRIC OP VALUE"),
            "{message}"
        );
    }
}

fn results(latencies_ms: &[u64], failures: u64) -> Results {
    let mut stats = Stats::new(1);
    for (i, &ms) in latencies_ms.iter().enumerate() {
        stats.endpoints[0].record(&Outcome {
            iteration: i as u64,
            ..response(i as u64, ms, 200)
        });
    }
    for _ in 0..failures {
        stats.endpoints[0].record(&failure(0, ErrorKind::Timeout));
    }
    let spec = RunSpec {
        iterations: Some(1),
        ..RunSpec::default()
    };
    let target =
        crate::targets::from_urls(&["http://api.test/x".to_owned()], Duration::from_secs(1))
            .unwrap();
    let meta = RunMeta {
        spec: &spec,
        timeout: Duration::from_secs(1),
        threads: 1,
        started_at: SystemTime::UNIX_EPOCH,
        elapsed: Duration::from_secs(10),
        stopped_by: None,
        schedule: Schedule::Free,
    };
    Results::build(&meta, &target, &stats)
}

#[test]
fn evaluates_on_every_endpoint_and_the_totals() {
    let r = results(&(1..=100).collect::<Vec<_>>(), 0);
    // p99 is HdrHistogram's value for the 99th of 100 values: 99 ms to within 0.1%.
    let out = evaluate(
        &r,
        &[
            Threshold::parse("p99<=100ms").unwrap(),
            Threshold::parse("p99<98ms").unwrap(),
        ],
    );
    assert_eq!(out.len(), 4);
    assert_eq!(
        (out[0].endpoint.as_deref(), out[0].passed),
        (Some("api.test/x"), true)
    );
    assert_eq!((out[1].endpoint.as_deref(), out[1].passed), (None, true));
    assert!(!out[2].passed && !out[3].passed);
    // The threshold measures what the results report.
    assert_eq!(out[0].measured, r.endpoints[0].latency_ms.p99);
    assert_eq!(out[1].measured, r.totals.latency_ms.p99);
}

#[test]
fn a_named_endpoint_is_evaluated_alone() {
    let r = results(&[5, 10], 2);
    let out = evaluate(
        &r,
        &[Threshold::parse("api.test/x:error_rate<60%").unwrap()],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].measured, Some(0.5));
    assert!(out[0].passed);
    assert_eq!(out[0].expr, "api.test/x:error_rate<60%");
}

#[test]
fn nothing_to_measure_fails_with_a_null_measurement() {
    let r = results(&[], 3);
    let out = evaluate(&r, &[Threshold::parse("p50<1s").unwrap()]);
    assert!(out.iter().all(|t| !t.passed && t.measured.is_none()));
}

#[test]
fn error_counts_fail_for_good_once_reached() {
    let t = Threshold::parse("errors<5").unwrap();
    assert!(!t.failed_for_good(4.0));
    assert!(t.failed_for_good(5.0));
    assert!(!Threshold::parse("p99<1s").unwrap().failed_for_good(5_000.0));
}

#[test]
fn p99_9_measures_exactly_the_p99_9_the_results_show() {
    // 1,000 responses: 999 at 10 ms, one cold start at 500 ms.
    let mut latencies = vec![10; 999];
    latencies.push(500);
    let r = results(&latencies, 0);
    let out = evaluate(&r, &[Threshold::parse("api.test/x:p99.9<100ms").unwrap()]);
    assert_eq!(out[0].measured, r.endpoints[0].latency_ms.p99_9);
    assert!(out[0].passed, "{:?}", out[0]);
}

#[test]
fn an_error_rate_met_exactly_is_equal_to_its_limit() {
    // 7 errors in 1,000 requests is 0.7%, though 0.7/100 is 0.006999999999999999.
    let r = results(&vec![1; 993], 7);
    let judge = |expr: &str| evaluate(&r, &[Threshold::parse(expr).unwrap()])[0].passed;
    assert!(judge("api.test/x:error_rate<=0.7%"));
    assert!(!judge("api.test/x:error_rate<0.7%"));
    assert!(judge("api.test/x:error_rate>=0.7%"));
    let r = results(&vec![1; 991], 9);
    let out = evaluate(
        &r,
        &[Threshold::parse("api.test/x:error_rate<0.9%").unwrap()],
    );
    assert!(!out[0].passed, "9 in 1,000 is not under 0.9%");
}
