//! Live aggregates: what the lanes of one thread record, merged exactly across threads.
//!
//! Nothing here is shared between threads while a run goes on. Each worker thread owns one
//! [`Stats`] (one [`EndpointStats`] per endpoint) and its lanes record into it without locks;
//! the engine merges the threads' copies at checkpoints and at the end. HdrHistogram
//! addition is exact, so the merged figures are those of one histogram fed every request.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::outcome::{ErrorKind, Outcome, Setup};
use crate::server_time::ServerReport;
use crate::timeline::Timeline;

mod cold;
mod hist;
mod outliers;
mod server;

pub use cold::{
    BASELINE as SPIKE_BASELINE, ColdEvent, ColdStarts, ColdTally, EVENTS_KEPT as COLD_EVENTS_KEPT,
    SPIKE_FACTOR, SPIKE_MIN,
};
pub use hist::{COARSE_DIGITS, CoarseHist, LatencyHist, Lazy};
pub use outliers::{KEPT as OUTLIERS_KEPT, Outlier, Outliers};
pub use server::{OTHER_TIMING, ServerStats, TIMING_NAMES_KEPT, ms_to_us};

/// Lowest latency the histograms resolve, in microseconds.
pub const LOWEST_US: u64 = 1;
/// Highest latency the histograms track, in microseconds (1 h); longer ones are clamped.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by the full-precision histograms.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in microseconds (3 digits) that grows to what it holds.
///
/// Every histogram here starts covering almost nothing and grows (HdrHistogram's
/// auto-resize) up to its largest value: a full-range one (1 µs .. 1 h) costs 188 KB of
/// counters written at creation, and results, merges and snapshots make one per series per
/// endpoint. Values are recorded through [`add_sparse`] or [`Lazy`], which clamp them at
/// [`HIGHEST_US`] as a full-range histogram would (never `saturating_record`, which clamps
/// at the current size instead of growing).
pub fn new_histogram() -> Histogram<u64> {
    growing(SIGNIFICANT_DIGITS, 2)
}

/// [`new_histogram`] at [`COARSE_DIGITS`] significant digits (1%): connection phases (DNS,
/// connect, TLS) and schedule lag, diagnostic figures that do not need the latency's 0.1%.
pub fn new_coarse_histogram() -> Histogram<u64> {
    growing(COARSE_DIGITS, 2)
}

/// An empty auto-resizing histogram of `digits` that already covers `high` microseconds
/// (rounded up to its bucket's end: 2ⁿ − 1, so [`Histogram::high`] tells what it covers).
fn growing(digits: u8, high: u64) -> Histogram<u64> {
    let high = high.clamp(2 * LOWEST_US, HIGHEST_US);
    let high = high
        .saturating_add(1)
        .next_power_of_two()
        .saturating_sub(1)
        .max(high);
    let mut h = Histogram::new_with_bounds(LOWEST_US, high, digits.clamp(1, 5))
        .expect("bounds clamped to the valid range");
    h.auto(true);
    h
}

/// Adds `from` into `into` touching only the counters `from` uses (HdrHistogram's own
/// `add` walks every counter), values clamped at [`HIGHEST_US`]: a results file from
/// elsewhere may state a wider range than ours.
pub fn add_sparse(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    for bucket in from.iter_recorded() {
        let value = bucket.value_iterated_to().min(HIGHEST_US);
        // Fails only for a histogram that does not grow and is smaller than ours, which
        // none of ours is; the value is then left out rather than the run stopped.
        let _ = into.record_n(value, bucket.count_at_value());
    }
}

/// Makes `h` cover `high` microseconds at the size that needs. HdrHistogram's own
/// auto-resize grows the counters with Vec's amortised doubling: up to twice the room.
fn cover(h: &mut Histogram<u64>, high: u64) {
    if high > h.high() {
        let mut wider = growing(h.sigfig(), high);
        add_sparse(&mut wider, h);
        *h = wider;
    }
}

/// A copy of `h`, of its digits, sized to its largest value (see [`add_sparse`]).
pub fn copy_sparse(h: &Histogram<u64>) -> Histogram<u64> {
    let mut copy = growing(h.sigfig(), h.max());
    add_sparse(&mut copy, h);
    copy
}

