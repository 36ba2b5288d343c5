//! compare: a real regression fails, noise and improvements do not.

mod support;

use std::path::PathBuf;

use support::{TempDir, cannon, demo};

fn run_named(dir: &TempDir, file: &str, url: &str) -> PathBuf {
    let toml = format!("[[target]]\nname = \"api\"\nurl = \"{url}\"\n");
    run_targets(dir, file, &toml, &["-n", "40", "-c", "2"])
}

/// Runs the targets file `toml` (written beside `file`) into `file`.
fn run_targets(dir: &TempDir, file: &str, toml: &str, args: &[&str]) -> PathBuf {
    let targets = dir.write(&format!("{file}.toml"), toml);
    let out = dir.join(file);
    let status = cannon()
        // Baselines, some with every request failing on purpose: data, not a dead server.
        .args([
            "run",
            "--targets",
            targets.to_str().unwrap(),
            "-q",
            "--allow-failures",
        ])
        .arg("-o")
        .arg(&out)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn compare(baseline: &PathBuf, current: &PathBuf, extra: &[&str]) -> (Option<i32>, String) {
    let output = cannon()
        .arg("compare")
        .arg(baseline)
        .arg(current)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn a_slower_endpoint_fails_and_a_faster_one_passes() {
    let server = demo();
    let dir = TempDir::new("compare");
    let fast = run_named(&dir, "fast.json", &server.url("/delay/5ms"));
    let slow = run_named(&dir, "slow.json", &server.url("/delay/20ms"));

    let (code, text) = compare(&fast, &slow, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("api: slower") && text.contains("REGRESSED"),
        "{text}"
    );

    let (code, json) = compare(&slow, &fast, &["--format", "json"]);
    assert_eq!(code, Some(0), "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["endpoints"][0]["verdict"], "faster");
    assert_eq!(json["endpoints"][0]["ks"]["significant"], true);
    let p50 = &json["endpoints"][0]["metrics"][0];
    assert_eq!(p50["metric"], "p50_ms");
    assert!(p50["relative"].as_f64().unwrap() < -0.5, "{p50}");

    let (code, same) = compare(&fast, &fast, &["--format", "markdown"]);
    assert_eq!(code, Some(0));
    assert!(
        same.contains("no significant change") && same.contains("| p99_ms |"),
        "{same}"
    );
}

#[test]
fn a_rising_error_rate_fails() {
    let server = demo();
    let dir = TempDir::new("compare-errors");
    let good = run_named(&dir, "good.json", &server.url("/hello"));
    let bad = run_named(&dir, "bad.json", &server.url("/status/503"));
    let (code, text) = compare(&good, &bad, &["--tolerance", "50%"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("error rate rose"), "{text}");
}

#[test]
fn unreadable_files_and_bad_tolerances_exit_2() {
    let dir = TempDir::new("compare-bad");
    let old = dir.write("old.json", r#"{"schema_version": 0}"#);
    let (code, _) = compare(&old, &old, &[]);
    assert_eq!(code, Some(2));
    let output = cannon()
        .args(["compare", "a.json", "b.json", "--tolerance", "lots"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tolerance"));
}

#[test]
fn a_target_missing_from_the_current_run_fails_and_no_common_endpoint_is_an_error() {
    let server = demo();
    let dir = TempDir::new("compare-missing");
    let hello = server.url("/hello");
    let baseline = run_named(&dir, "baseline.json", &hello);
    // The same endpoint under another name: a rename must not pass a gate unseen.
    let renamed = format!(
        "[[target]]\nname = \"api-v2\"\nurl = \"{hello}\"\n[[target]]\nname = \"api\"\nurl = \"{hello}\"\n"
    );
    let both = run_targets(&dir, "both.json", &renamed, &["-n", "5"]);
    let (code, out) = compare(&both, &baseline, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("api-v2 (only in the baseline: not measured now)"),
        "{out}"
    );
    let (code, out) = compare(&baseline, &both, &[]);
    assert!(out.contains("api-v2 (only in the current file)"), "{out}");
    assert_ne!(code, Some(2), "{out}");

    let only_x = format!("[[target]]\nname = \"x\"\nurl = \"{hello}\"\n");
    let x = run_targets(&dir, "x.json", &only_x, &["-n", "5"]);
    let output = cannon()
        .arg("compare")
        .arg(&baseline)
        .arg(&x)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("share no endpoint name"), "{stderr}");
}
