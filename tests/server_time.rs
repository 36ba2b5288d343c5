//! Where the time went: the server's own time beside the client's, cold starts, and the
//! request IDs that find a request in the platform's logs. Servers scripted by the tests.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Reply, ScriptedServer, TempDir, assert_valid, cannon, run};

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn server_time_and_overhead_split_the_latency() {
    let server = ScriptedServer::start(|_, _| Reply {
        delay: Duration::from_millis(20),
        headers: vec![header(
            "Server-Timing",
            "db;dur=2, app;dur=5;desc=\"the, handler\"",
        )],
        ..Reply::default()
    });
    let dir = TempDir::new("server-time");
    let url = server.url("/api");
    let run = run(
        &dir,
        &[
            &url,
            "-n",
            "10",
            "-c",
            "2",
            "--server-time",
            "server-timing:app",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_valid(run.json());
    let e = &run.json()["endpoints"][0];
    let server_p50 = number(&e["server_ms"]["p50"]);
    assert!((4.99..=5.01).contains(&server_p50), "{}", e["server_ms"]);
    // A 20 ms delay measures 20–22 ms; 5 of it is the server's own time.
    let overhead_p50 = number(&e["overhead_ms"]["p50"]);
    assert!(
        (15.0..=17.5).contains(&overhead_p50),
        "{}",
        e["overhead_ms"]
    );
    assert_eq!(e["server_time_missing"], 0);
    assert_eq!(e["server_timing_ms"]["app"]["count"], 20);
    assert_eq!(e["server_timing_ms"]["db"]["count"], 20);
    assert_eq!(e["server_timing_dropped"], 0);
    assert!(run.stderr.contains("server p50"), "{}", run.stderr);
}

#[test]
fn a_json_pointer_source_reads_the_body_and_counts_what_is_missing() {
    let server = ScriptedServer::start(|n, _| Reply {
        body: match n % 4 {
            0 => r#"{"meta":{"duration_ms":3.5}}"#.to_owned(),
            1 => r#"{"meta":{"duration_ms":-1}}"#.to_owned(),
            2 => r#"{"meta":{}}"#.to_owned(),
            _ => "not json".to_owned(),
        },
        ..Reply::default()
    });
    let dir = TempDir::new("server-time-pointer");
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[defaults]\nserver_time = \"/meta/duration_ms\"\n[[target]]\nname = \"api\"\nurl = \"{}\"\n",
            server.url("/api")
        ),
    );
    let run = run(
        &dir,
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "40",
            "-c",
            "1",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let e = run.endpoint("api");
    assert_eq!(e["server_time_missing"], 30, "{e}");
    assert!((3.49..=3.51).contains(&number(&e["server_ms"]["p50"])));
    assert!(
        run.stderr.contains("api: 30 responses had no server time"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_hostile_server_cannot_grow_the_metric_names_beyond_the_bound() {
    // 100 new names per response, 10,000 in all.
    let server = ScriptedServer::start(|n, _| {
        let names: Vec<String> = (0..100).map(|i| format!("m{n}x{i};dur=1")).collect();
        Reply {
            headers: vec![header("Server-Timing", names.join(", "))],
            ..Reply::default()
        }
    });
    let dir = TempDir::new("server-time-hostile");
    let url = server.url("/api");
    let out = dir.join("results.json");
    let child = cannon()
        .args([
            "run",
            &url,
            "-n",
            "100",
            "-c",
            "1",
            "--threads",
            "1",
            "-q",
            "-o",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let peak_kib = peak_rss_kib(child.id());
    let run = support::finish(child.wait_with_output().expect("exits"), &out);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Unbounded, 10,000 histograms of 188 KB would need ~2 GB of address space and tens
    // of MB resident; bounded, the run stays near an ordinary one's ~10 MB.
    eprintln!("peak RSS with 10,000 metric names: {} KiB", peak_kib);
    assert!(peak_kib < 48 * 1024, "peak RSS {peak_kib} KiB");
    let e = &run.json()["endpoints"][0];
    let names = e["server_timing_ms"].as_object().expect("an object");
    assert_eq!(names.len(), 17, "16 names and _other");
    assert_eq!(e["server_timing_dropped"], 10_000 - 16);
    assert_eq!(e["server_timing_ms"]["_other"]["count"], 10_000 - 16);
    // No source named: no server time, nothing missing.
    assert_eq!(e["server_ms"], Value::Null);
    assert_eq!(e["server_time_missing"], Value::Null);
    let size = std::fs::metadata(dir.join("results.json"))
        .expect("results written")
        .len();
    assert!(size < 1_000_000, "results stay small: {size} bytes");
}

/// The process's peak resident memory (VmHWM), polled until it exits.
fn peak_rss_kib(pid: u32) -> u64 {
    let mut peak = 0;
    while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        if status.contains("State:\tZ") {
            break;
        }
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        peak = peak.max(hwm.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(2));
    }
    peak
}

#[test]
fn declared_cold_starts_are_counted_exactly_with_their_request_ids() {
    let server = ScriptedServer::start(|n, _| {
        let timing = match n % 10 {
            0 => "init;dur=300, handler;dur=1",
            _ => "handler;dur=1",
        };
        Reply {
            headers: vec![
                header("Server-Timing", timing),
                header("x-request-id", format!("req-{n}")),
            ],
            ..Reply::default()
        }
    });
    let dir = TempDir::new("cold-declared");
    let url = server.url("/fn");
    let run = run(&dir, &[&url, "-n", "50", "-c", "2"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_valid(run.json());
    let cold = &run.json()["endpoints"][0]["cold_starts"];
    assert_eq!(cold["source"], "server", "{cold}");
    assert_eq!(cold["count"], 10, "requests / 10");
    assert!((299.0..=301.0).contains(&number(&cold["init_ms"]["p50"])));
    let events = cold["events"].as_array().expect("events");
    assert_eq!(events.len(), 10);
    for event in events {
        let id = event["request_id"].as_str().expect("a request id");
        let n: u64 = id.trim_start_matches("req-").parse().expect("req-N");
        assert_eq!(n % 10, 0, "the cold requests' own IDs: {event}");
        assert_eq!(number(&event["init_ms"]), 300.0);
    }
    assert!(
        run.stderr.contains(": 10 cold starts, init p50 300 ms"),
        "{}",
        run.stderr
    );
}

#[test]
fn latency_spikes_are_found_when_the_server_declares_nothing() {
    let spiky = ScriptedServer::start(|n, _| Reply {
        delay: Duration::from_millis(if n % 100 == 50 { 500 } else { 2 }),
        headers: vec![header("x-amzn-RequestId", format!("aws-{n}"))],
        ..Reply::default()
    });
    let dir = TempDir::new("cold-spikes");
    let url = spiky.url("/fn");
    let run = run(&dir, &[&url, "-n", "300", "-c", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let e = &run.json()["endpoints"][0];
    let cold = &e["cold_starts"];
    assert_eq!(cold["source"], "spikes", "{cold}");
    assert_eq!(cold["count"], 3, "{cold}");
    let ids: Vec<&str> = cold["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["request_id"].as_str())
        .collect();
    assert_eq!(ids, ["aws-50", "aws-150", "aws-250"]);
    // The slowest requests carry their IDs too.
    assert_eq!(
        e["outliers"][0]["latency_ms"]
            .as_f64()
            .map(|ms| ms >= 500.0),
        Some(true)
    );
    assert!(
        e["outliers"][0]["request_id"]
            .as_str()
            .is_some_and(|id| id.ends_with("50"))
    );

    let steady = ScriptedServer::start(|_, _| Reply {
        delay: Duration::from_millis(2),
        ..Reply::default()
    });
    let url = steady.url("/fn");
    let run = support::run(&dir, &[&url, "-n", "300", "-c", "1"]);
    assert_eq!(run.json()["endpoints"][0]["cold_starts"]["count"], 0);
}

#[test]
fn thresholds_merge_and_compare_read_the_server_figures() {
    let server = ScriptedServer::start(|n, _| Reply {
        headers: vec![header(
            "Server-Timing",
            if n == 0 {
                "init;dur=50, app;dur=1"
            } else {
                "app;dur=1"
            },
        )],
        ..Reply::default()
    });
    let dir = TempDir::new("server-gates");
    let url = server.url("/fn");
    let args = [
        url.as_str(),
        "-n",
        "10",
        "--server-time",
        "server-timing:app",
        "--threshold",
        "server_p99<10ms",
        "--threshold",
        "overhead_p99<1s",
        "--threshold",
        "cold_starts<=0",
    ];
    let first = run(&dir, &args);
    assert_eq!(
        first.code,
        Some(1),
        "cold_starts<=0 fails: {}",
        first.stderr
    );
    let verdicts: Vec<(String, bool)> = first.json()["thresholds"]
        .as_array()
        .expect("thresholds")
        .iter()
        .map(|t| {
            (
                t["expr"].as_str().unwrap_or("").to_owned(),
                t["passed"] == true,
            )
        })
        .collect();
    assert!(
        verdicts.contains(&("server_p99<10ms".to_owned(), true)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("overhead_p99<1s".to_owned(), true)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("cold_starts<=0".to_owned(), false)),
        "{verdicts:?}"
    );

    let first_file = dir.join("first.json");
    std::fs::copy(dir.join("results.json"), &first_file).expect("copied");
    let second = run(
        &dir,
        &[&url, "-n", "10", "--server-time", "server-timing:app"],
    );
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let second_file = dir.join("results.json");
    let merged = dir.join("merged.json");
    let output = cannon()
        .arg("merge")
        .args([&first_file, &second_file])
        .arg("-o")
        .arg(&merged)
        .output()
        .expect("merge runs");
    assert!(output.status.code().is_some(), "{output:?}");
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("merged")).expect("JSON");
    assert_valid(&merged);
    let e = &merged["endpoints"][0];
    assert_eq!(e["server_timing_ms"]["app"]["count"], 20);
    assert_eq!(e["server_time_missing"], 0);
    assert_eq!(
        e["cold_starts"]["count"], 1,
        "the first run's one cold start"
    );

    let output = cannon()
        .arg("compare")
        .args([&first_file, &second_file])
        .output()
        .expect("compare runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("server_p50_ms") && text.contains("server time:"),
        "{text}"
    );
}

fn log_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("the request log exists")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_request_log_has_one_line_per_request_as_ndjson_or_csv() {
    let server = ScriptedServer::start(|n, _| Reply {
        headers: vec![
            header("Server-Timing", "app;dur=0.5"),
            header("x-request-id", format!("req-{n}")),
        ],
        ..Reply::default()
    });
    let dir = TempDir::new("request-log");
    let url = server.url("/fn");
    for (file, csv) in [("requests.ndjson", false), ("requests.csv", true)] {
        let log = dir.join(file);
        let log_arg = log.to_str().expect("a UTF-8 path");
        let args = [
            url.as_str(),
            "-n",
            "25",
            "-c",
            "3",
            "--server-time",
            "server-timing:app",
        ];
        let run = run(&dir, &[&args[..], &["--log-requests", log_arg]].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_valid(run.json());
        let requests = run.json()["totals"]["requests"].as_u64().expect("a count");
        assert_eq!(requests, 75);
        let info = &run.json()["run"]["request_log"];
        assert_eq!(
            (info["lines"].as_u64(), info["dropped"].as_u64()),
            (Some(75), Some(0))
        );
        let lines = log_lines(&log);
        if csv {
            assert!(lines[0].starts_with("t_s,endpoint,lane,iteration,status,error,latency_ms"));
            assert_eq!(
                lines.len() as u64,
                requests + 1,
                "a header and a row per request"
            );
            assert!(
                lines[1..]
                    .iter()
                    .all(|l| l.contains(",200,,") && l.contains("req-"))
            );
        } else {
            assert_eq!(lines.len() as u64, requests);
            for line in &lines {
                let row: Value = serde_json::from_str(line).expect("each line is JSON");
                assert_eq!(row["status"], 200);
                assert_eq!(row["server_ms"], 0.5);
                assert!(
                    row["request_id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("req-"))
                );
                assert!(number(&row["latency_ms"]) > 0.0);
            }
        }
    }
}

#[test]
fn the_request_log_keeps_every_finished_request_after_ctrl_c() {
    let server = ScriptedServer::start(|_, _| Reply {
        delay: Duration::from_millis(5),
        ..Reply::default()
    });
    let dir = TempDir::new("request-log-signal");
    let (out, log) = (dir.join("results.json"), dir.join("requests.ndjson"));
    let child = cannon()
        .args(["run", &server.url("/fn"), "-n", "100000", "-c", "2", "-q"])
        .arg("--log-requests")
        .arg(&log)
        .arg("-o")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    // Wait until the writer has flushed some lines (it flushes every second).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 10 {
        assert!(std::time::Instant::now() < deadline, "no lines logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let run = support::finish(child.wait_with_output().expect("exits"), &out);
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    let requests = run.json()["totals"]["requests"].as_u64().expect("a count");
    assert_eq!(
        log_lines(&log).len() as u64,
        requests,
        "one line per counted request"
    );
    assert_eq!(
        run.json()["run"]["request_log"]["lines"].as_u64(),
        Some(requests)
    );
}

#[test]
fn bad_sources_and_log_paths_stop_the_run_before_anything_is_sent() {
    let dir = TempDir::new("server-time-errors");
    let targets = dir.write(
        "targets.toml",
        "[[target]]\nname = \"api\"\nurl = \"http://127.0.0.1:9/\"\nserver_time = \"duration\"\n",
    );
    let run = run(&dir, &["--targets", targets.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("field `server_time`") && run.stderr.contains("targets.toml:4:"),
        "{}",
        run.stderr
    );
    let run = support::run(&dir, &["http://127.0.0.1:9/", "--server-time", "nowhere"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let missing = dir.join("no/such/dir/requests.csv");
    let run = support::run(
        &dir,
        &[
            "http://127.0.0.1:9/",
            "--log-requests",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--log-requests"), "{}", run.stderr);
}
