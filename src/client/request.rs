//! What is sent: a target's request, prepared once ([`RequestTemplate`]), rendered and
//! signed per request, and `--connect-to`.

use super::*;

/// The `User-Agent` sent unless a target sets its own.
pub const DEFAULT_USER_AGENT: &str = concat!("api-cannon/", env!("CARGO_PKG_VERSION"));

/// Everything needed to open a connection and send one target's request, computed once.
#[derive(Debug)]
pub struct RequestTemplate {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) server_name: Option<ServerName<'static>>,
    pub(super) method: Method,
    pub(super) path: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// Statuses that count as `ok`.
    pub expect_status: ExpectStatus,
    /// Per-request timeout, connection set-up included.
    pub timeout: Duration,
    /// The TLS configuration for https targets (verifying, or `--insecure`).
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    /// Where to connect instead of `host:port` (`--connect-to`); Host and SNI stay the URL's.
    pub(super) connect_to: Option<(String, u16)>,
    /// Redirects to follow (0: a 3xx is the response, as the original cannon saw it).
    pub follow_redirects: u32,
    pub(super) https: bool,
    /// Speak HTTP/2 (negotiated by ALPN over TLS; prior knowledge over http://).
    pub(super) http2: bool,
    /// The absolute URL: HTTP/2 carries scheme and authority as pseudo-headers.
    pub(super) absolute: Uri,
    /// The headers without Host, for HTTP/2 (`:authority` says the same).
    pub(super) h2_headers: HeaderMap,
    /// The parts rendered per request, for a target with templates.
    pub(super) dynamic: Option<Arc<TargetTemplates>>,
    /// An HTTP proxy to go through (`--use-env-proxy`): absolute-form requests for http://,
    /// a CONNECT tunnel for https://.
    pub(super) proxy: Option<Proxy>,
    /// The environment's proxy settings, to route each redirect hop by its own origin.
    pub(super) proxy_rules: Option<Arc<ProxyRules>>,
    /// Keep the response's headers and body (a flow step that captures from them, a server
    /// time read from the body); every other request reads the body and drops it.
    pub(super) keep_response: bool,
    /// What to read from responses about the server's side.
    pub(super) server: ServerSpec,
    /// The host as the target wrote it (`${API_HOST}`), when that differs from the host
    /// connected to: messages name this one.
    pub(super) shown_host: Option<String>,
    /// Signs every request with AWS SigV4, when the target says so.
    pub(super) signer: Option<Arc<Signer>>,
    /// A header a token command fills, read anew for every request.
    pub(super) token: Option<Arc<TokenSource>>,
    /// The HTTP/1.1 bytes of a request that is the same every time (no template, no
    /// signature, no token), encoded at its first use and written as they are after.
    pub(super) h1_bytes: std::sync::OnceLock<Option<Bytes>>,
}

/// `--connect-to HOST:PORT:TARGET_HOST:TARGET_PORT`: requests for HOST:PORT go to
/// TARGET_HOST:TARGET_PORT, with the Host header and TLS name of the URL unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// The URL's host.
    pub host: String,
    /// The URL's port.
    pub port: u16,
    /// Where to connect instead.
    pub target_host: String,
    /// Which port to connect to.
    pub target_port: u16,
}

impl std::str::FromStr for ConnectTo {
    type Err = String;

    /// `api.test:443:10.0.0.7:8443`; IPv6 addresses in brackets (`[::1]`).
    fn from_str(text: &str) -> Result<ConnectTo, String> {
        let form = "write HOST:PORT:TARGET_HOST:TARGET_PORT, e.g. api.test:443:127.0.0.1:8443";
        let mut parts = Vec::new();
        let (mut part, mut bracket) = (String::new(), false);
        for c in text.chars() {
            match c {
                '[' => bracket = true,
                ']' => bracket = false,
                ':' if !bracket => parts.push(std::mem::take(&mut part)),
                c => part.push(c),
            }
        }
        parts.push(part);
        let [host, port, target_host, target_port] = parts.as_slice() else {
            return Err(form.to_owned());
        };
        match (port.parse::<u16>(), target_port.parse::<u16>()) {
            (Ok(port), Ok(target_port)) if !host.is_empty() && !target_host.is_empty() => {
                Ok(ConnectTo {
                    host: host.clone(),
                    port,
                    target_host: target_host.clone(),
                    target_port,
                })
            }
            _ => Err(form.to_owned()),
        }
    }
}

impl RequestTemplate {
    /// Connects where the first matching `--connect-to` rule says.
    pub fn with_connect_to(mut self, rules: &[ConnectTo]) -> Self {
        self.connect_to = rules
            .iter()
            .find(|r| r.host.eq_ignore_ascii_case(&self.host) && r.port == self.port)
            .map(|r| (r.target_host.clone(), r.target_port));
        self
    }

