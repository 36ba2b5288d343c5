//! CI gates: thresholds decide the exit code; JUnit and Markdown reports; --fail-fast;
//! --dry-run sends nothing.

mod support;

use support::{TempDir, assert_valid, cannon, demo, finish, run};

#[test]
fn a_failed_threshold_exits_1_and_says_so_everywhere() {
    let server = demo();
    let dir = TempDir::new("gate-fail");
    let url = server.url("/delay/20ms");
    let junit = dir.join("junit.xml");
    let markdown = dir.join("summary.md");
    let out = dir.join("results.json");
    let output = cannon()
        .args([
            "run",
            url.as_str(),
            "-n",
            "5",
            "--threshold",
            "p99<5ms",
            "--threshold",
            "error_rate<1%",
            "--junit",
        ])
        .arg(&junit)
        .arg("--markdown")
        .arg(&markdown)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let run = finish(output, &out);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_valid(run.json());
    let thresholds = run.json()["thresholds"].as_array().unwrap();
    // Each names no endpoint: evaluated on the endpoint and on the totals.
    assert_eq!(thresholds.len(), 4);
    assert_eq!(thresholds[0]["passed"], false);
    assert!(thresholds[0]["measured"].as_f64().unwrap() >= 20.0);
    assert_eq!(thresholds[0]["limit"], 5.0);
    assert_eq!(thresholds[2]["passed"], true);
    assert!(run.stderr.contains("✗ p99<5ms"), "{}", run.stderr);
    assert!(run.stderr.contains("✓ error_rate<1%"), "{}", run.stderr);

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    let suite = suites
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(
        suite.attribute("tests"),
        Some("5"),
        "one testcase per endpoint and per evaluated threshold"
    );
    assert_eq!(suite.attribute("failures"), Some("3"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 5);
    assert!(
        cases
            .iter()
            .all(|c| c.attribute("name").is_some() && c.attribute("classname").is_some())
    );
    let failed = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    assert_eq!(failed, 3);
    // The figures read as the summary writes them ("-" when nothing was timed).
    let out = cases[0]
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(out.contains("latency ms: min "), "{out}");
    assert!(!out.contains("Some(") && !out.contains("None"), "{out}");
    let failure = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("limit < 5.000 ms"),
        "{xml}"
    );

    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(md.contains("| endpoint | requests |"), "{md}");
    assert!(md.contains("**Thresholds:** 2 of 4 passed"), "{md}");
    // Punctuation is backslash-escaped, so a name cannot open markup; GitHub shows `p99<5ms`.
    assert!(md.contains("❌ | p99\\<5ms |"), "{md}");
}

#[test]
fn passing_thresholds_exit_0() {
    let server = demo();
    let dir = TempDir::new("gate-pass");
    let url = server.url("/hello");
    let run = run(
        &dir,
        &[
            url.as_str(),
            "-n",
            "5",
            "--threshold",
            "p99<5s",
            "--threshold",
            "errors<=0",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.json()["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["passed"] == true)
    );
}

#[test]
fn thresholds_in_the_targets_file_apply_per_target() {
    let server = demo();
    let dir = TempDir::new("gate-file");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[defaults.thresholds]\nerror_rate = \"<50%\"\n\
             [[target]]\nname = \"ok\"\nurl = \"{0}/hello\"\n\
             [[target]]\nname = \"broken\"\nurl = \"{0}/status/503\"\n[target.thresholds]\np99 = \"<10s\"\n",
            server.base_url()
        ),
    );
    let run = run(&dir, &["--targets", targets.to_str().unwrap(), "-n", "4"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let t: Vec<(String, String, bool)> = run.json()["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["endpoint"].as_str().unwrap().to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
                t["passed"] == true,
            )
        })
        .collect();
    assert_eq!(
        t,
        [
            ("ok".into(), "ok:error_rate<50%".into(), true),
            ("broken".into(), "broken:error_rate<50%".into(), false),
            ("broken".into(), "broken:p99<10s".into(), true),
        ]
    );
}

