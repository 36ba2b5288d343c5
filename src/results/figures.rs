//! One endpoint's accumulated figures: what the engine's records and a parsed results file
//! both turn into, what `merge` adds up, and the only thing an [`EndpointResult`] is built
//! from. So a live run, a checkpoint and a merged file compute their statistics in one place.
//!
//! Everything here adds exactly: histograms are added counter by counter, counts summed,
//! exact extremes merged. The two things a file cannot give back exactly are said where they
//! are kept: a timeline bucket's p99 (merged as the larger of the two, an upper bound) and
//! the exact latency sum (recovered as mean × count, the mean being written to the µs).

use std::borrow::Cow;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{
    ColdFigures, EndpointKind, EndpointResult, ErrorKinds, Histograms, LatencySummary,
    OutlierResult, ServerFigures, TimelinePoint, decode_histogram, encode_histogram,
};
use crate::outcome::ErrorKind;
use crate::record::{
    EndpointStats, Extremes, OUTLIERS_KEPT, add_sparse, copy_sparse, new_coarse_histogram,
    new_histogram,
};
use crate::targets::{FlowRole, Target};
use crate::timeline::{BASE_WIDTH_US, MAX_BUCKETS};

/// The distributions an endpoint keeps, each a histogram in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    Latency,
    LatencyRaw,
    LatencyNewConn,
    LatencyReusedConn,
    Ttfb,
    ScheduleLag,
    Dns,
    Connect,
    Tls,
}

const SERIES: [Series; 9] = [
    Series::Latency,
    Series::LatencyRaw,
    Series::LatencyNewConn,
    Series::LatencyReusedConn,
    Series::Ttfb,
    Series::ScheduleLag,
    Series::Dns,
    Series::Connect,
    Series::Tls,
];

impl Series {
    /// An empty histogram of the series' own layout: connection phases and lag keep 2
    /// significant digits, so adding never moves a value to a coarser bucket bound.
    fn empty(self) -> Histogram<u64> {
        match self {
            Series::ScheduleLag | Series::Dns | Series::Connect | Series::Tls => {
                new_coarse_histogram()
            }
            _ => new_histogram(),
        }
    }

    /// The series' encoded histogram in a results file.
    fn encoded(self, e: &EndpointResult) -> &str {
        let h = &e.histograms;
        match self {
            Series::Latency => &e.histogram,
            Series::LatencyRaw => &h.latency_raw,
            Series::LatencyNewConn => &h.latency_new_conn,
            Series::LatencyReusedConn => &h.latency_reused_conn,
            Series::Ttfb => &h.ttfb,
            Series::ScheduleLag => &h.schedule_lag,
            Series::Dns => &h.dns,
            Series::Connect => &h.connect,
            Series::Tls => &h.tls,
        }
    }
}

/// What names an endpoint, taken from its target or from the first file that has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// The endpoint's unique name.
    pub name: String,
    /// Requests, or whole flow instances.
    pub kind: EndpointKind,
    /// The flow it is or belongs to.
    pub flow: Option<String>,
    /// For a whole flow: its steps' names.
    pub steps: Vec<String>,
    /// HTTP method (`FLOW` for a whole flow).
    pub method: String,
    /// The URL as written (secrets masked).
    pub url: String,
    /// Per-request timeout, ms.
    pub timeout_ms: f64,
}

/// The timeline's buckets, either on their final grid (one run's) or placed by their start
/// on a shared clock, to be laid on one grid when built (files being merged).
#[derive(Debug, Clone)]
struct Placed {
    /// The widest bucket width seen, in seconds.
    width_s: f64,
    /// Buckets, `t_s` from the earliest run's start.
    points: Vec<TimelinePoint>,
    /// True while the points are one timeline's own buckets, index × width apart.
    on_grid: bool,
}

