//! Property tests for what api-cannon reads from elsewhere and what it writes for others to
//! parse: generated and mutated targets files, mutated results files, hostile names in
//! every output format. Each would have found a finding of issue 12.
//!
//! `cargo test` runs a few dozen cases of each, within seconds; a nightly job can run many
//! more with `PROPTEST_CASES=2000 cargo test --release --test properties`.

mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use api_cannon::export::{Exporter as _, Junit, Markdown, Report};
use api_cannon::results::Results;
use proptest::prelude::*;
use support::{TempDir, cannon, demo, exit_code_within};

/// A valid targets file with a little of everything: the seed the mutations start from.
const TARGETS: &str = r#"[defaults]
timeout = "5s"
headers = { "User-Agent" = "prop" }
server_time = "server-timing:app"
[defaults.thresholds]
p99 = "<1s"
[[target]]
name = "a"
url = "http://127.0.0.1:9/x?q={{seq}}"
method = "POST"
body = '{"n": {{iteration}}}'
expect_status = [200, 201]
[[flow]]
name = "crud"
[[flow.step]]
name = "create"
url = "http://127.0.0.1:9/items"
method = "POST"
capture = { id = "/id" }
[[flow.step]]
name = "read"
url = "http://127.0.0.1:9/items/{{id}}"
"#;

/// Pieces a mutation inserts: TOML syntax, values of the wrong type, hostile text.
const PIECES: [&str; 24] = [
    "\"",
    "'",
    "[",
    "]]",
    "{",
    "}",
    "=",
    "\n",
    "#",
    "\\",
    "${UNSET_VAR}",
    "{{",
    "}}",
    "{{seq",
    "99999",
    "-1",
    "1e400",
    "true",
    "\u{0}",
    "\u{FFFE}",
    "\u{202E}",
    "<script>",
    "[[target]]\nname = \"a\"\n",
    "url = \"ftp://x\"\n",
];

fn mutated_targets() -> impl Strategy<Value = String> {
    let mutation = (any::<prop::sample::Index>(), 0..PIECES.len(), 0..3u8);
    prop::collection::vec(mutation, 0..6).prop_map(|mutations| {
        let mut text = TARGETS.to_owned();
        for (at, piece, how) in mutations {
            let mut cut = at.index(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            match how {
                0 => text.insert_str(cut, PIECES[piece]),
                1 => {
                    let end = (cut + 8).min(text.len());
                    let end = (end..=text.len())
                        .find(|&e| text.is_char_boundary(e))
                        .unwrap_or(cut);
                    text.replace_range(cut..end, "");
                }
                _ => text.truncate(cut),
            }
        }
        text
    })
}

fn no_env(_: &str) -> Option<String> {
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any targets file, however broken: loaded and prepared, or refused, never a panic.
    #[test]
    fn any_targets_file_loads_or_is_refused_without_panic(text in mutated_targets()) {
        let loaded = api_cannon::targets::parse_file(
            &text, Path::new("t.toml"), Duration::from_secs(1), &no_env);
        if let Ok(targets) = loaded {
            let spec = api_cannon::RunSpec::new(api_cannon::prepare::Targets::Given(targets));
            let _ = api_cannon::prepare(spec);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The binary agrees: a dry run of any targets file exits 0 or 2.
    #[test]
    fn a_dry_run_of_any_targets_file_exits_0_or_2(text in mutated_targets()) {
        let dir = TempDir::new("prop-targets");
        let path = dir.write("t.toml", &text);
        let output = cannon()
            .args(["run", "--targets"]).arg(&path).arg("--dry-run")
            .output().expect("runs");
        let code = output.status.code();
        prop_assert!(matches!(code, Some(0 | 2)), "exit {code:?} for:\n{text}\n{}",
            String::from_utf8_lossy(&output.stderr));
    }
}

/// A real run's results, made once: the seed of the results-file mutations.
fn base_results() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let server = demo();
        let dir = TempDir::new("prop-base");
        let out = dir.join("base.json");
        let status = cannon()
            .args([
                "run",
                &server.url("/slipspace/csharp"),
                &server.url("/status/503"),
            ])
            .args(["-n", "4", "-c", "2", "--threshold", "p99<1s", "-q", "-o"])
            .arg(&out)
            .status()
            .expect("runs");
        assert!(status.code().is_some());
        std::fs::read_to_string(&out).expect("results")
    })
}

/// Values a corrupted or hostile file may hold where a number, a string or an object was.
fn odd_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        Just(json!(1e308)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(0.5)),
        Just(json!(null)),
        Just(json!("")),
        Just(json!("<!--<script>")),
        Just(json!("9999-12-31T23:59:59.999Z")),
        Just(json!([])),
        Just(json!({})),
        Just(json!(true)),
        Just(json!("HISTFgarbage")),
    ]
}

