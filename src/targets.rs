//! Targets: the endpoints a run fires at, read from targets.toml or from URL arguments.
//!
//! Every mistake in the input is found here, before a single request is sent, and
//! reported with its place (file, line, column; or the argument's position), the target
//! and the field, and what to do about it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::server_time::ServerSpec;
use crate::thresholds::Threshold;

mod env;
mod keys;
mod raw;
pub mod template;

pub use env::expand as expand_env;

/// Which response statuses count as `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectStatus {
    /// Any 2xx (the default).
    AnySuccess,
    /// Exactly these codes.
    Codes(Vec<u16>),
}

impl ExpectStatus {
    /// Whether a response with `status` is `ok`.
    pub fn matches(&self, status: u16) -> bool {
        match self {
            ExpectStatus::AnySuccess => (200..300).contains(&status),
            ExpectStatus::Codes(codes) => codes.contains(&status),
        }
    }
}

/// Where a target's signatures are scoped: `us-west-2`, `execute-api` (`lambda` for
/// function URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Scope {
    /// The AWS region.
    pub region: String,
    /// The service's signing name.
    pub service: String,
    /// Sign `UNSIGNED-PAYLOAD` instead of the body's SHA-256 (`unsigned_payload = true`,
    /// for large bodies where the service allows it).
    pub unsigned_payload: bool,
}

impl std::str::FromStr for SigV4Scope {
    type Err = String;

    /// `REGION:SERVICE`, e.g. `us-west-2:execute-api`.
    fn from_str(text: &str) -> Result<SigV4Scope, String> {
        match text.split_once(':') {
            Some((region, service)) if !region.is_empty() && !service.is_empty() => {
                Ok(SigV4Scope {
                    region: region.to_owned(),
                    service: service.to_owned(),
                    unsigned_payload: false,
                })
            }
            _ => Err(format!(
                "`{text}`: write REGION:SERVICE, e.g. us-west-2:execute-api (lambda for function URLs)"
            )),
        }
    }
}

/// One endpoint, validated and ready to be prepared for sending.
#[derive(Debug, Clone)]
pub struct Target {
    /// Unique name, the key of the endpoint in the results.
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// The URL with `${VAR}`s expanded; scheme is http or https and a host is present.
    pub url: Uri,
    /// The URL as the user wrote it (`${VAR}` not expanded, any password masked): the only
    /// form written to results and summaries, so secrets never reach a file.
    pub display_url: String,
    /// Request headers (defaults merged, target values win).
    pub headers: HeaderMap,
    /// Request body (empty for none).
    pub body: Bytes,
    /// Statuses that count as `ok`.
    pub expect_status: ExpectStatus,
    /// Per-request timeout, connection set-up included.
    pub timeout: Duration,
    /// Thresholds from the targets file (`[defaults.thresholds]` and the target's own),
    /// each naming this target.
    pub thresholds: Vec<Threshold>,
    /// Skip verifying the server's TLS certificate (`insecure = true`, `--insecure`).
    pub insecure: bool,
    /// Redirects to follow, when the file says (`follow_redirects`); else `--follow-redirects`.
    pub follow_redirects: Option<u32>,
    /// The parts rendered per request (`{{seq}}`, `{{uuid}}`, ...); `None` for a plain target.
    pub templates: Option<std::sync::Arc<TargetTemplates>>,
    /// Its part in a `[[flow]]`; `None` for a target of its own.
    pub flow: Option<FlowRole>,
    /// What to read from responses about the server's side (`server_time`, `cold_start`,
    /// `request_id`).
    pub server: ServerSpec,
    /// Sign every request with AWS SigV4 for this scope (`aws_sigv4`, `--aws-sigv4`).
    pub sigv4: Option<SigV4Scope>,
    /// A header whose value a command prints (`auth = { command = [...] }`).
    pub token: Option<TokenCommand>,
}

