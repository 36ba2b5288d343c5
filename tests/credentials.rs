//! Where SigV4 credentials come from and how long they last: profiles of the AWS config
//! file, `credential_process` and its `Expiration`, renewal during a run, `auth` errors
//! once renewing fails, and recovery when it works again.

mod support;

use api_cannon::demo::secure::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use support::{TempDir, cannon, demo};

/// A `credential_process` script: prints the demo's credentials with a session token,
/// expiring `lifetime_s` seconds from now; fails (exit 1, `STS is down` on stderr) on the
/// calls listed. Counts its calls in DIR/calls.
fn process_script(dir: &TempDir, lifetime_s: u32, fail_on: &[u32]) -> String {
    let calls = dir.join("calls");
    let fail = fail_on
        .iter()
        .map(|n| format!("[ $n -eq {n} ]"))
        .collect::<Vec<_>>()
        .join(" || ");
    let fail = match fail.is_empty() {
        true => "false".to_owned(),
        false => fail,
    };
    dir.write_script(
        "creds.sh",
        &format!(
            "#!/bin/sh\nn=$(($(cat {c} 2>/dev/null || echo 0) + 1))\necho $n > {c}\n\
             if {fail}; then echo 'STS is down' >&2; exit 1; fi\n\
             at=$(date -u -d \"@$(($(date +%s) + {lifetime_s}))\" +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"{DEMO_ACCESS_KEY}\", \
             \"SecretAccessKey\": \"{DEMO_SECRET_KEY}\", \"SessionToken\": \"s3ssion-%s\", \
             \"Expiration\": \"%s\"}}' \"$n\" \"$at\"\n",
            c = calls.display()
        ),
    )
}

/// The run's one endpoint.
fn first(run: &support::Run) -> &serde_json::Value {
    &run.json()["endpoints"][0]
}

/// How often the script ran.
fn calls(dir: &TempDir) -> u32 {
    let text = std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    text.trim().parse().unwrap_or(0)
}

/// `run URL --aws-sigv4 ... --aws-profile PROFILE ARGS` with no credentials in the
/// environment and `config` as the AWS config file.
fn profile_run(
    dir: &TempDir,
    url: &str,
    profile: &str,
    config: &str,
    args: &[&str],
) -> support::Run {
    let config = dir.write("config", config);
    let out = dir.join("results.json");
    let output = cannon()
        .args(["run", url, "--aws-sigv4", "us-east-1:execute-api"])
        .args(["--aws-profile", profile, "-o"])
        .arg(&out)
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-credentials-file"),
        )
        .output()
        .expect("runs");
    support::finish(output, &out)
}

fn process_config(script: &str) -> String {
    format!(
        "[default]\nregion = us-east-1\n\n[profile ci]\ncredential_process = \"{script}\" --role ci\n"
    )
}

#[test]
fn expiring_credentials_are_renewed_during_the_run_without_an_auth_error() {
    let server = demo();
    let dir = TempDir::new("creds-renewed");
    let config = process_config(&process_script(&dir, 3, &[]));
    let url = server.url("/secure/hello");
    let run = profile_run(
        &dir,
        &url,
        "ci",
        &config,
        &["-z", "4s", "--sleep", "20ms", "-q"],
    );
    let e = first(&run);
    assert_eq!(e["error_kinds"]["auth"], 0, "{e}");
    assert_eq!(e["ok"], e["requests"], "{e}");
    assert!(
        e.get("error_details")
            .is_none_or(|d| d.get("auth").is_none()),
        "{e}"
    );
    // Three-second credentials, renewed halfway through their life: 3 or more in 4 s.
    assert!(calls(&dir) >= 3, "renewed {} times", calls(&dir));
    for n in 1..=2 {
        let token = format!("s3ssion-{n}");
        assert!(
            server.requests_with_header("x-amz-security-token", &token) > 0,
            "{token}"
        );
    }
    let written = run.json().to_string() + &run.stderr + &run.stdout;
    assert!(!written.contains("s3ssion-") && !written.contains(DEMO_SECRET_KEY));
}

#[test]
fn once_renewing_fails_past_expiry_requests_fail_as_auth_and_the_run_recovers() {
    let server = demo();
    let dir = TempDir::new("creds-expire");
    let config = process_config(&process_script(&dir, 3, &[2, 3]));
    let url = server.url("/secure/hello");
    let run = profile_run(&dir, &url, "ci", &config, &["-z", "9s", "--sleep", "20ms"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let e = first(&run);
    let auth = e["error_kinds"]["auth"].as_u64().unwrap_or(0);
    assert!(auth > 0, "expired credentials fail as auth: {e}");
    let detail = e["error_details"]["auth"].as_str().unwrap_or_default();
    assert!(
        detail.contains("expired at") && detail.contains("STS is down"),
        "{detail}"
    );
    // Requests are not sent unsigned or hammered: the lane backs off.
    assert_eq!(e["status"].get("403"), None, "{e}");
    assert!(auth < 200, "{auth} auth errors: the lane backs off");
    // The fourth call works: the last second has only ok requests.
    let timeline = e["timeline"].as_array().expect("a timeline");
    let last = timeline
        .iter()
        .rev()
        .find(|b| b["requests"].as_u64() > Some(0));
    let last = last.expect("requests at the end");
    assert_eq!(last["errors"], 0, "recovered: {last}");
    assert!(calls(&dir) >= 4);
    assert!(
        run.stderr.contains("STS is down") && run.stderr.contains("works again"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("auth"),
        "the summary names the kind: {}",
        run.stderr
    );
}

#[test]
fn credential_sources_that_cannot_work_stop_the_run_before_anything_is_sent() {
    let server = demo();
    let dir = TempDir::new("creds-bad");
    let url = server.url("/secure/hello");
    let failing = process_config(&process_script(&dir, 60, &[1]));
    let cases = [
        (
            "ci",
            failing.as_str(),
            vec!["STS is down", "profile `ci`", "config"],
        ),
        (
            "nobody",
            failing.as_str(),
            vec!["profile `nobody`", "config"],
        ),
        (
            "role",
            "[profile role]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n",
            vec![
                "role_arn",
                "credential_process = aws configure export-credentials",
            ],
        ),
        (
            "default",
            "[default]\nregion = us-east-1\n",
            vec!["needs credentials", "AWS_ACCESS_KEY_ID"],
        ),
    ];
    for (profile, config, said) in cases {
        let run = profile_run(&dir, &url, profile, config, &["-n", "1"]);
        assert_eq!(run.code, Some(2), "{profile}: {}", run.stderr);
        for words in said {
            assert!(
                run.stderr.contains(words),
                "{profile}: `{words}` in {}",
                run.stderr
            );
        }
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_profile_s_keys_in_the_config_file_sign_too() {
    let server = demo();
    let dir = TempDir::new("creds-config-keys");
    let config = format!(
        "[profile keys]\naws_access_key_id = {DEMO_ACCESS_KEY}\naws_secret_access_key = {DEMO_SECRET_KEY}\n"
    );
    let url = server.url("/secure/hello");
    let run = profile_run(&dir, &url, "keys", &config, &["-n", "2", "-q"]);
    assert_eq!(first(&run)["ok"], 2, "{}", run.stderr);
}