/// One endpoint's figures, accumulated. Histograms borrow a live run's records (a checkpoint
/// copies nothing it does not need) and own what was decoded from files.
#[derive(Debug, Clone)]
pub struct EndpointFigures<'a> {
    /// What the endpoint is.
    pub description: Description,
    /// Indexed like [`SERIES`]; `None` where a file had no histogram (older files).
    histograms: [Option<Cow<'a, Histogram<u64>>>; SERIES.len()],
    latency_exact: Extremes,
    requests: u64,
    ok: u64,
    error_kinds: ErrorKinds,
    skipped: u64,
    unfinished: u64,
    late_requests: u64,
    new_connections: u64,
    status: BTreeMap<String, u64>,
    error_details: BTreeMap<String, String>,
    http_version: Option<String>,
    tls_version: Option<String>,
    insecure: bool,
    /// Slowest first, `t_s` on the shared clock, at most [`OUTLIERS_KEPT`].
    outliers: Vec<OutlierResult>,
    /// The first request's latency (ms), and its run's offset on the shared clock (s): of
    /// several runs the earliest one's first request is the endpoint's.
    first: (f64, Option<f64>),
    timeline: Placed,
    /// What the server said about its side.
    server: ServerFigures<'a>,
    /// `None` for a whole flow (and files older than cold starts).
    cold: Option<ColdFigures>,
}

fn ms(us: f64) -> f64 {
    us.round() / 1_000.0
}

fn duration_ms(d: std::time::Duration) -> f64 {
    ms(d.as_micros() as f64)
}

impl<'a> EndpointFigures<'a> {
    /// The figures a run recorded for `target` (`targets` names a flow's steps).
    pub fn from_stats(target: &Target, targets: &[Target], s: &'a EndpointStats) -> Self {
        let latency = s.latency();
        // Under a closed loop the raw latency is the latency: it is recorded only once.
        let latency_raw = match s.schedule_lag.is_empty() {
            true => Cow::Owned(copy_sparse(&latency)),
            false => s.latency_raw.histogram(),
        };
        // In the order of SERIES.
        let histograms = [
            Cow::Owned(latency),
            latency_raw,
            s.latency_new.histogram(),
            s.latency_reused.histogram(),
            s.ttfb.histogram(),
            s.schedule_lag.histogram(),
            s.dns.histogram(),
            s.connect.histogram(),
            s.tls.histogram(),
        ]
        .map(Some);
        EndpointFigures {
            description: Description::of(target, targets),
            histograms,
            latency_exact: s.latency_exact,
            requests: s.requests,
            ok: s.ok,
            error_kinds: ErrorKinds::from_counts(s.errors_by_kind),
            skipped: s.skipped,
            unfinished: s.started.saturating_sub(s.requests),
            late_requests: s.late,
            new_connections: s.new_connections,
            status: s
                .status
                .sorted()
                .into_iter()
                .map(|(code, n)| (code.to_string(), n))
                .collect(),
            error_details: ErrorKind::ALL
                .iter()
                .filter_map(|kind| {
                    let detail = s.error_details[kind.index()].as_deref()?;
                    Some((kind.as_str().to_owned(), detail.to_owned()))
                })
                .collect(),
            http_version: s.http_version.map(str::to_owned),
            tls_version: s.tls_version.map(str::to_owned),
            insecure: target.insecure && target.url.scheme_str() == Some("https"),
            outliers: live_outliers(s),
            first: (0.0, s.first.and_then(|f| f.latency).map(duration_ms)),
            timeline: Placed {
                width_s: s.timeline.width_us() as f64 / 1e6,
                points: live_timeline(s),
                on_grid: true,
            },
            server: ServerFigures::from_stats(s.server.as_deref(), target.server.time.is_some()),
            cold: (!target.is_whole_flow()).then(|| ColdFigures::from_stats(&s.cold)),
        }
    }

