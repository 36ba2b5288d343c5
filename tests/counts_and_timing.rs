//! What a user relies on first: exact counts, honest timing, and clean JSON.

mod support;

use support::{TempDir, cannon, demo, run};

#[test]
fn sends_exactly_iterations_times_concurrency_per_endpoint_in_bursts() {
    let server = demo();
    let dir = TempDir::new("bursts");
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"hello\"\nurl = \"{0}/hello\"\n[[target]]\nname = \"slow\"\nurl = \"{0}/delay/3ms\"\n",
            server.base_url()
        ),
    );
    let run = run(
        &dir,
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "20",
            "-c",
            "3",
            "--sleep",
            "5ms",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for (name, path) in [("hello", "/hello"), ("slow", "/delay/3ms")] {
        let e = run.endpoint(name);
        assert_eq!(e["requests"], 60, "{e}");
        assert_eq!(e["ok"], 60);
        assert_eq!(
            server.requests_to(path),
            60,
            "server's own count for {path}"
        );
    }
    let json = run.json();
    assert_eq!(json["totals"]["requests"], 120);
    assert_eq!(json["run"]["complete"], true);
    assert_eq!(json["run"]["stopped_by"], "iterations");
    // Keep-alive: one connection per lane, no more.
    assert_eq!(server.connections(), 6);
}

