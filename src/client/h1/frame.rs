//! HTTP/1.1 response framing by RFC 9112, without I/O: where a response head ends (parsed
//! by `httparse`, hyper's own parser; never by hand), what it says about the body, and a
//! decoder for chunked bodies that takes its input in pieces of any size. The connection
//! feeds bytes as they arrive; this only says what they are.

use std::mem::MaybeUninit;
use std::ops::Range;

/// Most header lines in a response head (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// Most bytes of a response head, interim responses and chunked trailers included.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// None: a response to HEAD, 204 or 304.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A final response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the buffer the head took, interim (1xx) responses before it included.
    pub len: usize,
    /// The status code (200..=999).
    pub status: u16,
    /// `HTTP/1.x`'s x.
    pub minor_version: u8,
    /// How its body is delimited.
    pub body: BodyKind,
    /// Whether the connection can carry another request after this response.
    pub keep_alive: bool,
}

/// Why bytes are not an HTTP/1.1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The parser refused the head (its message).
    Invalid(String),
    /// The head (or the trailers) outgrew [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] header lines.
    TooManyHeaders,
    /// `Content-Length` values that are not one number.
    BadContentLength,
    /// `101 Switching Protocols`: a load test does not switch.
    SwitchingProtocols,
    /// A chunk size line that does not parse, or chunk data not followed by CRLF.
    BadChunk,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Invalid(why) => write!(f, "invalid response head: {why}"),
            FrameError::HeadTooLarge => {
                write!(f, "response head over {MAX_HEAD_BYTES} bytes")
            }
            FrameError::TooManyHeaders => {
                write!(f, "response head with over {MAX_HEADERS} header lines")
            }
            FrameError::BadContentLength => write!(f, "invalid Content-Length"),
            FrameError::SwitchingProtocols => {
                write!(
                    f,
                    "the server switched protocols (101), which a load test cannot follow"
                )
            }
            FrameError::BadChunk => write!(f, "invalid chunked body"),
        }
    }
}

/// Room for the header lines of one head, left uninitialised: httparse fills what it
/// uses, so no 3.2 KB of empty slots is written per response.
pub type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS];

/// Empty [`HeaderSlots`].
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Parses the final response head at the start of `buf`, skipping interim 1xx responses;
/// `Ok(None)` while it is incomplete. `head_request`: the request was a HEAD (no body
/// whatever the head says). `lines` sees the final head's status and header lines,
/// parsed into `slots`.
pub fn parse_head<'b>(
    buf: &'b [u8],
    head_request: bool,
    slots: &mut HeaderSlots<'b>,
    lines: impl FnOnce(u16, &[httparse::Header<'b>]),
) -> Result<Option<Head>, FrameError> {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let mut response = httparse::Response::new(&mut []);
        // hyper's defaults: obsolete line folding and spaces before the colon are refused,
        // as api-cannon always refused them.
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            rest,
            &mut slots[..],
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(FrameError::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(FrameError::TooManyHeaders),
            Err(e) => return Err(FrameError::Invalid(e.to_string())),
        };
        if start + len > MAX_HEAD_BYTES {
            return Err(FrameError::HeadTooLarge);
        }
        let status = response.code.unwrap_or(0);
        match status {
            101 => return Err(FrameError::SwitchingProtocols),
            // Interim responses (100 Continue, 103 Early Hints) come before the final one.
            100..=199 => {
                start += len;
                continue;
            }
            _ => {}
        }
        let minor_version = response.version.unwrap_or(1);
        let (body, keep_alive) = framing(status, minor_version, head_request, response.headers)?;
        lines(status, response.headers);
        return Ok(Some(Head {
            len: start + len,
            status,
            minor_version,
            body,
            keep_alive,
        }));
    }
}

/// The body's delimitation and whether the connection stays open (RFC 9112 6.3, 9.3).
fn framing(
    status: u16,
    minor_version: u8,
    head_request: bool,
    headers: &[httparse::Header<'_>],
) -> Result<(BodyKind, bool), FrameError> {
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let (mut close, mut keep_alive) = (false, false);
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            for value in header.value.split(|b| *b == b',') {
                let text = std::str::from_utf8(value).map_err(|_| FrameError::BadContentLength)?;
                let n: u64 = text
                    .trim()
                    .parse()
                    .map_err(|_| FrameError::BadContentLength)?;
                if length.is_some_and(|known| known != n) {
                    return Err(FrameError::BadContentLength);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding says whether the body is chunked.
            let last = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let persistent = !close && (minor_version >= 1 || keep_alive);
    let body = match (head_request || matches!(status, 204 | 304), chunked, length) {
        (true, _, _) => BodyKind::Empty,
        (false, Some(true), _) => BodyKind::Chunked,
        // A coding other than chunked last: the body runs until the close.
        (false, Some(false), _) => BodyKind::UntilClose,
        (false, None, Some(n)) => BodyKind::Length(n),
        (false, None, None) => BodyKind::UntilClose,
    };
    // Both framings given is a smuggling hint: answer it, then close.
    let both = chunked.is_some() && length.is_some();
    let reusable = persistent && body != BodyKind::UntilClose && !both;
    Ok((body, reusable))
}

/// Decodes a chunked body from pieces of any size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunked {
    state: State,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Expecting a chunk size line.
    #[default]
    Size,
    /// Inside a chunk, this many bytes to go.
    Data(u64),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// After the last chunk, trailer lines until an empty one.
    Trailers,
    /// The body is complete.
    Done,
}

/// What one step of the decoder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input it used (the caller drops them).
    pub consumed: usize,
    /// Body data within the input, if this step passed over some.
    pub data: Option<Range<usize>>,
}

impl Chunked {
    /// Whether the body has ended (the last chunk and the trailers are in).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`: at most one size line, data run or trailer
    /// section per call; `consumed == 0` means it needs more input.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, FrameError> {
        let nothing = |consumed| {
            Ok(Step {
                consumed,
                data: None,
            })
        };
        match self.state {
            State::Done => nothing(0),
            State::Size => match httparse::parse_chunk_size(input) {
                Ok(httparse::Status::Complete((used, 0))) => {
                    self.state = State::Trailers;
                    nothing(used)
                }
                Ok(httparse::Status::Complete((used, size))) => {
                    self.state = State::Data(size);
                    nothing(used)
                }
                Ok(httparse::Status::Partial) if input.len() > MAX_HEAD_BYTES => {
                    Err(FrameError::BadChunk)
                }
                Ok(httparse::Status::Partial) => nothing(0),
                Err(_) => Err(FrameError::BadChunk),
            },
            State::Data(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data(left)
                };
                let data = (take > 0).then_some(0..take);
                Ok(Step {
                    consumed: take,
                    data,
                })
            }
            State::DataEnd => match input {
                [b'\r', b'\n', ..] => {
                    self.state = State::Size;
                    nothing(2)
                }
                [] | [b'\r'] => nothing(0),
                _ => Err(FrameError::BadChunk),
            },
            State::Trailers => self.trailers(input),
        }
    }

    /// Trailer lines, skipped up to the empty line that ends them.
    fn trailers(&mut self, input: &[u8]) -> Result<Step, FrameError> {
        let end = match input {
            [b'\r', b'\n', ..] => Some(2),
            _ => input
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| at + 4),
        };
        match end {
            Some(used) => {
                self.state = State::Done;
                Ok(Step {
                    consumed: used,
                    data: None,
                })
            }
            None if input.len() > MAX_HEAD_BYTES => Err(FrameError::HeadTooLarge),
            None => Ok(Step {
                consumed: 0,
                data: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
