//! The results contract: real output validates against docs/results.schema.json, so a change
//! that would break readers fails CI.

mod support;

use support::{Misbehaviour, RawServer, TempDir, assert_valid, demo, run, validator};

#[test]
fn a_complete_run_with_every_outcome_matches_the_schema() {
    let server = demo();
    let broken = RawServer::start(Misbehaviour::Garbage);
    let dir = TempDir::new("schema");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"ok\"\nurl = \"{0}/slipspace/go\"\n\
             [[target]]\nname = \"fails\"\nurl = \"{0}/status/500\"\nmethod = \"POST\"\nbody = \"x\"\n\
             [[target]]\nname = \"broken\"\nurl = \"{1}\"\n",
            server.base_url(),
            broken.url()
        ),
    );
    let run = run(
        &dir,
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "5",
            "-c",
            "2",
            "--sleep",
            "10ms",
        ],
    );
    assert_valid(run.json());
}

#[test]
fn a_duration_run_matches_the_schema() {
    let server = demo();
    let dir = TempDir::new("schema-duration");
    let url = server.url("/hello");
    let run = run(&dir, &[url.as_str(), "-z", "300ms", "-c", "3"]);
    assert!(run.json()["run"]["iterations"].is_null());
    assert_valid(run.json());
}

#[test]
fn the_schema_rejects_what_readers_would_choke_on() {
    let server = demo();
    let dir = TempDir::new("schema-negative");
    let url = server.url("/hello");
    let run = run(&dir, &[url.as_str(), "-n", "2"]);
    let validator = validator();
    let mut renamed = run.json().clone();
    let endpoint = renamed["endpoints"][0].as_object_mut().unwrap();
    let p99 = endpoint.remove("latency_ms").unwrap();
    endpoint.insert("latency".into(), p99);
    assert!(
        !validator.is_valid(&renamed),
        "a renamed field must fail validation"
    );
    let mut wrong_version = run.json().clone();
    wrong_version["schema_version"] = 2.into();
    assert!(!validator.is_valid(&wrong_version));
}
