//! `[[flow]]`: ordered steps with values captured from one response into the next request,
//! checked at the demo API's items store and in the results a user reads.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{TempDir, assert_valid, cannon, demo, finish, run};

/// The README's CRUD flow: create, read (capturing the ETag), update with If-Match, delete.
const CRUD: &str = r#"
[defaults]
headers = { "Content-Type" = "application/json" }

[[flow]]
name = "items"
[[flow.step]]
name = "create"
method = "POST"
url = "BASE/items"
body = '{"id": "{{uuid}}", "name": "slipspace-{{seq}}"}'
expect_status = [201]
capture = { item_id = "/id" }
[[flow.step]]
name = "read"
url = "BASE/items/{{item_id}}"
capture = { etag = "header:ETag" }
[[flow.step]]
name = "update"
method = "PUT"
url = "BASE/items/{{item_id}}"
headers = { "If-Match" = "{{etag}}" }
body = '{"name": "updated-{{seq}}"}'
[[flow.step]]
name = "delete"
method = "DELETE"
url = "BASE/items/{{item_id}}"
expect_status = [204]
"#;

fn write(dir: &TempDir, base: &str, toml: &str) -> String {
    let path = dir.write("targets.toml", &toml.replace("BASE", base));
    path.to_str().unwrap().to_owned()
}