/// `auth = { command = ["gcloud", "auth", "print-access-token"], refresh = "45m",
/// header = "Authorization", prefix = "Bearer " }`: the command's trimmed output, after
/// `prefix`, is the header's value; it runs before the first request and every `refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenCommand {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// How often it runs again; `None`: once.
    pub refresh: Option<Duration>,
    /// The header it fills (default `Authorization`).
    pub header: HeaderName,
    /// Put before the output (default `Bearer `).
    pub prefix: String,
}

impl Target {
    /// Whether the run schedules it: a target of its own or a whole flow, not a flow's step.
    pub fn is_scheduled(&self) -> bool {
        !matches!(self.flow, Some(FlowRole::Step { .. }))
    }

    /// Whether it stands for whole flow instances rather than HTTP requests.
    pub fn is_whole_flow(&self) -> bool {
        matches!(self.flow, Some(FlowRole::Whole { .. }))
    }

    /// The method as shown in results and the dry run: `FLOW` for a whole flow (which
    /// sends nothing itself), else the HTTP method.
    pub fn method_label(&self) -> &str {
        match self.is_whole_flow() {
            true => "FLOW",
            false => self.method.as_str(),
        }
    }
}

/// A target's part in a `[[flow]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowRole {
    /// A step, named `flow/step`: sent only within its flow's instances, in order.
    Step {
        /// The flow's name.
        flow: String,
        /// What the step takes from its response for later steps.
        captures: Vec<Capture>,
    },
    /// The flow itself: the endpoint of whole instances and their end-to-end latency.
    Whole {
        /// Its steps in order, as indices into the run's targets.
        steps: Vec<usize>,
        /// Every name the flow captures, in slot order (the slots of `{{NAME}}`).
        captures: Vec<String>,
    },
}

/// One value a flow step takes from its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Its slot among the flow's captures.
    pub slot: usize,
    /// The name later steps use (`{{item_id}}`).
    pub name: String,
    /// Where it comes from.
    pub from: CaptureSource,
}

/// Where a captured value is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureSource {
    /// A JSON pointer (RFC 6901) into the response body, e.g. `/id` or `/items/0/id`.
    Body(String),
    /// A response header (`header:ETag`).
    Header(HeaderName),
}

/// A target's templated parts; the static request holds them rendered with sample values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTemplates {
    /// The URL's path and query.
    pub path: Option<template::Template>,
    /// Header values.
    pub headers: Vec<(HeaderName, template::Template)>,
    /// The body.
    pub body: Option<template::Template>,
}

/// Where a bad input is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A position in a targets file (1-based line and column).
    File {
        /// The file as given.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A URL given on the command line (1-based position among the URLs).
    Argument(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { path, line, column } => write!(f, "{}:{line}:{column}", path.display()),
            Place::Argument(n) => write!(f, "URL argument {n}"),
        }
    }
}

/// A problem with the targets, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The file could not be read.
    #[error("cannot read targets file {}: {source}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, a missing required key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file as given.
        path: PathBuf,
        /// The parser's message, with line, column and the offending line.
        message: String,
    },
    /// Keys the file has that no table takes: all of them, each on a line of its own.
    #[error(
        "{}: {} (every key, with its default: examples/every-field.toml)\n  {}",
        path.display(),
        match lines.len() { 1 => "an unknown key".to_owned(), n => format!("{n} unknown keys") },
        lines.join("\n  ")
    )]
    UnknownKeys {
        /// The file as given.
        path: PathBuf,
        /// One per key: place, table, key and the nearest known key.
        lines: Vec<String>,
    },
    /// A value that parses but is not valid.
    #[error("{place}: {owner}, field `{field}`: {problem}")]
    Field {
        /// Where the value is.
        place: Place,
        /// ``target `name` `` or `[defaults]`.
        owner: String,
        /// The key.
        field: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A URL argument that is not one.
    #[error("URL argument {index} `{shown}`: {problem}")]
    Url {
        /// 1-based position among the URLs.
        index: usize,
        /// The URL as given, any password masked.
        shown: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Two targets share a name.
    #[error(
        "{place}: duplicate target name `{name}` (first defined at {first}): names key the results, so each must be unique"
    )]
    Duplicate {
        /// The second definition.
        place: Place,
        /// The name.
        name: String,
        /// The first definition.
        first: Place,
    },
    /// Two steps of a flow share a name (or a step's `flow/step` name is taken).
    #[error(
        "{place}: duplicate step `{name}` (first defined at {first}): steps are named flow/step in the results, so each step name must be unique within its flow"
    )]
    DuplicateStep {
        /// The second definition.
        place: Place,
        /// `flow/step`.
        name: String,
        /// The first definition.
        first: Place,
    },
    /// The file defines no target.
    #[error("{}: no targets: add at least one [[target]] table with a `name` and a `url` (or a [[flow]] with steps)", path.display())]
    Empty {
        /// The file as given.
        path: PathBuf,
    },
}

