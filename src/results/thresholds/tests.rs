use std::time::{Duration, SystemTime};

use super::*;
use crate::outcome::fixtures::{failure, response};
use crate::outcome::{ErrorKind, Outcome};
use crate::plan::{LoadSpec, Schedule};
use crate::record::Stats;
use crate::results::RunMeta;

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
    let spec = LoadSpec {
        iterations: Some(1),
        ..LoadSpec::default()
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
    assert_eq!(out[0].threshold.to_string(), "api.test/x:error_rate<60%");
}

#[test]
fn nothing_to_measure_fails_with_a_null_measurement() {
    let r = results(&[], 3);
    let out = evaluate(&r, &[Threshold::parse("p50<1s").unwrap()]);
    assert!(out.iter().all(|t| !t.passed && t.measured.is_none()));
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
