//! The HTTP client: one connection per lane through hyper's connection-level API.
//!
//! Not a pooled client on purpose: a lane owns exactly one connection, re-opens it when the
//! server closes it, and always knows whether a request paid for a new one. The request is
//! prepared once per target ([`RequestTemplate`]); per request the URI and body are
//! reference-counted clones and the header map a copy (hyper consumes it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::outcome::{ErrorKind, Failure, Setup};
use crate::server_time::{ServerReport, ServerSpec};
use crate::targets::template::Values;
use crate::targets::{ExpectStatus, FlowRole, Target, TargetTemplates};

mod aws;
mod inspect;
mod proxy;
mod redirect;
mod refresh;
mod tls;
mod token;

pub use aws::{AwsCredentials, CredentialSource, Signer};
pub use proxy::{Proxy, ProxyRules};
pub use token::TokenSource;

pub use tls::{TlsConfigError, TlsOptions, client_config, client_config_for};

/// The `User-Agent` sent unless a target sets its own.
pub const DEFAULT_USER_AGENT: &str = concat!("api-cannon/", env!("CARGO_PKG_VERSION"));

/// Everything needed to open a connection and send one target's request, computed once.
#[derive(Debug)]
pub struct RequestTemplate {
    host: String,
    port: u16,
    server_name: Option<ServerName<'static>>,
    method: Method,
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Statuses that count as `ok`.
    pub expect_status: ExpectStatus,
    /// Per-request timeout, connection set-up included.
    pub timeout: Duration,
    /// The TLS configuration for https targets (verifying, or `--insecure`).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Where to connect instead of `host:port` (`--connect-to`); Host and SNI stay the URL's.
    connect_to: Option<(String, u16)>,
    /// Redirects to follow (0: a 3xx is the response, as the original cannon saw it).
    pub follow_redirects: u32,
    https: bool,
    /// Speak HTTP/2 (negotiated by ALPN over TLS; prior knowledge over http://).
    http2: bool,
    /// The absolute URL: HTTP/2 carries scheme and authority as pseudo-headers.
    absolute: Uri,
    /// The headers without Host, for HTTP/2 (`:authority` says the same).
    h2_headers: HeaderMap,
    /// The parts rendered per request, for a target with templates.
    dynamic: Option<Arc<TargetTemplates>>,
    /// An HTTP proxy to go through (`--use-env-proxy`): absolute-form requests for http://,
    /// a CONNECT tunnel for https://.
    proxy: Option<Proxy>,
    /// The environment's proxy settings, to route each redirect hop by its own origin.
    proxy_rules: Option<Arc<ProxyRules>>,
    /// Keep the response's headers and body (a flow step that captures from them, a server
    /// time read from the body); every other request reads the body and drops it.
    keep_response: bool,
    /// What to read from responses about the server's side.
    server: ServerSpec,
    /// The host as the target wrote it (`${API_HOST}`), when that differs from the host
    /// connected to: messages name this one.
    shown_host: Option<String>,
    /// Signs every request with AWS SigV4, when the target says so.
    signer: Option<Arc<Signer>>,
    /// A header a token command fills, read anew for every request.
    token: Option<Arc<TokenSource>>,
}