/// How values are looked up for `${VAR}`: the process environment in the binary, a map in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What `-H`, `-m`, `-d` and `--content-type` say: the request of URL arguments, and for a
/// targets file defaults below its `[defaults]` (which, like each target, overrides them).
#[derive(Debug, Clone, Default)]
pub struct RequestDefaults {
    /// `-m`; with `-d` and no `-m`, POST (as curl does).
    pub method: Option<Method>,
    /// `-H 'Name: value'` and `--content-type`, all marked sensitive (one may be a token).
    pub headers: HeaderMap,
    /// `-d TEXT` or `-d @FILE`.
    pub body: Option<Bytes>,
}

impl RequestDefaults {
    /// From the flags as written. `body` of `@FILE` reads the file. Errors name the flag
    /// and the header, never a header's value.
    pub fn from_flags(
        headers: &[String],
        method: Option<&str>,
        body: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<RequestDefaults, String> {
        let mut map = HeaderMap::new();
        for line in headers {
            let Some((name, value)) = line.split_once(':') else {
                // Not quoted: it may be a token with its colon missing.
                return Err("-H: a header has no `:`; write it as 'Name: value', e.g. \
                            -H 'Accept: application/json'"
                    .to_owned());
            };
            let (name, mut value) =
                parse_header(name.trim(), value.trim()).map_err(|p| format!("-H: {p}"))?;
            value.set_sensitive(true);
            map.append(name, value);
        }
        if let Some(kind) = content_type {
            let (name, value) = parse_header("content-type", kind.trim())
                .map_err(|p| format!("--content-type: {p}"))?;
            map.insert(name, value);
        }
        let body = match body {
            Some(text) => Some(match text.strip_prefix('@') {
                Some(file) => std::fs::read(file)
                    .map(Bytes::from)
                    .map_err(|e| format!("-d @{file}: cannot read it: {e}"))?,
                None => Bytes::copy_from_slice(text.as_bytes()),
            }),
            None => None,
        };
        let method = match method {
            Some(m) => Some(parse_method(m).map_err(|p| format!("-m: {p}"))?),
            None => body.as_ref().map(|_| Method::POST),
        };
        Ok(RequestDefaults {
            method,
            headers: map,
            body,
        })
    }
}

/// Reads and validates a targets file. `default_timeout` applies where neither the target
/// nor `[defaults]` sets one.
pub fn load_file(
    path: &Path,
    default_timeout: Duration,
    lookup: EnvLookup<'_>,
) -> Result<Vec<Target>, TargetsError> {
    load_file_with(path, default_timeout, lookup, &RequestDefaults::default())
}

/// [`load_file`] with the command line's request flags as the lowest defaults.
pub fn load_file_with(
    path: &Path,
    default_timeout: Duration,
    lookup: EnvLookup<'_>,
    cli: &RequestDefaults,
) -> Result<Vec<Target>, TargetsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TargetsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file_with(&text, path, default_timeout, lookup, cli)
}

/// Validates targets file contents; `path` names the file in messages and anchors `body_file`.
pub fn parse_file(
    text: &str,
    path: &Path,
    default_timeout: Duration,
    lookup: EnvLookup<'_>,
) -> Result<Vec<Target>, TargetsError> {
    parse_file_with(
        text,
        path,
        default_timeout,
        lookup,
        &RequestDefaults::default(),
    )
}

