//! A lane: one connection and the loop that fires requests on it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::job::{Job, Step};
use crate::client::{Connection, Exchange, RequestTemplate};
use crate::outcome::{ErrorKind, Failure, Outcome, Response, Setup};
use crate::record::Stats;
use crate::request_log::{Batcher, LogLine};
use crate::rng::Rng;
use crate::server_time::ServerReport;
use crate::targets::template::Values;
use crate::targets::{Capture, CaptureSource};

/// What every lane of a worker thread shares (thread-local, never crossed between threads).
pub(super) struct ThreadContext {
    /// The run's start: every timestamp is an offset from it.
    pub t0: Instant,
    pub fresh_connections: bool,
    /// This thread's figures; borrowed only between awaits, so never contended.
    pub stats: RefCell<Stats>,
    pub stop: LocalStop,
    /// Requests of this thread in flight now.
    pub in_flight: Cell<u64>,
    /// The end of `--duration`: nothing starts after it and nothing finishing after it is
    /// counted (the run driver's stop only follows, a moment later).
    pub deadline: Option<Instant>,
    /// Lanes per endpoint, for `{{seq}}` in closed loops (iteration × lanes + lane).
    pub concurrency: u64,
    /// Where finished requests are logged (`--log-requests`); `None`, the usual case,
    /// costs one branch per request.
    pub log: Option<RefCell<Batcher>>,
}

impl ThreadContext {
    /// Hands the lines gathered so far to the log's writer (every
    /// [`crate::request_log::HAND_OVER_EVERY`], and at the end), counting any dropped.
    pub fn hand_over_log(&self) {
        if let Some(log) = &self.log {
            let dropped = log.borrow_mut().hand_over();
            self.stats.borrow_mut().log_dropped += dropped;
        }
    }
}

impl ThreadContext {
    /// Whether a new request may start: no stop requested and the duration not over.
    pub fn may_start(&self) -> bool {
        !self.stop.requested() && self.deadline.is_none_or(|d| Instant::now() < d)
    }
}

/// A graceful stop request as the lanes of one thread see it: a plain flag, so checking it
/// per request costs a load from memory no other thread writes.
#[derive(Default)]
pub(super) struct LocalStop {
    requested: Cell<bool>,
    wake: Notify,
}

impl LocalStop {
    pub fn requested(&self) -> bool {
        self.requested.get()
    }

    pub fn request(&self) {
        self.requested.set(true);
        self.wake.notify_waiters();
    }

    /// Resolves when a stop is requested (register before checking [`LocalStop::requested`]
    /// again, or within the same poll).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Sleeps for `duration`, or less if a stop is requested meanwhile.
    pub async fn sleep(&self, duration: Duration) {
        if self.requested() || duration.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.wake.notified() => {}
        }
    }
}

/// What a lane is asked to send.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    /// When the schedule wants it sent; `None` in closed loops (it is sent now).
    pub intended: Option<Instant>,
    /// Its iteration, for outliers.
    pub iteration: u64,
    /// Its number in the endpoint's sequence when the schedule knows it (open schedules);
    /// closed loops derive it from the iteration and the lane.
    pub seq: Option<u64>,
}

pub(super) struct Lane {
    index: u32,
    job: Arc<Job>,
    /// One per route of the job (a single one for a target of its own).
    connections: Vec<Option<Connection>>,
    /// The values a flow instance captured so far, by slot.
    captured: Vec<String>,
    ctx: Rc<ThreadContext>,
    /// For `{{uuid}}` and `{{random}}` (only drawn from for targets with templates).
    rng: Rng,
    /// What the last response said about the server's side: filled by the client, read
    /// by the recorder, cleared after each request (kept here so it never moves).
    report: ServerReport,
    /// How long to wait after a request that never left this machine (kind `local`):
    /// zero until one does, then doubling up to [`LOCAL_BACKOFF_MAX`].
    local_backoff: Duration,
}

/// The first wait after a `local` failure: a lane out of file descriptors must not spin,
/// starving the lanes that did get a connection.
const LOCAL_BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest wait between tries of a lane that keeps failing locally.
const LOCAL_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// When a recorded request (or flow instance) was meant to start and did.
#[derive(Clone, Copy)]
struct When {
    /// Whether an open schedule set `intended`.
    scheduled: bool,
    intended: Instant,
    start: Instant,
}

/// How one request of a lane ended.
enum StepEnd {
    /// A complete response of an expected status, with every capture found.
    Ok {
        status: u16,
        version: &'static str,
        head_at: Instant,
        end: Instant,
    },
    /// Anything else, under the kind it counted as.
    Failed(ErrorKind),
    /// It finished after the duration ended: not counted.
    Abandoned,
}

