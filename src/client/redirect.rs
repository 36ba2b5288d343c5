//! Following a redirect: the request a `Location` points to, built from the request that
//! got it. A relative `Location` is resolved by the `url` crate (RFC 3986 and the WHATWG
//! URL standard: case-insensitive schemes, dot segments, `//host` references).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use http::{HeaderMap, Method, Uri};
use rustls_pki_types::ServerName;

use std::time::Instant;

use super::{Connection, Exchange, RequestTemplate, without_userinfo};
use crate::outcome::{ErrorKind, Failure};
use crate::server_time::ServerReport;
use crate::targets::TargetTemplates;
use crate::targets::template::Values;

impl RequestTemplate {
    /// The request a redirect points to: `location` resolved (RFC 3986) against the URL
    /// this request was sent to (rendered with `values` for a templated path); 303 (and
    /// 301/302 after a POST) turn into a body-less GET, as browsers and curl do. Templated
    /// headers and body render again on the hop, with the same values.
    ///
    /// A `Location` that names no http or https URL ends the request: the error says why.
    pub(super) fn redirected(
        &self,
        location: &str,
        status: u16,
        values: Option<&Values<'_>>,
    ) -> Result<RequestTemplate, String> {
        let unfollowable =
            |why: &str| format!("the redirect to `{location}` cannot be followed: {why}");
        let url = self
            .location_url(location, values)
            .map_err(|why| unfollowable(&why))?;
        let mut next = self
            .hop_to(&url)
            .ok_or_else(|| unfollowable("it names no host api-cannon can connect to"))?;
        let mut templates = self.hop_templates();
        let same_origin = self.same_origin(&next);
        if !same_origin {
            // A Host the user set names the first origin only.
            let host =
                host_header(&url).ok_or_else(|| unfollowable("its host is no header value"))?;
            next.headers.insert(HOST, host);
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
        Ok(next.with_http2(http2))
    }

    /// The absolute URL `location` names: itself when absolute, otherwise resolved against
    /// the URL this request was sent to (its path rendered with `values` when templated).
    fn location_url(&self, location: &str, values: Option<&Values<'_>>) -> Result<Uri, String> {
        let scheme = if self.https { "https" } else { "http" };
        let authority = self
            .absolute
            .authority()
            .map_or("", http::uri::Authority::as_str);
        let sent = match (self.dynamic.as_ref().and_then(|d| d.path.as_ref()), values) {
            (Some(path), Some(values)) => path.render(values),
            _ => self.path.to_string(),
        };
        let base = url::Url::parse(&format!("{scheme}://{authority}{sent}"))
            .map_err(|e| format!("the request's own URL does not parse ({e})"))?;
        let mut url = base
            .join(location)
            .map_err(|e| format!("it is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{}:` is not http or https", url.scheme()));
        }
        url.set_fragment(None);
        url.as_str()
            .parse()
            .map_err(|e| format!("it is not a URL ({e})"))
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
        // The same host keeps its written name in messages; another is the server's Location.
        let shown_host = self.shown_host.clone().filter(|_| host == self.host);
        let same_origin_hop =
            (https, host.as_str(), port) == (self.https, self.host.as_str(), self.port);
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
            shown_host,
            // Credentials stay with their origin: a hop elsewhere is not signed.
            signer: self.signer.clone().filter(|_| same_origin_hop),
            token: self.token.clone().filter(|_| same_origin_hop),
            h1_bytes: std::sync::OnceLock::new(),
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

/// Follows the redirects `exchange` points to, up to the template's limit: on `connection`
/// while the origin stays the same, on a connection of its own otherwise. The latency and
/// status are the last hop's, timed from the first request's start.
pub async fn follow_redirects(
    template: &RequestTemplate,
    connection: &mut Connection,
    mut exchange: Exchange,
    start: Instant,
    values: Option<&Values<'_>>,
    server: &mut ServerReport,
) -> Result<Exchange, Failure> {
    let mut current: Option<RequestTemplate> = None;
    for _ in 0..template.follow_redirects {
        let Some(location) = exchange.redirect.take() else {
            break;
        };
        let from = current.as_ref().unwrap_or(template);
        let next = from
            .redirected(&location, exchange.status, values)
            .map_err(|why| Failure::new(ErrorKind::Protocol, why))?;
        exchange = if template.same_origin(&next) && connection.is_reusable().await {
            connection.exchange(&next, start, values, server).await?
        } else {
            let (mut elsewhere, _) = Box::pin(Connection::open(&next)).await?;
            elsewhere.exchange(&next, start, values, server).await?
        };
        current = Some(next);
    }
    Ok(exchange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Proxy, ProxyRules};
    use std::time::Duration;

    fn sent_to(url: &str) -> RequestTemplate {
        let targets =
            crate::targets::from_urls(&[url.to_owned()], std::time::Duration::from_secs(1))
                .expect("a valid URL");
        RequestTemplate::new(&targets[0]).expect("a request")
    }

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
            let url = sent_to(&format!("http://api.test{base}")).location_url(reference, None);
            assert_eq!(
                url,
                Ok(format!("http://api.test{expected}").parse().expect("a URI")),
                "{base} + {reference}"
            );
        }
    }

    #[test]
    fn schemes_are_case_insensitive_and_only_http_and_https_are_followed() {
        let from = sent_to("https://api.test/a/b");
        let url = |location: &str| from.location_url(location, None).map(|u| u.to_string());
        assert_eq!(
            url("HTTP://Other.test/x").as_deref(),
            Ok("http://other.test/x")
        );
        assert_eq!(url("//cdn.test/y").as_deref(), Ok("https://cdn.test/y"));
        for refused in [
            "ftp://files.test/x",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/plain,hi",
        ] {
            let error = url(refused).expect_err(refused);
            assert!(error.contains("is not http or https"), "{refused}: {error}");
        }
        let error = from
            .redirected("mailto:x@y.test", 302, None)
            .err()
            .unwrap_or_default();
        assert!(
            error.starts_with("the redirect to `mailto:x@y.test` cannot be followed"),
            "{error}"
        );
    }

    #[test]
    fn each_redirect_hop_is_routed_by_its_own_origin() {
        let target = crate::targets::from_urls(
            &["http://public.test/go".to_owned()],
            Duration::from_secs(1),
        )
        .unwrap()
        .remove(0);
        let env = |name: &str| match name {
            "HTTP_PROXY" => Some("http://p:3128".to_owned()),
            "NO_PROXY" => Some("internal.test".to_owned()),
            _ => None,
        };
        let rules = Arc::new(ProxyRules::from_env(&env).unwrap());
        let first = RequestTemplate::new(&target)
            .unwrap()
            .with_proxy_rules(Some(rules))
            .with_redirects(3);
        let proxied = Some(Proxy {
            host: "p".to_owned(),
            port: 3128,
            authorization: None,
        });
        assert_eq!(first.proxy, proxied);
        let inside = first
            .redirected("http://internal.test/x", 302, None)
            .unwrap();
        assert_eq!(inside.proxy, None, "NO_PROXY holds on a hop");
        let back = inside
            .redirected("http://public.test/y", 302, None)
            .unwrap();
        assert_eq!(back.proxy, proxied);
        let secure = back.redirected("https://public.test/z", 302, None).unwrap();
        assert_eq!(secure.proxy, None, "no HTTPS_PROXY: https goes direct");
    }
}
