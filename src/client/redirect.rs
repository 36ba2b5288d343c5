//! Following a redirect: the request a `Location` points to, built from the request that
//! got it, and the RFC 3986 resolution of a relative `Location`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use http::{HeaderMap, Method, Uri};
use rustls_pki_types::ServerName;

use super::{RequestTemplate, without_userinfo};
use crate::targets::TargetTemplates;
use crate::targets::template::Values;

impl RequestTemplate {
    /// The request a redirect points to: `location` resolved (RFC 3986) against the URL
    /// this request was sent to (rendered with `values` for a templated path); 303 (and
    /// 301/302 after a POST) turn into a body-less GET, as browsers and curl do. Templated
    /// headers and body render again on the hop, with the same values.
    pub(super) fn redirected(
        &self,
        location: &str,
        status: u16,
        values: Option<&Values<'_>>,
    ) -> Option<RequestTemplate> {
        let url = self.location_url(location, values)?;
        let mut next = self.hop_to(&url)?;
        let mut templates = self.hop_templates();
        let same_origin = self.same_origin(&next);
        if !same_origin {
            // A Host the user set names the first origin only.
            next.headers.insert(HOST, host_header(&url)?);
        }
        if turns_into_get(status, &self.method) {
            next.become_get(&mut templates);
        }
        if !same_origin {
            next.withhold_credentials(&mut templates);
        }
        next.dynamic = templates
            .filter(|t| t.body.is_some() || !t.headers.is_empty())
            .map(Arc::new);
        let http2 = next.http2;
        Some(next.with_http2(http2))
    }

    /// The absolute URL `location` names: itself when absolute, otherwise resolved against
    /// the URL this request was sent to (its path rendered with `values` when templated).
    fn location_url(&self, location: &str, values: Option<&Values<'_>>) -> Option<Uri> {
        let scheme = if self.https { "https" } else { "http" };
        let authority = self.absolute.authority()?.as_str();
        let sent = match (self.dynamic.as_ref().and_then(|d| d.path.as_ref()), values) {
            (Some(path), Some(values)) => path.render(values),
            _ => self.path.to_string(),
        };
        let absolute = match location {
            l if l.starts_with("http://") || l.starts_with("https://") => l.to_owned(),
            l if l.starts_with("//") => format!("{scheme}:{l}"),
            l => format!("{scheme}://{authority}{}", resolve_reference(&sent, l)),
        };
        absolute.parse().ok()
    }

    /// This request sent to `url`: TLS name, route and proxy of `url`'s origin; method,
    /// headers, body and settings as they are. Its templates are [`Self::hop_templates`].
    fn hop_to(&self, url: &Uri) -> Option<RequestTemplate> {
        let https = url.scheme_str() == Some("https");
        let host = url
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let proxy_for_hop = self
            .proxy_rules
            .as_ref()
            .and_then(|rules| rules.for_origin(https, &host));
        Some(RequestTemplate {
            server_name: if https {
                ServerName::try_from(host.clone()).ok()
            } else {
                None
            },
            path: url
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .ok()?,
            https,
            connect_to: if (host.as_str(), port) == (self.host.as_str(), self.port) {
                self.connect_to.clone()
            } else {
                None
            },
            host,
            port,
            headers: self.headers.clone(),
            method: self.method.clone(),
            body: self.body.clone(),
            expect_status: self.expect_status.clone(),
            timeout: self.timeout,
            tls: self.tls.clone(),
            follow_redirects: self.follow_redirects,
            http2: self.http2,
            absolute: without_userinfo(url).ok()?,
            h2_headers: HeaderMap::new(),
            dynamic: None,
            // Routed by its own origin: NO_PROXY and the scheme's proxy apply afresh.
            proxy: proxy_for_hop,
            proxy_rules: self.proxy_rules.clone(),
            keep_response: self.keep_response,
            server: self.server.clone(),
        })
    }

    /// The templates a hop renders again.
    fn hop_templates(&self) -> Option<TargetTemplates> {
        // The path is the Location's now; headers and body keep their templates.
        self.dynamic.as_ref().map(|d| TargetTemplates {
            path: None,
            headers: d.headers.clone(),
            body: d.body.clone(),
        })
    }

    /// Turns this request, and its `templates`, into a GET without a body.
    fn become_get(&mut self, templates: &mut Option<TargetTemplates>) {
        self.method = Method::GET;
        self.body = Bytes::new();
        self.headers.remove(CONTENT_TYPE);
        if let Some(t) = templates {
            t.body = None;
            t.headers.retain(|(name, _)| name != CONTENT_TYPE);
        }
    }

    /// Drops the credential headers, set or templated, of a hop to another origin.
    fn withhold_credentials(&mut self, templates: &mut Option<TargetTemplates>) {
        // Credentials stay with the origin they were meant for, as curl does.
        let secrets = [
            AUTHORIZATION,
            http::header::COOKIE,
            http::header::PROXY_AUTHORIZATION,
        ];
        for secret in &secrets {
            self.headers.remove(secret);
        }
        if let Some(t) = templates {
            t.headers.retain(|(name, _)| !secrets.contains(name));
        }
    }
}

/// Whether a redirect of `status` to a request of `method` turns it into a GET: 303
/// always, 301 and 302 after a POST.
fn turns_into_get(status: u16, method: &Method) -> bool {
    status == 303 || (matches!(status, 301 | 302) && *method == Method::POST)
}

/// The Host header naming `url`'s origin (without `user:password@`).
fn host_header(url: &Uri) -> Option<HeaderValue> {
    let authority = without_userinfo(url).ok()?.authority()?.as_str().to_owned();
    HeaderValue::from_str(&authority).ok()
}

/// The path and query `reference` (a Location that is not absolute) points to from the
/// request path `base`, by RFC 3986 section 5.2: `?q` keeps the path, `x` and `../x` are
/// taken from the base's folder, dot segments are removed; a fragment is dropped.
fn resolve_reference(base: &str, reference: &str) -> String {
    let reference = reference.split('#').next().unwrap_or_default();
    let (ref_path, ref_query) = match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    };
    let (base_path, base_query) = match base.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (base, None),
    };
    let (path, query) = match ref_path {
        "" => (base_path.to_owned(), ref_query.or(base_query)),
        p if p.starts_with('/') => (p.to_owned(), ref_query),
        p => {
            let folder = base_path.rsplit_once('/').map_or("", |(folder, _)| folder);
            (format!("{folder}/{p}"), ref_query)
        }
    };
    let path = remove_dot_segments(&path);
    match query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    }
}

/// `/a/b/../c/./d` → `/a/c/d`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
        // `/a/b/..` and `/a/.` end in a folder.
        if last && matches!(*segment, "." | "..") {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_locations_resolve_as_rfc_3986_says() {
        let cases = [
            ("/items?x=1", "?page=2", "/items?page=2"),
            ("/a/b/c", "d", "/a/b/d"),
            ("/a/b/c", "../d", "/a/d"),
            ("/a/b/c", "./d/", "/a/b/d/"),
            ("/a/b/c", "..", "/a/"),
            ("/a/b/c", "/x/../y?q", "/y?q"),
            ("/a/b/c?q=1", "", "/a/b/c?q=1"),
            ("/a/b/c", "#top", "/a/b/c"),
            ("/", "../../x", "/x"),
        ];
        for (base, reference, expected) in cases {
            assert_eq!(
                resolve_reference(base, reference),
                expected,
                "{base} + {reference}"
            );
        }
    }
}