/// Bodies kept for captures are cut off beyond this many bytes (a capture from a cut body
/// fails rather than reading a half document).
pub const KEPT_BODY_LIMIT: usize = 8 * 1024 * 1024;

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
    fn with_shown_host(mut self, display_url: &str) -> Self {
        self.shown_host = written_host(display_url).filter(|shown| *shown != self.host);
        self
    }

    /// Follows up to `hops` redirects.
    pub fn with_redirects(mut self, hops: u32) -> Self {
        self.follow_redirects = hops;
        self
    }

    fn same_origin(&self, other: &RequestTemplate) -> bool {
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
    fn request(
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
    fn sign(
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

    fn render(
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
fn written_host(url: &str) -> Option<String> {
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
fn without_userinfo(url: &Uri) -> Result<Uri, String> {
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
fn request_headers(target: &Target) -> Result<HeaderMap, String> {
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

/// A complete response, timed from the start instant the caller passed in.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// HTTP status code.
    pub status: u16,
    /// Until the response head was parsed.
    pub ttfb: Duration,
    /// Until the last byte of the body was read.
    pub latency: Duration,
    /// The HTTP version the response came in.
    pub version: http::Version,
    /// Where a redirect points, when the template follows redirects and this is one.
    redirect: Option<String>,
    /// The response's headers and body, when the template keeps them.
    /// Boxed: an exchange is moved through several futures per request, and a header map
    /// inline would make every one of those moves ~130 bytes larger for a rare case.
    pub kept: Option<Box<Kept>>,
}

/// A response kept for captures.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as the server meant it (decoded); `Err` says why it could not be kept:
    /// over [`KEPT_BODY_LIMIT`] (before or after decoding: a gzip bomb is cut, not
    /// inflated), an encoding api-cannon cannot undo, or a stream that does not decode.
    pub body: Result<Bytes, &'static str>,
}

/// One open connection (HTTP/1.1, or HTTP/2 with `--http2`).
pub struct Connection {
    sender: Sender,
}

/// hyper's two connection-level clients behind one face.
enum Sender {
    H1(SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        }
    }

    /// Builds the template's request for this protocol and sends it.
    async fn send(
        &mut self,
        template: &RequestTemplate,
        values: Option<&Values<'_>>,
    ) -> Result<http::Response<hyper::body::Incoming>, Failure> {
        let sent = match self {
            Sender::H1(s) => s.send_request(template.request(values, false)?).await,
            Sender::H2(s) => s.send_request(template.request(values, true)?).await,
        };
        sent.map_err(|e| classify(&e, ErrorKind::Protocol))
    }
}

impl Connection {
    /// Resolves, connects and (for https) completes the TLS handshake, timing each phase.
    /// A failure names the host as the target wrote it: a `${VAR}` host's value is not
    /// written to `error_details`.
    pub async fn open(template: &RequestTemplate) -> Result<(Connection, Setup), Failure> {
        Self::open_as_is(template).await.map_err(|mut failure| {
            if let Some(shown) = &template.shown_host {
                failure.detail = failure.detail.replace(&template.host, shown);
            }
            failure
        })
    }

    async fn open_as_is(template: &RequestTemplate) -> Result<(Connection, Setup), Failure> {
        let (host, port) = template
            .connect_to
            .as_ref()
            .map_or((template.host.as_str(), template.port), |(h, p)| {
                (h.as_str(), *p)
            });
        let (mut tcp, mut setup) = match &template.proxy {
            Some(proxy) => connect_tcp(&proxy.host, proxy.port).await?,
            None => connect_tcp(host, port).await?,
        };
        if let Some(proxy) = template.proxy.as_ref().filter(|_| template.https) {
            // The tunnel is part of getting connected: its round trip counts in `connect`.
            let started = Instant::now();
            tunnel(&mut tcp, host, port, proxy.authorization.as_ref()).await?;
            setup.connect += started.elapsed();
        }
        // Small requests must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let sender = match (&template.server_name, &template.tls) {
            (Some(name), Some(config)) => {
                let started = Instant::now();
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(Failure::of(ErrorKind::Tls))?;
                setup.tls = Some(started.elapsed());
                setup.tls_version = stream.get_ref().1.protocol_version().map(tls_version_name);
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                handshake(stream, h2).await?
            }
            (Some(_), None) => {
                return Err(Failure::new(
                    ErrorKind::Tls,
                    "no TLS configuration for https",
                ));
            }
            // http:// with --http2: prior knowledge (h2c), as curl --http2-prior-knowledge.
            (None, _) => handshake(tcp, template.http2).await?,
        };
        Ok((Connection { sender }, setup))
    }

    /// Whether the connection can take another request (the server has not closed it).
    pub async fn is_reusable(&mut self) -> bool {
        self.sender.ready().await.is_ok()
    }

    /// Sends the template's request and reads the whole response body; what the response
    /// says about the server's side goes into `server` (the lane's own report, reused:
    /// neither allocated nor moved per request).
    pub async fn exchange(
        &mut self,
        template: &RequestTemplate,
        start: Instant,
        values: Option<&Values<'_>>,
        server: &mut ServerReport,
    ) -> Result<Exchange, Failure> {
        let response = self.sender.send(template, values).await?;
        let ttfb = start.elapsed();
        let status = response.status().as_u16();
        let version = response.version();
        let redirect = match (template.follow_redirects, status) {
            (1.., 301 | 302 | 303 | 307 | 308) => response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned),
            _ => None,
        };
        let kept = match template.keep_response {
            // Boxed: a rare path (flow steps that capture) kept out of every lane's future.
            true => {
                let kept = Box::new(Box::pin(read_kept(response)).await?);
                server.read_into(&template.server, &kept.headers, kept.body.as_deref().ok());
                Some(kept)
            }
            false => {
                server.read_into(&template.server, response.headers(), None);
                let mut body = response.into_body();
                while let Some(frame) = body.frame().await {
                    frame.map_err(|e| classify(&e, ErrorKind::Body))?;
                }
                None
            }
        };
        Ok(Exchange {
            status,
            ttfb,
            latency: start.elapsed(),
            version,
            redirect,
            kept,
        })
    }
}

/// Reads the whole body of a response whose headers and body a flow step captures from.
async fn read_kept(response: http::Response<hyper::body::Incoming>) -> Result<Kept, Failure> {
    let (parts, mut body) = response.into_parts();
    let mut kept = Ok(Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e, ErrorKind::Body))?;
        if let (Ok(buffer), Some(data)) = (&mut kept, frame.data_ref()) {
            if buffer.len() + data.len() > KEPT_BODY_LIMIT {
                kept = Err(OVER_LIMIT);
            } else {
                buffer.extend_from_slice(data);
            }
        }
    }
    let encoding = parts.headers.get(http::header::CONTENT_ENCODING);
    let body = kept.and_then(|raw| decoded(raw, encoding));
    Ok(Kept {
        headers: parts.headers,
        body,
    })
}