/// Schedule lag above this counts as a late request.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// Schedule lag above this, past [`WARM_UP`], says the generator could not keep up.
pub const LAGGING_AFTER: Duration = Duration::from_millis(10);

/// Requests sent this early in the run are not judged for lag: the first burst waits on
/// threads and runtimes starting, which says nothing about keeping up later. (Sent, not
/// due: a generator that falls behind sends requests due at the start long after it.)
pub const WARM_UP: Duration = Duration::from_millis(100);

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counts per HTTP status code. A run sees a handful of codes, so a short vector searched
/// linearly beats a map and stops allocating after the first sighting of each code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts(Vec<(u16, u64)>);

impl StatusCounts {
    /// Adds `n` responses with `status`.
    pub fn add(&mut self, status: u16, n: u64) {
        match self.0.iter_mut().find(|(code, _)| *code == status) {
            Some((_, count)) => *count += n,
            None => self.0.push((status, n)),
        }
    }

    /// `(status, count)` pairs sorted by status.
    pub fn sorted(&self) -> Vec<(u16, u64)> {
        let mut pairs = self.0.clone();
        pairs.sort_unstable();
        pairs
    }
}

/// Exact extremes and sum of a latency series, beside the histogram: HdrHistogram reports
/// a bucket's bounds (within 0.1%), but the story compares minima and maxima, so those are
/// kept to the microsecond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extremes {
    /// Values recorded.
    pub count: u64,
    /// Smallest value, in microseconds.
    pub min_us: u64,
    /// Largest value, in microseconds.
    pub max_us: u64,
    /// Sum of the values, in microseconds (for an exact mean).
    pub sum_us: u128,
}

impl Extremes {
    /// Adds one value.
    pub fn record(&mut self, us: u64) {
        self.merge(&Extremes {
            count: 1,
            min_us: us,
            max_us: us,
            sum_us: u128::from(us),
        });
    }

    /// Adds another series.
    pub fn merge(&mut self, other: &Extremes) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.count += other.count;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
        self.sum_us += other.sum_us;
    }
}

/// The very first request an endpoint sent: where a cold start shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstRequest {
    /// When it was due (its intended start), from the start of the run.
    pub started: Duration,
    /// When it was actually sent: a burst's requests share their due time, and the first
    /// sent is the first request, not the first to finish.
    pub sent: Duration,
    /// Its lane, the last tie-break, so threads and merges agree on one request.
    pub lane: u32,
    /// Its latency, or `None` when it failed without a response.
    pub latency: Option<Duration>,
}

impl FirstRequest {
    fn order(&self) -> (Duration, Duration, u32) {
        (self.started, self.sent, self.lane)
    }
}