    /// The figures a results file holds for an endpoint whose run started `offset_s` after
    /// the earliest of the files being merged. What does not hold together (an undecodable
    /// histogram, counts that do not add up) is refused, with the problem in words.
    pub fn from_result(e: &EndpointResult, offset_s: f64) -> Result<Self, String> {
        check_counts(e)?;
        let mut histograms: [Option<Cow<'a, Histogram<u64>>>; SERIES.len()] = Default::default();
        for (slot, series) in histograms.iter_mut().zip(SERIES) {
            *slot = relaid(series, series.encoded(e))?.map(Cow::Owned);
        }
        let timed = histograms[0].as_ref().map_or(0, |h| h.len());
        check_timed(e, histograms[0].is_some().then_some(timed))?;
        let mut outliers: Vec<OutlierResult> = e
            .outliers
            .iter()
            .map(|o| OutlierResult {
                t_s: o.t_s + offset_s,
                ..o.clone()
            })
            .collect();
        keep_slowest(&mut outliers);
        Ok(EndpointFigures {
            description: Description::read(e),
            histograms,
            latency_exact: extremes(&e.latency_ms, timed),
            requests: e.requests,
            ok: e.ok,
            error_kinds: e.error_kinds,
            skipped: e.skipped,
            unfinished: e.unfinished,
            late_requests: e.late_requests,
            new_connections: e.new_connections,
            status: e.status.clone(),
            error_details: e.error_details.clone(),
            http_version: e.http_version.clone(),
            tls_version: e.tls_version.clone(),
            insecure: e.insecure,
            outliers,
            first: (offset_s, e.first_ms),
            timeline: placed_timeline(e, offset_s)?,
            server: ServerFigures::from_result(e)?,
            cold: e
                .cold_starts
                .as_ref()
                .map(|c| ColdFigures::from_result(c, &e.name, offset_s))
                .transpose()?,
        })
    }

    /// Adds another run's figures for the same endpoint (this one's description stays).
    pub fn add(&mut self, other: EndpointFigures<'_>) {
        for (mine, theirs) in self.histograms.iter_mut().zip(other.histograms) {
            match (mine.as_mut(), theirs) {
                (Some(mine), Some(theirs)) => add_sparse(mine.to_mut(), &theirs),
                (None, Some(theirs)) => *mine = Some(Cow::Owned(theirs.into_owned())),
                (_, None) => {}
            }
        }
        self.latency_exact.merge(&other.latency_exact);
        self.requests = self.requests.saturating_add(other.requests);
        self.ok = self.ok.saturating_add(other.ok);
        self.error_kinds.add(&other.error_kinds);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.unfinished = self.unfinished.saturating_add(other.unfinished);
        self.late_requests = self.late_requests.saturating_add(other.late_requests);
        self.new_connections = self.new_connections.saturating_add(other.new_connections);
        for (code, n) in other.status {
            let count = self.status.entry(code).or_default();
            *count = count.saturating_add(n);
        }
        // The first detail said of a kind is kept, as within a run.
        for (kind, detail) in other.error_details {
            self.error_details.entry(kind).or_insert(detail);
        }
        self.http_version = self.http_version.take().or(other.http_version);
        self.tls_version = self.tls_version.take().or(other.tls_version);
        self.insecure |= other.insecure;
        self.outliers.extend(other.outliers);
        keep_slowest(&mut self.outliers);
        if other.first.0 < self.first.0 {
            self.first = other.first;
        }
        self.timeline.width_s = self.timeline.width_s.max(other.timeline.width_s);
        self.timeline.points.extend(other.timeline.points);
        self.timeline.on_grid = false;
        self.server.add(other.server);
        self.cold = match (self.cold.take(), other.cold) {
            (Some(mut mine), Some(theirs)) => {
                mine.add(theirs);
                Some(mine)
            }
            (mine, theirs) => mine.or(theirs),
        };
    }

    /// Whether these are whole flow instances rather than HTTP requests.
    pub fn is_whole_flow(&self) -> bool {
        self.description.kind == EndpointKind::Flow
    }

    /// Requests finished.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests with a complete response of an expected status.
    pub fn ok(&self) -> u64 {
        self.ok
    }

    /// Requests that were not `ok`.
    pub fn errors(&self) -> u64 {
        self.error_kinds.total()
    }

    /// Whether an https endpoint's certificate went unverified.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Requests that never left this machine (error kind `local`).
    pub fn local_errors(&self) -> u64 {
        self.error_kinds.get(ErrorKind::Local)
    }

    /// Requests of an open schedule sent late.
    pub fn late_requests(&self) -> u64 {
        self.late_requests
    }

    /// Adds this endpoint's latency (histogram and exact extremes) into a total.
    pub fn add_latency_to(&self, all: &mut Histogram<u64>, exact: &mut Extremes) {
        if let Some(h) = self.histogram(Series::Latency) {
            add_sparse(all, h);
        }
        exact.merge(&self.latency_exact);
    }

    /// Adds this endpoint's schedule lag into a total.
    pub fn add_schedule_lag_to(&self, all: &mut Histogram<u64>) {
        if let Some(h) = self.histogram(Series::ScheduleLag) {
            add_sparse(all, h);
        }
    }

    /// The server's figures.
    pub fn server(&self) -> &ServerFigures<'a> {
        &self.server
    }