/// Why a kept body is over its limit, as a capture's error says it.
const OVER_LIMIT: &str = "is over 8 MiB (decoded), more than a capture reads";

/// A kept body as the server meant it, gzip or deflate undone (`--compressed`); the error
/// says why there is none: an encoding it cannot undo, a corrupt stream, or more than
/// [`KEPT_BODY_LIMIT`].
fn decoded(raw: Vec<u8>, encoding: Option<&HeaderValue>) -> Result<Bytes, &'static str> {
    use std::io::Read as _;
    let unknown = "is in a Content-Encoding api-cannon cannot undo (gzip and deflate it can)";
    let encoding = match encoding {
        Some(value) => value
            .to_str()
            .map_err(|_| unknown)?
            .trim()
            .to_ascii_lowercase(),
        None => return Ok(Bytes::from(raw)),
    };
    let limit = KEPT_BODY_LIMIT as u64 + 1;
    let mut out = Vec::new();
    let read = match encoding.as_str() {
        "identity" | "" => return Ok(Bytes::from(raw)),
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(raw.as_slice())
            .take(limit)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(raw.as_slice())
            .take(limit)
            .read_to_end(&mut out),
        _ => return Err(unknown),
    };
    match (read, out.len() <= KEPT_BODY_LIMIT) {
        (Err(_), _) => Err("does not decode as its Content-Encoding says"),
        (Ok(_), false) => Err(OVER_LIMIT),
        (Ok(_), true) => Ok(Bytes::from(out)),
    }
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

/// A TLS alert behind a hyper error (a server refusing the client certificate only says
/// so after the client's side of a TLS 1.3 handshake is done) is a `tls` error, not
/// `protocol`.
fn classify(error: &hyper::Error, otherwise: ErrorKind) -> Failure {
    let detail = crate::outcome::message_chain(error);
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return Failure::new(ErrorKind::Tls, detail);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return Failure::new(ErrorKind::Tls, detail);
        }
        source = cause.source();
    }
    Failure::new(otherwise, detail)
}