fn count(endpoint: &Value, field: &str) -> u64 {
    endpoint[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {endpoint}"))
}

#[test]
fn a_crud_flow_deletes_every_item_it_creates() {
    let server = demo();
    let dir = TempDir::new("flow-crud");
    let targets = write(&dir, &server.base_url(), CRUD);
    // Bursts of 3 instances, as the README runs it.
    let run = run(
        &dir,
        &[
            "--targets",
            &targets,
            "-n",
            "20",
            "-c",
            "3",
            "--sleep",
            "1ms",
            "-q",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_valid(run.json());
    for step in ["create", "read", "update", "delete"] {
        let e = run.endpoint(&format!("items/{step}"));
        assert_eq!(
            (count(e, "requests"), count(e, "ok")),
            (60, 60),
            "{step}: {e}"
        );
        assert_eq!(
            (e["kind"].as_str(), e["flow"].as_str()),
            (Some("request"), Some("items"))
        );
        assert_eq!(count(e, "skipped"), 0);
    }
    let flow = run.endpoint("items");
    assert_eq!(flow["kind"], "flow");
    assert_eq!(
        flow["steps"],
        serde_json::json!(["items/create", "items/read", "items/update", "items/delete"])
    );
    assert_eq!((count(flow, "requests"), count(flow, "ok")), (60, 60));
    // Totals count HTTP requests: the steps', not the flow's instances again.
    assert_eq!(run.json()["totals"]["requests"], 240);
    // At the server: 60 items created, each read, updated (If-Match held) and deleted.
    assert_eq!(server.items(), (60, 60, 0));
    assert_eq!(server.requests_to("/items"), 60);
    assert_eq!(server.requests_to("/items/{id}"), 180);
}

#[test]
fn a_flow_takes_the_time_of_its_steps_end_to_end() {
    let server = demo();
    let dir = TempDir::new("flow-latency");
    let toml = r#"
[[flow]]
name = "slow"
[[flow.step]]
name = "first"
url = "BASE/delay/20ms"
[[flow.step]]
name = "second"
url = "BASE/delay/20ms"
"#;
    let targets = write(&dir, &server.base_url(), toml);
    let run = run(&dir, &["--targets", &targets, "-n", "10", "-q"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let step = run.endpoint("slow/first")["latency_ms"]["p50"]
        .as_f64()
        .unwrap();
    assert!(
        (20.0..22.0).contains(&step),
        "a 20 ms step measured {step} ms"
    );
    let flow = &run.endpoint("slow")["latency_ms"];
    let (min, p50) = (flow["min"].as_f64().unwrap(), flow["p50"].as_f64().unwrap());
    assert!(min >= 40.0, "two 20 ms steps end to end in {min} ms");
    assert!(p50 < 44.0, "two 20 ms steps end to end at p50 {p50} ms");
}

#[test]
fn a_capture_that_finds_nothing_ends_the_instance_and_skips_the_rest() {
    let server = demo();
    let dir = TempDir::new("flow-capture");
    let toml = CRUD.replace(
        r#"capture = { item_id = "/id" }"#,
        r#"capture = { item_id = "/no/such" }"#,
    );
    let targets = write(&dir, &server.base_url(), &toml);
    let run = run(&dir, &["--targets", &targets, "-n", "5", "-c", "2", "-q"]);
    assert_valid(run.json());
    let create = run.endpoint("items/create");
    assert_eq!(count(create, "requests"), 10);
    assert_eq!(create["error_kinds"]["capture"], 10);
    let why = create["error_details"]["capture"].as_str().unwrap();
    assert!(
        why.contains("`item_id`") && why.contains("/no/such"),
        "{why}"
    );
    // The response did come: its status and latency are still recorded.
    assert_eq!(create["status"]["201"], 10);
    assert!(create["latency_ms"]["p50"].as_f64().is_some());
    for step in ["read", "update", "delete"] {
        let e = run.endpoint(&format!("items/{step}"));
        assert_eq!(
            (count(e, "requests"), count(e, "skipped")),
            (0, 10),
            "{step}"
        );
    }
    let flow = run.endpoint("items");
    assert_eq!((count(flow, "requests"), count(flow, "ok")), (10, 0));
    assert_eq!(flow["error_kinds"]["capture"], 10);
    // Never sent with an empty value: nothing reached /items/{id}.
    assert_eq!(server.requests_to("/items/{id}"), 0);
}

#[test]
fn a_failed_status_ends_the_instance_under_its_kind() {
    let server = demo();
    let dir = TempDir::new("flow-status");
    // The update's If-Match names a version the item never had: 412, not the expected 2xx.
    let toml = CRUD.replace(r#""If-Match" = "{{etag}}""#, r#""If-Match" = "\"v9\"""#);
    let targets = write(&dir, &server.base_url(), &toml);
    let run = run(&dir, &["--targets", &targets, "-n", "4"]);
    assert!(
        run.stderr.contains("later steps skipped: items/delete 4"),
        "the summary names what was skipped: {}",
        run.stderr
    );
    let update = run.endpoint("items/update");
    assert_eq!(update["error_kinds"]["status"], 4);
    assert_eq!(update["status"]["412"], 4);
    assert_eq!(count(run.endpoint("items/delete"), "skipped"), 4);
    assert_eq!(run.endpoint("items")["error_kinds"]["status"], 4);
    // The items were created and never deleted: the flow stopped where it failed.
    assert_eq!(server.items(), (4, 0, 4));
}

#[test]
fn captured_values_are_percent_encoded_in_urls() {
    let server = demo();
    let dir = TempDir::new("flow-encoding");
    let toml = CRUD.replace("{{uuid}}", "a b/c?{{seq}}");
    let targets = write(&dir, &server.base_url(), &toml);
    let run = run(&dir, &["--targets", &targets, "-n", "2", "-q"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Read, update and delete found the item: its id travelled as one path segment.
    assert_eq!(count(run.endpoint("items"), "ok"), 2);
    assert_eq!(server.items(), (2, 2, 0));
}

#[test]
fn a_flow_follows_an_open_schedule() {
    let server = demo();
    let dir = TempDir::new("flow-rate");
    let targets = write(&dir, &server.base_url(), CRUD);
    let run = run(
        &dir,
        &["--targets", &targets, "--rate", "100", "-n", "30", "-q"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let flow = run.endpoint("items");
    assert_eq!(count(flow, "ok"), 30);
    // The first step was due on the schedule; later steps follow it at once.
    let create = run.endpoint("items/create");
    assert!(
        create["schedule_lag_ms"]["p50"].as_f64().is_some(),
        "{create}"
    );
    assert!(run.endpoint("items/read")["schedule_lag_ms"]["p50"].is_null());
    assert_eq!(server.items(), (30, 30, 0));
}

#[test]
fn ctrl_c_lets_started_instances_finish_so_their_clean_up_runs() {
    let server = demo();
    let dir = TempDir::new("flow-interrupt");
    // A slow step between create and delete: a Ctrl-C will land mid-instance.
    let toml = CRUD.replace(
        "[[flow.step]]\nname = \"delete\"",
        "[[flow.step]]\nname = \"wait\"\nurl = \"BASE/delay/150ms\"\n[[flow.step]]\nname = \"delete\"",
    );
    let targets = write(&dir, &server.base_url(), &toml);
    let out = dir.join("results.json");
    let child = cannon()
        .args([
            "run",
            "--targets",
            &targets,
            "-n",
            "1000",
            "-c",
            "3",
            "-q",
            "-o",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.items().0 < 6 {
        assert!(Instant::now() < deadline, "no items created");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (created, deleted, _) = server.items();
    assert!(
        created > deleted,
        "instances are in flight when the signal lands"
    );
    let status = std::process::Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = finish(child.wait_with_output().unwrap(), &out);
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    let (created, deleted, stored) = server.items();
    assert_eq!(
        (deleted, stored),
        (created, 0),
        "every created item was deleted"
    );
    assert_eq!(count(run.endpoint("items"), "ok"), created);
}

#[test]
fn thresholds_judge_a_flow_only_by_name_and_merged_totals_count_requests_once() {
    let server = demo();
    let dir = TempDir::new("flow-gates");
    let targets = write(&dir, &server.base_url(), CRUD);
    let mut files = Vec::new();
    for part in ["a.json", "b.json"] {
        let out = dir.join(part);
        let status = cannon()
            .args(["run", "--targets", &targets, "-n", "50", "-q"])
            .args([
                "--threshold",
                "p99<10s",
                "--threshold",
                "items:p99<10s",
                "-o",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        files.push(out);
    }
    let first: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let judged: Vec<(&str, &str)> = first["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["expr"].as_str().unwrap(),
                t["endpoint"].as_str().unwrap_or("(totals)"),
            )
        })
        .collect();
    // The unnamed threshold: the four steps and the totals, not the flow's end-to-end figure.
    assert_eq!(
        judged,
        [
            ("p99<10s", "items/create"),
            ("p99<10s", "items/read"),
            ("p99<10s", "items/update"),
            ("p99<10s", "items/delete"),
            ("p99<10s", "(totals)"),
            ("items:p99<10s", "items"),
        ]
    );
    // Measured like the totals row: on the requests, not on the flows' end-to-end times.
    let totals_entry = first["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["endpoint"].is_null())
        .unwrap();
    assert_eq!(
        totals_entry["measured"],
        first["totals"]["latency_ms"]["p99"]
    );
    let merged = dir.join("merged.json");
    let status = cannon()
        .arg("merge")
        .args(&files)
        .arg("-o")
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success());
    let merged: Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    assert_valid(&merged);
    assert_eq!(
        merged["totals"]["requests"], 400,
        "two runs of 50 instances of 4 steps"
    );
    let flow = merged["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "items")
        .unwrap();
    assert_eq!(
        (flow["kind"].as_str(), flow["ok"].as_u64()),
        (Some("flow"), Some(100))
    );
}
