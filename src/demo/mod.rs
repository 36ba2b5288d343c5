//! The demo: a simulated Slipspace API (five serverless "hello world" functions with cold
//! starts) that `api-cannon demo`, the tests and the benchmark fire at. It also serves
//! `/delay/{duration}`, `/status/{code}`, `/freeze/{n}/{duration}` and `/hello` for tests
//! and benchmarks.

use crate::server_time::{ServerSpec, TimeSource};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use tokio::sync::oneshot;

use crate::targets::{ExpectStatus, Target};

mod items;
pub mod model;
pub mod secure;
mod server;
mod tls;

/// A running demo server; stops when dropped.
pub struct DemoServer {
    addr: SocketAddr,
    /// Serving HTTPS (`--tls`).
    https: bool,
    state: Arc<server::State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoServer {
    /// Starts serving on `addr` (port 0 picks a free port) in a thread of its own.
    pub fn start(addr: SocketAddr, seed: u64) -> std::io::Result<DemoServer> {
        DemoServer::start_with(addr, seed, None)
    }

    /// Starts serving HTTPS with a certificate made now for `localhost` and `127.0.0.1`;
    /// returns the server and that certificate (PEM), for clients to trust (`--cacert`).
    pub fn start_tls(addr: SocketAddr, seed: u64) -> std::io::Result<(DemoServer, String)> {
        let (acceptor, pem) = tls::self_signed().map_err(std::io::Error::other)?;
        Ok((DemoServer::start_with(addr, seed, Some(acceptor))?, pem))
    }

    fn start_with(
        addr: SocketAddr,
        seed: u64,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<DemoServer> {
        let https = tls.is_some();
        let listener = server::bind(addr)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::new(server::State::new(seed));
        let (shutdown, stop) = oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("api-cannon-demo".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => server::serve(listener, served, tls, stop).await,
                        Err(e) => crate::say!("api-cannon demo: cannot serve: {e}"),
                    }
                });
            })?;
        Ok(DemoServer {
            addr,
            https,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` for building URLs (`https://ADDR` when serving TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `base_url()` followed by `path` (`/hello`): a URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Requests the server has received for exactly `path` (the server's own count).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.state.count(path)
    }

    /// Requests that carried header `name` with `value` (only `host`, `accept-encoding`
    /// and `authorization` are kept).
    pub fn requests_with_header(&self, name: &str, value: &str) -> u64 {
        self.state.with_header(name, value)
    }

    /// Requests the server has received in all.
    pub fn requests(&self) -> u64 {
        self.state.total()
    }

    /// Items the `/items` store created, deleted, and holds now.
    pub fn items(&self) -> (u64, u64, usize) {
        let items = &self.state.items;
        (items.created(), items.deleted(), items.stored())
    }

    /// Connections the server has accepted.
    pub fn connections(&self) -> u64 {
        self.state.connections()
    }

    /// Waits until Ctrl-C or SIGTERM.
    pub fn wait_for_signal(&self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(crate::signals::wait_any())
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The five Slipspace targets, pointed at a demo server at `base_url`.
pub fn slipspace_targets(base_url: &str, timeout: Duration) -> Vec<Target> {
    model::SLIPSPACE
        .iter()
        .map(|p| {
            let url = format!("{base_url}/slipspace/{}", p.name);
            Target {
                name: p.name.to_owned(),
                method: Method::GET,
                url: url.parse().unwrap_or_default(),
                display_url: url,
                headers: Default::default(),
                body: Default::default(),
                expect_status: ExpectStatus::AnySuccess,
                timeout,
                thresholds: Vec::new(),
                insecure: false,
                follow_redirects: None,
                templates: None,
                flow: None,
                // The demo's functions report their own time, as a real one can in two
                // lines (README, "Server time, cold starts and the platform's logs").
                server: ServerSpec {
                    time: Some(TimeSource::ServerTiming("handler".to_owned())),
                    ..ServerSpec::default()
                },
                sigv4: None,
                token: None,
            }
        })
        .collect()
}
