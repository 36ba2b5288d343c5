use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Vec<Target>, TargetsError> {
    parse_file(
        text,
        Path::new("targets.toml"),
        Duration::from_secs(30),
        &no_env,
    )
}

fn error(text: &str) -> String {
    parse(text).expect_err("should be rejected").to_string()
}

#[test]
fn reads_defaults_and_lets_targets_override_them() {
    let targets = parse(
        r#"
[defaults]
timeout = "10s"
headers = { "User-Agent" = "api-cannon", "X-Env" = "prod" }
[[target]]
name = "rust"
url = "http://127.0.0.1:8787/slipspace/rust"
[[target]]
name = "go"
url = "https://api.test/go"
method = "post"
headers = { "X-Env" = "staging" }
body = '{"id": 1}'
expect_status = [201]
timeout = "5s"
"#,
    )
    .unwrap();
    assert_eq!(targets[0].timeout, Duration::from_secs(10));
    assert_eq!(targets[0].method, Method::GET);
    assert!(targets[0].expect_status.matches(204));
    assert_eq!(targets[1].method, Method::POST);
    assert_eq!(targets[1].headers["x-env"], "staging");
    assert_eq!(targets[1].headers["user-agent"], "api-cannon");
    assert_eq!(&targets[1].body[..], br#"{"id": 1}"#);
    assert!(targets[1].expect_status.matches(201) && !targets[1].expect_status.matches(200));
    assert_eq!(targets[1].timeout, Duration::from_secs(5));
}

#[test]
fn an_out_of_range_port_is_a_config_error_not_port_80() {
    for url in [
        "http://127.0.0.1:99999/x",
        "http://h:0/",
        "http://[::1]:70000/",
    ] {
        let msg = error(&format!("[[target]]\nname = \"a\"\nurl = \"{url}\"\n"));
        assert!(msg.contains("is not a port number"), "{url}: {msg}");
    }
    let ok = parse("[[target]]\nname = \"a\"\nurl = \"http://[::1]:8080/\"\n").unwrap();
    assert_eq!(ok[0].url.port_u16(), Some(8080));
    assert!(from_urls(&["http://127.0.0.1:65536/".into()], Duration::from_secs(1)).is_err());
}

#[test]
fn framing_headers_are_config_errors_naming_the_header() {
    for (name, value) in [
        ("Content-Length", "3"),
        ("transfer-encoding", "chunked"),
        ("Connection", "keep-alive, Upgrade"),
        ("Upgrade", "websocket"),
    ] {
        let msg = error(&format!(
            "[[target]]\nname = \"a\"\nurl = \"http://h/\"\nheaders = {{ \"{name}\" = \"{value}\" }}\n"
        ));
        assert!(msg.contains(&format!("`{name}` cannot be set")), "{msg}");
    }
    let host = "[[target]]\nname = \"a\"\nurl = \"http://10.0.0.1/\"\nheaders = { Host = \"api.test\", Connection = \"close\" }\n";
    assert_eq!(parse(host).unwrap()[0].headers["host"], "api.test");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let msg = error("[[target]]\nname = \"a\"\nurl = \n");
    assert!(
        msg.starts_with("targets.toml: TOML parse error at line 3, column"),
        "{msg}"
    );
}

#[test]
fn unknown_keys_name_the_key_and_the_known_ones() {
    let msg = error("[[target]]\nname = \"a\"\nurl = \"http://x/\"\ntmeout = \"1s\"\n");
    assert!(
        msg.contains("targets.toml:4:1") && msg.contains("unknown key `tmeout`"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `timeout`?"), "{msg}");
}

#[test]
fn invalid_values_name_target_field_and_place() {
    let cases = [
        ("url = \"ftp://x/\"", "field `url`: scheme `ftp`"),
        ("url = \"not a url\"", "field `url`"),
        (
            "url = \"http://x/\"\nmethod = \"GRAB\"",
            "field `method`: unknown method `GRAB`",
        ),
        (
            "url = \"http://x/\"\nexpect_status = [200, 700]",
            "field `expect_status`: 700",
        ),
        (
            "url = \"http://x/\"\ntimeout = \"5 parsecs\"",
            "field `timeout`",
        ),
        ("url = \"http://x/\"\ntimeout = \"0s\"", "greater than zero"),
        ("url = \"http://x/${TOKEN}\"", "`TOKEN` is not set"),
        (
            "url = \"http://x/\"\nbody_file = \"missing.json\"",
            "field `body_file`: cannot read",
        ),
        (
            "url = \"http://x/\"\nheaders = { \"Bad Name\" = \"v\" }",
            "not a valid header name",
        ),
    ];
    for (fields, expected) in cases {
        let msg = error(&format!("[[target]]\nname = \"rust\"\n{fields}\n"));
        assert!(msg.starts_with("targets.toml:"), "{msg}");
        assert!(msg.contains("target `rust`"), "{msg}");
        assert!(msg.contains(expected), "expected {expected:?} in {msg}");
    }
}

#[test]
fn duplicate_names_point_at_both_definitions() {
    let msg = error(
        "[[target]]\nname = \"a\"\nurl = \"http://x/\"\n[[target]]\nname = \"a\"\nurl = \"http://y/\"\n",
    );
    assert!(
        msg.starts_with("targets.toml:5:8: duplicate target name `a`"),
        "{msg}"
    );
    assert!(msg.contains("first defined at targets.toml:2:8"), "{msg}");
}

#[test]
fn an_empty_file_says_what_to_add() {
    assert!(error("").contains("no targets"));
    assert!(error("[defaults]\ntimeout = \"1s\"\n").contains("no targets"));
}

#[test]
fn environment_values_never_reach_the_display_url() {
    let lookup = |name: &str| (name == "HOST").then(|| "secret.test".to_owned());
    let text = "[[target]]\nname = \"a\"\nurl = \"https://${HOST}/x\"\n";
    let targets = parse_file(text, Path::new("t.toml"), Duration::from_secs(1), &lookup).unwrap();
    assert_eq!(targets[0].url.host(), Some("secret.test"));
    assert_eq!(targets[0].display_url, "https://${HOST}/x");
}

#[test]
fn url_arguments_become_get_targets_named_by_host_and_path() {
    let urls = [
        "http://127.0.0.1:8080/hello".to_owned(),
        "https://api.test".to_owned(),
    ];
    let targets = from_urls(&urls, Duration::from_secs(3)).unwrap();
    assert_eq!(targets[0].name, "127.0.0.1:8080/hello");
    assert_eq!(targets[1].name, "api.test");
    let dup = from_urls(&[urls[0].clone(), urls[0].clone()], Duration::from_secs(3));
    assert!(
        dup.unwrap_err()
            .to_string()
            .contains("URL argument 2: duplicate")
    );
}

#[test]
fn user_information_in_urls_is_masked_whole() {
    assert_eq!(
        mask_userinfo("https://bob:hunter2@api.test/x"),
        "https://***@api.test/x"
    );
    assert_eq!(
        mask_userinfo("https://ghp_T0KEN@api.test/x"),
        "https://***@api.test/x"
    );
    assert_eq!(
        mask_userinfo("https://api.test/a@b"),
        "https://api.test/a@b"
    );
}

#[test]
fn insecure_comes_from_the_target_or_the_defaults() {
    let targets = parse(
        "[defaults]\ninsecure = true\n[[target]]\nname = \"a\"\nurl = \"https://x/\"\n\
         [[target]]\nname = \"b\"\nurl = \"https://y/\"\ninsecure = false\n",
    )
    .unwrap();
    assert!(targets[0].insecure);
    assert!(!targets[1].insecure);
}

#[test]
fn a_flow_becomes_its_whole_entry_then_its_steps_with_capture_slots() {
    let targets = parse(
        r#"
[[target]]
name = "hello"
url = "http://api.test/hello"
[[flow]]
name = "items"
thresholds = { p99 = "<500ms" }
[[flow.step]]
name = "create"
method = "POST"
url = "http://api.test/items"
timeout = "2s"
capture = { item_id = "/id", etag = "header:ETag" }
[[flow.step]]
name = "update"
method = "PUT"
url = "http://api.test/items/{{item_id}}"
headers = { "If-Match" = "{{etag}}" }
timeout = "3s"
capture = { etag = "header:ETag" }
"#,
    )
    .unwrap();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hello", "items", "items/create", "items/update"]);
    assert!(targets[0].is_scheduled() && !targets[0].is_whole_flow());
    let whole = &targets[1];
    assert!(whole.is_scheduled() && whole.is_whole_flow());
    assert_eq!(
        whole.timeout,
        Duration::from_secs(5),
        "the sum of its steps'"
    );
    assert_eq!(whole.thresholds[0].endpoint.as_deref(), Some("items"));
    let Some(FlowRole::Whole { steps, captures }) = &whole.flow else {
        panic!("{:?}", whole.flow)
    };
    assert_eq!(steps, &[2, 3]);
    // Slots in order of first capture; capturing `etag` again reuses its slot.
    assert_eq!(captures, &["etag", "item_id"]);
    let Some(FlowRole::Step { flow, captures }) = &targets[3].flow else {
        panic!("{:?}", targets[3].flow)
    };
    assert_eq!(flow, "items");
    assert_eq!(captures[0].slot, 0);
    assert!(!targets[3].is_scheduled());
    assert!(targets[3].templates.is_some());
}

#[test]
fn a_flow_of_enormous_step_timeouts_adds_up_without_overflowing() {
    let step = |name: &str| {
        format!(
            "[[flow.step]]\nname = \"{name}\"\nurl = \"http://api.test/\"\ntimeout = \"500000000000y\"\n"
        )
    };
    let targets = parse(&format!(
        "[[flow]]\nname = \"f\"\n{}{}",
        step("a"),
        step("b")
    ))
    .unwrap();
    assert_eq!(targets[0].timeout, Duration::MAX);
}
