//! What a response says about the server's side of a request: its own time, whether it
//! was a cold start, and the ID its platform logged it under. Leaf vocabulary: targets
//! parse the sources, the client reads a [`ServerReport`] from each response, the recorder
//! counts it.
//!
//! Reading a report allocates nothing: header values are kept by reference count, and
//! text is parsed where it lies. Only the slow and cold requests the results keep turn
//! their request ID into a string.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

pub mod timing;

/// The `Server-Timing` header.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Where the one value that *is* the server's time comes from (`server_time = "..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSource {
    /// `server-timing:NAME`: the `dur` of one Server-Timing metric.
    ServerTiming(String),
    /// `header:NAME`: a header holding a number of milliseconds.
    Header(HeaderName),
    /// `/json/pointer`: a number of milliseconds in the JSON body (the body is then kept).
    Body(String),
}

/// How a cold start is recognised (`cold_start = "..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColdSource {
    /// `server-timing:NAME` (default `init`): the metric is present; its `dur` is the init time.
    ServerTiming(String),
    /// `header:NAME`: the header is present and not `0` or `false`.
    Header(HeaderName),
    /// `spikes`: never declared; only latency spikes count.
    Spikes,
}

impl Default for ColdSource {
    fn default() -> Self {
        ColdSource::ServerTiming("init".to_owned())
    }
}

/// Which response header identifies a request in the platform's logs (`request_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RequestIdSource {
    /// The first present of [`DEFAULT_REQUEST_IDS`], then `traceparent`'s trace ID.
    #[default]
    Usual,
    /// This header.
    Header(HeaderName),
}

/// The headers looked at for a request ID when none is named, in order.
pub const DEFAULT_REQUEST_IDS: [&str; 3] = ["x-amzn-requestid", "x-amz-apigw-id", "x-request-id"];

/// What a target reads from its responses about the server's side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSpec {
    /// The server's own time; `None`: not asked for (Server-Timing is still recorded).
    pub time: Option<TimeSource>,
    /// How cold starts are declared.
    pub cold: ColdSource,
    /// Where the request ID is.
    pub request_id: RequestIdSource,
}

impl ServerSpec {
    /// Takes `time` and `request_id` where this names no source of its own (the command
    /// line's `--server-time` and `--request-id-header` under a targets file's own).
    pub fn or_defaults(&mut self, time: Option<&TimeSource>, request_id: Option<&RequestIdSource>) {
        if let (None, Some(time)) = (&self.time, time) {
            self.time = Some(time.clone());
        }
        if let (RequestIdSource::Usual, Some(id)) = (&self.request_id, request_id) {
            self.request_id = id.clone();
        }
    }

    /// Whether the body must be kept to read the server time from it.
    pub fn needs_body(&self) -> bool {
        matches!(self.time, Some(TimeSource::Body(_)))
    }
}

fn header_name(text: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(text.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a valid header name", text.trim()))
}

fn metric_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    match timing::metrics(name).next() {
        Some(m) if m.name == name => Ok(name.to_owned()),
        _ => Err(format!("`{name}` is not a valid Server-Timing metric name")),
    }
}

impl std::str::FromStr for TimeSource {
    type Err = String;

    /// `server-timing:app`, `header:X-Envoy-Upstream-Service-Time` or `/meta/duration_ms`.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("server-timing:") {
            return metric_name(name).map(TimeSource::ServerTiming);
        }
        if let Some(name) = text.strip_prefix("header:") {
            return header_name(name).map(TimeSource::Header);
        }
        if text.starts_with('/') {
            return Ok(TimeSource::Body(text.to_owned()));
        }
        Err(format!(
            "`{text}` names no source: write \"server-timing:NAME\" (a Server-Timing metric), \
             \"header:NAME\" (a header holding milliseconds) or a JSON pointer such as \
             \"/meta/duration_ms\""
        ))
    }
}

impl std::str::FromStr for ColdSource {
    type Err = String;

    /// `server-timing:init`, `header:X-Cold-Start` or `spikes`.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("server-timing:") {
            return metric_name(name).map(ColdSource::ServerTiming);
        }
        if let Some(name) = text.strip_prefix("header:") {
            return header_name(name).map(ColdSource::Header);
        }
        if text == "spikes" {
            return Ok(ColdSource::Spikes);
        }
        Err(format!(
            "`{text}` names no source: write \"server-timing:NAME\" (present means cold), \
             \"header:NAME\" (present and not 0 or false means cold) or \"spikes\" (latency \
             spikes only)"
        ))
    }
}

impl std::str::FromStr for RequestIdSource {
    type Err = String;

