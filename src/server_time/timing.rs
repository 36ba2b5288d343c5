//! The W3C `Server-Timing` response header, read leniently: what a server says about its
//! own time is information, never a reason to fail the request.
//!
//! `Server-Timing: db;dur=53.2, app;dur=47.2;desc="a, b", cache;desc=hit`. Entries are
//! separated by commas outside quoted strings; parameters by semicolons. Only the first
//! `dur` of an entry counts (as the specification's processing model says); a `dur` that is
//! not a finite number ≥ 0 counts as absent. An entry whose name is not a token is skipped.

/// One entry of a `Server-Timing` header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    /// The metric's name, as sent.
    pub name: &'a str,
    /// Its `dur` parameter in milliseconds; `None` when absent or not a valid duration.
    pub dur_ms: Option<f64>,
}

/// The entries of one `Server-Timing` header line, in order; malformed ones left out.
/// Allocates nothing: it runs for every response that carries the header.
pub fn metrics(line: &str) -> impl Iterator<Item = Metric<'_>> {
    split_outside_quotes(line, ',').filter_map(metric)
}

/// A metric of `name` in `line` (ASCII case-insensitive, as header tokens are compared).
pub fn find<'a>(line: &'a str, name: &str) -> Option<Metric<'a>> {
    metrics(line).find(|m| m.name.eq_ignore_ascii_case(name))
}

fn metric(entry: &str) -> Option<Metric<'_>> {
    let mut parts = split_outside_quotes(entry, ';');
    let name = parts.next()?.trim();
    if !is_token(name) {
        return None;
    }
    let dur = parts.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("dur")
            .then(|| unquoted(value.trim()))
    });
    Some(Metric {
        name,
        dur_ms: dur.and_then(milliseconds),
    })
}

/// A number of milliseconds as a server writes it: finite and not negative.
pub fn milliseconds(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// `"..."` without its quotes (escapes are left as they are: a `dur` has none).
fn unquoted(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// RFC 9110's `token`: what a metric name must be.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Pieces of `text` between `separator`s that are not inside a quoted string (a backslash
/// inside quotes escapes the next character).
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (at, c) in current.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == separator && !quoted => {
                    rest = Some(&current[at + c.len_utf8()..]);
                    return Some(&current[..at]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(line: &str) -> Vec<(&str, Option<f64>)> {
        metrics(line).map(|m| (m.name, m.dur_ms)).collect()
    }

    #[test]
    fn reads_names_durations_and_descriptions() {
        assert_eq!(
            all(r#"db;dur=53.2, app;desc="a, b; c";dur=47, cache;desc=hit"#),
            vec![("db", Some(53.2)), ("app", Some(47.0)), ("cache", None)]
        );
        assert_eq!(all("total;dur=\"12.5\""), vec![("total", Some(12.5))]);
        assert_eq!(all("x ; DUR = 3 "), vec![("x", Some(3.0))]);
    }

    #[test]
    fn only_the_first_dur_counts_and_bad_ones_count_as_absent() {
        assert_eq!(all("a;dur=1;dur=2"), vec![("a", Some(1.0))]);
        for bad in ["-1", "NaN", "inf", "1e400", "abc", ""] {
            assert_eq!(all(&format!("a;dur={bad}")), vec![("a", None)], "{bad}");
        }
    }

    #[test]
    fn malformed_entries_are_skipped_not_fatal() {
        assert_eq!(
            all(r#", ;dur=1, "quoted";dur=2, ok;dur=3, bad name;dur=4, ,"#),
            vec![("ok", Some(3.0))]
        );
        // An unterminated quote swallows the rest of the line, nothing more.
        assert_eq!(
            all(r#"a;dur=1, b;desc="open, c;dur=2"#),
            vec![("a", Some(1.0)), ("b", None)]
        );
        assert_eq!(all(r#"a;desc="x\", y";dur=5"#), vec![("a", Some(5.0))]);
        assert!(all("").is_empty());
    }

    #[test]
    fn finds_a_metric_ignoring_case() {
        let line = "init;dur=812, handler;dur=0.18";
        assert_eq!(find(line, "INIT").and_then(|m| m.dur_ms), Some(812.0));
        assert_eq!(find(line, "handler").and_then(|m| m.dur_ms), Some(0.18));
        assert!(find(line, "db").is_none());
    }
}