/// [`parse_file`] with the command line's request flags as the lowest defaults.
pub fn parse_file_with(
    text: &str,
    path: &Path,
    default_timeout: Duration,
    lookup: EnvLookup<'_>,
    cli: &RequestDefaults,
) -> Result<Vec<Target>, TargetsError> {
    check_keys(text, path)?;
    let file: raw::File = toml::from_str(text).map_err(|e| TargetsError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let ctx = raw::Context {
        text,
        path,
        lookup,
        default_timeout,
        cli,
        line_starts: Default::default(),
    };
    let defaults = ctx.defaults(file.defaults.as_ref())?;
    if file.target.is_empty() && file.flow.is_empty() {
        return Err(TargetsError::Empty {
            path: path.to_owned(),
        });
    }
    let mut seen: HashMap<String, Place> = HashMap::new();
    let mut targets = Vec::with_capacity(file.target.len());
    let mut note = |name: &str, place: Place| match seen.get(name) {
        Some(first) => Err(TargetsError::Duplicate {
            place,
            name: name.to_owned(),
            first: first.clone(),
        }),
        None => {
            seen.insert(name.to_owned(), place);
            Ok(())
        }
    };
    for raw_target in &file.target {
        note(raw_target.name.get_ref(), ctx.place(&raw_target.name))?;
        targets.push(ctx.target(raw_target, &defaults, Default::default())?);
    }
    for raw_flow in &file.flow {
        let flow = ctx.flow(raw_flow, &defaults, targets.len())?;
        note(&flow[0].name, ctx.place(&raw_flow.name))?;
        for (target, raw_step) in flow[1..].iter().zip(&raw_flow.step) {
            note(&target.name, ctx.place(&raw_step.name)).map_err(|e| match e {
                TargetsError::Duplicate { place, name, first } => {
                    TargetsError::DuplicateStep { place, name, first }
                }
                other => other,
            })?;
        }
        targets.extend(flow);
    }
    Ok(targets)
}

/// Every key of the file is one some table takes; the error lists all that are not.
fn check_keys(text: &str, path: &Path) -> Result<(), TargetsError> {
    let unknown = keys::unknown_keys(text, path);
    match unknown.is_empty() {
        true => Ok(()),
        false => Err(TargetsError::UnknownKeys {
            path: path.to_owned(),
            lines: unknown,
        }),
    }
}

/// Turns URL arguments into GET targets named by host and path (`api.test/hello`).
pub fn from_urls(urls: &[String], timeout: Duration) -> Result<Vec<Target>, TargetsError> {
    from_urls_with(urls, timeout, &RequestDefaults::default())
}

/// Turns URL arguments into targets named by host and path (`api.test/hello`), each
/// sending the request `request` describes (a GET with no header or body by default).
pub fn from_urls_with(
    urls: &[String],
    timeout: Duration,
    request: &RequestDefaults,
) -> Result<Vec<Target>, TargetsError> {
    let mut seen: HashMap<String, Place> = HashMap::new();
    let mut targets = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let place = Place::Argument(i + 1);
        let shown = mask_userinfo(url);
        let field_error = |problem: String| TargetsError::Url {
            index: i + 1,
            shown: shown.clone(),
            problem: problem.replace(url.as_str(), &shown),
        };
        let uri = parse_url(url).map_err(field_error)?;
        let name = name_from_url(&uri);
        if let Some(first) = seen.get(&name) {
            return Err(TargetsError::Duplicate {
                place,
                name,
                first: first.clone(),
            });
        }
        seen.insert(name.clone(), place);
        targets.push(Target {
            name,
            method: request.method.clone().unwrap_or(Method::GET),
            display_url: mask_userinfo(url),
            url: uri,
            headers: request.headers.clone(),
            body: request.body.clone().unwrap_or_default(),
            expect_status: ExpectStatus::AnySuccess,
            timeout,
            thresholds: Vec::new(),
            insecure: false,
            follow_redirects: None,
            templates: None,
            flow: None,
            server: ServerSpec::default(),
            sigv4: None,
            token: None,
        });
    }
    Ok(targets)
}