impl StepEnd {
    /// How a request started at `start` ends by its `response` alone (recording it may
    /// still count it as failed: an unexpected status, a missing capture).
    fn of(response: &Result<Response, ErrorKind>, start: Instant) -> StepEnd {
        match response {
            Ok(r) => StepEnd::Ok {
                status: r.status,
                version: r.http_version,
                head_at: start + r.ttfb,
                end: start + r.raw_latency,
            },
            Err(kind) => StepEnd::Failed(*kind),
        }
    }
}

impl Lane {
    pub fn new(index: u32, job: Arc<Job>, ctx: Rc<ThreadContext>) -> Lane {
        // Distinct per lane, process and moment: {{uuid}} must not repeat across runs.
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let first = job.steps.first().map_or(0, |s| s.endpoint);
        let seed = ((first as u64) << 40)
            ^ (u64::from(index) << 20)
            ^ u64::from(std::process::id())
            ^ clock;
        Lane {
            index,
            connections: (0..job.connections).map(|_| None).collect(),
            captured: vec![String::new(); job.captures],
            job,
            ctx,
            rng: Rng::new(seed),
            report: ServerReport::default(),
            local_backoff: Duration::ZERO,
        }
    }

    /// Whether a new request may start now (no stop requested, the duration not over).
    pub fn may_start(&self) -> bool {
        self.ctx.may_start()
    }

    /// Sends the ticket's request (or runs the flow instance) and records it.
    pub async fn fire(&mut self, ticket: Ticket) {
        let seq = ticket
            .seq
            .unwrap_or(ticket.iteration * self.ctx.concurrency + u64::from(self.index));
        match self.job.whole {
            None => {
                self.step(0, &ticket, ticket.intended, seq).await;
            }
            // Boxed: a flow instance is a larger future, kept out of plain lanes' tasks.
            Some(whole) => Box::pin(self.instance(whole, ticket, seq)).await,
        }
    }

    /// Runs a flow's steps in order. A failed step ends the instance and its later steps
    /// count as skipped; a graceful stop lets a started instance finish (its last steps are
    /// often the clean-up), the end of `--duration` does not.
    async fn instance(&mut self, whole: usize, ticket: Ticket, seq: u64) {
        self.captured.iter_mut().for_each(String::clear);
        self.ctx.stats.borrow_mut().endpoints[whole].started += 1;
        let first_start = Instant::now();
        let when = When {
            scheduled: ticket.intended.is_some(),
            intended: ticket
                .intended
                .map_or(first_start, |due| due.min(first_start)),
            start: first_start,
        };
        let mut last = None;
        for k in 0..self.job.steps.len() {
            if k > 0 && self.ctx.deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            // Only the first step was due at a scheduled time; the rest follow it at once.
            let due = if k == 0 { ticket.intended } else { None };
            match self.step(k, &ticket, due, seq).await {
                StepEnd::Ok {
                    status,
                    version,
                    head_at,
                    end,
                } => last = Some((status, version, head_at, end)),
                StepEnd::Failed(kind) => {
                    let mut stats = self.ctx.stats.borrow_mut();
                    for later in &self.job.steps[k + 1..] {
                        stats.endpoints[later.endpoint].skipped += 1;
                    }
                    // The flow's own example of the kind says which step failed and why.
                    let step = self.job.steps[k].endpoint;
                    if stats.endpoints[whole].error_details[kind.index()].is_none()
                        && let Some(why) = stats.endpoints[step].error_details[kind.index()].clone()
                    {
                        stats.endpoints[whole].note_detail(kind, format!("step {}: {why}", k + 1));
                    }
                    drop(stats);
                    self.record(whole, &ticket, when, None, Err(kind), None);
                    return;
                }
                StepEnd::Abandoned => return,
            }
        }
        let Some((status, version, head_at, end)) = last else {
            return;
        };
        let response = Response {
            status,
            expected: true,
            latency: end - when.intended,
            raw_latency: end - first_start,
            ttfb: head_at - first_start,
            http_version: version,
            capture_failed: false,
        };
        self.record(whole, &ticket, when, None, Ok(response), None);
    }

