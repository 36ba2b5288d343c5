//! One HTTP/1.1 connection of our own: the lane writes a request's bytes and reads the
//! response through [`super::frame`], on the stream itself, with one read buffer (4 KB,
//! grown only while a response needs it) and no task or channel in between.

use std::io::Write as _;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::frame::{self, BodyKind, Chunked, FrameError, header_slots};

/// What sees a response's final head where it was parsed: its status and header lines.
pub type OnHead<'a> = dyn FnMut(u16, &[httparse::Header<'_>]) + Send + 'a;

/// The read buffer's size when a connection opens.
const READ_BUFFER: usize = 4 * 1024;

/// What a response was, as the exchange needs it.
#[derive(Debug)]
pub struct Response {
    /// Its status.
    pub status: u16,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: http::Version,
    /// From `start` to the complete head.
    pub ttfb: Duration,
    /// Every header, when the body was kept too; otherwise none (the head's lines went to
    /// the caller's `on_head` instead, straight from the read buffer).
    pub headers: HeaderMap,
    /// Its body (up to the limit asked for), when asked to keep it.
    pub body: Option<Vec<u8>>,
}

/// Why an exchange failed, and in which phase (the caller's error kinds follow it).
#[derive(Debug)]
pub enum H1Error {
    /// Writing the request, or reading before a whole head arrived.
    Head(String),
    /// Reading or framing the body.
    Body(String),
    /// The TLS layer under the connection failed (an alert from the server).
    Tls(String),
}

/// An I/O error of `phase`, or of TLS when rustls is what failed.
fn io_error(error: std::io::Error, phase: fn(String) -> H1Error) -> H1Error {
    let tls = error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    match tls {
        true => H1Error::Tls(crate::outcome::message_chain(&error)),
        false => phase(error.to_string()),
    }
}