fn name_from_url(uri: &Uri) -> String {
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host = authority.rsplit('@').next().unwrap_or(authority);
    match uri.path() {
        "/" | "" => host.to_owned(),
        path => format!("{host}{path}"),
    }
}

/// Checks that `url` is an absolute http(s) URL with a host.
pub fn parse_url(url: &str) -> Result<Uri, String> {
    // `127.0.0.1:8787/hello` would parse with `127.0.0.1` as its scheme, or not at all.
    if !url.contains("://") {
        return Err(format!(
            "it has no scheme: did you mean http://{url} (or https://)?"
        ));
    }
    let uri: Uri = url.parse().map_err(|e| format!("not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "scheme `{other}` is not supported: use http:// or https://"
            ));
        }
        None => {
            return Err("it has no scheme: write http://HOST/PATH or https://HOST/PATH".to_owned());
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it has no host: write http://HOST/PATH".to_owned());
    }
    check_port(&uri)?;
    Ok(uri)
}

/// A port written in the URL must be one: `http::Uri` reads `:99999` as no port at all,
/// which would silently send to port 80.
fn check_port(uri: &Uri) -> Result<(), String> {
    let Some(authority) = uri.authority() else {
        return Ok(());
    };
    let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    // An IPv6 literal's colons are inside its brackets.
    let after_host = host_port.rsplit(']').next().unwrap_or_default();
    let Some((_, port)) = after_host.rsplit_once(':') else {
        return Ok(());
    };
    match port.parse::<u16>() {
        Ok(1..) => Ok(()),
        _ if port.is_empty() => Ok(()),
        _ => Err(format!(
            "port `{port}` is not a port number: write one from 1 to 65535, or none for the scheme's default"
        )),
    }
}

/// Replaces the user information of a URL (`user:password@`, or a bare `TOKEN@`, which
/// is as secret) with `***`.
pub fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    format!("{}***{}", &url[..scheme_end], &rest[at..])
}

/// The methods a target may use.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

fn parse_method(text: &str) -> Result<Method, String> {
    let upper = text.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        return Err(format!(
            "unknown method `{text}`: expected one of {}",
            METHODS.join(", ")
        ));
    }
    Method::from_bytes(upper.as_bytes()).map_err(|e| e.to_string())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}): write e.g. 500ms, 5s, 1m30s"))?;
    if d.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(d)
}

fn parse_statuses(codes: &[i64]) -> Result<ExpectStatus, String> {
    if codes.is_empty() {
        return Err("empty list: omit the key to accept any 2xx".to_owned());
    }
    let mut out = Vec::with_capacity(codes.len());
    for &code in codes {
        match u16::try_from(code) {
            Ok(c) if (100..=599).contains(&c) => out.push(c),
            _ => {
                return Err(format!(
                    "{code} is not an HTTP status: use codes from 100 to 599"
                ));
            }
        }
    }
    Ok(ExpectStatus::Codes(out))
}

fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of `{name}` has characters a header cannot carry"))?;
    check_framing(&header, &value, name)?;
    Ok((header, value))
}

/// Headers that decide how a request is framed on the connection are api-cannon's to set:
/// a user's `Content-Length` truncates a body or desynchronises the connection (every
/// later request then times out), `Transfer-Encoding` and an upgrade change the protocol.
/// `Host` stays allowed: it frames nothing, and naming a virtual host at an address is
/// what it is for.
fn check_framing(header: &HeaderName, value: &HeaderValue, name: &str) -> Result<(), String> {
    use http::header::{CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING, UPGRADE};
    let upgrade = *header == CONNECTION
        && value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    let why = match header {
        h if *h == CONTENT_LENGTH => "api-cannon sets it from the body",
        h if *h == TRANSFER_ENCODING || *h == TE => "api-cannon frames the body itself",
        h if *h == UPGRADE => "a load test cannot switch protocols mid-connection",
        _ if upgrade => "a load test cannot switch protocols mid-connection",
        _ => return Ok(()),
    };
    Err(format!(
        "`{name}` cannot be set: it decides how the request is framed, and {why}; remove it"
    ))
}

#[cfg(test)]
mod tests;