    fn histogram(&self, series: Series) -> Option<&Histogram<u64>> {
        let index = SERIES.iter().position(|s| *s == series)?;
        self.histograms[index].as_deref()
    }

    fn summary(&self, series: Series) -> LatencySummary {
        self.histogram(series)
            .map_or_else(LatencySummary::default, |h| LatencySummary::of(h, None))
    }

    fn encoded(&self, series: Series) -> String {
        self.histogram(series)
            .map_or_else(String::new, encode_histogram)
    }
}

impl Description {
    fn of(target: &Target, targets: &[Target]) -> Description {
        Description {
            name: target.name.clone(),
            kind: match target.is_whole_flow() {
                true => EndpointKind::Flow,
                false => EndpointKind::Request,
            },
            flow: match &target.flow {
                Some(FlowRole::Step { flow, .. }) => Some(flow.clone()),
                Some(FlowRole::Whole { .. }) => Some(target.name.clone()),
                None => None,
            },
            steps: match &target.flow {
                Some(FlowRole::Whole { steps, .. }) => steps
                    .iter()
                    .filter_map(|&i| targets.get(i))
                    .map(|t| t.name.clone())
                    .collect(),
                _ => Vec::new(),
            },
            method: target.method_label().to_owned(),
            url: target.display_url.clone(),
            timeout_ms: duration_ms(target.timeout),
        }
    }

    fn read(e: &EndpointResult) -> Description {
        Description {
            name: e.name.clone(),
            kind: e.kind,
            flow: e.flow.clone(),
            steps: e.steps.clone(),
            method: e.method.clone(),
            url: e.url.clone(),
            timeout_ms: e.timeout_ms,
        }
    }
}

impl EndpointResult {
    /// The one builder of an endpoint's results: rates over `elapsed_s` seconds.
    pub fn build(f: &EndpointFigures<'_>, elapsed_s: f64) -> EndpointResult {
        let d = &f.description;
        let (timeline_bucket_s, timeline) = f.timeline.laid_out();
        EndpointResult {
            name: d.name.clone(),
            kind: d.kind,
            flow: d.flow.clone(),
            steps: d.steps.clone(),
            method: d.method.clone(),
            url: d.url.clone(),
            timeout_ms: d.timeout_ms,
            skipped: f.skipped,
            unfinished: f.unfinished,
            http_version: f.http_version.clone(),
            tls_version: f.tls_version.clone(),
            insecure: f.insecure,
            requests: f.requests,
            ok: f.ok,
            errors: f.errors(),
            rps: rate(f.requests, elapsed_s),
            status: f.status.clone(),
            error_kinds: f.error_kinds,
            error_details: f.error_details.clone(),
            latency_ms: f
                .histogram(Series::Latency)
                .map_or_else(LatencySummary::default, |h| {
                    LatencySummary::of(h, Some(&f.latency_exact))
                }),
            latency_raw_ms: f.summary(Series::LatencyRaw),
            latency_new_conn_ms: f.summary(Series::LatencyNewConn),
            latency_reused_conn_ms: f.summary(Series::LatencyReusedConn),
            ttfb_ms: f.summary(Series::Ttfb),
            schedule_lag_ms: f.summary(Series::ScheduleLag),
            late_requests: f.late_requests,
            new_connections: f.new_connections,
            dns_ms: f.summary(Series::Dns),
            connect_ms: f.summary(Series::Connect),
            tls_ms: f.summary(Series::Tls),
            outliers: f.outliers.clone(),
            first_ms: f.first.1,
            server_timing_ms: f.server.timing_summaries(),
            server_timing_dropped: f.server.timing_dropped(),
            server_ms: f.server.server_ms(),
            overhead_ms: f.server.overhead_ms(),
            server_time_missing: f.server.missing(),
            cold_starts: f.cold.as_ref().map(ColdFigures::build),
            histogram: f.encoded(Series::Latency),
            histograms: f.histograms(),
            timeline_bucket_s,
            timeline,
        }
    }
}