    /// Sends step `k` of the job, waits for the whole response (or the timeout), takes its
    /// captures and records it.
    async fn step(&mut self, k: usize, ticket: &Ticket, due: Option<Instant>, seq: u64) -> StepEnd {
        // Borrowed field by field (no Arc clone): two atomic operations per request add up.
        let step = &self.job.steps[k];
        let start = Instant::now();
        let intended = due.map_or(start, |due| due.min(start));
        self.enter_flight(step.endpoint);
        let mut setup = None;
        let values = step.template.is_dynamic().then(|| Values {
            iteration: ticket.iteration,
            lane: self.index,
            seq,
            random: [self.rng.next_u64(), self.rng.next_u64()],
            captured: &self.captured,
        });
        let slot = &mut self.connections[step.connection];
        let report = &mut self.report;
        let result = tokio::time::timeout(
            step.template.timeout,
            attempt(
                slot,
                &step.template,
                start,
                &mut setup,
                values.as_ref(),
                report,
            ),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out(step.template.timeout)));
        self.ctx.in_flight.set(self.ctx.in_flight.get() - 1);
        if result.is_err() || self.ctx.fresh_connections {
            // After a failure the connection's state is unknown; after a fresh-connection
            // request it must not be reused. Either way the next request opens a new one.
            *slot = None;
        }
        if self.ctx.deadline.is_some_and(|d| Instant::now() > d) {
            // Finished after the duration ended: abandoned, like the requests the stop cuts.
            return StepEnd::Abandoned;
        }
        let waited = start - intended;
        let (response, detail) = match result {
            Ok(exchange) => {
                let (response, missing) = response_to(&exchange, waited, step, &mut self.captured);
                (Ok(response), missing)
            }
            Err(failure) => (Err(failure.kind), Some(failure.detail)),
        };
        let end = StepEnd::of(&response, start);
        let when = When {
            scheduled: due.is_some(),
            intended,
            start,
        };
        let outcome = self.record_step(step.endpoint, ticket, when, setup, (response, detail));
        self.back_off_if_not_sent(outcome).await;
        match (end, outcome) {
            (_, Some(kind)) => StepEnd::Failed(kind),
            (end, None) => end,
        }
    }

    /// Waits after a request that never left this machine (out of descriptors, or not
    /// signed because its credentials expired), longer each time in a row; any other
    /// outcome resets the wait. A lane must not spin through failures that cost nothing.
    async fn back_off_if_not_sent(&mut self, outcome: Option<ErrorKind>) {
        if !matches!(outcome, Some(ErrorKind::Local | ErrorKind::Auth)) {
            self.local_backoff = Duration::ZERO;
            return;
        }
        self.local_backoff = (self.local_backoff * 2).clamp(LOCAL_BACKOFF_MIN, LOCAL_BACKOFF_MAX);
        self.ctx.stop.sleep(self.local_backoff).await;
    }

    /// Records a request of a step with what its response said about the server's side,
    /// and the detail of its failure; returns the error kind it counted under.
    fn record_step(
        &mut self,
        endpoint: usize,
        ticket: &Ticket,
        when: When,
        setup: Option<Setup>,
        (result, detail): (Result<Response, ErrorKind>, Option<String>),
    ) -> Option<ErrorKind> {
        let server = result.is_ok().then_some(&self.report);
        let outcome = self.record(endpoint, ticket, when, setup, result, server);
        // Drops the header values it held, so the client's read buffer is not kept.
        self.report.clear();
        if let (Some(kind), Some(detail)) = (outcome, detail) {
            self.ctx.stats.borrow_mut().endpoints[endpoint].note_detail(kind, detail);
        }
        outcome
    }

    /// Records an outcome into `endpoint`; returns the error kind it counted under.
    fn record(
        &self,
        endpoint: usize,
        ticket: &Ticket,
        when: When,
        setup: Option<Setup>,
        result: Result<Response, ErrorKind>,
        server: Option<&ServerReport>,
    ) -> Option<ErrorKind> {
        let outcome = Outcome {
            intended: when.intended.saturating_duration_since(self.ctx.t0),
            started: when.start.saturating_duration_since(self.ctx.t0),
            scheduled: when.scheduled,
            iteration: ticket.iteration,
            lane: self.index,
            setup,
            result,
        };
        let mut stats = self.ctx.stats.borrow_mut();
        let figures = &mut stats.endpoints[endpoint];
        let cold = figures.record_with(&outcome, server);
        if let Some(log) = &self.ctx.log
            && !figures.whole_flow
        {
            let dropped = log
                .borrow_mut()
                .push(log_line(endpoint, &outcome, server, cold));
            stats.logged += 1;
            stats.log_dropped += dropped;
        }
        outcome.error_kind()
    }

    fn enter_flight(&self, endpoint: usize) {
        let now = self.ctx.in_flight.get() + 1;
        self.ctx.in_flight.set(now);
        let mut stats = self.ctx.stats.borrow_mut();
        stats.max_in_flight = stats.max_in_flight.max(now);
        stats.endpoints[endpoint].started += 1;
    }
}

/// The `--log-requests` line of a recorded request.
fn log_line(endpoint: usize, o: &Outcome, server: Option<&ServerReport>, cold: bool) -> LogLine {
    let response = o.result.ok();
    LogLine {
        intended: o.intended,
        endpoint,
        lane: o.lane,
        iteration: o.iteration,
        status: response.map(|r| r.status),
        error: o.error_kind(),
        latency: response.map(|r| r.latency),
        ttfb: response.map(|r| r.ttfb),
        server_ms: server.and_then(|s| match s.time {
            crate::server_time::ServerTime::Ms(ms) => Some(ms),
            _ => None,
        }),
        new_connection: o.setup.is_some(),
        cold,
        request_id: server.and_then(|s| s.request_id()?.text()),
    }
}