/// Everything recorded for one endpoint (on one thread, or merged).
#[derive(Debug)]
pub struct EndpointStats {
    /// Latency (from the intended send) of complete responses that opened their
    /// connection, in microseconds. With `latency_reused` it makes up the whole latency.
    pub latency_new: LatencyHist,
    /// Latency of complete responses on a connection that was already open.
    pub latency_reused: LatencyHist,
    /// Exact min, max and sum of the latency (both paths).
    pub latency_exact: Extremes,
    /// Latency from the actual send instead of the intended one; recorded only for open
    /// schedules (in closed loops it equals the latency, so recording it twice is waste).
    pub latency_raw: LatencyHist,
    /// Time to first byte (response head parsed) from the actual send, in microseconds.
    pub ttfb: LatencyHist,
    /// Actual minus intended send time of every request of an open schedule.
    pub schedule_lag: CoarseHist,
    /// Requests of an open schedule sent more than [`LATE_AFTER`] after they were due.
    pub late: u64,
    /// Requests sent after [`WARM_UP`] more than [`LAGGING_AFTER`] late: the count
    /// behind `run.health`'s judgement of lag (not written to the results).
    pub lagging: u64,
    /// Connections opened (and established).
    pub new_connections: u64,
    /// DNS time of each opened connection whose host was a name.
    pub dns: CoarseHist,
    /// TCP connect time of each opened connection.
    pub connect: CoarseHist,
    /// TLS handshake time of each opened https connection.
    pub tls: CoarseHist,
    /// Requests finished: `ok + errors`.
    pub requests: u64,
    /// Requests with a complete response of an expected status.
    pub ok: u64,
    /// Counts per error kind, indexed by [`ErrorKind::index`].
    pub errors_by_kind: [u64; ErrorKind::ALL.len()],
    /// Complete responses per status code.
    pub status: StatusCounts,
    /// The endpoint's earliest request.
    pub first: Option<FirstRequest>,
    /// The slowest complete responses.
    pub outliers: Outliers,
    /// The HTTP version responses came in (the last seen).
    pub http_version: Option<&'static str>,
    /// The TLS version connections negotiated (the last seen).
    pub tls_version: Option<&'static str>,
    /// Requests bucketed by intended start time.
    pub timeline: Timeline,
    /// Flow steps not sent because an earlier step of their instance failed.
    pub skipped: u64,
    /// Requests (for a whole flow: instances) started; those not in `requests` are still
    /// in flight, or were cut short by the end of the run.
    pub started: u64,
    /// The first detail said per error kind (indexed by [`ErrorKind::index`]): why, not
    /// only how many.
    pub error_details: [Option<Box<str>>; ErrorKind::ALL.len()],
    /// The endpoint records whole flow instances, not HTTP requests: left out of the
    /// request totals, which its steps already count.
    pub whole_flow: bool,
    /// What the server said about its side; created at the first response that said
    /// anything, so a plain endpoint pays nothing.
    pub server: Option<Box<ServerStats>>,
    /// Cold starts, declared or seen as spikes.
    pub cold: ColdStarts,
}

impl Default for EndpointStats {
    fn default() -> Self {
        EndpointStats {
            latency_new: Default::default(),
            latency_reused: Default::default(),
            latency_exact: Extremes::default(),
            latency_raw: Default::default(),
            ttfb: Default::default(),
            schedule_lag: Default::default(),
            late: 0,
            lagging: 0,
            new_connections: 0,
            dns: Default::default(),
            connect: Default::default(),
            tls: Default::default(),
            requests: 0,
            ok: 0,
            errors_by_kind: [0; ErrorKind::ALL.len()],
            status: StatusCounts::default(),
            first: None,
            outliers: Outliers::default(),
            http_version: None,
            tls_version: None,
            timeline: Timeline::default(),
            skipped: 0,
            started: 0,
            error_details: Default::default(),
            whole_flow: false,
            server: None,
            cold: ColdStarts::default(),
        }
    }
}

impl Clone for EndpointStats {
    fn clone(&self) -> Self {
        EndpointStats {
            latency_new: self.latency_new.clone(),
            latency_reused: self.latency_reused.clone(),
            latency_exact: self.latency_exact,
            latency_raw: self.latency_raw.clone(),
            ttfb: self.ttfb.clone(),
            schedule_lag: self.schedule_lag.clone(),
            late: self.late,
            lagging: self.lagging,
            new_connections: self.new_connections,
            dns: self.dns.clone(),
            connect: self.connect.clone(),
            tls: self.tls.clone(),
            requests: self.requests,
            ok: self.ok,
            errors_by_kind: self.errors_by_kind,
            status: self.status.clone(),
            first: self.first,
            outliers: self.outliers.clone(),
            http_version: self.http_version,
            tls_version: self.tls_version,
            timeline: self.timeline.clone(),
            skipped: self.skipped,
            started: self.started,
            error_details: self.error_details.clone(),
            whole_flow: self.whole_flow,
            server: self.server.clone(),
            cold: self.cold.clone(),
        }
    }
}

impl EndpointStats {
    /// Requests that were not `ok`.
    pub fn errors(&self) -> u64 {
        self.errors_by_kind.iter().sum()
    }

    /// The latency from the actual send: recorded separately only under an open schedule.
    pub fn latency_raw(&self) -> Histogram<u64> {
        match self.schedule_lag.is_empty() {
            true => self.latency(),
            false => self.latency_raw.histogram().into_owned(),
        }
    }

