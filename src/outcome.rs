//! What one request came to: the vocabulary shared by the client, which produces it,
//! and the recorder, which counts it.

use std::time::Duration;

/// Why a request did not count as `ok`. Every failure a server or the network can cause
/// maps to exactly one kind; nothing a server sends stops the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A complete response arrived, but its status was not one the target expects.
    Status,
    /// No complete response within the target's timeout (connection set-up included).
    Timeout,
    /// The connection could not be opened: refused, unreachable, or the name did not resolve.
    Connect,
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol mismatch).
    Tls,
    /// The server broke HTTP: a malformed response, or the connection closed before one arrived.
    Protocol,
    /// The response head arrived but reading its body failed.
    Body,
    /// A flow step's response came whole with an expected status, but a value the step
    /// captures (a JSON pointer into the body, or a header) was not in it.
    Capture,
    /// The request never left this machine: the generator ran out of something of its
    /// own (file descriptors, local ports, memory). Not the server's doing.
    Local,
    /// The request was not sent because it could not be authenticated: its AWS
    /// credentials expired and renewing them failed. Not the server's doing either; the
    /// lane backs off and the run goes on, so a credential source that is fixed recovers.
    Auth,
}

impl ErrorKind {
    /// Every kind, in the order the results list them.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Status,
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::Body,
        ErrorKind::Capture,
        ErrorKind::Local,
        ErrorKind::Auth,
    ];

    /// The kind's name in the results JSON and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Status => "status",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Body => "body",
            ErrorKind::Capture => "capture",
            ErrorKind::Local => "local",
            ErrorKind::Auth => "auth",
        }
    }

    /// Position in [`ErrorKind::ALL`], used to index fixed-size counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a run ended: the engine's own reasons (iterations, duration, a stop it was asked
/// for), and the one only the caller knows (a threshold under `--fail-fast`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every lane sent its iterations.
    Iterations,
    /// The `--duration` elapsed.
    Duration,
    /// The caller asked the run to stop (Ctrl-C, SIGTERM).
    Signal,
    /// `--fail-fast` saw a threshold fail.
    Threshold,
}

impl StopReason {
    /// The reason's name in the results JSON (`run.stopped_by`).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Iterations => "iterations",
            StopReason::Duration => "duration",
            StopReason::Signal => "signal",
            StopReason::Threshold => "threshold",
        }
    }

    /// Whether the run ended as asked (not cut short by a stop request or a gate).
    pub fn is_complete(self) -> bool {
        matches!(self, StopReason::Iterations | StopReason::Duration)
    }
}

/// Why a request failed, with what the network, TLS or HTTP layer said: the kind is
/// counted, the detail kept once per kind and endpoint so a user sees *why* (an unknown
/// issuer, a refused port, a name that did not resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// How it counts.
    pub kind: ErrorKind,
    /// What was said, e.g. `invalid peer certificate: UnknownIssuer`.
    pub detail: String,
}

impl Failure {
    /// A failure of `kind` described by `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// For `map_err`: `error`'s message, with the causes it wraps, under `kind`.
    pub fn of<E: std::error::Error>(kind: ErrorKind) -> impl FnOnce(E) -> Failure {
        move |error| Failure::new(kind, message_chain(&error))
    }
}

/// An error's message followed by those of its causes (`a: b: c`), each said once.
pub fn message_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

/// A response that arrived whole (any status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Whether the status is one the target expects (default: any 2xx).
    pub expected: bool,
    /// From the intended send time to the last byte of the body: the headline latency. In
    /// closed-loop modes the intended time is the actual send, so this equals `raw_latency`.
    pub latency: Duration,
    /// From just before the request was handed to the client to the last byte of the body.
    pub raw_latency: Duration,
    /// From the same actual start to the moment the response head was parsed.
    pub ttfb: Duration,
    /// The HTTP version of the response (`HTTP/1.1`).
    pub http_version: &'static str,
    /// A flow step could not capture a value from it: the response counts as a `capture`
    /// error, while its latency and status are still recorded (the server did answer).
    pub capture_failed: bool,
}

/// How long opening a connection took, phase by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setup {
    /// Name resolution; `None` when the host was an IP address.
    pub dns: Option<Duration>,
    /// TCP connect.
    pub connect: Duration,
    /// TLS handshake; `None` for http://.
    pub tls: Option<Duration>,
    /// The negotiated TLS version (`TLSv1.3`); `None` for http://.
    pub tls_version: Option<&'static str>,
}

/// The outcome of one request, as the recorder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// When the schedule meant the request to start, from the start of the run.
    pub intended: Duration,
    /// When it actually started, from the start of the run.
    pub started: Duration,
    /// Whether an open schedule (`--rate`, `--every`) set `intended`; only then does the
    /// schedule lag (`started - intended`) mean anything.
    pub scheduled: bool,
    /// The request's iteration (burst number, lane-local count, or index in the rate schedule).
    pub iteration: u64,
    /// The lane (connection slot) that sent it.
    pub lane: u32,
    /// The connection set-up it paid for, if it opened one.
    pub setup: Option<Setup>,
    /// A complete response, or the transport failure that prevented one.
    pub result: Result<Response, ErrorKind>,
}

impl Outcome {
    /// The error kind this outcome counts under, if it is not `ok`.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self.result {
            Ok(response) if !response.expected => Some(ErrorKind::Status),
            Ok(response) if response.capture_failed => Some(ErrorKind::Capture),
            Ok(_) => None,
            Err(kind) => Some(kind),
        }
    }

    /// Actual start minus intended start (zero in closed-loop modes).
    pub fn lag(&self) -> Duration {
        self.started.saturating_sub(self.intended)
    }
}

/// Outcomes for unit tests, so each test states only the numbers it is about.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::Duration;

    use super::{ErrorKind, Outcome, Response};

    /// A complete response to a request started `started_ms` into the run (closed loop).
    pub(crate) fn response(started_ms: u64, latency_ms: u64, status: u16) -> Outcome {
        let latency = Duration::from_millis(latency_ms);
        at(
            started_ms,
            Ok(Response {
                status,
                expected: (200..300).contains(&status),
                latency,
                raw_latency: latency,
                ttfb: latency / 2,
                http_version: "HTTP/1.1",
                capture_failed: false,
            }),
        )
    }

    /// A transport failure of a request started `started_ms` into the run.
    pub(crate) fn failure(started_ms: u64, kind: ErrorKind) -> Outcome {
        at(started_ms, Err(kind))
    }

    fn at(started_ms: u64, result: Result<Response, ErrorKind>) -> Outcome {
        let at = Duration::from_millis(started_ms);
        Outcome {
            intended: at,
            started: at,
            scheduled: false,
            iteration: 0,
            lane: 0,
            setup: None,
            result,
        }
    }
}