    /// Asks for compressed responses (`--compressed`) unless the target sets its own
    /// Accept-Encoding. Off by default: measure what the wire carries uncompressed. A flow
    /// step that captures asks for gzip only: its body must be decoded to be read.
    pub fn with_compression(mut self, on: bool) -> Self {
        if on && !self.headers.contains_key(http::header::ACCEPT_ENCODING) {
            let accepted = if self.keep_response {
                "gzip"
            } else {
                "gzip, br"
            };
            self.headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static(accepted),
            );
        }
        self
    }

    /// Goes through the proxy `rules` give for this target's origin (`--use-env-proxy`).
    pub fn with_proxy_rules(mut self, rules: Option<Arc<ProxyRules>>) -> Self {
        self.proxy = rules
            .as_ref()
            .and_then(|r| r.for_origin(self.https, &self.host));
        self.proxy_rules = rules;
        self
    }

    /// Signs every request with AWS SigV4 for `scope` with `credentials`, when given.
    pub fn with_signer(
        mut self,
        signing: Option<(crate::targets::SigV4Scope, CredentialSource)>,
    ) -> Self {
        self.signer = signing.map(|(scope, credentials)| Arc::new(Signer::new(scope, credentials)));
        self
    }

    /// Fills the token command's header on every request.
    pub fn with_token(mut self, token: Option<Arc<TokenSource>>) -> Self {
        self.token = token;
        self
    }

    /// Renewals of this target's token or AWS credentials that failed during the run, said
    /// for `error_details.auth` (never a value).
    pub fn auth_trouble(&self) -> Option<String> {
        let token = self.token.as_ref().and_then(|t| t.trouble());
        token.or_else(|| self.signer.as_ref().and_then(|s| s.trouble()))
    }

    /// Names the host as `display_url` writes it in messages, when that differs.
    pub(super) fn with_shown_host(mut self, display_url: &str) -> Self {
        self.shown_host = written_host(display_url).filter(|shown| *shown != self.host);
        self
    }

    /// Follows up to `hops` redirects.
    pub fn with_redirects(mut self, hops: u32) -> Self {
        self.follow_redirects = hops;
        self
    }

    pub(super) fn same_origin(&self, other: &RequestTemplate) -> bool {
        (self.https, self.host.as_str(), self.port)
            == (other.https, other.host.as_str(), other.port)
    }

    /// Uses `config` for this target's TLS handshakes.
    pub fn with_tls(mut self, config: Option<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = config;
        self
    }

    /// Prepares `target` for sending. Fails only for a host that is not a valid TLS name.
    pub fn new(target: &Target) -> Result<Self, String> {
        let url = &target.url;
        let https = url.scheme_str() == Some("https");
        let raw_host = url.host().unwrap_or_default();
        let host = raw_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let server_name = match https {
            true => Some(ServerName::try_from(host.clone()).map_err(|_| {
                let shown = written_host(&target.display_url).unwrap_or_else(|| host.clone());
                format!("`{shown}` is not a valid TLS server name")
            })?),
            false => None,
        };
        let path = url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("invalid path: {e}"))?;
        Ok(RequestTemplate {
            headers: request_headers(target)?,
            host,
            port,
            server_name,
            method: target.method.clone(),
            path,
            body: target.body.clone(),
            expect_status: target.expect_status.clone(),
            timeout: target.timeout,
            tls: None,
            connect_to: None,
            follow_redirects: 0,
            https,
            http2: false,
            absolute: without_userinfo(&target.url)?,
            h2_headers: HeaderMap::new(),
            dynamic: target.templates.clone(),
            proxy: None,
            proxy_rules: None,
            keep_response: target.server.needs_body()
                || matches!(
                    &target.flow,
                    Some(FlowRole::Step { captures, .. }) if !captures.is_empty()
                ),
            server: target.server.clone(),
            shown_host: None,
            signer: None,
            token: None,
            h1_bytes: std::sync::OnceLock::new(),
        }
        .with_shown_host(&target.display_url))
    }

    /// Whether a connection opened for `self` can carry `other`'s requests too: same origin,
    /// same route (`--connect-to`, proxy), same TLS configuration and protocol. Flow steps
    /// that agree share their lane's connection.
    pub fn shares_connection_with(&self, other: &RequestTemplate) -> bool {
        let same_tls = match (&self.tls, &other.tls) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        self.same_origin(other)
            && same_tls
            && self.connect_to == other.connect_to
            && self.proxy == other.proxy
            && self.http2 == other.http2
    }

    /// Speaks HTTP/2 on this target's connections when `on` (`--http2`).
    pub fn with_http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self.h2_headers = self.headers.clone();
        self.h2_headers.remove(HOST);
        self
    }

    /// Whether requests are rendered per request (the target has templates).
    pub fn is_dynamic(&self) -> bool {
        self.dynamic.is_some()
    }

    /// The request: the prepared one, or for a target with templates one rendered with
    /// `values`. On HTTP/2, with the absolute URL and no Host header (`:authority` says it).
    /// It fails (`auth`) only when it must be signed and cannot be.
    pub(super) fn request(
        &self,
        values: Option<&Values<'_>>,
        h2: bool,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        // HTTP/2 and plain HTTP through a proxy carry the absolute URL.
        let absolute_form = h2 || (self.proxy.is_some() && !self.https);
        *request.uri_mut() = if absolute_form {
            self.absolute.clone()
        } else {
            self.path.clone()
        };
        *request.headers_mut() = if h2 {
            self.h2_headers.clone()
        } else {
            self.headers.clone()
        };
        if h2 {
            *request.version_mut() = http::Version::HTTP_2;
        }
        if let Some(credentials) = self
            .proxy
            .as_ref()
            .filter(|_| !self.https && !h2)
            .and_then(|p| p.authorization.as_ref())
        {
            // A plain-HTTP request through a proxy authenticates to it on every request.
            let name = http::header::PROXY_AUTHORIZATION;
            request.headers_mut().insert(name, credentials.clone());
        }
        if let Some(token) = &self.token {
            let (name, value) = token.header();
            request.headers_mut().insert(name.clone(), value);
        }
        let mut body = None;
        if let (Some(dynamic), Some(values)) = (&self.dynamic, values) {
            body = self.render(dynamic, values, h2, &mut request);
        }
        if let Some(signer) = &self.signer {
            self.sign(signer, &mut request, body.as_ref().unwrap_or(&self.body))?;
        }
        Ok(request)
    }

    /// Signs the request as it goes on the wire: its URL as sent (rendered path), its
    /// headers and its body, as of now. A request that cannot be signed (its credentials
    /// expired) is not sent: it fails as `auth`.
    pub(super) fn sign(
        &self,
        signer: &Signer,
        request: &mut Request<Full<Bytes>>,
        body: &Bytes,
    ) -> Result<(), Failure> {
        let scheme = if self.https { "https" } else { "http" };
        let authority = self.absolute.authority().map_or("", |a| a.as_str());
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{scheme}://{authority}{path}");
        signer
            .sign(request, &url, body, std::time::SystemTime::now())
            .map_err(|why| Failure::new(ErrorKind::Auth, why))
    }

    pub(super) fn render(
        &self,
        dynamic: &TargetTemplates,
        values: &Values,
        h2: bool,
        request: &mut Request<Full<Bytes>>,
    ) -> Option<Bytes> {
        if let Some(path) = &dynamic.path {
            let rendered = path.render(values);
            let text = if h2 || (self.proxy.is_some() && !self.https) {
                format!(
                    "{}://{}{rendered}",
                    if self.https { "https" } else { "http" },
                    self.absolute.authority().map_or("", |a| a.as_str())
                )
            } else {
                rendered
            };
            // Sample values were checked at load; a value that still makes no URI keeps the sample.
            if let Ok(uri) = text.parse() {
                *request.uri_mut() = uri;
            }
        }
        for (name, template) in &dynamic.headers {
            if let Ok(value) = HeaderValue::from_str(&template.render(values)) {
                request.headers_mut().insert(name.clone(), value);
            }
        }
        let body = dynamic.body.as_ref().map(|b| Bytes::from(b.render(values)));
        if let Some(body) = &body {
            *request.body_mut() = Full::new(body.clone());
        }
        body
    }
}

