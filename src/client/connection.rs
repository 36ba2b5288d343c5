//! One open connection: HTTP/1.1 by our own framing ([`super::h1`]), HTTP/2 through
//! hyper's connection-level API; the handshake, one exchange at a time, and responses kept
//! for captures.

use super::h1::conn::{H1Conn, H1Error, encode_request};
use super::*;

/// Bodies kept for captures are cut off beyond this many bytes (a capture from a cut body
/// fails rather than reading a half document).
pub const KEPT_BODY_LIMIT: usize = 8 * 1024 * 1024;

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
    pub(super) redirect: Option<String>,
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

/// A stream an HTTP/1.1 connection runs over: TCP, or TLS over TCP.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Our HTTP/1.1 connection, and the buffer its requests are written into (reused).
pub(super) struct OwnH1 {
    conn: H1Conn<Box<dyn Io>>,
    request: Vec<u8>,
}

/// The two protocols behind one face.
pub(super) enum Sender {
    H1(Box<OwnH1>),
    H2(http2::SendRequest<Full<Bytes>>),
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
        match &mut self.sender {
            Sender::H1(own) => own.conn.still_open(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
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
        let sender = match &mut self.sender {
            Sender::H1(own) => return own_exchange(own, template, start, values, server).await,
            Sender::H2(sender) => sender,
        };
        let request = template.request(values, true)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| classify(&e, ErrorKind::Protocol))?;
        let ttfb = start.elapsed();
        let status = response.status().as_u16();
        let version = response.version();
        let location = response.headers().get(http::header::LOCATION);
        let redirect = redirect_of(template, status, location.map(HeaderValue::as_bytes));
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
pub(super) async fn read_kept(
    response: http::Response<hyper::body::Incoming>,
) -> Result<Kept, Failure> {
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
pub(super) const OVER_LIMIT: &str = "is over 8 MiB (decoded), more than a capture reads";

/// A kept body as the server meant it, gzip or deflate undone (`--compressed`); the error
/// says why there is none: an encoding it cannot undo, a corrupt stream, or more than
/// [`KEPT_BODY_LIMIT`].
pub(super) fn decoded(raw: Vec<u8>, encoding: Option<&HeaderValue>) -> Result<Bytes, &'static str> {
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

/// A TLS alert behind a hyper error (a server refusing the client certificate only says
/// so after the client's side of a TLS 1.3 handshake is done) is a `tls` error, not
/// `protocol`.
pub(super) fn classify(error: &hyper::Error, otherwise: ErrorKind) -> Failure {
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

pub(super) fn tls_version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "other",
    }
}

pub(super) async fn handshake<T>(io: T, h2: bool) -> Result<Sender, Failure>
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
    Ok(Sender::H1(Box::new(OwnH1 {
        conn: H1Conn::new(Box::new(io)),
        request: Vec::new(),
    })))
}

/// An exchange on our HTTP/1.1 connection: the request written as one buffer, the response
/// framed as it arrives; its body kept only when the template keeps responses.
async fn own_exchange(
    own: &mut OwnH1,
    template: &RequestTemplate,
    start: Instant,
    values: Option<&Values<'_>>,
    server: &mut ServerReport,
) -> Result<Exchange, Failure> {
    match template.h1_bytes() {
        // The same bytes every time: written as they are, nothing built per request.
        Some(bytes) => own.conn.send(bytes).await.map_err(failure)?,
        None => {
            let (parts, body) = template.request(values, false)?.into_parts();
            let body = full_bytes(body);
            let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
            encode_request(method, uri, headers, &body, &mut own.request);
            own.conn.send(&own.request).await.map_err(failure)?;
        }
    }
    let keep = template.keep_response.then_some(KEPT_BODY_LIMIT + 1);
    let mut redirect = None;
    // A kept response is read from its header map below; any other is read here, from
    // the lines as they lie in the read buffer: nothing is copied or allocated for them.
    let mut on_head = |status: u16, lines: &[httparse::Header<'_>]| {
        let lines = || lines.iter().map(|l| (l.name.as_bytes(), l.value));
        if template.follow_redirects > 0 {
            let location = lines().find(|(name, _)| name.eq_ignore_ascii_case(b"location"));
            redirect = redirect_of(template, status, location.map(|(_, value)| value));
        }
        if !template.keep_response {
            server.read_lines(&template.server, lines, None);
        }
    };
    let response = own
        .conn
        .receive(&template.method, start, keep, &mut on_head)
        .await
        .map_err(failure)?;
    let headers = response.headers;
    let kept = match response.body {
        Some(raw) => {
            let body = match raw.len() > KEPT_BODY_LIMIT {
                true => Err(OVER_LIMIT),
                false => decoded(raw, headers.get(http::header::CONTENT_ENCODING)),
            };
            server.read_into(&template.server, &headers, body.as_deref().ok());
            Some(Box::new(Kept { headers, body }))
        }
        None => None,
    };
    Ok(Exchange {
        status: response.status,
        ttfb: response.ttfb,
        latency: start.elapsed(),
        version: response.version,
        redirect,
        kept,
    })
}

impl RequestTemplate {
    /// The request's HTTP/1.1 bytes when they are the same every time (no template, no
    /// signature, no token command), encoded once, at the first request.
    fn h1_bytes(&self) -> Option<&Bytes> {
        let fixed = self.dynamic.is_none() && self.signer.is_none() && self.token.is_none();
        if !fixed {
            return None;
        }
        let encoded = self.h1_bytes.get_or_init(|| {
            let (parts, body) = self.request(None, false).ok()?.into_parts();
            let mut out = Vec::new();
            encode_request(
                &parts.method,
                &parts.uri,
                &parts.headers,
                &full_bytes(body),
                &mut out,
            );
            Some(Bytes::from(out))
        });
        encoded.as_ref()
    }
}

/// Where a redirect points (its `Location` value), when the template follows redirects
/// and `status` is one.
fn redirect_of(template: &RequestTemplate, status: u16, location: Option<&[u8]>) -> Option<String> {
    match (template.follow_redirects, status) {
        (1.., 301 | 302 | 303 | 307 | 308) => HeaderValue::from_bytes(location?)
            .ok()?
            .to_str()
            .ok()
            .map(str::to_owned),
        _ => None,
    }
}

/// A prepared body's bytes (a `Full` holds them whole: its one frame is ready at once).
fn full_bytes(body: Full<Bytes>) -> Bytes {
    use futures_util::FutureExt as _;
    let mut body = body;
    match body.frame().now_or_never() {
        Some(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// How an exchange on our connection failed, as an error kind.
fn failure(error: H1Error) -> Failure {
    match error {
        H1Error::Head(why) => Failure::new(ErrorKind::Protocol, why),
        H1Error::Body(why) => Failure::new(ErrorKind::Body, why),
        H1Error::Tls(why) => Failure::new(ErrorKind::Tls, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
