//! The targets file as written (serde types with spans), and its conversion into
//! validated [`Target`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use toml::Spanned;

use std::sync::Arc;

use crate::server_time::ServerSpec;
use crate::thresholds::Threshold;

use super::template::{Scope, Template, Values};
use super::{
    Capture, CaptureSource, EnvLookup, ExpectStatus, FlowRole, Place, SigV4Scope, Target,
    TargetTemplates, TargetsError, TokenCommand, env, mask_userinfo, parse_duration, parse_header,
    parse_method, parse_statuses, parse_url,
};

/// Where a target stands: on its own, or as a step of a flow (whose captures it may use).
#[derive(Clone, Copy, Default)]
pub(super) struct Within<'a> {
    /// The flow's name, for a step.
    flow: Option<&'a str>,
    /// Which captured names its templates may use.
    scope: Scope<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub defaults: Option<Spanned<Defaults>>,
    #[serde(default)]
    pub target: Vec<RawTarget>,
    #[serde(default)]
    pub flow: Vec<RawFlow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlow {
    pub name: Spanned<String>,
    #[serde(default)]
    pub step: Vec<RawTarget>,
    #[serde(default)]
    thresholds: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Defaults {
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    expect_status: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    thresholds: BTreeMap<String, Spanned<String>>,
    insecure: Option<bool>,
    follow_redirects: Option<u32>,
    server_time: Option<Spanned<String>>,
    cold_start: Option<Spanned<String>>,
    request_id: Option<Spanned<String>>,
    aws_sigv4: Option<RawSigV4>,
    auth: Option<Spanned<RawAuth>>,
}

/// `auth = { command = [...], refresh = "45m", header = "Authorization", prefix = "Bearer " }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    command: Vec<String>,
    refresh: Option<String>,
    header: Option<String>,
    prefix: Option<String>,
}

/// `aws_sigv4 = { region = "us-west-2", service = "execute-api" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigV4 {
    region: String,
    service: String,
    #[serde(default)]
    unsigned_payload: bool,
}

