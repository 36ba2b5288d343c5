//! What a response says about the server's side of a request: its own time, whether it
//! was a cold start, and the ID its platform logged it under. Leaf vocabulary: targets
//! parse the sources, the client reads a [`ServerReport`] from each response, the recorder
//! counts it.
//!
//! Reading a report allocates nothing once a lane's report has room: the header lines are
//! read where the client parsed them, and the little kept (Server-Timing text, a request
//! ID) is copied into buffers the report reuses. Only the slow and cold requests the
//! results keep turn their request ID into a string of their own.

use std::fmt;

use http::{HeaderMap, HeaderName};

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

/// The headers looked at for a request ID when none is named, in order (then
/// [`TRACEPARENT`]). Names made once: a lookup by text would parse the name per response.
pub const DEFAULT_REQUEST_IDS: [HeaderName; 3] = [
    HeaderName::from_static("x-amzn-requestid"),
    HeaderName::from_static("x-amz-apigw-id"),
    HeaderName::from_static("x-request-id"),
];

/// The W3C trace-context header, whose trace ID names a request when nothing else does.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

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

/// The two forms every source takes: a Server-Timing metric or a header.
enum Named {
    Metric(String),
    Header(HeaderName),
}

/// `server-timing:NAME` or `header:NAME`, checked; `None` for any other form.
fn named(text: &str) -> Option<Result<Named, String>> {
    if let Some(name) = text.strip_prefix("server-timing:") {
        return Some(metric_name(name).map(Named::Metric));
    }
    let name = text.strip_prefix("header:")?;
    Some(header_name(name).map(Named::Header))
}

impl std::str::FromStr for TimeSource {
    type Err = String;

    /// `server-timing:app`, `header:X-Envoy-Upstream-Service-Time` or `/meta/duration_ms`.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(named) = named(text) {
            return named.map(|n| match n {
                Named::Metric(name) => TimeSource::ServerTiming(name),
                Named::Header(name) => TimeSource::Header(name),
            });
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
        if let Some(named) = named(text) {
            return named.map(|n| match n {
                Named::Metric(name) => ColdSource::ServerTiming(name),
                Named::Header(name) => ColdSource::Header(name),
            });
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

/// A request ID as the response carried it, borrowed from the lane's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId<'a> {
    value: &'a str,
    /// The value is a W3C `traceparent`: the ID is its trace-id field.
    traceparent: bool,
}

impl RequestId<'_> {
    /// The ID as text; `None` when it is empty (or a malformed traceparent).
    pub fn text(&self) -> Option<Box<str>> {
        let text = self.value.trim();
        let id = match self.traceparent {
            true => text.split('-').nth(1).filter(|id| id.len() == 32)?,
            false => text,
        };
        (!id.is_empty()).then(|| id.into())
    }
}

/// What one response said about the server's side. A lane keeps one and reuses it: its
/// text lives in buffers that keep their room from response to response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerReport {
    /// The Server-Timing header lines joined by `", "` (a list split over several lines
    /// is the same list, RFC 9110 §5.3); a line that is not visible ASCII is left out, as
    /// an empty one says nothing.
    timing: String,
    /// The server's own time, by the target's source.
    pub time: ServerTime,
    /// `Some` when the response declared a cold start, with the init time in milliseconds
    /// when it said one.
    pub cold: Option<Option<f64>>,
    /// The request ID's text, when `request_id_kind` says there is one.
    request_id: String,
    /// `Some(traceparent)` when the response carried a request ID (visible ASCII).
    request_id_kind: Option<bool>,
    /// The metrics' durations, parsed once here for the recorder.
    durations: Durations,
}

/// Durations kept parsed per response; a response with more is parsed again where read.
const DURATIONS_KEPT: usize = 6;

/// The durations of a response's Server-Timing metrics, parsed once where the response is
/// read: the recorder takes them from here instead of parsing the header again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Durations {
    /// (name's start and end in the joined lines, dur in ms), in order.
    kept: [(u16, u16, f64); DURATIONS_KEPT],
    len: u8,
    /// Whether `kept` holds every duration of the response.
    complete: bool,
}

impl Durations {
    /// Keeps `metric` of `text`; past the room (or a text too long to index), the
    /// durations are marked incomplete and read by parsing again.
    fn keep(&mut self, text: &str, metric: &timing::Metric<'_>) {
        let Some(ms) = metric.dur_ms else { return };
        let start = metric.name.as_ptr() as usize - text.as_ptr() as usize;
        let end = start + metric.name.len();
        match (
            u16::try_from(start),
            u16::try_from(end),
            self.kept.get_mut(usize::from(self.len)),
        ) {
            (Ok(start), Ok(end), Some(slot)) => {
                *slot = (start, end, ms);
                self.len += 1;
            }
            _ => self.complete = false,
        }
    }
}