fn tls_version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "other",
    }
}

async fn handshake<T>(io: T, h2: bool) -> Result<Sender, Failure>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // The connection task ends when the lane drops its sender or the server closes.
    if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(Failure::of(ErrorKind::Protocol))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(Sender::H2(sender));
    }
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(Failure::of(ErrorKind::Protocol))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Sender::H1(sender))
}

/// Asks an HTTP proxy for a tunnel to `host:port` (CONNECT) and waits for its 2xx.
async fn tunnel(
    tcp: &mut TcpStream,
    host: &str,
    port: u16,
    authorization: Option<&HeaderValue>,
) -> Result<(), Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(credentials) = authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(credentials.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    tcp.write_all(&request)
        .await
        .map_err(Failure::of(ErrorKind::Connect))?;
    // Read the proxy's answer up to the end of its head: the tunnel starts right after it.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tcp
            .read(&mut byte)
            .await
            .map_err(Failure::of(ErrorKind::Connect))?;
        if head.len() > 8 * 1024 || read == 0 {
            let problem = "the proxy closed the connection or sent no end to its answer to CONNECT";
            return Err(Failure::new(ErrorKind::Connect, problem));
        }
        head.push(byte[0]);
    }
    let status = head.split(|&b| b == b' ').nth(1).unwrap_or_default();
    match status.first() {
        Some(b'2') => Ok(()),
        _ => Err(Failure::new(
            ErrorKind::Connect,
            format!(
                "the proxy refused CONNECT {authority}: {}",
                String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
            ),
        )),
    }
}

/// Connects to `host:port`; a host name is resolved first and its addresses tried in turn.
async fn connect_tcp(host: &str, port: u16) -> Result<(TcpStream, Setup), Failure> {
    let mut setup = Setup::default();
    if let Ok(ip) = host.parse::<IpAddr>() {
        let started = Instant::now();
        let address = SocketAddr::new(ip, port);
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| Failure::new(connect_kind(&e), format!("{address}: {e}")))?;
        setup.connect = started.elapsed();
        return Ok((stream, setup));
    }
    let started = Instant::now();
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::new(connect_kind(&e), format!("resolving {host}: {e}")))?;
    setup.dns = Some(started.elapsed());
    let started = Instant::now();
    let stream = connect_any(addresses.collect(), NEXT_ATTEMPT_AFTER, TcpStream::connect)
        .await
        .map_err(|f| Failure::new(f.kind, format!("{host} {}", f.detail)))?;
    setup.connect = started.elapsed();
    Ok((stream, setup))
}

/// How a failure to get a connection counts: the machine's own limits (no file descriptor,
/// no local port, no memory) are `local`, the generator's doing, not the server's.
fn connect_kind(error: &std::io::Error) -> ErrorKind {
    use nix::errno::Errno;
    let local = [
        Errno::EMFILE,
        Errno::ENFILE,
        Errno::EADDRNOTAVAIL,
        Errno::ENOBUFS,
        Errno::ENOMEM,
    ];
    match error.raw_os_error() {
        Some(code) if local.contains(&Errno::from_raw(code)) => ErrorKind::Local,
        _ => ErrorKind::Connect,
    }
}

/// How long an address may keep a connection attempt to itself before the next address
/// is tried beside it (RFC 8305's recommended connection attempt delay).
const NEXT_ATTEMPT_AFTER: Duration = Duration::from_millis(250);

