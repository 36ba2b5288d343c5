//! Signed requests: AWS SigV4 against the demo's IAM-style route, which computes every
//! signature again and refuses what does not match.

mod support;

use api_cannon::demo::secure::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use support::{TempDir, cannon, demo};

/// Runs with the demo's credentials in the environment (or `secret` instead of its key).
fn signed_run(dir: &TempDir, args: &[&str], secret: &str, token: Option<&str>) -> support::Run {
    let out = dir.join("results.json");
    let _ = std::fs::remove_file(&out);
    let mut command = cannon();
    command
        .arg("run")
        .args(args)
        .args(["-q", "-o"])
        .arg(&out)
        .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN");
    if let Some(token) = token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    support::finish(command.output().expect("runs"), &out)
}

#[test]
fn signed_requests_pass_the_demo_s_check_and_unsigned_or_wrong_ones_do_not() {
    let server = demo();
    let dir = TempDir::new("sigv4");
    let url = server.url("/secure/hello");
    let sign = ["--aws-sigv4", "us-east-1:execute-api"];
    let run = signed_run(
        &dir,
        &[&[url.as_str(), "-n", "3", "-c", "2"][..], &sign].concat(),
        DEMO_SECRET_KEY,
        None,
    );
    assert_eq!(
        run.json()["endpoints"][0]["ok"],
        6,
        "{}",
        run.json()["endpoints"][0]
    );
    let session = signed_run(
        &dir,
        &[&[url.as_str(), "-n", "2"][..], &sign].concat(),
        DEMO_SECRET_KEY,
        Some("demo-session"),
    );
    assert_eq!(
        session.json()["endpoints"][0]["ok"],
        2,
        "with a session token"
    );

    let unsigned = signed_run(&dir, &[url.as_str(), "-n", "2"], DEMO_SECRET_KEY, None);
    assert_eq!(unsigned.json()["endpoints"][0]["status"]["403"], 2);
    let wrong = signed_run(
        &dir,
        &[&[url.as_str(), "-n", "2"][..], &sign].concat(),
        "not-the-secret",
        None,
    );
    assert_eq!(wrong.json()["endpoints"][0]["status"]["403"], 2);
    for run in [&run, &session, &unsigned, &wrong] {
        let written = run.json().to_string() + &run.stderr;
        assert!(!written.contains(DEMO_SECRET_KEY) && !written.contains("demo-session"));
    }
}

#[test]
fn a_post_with_a_templated_body_and_reserved_characters_is_signed_as_sent() {
    let server = demo();
    let dir = TempDir::new("sigv4-post");
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[defaults]\naws_sigv4 = {{ region = \"eu-west-1\", service = \"lambda\" }}\n\
             [[target]]\nname = \"post\"\nmethod = \"POST\"\n\
             url = \"{}/secure/items?q=a%20b&when=1:2&n={{{{seq}}}}\"\n\
             body = '{{\"n\": {{{{iteration}}}}, \"id\": \"{{{{uuid}}}}\"}}'\n",
            server.base_url()
        ),
    );
    let run = signed_run(
        &dir,
        &["--targets", targets.to_str().unwrap(), "-n", "4", "-c", "2"],
        DEMO_SECRET_KEY,
        None,
    );
    assert_eq!(
        run.json()["endpoints"][0]["ok"],
        8,
        "{}",
        run.json()["endpoints"][0]
    );
}

#[test]
fn signing_without_credentials_stops_before_anything_is_sent() {
    let server = demo();
    let output = cannon()
        .args([
            "run",
            &server.url("/secure/hello"),
            "--aws-sigv4",
            "us-east-1:execute-api",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    assert_eq!(server.requests(), 0);
    let bad = cannon()
        .args(["run", &server.url("/x"), "--aws-sigv4", "us-east-1"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
}
