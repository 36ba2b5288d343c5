//! Every error kind, produced by real server behaviour; none of them stops the run.

mod support;

use support::{Misbehaviour, RawServer, TempDir, demo, refused_port, run};

fn kinds_for(url: &str, extra: &[&str]) -> serde_json::Value {
    let dir = TempDir::new("kinds");
    let mut args = vec![url, "-n", "4", "-c", "2"];
    args.extend_from_slice(extra);
    let run = run(&dir, &args);
    // Every request failed: the run still finishes and writes its results, and its exit
    // code and summary say that nothing worked.
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("FAILED:"), "{}", run.stderr);
    let e = run.json()["endpoints"][0].clone();
    assert_eq!(e["requests"], 8, "{e}");
    assert_eq!(e["errors"], 8, "{e}");
    e
}

#[test]
fn a_refused_port_is_a_connect_error() {
    let e = kinds_for(&format!("http://127.0.0.1:{}/", refused_port()), &[]);
    assert_eq!(e["error_kinds"]["connect"], 8);
    // The count comes with the reason, once.
    let why = e["error_details"]["connect"].as_str().unwrap();
    assert!(why.contains("refused"), "{why}");
    assert_eq!(e["error_details"].as_object().unwrap().len(), 1);
}

#[test]
fn a_slow_response_is_a_timeout() {
    let server = demo();
    let e = kinds_for(&server.url("/delay/3s"), &["-t", "150ms"]);
    assert_eq!(e["error_kinds"]["timeout"], 8);
    assert_eq!(
        e["error_details"]["timeout"],
        "no complete response within 150ms"
    );
    assert!(
        e["latency_ms"]["p50"].is_null(),
        "timeouts are counted, not timed"
    );
}

#[test]
fn a_dropped_connection_is_a_protocol_error() {
    let server = RawServer::start(Misbehaviour::Drop);
    let e = kinds_for(&server.url(), &[]);
    assert_eq!(e["error_kinds"]["protocol"], 8);
}

#[test]
fn a_garbage_response_is_a_protocol_error() {
    let server = RawServer::start(Misbehaviour::Garbage);
    let e = kinds_for(&server.url(), &[]);
    assert_eq!(e["error_kinds"]["protocol"], 8);
    assert!(
        e["error_details"]["protocol"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{e}"
    );
}

#[test]
fn a_truncated_body_is_a_body_error() {
    let server = RawServer::start(Misbehaviour::ShortBody);
    let e = kinds_for(&server.url(), &[]);
    assert_eq!(e["error_kinds"]["body"], 8);
}

#[test]
fn a_500_is_a_status_error_and_still_timed() {
    let server = demo();
    let e = kinds_for(&server.url("/status/500"), &[]);
    assert_eq!(e["error_kinds"]["status"], 8);
    assert_eq!(e["status"]["500"], 8);
    assert!(
        e["latency_ms"]["p50"].as_f64().is_some(),
        "complete responses are timed whatever their status"
    );
}

#[test]
fn expect_status_decides_what_is_ok() {
    let server = demo();
    let dir = TempDir::new("expect");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"gone\"\nurl = \"{}/status/404\"\nexpect_status = [404]\n",
            server.base_url()
        ),
    );
    let run = run(&dir, &["--targets", targets.to_str().unwrap(), "-n", "3"]);
    assert_eq!(run.endpoint("gone")["ok"], 3);
}

#[test]
fn a_server_closing_after_each_response_costs_a_reconnect_not_an_error() {
    let server = RawServer::start(Misbehaviour::CloseAfterResponse);
    let dir = TempDir::new("close");
    let run = run(&dir, &[server.url().as_str(), "-n", "6", "-c", "2"]);
    let e = &run.json()["endpoints"][0];
    assert_eq!(e["ok"], 12, "{e}");
    assert_eq!(e["new_connections"], 12, "every request had to reopen: {e}");
}

