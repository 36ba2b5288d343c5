use super::*;

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

#[test]
fn error_counts_fail_for_good_once_reached() {
    let t = Threshold::parse("errors<5").unwrap();
    assert!(!t.failed_for_good(4.0));
    assert!(t.failed_for_good(5.0));
    assert!(!Threshold::parse("p99<1s").unwrap().failed_for_good(5_000.0));
}

#[test]
fn a_name_with_angle_brackets_keeps_them_and_reads_back_as_written() {
    // Results files write `NAME:CONDITION`; a flow named `login->checkout` must read back.
    for expr in ["login->checkout:p99<2s", "a<b:errors<=0", "x>y:rps>=10"] {
        let t = Threshold::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.to_string(), expr);
        assert_eq!(Threshold::parse(&t.to_string()), Ok(t));
    }
    let t = Threshold::parse("login->checkout:p99<2s").unwrap();
    assert_eq!(
        (t.endpoint.as_deref(), t.metric, t.op, t.limit),
        (
            Some("login->checkout"),
            Metric::Percentile(99.0),
            Op::Lt,
            2_000.0
        )
    );
}

#[test]
fn server_overhead_and_cold_start_metrics_parse_and_read_back() {
    use super::Stat;
    for (expr, metric, limit) in [
        (
            "server_p99<5ms",
            Metric::ServerTime(Stat::Percentile(99.0)),
            5.0,
        ),
        ("server_mean<=1s", Metric::ServerTime(Stat::Mean), 1_000.0),
        (
            "overhead_p99.9<20ms",
            Metric::Overhead(Stat::Percentile(99.9)),
            20.0,
        ),
        ("rust:overhead_max<1s", Metric::Overhead(Stat::Max), 1_000.0),
        ("cold_starts<=3", Metric::ColdStarts, 3.0),
    ] {
        let t = Threshold::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.metric, t.limit), (metric, limit), "{expr}");
        assert_eq!(t.to_string(), expr);
    }
    for bad in [
        "server_rps>1",
        "server_<1ms",
        "overhead_errors<1",
        "server_p99<5",
        "cold_starts<1ms",
    ] {
        assert!(Threshold::parse(bad).is_err(), "{bad}");
    }
    let cold = Threshold::parse("cold_starts<3").unwrap();
    assert!(!cold.failed_for_good(2.0) && cold.failed_for_good(3.0));
}