/// Replaces the `pick`th node of the tree (depth first) with `value`.
fn replace_node(tree: &mut serde_json::Value, pick: &mut usize, value: &serde_json::Value) -> bool {
    if *pick == 0 {
        *tree = value.clone();
        return true;
    }
    *pick -= 1;
    match tree {
        serde_json::Value::Object(map) => map.values_mut().any(|v| replace_node(v, pick, value)),
        serde_json::Value::Array(items) => items.iter_mut().any(|v| replace_node(v, pick, value)),
        _ => false,
    }
}

fn count_nodes(tree: &serde_json::Value) -> usize {
    1 + match tree {
        serde_json::Value::Object(map) => map.values().map(count_nodes).sum(),
        serde_json::Value::Array(items) => items.iter().map(count_nodes).sum(),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any one value of a results file changed: merge, compare and report exit 0, 1 or 2,
    /// never a panic (101) or a signal, and finish in bounded time.
    #[test]
    fn a_corrupted_results_file_is_read_or_refused(
        pick in any::<prop::sample::Index>(),
        value in odd_value(),
    ) {
        let mut tree: serde_json::Value = serde_json::from_str(base_results()).expect("JSON");
        let mut at = pick.index(count_nodes(&tree));
        replace_node(&mut tree, &mut at, &value);
        let dir = TempDir::new("prop-results");
        let base = dir.write("base.json", base_results());
        let bad = dir.write("bad.json", &tree.to_string());
        let limit = Duration::from_secs(30);
        let codes = [
            exit_code_within(cannon().arg("merge").arg(&bad).args(["-o", "-"]), limit),
            exit_code_within(cannon().arg("compare").arg(&base).arg(&bad), limit),
            exit_code_within(
                cannon().arg("report").arg(&bad).arg("-o").arg(dir.join("r.html")), limit),
        ];
        for code in codes {
            prop_assert!(matches!(code, Some(0..=2)), "exit {code:?} with {value} at node {}", pick.index(1000));
        }
    }
}

/// Names drawn from what breaks formats: markup, script openers, table and link syntax,
/// control characters, XML's non-characters, bidirectional overrides, sheer length.
fn hostile_name() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "<",
        ">",
        "&",
        "\"",
        "'",
        "|",
        "`",
        "*",
        "_",
        "[",
        "]",
        "(",
        ")",
        "!",
        "#",
        "\\",
        "\n",
        "\r",
        "\t",
        "\u{0}",
        "\u{7}",
        "\u{FFFE}",
        "\u{FFFF}",
        "\u{202E}",
        "\u{2028}",
        "<!--",
        "<script>",
        "</script>",
        "![x](http://e.test/x.png)",
        "[l](javascript:x)",
        "| ✅ | fake |",
        "a",
        "name",
        "é",
        "😀",
    ]);
    prop_oneof![
        prop::collection::vec(atoms, 1..12).prop_map(|parts| parts.concat()),
        (1usize..3).prop_map(|k| "x".repeat(k * 35_000)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Hostile names render in every format, and the format's own parser finds the
    /// document whole: every HTML figure, section and table; well-formed JUnit; no link,
    /// image or HTML and no extra row in the Markdown.
    #[test]
    fn hostile_names_keep_every_output_whole(names in prop::collection::vec(hostile_name(), 2)) {
        let mut results: Results = serde_json::from_str(base_results()).expect("results");
        for (endpoint, name) in results.endpoints.iter_mut().zip(&names) {
            endpoint.name.clone_from(name);
        }
        let html = String::from_utf8(Report.render(&results)).expect("UTF-8");
        let page = scraper::Html::parse_document(&html);
        let count = |css: &str| page.select(&scraper::Selector::parse(css).expect("css")).count();
        let figures = html.matches("<figure class=\"chart\"").count();
        prop_assert_eq!(count("figure.chart"), figures);
        prop_assert_eq!(count("h2"), html.matches("<h2>").count());
        prop_assert_eq!(count("table"), html.matches("<table>").count());
        prop_assert_eq!(count("script"), figures + 1);

        let junit = String::from_utf8(Junit.render(&results)).expect("UTF-8");
        prop_assert!(roxmltree::Document::parse(&junit).is_ok(), "JUnit does not parse");

        let markdown = String::from_utf8(Markdown.render(&results)).expect("UTF-8");
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let mut rows = 0;
        for event in Parser::new_ext(&markdown, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::Image { .. } | Tag::Link { .. }) => prop_assert!(false, "a link"),
                Event::Html(_) | Event::InlineHtml(_) => prop_assert!(false, "raw HTML"),
                Event::End(TagEnd::TableRow) => rows += 1,
                _ => {}
            }
        }
        let expected = results.endpoints.len() + 1 + results.thresholds.len();
        prop_assert_eq!(rows, expected);
    }
}