#[test]
fn free_running_lanes_still_send_exact_counts() {
    let server = demo();
    let dir = TempDir::new("free");
    let url = server.url("/hello");
    let run = run(
        &dir,
        &[url.as_str(), "-n", "250", "-c", "8", "--threads", "2"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let e = &run.json()["endpoints"][0];
    assert_eq!(e["requests"], 2_000);
    assert_eq!(server.requests_to("/hello"), 2_000);
    assert_eq!(run.json()["run"]["threads"], 2);
}

#[test]
fn a_20ms_server_delay_measures_20_to_22ms() {
    let server = demo();
    let dir = TempDir::new("delay");
    let url = server.url("/delay/20ms");
    let run = run(&dir, &[url.as_str(), "-n", "40", "-c", "1"]);
    let latency = &run.json()["endpoints"][0]["latency_ms"];
    let p50 = latency["p50"].as_f64().unwrap();
    assert!(
        (20.0..=22.0).contains(&p50),
        "p50 {p50} ms for a 20 ms delay: {latency}"
    );
    assert!(latency["min"].as_f64().unwrap() >= 20.0, "{latency}");
    let ttfb = run.json()["endpoints"][0]["ttfb_ms"]["p50"]
        .as_f64()
        .unwrap();
    assert!(ttfb >= 20.0 && ttfb <= p50, "ttfb {ttfb} vs latency {p50}");
}

#[test]
fn the_histogram_decodes_to_every_timed_request() {
    let server = demo();
    let dir = TempDir::new("histogram");
    let ok = server.url("/hello");
    let failing = server.url("/status/503");
    let refused = format!("http://127.0.0.1:{}/", support::refused_port());
    let run = run(
        &dir,
        &[
            ok.as_str(),
            failing.as_str(),
            refused.as_str(),
            "-n",
            "7",
            "-c",
            "3",
        ],
    );
    for e in run.json()["endpoints"].as_array().unwrap() {
        let histogram =
            api_cannon::results::decode_histogram(e["histogram"].as_str().unwrap()).unwrap();
        let kinds = &e["error_kinds"];
        let transport: u64 = ["timeout", "connect", "tls", "protocol", "body"]
            .iter()
            .map(|k| kinds[k].as_u64().unwrap())
            .sum();
        assert_eq!(
            histogram.len(),
            e["requests"].as_u64().unwrap() - transport,
            "{e}"
        );
        assert_eq!(e["requests"], 21);
        assert_eq!(
            e["requests"].as_u64(),
            Some(e["ok"].as_u64().unwrap() + e["errors"].as_u64().unwrap())
        );
    }
    let json = run.json();
    assert_eq!(json["endpoints"][1]["status"]["503"], 21);
    assert_eq!(json["endpoints"][2]["error_kinds"]["connect"], 21);
    assert!(json["endpoints"][2]["first_ms"].is_null());
    let again: api_cannon::results::Results =
        serde_json::from_value(json.clone()).expect("parses back into the model");
    assert_eq!(again.totals.requests, 63);
}

#[test]
fn output_dash_puts_only_json_on_stdout() {
    let server = demo();
    let url = server.url("/hello");
    let output = cannon()
        .args(["run", url.as_str(), "-n", "3", "-o", "-"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is exactly one JSON document");
    assert_eq!(json["totals"]["requests"], 3);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("endpoint") && stderr.contains("p99"),
        "summary goes to stderr: {stderr}"
    );
}

#[test]
fn duration_stops_a_run_and_says_so() {
    let server = demo();
    let dir = TempDir::new("duration");
    let url = server.url("/delay/1ms");
    let run = run(&dir, &[url.as_str(), "-z", "600ms", "-c", "2"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["run"]["stopped_by"], "duration");
    assert_eq!(json["run"]["complete"], true);
    assert!(json["run"]["iterations"].is_null());
    let elapsed = json["run"]["elapsed_s"].as_f64().unwrap();
    assert!((0.6..1.5).contains(&elapsed), "elapsed {elapsed}");
    let requests = json["totals"]["requests"].as_u64().unwrap();
    assert!(requests > 10, "{requests}");
    // Requests cut off at the deadline are not counted: the server saw at most one more per lane.
    assert!(server.requests_to("/delay/1ms") - requests <= 2);
}

#[test]
fn fresh_connections_open_one_connection_per_request() {
    let server = demo();
    let dir = TempDir::new("fresh");
    let url = server.url("/hello");
    let run = run(
        &dir,
        &[url.as_str(), "-n", "15", "-c", "2", "--fresh-connections"],
    );
    assert_eq!(run.json()["run"]["fresh_connections"], true);
    assert_eq!(run.json()["totals"]["ok"], 30);
    assert_eq!(server.connections(), 30);
    let e = &run.json()["endpoints"][0];
    assert_eq!(e["new_connections"], e["requests"]);
    assert!(e["latency_reused_conn_ms"]["p50"].is_null(), "{e}");
    assert!(e["connect_ms"]["p50"].as_f64().is_some());
    assert!(
        e["dns_ms"]["p50"].is_null(),
        "an IP address needs no name resolution"
    );
}

#[test]
fn the_timeline_accounts_for_every_request() {
    let server = demo();
    let dir = TempDir::new("timeline");
    let url = server.url("/delay/2ms");
    let run = run(
        &dir,
        &[url.as_str(), "-n", "12", "-c", "2", "--sleep", "40ms"],
    );
    let e = &run.json()["endpoints"][0];
    let timeline = e["timeline"].as_array().unwrap();
    let counted: u64 = timeline
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 24);
    assert!(
        timeline.len() >= 4,
        "a ~0.5 s run spans several 100 ms buckets: {timeline:?}"
    );
    assert_eq!(e["timeline_bucket_s"], 0.1);
    for bucket in timeline.iter().filter(|b| b["requests"] != 0) {
        let (min, p99, max) = (
            bucket["min_ms"].as_f64().unwrap(),
            bucket["p99_ms"].as_f64().unwrap(),
            bucket["max_ms"].as_f64().unwrap(),
        );
        assert!(min <= p99 && p99 <= max, "{bucket}");
    }
}

#[test]
fn keep_alive_splits_latency_into_new_and_reused_connections() {
    let server = demo();
    let dir = TempDir::new("reuse");
    let url = server.url("/delay/2ms");
    let run = run(&dir, &[url.as_str(), "-n", "10", "-c", "2"]);
    let e = &run.json()["endpoints"][0];
    assert_eq!(e["new_connections"], 2);
    assert_eq!(server.connections(), 2);
    let (new, reused) = (&e["latency_new_conn_ms"], &e["latency_reused_conn_ms"]);
    assert!(
        new["p50"].as_f64().unwrap() >= 2.0 && reused["p50"].as_f64().unwrap() >= 2.0,
        "{e}"
    );
    // Closed loops have no schedule: corrected and raw latency agree, and there is no lag.
    assert_eq!(e["latency_ms"]["p50"], e["latency_raw_ms"]["p50"]);
    assert!(e["schedule_lag_ms"]["p50"].is_null());
}

#[test]
fn outliers_find_the_cold_starts() {
    let server = demo();
    let dir = TempDir::new("outliers");
    let url = server.url("/slipspace/csharp");
    let run = run(
        &dir,
        &[url.as_str(), "-n", "6", "-c", "2", "--sleep", "10ms"],
    );
    let outliers = run.json()["endpoints"][0]["outliers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(outliers.len(), 10);
    // The first burst finds no warm instance: both requests pay a cold start (> 800 ms
    // for csharp), open their connections, and lead the list.
    for cold in &outliers[..2] {
        assert!(cold["latency_ms"].as_f64().unwrap() > 800.0, "{cold}");
        assert_eq!(cold["iteration"], 0);
        assert_eq!(cold["new_connection"], true);
    }
    assert!(
        outliers[2]["latency_ms"].as_f64().unwrap() < 100.0,
        "{outliers:?}"
    );
    let latencies: Vec<f64> = outliers
        .iter()
        .map(|o| o["latency_ms"].as_f64().unwrap())
        .collect();
    assert!(
        latencies.windows(2).all(|w| w[0] >= w[1]),
        "slowest first: {latencies:?}"
    );
}

#[test]
fn a_closed_stderr_loses_nothing() {
    let server = demo();
    let dir = TempDir::new("closed-stderr");
    let out = dir.join("results.json");
    let url = server.url("/hello");
    let mut child = cannon()
        .args(["run", url.as_str(), "-n", "5", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once, as `2>&1 | head -0` would: every write to stderr fails.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["totals"]["requests"], 5);
}

#[test]
fn connect_to_aims_a_name_at_an_address_and_keeps_the_host_header() {
    let server = demo();
    let dir = TempDir::new("connect-to");
    let rule = format!("api.test:80:127.0.0.1:{}", server.addr().port());
    // api.test resolves nowhere: every request reaching the server proves the rule applied.
    let run = run(
        &dir,
        &[
            "http://api.test/hello",
            "-n",
            "3",
            "--connect-to",
            rule.as_str(),
            "--compressed",
        ],
    );
    assert_eq!(run.json()["endpoints"][0]["ok"], 3, "{}", run.stderr);
    assert_eq!(server.requests_with_header("host", "api.test"), 3);
    assert_eq!(
        server.requests_with_header("accept-encoding", "gzip, br"),
        3
    );
    let bad = cannon()
        .args(["run", "http://x/", "--connect-to", "x:80"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HOST:PORT:TARGET_HOST:TARGET_PORT"));
}

#[test]
fn responses_are_not_compressed_by_default() {
    let server = demo();
    let dir = TempDir::new("uncompressed");
    let url = server.url("/hello");
    run(&dir, &[url.as_str(), "-n", "2"]);
    assert_eq!(
        server.requests_with_header("accept-encoding", "gzip, br"),
        0
    );
}

#[test]
fn http2_with_prior_knowledge_reaches_the_server_as_http2() {
    let server = demo();
    let dir = TempDir::new("h2c");
    let url = server.url("/hello");
    let h2 = run(&dir, &[url.as_str(), "-n", "4", "-c", "2", "--http2"]);
    let e = &h2.json()["endpoints"][0];
    assert_eq!(e["ok"], 8, "{}", h2.stderr);
    assert_eq!(e["http_version"], "HTTP/2");
    assert_eq!(server.requests_with_header("version", "HTTP/2.0"), 8);
    let plain = run(&dir, &[url.as_str(), "-n", "2", "--http1"]);
    assert_eq!(plain.json()["endpoints"][0]["http_version"], "HTTP/1.1");
    assert_eq!(server.requests_with_header("version", "HTTP/1.1"), 2);
}

#[test]
fn templates_render_per_request_and_plain_targets_stay_plain() {
    let server = demo();
    let dir = TempDir::new("templates");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"t\"\nurl = \"{}/status/20{{{{lane}}}}\"\n\
             headers = {{ Authorization = \"Bearer {{{{seq}}}}\" }}\nexpect_status = [200, 201]\n",
            server.base_url()
        ),
    );
    let run = run(
        &dir,
        &["--targets", targets.to_str().unwrap(), "-n", "3", "-c", "2"],
    );
    assert_eq!(run.json()["endpoints"][0]["ok"], 6, "{}", run.stderr);
    // Lane 0 asked for /status/200, lane 1 for /status/201, three times each.
    assert_eq!(
        (
            server.requests_to("/status/200"),
            server.requests_to("/status/201")
        ),
        (3, 3)
    );
    // Every request got its own number: 0 .. 5, once each.
    for seq in 0..6 {
        assert_eq!(
            server.requests_with_header("authorization", &format!("Bearer {seq}")),
            1,
            "seq {seq}"
        );
    }
}

#[test]
fn a_bad_template_is_a_config_error_with_its_place() {
    let dir = TempDir::new("bad-template");
    let targets = dir.write(
        "t.toml",
        "[[target]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/items/{{item_id}}\"\n",
    );
    let output = cannon()
        .args(["run", "--targets", targets.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("t.toml:3:7: target `t`, field `url`: unknown template value `{{item_id}}`"),
        "{stderr}"
    );
    let host = dir.write(
        "h.toml",
        "[[target]]\nname = \"h\"\nurl = \"http://{{lane}}.test/\"\n",
    );
    let output = cannon()
        .args(["run", "--targets", host.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("only stand in the path and query"));
}

#[test]
fn proxies_come_from_the_environment_only_when_asked() {
    let server = demo();
    let proxy = support::ProxyServer::start();
    let dir = TempDir::new("proxy");
    let url = server.url("/hello");
    let fire = |extra: &[&str], no_proxy: &str| {
        let out = dir.join("results.json");
        let output = cannon()
            .args(["run", url.as_str(), "-n", "3", "-q", "-o"])
            .arg(&out)
            .args(extra)
            .env("HTTP_PROXY", proxy.url())
            .env("NO_PROXY", no_proxy)
            .output()
            .unwrap();
        support::finish(output, &out)
    };
    let forwarded = || proxy.forwarded.load(std::sync::atomic::Ordering::Relaxed);
    // A stray HTTP_PROXY changes nothing without --use-env-proxy.
    assert_eq!(fire(&[], "").json()["endpoints"][0]["ok"], 3);
    assert_eq!(forwarded(), 0);
    // With it, the lane's connection goes through the proxy.
    assert_eq!(
        fire(&["--use-env-proxy"], "").json()["endpoints"][0]["ok"],
        3
    );
    assert_eq!(forwarded(), 1, "one connection for the one lane");
    // NO_PROXY names the host: straight there.
    assert_eq!(
        fire(&["--use-env-proxy"], "example.test,127.0.0.1").json()["endpoints"][0]["ok"],
        3
    );
    assert_eq!(forwarded(), 1);
    assert_eq!(server.requests_to("/hello"), 9);
    let bad = cannon()
        .args(["run", url.as_str(), "--use-env-proxy"])
        .env("HTTP_PROXY", "socks5://127.0.0.1:1080")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("HTTP_PROXY is not a proxy api-cannon can use: write http://HOST:PORT")
    );
}

#[test]
fn every_shard_of_an_every_schedule_numbers_its_requests_apart() {
    let server = demo();
    let dir = TempDir::new("every-shards");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"t\"\nurl = \"{}/hello\"\nheaders = {{ Authorization = \"Bearer {{{{seq}}}}\" }}\n",
            server.base_url()
        ),
    );
    for shard in ["0/2", "1/2"] {
        let run = run(
            &dir,
            &[
                "--targets",
                targets.to_str().unwrap(),
                "--every",
                "50ms",
                "-n",
                "3",
                "-c",
                "4",
                "--shard",
                shard,
            ],
        );
        assert_eq!(run.json()["totals"]["requests"], 6, "{}", run.stderr);
    }
    // Together the two shards sent what one process would: seq 0 .. 11, once each.
    for seq in 0..12 {
        assert_eq!(
            server.requests_with_header("authorization", &format!("Bearer {seq}")),
            1,
            "seq {seq}"
        );
    }
}

#[test]
fn runs_started_together_never_share_a_default_results_file() {
    let server = demo();
    let dir = TempDir::new("same-second");
    let url = server.url("/delay/200ms");
    // Both start within the same second, and write only at the end.
    let children: Vec<_> = (0..2)
        .map(|_| {
            cannon()
                .current_dir(dir.path())
                .args(["run", url.as_str(), "-n", "1", "-q"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("api-cannon-") && n.ends_with(".json"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
}