#[test]
fn a_bad_threshold_is_a_usage_error_that_shows_the_form() {
    let server = demo();
    for (args, fragment) in [
        (
            vec!["--threshold", "p99 < soon"],
            "expected [ENDPOINT:]METRIC OP VALUE",
        ),
        (
            vec!["--threshold", "nosuch:p99<1s"],
            "names endpoint `nosuch`",
        ),
    ] {
        let output = cannon()
            .arg("run")
            .arg(server.url("/hello"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(fragment), "{stderr}");
    }
    let dir = TempDir::new("gate-bad-file");
    let targets = dir.write("t.toml", "[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n[target.thresholds]\np99 = \"fast\"\n");
    let output = cannon()
        .args(["run", "--targets", targets.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("t.toml:5:7: target `a`, field `thresholds`"),
        "{stderr}"
    );
    assert_eq!(server.requests(), 0);
}

#[test]
fn fail_fast_stops_once_an_error_count_can_no_longer_pass() {
    let server = demo();
    let dir = TempDir::new("fail-fast");
    let url = server.url("/status/500");
    let run = run(
        &dir,
        &[
            url.as_str(),
            "-n",
            "100000",
            "--sleep",
            "10ms",
            "--threshold",
            "errors<3",
            "--fail-fast",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["run"]["stopped_by"], "threshold");
    assert_eq!(json["run"]["complete"], false);
    assert!(
        json["totals"]["requests"].as_u64().unwrap() < 1_000,
        "stopped early: {}",
        json["totals"]
    );
    assert_valid(json);
    assert!(run.stderr.contains("can no longer pass"), "{}", run.stderr);
}

#[test]
fn dry_run_describes_the_plan_and_sends_nothing() {
    let server = demo();
    let url = server.url("/hello");
    let output = cannon()
        .args([
            "run",
            url.as_str(),
            "--dry-run",
            "-n",
            "50",
            "-c",
            "3",
            "--sleep",
            "1s",
            "--threshold",
            "p99<1s",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for fragment in [
        "nothing was sent",
        "bursts of 3",
        "requests: 150 in all",
        "49s (at least",
        "p99<1s",
        "/hello",
    ] {
        assert!(
            stdout.contains(fragment),
            "{fragment:?} missing from:\n{stdout}"
        );
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn fail_fast_stops_at_a_checkpoint_where_a_latency_threshold_failed() {
    let server = demo();
    let dir = TempDir::new("fail-fast-checkpoint");
    let url = server.url("/delay/20ms");
    let run = run(
        &dir,
        &[
            url.as_str(),
            "-n",
            "100000",
            "--threshold",
            "p50<1ms",
            "--fail-fast",
            "--checkpoint",
            "300ms",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json()["run"]["stopped_by"], "threshold");
    assert!(run.json()["run"]["elapsed_s"].as_f64().unwrap() < 30.0);
    assert!(
        run.stderr.contains("failed at a checkpoint"),
        "{}",
        run.stderr
    );
}

#[test]
fn dry_run_gives_the_exact_time_the_last_request_is_due() {
    let output = cannon()
        .args([
            "run",
            "http://127.0.0.1:9/",
            "--dry-run",
            "--rate",
            "5",
            "-n",
            "10",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("duration: 1s 800ms (until the last request is due)"),
        "{stdout}"
    );
}

#[test]
fn a_failing_gate_says_why_even_when_quiet_and_after_a_merge() {
    let server = demo();
    let dir = TempDir::new("quiet-gate");
    let url = server.url("/hello");
    let out = dir.join("a.json");
    let run = cannon()
        .args([
            "run",
            url.as_str(),
            "-n",
            "3",
            "-q",
            "--threshold",
            "p99<0ms",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("✗ p99<0ms"), "{stderr}");
    let merged = cannon()
        .arg("merge")
        .arg(&out)
        .args(["--threshold", "p99<0ms", "--threshold", "errors<1", "-o"])
        .arg(dir.join("m.json"))
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&merged.stderr);
    assert!(
        stderr.contains("✗ p99<0ms") && stderr.contains("✓ errors<1"),
        "{stderr}"
    );
}