#[test]
fn redirects_are_a_status_by_default_and_followed_on_request() {
    let server = demo();
    let other = demo();
    let dir = TempDir::new("redirects");
    let chain = server.url("/redirect/3");
    // Not followed: the 302 is the response (an unexpected status, timed).
    let plain = run(&dir, &[chain.as_str(), "-n", "2"]);
    assert_eq!(plain.json()["endpoints"][0]["status"]["302"], 2);
    assert_eq!(server.requests(), 2);
    // Followed: three hops on the lane's connection, then the 200.
    let followed = run(
        &dir,
        &[chain.as_str(), "-n", "2", "--follow-redirects", "5"],
    );
    let e = &followed.json()["endpoints"][0];
    assert_eq!(e["ok"], 2, "{e}");
    assert_eq!(e["status"]["200"], 2);
    assert_eq!(server.requests_to("/redirect/0"), 2);
    // Too few hops allowed: the last redirect is the response.
    let short = run(
        &dir,
        &[chain.as_str(), "-n", "1", "--follow-redirects", "1"],
    );
    assert_eq!(short.json()["endpoints"][0]["status"]["302"], 1);
    // To another origin: a connection of its own for that hop.
    let across = format!("{}/redirect-to/{}", server.base_url(), other.addr().port());
    let moved = run(
        &dir,
        &[across.as_str(), "-n", "3", "--follow-redirects", "1"],
    );
    assert_eq!(
        moved.json()["endpoints"][0]["ok"],
        3,
        "{}",
        moved.json()["endpoints"][0]
    );
    assert_eq!(other.requests_to("/hello"), 3);
}

#[test]
fn credentials_stay_with_their_origin_across_redirects() {
    let server = demo();
    let other = demo();
    let dir = TempDir::new("redirect-secrets");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"moved\"\nurl = \"{}/redirect-to/{}\"\nheaders = {{ Authorization = \"Bearer s3cret\" }}\n",
            server.base_url(),
            other.addr().port()
        ),
    );
    let run = run(
        &dir,
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "2",
            "--follow-redirects",
            "1",
        ],
    );
    assert_eq!(run.json()["endpoints"][0]["ok"], 2, "{}", run.stderr);
    assert_eq!(
        server.requests_with_header("authorization", "Bearer s3cret"),
        2
    );
    assert_eq!(
        other.requests_with_header("authorization", "Bearer s3cret"),
        0,
        "the token followed the redirect"
    );
    assert_eq!(other.requests_to("/hello"), 2);
}

#[test]
fn http2_never_puts_url_credentials_in_the_authority() {
    let server = demo();
    let dir = TempDir::new("h2-userinfo");
    let url = format!("http://bob:hunter2@{}/hello", server.addr());
    let run = run(&dir, &[url.as_str(), "-n", "2", "--http2"]);
    assert_eq!(
        run.json()["endpoints"][0]["ok"],
        2,
        "{}",
        run.json()["endpoints"][0]
    );
    assert_eq!(
        server.requests_with_header("host", &format!("bob:hunter2@{}", server.addr())),
        0
    );
}

#[test]
fn a_redirect_hop_renders_its_templates_and_drops_templated_credentials_across_origins() {
    let server = demo();
    let other = demo();
    let dir = TempDir::new("redirect-templates");
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"same\"\nurl = \"{0}/redirect/1\"\nheaders = {{ Authorization = \"Bearer {{{{lane}}}}-{{{{iteration}}}}\" }}\n\
             [[target]]\nname = \"away\"\nurl = \"{0}/redirect-to/{1}\"\nheaders = {{ Authorization = \"Token {{{{iteration}}}}\" }}\n",
            server.base_url(),
            other.addr().port()
        ),
    );
    let run = run(
        &dir,
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "3",
            "--follow-redirects",
            "1",
        ],
    );
    assert_eq!(run.endpoint("same")["ok"], 3, "{}", run.stderr);
    // Each iteration's value on its first request and on its hop; no sample value on hops.
    for i in 0..3 {
        assert_eq!(
            server.requests_with_header("authorization", &format!("Bearer 0-{i}")),
            2
        );
    }
    assert_eq!(run.endpoint("away")["ok"], 3, "{}", run.stderr);
    for i in 0..3 {
        assert_eq!(
            other.requests_with_header("authorization", &format!("Token {i}")),
            0
        );
    }
}

#[test]
fn a_host_header_and_url_credentials_are_sent_as_the_user_meant_them() {
    let server = demo();
    let dir = TempDir::new("host-and-credentials");
    let url = format!("http://user:p%40ss@{}/hello", server.addr());
    let targets = dir.write(
        "t.toml",
        &format!(
            "[[target]]\nname = \"vhost\"\nurl = \"{}/hello\"\nheaders = {{ Host = \"api.internal\" }}\n\
             [[target]]\nname = \"creds\"\nurl = \"{url}\"\n",
            server.base_url()
        ),
    );
    let run = run(&dir, &["--targets", targets.to_str().unwrap(), "-n", "2"]);
    assert_eq!(run.json()["totals"]["ok"], 4, "{}", run.stderr);
    assert_eq!(server.requests_with_header("host", "api.internal"), 2);
    // base64("user:p@ss"): the URL's %40 is an @ in the password.
    assert_eq!(
        server.requests_with_header("authorization", "Basic dXNlcjpwQHNz"),
        2
    );
}