impl EndpointFigures<'_> {
    /// Every histogram behind the summaries but the latency's, encoded.
    fn histograms(&self) -> Histograms {
        let (server, overhead) = self.server.encoded();
        Histograms {
            latency_raw: self.encoded(Series::LatencyRaw),
            latency_new_conn: self.encoded(Series::LatencyNewConn),
            latency_reused_conn: self.encoded(Series::LatencyReusedConn),
            ttfb: self.encoded(Series::Ttfb),
            schedule_lag: self.encoded(Series::ScheduleLag),
            dns: self.encoded(Series::Dns),
            connect: self.encoded(Series::Connect),
            tls: self.encoded(Series::Tls),
            server,
            overhead,
            server_timing: self.server.timing_histograms(),
        }
    }
}

/// `count` per second; 0 over no time.
pub(super) fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// The invariants every file this program writes holds: a file that breaks them was
/// edited or corrupted, and adding it up would spread wrong numbers.
fn check_counts(e: &EndpointResult) -> Result<(), String> {
    let kinds = e.error_kinds.total();
    if e.errors != kinds || e.ok.checked_add(e.errors) != Some(e.requests) {
        return Err(format!(
            "endpoint `{}`: its counts do not add up (requests {} = ok {} + errors {}, errors = \
             the sum of error_kinds {kinds})",
            e.name, e.requests, e.ok, e.errors
        ));
    }
    Ok(())
}

/// Every complete response (any status) is counted in `status` and timed in `histogram`;
/// neither can exceed the requests. `timed` is `None` for a file without a histogram.
fn check_timed(e: &EndpointResult, timed: Option<u64>) -> Result<(), String> {
    let complete = e
        .status
        .values()
        .try_fold(0u64, |sum, n| sum.checked_add(*n))
        .filter(|n| *n <= e.requests);
    let Some(complete) = complete else {
        return Err(format!(
            "endpoint `{}`: its statuses count more responses than its {} requests",
            e.name, e.requests
        ));
    };
    match timed {
        Some(timed) if timed != complete => Err(format!(
            "endpoint `{}`: its latency histogram holds {timed} values for {complete} complete \
             responses (the sum of status)",
            e.name
        )),
        _ => Ok(()),
    }
}

/// A file's histogram decoded into the series' own layout; `None` for an empty string.
fn relaid(series: Series, text: &str) -> Result<Option<Histogram<u64>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let decoded = decode_histogram(text)?;
    let mut laid = series.empty();
    add_sparse(&mut laid, &decoded);
    Ok(Some(laid))
}

/// Exact extremes recovered from a summary: min and max as written, the sum as mean × count
/// (the mean is written to the microsecond).
fn extremes(summary: &LatencySummary, count: u64) -> Extremes {
    match (summary.min, summary.max, summary.mean) {
        (Some(min), Some(max), Some(mean)) if count > 0 => Extremes {
            count,
            min_us: (min * 1_000.0).round() as u64,
            max_us: (max * 1_000.0).round() as u64,
            sum_us: (mean * 1_000.0 * count as f64).round() as u128,
        },
        _ => Extremes::default(),
    }
}