    /// `header:x-amzn-RequestId` (or the bare header name).
    fn from_str(text: &str) -> Result<Self, String> {
        header_name(text.strip_prefix("header:").unwrap_or(text)).map(RequestIdSource::Header)
    }
}

impl fmt::Display for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSource::ServerTiming(name) => write!(f, "server-timing:{name}"),
            TimeSource::Header(name) => write!(f, "header:{name}"),
            TimeSource::Body(pointer) => f.write_str(pointer),
        }
    }
}

/// The server's time by the target's source.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum ServerTime {
    /// The target names no source.
    #[default]
    NotAsked,
    /// A source is named, but the response had no valid value there.
    Missing,
    /// Milliseconds.
    Ms(f64),
}

/// A request ID as the response carried it (a reference-counted header value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    value: HeaderValue,
    /// The value is a W3C `traceparent`: the ID is its trace-id field.
    traceparent: bool,
}

impl RequestId {
    /// The ID as text; `None` when it is not visible ASCII (or a malformed traceparent).
    pub fn text(&self) -> Option<Box<str>> {
        let text = self.value.to_str().ok()?.trim();
        let id = match self.traceparent {
            true => text.split('-').nth(1).filter(|id| id.len() == 32)?,
            false => text,
        };
        (!id.is_empty()).then(|| id.into())
    }
}

/// What one response said about the server's side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerReport {
    /// The first `Server-Timing` header line (every response has at most one, as a rule).
    pub timing: Option<HeaderValue>,
    /// Further `Server-Timing` lines, rare: only these allocate.
    pub more_timing: Vec<HeaderValue>,
    /// The server's own time, by the target's source.
    pub time: ServerTime,
    /// `Some` when the response declared a cold start, with the init time in milliseconds
    /// when it said one.
    pub cold: Option<Option<f64>>,
    /// The request's ID in the platform's logs.
    pub request_id: Option<RequestId>,
}

impl ServerReport {
    /// Reads what `headers` (and, for a JSON-pointer source, `body`) say, as `spec` asks.
    pub fn read(spec: &ServerSpec, headers: &HeaderMap, body: Option<&[u8]>) -> ServerReport {
        let mut lines = headers.get_all(SERVER_TIMING).iter();
        let timing = lines.next().cloned();
        let more_timing = lines.cloned().collect();
        let mut report = ServerReport {
            timing,
            more_timing,
            request_id: request_id(&spec.request_id, headers),
            ..ServerReport::default()
        };
        report.time = match &spec.time {
            None => ServerTime::NotAsked,
            Some(source) => report
                .time_from(source, headers, body)
                .map_or(ServerTime::Missing, ServerTime::Ms),
        };
        report.cold = report.cold_from(&spec.cold, headers);
        report
    }

    /// Whether the response said anything at all (most plain responses say nothing).
    pub fn is_empty(&self) -> bool {
        self.timing.is_none()
            && self.time == ServerTime::NotAsked
            && self.cold.is_none()
            && self.request_id.is_none()
    }

    /// The Server-Timing header lines as text (a line that is not visible ASCII is skipped).
    pub fn timing_lines(&self) -> impl Iterator<Item = &str> {
        self.timing
            .iter()
            .chain(&self.more_timing)
            .filter_map(|v| v.to_str().ok())
    }

    /// Every Server-Timing metric of the response, line after line.
    pub fn metrics(&self) -> impl Iterator<Item = timing::Metric<'_>> {
        self.timing_lines().flat_map(timing::metrics)
    }

    fn metric(&self, name: &str) -> Option<timing::Metric<'_>> {
        self.timing_lines()
            .find_map(|line| timing::find(line, name))
    }

    fn time_from(
        &self,
        source: &TimeSource,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> Option<f64> {
        match source {
            TimeSource::ServerTiming(name) => self.metric(name)?.dur_ms,
            TimeSource::Header(name) => timing::milliseconds(headers.get(name)?.to_str().ok()?),
            TimeSource::Body(pointer) => {
                let body: serde_json::Value = serde_json::from_slice(body?).ok()?;
                match body.pointer(pointer)? {
                    serde_json::Value::Number(n) => n.as_f64().filter(|v| *v >= 0.0),
                    serde_json::Value::String(text) => timing::milliseconds(text),
                    _ => None,
                }
            }
        }
    }

    fn cold_from(&self, source: &ColdSource, headers: &HeaderMap) -> Option<Option<f64>> {
        match source {
            ColdSource::ServerTiming(name) => self.metric(name).map(|m| m.dur_ms),
            ColdSource::Header(name) => {
                let value = headers.get(name)?.to_str().unwrap_or("1").trim();
                let warm = value == "0" || value.eq_ignore_ascii_case("false");
                (!warm).then_some(None)
            }
            ColdSource::Spikes => None,
        }
    }
}

