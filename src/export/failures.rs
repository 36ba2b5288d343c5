//! Endpoints with no ok response at all, said loudly: a run where nothing worked must not
//! look like a fast one. Each gets its most common error, what was said about it, and a
//! hint when the cause is a usual one (nothing listening, an untrusted certificate,
//! credentials refused, a wrong path).

use std::fmt::Write as _;

use crate::outcome::ErrorKind;
use crate::results::{EndpointResult, Results};

/// The endpoints that sent requests and got no ok response.
pub fn failed_endpoints(results: &Results) -> impl Iterator<Item = &EndpointResult> {
    results.endpoints.iter().filter(|e| e.failed_entirely())
}

/// A `FAILED` block per endpoint with no ok response (empty when there is none), for the
/// summary and, as failed thresholds are, for `--quiet`.
pub fn failure_lines(results: &Results) -> String {
    let mut out = String::new();
    for e in failed_endpoints(results) {
        let requests = match e.requests {
            1 => "its one request".to_owned(),
            2 => "either of its 2 requests".to_owned(),
            n => format!("any of its {n} requests"),
        };
        let _ = writeln!(out, "FAILED: {}: no ok response to {requests}", e.name);
        if let Some((kind, said)) = main_error(e) {
            let _ = writeln!(out, "  {kind}: {said}");
        }
        if let Some(hint) = hint(e) {
            let _ = writeln!(out, "  hint: {hint}");
        }
    }
    out
}

/// The most common error kind of the endpoint and what was said about it (for `status`,
/// the statuses).
fn main_error(e: &EndpointResult) -> Option<(&'static str, String)> {
    let (kind, _) = e
        .error_kinds
        .iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)?;
    let said = match kind {
        ErrorKind::Status => statuses(e),
        _ => e
            .error_details
            .get(kind.as_str())
            .cloned()
            .unwrap_or_default(),
    };
    Some((kind.as_str(), said))
}

/// `401×12 403×3`, most common first.
fn statuses(e: &EndpointResult) -> String {
    let mut counts: Vec<(&String, &u64)> = e.status.iter().collect();
    counts.sort_by(|a, b| b.1.cmp(a.1));
    let counts: Vec<String> = counts
        .iter()
        .map(|(code, n)| format!("{code}×{n}"))
        .collect();
    format!("the statuses were {}", counts.join(" "))
}

/// What usually causes the endpoint's main error, and what to do about it.
fn hint(e: &EndpointResult) -> Option<&'static str> {
    let (kind, said) = main_error(e)?;
    let status = e
        .status
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(code, _)| code.as_str());
    hint_for(kind, &said, status)
}

/// The hint for an error of `kind` of which `said` was said, `status` the most common.
fn hint_for(kind: &str, said: &str, status: Option<&str>) -> Option<&'static str> {
    let said = said.to_ascii_lowercase();
    Some(match (kind, status) {
        ("connect", _) if said.contains("refused") => {
            "nothing listens there: is the server running, and is the port right?"
        }
        ("connect", _) if said.contains("resolv") || said.contains("lookup") => {
            "the host name does not resolve: check the URL's host"
        }
        ("connect", _) => "the host cannot be reached: check the URL and the network",
        ("tls", _) if said.contains("unknownissuer") => {
            "the server's certificate is not trusted: give its CA with --cacert FILE \
             (or --insecure, which measures without verifying anyone)"
        }
        ("tls", _) if said.contains("notvalidforname") => {
            "the certificate is for another name: use the host it was issued for in the URL \
             (--connect-to HOST:PORT:ADDRESS:PORT aims it at an address)"
        }
        ("tls", _) => "check that the port speaks TLS, and --cacert / --tls-min",
        ("protocol", _) => {
            "the answer was not HTTP/1.1: is the scheme right (http:// or https://), \
             or does the server need --http2?"
        }
        ("timeout", _) => "no answer in time: is the server up? Raise --timeout if it is slow",
        ("status", Some("401" | "403")) => {
            "authentication: add a header (-H 'Authorization: Bearer ...'), aws_sigv4 or an \
             auth command (README: Authentication)"
        }
        ("status", Some("404")) => "no such path: check the URL's path",
        ("status", Some("405")) => "the method is not allowed there: check the method",
        ("status", Some(code)) if code.starts_with('5') => "the server failed: its logs say why",
        ("status", _) => "if these statuses are right for it, say so with expect_status",
        ("local", _) => "api-cannon ran out of file descriptors: raise ulimit -n or lower -c",
        ("auth", _) => "the AWS credentials expired and could not be renewed",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_causes_get_their_hint() {
        let cases = [
            (
                "connect",
                "127.0.0.1:9: Connection refused (os error 111)",
                None,
                "running",
            ),
            (
                "tls",
                "invalid peer certificate: UnknownIssuer",
                None,
                "--cacert",
            ),
            ("status", "", Some("403"), "Authorization"),
            ("status", "", Some("404"), "path"),
            (
                "timeout",
                "no complete response within 5s",
                None,
                "--timeout",
            ),
        ];
        for (kind, detail, status, hint_has) in cases {
            let said = hint_for(kind, detail, status).expect("a hint");
            assert!(said.contains(hint_has), "{kind}: {said}");
        }
    }
}