    /// The whole latency histogram (new and reused connections together).
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = self.latency_new.clone();
        all.add(&self.latency_reused);
        all.into_histogram()
    }

    /// Counts one finished request that said nothing about the server's side.
    pub fn record(&mut self, outcome: &Outcome) {
        let _ = self.record_with(outcome, None);
    }

    /// Counts one finished request with what its response said about the server's side;
    /// returns whether it was a cold start (declared, or a spike judged at once).
    pub fn record_with(&mut self, outcome: &Outcome, report: Option<&ServerReport>) -> bool {
        self.requests += 1;
        let error = outcome.error_kind();
        match error {
            Some(kind) => self.errors_by_kind[kind.index()] += 1,
            None => self.ok += 1,
        }
        if outcome.scheduled {
            let lag = outcome.lag();
            self.schedule_lag.record(micros(lag));
            self.late += u64::from(lag > LATE_AFTER);
            self.lagging += u64::from(lag > LAGGING_AFTER && outcome.started >= WARM_UP);
            if let Ok(response) = outcome.result {
                self.latency_raw.record(micros(response.raw_latency));
            }
        }
        if let Some(setup) = outcome.setup {
            self.record_setup(setup);
        }
        let latency = outcome.result.ok().map(|response| {
            self.status.add(response.status, 1);
            self.http_version = Some(response.http_version);
            self.ttfb.record(micros(response.ttfb));
            let us = micros(response.latency);
            match outcome.setup {
                Some(_) => self.latency_new.record(us),
                None => self.latency_reused.record(us),
            }
            self.latency_exact.record(us);
            us
        });
        let request_id = report.and_then(ServerReport::request_id);
        self.outliers.offer(outcome, request_id);
        let cold = match outcome.result {
            Ok(response) if !self.whole_flow => {
                self.record_server(outcome, response.raw_latency, report)
            }
            _ => false,
        };
        self.note_first(FirstRequest {
            started: outcome.intended,
            sent: outcome.started,
            lane: outcome.lane,
            latency: outcome.result.ok().map(|r| r.latency),
        });
        self.timeline
            .record(micros(outcome.intended), latency, error.is_some());
        cold
    }

    /// The server's side of a complete response: its report, and whether it was cold.
    fn record_server(
        &mut self,
        outcome: &Outcome,
        raw_latency: Duration,
        report: Option<&ServerReport>,
    ) -> bool {
        if let Some(report) = report.filter(|r| !r.is_empty()) {
            self.server
                .get_or_insert_default()
                .record(report, Some(raw_latency));
            if let crate::server_time::ServerTime::Ms(ms) = report.time {
                self.timeline
                    .record_server(micros(outcome.intended), ms_to_us(ms));
            }
        }
        let event = |init_ms| ColdEvent {
            intended: outcome.intended,
            latency: outcome.result.map_or(raw_latency, |r| r.latency),
            init_ms,
            lane: outcome.lane,
            new_connection: outcome.setup.is_some(),
            request_id: report.and_then(|r| r.request_id()?.text()),
        };
        self.cold
            .record(raw_latency, report.and_then(|r| r.cold), event)
    }

    /// Keeps `detail` as the example of `kind`, unless one is kept already.
    pub fn note_detail(&mut self, kind: ErrorKind, detail: String) {
        let slot = &mut self.error_details[kind.index()];
        if slot.is_none() {
            *slot = Some(detail.into_boxed_str());
        }
    }

    fn record_setup(&mut self, setup: Setup) {
        self.new_connections += 1;
        self.tls_version = setup.tls_version.or(self.tls_version);
        if let Some(dns) = setup.dns {
            self.dns.record(micros(dns));
        }
        self.connect.record(micros(setup.connect));
        if let Some(tls) = setup.tls {
            self.tls.record(micros(tls));
        }
    }

    fn note_first(&mut self, candidate: FirstRequest) {
        if self
            .first
            .is_none_or(|known| candidate.order() < known.order())
        {
            self.first = Some(candidate);
        }
    }

    /// Adds another thread's (or checkpoint's) figures for the same endpoint.
    pub fn merge(&mut self, other: &EndpointStats) {
        self.latency_new.add(&other.latency_new);
        self.latency_reused.add(&other.latency_reused);
        self.latency_raw.add(&other.latency_raw);
        self.ttfb.add(&other.ttfb);
        self.schedule_lag.add(&other.schedule_lag);
        self.dns.add(&other.dns);
        self.connect.add(&other.connect);
        self.tls.add(&other.tls);
        self.latency_exact.merge(&other.latency_exact);
        self.late += other.late;
        self.lagging += other.lagging;
        self.skipped += other.skipped;
        self.started += other.started;
        for (mine, theirs) in self.error_details.iter_mut().zip(&other.error_details) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        self.whole_flow |= other.whole_flow;
        self.new_connections += other.new_connections;
        self.requests += other.requests;
        self.ok += other.ok;
        for (mine, theirs) in self.errors_by_kind.iter_mut().zip(other.errors_by_kind) {
            *mine += theirs;
        }
        for &(status, n) in &other.status.0 {
            self.status.add(status, n);
        }
        if let Some(first) = other.first {
            self.note_first(first);
        }
        self.outliers.merge(&other.outliers);
        self.http_version = self.http_version.or(other.http_version);
        self.tls_version = self.tls_version.or(other.tls_version);
        self.timeline.merge(&other.timeline);
        if let Some(theirs) = &other.server {
            self.server.get_or_insert_default().merge(theirs);
        }
        self.cold.merge(&other.cold);
    }
}