/// A header line as the report reads it: its name and value, as they came.
pub type HeaderLine<'h> = (&'h [u8], &'h [u8]);

impl ServerReport {
    /// Reads what `headers` (and, for a JSON-pointer source, `body`) say, as `spec` asks.
    pub fn read(spec: &ServerSpec, headers: &HeaderMap, body: Option<&[u8]>) -> ServerReport {
        let mut report = ServerReport::default();
        report.read_into(spec, headers, body);
        report
    }

    /// [`ServerReport::read_lines`] of a header map (HTTP/2, and kept responses).
    pub fn read_into(&mut self, spec: &ServerSpec, headers: &HeaderMap, body: Option<&[u8]>) {
        let lines = || {
            headers
                .iter()
                .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
        };
        self.read_lines(spec, lines, body);
    }

    /// Reads a response's header lines (`headers()` goes through them from the start)
    /// into this report, which a lane keeps and reuses: the lines are read straight from
    /// the client's read buffer (a plain response pays a few comparisons), and what is
    /// kept is copied into the report's own buffers, so reading allocates nothing once
    /// they have room.
    pub fn read_lines<'h, I>(
        &mut self,
        spec: &ServerSpec,
        headers: impl Fn() -> I,
        body: Option<&[u8]>,
    ) where
        I: Iterator<Item = HeaderLine<'h>>,
    {
        self.clear();
        // The request-ID candidates by rank: the named header alone, or the usual ones.
        let mut ids: [Option<&[u8]>; 4] = [None; 4];
        for (name, value) in headers() {
            if is(name, &SERVER_TIMING) {
                self.add_timing_line(value);
                continue;
            }
            let rank = match &spec.request_id {
                RequestIdSource::Header(id) => is(name, id).then_some(0),
                RequestIdSource::Usual => usual_id_rank(name),
            };
            if let Some(slot) = rank.and_then(|r| ids.get_mut(r)) {
                slot.get_or_insert(value);
            }
        }
        let first = ids
            .iter()
            .enumerate()
            .find_map(|(rank, v)| Some((rank, (*v)?)));
        if let Some((rank, text)) = first.and_then(|(r, v)| Some((r, visible_ascii(v)?))) {
            self.request_id.push_str(text);
            self.request_id_kind = Some(rank == 3 && spec.request_id == RequestIdSource::Usual);
        }
        let (time, cold) = self.parse_timing(spec);
        let time = match &spec.time {
            None => None,
            Some(TimeSource::ServerTiming(_)) => Some(time.flatten()),
            Some(source) => Some(time_elsewhere(source, headers(), body)),
        };
        self.time = match time {
            None => ServerTime::NotAsked,
            Some(ms) => ms.map_or(ServerTime::Missing, ServerTime::Ms),
        };
        self.cold = match &spec.cold {
            ColdSource::ServerTiming(_) => cold,
            source => cold_from_header(source, headers()),
        };
    }

    fn add_timing_line(&mut self, value: &[u8]) {
        if let Some(text) = visible_ascii(value) {
            if !self.timing.is_empty() {
                self.timing.push_str(", ");
            }
            self.timing.push_str(text);
        }
    }

    /// Forgets the last response, keeping the buffers' room.
    pub fn clear(&mut self) {
        self.timing.clear();
        self.time = ServerTime::NotAsked;
        self.cold = None;
        self.request_id.clear();
        self.request_id_kind = None;
        self.durations = Durations::default();
    }

    /// Parses the Server-Timing lines once: keeps their durations, and returns the metrics
    /// the spec's Server-Timing sources name as `(time, cold)`, each `Some(dur)` when its
    /// metric is present.
    fn parse_timing(&mut self, spec: &ServerSpec) -> (Option<Option<f64>>, Option<Option<f64>>) {
        let time_name = match &spec.time {
            Some(TimeSource::ServerTiming(name)) => Some(name.as_str()),
            _ => None,
        };
        let cold_name = match &spec.cold {
            ColdSource::ServerTiming(name) => Some(name.as_str()),
            _ => None,
        };
        let (mut time, mut cold) = (None, None);
        let named = |name: Option<&str>, metric: &timing::Metric<'_>| {
            name.is_some_and(|n| metric.name.eq_ignore_ascii_case(n))
        };
        let mut durations = Durations {
            complete: true,
            ..Durations::default()
        };
        for metric in self.metrics() {
            durations.keep(&self.timing, &metric);
            if time.is_none() && named(time_name, &metric) {
                time = Some(metric.dur_ms);
            }
            if cold.is_none() && named(cold_name, &metric) {
                cold = Some(metric.dur_ms);
            }
        }
        self.durations = durations;
        (time, cold)
    }

    /// Whether the response said anything at all (most plain responses say nothing).
    pub fn is_empty(&self) -> bool {
        self.timing.is_empty()
            && self.time == ServerTime::NotAsked
            && self.cold.is_none()
            && self.request_id_kind.is_none()
    }

    /// The request's ID in the platform's logs.
    pub fn request_id(&self) -> Option<RequestId<'_>> {
        self.request_id_kind.map(|traceparent| RequestId {
            value: &self.request_id,
            traceparent,
        })
    }

    /// Every Server-Timing metric of the response, line after line.
    pub fn metrics(&self) -> impl Iterator<Item = timing::Metric<'_>> {
        timing::metrics(&self.timing)
    }

    /// `(name, ms)` of every Server-Timing metric with a duration, in order: as parsed
    /// when the response was read (or parsed again, for a response with many).
    pub fn durations(&self) -> impl Iterator<Item = (&str, f64)> {
        let d = &self.durations;
        let kept = d.kept[..usize::from(d.len)]
            .iter()
            .filter(move |_| d.complete)
            .filter_map(|&(start, end, ms)| {
                Some((self.timing.get(usize::from(start)..usize::from(end))?, ms))
            });
        let parsed_again = self
            .metrics()
            .filter(move |_| !d.complete)
            .filter_map(|m| Some((m.name, m.dur_ms?)));
        kept.chain(parsed_again)
    }
}

