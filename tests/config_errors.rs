//! Bad input is reported before anything is sent: a message a person can act on, exit 2.

mod support;

use support::{TempDir, cannon, demo};

/// Runs with a targets file and returns (exit code, stderr); asserts the server saw nothing.
fn rejected(toml: &str, extra: &[&str]) -> (Option<i32>, String) {
    let server = demo();
    let dir = TempDir::new("config");
    let toml = toml.replace("BASE", &server.base_url());
    let path = dir.write("targets.toml", &toml);
    let output = cannon()
        .current_dir(dir.path())
        .args(["run", "--targets", path.to_str().unwrap(), "-q"])
        .args(extra)
        .env_remove("API_CANNON_TEST_UNSET")
        .output()
        .unwrap();
    assert_eq!(
        server.requests(),
        0,
        "nothing may be sent when the input is bad"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no results file for a rejected run"
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_rejected(toml: &str, expected: &[&str]) {
    let (code, stderr) = rejected(toml, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("Error: "), "{stderr}");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "expected {fragment:?} in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

const GOOD: &str = "[[target]]\nname = \"a\"\nurl = \"BASE/hello\"\n";

#[test]
fn a_toml_syntax_error_gives_line_and_column() {
    assert_rejected(
        &format!("{GOOD}[[target]\n"),
        &["targets.toml", "line 4, column"],
    );
}

#[test]
fn an_unknown_key_names_the_key_and_the_known_ones() {
    assert_rejected(
        &format!("{GOOD}methd = \"GET\"\n"),
        &[
            "targets.toml:4:1",
            "unknown key `methd`",
            "did you mean `method`?",
        ],
    );
}

#[test]
fn a_duplicate_name_points_at_both() {
    assert_rejected(
        &format!("{GOOD}{GOOD}"),
        &[
            "targets.toml:5:8",
            "duplicate target name `a`",
            "targets.toml:2:8",
        ],
    );
}

#[test]
fn an_invalid_url_method_status_or_duration_names_target_and_field() {
    let cases = [
        ("url = \"htp:/x\"", "field `url`"),
        (
            "url = \"BASE/\"\nmethod = \"FETCH\"",
            "field `method`: unknown method `FETCH`",
        ),
        (
            "url = \"BASE/\"\nexpect_status = [2000]",
            "field `expect_status`: 2000 is not an HTTP status",
        ),
        (
            "url = \"BASE/\"\ntimeout = \"soon\"",
            "field `timeout`: `soon` is not a duration",
        ),
    ];
    for (fields, expected) in cases {
        assert_rejected(
            &format!("[[target]]\nname = \"rust\"\n{fields}\n"),
            &["target `rust`", expected],
        );
    }
}

#[test]
fn a_missing_environment_variable_is_named() {
    assert_rejected(
        "[[target]]\nname = \"a\"\nurl = \"BASE/\"\nheaders = { Authorization = \"Bearer ${API_CANNON_TEST_UNSET}\" }\n",
        &[
            "target `a`",
            "field `headers`",
            "`API_CANNON_TEST_UNSET` is not set",
        ],
    );
}

#[test]
fn a_missing_body_file_is_named() {
    assert_rejected(
        "[[target]]\nname = \"a\"\nurl = \"BASE/\"\nmethod = \"POST\"\nbody_file = \"payload.json\"\n",
        &["field `body_file`", "payload.json", "No such file"],
    );
}

#[test]
fn an_empty_target_list_says_what_to_add() {
    assert_rejected(
        "[defaults]\ntimeout = \"1s\"\n",
        &["no targets", "[[target]]"],
    );
}

#[test]
fn a_missing_targets_file_is_named() {
    let output = cannon()
        .args(["run", "--targets", "/nonexistent/targets.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot read targets file /nonexistent/targets.toml")
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let cases: [&[&str]; 4] = [
        &["run"],
        &["run", "http://127.0.0.1:9/", "--targets", "t.toml"],
        &["run", "http://127.0.0.1:9/", "--sleep", "5 parsecs"],
        &["run", "http://127.0.0.1:9/", "-c", "0"],
    ];
    for args in cases {
        let output = cannon().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    }
    let output = cannon()
        .args(["run", "http://127.0.0.1:9/", "--sleep", "5 parsecs"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--sleep") && stderr.contains("expected a duration like"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_output_is_caught_before_the_run() {
    let (code, stderr) = rejected(GOOD, &["-o", "/nonexistent-dir/out.json"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent-dir/out.json") && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    // A folder passes a "can a file be created beside it" probe but not the final rename.
    let folder = std::env::temp_dir();
    let (code, stderr) = rejected(GOOD, &["-o", folder.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("it is a folder"), "{stderr}");
}

#[test]
fn help_shows_defaults_and_examples() {
    let output = cannon().args(["run", "--help"]).output().unwrap();
    // Wrapped to the terminal width: compare with the line breaks folded.
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for fragment in [
        "[default: 30s]",
        "[default: 1]",
        "--sleep 5s",
        "-n 1000 -c 50",
        "jq",
        "Exit codes",
    ] {
        assert!(
            help.contains(fragment),
            "{fragment:?} missing from run --help:\n{help}"
        );
    }
    let version = cannon().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        concat!("api-cannon ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let output = cannon().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("api-cannon") && script.contains("threshold"),
            "{shell}: {script}"
        );
    }
    let man = cannon().arg("man").output().unwrap();
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH api-cannon 1") && page.contains("completions"),
        "{page}"
    );
    // Each command's page has its options.
    let run = cannon().args(["man", "run"]).output().unwrap();
    let page = String::from_utf8_lossy(&run.stdout);
    assert!(
        page.contains(".TH api-cannon-run 1") && page.contains("threshold"),
        "{page}"
    );
    assert_eq!(
        cannon()
            .args(["man", "nope"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    let bad = cannon().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

const FLOW: &str = "[[flow]]\nname = \"items\"\n[[flow.step]]\nname = \"create\"\nmethod = \"POST\"\nurl = \"BASE/items\"\n";

#[test]
fn a_flow_step_may_only_use_what_earlier_steps_captured() {
    assert_rejected(
        &format!(
            "{FLOW}[[flow.step]]\nname = \"read\"\nurl = \"BASE/items/{{{{item_id}}}}\"\ncapture = {{ item_id = \"/id\" }}\n"
        ),
        &[
            "targets.toml:9:7",
            "step `read` of flow `items`",
            "field `url`",
            "earlier steps captured",
        ],
    );
}

#[test]
fn a_capture_must_say_where_its_value_is() {
    assert_rejected(
        &format!("{FLOW}capture = {{ item_id = \"id\" }}\n"),
        &[
            "targets.toml:7:",
            "field `capture`",
            "JSON pointer",
            "header:ETag",
        ],
    );
    assert_rejected(
        &format!("{FLOW}capture = {{ seq = \"/id\" }}\n"),
        &["field `capture`", "built-in names"],
    );
}

#[test]
fn captures_outside_a_flow_and_flows_without_steps_are_explained() {
    assert_rejected(
        &format!("{GOOD}capture = {{ id = \"/id\" }}\n"),
        &["target `a`", "captures belong to flow steps"],
    );
    assert_rejected(
        "[[flow]]\nname = \"items\"\n",
        &[
            "targets.toml:2:8",
            "flow `items`",
            "at least one [[flow.step]]",
        ],
    );
    assert_rejected(
        &format!("{FLOW}[[flow.step]]\nname = \"create\"\nurl = \"BASE/items\"\n"),
        &[
            "targets.toml:8:8",
            "duplicate step `items/create`",
            "targets.toml:4:8",
        ],
    );
}

#[test]
fn a_host_header_with_http2_points_at_connect_to() {
    let toml = format!("{GOOD}headers = {{ Host = \"api.internal\" }}\n");
    let (code, stderr) = rejected(&toml, &["--http2"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("target `a`") || stderr.contains("`a`"),
        "{stderr}"
    );
    assert!(stderr.contains("--connect-to"), "{stderr}");
}

/// Bash really completes a subcommand's options (clap_complete's script for a hyphenated
/// name never did).
#[test]
fn bash_completes_the_options_of_a_subcommand() {
    let dir = TempDir::new("completion");
    let output = cannon().args(["completions", "bash"]).output().unwrap();
    let script = dir.write("api-cannon.bash", &String::from_utf8_lossy(&output.stdout));
    let probe = format!(
        "source '{}'; COMP_WORDS=(api-cannon run --thr); COMP_CWORD=2; \
         COMP_LINE='api-cannon run --thr'; COMP_POINT=${{#COMP_LINE}}; \
         _api__cannon api-cannon --thr run; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let Ok(out) = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
    else {
        panic!("bash is needed for this test");
    };
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains("--threshold") && reply.contains("--threads"),
        "{reply:?}"
    );
}

#[test]
fn flow_mistakes_name_the_step_and_the_flow() {
    // A step without a url.
    assert_rejected(
        &format!("{FLOW}[[flow.step]]\nname = \"read\"\n"),
        &[
            "targets.toml:8:8",
            "step `read` of flow `items`",
            "field `url`",
            "missing",
        ],
    );
    // A misspelt capture name: the names that can be used are listed.
    assert_rejected(
        &format!(
            "{FLOW}capture = {{ item_id = \"/id\" }}\n[[flow.step]]\nname = \"read\"\nurl = \"BASE/items/{{{{itemid}}}}\"\n"
        ),
        &["`{{itemid}}`", "captured by earlier steps: item_id"],
    );
}

#[test]
fn two_outputs_naming_one_file_are_refused_before_anything_is_sent() {
    let toml = "[[target]]\nname = \"hello\"\nurl = \"BASE/hello\"\n";
    for clash in [
        &["-o", "out.json", "--report", "out.json"][..],
        &["-o", "out.json", "--log-requests", "./out.json"],
        &["--junit", "j.xml", "--markdown", "j.xml"],
    ] {
        let (code, stderr) = rejected(toml, clash);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("both name"), "{stderr}");
    }
}

#[test]
fn an_out_of_range_port_and_a_framing_header_are_config_errors() {
    assert_rejected(
        "[[target]]\nname = \"x\"\nurl = \"http://127.0.0.1:99999/x\"\n",
        &["port `99999` is not a port number"],
    );
    assert_rejected(
        "[[target]]\nname = \"x\"\nurl = \"BASE/hello\"\nmethod = \"POST\"\nbody = \"abc\"\nheaders = { \"Content-Length\" = \"1\" }\n",
        &["`Content-Length` cannot be set"],
    );
}