/// One [`EndpointStats`] per endpoint, in the order of the run's targets.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Indexed like the plan's endpoints.
    pub endpoints: Vec<EndpointStats>,
    /// Most requests in flight at once: exact for one thread; merged, the sum of the
    /// threads' peaks (an upper bound, as the peaks need not coincide).
    pub max_in_flight: u64,
    /// CPU time (user + system) the worker thread(s) used so far; merged, the sum.
    pub cpu_time: Duration,
    /// Lines handed to the `--log-requests` writer.
    pub logged: u64,
    /// Lines the writer could not take in time (its channel was full), dropped.
    pub log_dropped: u64,
}

impl Stats {
    /// Empty figures for `endpoints` endpoints.
    pub fn new(endpoints: usize) -> Self {
        Stats {
            endpoints: (0..endpoints).map(|_| EndpointStats::default()).collect(),
            max_in_flight: 0,
            cpu_time: Duration::ZERO,
            logged: 0,
            log_dropped: 0,
        }
    }

    /// Empty figures with one endpoint per flag, `true` for an endpoint of whole flows.
    pub fn with_kinds(whole_flows: &[bool]) -> Self {
        let mut stats = Stats::new(whole_flows.len());
        for (endpoint, &whole) in stats.endpoints.iter_mut().zip(whole_flows) {
            endpoint.whole_flow = whole;
        }
        stats
    }

    /// The endpoints of HTTP requests (every one but whole flows): what totals add up.
    pub fn request_endpoints(&self) -> impl Iterator<Item = &EndpointStats> {
        self.endpoints.iter().filter(|e| !e.whole_flow)
    }