/// Whether a header line's name is `header` (names are case-insensitive).
fn is(name: &[u8], header: &HeaderName) -> bool {
    name.eq_ignore_ascii_case(header.as_str().as_bytes())
}

/// A header value as text, when it is visible ASCII (and tabs), as `HeaderValue::to_str`.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

/// The first value of the header `name` among `headers`, as text.
fn first_value<'h>(
    mut headers: impl Iterator<Item = HeaderLine<'h>>,
    name: &HeaderName,
) -> Option<&'h [u8]> {
    headers.find(|(n, _)| is(n, name)).map(|(_, value)| value)
}

/// The server's time from a header or the body (a Server-Timing source is read in
/// `parse_timing`).
fn time_elsewhere<'h>(
    source: &TimeSource,
    headers: impl Iterator<Item = HeaderLine<'h>>,
    body: Option<&[u8]>,
) -> Option<f64> {
    match source {
        TimeSource::ServerTiming(_) => None,
        TimeSource::Header(name) => {
            timing::milliseconds(visible_ascii(first_value(headers, name)?)?)
        }
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

/// A cold start declared by a header: present and not `0` or `false`.
fn cold_from_header<'h>(
    source: &ColdSource,
    headers: impl Iterator<Item = HeaderLine<'h>>,
) -> Option<Option<f64>> {
    let ColdSource::Header(name) = source else {
        return None;
    };
    let value = visible_ascii(first_value(headers, name)?)
        .unwrap_or("1")
        .trim();
    let warm = value == "0" || value.eq_ignore_ascii_case("false");
    (!warm).then_some(None)
}

/// The rank of a usual request-ID header: [`DEFAULT_REQUEST_IDS`] in order, then
/// [`TRACEPARENT`].
fn usual_id_rank(name: &[u8]) -> Option<usize> {
    DEFAULT_REQUEST_IDS
        .iter()
        .chain([&TRACEPARENT])
        .position(|usual| is(name, usual))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
                .request_id()
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
    fn durations_are_the_metrics_with_a_dur_whether_kept_or_parsed_again() {
        for count in [0, 1, DURATIONS_KEPT, DURATIONS_KEPT + 1, 40] {
            let entries: Vec<String> = (0..count).map(|i| format!("m{i};dur={i}.5")).collect();
            let line = format!("{}, nodur;desc=x", entries.join(", "));
            let mut h = HeaderMap::new();
            h.append(
                "server-timing",
                HeaderValue::from_str(&line).expect("ASCII"),
            );
            h.append("server-timing", HeaderValue::from_static("last;dur=9"));
            let report = ServerReport::read(&ServerSpec::default(), &h, None);
            let from_metrics: Vec<(&str, f64)> = report
                .metrics()
                .filter_map(|m| Some((m.name, m.dur_ms?)))
                .collect();
            let durations: Vec<(&str, f64)> = report.durations().collect();
            assert_eq!(durations, from_metrics, "{count} metrics");
            assert_eq!(durations.len(), count + 1);
        }
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
