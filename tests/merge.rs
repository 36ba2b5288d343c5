//! merge: many runs (or shards) into one, losslessly.

mod support;

use std::path::PathBuf;

use api_cannon::results::decode_histogram;
use support::{TempDir, assert_valid, cannon, demo, run};

fn run_to(dir: &TempDir, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = cannon()
        .arg("run")
        .args(args)
        .args(["-q", "-o"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success() || status.code() == Some(1), "{status}");
    out
}

fn merge(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let output = cannon().arg("merge").args(args).output().unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (
        output.status.code(),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn three_processes_merge_into_exact_totals_and_histograms() {
    let server = demo();
    let dir = TempDir::new("merge");
    let fast = server.url("/hello");
    let slow = server.url("/delay/3ms");
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            run_to(
                &dir,
                &format!("run{i}.json"),
                &[
                    fast.as_str(),
                    slow.as_str(),
                    "-n",
                    &(5 + i).to_string(),
                    "-c",
                    "2",
                ],
            )
        })
        .collect();
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let (code, merged, stderr) = merge(&paths);
    assert_eq!(code, Some(0), "{stderr}");
    assert_valid(&merged);
    let inputs: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    for (i, e) in merged["endpoints"].as_array().unwrap().iter().enumerate() {
        let sum = |field: &str| {
            inputs
                .iter()
                .map(|r| r["endpoints"][i][field].as_u64().unwrap())
                .sum::<u64>()
        };
        for field in ["requests", "ok", "errors", "new_connections"] {
            assert_eq!(e[field].as_u64().unwrap(), sum(field), "{field}");
        }
        // The merged p99 is the p99 of the combined histogram.
        let mut combined =
            decode_histogram(inputs[0]["endpoints"][i]["histogram"].as_str().unwrap()).unwrap();
        for r in &inputs[1..] {
            combined
                .add(decode_histogram(r["endpoints"][i]["histogram"].as_str().unwrap()).unwrap())
                .unwrap();
        }
        let merged_histogram = decode_histogram(e["histogram"].as_str().unwrap()).unwrap();
        assert_eq!(merged_histogram.len(), combined.len());
        let p99 = (combined.value_at_quantile(0.99) as f64 / 1_000.0)
            .min(e["latency_ms"]["max"].as_f64().unwrap());
        assert!(
            (e["latency_ms"]["p99"].as_f64().unwrap() - p99).abs() < 0.001,
            "{} vs {p99}",
            e["latency_ms"]
        );
        let timeline: u64 = e["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(timeline, sum("requests"));
    }
    assert_eq!(merged["totals"]["requests"], (10 + 12 + 14) * 2);
    assert_eq!(server.requests(), (10 + 12 + 14) * 2);
    assert_eq!(merged["run"]["concurrency"], 6);
    let started = |r: &serde_json::Value| r["run"]["started_at"].as_str().unwrap().to_owned();
    assert_eq!(started(&merged), inputs.iter().map(started).min().unwrap());
    // A merged file is an ordinary results file: compare and merge read it like any other.
    let merged_path = dir.write("merged.json", &merged.to_string());
    let again = cannon()
        .arg("compare")
        .arg(&merged_path)
        .arg(&merged_path)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let (code, remerged, _) = merge(&[merged_path.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert_eq!(remerged["totals"]["requests"], merged["totals"]["requests"]);
}

#[test]
fn shards_split_the_work_and_merge_back_to_the_whole() {
    let server = demo();
    let dir = TempDir::new("shards");
    let url = server.url("/hello");
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            run_to(
                &dir,
                &format!("shard{i}.json"),
                &[
                    url.as_str(),
                    "-n",
                    "4",
                    "-c",
                    "5",
                    "--shard",
                    &format!("{i}/3"),
                ],
            )
        })
        .collect();
    let shard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    assert_eq!(shard["shard"], serde_json::json!({"index": 1, "count": 3}));
    // Lanes 0..5 split 2, 2, 1 over three shards.
    assert_eq!(shard["totals"]["requests"], 8);
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let (code, merged, stderr) = merge(&paths);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(merged["totals"]["requests"], 20);
    assert!(merged["shard"].is_null());
    // Each shard records the whole run's settings: the merge keeps them, not their sum.
    assert_eq!(merged["run"]["concurrency"], 5);
    assert!(!stderr.contains("warning"), "{stderr}");
    let (_, partial, warning) = merge(&paths[..2]);
    assert_eq!(partial["totals"]["requests"], 16);
    assert!(warning.contains("missing 2/3"), "{warning}");
}

#[test]
fn a_shard_without_a_lane_is_refused() {
    let output = cannon()
        .args(["run", "http://127.0.0.1:9/", "-c", "2", "--shard", "2/3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--shard 2/3 gets no lane"));
}

#[test]
fn mismatched_files_are_refused_unless_union_and_thresholds_apply_again() {
    let server = demo();
    let dir = TempDir::new("merge-union");
    let a = run_to(
        &dir,
        "a.json",
        &[&server.url("/hello"), "-n", "3", "--threshold", "errors<=0"],
    );
    let b = run_to(&dir, "b.json", &[&server.url("/status/500"), "-n", "3"]);
    let (code, _, stderr) = merge(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("endpoints differ") && stderr.contains("--union"),
        "{stderr}"
    );
    let (code, merged, _) = merge(&["--union", a.to_str().unwrap(), b.to_str().unwrap()]);
    // The first file's `errors<=0` is evaluated again on the merged figures: it now fails.
    assert_eq!(code, Some(1));
    assert_eq!(merged["endpoints"].as_array().unwrap().len(), 2);
    assert!(
        merged["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["passed"] == false)
    );
}

#[test]
fn other_schema_versions_and_garbage_are_named() {
    let dir = TempDir::new("merge-bad");
    let future = dir.write("future.json", r#"{"schema_version": 2}"#);
    let junk = dir.write("junk.json", "not json");
    for (file, fragment) in [
        (&future, "schema_version 2"),
        (&junk, "not an api-cannon results file"),
    ] {
        let (code, _, stderr) = merge(&[file.to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(
            stderr.contains(fragment) && stderr.contains(file.to_str().unwrap()),
            "{stderr}"
        );
    }
    let server = demo();
    let one = run(&dir, &[&server.url("/hello"), "-n", "2"]);
    assert_eq!(one.code, Some(0));
}

#[test]
fn merge_writes_junit_and_markdown_reports_of_the_whole() {
    let server = demo();
    let dir = TempDir::new("merge-reports");
    let url = server.url("/hello");
    let a = run_to(&dir, "a.json", &[url.as_str(), "-n", "2"]);
    let b = run_to(&dir, "b.json", &[url.as_str(), "-n", "3"]);
    let (junit, markdown) = (dir.join("junit.xml"), dir.join("summary.md"));
    let output = cannon()
        .arg("merge")
        .args([
            a.as_os_str(),
            b.as_os_str(),
            "--threshold".as_ref(),
            "errors<=0".as_ref(),
            "--junit".as_ref(),
            junit.as_os_str(),
        ])
        .args([
            "--markdown".as_ref(),
            markdown.as_os_str(),
            "-o".as_ref(),
            dir.join("m.json").as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        roxmltree::Document::parse(&xml).is_ok() && xml.contains("errors&lt;=0"),
        "{xml}"
    );
    assert!(
        std::fs::read_to_string(&markdown)
            .unwrap()
            .contains("| 5 | 5 | 0 |")
    );
}

#[test]
fn a_threshold_naming_no_endpoint_of_the_merge_is_refused() {
    let server = demo();
    let dir = TempDir::new("merge-typo");
    let url = server.url("/hello");
    let a = run_to(&dir, "a.json", &[url.as_str(), "-n", "3"]);
    let out = dir.join("merged.json");
    let (code, _, stderr) = merge(&[
        a.to_str().unwrap(),
        "--threshold",
        "chekout:p99<200ms",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`chekout`"), "{stderr}");
    assert!(
        !out.exists(),
        "nothing is written for a gate that judges nothing"
    );
}

#[test]
fn merging_one_file_changes_none_of_its_figures() {
    let server = demo();
    let dir = TempDir::new("merge-one");
    let url = server.url("/hello");
    // Fresh connections: every request has connect-phase figures.
    let a = run_to(
        &dir,
        "a.json",
        &[url.as_str(), "-n", "20", "--fresh-connections"],
    );
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    let (code, merged, stderr) = merge(&[a.to_str().unwrap(), "-o", "-"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (before, after) = (&original["endpoints"][0], &merged["endpoints"][0]);
    for field in ["latency_ms", "connect_ms", "ttfb_ms"] {
        assert_eq!(before[field], after[field], "{field}");
    }
    let elapsed = |r: &serde_json::Value| r["run"]["elapsed_s"].as_f64().unwrap();
    assert!((elapsed(&original) - elapsed(&merged)).abs() < 1e-6);
    let rps = |r: &serde_json::Value| r["totals"]["rps"].as_f64().unwrap();
    assert!((rps(&original) / rps(&merged) - 1.0).abs() < 1e-9);
}

/// A change to a results file's JSON.
type Edit = fn(&mut serde_json::Value);

/// A run's results with one field changed as a hand (or a disk) might have changed it.
fn edited(
    dir: &TempDir,
    from: &PathBuf,
    name: &str,
    edit: impl Fn(&mut serde_json::Value),
) -> PathBuf {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
    edit(&mut json);
    dir.write(name, &json.to_string())
}

#[test]
fn a_file_whose_counts_do_not_add_up_is_refused_naming_file_and_endpoint() {
    let dir = TempDir::new("merge-counts");
    let server = demo();
    let good = run_to(&dir, "good.json", &[&server.url("/hello"), "-n", "4"]);
    let cases: [(&str, Edit); 3] = [
        ("more-requests.json", |j| {
            j["endpoints"][0]["requests"] = 9.into()
        }),
        ("errors-not-kinds.json", |j| {
            j["endpoints"][0]["errors"] = 1.into();
            j["endpoints"][0]["requests"] = 5.into();
        }),
        ("bucket-width.json", |j| {
            j["endpoints"][0]["timeline_bucket_s"] = 0.into()
        }),
    ];
    for (name, edit) in cases {
        let bad = edited(&dir, &good, name, edit);
        let (code, _, stderr) = merge(&[good.to_str().unwrap(), bad.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(bad.to_str().unwrap()) && stderr.contains("127.0.0.1"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_threshold_that_does_not_parse_is_refused_not_dropped() {
    // Before, merge re-parsed each `expr` and silently left out those that failed, so a
    // file whose gate had failed merged into no threshold at all and exit 0.
    let dir = TempDir::new("merge-expr");
    let server = demo();
    let failed = run_to(
        &dir,
        "failed.json",
        &[&server.url("/hello"), "-n", "2", "--threshold", "errors<0"],
    );
    let bad = edited(&dir, &failed, "bad-expr.json", |j| {
        j["thresholds"][0]["expr"] = "p99 under a second".into();
    });
    let (code, _, stderr) = merge(&[bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(bad.to_str().unwrap()) && stderr.contains("p99 under a second"),
        "{stderr}"
    );
    let (code, merged, _) = merge(&[failed.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(merged["thresholds"][0]["passed"], false);
}

#[test]
fn counts_that_cannot_be_added_and_times_that_cannot_be_written_are_refused() {
    let dir = TempDir::new("merge-invariants");
    let server = demo();
    let good = run_to(&dir, "good.json", &[&server.url("/hello"), "-n", "4"]);
    let cases: [(&str, Edit); 4] = [
        // Added to the good file's 4, 2^64 - 1 requests would wrap to 3.
        ("wraps.json", |j| {
            let e = &mut j["endpoints"][0];
            e["requests"] = u64::MAX.into();
            e["ok"] = u64::MAX.into();
        }),
        ("more-statuses.json", |j| {
            j["endpoints"][0]["status"]["200"] = 100.into()
        }),
        ("histogram-not-statuses.json", |j| {
            j["endpoints"][0]["status"]["200"] = 3.into();
            j["endpoints"][0]["status"]["500"] = 0.into();
        }),
        ("year-10000.json", |j| {
            j["run"]["started_at"] = "9999-12-31T23:59:59.000Z".into()
        }),
    ];
    for (name, edit) in cases {
        let bad = edited(&dir, &good, name, edit);
        let (code, _, stderr) = merge(&[good.to_str().unwrap(), bad.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(bad.to_str().unwrap()), "{name}: {stderr}");
    }
}

#[test]
fn thresholds_are_read_from_their_parts_so_names_cannot_change_a_gate() {
    let dir = TempDir::new("merge-threshold-parts");
    let server = demo();
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"a<b:c\"\nurl = \"{}/hello\"\n[target.thresholds]\nrps = \"<0\"\n",
            server.base_url()
        ),
    );
    let failed = run_to(
        &dir,
        "failed.json",
        &["--targets", targets.to_str().unwrap(), "-n", "2"],
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&failed).unwrap()).unwrap();
    let t = &json["thresholds"][0];
    assert_eq!(
        (
            &t["scope"],
            &t["metric"],
            &t["op"],
            &t["condition"],
            &t["passed"]
        ),
        (
            &"a<b:c".into(),
            &"rps".into(),
            &"<".into(),
            &"rps<0".into(),
            &false.into()
        ),
        "{t}"
    );
    let (code, merged, stderr) = merge(&[failed.to_str().unwrap(), "-o", "-"]);
    assert_eq!(code, Some(1), "the failed gate still fails: {stderr}");
    assert_eq!(merged["thresholds"][0]["scope"], "a<b:c");

    let cases: [(&str, Edit); 2] = [
        ("other-text.json", |j| {
            j["thresholds"][0]["expr"] = "a<b:c:rps<1000".into()
        }),
        ("other-limit.json", |j| {
            j["thresholds"][0]["limit"] = 5.into()
        }),
    ];
    for (name, edit) in cases {
        let bad = edited(&dir, &failed, name, edit);
        let (code, _, stderr) = merge(&[bad.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains("the file was edited"), "{name}: {stderr}");
    }
}
