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

use crate::thresholds::Threshold;

use super::template::{Template, Values};
use super::{
    EnvLookup, ExpectStatus, Place, Target, TargetTemplates, TargetsError, env, mask_password,
    parse_duration, parse_header, parse_method, parse_statuses, parse_url,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub defaults: Option<Spanned<Defaults>>,
    #[serde(default)]
    pub target: Vec<RawTarget>,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub name: Spanned<String>,
    url: Spanned<String>,
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
}

pub(super) struct Context<'a> {
    pub text: &'a str,
    pub path: &'a Path,
    pub lookup: EnvLookup<'a>,
    pub default_timeout: Duration,
}

impl Context<'_> {
    pub fn place<T>(&self, spanned: &Spanned<T>) -> Place {
        let offset = spanned.span().start.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
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
            headers: HeaderMap::new(),
            expect_status: ExpectStatus::AnySuccess,
            thresholds: Vec::new(),
            insecure: false,
            follow_redirects: None,
            header_templates: Vec::new(),
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
        )?;
        resolved.thresholds = self.thresholds(&raw.thresholds, owner)?;
        resolved.insecure = raw.insecure.unwrap_or(false);
        resolved.follow_redirects = raw.follow_redirects;
        Ok(resolved)
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
    ) -> Result<(), TargetsError> {
        for (name, value) in raw {
            let expanded = self.expand(value, owner, "headers")?;
            let template = self.template(value, owner, "headers", &expanded, 0)?;
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
    ) -> Result<Option<Template>, TargetsError> {
        Template::parse(text).map_err(|(pos, problem)| {
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
        match self.template(at, owner, "url", path, origin.len())? {
            Some(template) => Ok((
                format!("{origin}{}", template.render(&Values::SAMPLE)),
                Some(template),
            )),
            None => Ok((url.to_owned(), None)),
        }
    }

    pub fn target(
        &self,
        raw: &RawTarget,
        defaults: &ResolvedDefaults,
    ) -> Result<Target, TargetsError> {
        let name = raw.name.get_ref();
        if name.trim().is_empty() {
            return Err(self.error(
                &raw.name,
                "a target",
                "name",
                "must not be empty".to_owned(),
            ));
        }
        let owner = format!("target `{name}`");
        let owner = owner.as_str();
        let url_text = self.expand(&raw.url, owner, "url")?;
        let (url_text, path_template) = self.url_template(&raw.url, owner, &url_text)?;
        let url = parse_url(&url_text).map_err(|p| self.error(&raw.url, owner, "url", p))?;
        let method = match &raw.method {
            Some(m) => parse_method(m.get_ref()).map_err(|p| self.error(m, owner, "method", p))?,
            None => http::Method::GET,
        };
        let mut headers = defaults.headers.clone();
        let mut header_templates = defaults.header_templates.clone();
        self.add_headers(&mut headers, &mut header_templates, &raw.headers, owner)?;
        let body_template = match &raw.body {
            Some(body) => {
                self.template(body, owner, "body", &self.expand(body, owner, "body")?, 0)?
            }
            None => None,
        };
        let templates = match (path_template, header_templates.is_empty(), body_template) {
            (None, true, None) => None,
            (path, _, body) => Some(Arc::new(TargetTemplates {
                path,
                headers: header_templates,
                body,
            })),
        };
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
        Ok(Target {
            name: name.clone(),
            method,
            url,
            display_url: mask_password(raw.url.get_ref()),
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
        })
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
            (None, None) => Ok(Bytes::new()),
        }
    }
}
