//! Every unknown key of a targets file at once, each with its place and the known key it
//! is most likely a typo of. serde stops at the first unknown field, so a file with two
//! typos took two runs to fix, and its message listed seventeen keys instead of the one
//! that was meant.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The keys of the top level.
const TOP: &[&str] = &["defaults", "target", "flow"];
/// The keys of `[defaults]`.
const DEFAULTS: &[&str] = &[
    "timeout",
    "headers",
    "expect_status",
    "thresholds",
    "insecure",
    "follow_redirects",
    "server_time",
    "cold_start",
    "request_id",
    "aws_sigv4",
    "auth",
];
/// The keys of a `[[target]]` and a `[[flow.step]]`.
const TARGET: &[&str] = &[
    "name",
    "url",
    "method",
    "headers",
    "body",
    "body_file",
    "expect_status",
    "timeout",
    "thresholds",
    "insecure",
    "follow_redirects",
    "capture",
    "server_time",
    "cold_start",
    "request_id",
    "aws_sigv4",
    "auth",
];
/// The keys of a `[[flow]]`.
const FLOW: &[&str] = &["name", "step", "thresholds"];
/// The keys of `auth = { ... }`.
const AUTH: &[&str] = &["command", "refresh", "header", "prefix"];
/// The keys of `aws_sigv4 = { ... }`.
const SIGV4: &[&str] = &["region", "service", "unsigned_payload"];

/// Each unknown key as a line: `FILE:LINE:COLUMN: TABLE: `KEY` ...`, with a suggestion when
/// a known key is close. Empty when there is none, or when the file does not parse (the
/// parser's own message then says why).
pub(super) fn unknown_keys(text: &str, path: &Path) -> Vec<String> {
    let Ok(top) = DeTable::parse(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut check = |table: &DeTable<'_>, known: &[&str], owner: &str| {
        for key in table.keys() {
            if !known.contains(&key.get_ref().as_ref()) {
                found.push(line(text, path, key, known, owner));
            }
        }
    };
    let top = top.get_ref();
    check(top, TOP, "the top level");
    if let Some(defaults) = table_of(top, "defaults") {
        check(defaults, DEFAULTS, "[defaults]");
        nested(defaults, "[defaults]", &mut check);
    }
    for target in tables_of(top, "target") {
        check(target, TARGET, "[[target]]");
        nested(target, "[[target]]", &mut check);
    }
    for flow in tables_of(top, "flow") {
        check(flow, FLOW, "[[flow]]");
        for step in tables_of(flow, "step") {
            check(step, TARGET, "[[flow.step]]");
            nested(step, "[[flow.step]]", &mut check);
        }
    }
    found
}

/// Checks the `auth` and `aws_sigv4` tables inside `table`.
fn nested(table: &DeTable<'_>, owner: &str, check: &mut impl FnMut(&DeTable<'_>, &[&str], &str)) {
    if let Some(auth) = table_of(table, "auth") {
        check(auth, AUTH, &format!("{owner} auth"));
    }
    if let Some(sigv4) = table_of(table, "aws_sigv4") {
        check(sigv4, SIGV4, &format!("{owner} aws_sigv4"));
    }
}

/// The table under `key`, if it is one.
fn table_of<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeTable<'i>> {
    match table.get(key).map(Spanned::get_ref) {
        Some(DeValue::Table(inner)) => Some(inner),
        _ => None,
    }
}

/// The tables of the array of tables under `key`.
fn tables_of<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Vec<&'a DeTable<'i>> {
    match table.get(key).map(Spanned::get_ref) {
        Some(DeValue::Array(items)) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::Table(inner) => Some(inner),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `targets.toml:4:1: [[target]]: unknown key `urll`: did you mean `url`?`
fn line(
    text: &str,
    path: &Path,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    known: &[&str],
    owner: &str,
) -> String {
    let at = key.span().start.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let name = key.get_ref();
    let hint = match closest(name, known) {
        Some(known) => format!("did you mean `{known}`?"),
        None => format!("expected one of {}", known.join(", ")),
    };
    format!(
        "{}:{line}:{column}: {owner}: unknown key `{name}`: {hint}",
        path.display()
    )
}

/// The known key `typed` is most likely a typo of, if any is close enough.
fn closest<'k>(typed: &str, known: &[&'k str]) -> Option<&'k str> {
    let typed = typed.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&typed, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys serde's "expected one of" names for an unknown key at `at` in `text`.
    fn serde_keys(text: &str) -> Vec<String> {
        let error = match toml::from_str::<super::super::raw::File>(text) {
            Ok(_) => panic!("an unknown key must be refused: {text}"),
            Err(e) => e.to_string(),
        };
        let listed = error.split("expected one of ").nth(1).unwrap_or_default();
        listed
            .split(", ")
            .map(|k| k.trim().trim_matches('`').to_owned())
            .collect()
    }

    /// The lists here and the raw structs serde reads must not drift apart.
    #[test]
    fn the_key_lists_are_the_raw_structs_keys() {
        let cases: [(&str, &[&str]); 6] = [
            ("zzz = 1", TOP),
            ("[defaults]\nzzz = 1", DEFAULTS),
            ("[[target]]\nname = \"a\"\nzzz = 1", TARGET),
            ("[[flow]]\nname = \"f\"\nzzz = 1", FLOW),
            ("[defaults]\nauth = { command = [\"x\"], zzz = 1 }", AUTH),
            (
                "[defaults]\naws_sigv4 = { region = \"r\", service = \"s\", zzz = 1 }",
                SIGV4,
            ),
        ];
        for (text, ours) in cases {
            assert_eq!(serde_keys(text), ours, "{text}");
        }
    }

    #[test]
    fn every_unknown_key_is_named_with_its_place_and_nearest_key() {
        let text = "[defaults]\ntimout = \"5s\"\n\n[[target]]\nname = \"a\"\nurll = \"http://x/\"\n\
                    aws_sigv4 = { region = \"r\", servce = \"s\" }\n[[flow]]\nname = \"f\"\n\
                    [[flow.step]]\nname = \"s\"\nurl = \"http://x/\"\nbananas = 1\n";
        let found = unknown_keys(text, Path::new("t.toml"));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert_eq!(
            found[0],
            "t.toml:2:1: [defaults]: unknown key `timout`: did you mean `timeout`?"
        );
        assert!(
            found[1].starts_with("t.toml:6:1: [[target]]: unknown key `urll`: did you mean `url`?")
        );
        assert!(found[2].contains("aws_sigv4: unknown key `servce`: did you mean `service`?"));
        assert!(
            found[3].contains("`bananas`: expected one of name, url"),
            "{}",
            found[3]
        );
    }
}