    /// HTTP requests started and not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.request_endpoints()
            .map(|e| e.started.saturating_sub(e.requests))
            .sum()
    }

    /// Adds another set of figures for the same endpoints.
    pub fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.endpoints.iter_mut().zip(&other.endpoints) {
            mine.merge(theirs);
        }
        self.max_in_flight += other.max_in_flight;
        self.cpu_time += other.cpu_time;
        self.logged += other.logged;
        self.log_dropped += other.log_dropped;
    }

    /// A copy with what progress shows (counts, errors, latency) and empty histograms
    /// and timelines otherwise.
    pub fn light_copy(&self) -> Stats {
        let mut copy = Stats::new(self.endpoints.len());
        for (into, from) in copy.endpoints.iter_mut().zip(&self.endpoints) {
            into.whole_flow = from.whole_flow;
            into.skipped = from.skipped;
            into.started = from.started;
            into.requests = from.requests;
            into.ok = from.ok;
            into.errors_by_kind = from.errors_by_kind;
            into.latency_new = from.latency_new.clone();
            into.latency_reused = from.latency_reused.clone();
        }
        copy.max_in_flight = self.max_in_flight;
        copy
    }

    /// HTTP requests finished across every endpoint.
    pub fn requests(&self) -> u64 {
        self.request_endpoints().map(|e| e.requests).sum()
    }

    /// Errors of HTTP requests across every endpoint.
    pub fn errors(&self) -> u64 {
        self.request_endpoints().map(EndpointStats::errors).sum()
    }

    /// Flow steps skipped after an earlier step failed.
    pub fn skipped(&self) -> u64 {
        self.endpoints.iter().map(|e| e.skipped).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::fixtures::{failure, response};

    #[test]
    fn an_endpoint_a_thread_never_fires_at_costs_under_a_kilobyte() {
        // Every thread holds every endpoint's figures, recorded or not (docs/memory.md).
        let size = std::mem::size_of::<EndpointStats>();
        assert!(size < 1_024, "{size} bytes");
        let idle = EndpointStats::default();
        assert!(idle.latency_new.is_empty() && idle.server.is_none());
    }

    #[test]
    fn counts_ok_errors_and_times_only_complete_responses() {
        let mut s = EndpointStats::default();
        s.record(&response(0, 10, 200));
        s.record(&response(1, 20, 500));
        s.record(&failure(2, ErrorKind::Timeout));
        assert_eq!((s.requests, s.ok, s.errors()), (3, 1, 2));
        assert_eq!(s.errors_by_kind[ErrorKind::Status.index()], 1);
        assert_eq!(s.errors_by_kind[ErrorKind::Timeout.index()], 1);
        assert_eq!(s.latency().len(), 2);
        assert_eq!(s.status.sorted(), vec![(200, 1), (500, 1)]);
    }

    #[test]
    fn splits_latency_by_connection_path_and_records_phases_and_lag() {
        let mut s = EndpointStats::default();
        let mut first = response(0, 30, 200);
        first.setup = Some(Setup {
            dns: None,
            connect: Duration::from_micros(150),
            tls: None,
            tls_version: None,
        });
        s.record(&first);
        let mut late = response(5, 10, 200);
        late.scheduled = true;
        late.intended = Duration::from_millis(2);
        s.record(&late);
        assert_eq!(
            (
                s.latency_new.len(),
                s.latency_reused.len(),
                s.new_connections
            ),
            (1, 1, 1)
        );
        assert_eq!((s.dns.len(), s.connect.len(), s.tls.len()), (0, 1, 0));
        assert_eq!((s.schedule_lag.len(), s.late), (1, 1));
        // Raw latency is kept apart only for scheduled requests, once each.
        assert_eq!(s.latency_raw.len(), 1);
        assert_eq!(s.latency_raw().len(), 1);
        assert!(
            s.schedule_lag
                .histogram()
                .equivalent(s.schedule_lag.histogram().max(), 3_000)
        );
    }

    #[test]
    fn the_first_request_of_a_burst_is_the_first_sent_not_the_first_finished() {
        let mut s = EndpointStats::default();
        // Due together at 0; lane 1 was sent later but finished first.
        let mut later = response(0, 40, 200);
        later.started = Duration::from_micros(30);
        later.lane = 1;
        let mut first = response(0, 90, 200);
        first.started = Duration::from_micros(10);
        s.record(&later);
        s.record(&first);
        assert_eq!(
            s.first.and_then(|f| f.latency),
            Some(Duration::from_millis(90))
        );
    }

    #[test]
    fn merge_is_exact_and_keeps_the_earliest_first_request() {
        let mut a = EndpointStats::default();
        let mut b = EndpointStats::default();
        let mut whole = EndpointStats::default();
        for i in 0..1_000 {
            let o = response(i + 5, 1 + i % 97, if i % 50 == 0 { 503 } else { 200 });
            if i % 3 == 0 {
                a.record(&o)
            } else {
                b.record(&o)
            }
            whole.record(&o);
        }
        b.record(&response(1, 777, 200));
        whole.record(&response(1, 777, 200));
        a.merge(&b);
        assert_eq!(a.requests, whole.requests);
        assert_eq!(a.ok, whole.ok);
        assert_eq!(a.latency(), whole.latency());
        assert_eq!(a.status.sorted(), whole.status.sorted());
        assert_eq!(
            a.first.and_then(|f| f.latency),
            Some(Duration::from_millis(777))
        );
    }
}