/// Slowest first (a stable sort: of equal latencies the earlier-added stays first), at most
/// [`OUTLIERS_KEPT`].
fn keep_slowest(outliers: &mut Vec<OutlierResult>) {
    outliers.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
    outliers.truncate(OUTLIERS_KEPT);
}

fn live_outliers(s: &EndpointStats) -> Vec<OutlierResult> {
    s.outliers
        .slowest()
        .iter()
        .map(|o| OutlierResult {
            t_s: o.intended.as_secs_f64(),
            latency_ms: duration_ms(o.latency),
            status: o.status,
            error: o.error.map(|kind| kind.as_str().to_owned()),
            iteration: o.iteration,
            lane: o.lane,
            new_connection: o.new_connection,
            request_id: o.request_id.as_deref().map(str::to_owned),
        })
        .collect()
}

fn live_timeline(s: &EndpointStats) -> Vec<TimelinePoint> {
    let width = s.timeline.width_us();
    s.timeline
        .buckets()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let timed = b.timed();
            let when_timed = |v: f64| (timed > 0).then(|| ms(v));
            TimelinePoint {
                t_s: (i as u64 * width) as f64 / 1e6,
                requests: b.requests,
                errors: b.errors,
                min_ms: when_timed(b.min_us as f64),
                mean_ms: when_timed(b.sum_us as f64 / timed.max(1) as f64),
                // The sketch reports its bin's midpoint; keep it within the
                // bucket's exact extremes.
                p99_ms: b
                    .sketch
                    .quantile(0.99)
                    .and_then(|us| when_timed(us.clamp(b.min_us as f64, b.max_us as f64))),
                max_ms: when_timed(b.max_us as f64),
                server_mean_ms: (b.server_timed > 0)
                    .then(|| ms(b.server_sum_us as f64 / b.server_timed as f64)),
            }
        })
        .collect()
}

fn placed_timeline(e: &EndpointResult, offset_s: f64) -> Result<Placed, String> {
    let bad = |what: String| format!("endpoint `{}`: {what}", e.name);
    if !(e.timeline_bucket_s.is_finite() && e.timeline_bucket_s > 0.0) {
        return Err(bad(format!(
            "timeline_bucket_s {} is not a positive number of seconds",
            e.timeline_bucket_s
        )));
    }
    let mut points = e.timeline.clone();
    for point in &mut points {
        if !(point.t_s.is_finite() && point.t_s >= 0.0) {
            return Err(bad(format!("a timeline bucket starts at {} s", point.t_s)));
        }
        point.t_s += offset_s;
    }
    Ok(Placed {
        width_s: e.timeline_bucket_s,
        points,
        on_grid: false,
    })
}

impl Placed {
    /// `(bucket width in seconds, buckets)`. Points from several runs are laid on one grid
    /// by their start, at the widest input width, doubled while more than [`MAX_BUCKETS`]
    /// would be needed.
    fn laid_out(&self) -> (f64, Vec<TimelinePoint>) {
        if self.on_grid {
            return (self.width_s, self.points.clone());
        }
        let mut width = self.width_s.max(BASE_WIDTH_US as f64 / 1e6);
        let last = self.points.iter().map(|b| b.t_s).fold(0.0, f64::max);
        while last / width >= MAX_BUCKETS as f64 {
            width *= 2.0;
        }
        let mut out: Vec<TimelinePoint> = Vec::new();
        for b in &self.points {
            let index = (b.t_s / width + 1e-9).floor() as usize;
            if out.len() <= index {
                out.resize_with(index + 1, empty_point);
            }
            out[index].absorb(b);
        }
        for (i, point) in out.iter_mut().enumerate() {
            point.t_s = i as f64 * width;
        }
        (width, out)
    }
}

fn empty_point() -> TimelinePoint {
    TimelinePoint {
        t_s: 0.0,
        requests: 0,
        errors: 0,
        min_ms: None,
        mean_ms: None,
        p99_ms: None,
        max_ms: None,
        server_mean_ms: None,
    }
}
