//! A real Prometheus scrapes `--metrics-listen` through a 10 s run: what it stored agrees
//! with the results file. Prometheus comes from Debian's package (.ci/run installs it);
//! without it this test is skipped locally and fails under CI.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{TempDir, cannon, demo};

fn prometheus() -> Option<PathBuf> {
    let candidates = [
        std::env::var("API_CANNON_PROMETHEUS").ok(),
        Some("/usr/bin/prometheus".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Kills the child when dropped: a failed assertion must not leave Prometheus running.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    listener.local_addr().expect("an address").port()
}

/// An instant query's single value, or `None` while Prometheus has none.
fn query(port: u16, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET /api/v1/query?query={encoded} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let body = response.split_once("\r\n\r\n")?.1;
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_stores_what_the_results_file_says() {
    let Some(binary) = prometheus() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Prometheus: .ci/run installs it"
        );
        eprintln!(
            "skipped: Prometheus is not installed (apt-get install prometheus, or run .ci/run)"
        );
        return;
    };
    let server = demo();
    let dir = TempDir::new("prometheus");
    let out = dir.join("r.json");
    let (hello, slow) = (server.url("/hello"), server.url("/delay/5ms"));
    let mut run = cannon()
        .args([
            "run", &hello, &slow, "-z", "10s", "--sleep", "50ms", "-c", "2", "-q",
        ])
        .args([
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-linger",
            "8s",
            "-o",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starts");
    let target = support::metrics_address(&mut run);
    let run = Killed(run);
    let config = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: api-cannon\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    );
    let web = free_port();
    let _prometheus = Killed(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    // The run ends after 10 s; two more scrapes see its final figures while it lingers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("results")).expect("JSON");
    let requests = json["totals"]["requests"].as_f64().expect("a count");
    let stored = query(web, "sum(api_cannon_requests_total)");
    assert_eq!(
        stored,
        Some(requests),
        "Prometheus's last scrape against the JSON"
    );
    let complete = query(web, "max(api_cannon_run_complete)");
    assert_eq!(complete, Some(1.0));
    let p99_s = query(
        web,
        "histogram_quantile(0.99, sum by (le) (api_cannon_request_duration_seconds_bucket))",
    )
    .expect("a quantile");
    let json_p99_s = json["totals"]["latency_ms"]["p99"].as_f64().expect("a p99") / 1e3;
    let bounds = api_cannon::metrics::BUCKETS_S;
    let upper = bounds
        .iter()
        .position(|b| json_p99_s <= *b)
        .expect("under 60 s");
    let lower = if upper == 0 { 0.0 } else { bounds[upper - 1] };
    assert!(
        (lower..=bounds[upper]).contains(&p99_s),
        "histogram_quantile {p99_s} s outside the bucket ({lower}, {}] of the JSON's p99 {json_p99_s} s",
        bounds[upper]
    );
    drop(run);
}
