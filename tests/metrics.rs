//! `--metrics-listen`: the Prometheus endpoint's figures against the results file, while
//! the run goes and after it, bad addresses, and a real Prometheus scraping it (installed
//! by .ci/run; skipped locally without it, never under CI).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{TempDir, cannon, demo};

/// `GET path` on 127.0.0.1:`port` with `accept`: (content type, body).
fn get(port: u16, path: &str, accept: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let kind = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    // The body is chunked or sized; the metrics are lines either way.
    (kind, body.to_owned())
}

/// The value of the sample `name{labels...}` (labels as written, in order), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The sum of every sample of `name` (any labels).
fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Starts `run ARGS --metrics-listen 127.0.0.1:0` and reads the port it prints.
fn start(args: &[&str], out: &std::path::Path) -> (Child, u16) {
    let mut child = cannon()
        .arg("run")
        .args(args)
        .args(["--metrics-listen", "127.0.0.1:0", "-q", "-o"])
        .arg(out)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let address = support::metrics_address(&mut child);
    let port = address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (child, port)
}

fn results(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out).expect("results written")).expect("JSON")
}

#[test]
fn the_endpoint_serves_what_the_results_file_says_during_and_after_the_run() {
    let server = demo();
    let dir = TempDir::new("metrics");
    let out = dir.join("r.json");
    let (url, failing) = (server.url("/hello"), server.url("/status/503"));
    let args = [
        url.as_str(),
        &failing,
        "-z",
        "3s",
        "--sleep",
        "20ms",
        "-c",
        "2",
    ];
    let (child, port) = start(
        &[&args[..], &["--metrics-linger", "4s", "--allow-failures"]].concat(),
        &out,
    );
    std::thread::sleep(Duration::from_millis(1300));
    let (_, early) = get(port, "/metrics", "text/plain");
    std::thread::sleep(Duration::from_millis(1100));
    let (kind, later) = get(port, "/metrics", "*/*");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    // The Prometheus text format: only its own types, each named as its samples are.
    for line in later.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split(' ').skip(2);
        let (name, kind) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
        assert!(!name.ends_with("_info") || kind == "gauge", "{line}");
    }
    assert!(
        !later.contains("# EOF") && later.contains("api_cannon_run_info{"),
        "{later}"
    );
    assert!(
        later.contains("# TYPE api_cannon_requests_total counter"),
        "{later}"
    );
    assert!(
        later.contains("# TYPE api_cannon_run_info gauge"),
        "{later}"
    );
    let (early_n, later_n) = (
        total(&early, "api_cannon_requests_total"),
        total(&later, "api_cannon_requests_total"),
    );
    assert!(
        early_n > 0.0 && later_n > early_n,
        "counters grow: {early_n} then {later_n}"
    );
    // After the run, while it lingers: the figures are the results file's.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (kind, last) = get(
        port,
        "/metrics",
        "application/openmetrics-text; version=1.0.0",
    );
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(last.trim_end().ends_with("# EOF"), "{last}");
    let json = results(&out);
    assert_eq!(
        total(&last, "api_cannon_requests_total"),
        json["totals"]["requests"].as_f64().unwrap_or(-1.0)
    );
    assert_eq!(sample(&last, "api_cannon_run_complete"), Some(1.0));
    for e in json["endpoints"].as_array().expect("endpoints") {
        let name = e["name"].as_str().unwrap_or_default();
        let ok =
            format!("api_cannon_requests_total{{endpoint=\"{name}\",outcome=\"ok\",kind=\"\"}}");
        assert_eq!(sample(&last, &ok), e["ok"].as_f64(), "{ok}");
        let status = format!(
            "api_cannon_requests_total{{endpoint=\"{name}\",outcome=\"error\",kind=\"status\"}}"
        );
        assert_eq!(sample(&last, &status), e["error_kinds"]["status"].as_f64());
        let count = format!("api_cannon_request_duration_seconds_count{{endpoint=\"{name}\"}}");
        assert_eq!(
            sample(&last, &count),
            e["requests"].as_f64(),
            "every response timed"
        );
        let buckets: Vec<f64> = last
            .lines()
            .filter(|l| {
                l.starts_with("api_cannon_request_duration_seconds_bucket{")
                    && l.contains(&format!("endpoint=\"{name}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert_eq!(buckets.len(), 16, "15 bounds and +Inf");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {buckets:?}"
        );
        assert_eq!(buckets.last().copied(), e["requests"].as_f64());
    }
    let (_, elsewhere) = get(port, "/", "*/*");
    assert!(elsewhere.contains("/metrics"));
    let output = child.wait_with_output().expect("ends");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn an_address_in_use_or_unparsable_stops_the_run_before_anything_is_sent() {
    let server = demo();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = taken.local_addr().expect("an address").port();
    let url = server.url("/hello");
    for (address, said) in [
        (format!("127.0.0.1:{port}"), "cannot listen there"),
        ("localhost:9464".to_owned(), "write IP:PORT"),
        ("9464".to_owned(), "write IP:PORT"),
    ] {
        let output = cannon()
            .args(["run", &url, "-n", "3", "--metrics-listen", &address])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{address}: {stderr}");
        assert!(stderr.contains(said), "{address}: {stderr}");
    }
    assert_eq!(server.requests(), 0);
}

/// Every metric the Grafana dashboard queries is one the endpoint serves.
#[test]
fn the_grafana_dashboard_queries_only_metrics_the_endpoint_serves() {
    let text = std::fs::read_to_string("deploy/grafana/api-cannon.json").expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["schemaVersion"].as_u64().is_some() && dashboard["title"] == "api-cannon");
    let mut queries: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{panel}");
        for target in panel["targets"].as_array().expect("targets") {
            queries.push(target["expr"].as_str().expect("a PromQL expr").to_owned());
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if let Some(query) = variable["query"].as_str() {
            queries.push(query.to_owned());
        }
    }
    // A run that has every family: server time and cold starts from the demo's function.
    let server = demo();
    let dir = TempDir::new("grafana");
    let out = dir.join("r.json");
    let run = cannon()
        .args(["run", &server.url("/slipspace/rust"), "-n", "3", "-q"])
        .args(["--server-time", "server-timing:handler", "-o"])
        .arg(&out)
        .status()
        .expect("runs");
    assert!(run.success());
    let results = api_cannon::app::files::read_results(&out).expect("results");
    let live = api_cannon::metrics::Live::default();
    live.publish(api_cannon::metrics::Snapshot {
        in_flight: vec![0; results.endpoints.len()],
        results,
    });
    let served = live.exposition(false);
    let mut names: Vec<String> = Vec::new();
    for query in &queries {
        let mut rest = query.as_str();
        while let Some(at) = rest.find("api_cannon_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.push(name);
        }
    }
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        let sampled = served
            .lines()
            .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
        assert!(
            sampled,
            "the dashboard queries {name}, which is not served:\n{served}"
        );
    }
}

/// The linger serves the final figures, and Ctrl-C ends it rather than the minute.
#[test]
fn ctrl_c_ends_the_linger() {
    let server = demo();
    let dir = TempDir::new("metrics-linger");
    let out = dir.join("r.json");
    let url = server.url("/hello");
    let (mut child, port) = start(&[url.as_str(), "-n", "3", "--metrics-linger", "60s"], &out);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, lingering) = get(port, "/metrics", "*/*");
    assert_eq!(sample(&lingering, "api_cannon_run_complete"), Some(1.0));
    let killed = std::process::Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "Ctrl-C did not end the linger"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