/// The failure of a request that had no complete response within `timeout`.
fn timed_out(timeout: Duration) -> Failure {
    let within = humantime::format_duration(timeout);
    Failure::new(
        ErrorKind::Timeout,
        format!("no complete response within {within}"),
    )
}

/// The response `exchange` is for `step`, `waited` past its due time: expected or not by
/// its status; when expected, the step's captures are taken into `captured` and the
/// second value says which one was not found.
fn response_to(
    exchange: &Exchange,
    waited: Duration,
    step: &Step,
    captured: &mut [String],
) -> (Response, Option<String>) {
    let expected = step.template.expect_status.matches(exchange.status);
    let missing = if expected {
        take_captures(captured, &step.captures, exchange).err()
    } else {
        None
    };
    let response = Response {
        status: exchange.status,
        expected,
        latency: exchange.latency + waited,
        raw_latency: exchange.latency,
        ttfb: exchange.ttfb,
        http_version: version_name(exchange.version),
        capture_failed: missing.is_some(),
    };
    (response, missing)
}

/// Fills the capture slots from `exchange`; the error says which value was not found.
fn take_captures(
    captured: &mut [String],
    captures: &[Capture],
    exchange: &Exchange,
) -> Result<(), String> {
    for capture in captures {
        let value = exchange
            .kept
            .as_ref()
            .and_then(|kept| super::job::captured_value(&capture.from, kept));
        match value {
            Some(value) => captured[capture.slot] = value,
            None => {
                let unreadable = exchange.kept.as_ref().and_then(|k| k.body.as_ref().err());
                let from = match (&capture.from, unreadable) {
                    (CaptureSource::Body(pointer), Some(why)) => {
                        format!("at {pointer}: the body {why}")
                    }
                    (CaptureSource::Body(pointer), None) => {
                        format!("at {pointer} in the body (absent, null, empty, or not JSON)")
                    }
                    (CaptureSource::Header(name), _) => {
                        format!("in the {name} header (absent, empty, or not text)")
                    }
                };
                return Err(format!("`{}`: no value {from}", capture.name));
            }
        }
    }
    Ok(())
}

/// Sends one request on `slot`'s connection, opening one first when there is none or the
/// server closed it, and follows redirects when the template says so.
async fn attempt(
    slot: &mut Option<Connection>,
    template: &RequestTemplate,
    start: Instant,
    setup: &mut Option<Setup>,
    values: Option<&Values<'_>>,
    report: &mut ServerReport,
) -> Result<Exchange, Failure> {
    if let Some(connection) = slot
        && !connection.is_reusable().await
    {
        *slot = None;
    }
    let connection = match slot {
        Some(connection) => connection,
        None => {
            // Boxed: opening a connection (DNS, TCP, TLS) is a large future and a rare
            // path; inline, it would make every lane's task several KB larger.
            let (connection, phases) = Box::pin(Connection::open(template)).await?;
            *setup = Some(phases);
            slot.insert(connection)
        }
    };
    let exchange = connection.exchange(template, start, values, report).await?;
    if template.follow_redirects == 0 {
        return Ok(exchange);
    }
    // Boxed like the connection set-up: a rare path whose future would otherwise enlarge
    // every lane's task.
    Box::pin(crate::client::follow_redirects(
        template, connection, exchange, start, values, report,
    ))
    .await
}

/// All lanes of an endpoint fire together; the iteration ends when every one has finished;
/// then the endpoint sleeps.
pub(super) async fn run_bursts(
    mut lanes: Vec<Lane>,
    iterations: u64,
    sleep: Duration,
    ctx: Rc<ThreadContext>,
) {
    for iteration in 0..iterations {
        if !ctx.may_start() {
            break;
        }
        let ticket = Ticket {
            intended: None,
            iteration,
            seq: None,
        };
        futures_util::future::join_all(lanes.iter_mut().map(|lane| lane.fire(ticket))).await;
        if iteration + 1 < iterations {
            ctx.stop.sleep(sleep).await;
        }
    }
}

/// One lane sends its next request as soon as the previous one finished.
pub(super) async fn run_free(mut lane: Lane, iterations: u64, ctx: Rc<ThreadContext>) {
    for iteration in 0..iterations {
        if !ctx.may_start() {
            break;
        }
        lane.fire(Ticket {
            intended: None,
            iteration,
            seq: None,
        })
        .await;
    }
}

fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}