/// An HTTP/1.1 connection over `S` (TCP, or TLS over TCP).
#[derive(Debug)]
pub struct H1Conn<S> {
    io: S,
    buffer: BytesMut,
    reusable: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> H1Conn<S> {
    /// A connection over an open stream.
    pub fn new(io: S) -> H1Conn<S> {
        H1Conn {
            io,
            buffer: BytesMut::with_capacity(READ_BUFFER),
            reusable: true,
        }
    }

    /// Whether another request may go on it: the last response kept it alive and ended
    /// exactly where its framing said (bytes after it were no answer to anything).
    #[cfg(test)]
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Sends `request` (prepared bytes: the head and the body).
    pub async fn send(&mut self, request: &[u8]) -> Result<(), H1Error> {
        self.reusable = false;
        self.io
            .write_all(request)
            .await
            .map_err(|e| io_error(e, H1Error::Head))
    }

    /// Reads the response to the request just sent. `keep`: up to this many body bytes
    /// are kept, with every header as a map (a capture); `None`: the body is counted and
    /// dropped, and no header map is built. Either way `on_head` sees the final head's
    /// status and lines once, where they were parsed.
    pub async fn receive(
        &mut self,
        method: &Method,
        start: Instant,
        keep: Option<usize>,
        on_head: &mut OnHead<'_>,
    ) -> Result<Response, H1Error> {
        let head_request = *method == Method::HEAD;
        let (head, headers) = self
            .read_head(head_request, keep.is_some(), on_head)
            .await?;
        let ttfb = start.elapsed();
        let body = self.read_body(head.body, keep).await?;
        // Bytes beyond the response are no answer to anything: the connection is not
        // trusted with another request.
        self.reusable = head.keep_alive && self.buffer.is_empty();
        Ok(Response {
            status: head.status,
            version: match head.minor_version {
                0 => http::Version::HTTP_10,
                _ => http::Version::HTTP_11,
            },
            ttfb,
            headers,
            body,
        })
    }

    /// Reads until a final head is whole; drops it from the buffer.
    async fn read_head(
        &mut self,
        head_request: bool,
        map_headers: bool,
        on_head: &mut OnHead<'_>,
    ) -> Result<(frame::Head, HeaderMap), H1Error> {
        loop {
            if let Some(found) = self.buffered_head(head_request, map_headers, on_head)? {
                return Ok(found);
            }
            if self.fill().await.map_err(|e| io_error(e, H1Error::Head))? == 0 {
                return Err(H1Error::Head(
                    "connection closed before a complete response head".to_owned(),
                ));
            }
        }
    }

    /// The final head, when the buffer holds it whole. Not async on purpose: the parser's
    /// header slots (100 × 32 B) live on this call's stack, not in every lane's future.
    fn buffered_head(
        &mut self,
        head_request: bool,
        map_headers: bool,
        on_head: &mut OnHead<'_>,
    ) -> Result<Option<(frame::Head, HeaderMap)>, H1Error> {
        let mut headers = HeaderMap::new();
        let seen = |status: u16, lines: &[httparse::Header<'_>]| {
            on_head(status, lines);
            if map_headers {
                headers = header_map(lines);
            }
        };
        let parsed = frame::parse_head(&self.buffer, head_request, &mut header_slots(), seen)
            .map_err(|e| H1Error::Head(e.to_string()))?;
        let Some(head) = parsed else { return Ok(None) };
        self.buffer.advance(head.len);
        Ok(Some((head, headers)))
    }

    /// Reads the body as `kind` delimits it, keeping up to `keep` bytes.
    async fn read_body(
        &mut self,
        kind: BodyKind,
        keep: Option<usize>,
    ) -> Result<Option<Vec<u8>>, H1Error> {
        let mut sink = Sink {
            kept: keep.map(|_| Vec::new()),
            limit: keep.unwrap_or(0),
            read: 0,
        };
        match kind {
            BodyKind::Empty => {}
            BodyKind::Length(n) => self.read_length(n, &mut sink).await?,
            BodyKind::UntilClose => self.read_until_close(&mut sink).await?,
            BodyKind::Chunked => self.read_chunked(&mut sink).await?,
        }
        Ok(sink.kept)
    }

    async fn read_length(&mut self, n: u64, sink: &mut Sink) -> Result<(), H1Error> {
        while sink.read < n {
            if self.buffer.is_empty() && self.fill_body().await? == 0 {
                let read = sink.read;
                return Err(H1Error::Body(format!(
                    "connection closed after {read} of {n} body bytes"
                )));
            }
            let left = usize::try_from(n - sink.read).unwrap_or(usize::MAX);
            let take = self.buffer.len().min(left);
            sink.take(&self.buffer[..take]);
            self.buffer.advance(take);
        }
        Ok(())
    }

    async fn read_until_close(&mut self, sink: &mut Sink) -> Result<(), H1Error> {
        loop {
            sink.take(&self.buffer);
            self.buffer.clear();
            if self.fill_body().await? == 0 {
                return Ok(());
            }
        }
    }

    async fn read_chunked(&mut self, sink: &mut Sink) -> Result<(), H1Error> {
        let mut chunked = Chunked::default();
        while !chunked.is_done() {
            let step = chunked
                .step(&self.buffer)
                .map_err(|e: FrameError| H1Error::Body(e.to_string()))?;
            if let Some(data) = step.data {
                sink.take(&self.buffer[data]);
            }
            self.buffer.advance(step.consumed);
            if step.consumed == 0 && self.fill_body().await? == 0 {
                let why = "connection closed inside a chunked body";
                return Err(H1Error::Body(why.to_owned()));
            }
        }
        Ok(())
    }

    /// [`Self::fill`] while reading a body: its errors are the body's.
    async fn fill_body(&mut self) -> Result<usize, H1Error> {
        self.fill().await.map_err(|e| io_error(e, H1Error::Body))
    }

    /// Reads what the stream has into the buffer; 0 at its end.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buffer.capacity() - self.buffer.len() < 512 {
            self.buffer.reserve(READ_BUFFER);
        }
        self.io.read_buf(&mut self.buffer).await
    }

    /// Whether the server still holds the connection open with nothing unasked for on it:
    /// a look at the socket that never waits. A server that closed an idle connection, or
    /// wrote to it unasked, gets a new one rather than a request that fails.
    pub fn still_open(&mut self) -> bool {
        use futures_util::FutureExt as _;
        if !self.reusable {
            return false;
        }
        match self.io.read_buf(&mut self.buffer).now_or_never() {
            None => true,
            Some(_) => {
                self.reusable = false;
                false
            }
        }
    }
}

/// Where body bytes go: counted, and kept up to a limit when asked.
struct Sink {
    kept: Option<Vec<u8>>,
    limit: usize,
    read: u64,
}

impl Sink {
    fn take(&mut self, bytes: &[u8]) {
        self.read += bytes.len() as u64;
        if let Some(kept) = &mut self.kept {
            let room = self.limit.saturating_sub(kept.len()).min(bytes.len());
            kept.extend_from_slice(&bytes[..room]);
        }
    }
}

/// The head's header lines as a map (for a kept response: captures read any header).
fn header_map(lines: &[httparse::Header<'_>]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line.name.as_bytes()),
            HeaderValue::from_bytes(line.value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// `request` as HTTP/1.1 bytes into `out` (cleared first): its request line with `target`
/// (a path, or an absolute URL through a proxy), its headers, a `Content-Length` when it
/// has a body or a method that expects one, and the body.
pub fn encode_request(
    method: &Method,
    target: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    out.clear();
    // Written straight into the buffer: no string per request.
    let _ = write!(out, "{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let expects_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || expects_body {
        // Into the vector itself: no string per request.
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests;