/// `%XX` sequences decoded to bytes; a malformed one is kept as is.
pub(crate) fn percent_decoded(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

/// The host of a URL as written (`${API_HOST}` unexpanded), without user information or
/// port; `None` when the text has no authority.
pub(super) fn written_host(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.rfind(']') {
        Some(end) => &host_port[..=end],
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

/// The URL without `user:password@`, which HTTP/2's `:authority` must not carry.
pub(super) fn without_userinfo(url: &Uri) -> Result<Uri, String> {
    let authority = url.authority().map_or("", |a| a.as_str());
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let scheme = url.scheme_str().unwrap_or("http");
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{host}{path}")
        .parse()
        .map_err(|e| format!("invalid URL: {e}"))
}

/// The target's headers plus Host (unless the target sets its own, to reach a virtual
/// host by address), a default User-Agent, and Basic auth from `user:pass@`.
pub(super) fn request_headers(target: &Target) -> Result<HeaderMap, String> {
    let mut headers = target.headers.clone();
    let authority = target.url.authority().map_or("", |a| a.as_str());
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let host = HeaderValue::from_str(host).map_err(|_| format!("invalid host `{host}`"))?;
    headers.entry(HOST).or_insert(host);
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
    }
    if let Some(userinfo) = userinfo.filter(|_| !headers.contains_key(AUTHORIZATION)) {
        use base64::Engine as _;
        // The URL carries them percent-encoded (`p%40ss` for `p@ss`); Basic auth does not.
        let token = base64::engine::general_purpose::STANDARD.encode(percent_decoded(userinfo));
        let value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "credentials in the URL cannot be sent as a header".to_owned())?;
        headers.insert(AUTHORIZATION, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_rules_parse_names_ports_and_bracketed_ipv6() {
        let rule: ConnectTo = "api.test:443:[::1]:8443".parse().unwrap();
        assert_eq!(
            (
                rule.host.as_str(),
                rule.port,
                rule.target_host.as_str(),
                rule.target_port
            ),
            ("api.test", 443, "::1", 8443)
        );
        assert!("api.test:443:10.0.0.7".parse::<ConnectTo>().is_err());
        assert!("api.test:x:10.0.0.7:1".parse::<ConnectTo>().is_err());
    }
}
