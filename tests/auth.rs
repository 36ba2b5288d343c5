//! Signed requests: AWS SigV4 against the demo's IAM-style route, which computes every
//! signature again and refuses what does not match.

mod support;

use api_cannon::demo::secure::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use support::{TempDir, cannon, demo};

/// The first endpoint's `ok` count.
fn ok(run: &support::Run) -> u64 {
    run.json()["endpoints"][0]["ok"].as_u64().unwrap_or(0)
}

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
    assert_eq!(ok(&run), 6, "{}", run.json()["endpoints"][0]);
    let session = signed_run(
        &dir,
        &[&[url.as_str(), "-n", "2"][..], &sign].concat(),
        DEMO_SECRET_KEY,
        Some("demo-session"),
    );
    assert_eq!(ok(&session), 2, "with a session token");

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
    assert_eq!(ok(&run), 8, "{}", run.json()["endpoints"][0]);
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

/// A token command: prints `demo-token-N` on its Nth call, and fails on call `fail_at`.
fn token_script(dir: &TempDir, fail_at: u32) -> String {
    let counter = dir.join("calls");
    dir.write_script(
        "token.sh",
        &format!(
            "#!/bin/sh\nn=$(($(cat {c} 2>/dev/null || echo 0) + 1))\necho $n > {c}\n\
             if [ $n -eq {fail_at} ]; then echo 'token service down' >&2; exit 1; fi\n\
             echo demo-token-$n\n",
            c = counter.display()
        ),
    )
}

fn token_targets(dir: &TempDir, base: &str, script: &str) -> std::path::PathBuf {
    dir.write(
        "targets.toml",
        &format!(
            "[defaults]\nauth = {{ command = [\"{script}\"], refresh = \"150ms\" }}\n\
             [[target]]\nname = \"t\"\nurl = \"{base}/token/hello\"\n"
        ),
    )
}

/// A one-second run at the demo's `/token` route, its token command failing on call
/// `fail_at` (0: never).
fn token_run(server: &support::DemoServer, dir: &TempDir, fail_at: u32) -> support::Run {
    let targets = token_targets(dir, &server.base_url(), &token_script(dir, fail_at));
    let targets = targets.to_str().expect("UTF-8");
    support::run(dir, &["--targets", targets, "-z", "1s", "--sleep", "20ms"])
}

#[test]
fn a_token_command_runs_before_the_first_request_and_refreshes_during_the_run() {
    let server = demo();
    let dir = TempDir::new("token-refresh");
    let run = token_run(&server, &dir, 0);
    let e = run.endpoint("t");
    assert_eq!(e["ok"], e["requests"], "{e}");
    assert!(server.requests_with_header("authorization", "Bearer demo-token-1") > 0);
    assert!(
        server.requests_with_header("authorization", "Bearer demo-token-2") > 0,
        "refreshed within the run"
    );
    assert!(!(run.json().to_string() + &run.stderr).contains("demo-token-"));
}

#[test]
fn a_failing_refresh_keeps_the_last_token_and_says_so() {
    let server = demo();
    let dir = TempDir::new("token-fails");
    let run = token_run(&server, &dir, 2);
    let e = run.endpoint("t");
    assert_eq!(e["ok"], e["requests"], "the old token keeps working: {e}");
    assert!(
        run.stderr.contains("token service down") && run.stderr.contains("the last token is kept"),
        "{}",
        run.stderr
    );
    // Said in the results and the summary too, though no request failed.
    let noted = e["error_details"]["auth"].as_str().unwrap_or_default();
    assert!(
        noted.contains("refreshing the token failed once") && noted.contains("token service down"),
        "{e}"
    );
    // The summary wraps long lines at 80 columns: compare words, not line breaks.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words(&run.stderr).contains(&words(noted)), "{}", run.stderr);
    support::assert_valid(run.json());
}

