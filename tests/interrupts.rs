//! Long runs lose nothing: checkpoints during the run, results on Ctrl-C and SIGTERM.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{TempDir, assert_valid, cannon, demo, finish};

fn start_long_run(url: &str, out: &std::path::Path) -> Child {
    cannon()
        .args([
            "run",
            url,
            "-n",
            "100000",
            "-c",
            "2",
            "--sleep",
            "20ms",
            "--checkpoint",
            "150ms",
            "-q",
            "-o",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

fn wait_for_checkpoint(out: &std::path::Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(bytes) = std::fs::read(out) {
            // Atomic replacement: whenever the file exists it is a whole JSON document.
            return serde_json::from_slice(&bytes).expect("a checkpoint is always complete JSON");
        }
        assert!(Instant::now() < deadline, "no checkpoint file appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn interrupt_and_check(signal_name: &str, expected_code: i32) {
    let server = demo();
    let dir = TempDir::new("signal");
    let out = dir.join("results.json");
    let url = server.url("/delay/5ms");
    let child = start_long_run(&url, &out);
    let checkpoint = wait_for_checkpoint(&out);
    assert_eq!(checkpoint["run"]["complete"], false);
    assert!(checkpoint["run"]["stopped_by"].is_null());
    assert_valid(&checkpoint);
    signal(&child, signal_name);
    let run = finish(child.wait_with_output().unwrap(), &out);
    assert_eq!(run.code, Some(expected_code), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["run"]["complete"], false);
    assert_eq!(json["run"]["stopped_by"], "signal");
    assert_valid(json);
    let requests = json["totals"]["requests"].as_u64().unwrap();
    assert!(requests >= checkpoint["totals"]["requests"].as_u64().unwrap());
    // Requests in flight were allowed to finish, so the server saw exactly what was counted.
    assert_eq!(server.requests_to("/delay/5ms"), requests);
    assert_eq!(
        requests % 2,
        0,
        "bursts of 2 complete as a whole on a graceful stop"
    );
}

#[test]
fn ctrl_c_writes_partial_results_and_exits_130() {
    interrupt_and_check("INT", 130);
}

#[test]
fn sigterm_writes_partial_results_and_exits_143() {
    interrupt_and_check("TERM", 143);
}

#[test]
fn a_second_ctrl_c_abandons_requests_in_flight() {
    let server = demo();
    let dir = TempDir::new("second");
    let out = dir.join("results.json");
    let url = server.url("/delay/30s");
    let child = start_long_run(&url, &out);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests_to("/delay/30s") < 2 {
        assert!(Instant::now() < deadline, "requests never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    signal(&child, "INT");
    let run = finish(child.wait_with_output().unwrap(), &out);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second Ctrl-C must not wait for the 30 s requests"
    );
    assert_eq!(run.code, Some(130));
    assert_eq!(run.json()["run"]["stopped_by"], "signal");
    assert_eq!(
        run.json()["totals"]["requests"],
        0,
        "abandoned requests are not counted"
    );
}

/// The results file's folder vanishes during the run: the figures are written elsewhere,
/// the summary still prints, and the exit code says something went wrong.
#[test]
fn results_that_cannot_be_written_at_the_end_go_to_a_fallback_file() {
    let server = demo();
    let dir = TempDir::new("vanishing-folder");
    let folder = dir.join("out");
    std::fs::create_dir(&folder).unwrap();
    let url = server.url("/hello");
    let child = cannon()
        .args([
            "run",
            url.as_str(),
            "-z",
            "1s",
            "-c",
            "2",
            "--checkpoint",
            "10m",
            "-o",
        ])
        .arg(folder.join("results.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_dir_all(&folder).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let at = stderr.find("instead").expect("says where the results went");
    let line = stderr[..at].rsplit('\n').next().unwrap();
    let path = line
        .split("written to ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_valid(&results);
    assert!(results["totals"]["requests"].as_u64().unwrap() > 0);
    assert!(
        stderr.contains("requests in"),
        "the summary still prints: {stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn the_first_ctrl_c_says_how_many_requests_a_second_one_would_drop() {
    let server = demo();
    let dir = TempDir::new("ctrl-c-hint");
    let out = dir.join("results.json");
    let url = server.url("/delay/400ms");
    let child = cannon()
        .args(["run", &url, "-n", "1000", "-c", "3", "-o"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // Past the first 400 ms, three requests are always in flight.
    std::thread::sleep(Duration::from_millis(600));
    signal(&child, "INT");
    let run = finish(child.wait_with_output().unwrap(), &out);
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    // Wrapped at 80 columns: compare words.
    let said = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let hint = "letting 3 requests in flight finish; press Ctrl-C again to stop now and drop them";
    assert!(said.contains(hint), "{}", run.stderr);
}