impl From<RawSigV4> for SigV4Scope {
    fn from(raw: RawSigV4) -> SigV4Scope {
        SigV4Scope {
            region: raw.region,
            service: raw.service,
            unsigned_payload: raw.unsigned_payload,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub name: Spanned<String>,
    // Optional here so a missing one is reported with its target (or step) and flow.
    url: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    body: Option<Spanned<String>>,
    body_file: Option<Spanned<PathBuf>>,
    expect_status: Option<Spanned<Vec<i64>>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    thresholds: BTreeMap<String, Spanned<String>>,
    insecure: Option<bool>,
    follow_redirects: Option<u32>,
    capture: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    server_time: Option<Spanned<String>>,
    cold_start: Option<Spanned<String>>,
    request_id: Option<Spanned<String>>,
    aws_sigv4: Option<RawSigV4>,
    auth: Option<Spanned<RawAuth>>,
}

/// `"/id"` (a JSON pointer into the body) or `"header:ETag"`.
fn capture_source(text: &str) -> Result<CaptureSource, String> {
    if let Some(name) = text.strip_prefix("header:") {
        return http::HeaderName::from_bytes(name.trim().as_bytes())
            .map(CaptureSource::Header)
            .map_err(|_| format!("`{}` is not a valid header name", name.trim()));
    }
    if text.is_empty() || text.starts_with('/') {
        return Ok(CaptureSource::Body(text.to_owned()));
    }
    Err(format!(
        "`{text}` says neither where in the body nor which header: write a JSON pointer such as \"/id\" or \"/data/0/id\", or \"header:ETag\""
    ))
}

/// The parts of a request rendered per request; `None` when nothing is templated.
fn templates(
    path: Option<Template>,
    headers: Vec<(http::HeaderName, Template)>,
    body: Option<Template>,
) -> Option<Arc<TargetTemplates>> {
    match (path, headers.is_empty(), body) {
        (None, true, None) => None,
        (path, _, body) => Some(Arc::new(TargetTemplates {
            path,
            headers,
            body,
        })),
    }
}

/// `[defaults]` after validation.
pub(super) struct ResolvedDefaults {
    timeout: Duration,
    headers: HeaderMap,
    expect_status: ExpectStatus,
    thresholds: Vec<Threshold>,
    insecure: bool,
    follow_redirects: Option<u32>,
    header_templates: Vec<(http::HeaderName, Template)>,
    server: ServerSpec,
    sigv4: Option<SigV4Scope>,
    token: Option<TokenCommand>,
}

pub(super) struct Context<'a> {
    pub text: &'a str,
    pub path: &'a Path,
    pub lookup: EnvLookup<'a>,
    pub default_timeout: Duration,
    /// The command line's `-H`, `-m`, `-d`: below `[defaults]` and every target.
    pub cli: &'a super::RequestDefaults,
    /// Where each line of `text` starts, made at the first place asked for: every target's
    /// place is noted (for duplicate names), and rescanning the text for each made loading
    /// 20,000 targets take seconds.
    pub line_starts: std::cell::OnceCell<Vec<usize>>,
}

impl Context<'_> {
    pub fn place<T>(&self, spanned: &Spanned<T>) -> Place {
        let offset = spanned.span().start.min(self.text.len());
        let starts = self.line_starts.get_or_init(|| {
            let breaks = self.text.match_indices('\n').map(|(at, _)| at + 1);
            std::iter::once(0).chain(breaks).collect()
        });
        // The last line starting at or before the offset.
        let index = starts.partition_point(|&start| start <= offset).max(1) - 1;
        let line_start = starts.get(index).copied().unwrap_or(0);
        let line = index + 1;
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |l| l.chars().count())
            + 1;
        Place::File {
            path: self.path.to_owned(),
            line,
            column,
        }
    }

    fn error<T>(
        &self,
        at: &Spanned<T>,
        owner: &str,
        field: &'static str,
        problem: String,
    ) -> TargetsError {
        TargetsError::Field {
            place: self.place(at),
            owner: owner.to_owned(),
            field,
            problem,
        }
    }

    fn expand(
        &self,
        at: &Spanned<String>,
        owner: &str,
        field: &'static str,
    ) -> Result<String, TargetsError> {
        env::expand(at.get_ref(), self.lookup).map_err(|p| self.error(at, owner, field, p))
    }

    pub fn defaults(
        &self,
        raw: Option<&Spanned<Defaults>>,
    ) -> Result<ResolvedDefaults, TargetsError> {
        let owner = "[defaults]";
        let mut resolved = ResolvedDefaults {
            timeout: self.default_timeout,
            headers: self.cli.headers.clone(),
            expect_status: ExpectStatus::AnySuccess,
            thresholds: Vec::new(),
            insecure: false,
            follow_redirects: None,
            header_templates: Vec::new(),
            server: ServerSpec::default(),
            sigv4: None,
            token: None,
        };
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return Ok(resolved);
        };
        if let Some(t) = &raw.timeout {
            resolved.timeout =
                parse_duration(t.get_ref()).map_err(|p| self.error(t, owner, "timeout", p))?;
        }
        if let Some(codes) = &raw.expect_status {
            resolved.expect_status = parse_statuses(codes.get_ref())
                .map_err(|p| self.error(codes, owner, "expect_status", p))?;
        }
        self.add_headers(
            &mut resolved.headers,
            &mut resolved.header_templates,
            &raw.headers,
            owner,
            &Scope::default(),
        )?;
        resolved.thresholds = self.thresholds(&raw.thresholds, owner)?;
        resolved.insecure = raw.insecure.unwrap_or(false);
        resolved.follow_redirects = raw.follow_redirects;
        resolved.sigv4 = raw.aws_sigv4.clone().map(SigV4Scope::from);
        resolved.token = raw
            .auth
            .as_ref()
            .map(|a| self.token(a, owner))
            .transpose()?;
        resolved.server = self.server_spec(
            [&raw.server_time, &raw.cold_start, &raw.request_id],
            &resolved.server,
            owner,
        )?;
        Ok(resolved)
    }

    /// `server_time`, `cold_start` and `request_id`, in that order, over `defaults`.
    fn server_spec(
        &self,
        [time, cold, id]: [&Option<Spanned<String>>; 3],
        defaults: &ServerSpec,
        owner: &str,
    ) -> Result<ServerSpec, TargetsError> {
        let mut spec = defaults.clone();
        if let Some(at) = time {
            spec.time = Some(self.parsed(at, owner, "server_time")?);
        }
        if let Some(at) = cold {
            spec.cold = self.parsed(at, owner, "cold_start")?;
        }
        if let Some(at) = id {
            spec.request_id = self.parsed(at, owner, "request_id")?;
        }
        Ok(spec)
    }

    /// A field's trimmed text parsed as `T`, its error placed on the field.
    fn parsed<T: std::str::FromStr<Err = String>>(
        &self,
        at: &Spanned<String>,
        owner: &str,
        field: &'static str,
    ) -> Result<T, TargetsError> {
        at.get_ref()
            .trim()
            .parse()
            .map_err(|p| self.error(at, owner, field, p))
    }

    /// An `auth` table checked: a command, a duration, a header name, a prefix a header
    /// value can start with.
    fn token(&self, at: &Spanned<RawAuth>, owner: &str) -> Result<TokenCommand, TargetsError> {
        let raw = at.get_ref();
        let fail = |problem: String| self.error(at, owner, "auth", problem);
        if raw.command.first().is_none_or(String::is_empty) {
            return Err(fail(
                "command is empty: write command = [\"program\", \"arg\", ...]".to_owned(),
            ));
        }
        let refresh = raw
            .refresh
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(&fail)?;
        let header = raw.header.as_deref().unwrap_or("Authorization");
        let prefix = raw.prefix.clone().unwrap_or_else(|| "Bearer ".to_owned());
        let (header, _) = parse_header(header, &format!("{prefix}token")).map_err(&fail)?;
        Ok(TokenCommand {
            command: raw.command.clone(),
            refresh,
            header,
            prefix,
        })
    }

    /// `metric = "OP VALUE"` pairs, e.g. `p99 = "<200ms"`, `error_rate = "<1%"`.
    fn thresholds(
        &self,
        raw: &BTreeMap<String, Spanned<String>>,
        owner: &str,
    ) -> Result<Vec<Threshold>, TargetsError> {
        raw.iter()
            .map(|(metric, condition)| {
                Threshold::parse(&format!("{metric}{}", condition.get_ref()))
                    .map_err(|e| self.error(condition, owner, "thresholds", e.to_string()))
            })
            .collect()
    }

    /// Adds headers; templated values are checked with sample values and also kept as
    /// templates (replacing any earlier template of the same header).
    fn add_headers(
        &self,
        into: &mut HeaderMap,
        templates: &mut Vec<(http::HeaderName, Template)>,
        raw: &BTreeMap<String, Spanned<String>>,
        owner: &str,
        scope: &Scope<'_>,
    ) -> Result<(), TargetsError> {
        for (name, value) in raw {
            let expanded = self.expand(value, owner, "headers")?;
            let template = self.template(value, owner, "headers", &expanded, 0, scope)?;
            let probe = template
                .as_ref()
                .map_or_else(|| expanded.clone(), |t| t.render(&Values::SAMPLE));
            let (name, header) =
                parse_header(name, &probe).map_err(|p| self.error(value, owner, "headers", p))?;
            templates.retain(|(n, _)| *n != name);
            if let Some(template) = template {
                templates.push((name.clone(), template));
            }
            into.insert(name, header);
        }
        Ok(())
    }

    fn template(
        &self,
        at: &Spanned<String>,
        owner: &str,
        field: &'static str,
        text: &str,
        offset: usize,
        scope: &Scope<'_>,
    ) -> Result<Option<Template>, TargetsError> {
        Template::parse_in(text, scope).map_err(|(pos, problem)| {
            self.error(
                at,
                owner,
                field,
                format!("{problem} (at character {} of the value)", offset + pos + 1),
            )
        })
    }

    /// The URL with any template in its path checked: returns the URL rendered with sample
    /// values (for validation and the connection) and the path template.
    fn url_template(
        &self,
        at: &Spanned<String>,
        owner: &str,
        url: &str,
        scope: &Scope<'_>,
    ) -> Result<(String, Option<Template>), TargetsError> {
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        let path_start = url[authority_start..]
            .find(['/', '?'])
            .map_or(url.len(), |i| authority_start + i);
        let (origin, path) = url.split_at(path_start);
        if origin.contains("{{") {
            let problem =
                "templates may only stand in the path and query, not the scheme or host".to_owned();
            return Err(self.error(at, owner, "url", problem));
        }
        let scope = Scope {
            in_url: true,
            ..*scope
        };
        match self.template(at, owner, "url", path, origin.len(), &scope)? {
            Some(template) => Ok((
                format!("{origin}{}", template.render(&Values::SAMPLE)),
                Some(template),
            )),
            None => Ok((url.to_owned(), None)),
        }
    }

    /// A `[[target]]` (or, `within` a flow, a `[[flow.step]]`) validated, `defaults`
    /// applied where it sets nothing of its own.
    pub fn target(
        &self,
        raw: &RawTarget,
        defaults: &ResolvedDefaults,
        within: Within<'_>,
    ) -> Result<Target, TargetsError> {
        let (name, owner) = self.names(raw, within)?;
        let (name, owner) = (&name, owner.as_str());
        let scope = &within.scope;
        let (url, display_url, path_template) = self.url(raw, owner, scope)?;
        let method = match &raw.method {
            Some(m) => parse_method(m.get_ref()).map_err(|p| self.error(m, owner, "method", p))?,
            None => self.cli.method.clone().unwrap_or(http::Method::GET),
        };
        let (headers, header_templates) = self.headers(raw, defaults, owner, scope)?;
        let body_template = self.body_template(raw, owner, scope)?;
        let templates = templates(path_template, header_templates, body_template);
        let (expect_status, timeout) = self.status_and_timeout(raw, defaults, owner)?;
        Ok(Target {
            name: name.clone(),
            method,
            url,
            display_url,
            headers,
            body: self.body(raw, owner)?,
            expect_status,
            timeout,
            thresholds: defaults
                .thresholds
                .iter()
                .cloned()
                .chain(self.thresholds(&raw.thresholds, owner)?)
                .map(|t| t.for_endpoint(name))
                .collect(),
            insecure: raw.insecure.unwrap_or(defaults.insecure),
            follow_redirects: raw.follow_redirects.or(defaults.follow_redirects),
            templates,
            flow: None,
            server: self.server_spec(
                [&raw.server_time, &raw.cold_start, &raw.request_id],
                &defaults.server,
                owner,
            )?,
            sigv4: raw
                .aws_sigv4
                .clone()
                .map(SigV4Scope::from)
                .or_else(|| defaults.sigv4.clone()),
            token: match &raw.auth {
                Some(auth) => Some(self.token(auth, owner)?),
                None => defaults.token.clone(),
            },
        })
    }

    /// The target's `expect_status` and `timeout`, or the defaults'.
    fn status_and_timeout(
        &self,
        raw: &RawTarget,
        defaults: &ResolvedDefaults,
        owner: &str,
    ) -> Result<(ExpectStatus, Duration), TargetsError> {
        let expect_status = match &raw.expect_status {
            Some(c) => {
                parse_statuses(c.get_ref()).map_err(|p| self.error(c, owner, "expect_status", p))?
            }
            None => defaults.expect_status.clone(),
        };
        let timeout = match &raw.timeout {
            Some(t) => {
                parse_duration(t.get_ref()).map_err(|p| self.error(t, owner, "timeout", p))?
            }
            None => defaults.timeout,
        };
        Ok((expect_status, timeout))
    }

    /// A request's full name (`flow/step` for a step) and how errors name its owner; only
    /// a flow step may capture.
    fn names(&self, raw: &RawTarget, within: Within<'_>) -> Result<(String, String), TargetsError> {
        let short = raw.name.get_ref();
        if short.trim().is_empty() {
            let what = if within.flow.is_some() {
                "a flow step"
            } else {
                "a target"
            };
            return Err(self.error(&raw.name, what, "name", "must not be empty".to_owned()));
        }
        let (name, owner) = match within.flow {
            Some(flow) => (
                format!("{flow}/{short}"),
                format!("step `{short}` of flow `{flow}`"),
            ),
            None => (short.clone(), format!("target `{short}`")),
        };
        if let (Some(capture), None) = (&raw.capture, within.flow) {
            let problem = "captures belong to flow steps: move this request into a [[flow]] as a [[flow.step]]".to_owned();
            return Err(self.error(capture, &owner, "capture", problem));
        }
        Ok((name, owner))
    }

    /// The request's URL rendered with sample values, the URL as written with any password
    /// masked (for results), and the template of its path.
    fn url(
        &self,
        raw: &RawTarget,
        owner: &str,
        scope: &Scope<'_>,
    ) -> Result<(http::Uri, String, Option<Template>), TargetsError> {
        let Some(raw_url) = &raw.url else {
            let problem = "missing: every request needs url = \"http://HOST/PATH\" (or https://)";
            return Err(self.error(&raw.name, owner, "url", problem.to_owned()));
        };
        let url_text = self.expand(raw_url, owner, "url")?;
        let (url_text, path_template) = self.url_template(raw_url, owner, &url_text, scope)?;
        let shown = mask_userinfo(raw_url.get_ref());
        // A message names the URL as written: `${VAR}` values and credentials stay hidden.
        let url = parse_url(&url_text)
            .map_err(|p| self.error(raw_url, owner, "url", p.replace(&url_text, &shown)))?;
        Ok((url, shown, path_template))
    }

    /// The defaults' headers with the request's own added, and the header templates.
    fn headers(
        &self,
        raw: &RawTarget,
        defaults: &ResolvedDefaults,
        owner: &str,
        scope: &Scope<'_>,
    ) -> Result<(HeaderMap, Vec<(http::HeaderName, Template)>), TargetsError> {
        let mut headers = defaults.headers.clone();
        let mut header_templates = defaults.header_templates.clone();
        self.add_headers(
            &mut headers,
            &mut header_templates,
            &raw.headers,
            owner,
            scope,
        )?;
        Ok((headers, header_templates))
    }

    /// The body's template, when it has one.
    fn body_template(
        &self,
        raw: &RawTarget,
        owner: &str,
        scope: &Scope<'_>,
    ) -> Result<Option<Template>, TargetsError> {
        match &raw.body {
            Some(body) => self.template(
                body,
                owner,
                "body",
                &self.expand(body, owner, "body")?,
                0,
                scope,
            ),
            None => Ok(None),
        }
    }

    /// A flow: its whole-instance entry, then its steps (named `flow/step`); `first` is the
    /// index the entry will have among the run's targets.
    pub fn flow(
        &self,
        raw: &RawFlow,
        defaults: &ResolvedDefaults,
        first: usize,
    ) -> Result<Vec<Target>, TargetsError> {
        let name = raw.name.get_ref();
        let owner = format!("flow `{name}`");
        if name.trim().is_empty() {
            let problem = "must not be empty".to_owned();
            return Err(self.error(&raw.name, "a flow", "name", problem));
        }
        if raw.step.is_empty() {
            let problem = "a flow needs at least one [[flow.step]] (with a `name` and a `url`)";
            return Err(self.error(&raw.name, &owner, "step", problem.to_owned()));
        }
        // Every captured name gets a slot; a step may use the slots of earlier steps only.
        let (names, per_step) = self.flow_captures(raw)?;
        let steps = self.flow_steps(raw, defaults, &names, per_step)?;
        let whole = self.whole_flow(raw, &owner, &steps, names, first)?;
        Ok(std::iter::once(whole).chain(steps).collect())
    }

    /// The names the flow's steps capture, in slot order, and each step's captures.
    fn flow_captures(
        &self,
        raw: &RawFlow,
    ) -> Result<(Vec<String>, Vec<Vec<Capture>>), TargetsError> {
        let name = raw.name.get_ref();
        let mut names: Vec<String> = Vec::new();
        let mut per_step = Vec::with_capacity(raw.step.len());
        for step in &raw.step {
            let owner = format!("step `{}` of flow `{name}`", step.name.get_ref());
            let captures = self.captures(step, &owner, &mut names)?;
            per_step.push(captures);
        }
        Ok((names, per_step))
    }

    /// The flow's steps as targets, each with the captures of the steps before it in scope.
    fn flow_steps(
        &self,
        raw: &RawFlow,
        defaults: &ResolvedDefaults,
        names: &[String],
        per_step: Vec<Vec<Capture>>,
    ) -> Result<Vec<Target>, TargetsError> {
        let name = raw.name.get_ref();
        let mut available = vec![false; names.len()];
        let mut steps = Vec::with_capacity(raw.step.len());
        for (step, captures) in raw.step.iter().zip(per_step) {
            let within = Within {
                flow: Some(name),
                scope: Scope {
                    captures: names,
                    available: &available,
                    in_url: false,
                },
            };
            let mut target = self.target(step, defaults, within)?;
            for capture in &captures {
                available[capture.slot] = true;
            }
            target.flow = Some(FlowRole::Step {
                flow: name.clone(),
                captures,
            });
            steps.push(target);
        }
        Ok(steps)
    }

    /// The entry that times a whole flow instance: steps `first + 1` on are its `steps`,
    /// and `names` all it captures.
    fn whole_flow(
        &self,
        raw: &RawFlow,
        owner: &str,
        steps: &[Target],
        names: Vec<String>,
        first: usize,
    ) -> Result<Target, TargetsError> {
        let name = raw.name.get_ref();
        Ok(Target {
            name: name.clone(),
            method: http::Method::GET,
            url: steps[0].url.clone(),
            display_url: raw
                .step
                .iter()
                .map(|s| s.name.get_ref().as_str())
                .collect::<Vec<_>>()
                .join(" → "),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            expect_status: ExpectStatus::AnySuccess,
            // Saturating: each step's timeout may be as long as humantime allows.
            timeout: steps
                .iter()
                .fold(Duration::ZERO, |sum, s| sum.saturating_add(s.timeout)),
            thresholds: self
                .thresholds(&raw.thresholds, owner)?
                .into_iter()
                .map(|t| t.for_endpoint(name))
                .collect(),
            insecure: steps.iter().any(|s| s.insecure),
            follow_redirects: None,
            templates: None,
            server: ServerSpec::default(),
            sigv4: None,
            token: None,
            flow: Some(FlowRole::Whole {
                steps: (first + 1..=first + steps.len()).collect(),
                captures: names,
            }),
        })
    }

    /// A step's `capture = { NAME = "/json/pointer" | "header:Name" }`, each name given a
    /// slot in `names` (a name captured again reuses its slot: the later value wins).
    fn captures(
        &self,
        step: &RawTarget,
        owner: &str,
        names: &mut Vec<String>,
    ) -> Result<Vec<Capture>, TargetsError> {
        let Some(raw) = &step.capture else {
            return Ok(Vec::new());
        };
        let mut captures = Vec::new();
        for (name, source) in raw.get_ref() {
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name || Template::parse(&format!("{{{{{name}}}}}")).is_ok() {
                let problem = format!(
                    "`{name}` cannot name a captured value: use letters, digits and `_`, not starting with a digit, and none of the built-in names (iteration, lane, seq, uuid, now_ms)"
                );
                return Err(self.error(source, owner, "capture", problem));
            }
            let from = capture_source(source.get_ref())
                .map_err(|p| self.error(source, owner, "capture", p))?;
            let slot = match names.iter().position(|n| n == name) {
                Some(slot) => slot,
                None => {
                    names.push(name.clone());
                    names.len() - 1
                }
            };
            captures.push(Capture {
                slot,
                name: name.clone(),
                from,
            });
        }
        Ok(captures)
    }

    fn body(&self, raw: &RawTarget, owner: &str) -> Result<Bytes, TargetsError> {
        match (&raw.body, &raw.body_file) {
            (Some(_), Some(file)) => Err(self.error(
                file,
                owner,
                "body_file",
                "set either `body` or `body_file`, not both".to_owned(),
            )),
            (Some(body), None) => Ok(Bytes::from(self.expand(body, owner, "body")?)),
            (None, Some(file)) => {
                // Relative to the targets file, so a checked-in targets.toml works from any folder.
                let base = self.path.parent().unwrap_or(Path::new(""));
                let full = base.join(file.get_ref());
                std::fs::read(&full).map(Bytes::from).map_err(|e| {
                    self.error(
                        file,
                        owner,
                        "body_file",
                        format!("cannot read {}: {e}", full.display()),
                    )
                })
            }
            (None, None) => Ok(self.cli.body.clone().unwrap_or_default()),
        }
    }
}