/// Connects to the first of `addresses` that answers, in their order, Happy-Eyeballs
/// style: an attempt that fails lets the next start at once, one that hangs lets it start
/// after `delay`, and earlier attempts keep running beside it. So an unreachable IPv6
/// address listed first costs `delay`, not the whole request timeout. The error names
/// the last address that failed.
async fn connect_any<S, F, Fut>(
    addresses: Vec<SocketAddr>,
    delay: Duration,
    connect: F,
) -> Result<S, Failure>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    use futures_util::StreamExt as _;
    use futures_util::stream::FuturesUnordered;
    let mut waiting = addresses.into_iter();
    let mut attempts = FuturesUnordered::new();
    let mut last = Failure::new(ErrorKind::Connect, "resolved to no address");
    let attempt = |address: SocketAddr| {
        let connecting = connect(address);
        async move { (address, connecting.await) }
    };
    loop {
        if attempts.is_empty() {
            match waiting.next() {
                Some(address) => attempts.push(attempt(address)),
                None => return Err(last),
            }
        }
        let more = waiting.len() > 0;
        tokio::select! {
            Some((address, result)) = attempts.next() => match result {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    last = Failure::new(connect_kind(&e), format!("({address}): {e}"));
                    if let Some(next) = waiting.next() {
                        attempts.push(attempt(next));
                    }
                }
            },
            _ = tokio::time::sleep(delay), if more => {
                if let Some(next) = waiting.next() {
                    attempts.push(attempt(next));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hanging_first_address_costs_the_attempt_delay_not_the_timeout() {
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let refused: SocketAddr = "192.0.2.2:80".parse().unwrap();
        let fake = |address: SocketAddr| async move {
            if address == v6 {
                std::future::pending::<()>().await;
            }
            if address == refused {
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
            }
            Ok(address)
        };
        let delay = Duration::from_millis(250);
        let started = tokio::time::Instant::now();
        assert_eq!(connect_any(vec![v6, v4], delay, fake).await, Ok(v4));
        assert_eq!(started.elapsed(), delay);
        // A refusal moves on at once; when every address fails, the last one is named.
        let started = tokio::time::Instant::now();
        assert_eq!(connect_any(vec![refused, v4], delay, fake).await, Ok(v4));
        assert_eq!(started.elapsed(), Duration::ZERO);
        let error = connect_any(vec![refused], delay, fake).await.unwrap_err();
        assert!(
            error.detail.contains("192.0.2.2:80") && error.detail.contains("refused"),
            "{error:?}"
        );
        assert_eq!(error.kind, ErrorKind::Connect);
        let none = connect_any(Vec::<SocketAddr>::new(), delay, fake).await;
        assert_eq!(
            none,
            Err(Failure::new(ErrorKind::Connect, "resolved to no address"))
        );
    }

    #[test]
    fn running_out_of_descriptors_or_ports_is_local_not_the_servers_connect_error() {
        use nix::errno::Errno;
        let kind = |errno: Errno| connect_kind(&std::io::Error::from_raw_os_error(errno as i32));
        assert_eq!(kind(Errno::EMFILE), ErrorKind::Local);
        assert_eq!(kind(Errno::EADDRNOTAVAIL), ErrorKind::Local);
        assert_eq!(kind(Errno::ECONNREFUSED), ErrorKind::Connect);
        assert_eq!(kind(Errno::ENETUNREACH), ErrorKind::Connect);
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

    #[test]
    fn kept_bodies_are_decoded_as_their_content_encoding_says() {
        use std::io::Write as _;
        let json = br#"{"id":"abc"}"#;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        gzip.write_all(json).unwrap();
        let gzipped = gzip.finish().unwrap();
        let header = |v: &'static str| HeaderValue::from_static(v);
        let read = |raw: Vec<u8>, encoding: Option<&HeaderValue>| decoded(raw, encoding).ok();
        assert_eq!(
            read(gzipped.clone(), Some(&header("gzip"))).as_deref(),
            Some(&json[..])
        );
        assert_eq!(read(json.to_vec(), None).as_deref(), Some(&json[..]));
        assert_eq!(
            read(json.to_vec(), Some(&header("identity"))).as_deref(),
            Some(&json[..])
        );
        let why = |raw, v| decoded(raw, Some(&header(v))).err().unwrap_or_default();
        assert!(why(gzipped, "br").contains("cannot undo"));
        assert!(
            why(json.to_vec(), "gzip").contains("does not decode"),
            "not gzip at all"
        );
        // 9 MiB of zeros, gzipped to a few KB: cut at the limit, and said so.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        bomb.write_all(&vec![0u8; 9 << 20]).unwrap();
        assert!(why(bomb.finish().unwrap(), "gzip").contains("over 8 MiB"));
    }

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
