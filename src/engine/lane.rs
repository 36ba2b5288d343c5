//! A lane: one connection and the loop that fires requests on it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::client::{Connection, RequestTemplate};
use crate::outcome::{ErrorKind, Outcome, Response};
use crate::record::Stats;

/// What every lane of a worker thread shares (thread-local, never crossed between threads).
pub(super) struct ThreadContext {
    /// The run's start: every timestamp is an offset from it.
    pub t0: Instant,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub fresh_connections: bool,
    /// This thread's figures; borrowed only between awaits, so never contended.
    pub stats: RefCell<Stats>,
    pub stop: LocalStop,
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

pub(super) struct Lane {
    endpoint: usize,
    template: Arc<RequestTemplate>,
    connection: Option<Connection>,
    ctx: Rc<ThreadContext>,
}

impl Lane {
    pub fn new(endpoint: usize, template: Arc<RequestTemplate>, ctx: Rc<ThreadContext>) -> Lane {
        Lane {
            endpoint,
            template,
            connection: None,
            ctx,
        }
    }

    /// Sends one request, waits for the whole response (or the timeout) and records it.
    pub async fn fire(&mut self) {
        let start = Instant::now();
        let result = tokio::time::timeout(self.template.timeout, self.attempt(start))
            .await
            .unwrap_or(Err(ErrorKind::Timeout));
        if result.is_err() || self.ctx.fresh_connections {
            // After a failure the connection's state is unknown; after a fresh-connection
            // request it must not be reused. Either way the next request opens a new one.
            self.connection = None;
        }
        let outcome = Outcome {
            started: start.saturating_duration_since(self.ctx.t0),
            result: result.map(|exchange| Response {
                status: exchange.status,
                expected: self.template.expect_status.matches(exchange.status),
                latency: exchange.latency,
                ttfb: exchange.ttfb,
            }),
        };
        self.ctx.stats.borrow_mut().endpoints[self.endpoint].record(&outcome);
    }

    async fn attempt(&mut self, start: Instant) -> Result<crate::client::Exchange, ErrorKind> {
        if let Some(connection) = &mut self.connection
            && !connection.is_reusable().await
        {
            self.connection = None;
        }
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(Connection::open(&self.template, self.ctx.tls.as_ref()).await?),
        };
        connection.exchange(&self.template, start).await
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
        if ctx.stop.requested() {
            break;
        }
        futures_util::future::join_all(lanes.iter_mut().map(Lane::fire)).await;
        if iteration + 1 < iterations {
            ctx.stop.sleep(sleep).await;
        }
    }
}

/// One lane sends its next request as soon as the previous one finished.
pub(super) async fn run_free(mut lane: Lane, iterations: u64, ctx: Rc<ThreadContext>) {
    for _ in 0..iterations {
        if ctx.stop.requested() {
            break;
        }
        lane.fire().await;
    }
}
