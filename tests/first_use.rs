//! The first minutes against one's own API: curl-style request flags, and runs where
//! nothing worked said loudly (a hint, exit 1) rather than passed as fast ones.

mod support;

use support::{TempDir, cannon, demo};

/// `api-cannon run ARGS` in `dir`, with its exit code and everything it printed.
fn run_in(dir: &TempDir, args: &[&str]) -> (Option<i32>, String) {
    let output = cannon()
        .current_dir(dir.path())
        .arg("run")
        .args(args)
        .output()
        .expect("runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), printed)
}

#[test]
fn a_run_where_nothing_answered_fails_loudly_with_a_hint() {
    let dir = TempDir::new("dead-server");
    let url = format!("http://127.0.0.1:{}/hello", support::refused_port());
    let (code, said) = run_in(&dir, &[&url, "-n", "5", "-c", "2", "-o", "r.json"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("FAILED:") && said.contains("no ok response"),
        "{said}"
    );
    assert!(
        said.contains("Connection refused"),
        "the first error: {said}"
    );
    assert!(said.contains("is the server running"), "the hint: {said}");
    let row = said
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_default();
    assert!(row.contains(" fail "), "no throughput for failures: {row}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("r.json")).expect("written")).expect("JSON");
    assert_eq!(results["endpoints"][0]["ok"], 0);

    let (code, said) = run_in(&dir, &[&url, "-n", "2", "-q", "-o", "q.json"]);
    assert_eq!(code, Some(1));
    assert!(said.contains("FAILED:"), "said even with -q: {said}");

    let (code, said) = run_in(&dir, &[&url, "-n", "2", "--allow-failures", "-o", "a.json"]);
    assert_eq!(code, Some(0), "--allow-failures: {said}");
    assert!(said.contains("FAILED:"), "still said: {said}");
}

#[test]
fn an_endpoint_refused_for_authentication_gets_that_hint() {
    let server = demo();
    let dir = TempDir::new("auth-hint");
    let (code, said) = run_in(&dir, &[&server.url("/secure/x"), "-n", "2", "-o", "r.json"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("403×2") && said.contains("Authorization"),
        "{said}"
    );
}

#[test]
fn header_method_and_body_flags_shape_the_request_of_a_url() {
    let server = demo();
    let dir = TempDir::new("curl-flags");
    let url = server.url("/items");
    let secret = "Bearer h3ader-s3cret";
    let header = format!("Authorization: {secret}");
    let args = [
        url.as_str(),
        "-n",
        "3",
        "-d",
        r#"{"name": "from -d"}"#,
        "--content-type",
        "application/json",
        "-H",
        &header,
        "-o",
        "r.json",
    ];
    let (code, said) = run_in(&dir, &args);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        server.items().0,
        3,
        "-d without -m is a POST with that body"
    );
    assert_eq!(server.requests_with_header("authorization", secret), 3);

    let (code, dry) = run_in(&dir, &[&args[..args.len() - 2], &["--dry-run"]].concat());
    assert_eq!(code, Some(0), "{dry}");
    let written = std::fs::read_to_string(dir.join("r.json")).expect("written");
    for shown in [said, dry, written] {
        assert!(!shown.contains("h3ader-s3cret"), "{shown}");
    }

    dir.write("item.json", r#"{"name": "from a file"}"#);
    let (code, said) = run_in(
        &dir,
        &[&url, "-m", "post", "-d", "@item.json", "-o", "f.json"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(server.items().0, 4, "-d @FILE sends the file");
}

#[test]
fn request_flags_are_defaults_that_a_targets_file_overrides() {
    let server = demo();
    let dir = TempDir::new("flag-defaults");
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"plain\"\nurl = \"{base}/hello\"\n\
             [[target]]\nname = \"own\"\nurl = \"{base}/hello\"\n\
             headers = {{ Authorization = \"Bearer own\" }}\n",
            base = server.base_url()
        ),
    );
    let targets = targets.to_str().expect("UTF-8");
    let args = [
        "--targets",
        targets,
        "-n",
        "2",
        "-H",
        "Authorization: Bearer cli",
    ];
    let (code, said) = run_in(&dir, &[&args[..], &["-o", "r.json"]].concat());
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        server.requests_with_header("authorization", "Bearer cli"),
        2
    );
    assert_eq!(
        server.requests_with_header("authorization", "Bearer own"),
        2
    );
}

#[test]
fn bad_request_flags_stop_before_anything_is_sent_without_showing_values() {
    let server = demo();
    let dir = TempDir::new("bad-flags");
    let url = server.url("/hello");
    let cases: [&[&str]; 4] = [
        &["-H", "Authorization Bearer n0-colon-s3cret"],
        &["-H", "Content-Length: 5"],
        &["-m", "FETCH"],
        &["-d", "@no-such-file.json"],
    ];
    for flags in cases {
        let (code, said) = run_in(&dir, &[&[url.as_str()][..], flags].concat());
        assert_eq!(code, Some(2), "{flags:?}: {said}");
        assert!(!said.contains("n0-colon-s3cret"), "{said}");
        let flag = flags[0];
        assert!(said.contains(flag), "{flags:?} names its flag: {said}");
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn messages_for_a_first_try_say_what_to_do() {
    let dir = TempDir::new("first-messages");
    let (code, said) = run_in(&dir, &["127.0.0.1:8787/hello"]);
    assert_eq!(code, Some(2));
    assert!(
        said.contains("did you mean http://127.0.0.1:8787/hello"),
        "{said}"
    );
    assert_eq!(said.matches("127.0.0.1:8787/hello").count(), 2, "{said}");

    let (code, said) = run_in(&dir, &[]);
    assert_eq!(code, Some(2));
    assert!(
        said.contains("--targets") && said.contains("init"),
        "{said}"
    );

    let (code, said) = run_in(&dir, &["http://127.0.0.1:1/", "--markdown", ""]);
    assert_eq!(code, Some(2));
    assert!(said.contains("GITHUB_STEP_SUMMARY"), "{said}");

    // Both typos at once, each with what was meant.
    dir.write(
        "typos.toml",
        "[defaults]\ntimout = \"5s\"\n[[target]]\nname = \"a\"\n\
         url = \"http://127.0.0.1:1/\"\nmethdo = \"GET\"\n",
    );
    let (code, said) = run_in(&dir, &["--targets", "typos.toml"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("2 unknown keys"), "{said}");
    let timeout = "typos.toml:2:1: [defaults]: unknown key `timout`: did you mean `timeout`?";
    let method = "typos.toml:6:1: [[target]]: unknown key `methdo`: did you mean `method`?";
    assert!(said.contains(timeout) && said.contains(method), "{said}");
}

#[test]
fn init_writes_a_targets_file_that_runs_and_keeps_an_existing_one() {
    let server = demo();
    let dir = TempDir::new("init");
    let init = |args: &[&str]| {
        let output = cannon()
            .current_dir(dir.path())
            .arg("init")
            .args(args)
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (hello, items) = (server.url("/hello"), server.url("/items"));
    let (code, said) = init(&[&hello, &items]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("targets.toml") && said.contains("--dry-run"),
        "{said}"
    );
    let (code, said) = run_in(
        &dir,
        &["--targets", "targets.toml", "-n", "2", "-o", "r.json"],
    );
    assert_eq!(code, Some(0), "{said}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("r.json")).expect("written")).expect("JSON");
    assert_eq!(results["endpoints"].as_array().map(Vec::len), Some(2));
    assert!(said.contains("p99"), "its thresholds were checked: {said}");

    let (code, said) = init(&[]);
    assert_eq!(code, Some(2), "an existing file is kept: {said}");
    assert!(said.contains("--force"), "{said}");
    let (code, _) = init(&["--force"]);
    assert_eq!(code, Some(0));
    let text = std::fs::read_to_string(dir.join("targets.toml")).expect("written");
    assert!(
        text.contains("http://127.0.0.1:8787/hello"),
        "the demo's URL: {text}"
    );
    let (code, said) = init(&["127.0.0.1:8787/x", "-o", "other.toml"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("did you mean http://"), "{said}");
}

#[test]
fn merge_says_what_it_wrote() {
    let server = demo();
    let dir = TempDir::new("merge-says");
    let (code, said) = run_in(&dir, &[&server.url("/hello"), "-n", "2", "-o", "a.json"]);
    assert_eq!(code, Some(0), "{said}");
    let output = cannon()
        .current_dir(dir.path())
        .args([
            "merge", "a.json", "a.json", "-o", "m.json", "--junit", "m.xml",
        ])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(
        said.contains("2 files") && said.contains("4 requests") && said.contains("m.json"),
        "{said}"
    );
    assert!(said.contains("m.xml"), "{said}");
}

#[test]
fn the_summary_fits_80_columns_with_long_names_and_large_counts() {
    let server = demo();
    let dir = TempDir::new("eighty");
    let long = server.url("/hello/with/a/rather/long/path/segment/for/its/name");
    let dead = format!(
        "http://127.0.0.1:{}/a/long/path/nobody/listens/on/at/all",
        support::refused_port()
    );
    let hello = server.url("/hello");
    let args = [hello.as_str(), &long, &dead, "-n", "400", "-c", "3"];
    let (code, said) = run_in(
        &dir,
        &[&args[..], &["-o", "r.json", "--allow-failures"]].concat(),
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("1200"), "counts past 1,000: {said}");
    for line in said.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}\n{said}",
            line.chars().count()
        );
    }
    assert!(
        said.contains("FAILED:") && said.contains("left out to fit 80"),
        "{said}"
    );
}

#[test]
fn inspect_shows_one_exchange_per_endpoint_with_secrets_masked() {
    let server = demo();
    let dir = TempDir::new("inspect");
    let hello = server.url("/hello");
    let args = [
        hello.as_str(),
        "--inspect",
        "-H",
        "X-Api-Key: k3y-s3cret",
        "-n",
        "50",
    ];
    let (code, shown) = run_in(&dir, &args);
    assert_eq!(code, Some(0), "{shown}");
    for part in [
        "> GET http://",
        "x-api-key: *** (10 bytes, masked)",
        "< HTTP/1.1 200",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    assert!(
        shown.contains(r#"{"message":"hello"}"#) && shown.contains("time: dns"),
        "{shown}"
    );
    assert!(!shown.contains("k3y-s3cret"), "{shown}");
    assert_eq!(server.requests(), 1, "one request, whatever -n says");
    assert_eq!(
        std::fs::read_dir(dir.path()).map(|d| d.count()).ok(),
        Some(0),
        "nothing written"
    );

    let dead = format!("http://127.0.0.1:{}/", support::refused_port());
    let (code, shown) = run_in(&dir, &[&dead, "--inspect"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("! connect:") && shown.contains("refused"),
        "{shown}"
    );
}