fn request_id(source: &RequestIdSource, headers: &HeaderMap) -> Option<RequestId> {
    let plain = |value: &HeaderValue| RequestId {
        value: value.clone(),
        traceparent: false,
    };
    match source {
        RequestIdSource::Header(name) => headers.get(name).map(plain),
        RequestIdSource::Usual => DEFAULT_REQUEST_IDS
            .iter()
            .find_map(|name| headers.get(*name))
            .map(plain)
            .or_else(|| {
                headers.get("traceparent").map(|value| RequestId {
                    value: value.clone(),
                    traceparent: true,
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn spec(time: &str) -> ServerSpec {
        ServerSpec {
            time: Some(time.parse().expect("a valid source")),
            ..ServerSpec::default()
        }
    }

    #[test]
    fn server_time_comes_from_the_named_source_or_is_missing() {
        let h = headers(&[
            ("server-timing", "db;dur=3"),
            ("server-timing", "app;dur=5.5"),
            ("x-upstream", "7"),
            ("x-bad", "-2"),
        ]);
        let read = |s: &str, body: Option<&[u8]>| ServerReport::read(&spec(s), &h, body).time;
        assert_eq!(read("server-timing:app", None), ServerTime::Ms(5.5));
        assert_eq!(read("server-timing:APP", None), ServerTime::Ms(5.5));
        assert_eq!(read("header:X-Upstream", None), ServerTime::Ms(7.0));
        assert_eq!(read("header:x-bad", None), ServerTime::Missing);
        assert_eq!(read("server-timing:cache", None), ServerTime::Missing);
        let body = br#"{"meta":{"duration_ms":1.25,"text":"2","neg":-1}}"#;
        assert_eq!(read("/meta/duration_ms", Some(body)), ServerTime::Ms(1.25));
        assert_eq!(read("/meta/text", Some(body)), ServerTime::Ms(2.0));
        assert_eq!(read("/meta/neg", Some(body)), ServerTime::Missing);
        assert_eq!(
            read("/meta/duration_ms", Some(b"not json")),
            ServerTime::Missing
        );
        assert_eq!(read("/meta/duration_ms", None), ServerTime::Missing);
    }

    #[test]
    fn cold_starts_are_declared_by_a_metric_or_a_header() {
        let plain = ServerSpec::default();
        let cold = headers(&[("server-timing", "init;dur=812, handler;dur=0.2")]);
        assert_eq!(
            ServerReport::read(&plain, &cold, None).cold,
            Some(Some(812.0))
        );
        let warm = headers(&[("server-timing", "handler;dur=0.2")]);
        assert_eq!(ServerReport::read(&plain, &warm, None).cold, None);
        let by_header = ServerSpec {
            cold: "header:X-Cold-Start".parse().expect("valid"),
            ..ServerSpec::default()
        };
        for (value, is_cold) in [("true", true), ("1", true), ("0", false), ("FALSE", false)] {
            let h = headers(&[("x-cold-start", value)]);
            let said = ServerReport::read(&by_header, &h, None).cold;
            assert_eq!(said.is_some(), is_cold, "{value}");
        }
    }

    #[test]
    fn request_ids_come_from_the_usual_headers_or_the_named_one() {
        let usual = ServerSpec::default();
        let text = |h: &HeaderMap, s: &ServerSpec| {
            ServerReport::read(s, h, None)
                .request_id
                .and_then(|id| id.text())
                .map(String::from)
        };
        let h = headers(&[("x-request-id", "r-1"), ("x-amzn-RequestId", "aws-1")]);
        assert_eq!(text(&h, &usual).as_deref(), Some("aws-1"));
        let trace = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(
            text(&trace, &usual).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let named = ServerSpec {
            request_id: "header:x-request-id".parse().expect("valid"),
            ..ServerSpec::default()
        };
        assert_eq!(text(&h, &named).as_deref(), Some("r-1"));
        assert!(ServerReport::read(&usual, &HeaderMap::new(), None).is_empty());
    }

    #[test]
    fn sources_are_checked_when_read() {
        assert!("server-timing:".parse::<TimeSource>().is_err());
        assert!("header:bad name".parse::<TimeSource>().is_err());
        assert!("duration".parse::<TimeSource>().is_err());
        assert!("sometimes".parse::<ColdSource>().is_err());
        assert_eq!("spikes".parse::<ColdSource>(), Ok(ColdSource::Spikes));
        assert_eq!(
            "server-timing:app"
                .parse::<TimeSource>()
                .map(|s| s.to_string()),
            Ok("server-timing:app".to_owned())
        );
    }
}