#[test]
fn a_token_command_that_fails_at_start_stops_the_run_with_its_stderr() {
    let server = demo();
    let dir = TempDir::new("token-start");
    let targets = token_targets(&dir, &server.base_url(), &token_script(&dir, 1));
    let run = support::run(&dir, &["--targets", targets.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("token service down"), "{}", run.stderr);
    assert_eq!(server.requests(), 0);
}

#[test]
fn credentials_come_from_a_profile_of_the_shared_file_when_the_environment_has_none() {
    let server = demo();
    let dir = TempDir::new("sigv4-profile");
    let file = dir.write(
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = nope\n\n\
             [demo]\naws_access_key_id = {DEMO_ACCESS_KEY}\naws_secret_access_key = {DEMO_SECRET_KEY}\n"
        ),
    );
    let run_with = |profile: &str| {
        cannon()
            .current_dir(dir.path())
            .args([
                "run",
                &server.url("/secure/hello"),
                "-n",
                "2",
                "-q",
                "-o",
                "r.json",
            ])
            .args([
                "--aws-sigv4",
                "us-east-1:execute-api",
                "--aws-profile",
                profile,
            ])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_SHARED_CREDENTIALS_FILE", &file)
            .output()
            .expect("runs")
    };
    let output = run_with("demo");
    let run = support::finish(output, &dir.join("r.json"));
    assert_eq!(run.json()["endpoints"][0]["ok"], 2, "{}", run.stderr);
    let unknown = run_with("nobody");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("profile `nobody`") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains(DEMO_SECRET_KEY));
}

/// Reads the results file while the run goes on, until it is a checkpoint.
fn checkpoint_of(path: &std::path::Path) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if json["run"]["complete"] == false {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no checkpoint in {}", path.display());
}

#[test]
fn tokens_and_aws_secrets_reach_no_output_of_any_kind() {
    let server = demo();
    let dir = TempDir::new("auth-secrets");
    let script = token_script(&dir, 3);
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"token\"\nurl = \"{base}/token/hello\"\n\
             auth = {{ command = [\"{script}\"], refresh = \"300ms\" }}\n\
             [[target]]\nname = \"signed\"\nurl = \"{base}/secure/hello\"\n\
             aws_sigv4 = {{ region = \"us-east-1\", service = \"execute-api\" }}\n",
            base = server.base_url()
        ),
    );
    let with_secrets = |command: &mut std::process::Command| {
        command
            .current_dir(dir.path())
            .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_KEY)
            .env("AWS_SESSION_TOKEN", "s3ssion-s3cret");
    };
    let targets = targets.to_str().expect("UTF-8");
    let mut dry = cannon();
    with_secrets(dry.args(["run", "--targets", targets, "--dry-run"]));
    let dry = dry.output().expect("runs");
    let mut seen = String::from_utf8_lossy(&dry.stdout).into_owned();
    seen += &String::from_utf8_lossy(&dry.stderr);

    let mut run = cannon();
    with_secrets(run.args([
        "run",
        "--targets",
        targets,
        "-z",
        "1500ms",
        "--sleep",
        "20ms",
    ]));
    run.args(["-o", "r.json", "--checkpoint", "200ms", "--junit", "j.xml"])
        .args([
            "--markdown",
            "s.md",
            "--report",
            "r.html",
            "--log-requests",
            "log.ndjson",
        ]);
    let child = run
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    seen += &checkpoint_of(&dir.join("r.json"));
    let output = child.wait_with_output().expect("runs");
    assert_eq!(output.status.code(), Some(0));
    seen += &String::from_utf8_lossy(&output.stdout);
    seen += &String::from_utf8_lossy(&output.stderr);
    for file in ["r.json", "j.xml", "s.md", "r.html", "log.ndjson"] {
        seen += &std::fs::read_to_string(dir.join(file)).expect("written");
    }
    assert!(server.requests_with_header("authorization", "Bearer demo-token-4") > 0);
    assert!(
        seen.contains("token service down"),
        "the failed refresh is said"
    );
    for secret in ["demo-token-", "s3ssion-s3cret", DEMO_SECRET_KEY] {
        assert!(!seen.contains(secret), "`{secret}` was shown");
    }
}

#[test]
fn a_large_body_can_be_signed_as_unsigned_payload() {
    let server = demo();
    let dir = TempDir::new("sigv4-unsigned");
    let body = "x".repeat(64 * 1024);
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"upload\"\nmethod = \"PUT\"\nurl = \"{}/secure/upload\"\n\
             body = \"{body}\"\n\
             aws_sigv4 = {{ region = \"us-east-1\", service = \"s3\", unsigned_payload = true }}\n",
            server.base_url()
        ),
    );
    let run = signed_run(
        &dir,
        &["--targets", targets.to_str().unwrap(), "-n", "2"],
        DEMO_SECRET_KEY,
        None,
    );
    assert_eq!(ok(&run), 2, "{}", run.json()["endpoints"][0]);
    assert_eq!(
        server.requests_with_header("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        2
    );
}
