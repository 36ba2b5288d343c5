//! A lane: one connection and the loop that fires requests on it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::client::{Connection, Exchange, RequestTemplate};
use crate::outcome::{ErrorKind, Outcome, Response, Setup};
use crate::record::Stats;
use crate::rng::Rng;
use crate::targets::template::Values;

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
    /// counted (the coordinator's stop only follows, a moment later).
    pub deadline: Option<Instant>,
    /// Lanes per endpoint, for `{{seq}}` in closed loops (iteration × lanes + lane).
    pub concurrency: u64,
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
    endpoint: usize,
    index: u32,
    template: Arc<RequestTemplate>,
    connection: Option<Connection>,
    ctx: Rc<ThreadContext>,
    /// For `{{uuid}}` and `{{random}}` (only drawn from for targets with templates).
    rng: Rng,
}

impl Lane {
    pub fn new(
        endpoint: usize,
        index: u32,
        template: Arc<RequestTemplate>,
        ctx: Rc<ThreadContext>,
    ) -> Lane {
        // Distinct per lane, process and moment: {{uuid}} must not repeat across runs.
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = ((endpoint as u64) << 40)
            ^ (u64::from(index) << 20)
            ^ u64::from(std::process::id())
            ^ clock;
        Lane {
            endpoint,
            index,
            template,
            connection: None,
            ctx,
            rng: Rng::new(seed),
        }
    }

    /// Sends one request, waits for the whole response (or the timeout) and records it.
    pub async fn fire(&mut self, ticket: Ticket) {
        let start = Instant::now();
        let intended = ticket.intended.map_or(start, |due| due.min(start));
        self.enter_flight();
        let mut setup = None;
        let values = self.template.is_dynamic().then(|| Values {
            iteration: ticket.iteration,
            lane: self.index,
            seq: ticket
                .seq
                .unwrap_or(ticket.iteration * self.ctx.concurrency + u64::from(self.index)),
            random: [self.rng.next_u64(), self.rng.next_u64()],
        });
        let result = tokio::time::timeout(
            self.template.timeout,
            self.attempt(start, &mut setup, values.as_ref()),
        )
        .await
        .unwrap_or(Err(ErrorKind::Timeout));
        self.ctx.in_flight.set(self.ctx.in_flight.get() - 1);
        if result.is_err() || self.ctx.fresh_connections {
            // After a failure the connection's state is unknown; after a fresh-connection
            // request it must not be reused. Either way the next request opens a new one.
            self.connection = None;
        }
        let waited = start - intended;
        if self.ctx.deadline.is_some_and(|d| Instant::now() > d) {
            // Finished after the duration ended: abandoned, like the requests the stop cuts.
            return;
        }
        let outcome = Outcome {
            intended: intended.saturating_duration_since(self.ctx.t0),
            started: start.saturating_duration_since(self.ctx.t0),
            scheduled: ticket.intended.is_some(),
            iteration: ticket.iteration,
            lane: self.index,
            setup,
            result: result.map(|exchange| Response {
                status: exchange.status,
                expected: self.template.expect_status.matches(exchange.status),
                latency: exchange.latency + waited,
                raw_latency: exchange.latency,
                ttfb: exchange.ttfb,
                http_version: version_name(exchange.version),
            }),
        };
        self.ctx.stats.borrow_mut().endpoints[self.endpoint].record(&outcome);
    }

    fn enter_flight(&self) {
        let now = self.ctx.in_flight.get() + 1;
        self.ctx.in_flight.set(now);
        let mut stats = self.ctx.stats.borrow_mut();
        stats.max_in_flight = stats.max_in_flight.max(now);
    }

    async fn attempt(
        &mut self,
        start: Instant,
        setup: &mut Option<Setup>,
        values: Option<&Values>,
    ) -> Result<Exchange, ErrorKind> {
        if let Some(connection) = &mut self.connection
            && !connection.is_reusable().await
        {
            self.connection = None;
        }
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                // Boxed: opening a connection (DNS, TCP, TLS) is a large future and a rare
                // path; inline, it would make every lane's task several KB larger.
                let (connection, phases) = Box::pin(Connection::open(&self.template)).await?;
                *setup = Some(phases);
                self.connection.insert(connection)
            }
        };
        let exchange = connection.exchange(&self.template, start, values).await?;
        if self.template.follow_redirects == 0 {
            return Ok(exchange);
        }
        // Boxed like the connection set-up: a rare path whose future would otherwise enlarge
        // every lane's task.
        Box::pin(crate::client::follow_redirects(
            &self.template,
            connection,
            exchange,
            start,
        ))
        .await
    }
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
