//! The demo API's HTTP server: hyper on 127.0.0.1, its own thread and runtime.

use crate::server_time::SERVER_TIMING;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::items::Items;
use super::model::{Pool, SLIPSPACE};

/// The server's state: the simulated pools and its own count of requests per path.
pub(super) struct State {
    pools: Vec<Mutex<Pool>>,
    counts: Mutex<HashMap<String, u64>>,
    connections: AtomicU64,
    frozen_until: Mutex<Option<Instant>>,
    /// Request IDs: a counter and a seed, so IDs differ between servers.
    ids: AtomicU64,
    id_seed: u64,
    /// Requests per `name: value` of the headers tests look at (host, accept-encoding).
    headers: Mutex<HashMap<String, u64>>,
    /// The items store behind `/items`.
    pub items: Items,
}

impl State {
    pub fn new(seed: u64) -> State {
        let pools = SLIPSPACE
            .iter()
            .enumerate()
            .map(|(i, p)| Mutex::new(Pool::new(*p, seed.wrapping_add(i as u64))))
            .collect();
        State {
            pools,
            counts: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            frozen_until: Mutex::new(None),
            ids: AtomicU64::new(0),
            id_seed: seed ^ std::process::id() as u64 ^ clock_nanos(),
            headers: Mutex::new(HashMap::new()),
            items: Items::default(),
        }
    }

    pub fn count(&self, path: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| c.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn with_header(&self, name: &str, value: &str) -> u64 {
        let key = format!("{name}: {value}");
        self.headers
            .lock()
            .map(|h| h.get(&key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn note_headers(&self, request: &Request<Incoming>) {
        let Ok(mut seen) = self.headers.lock() else {
            return;
        };
        *seen
            .entry(format!("version: {:?}", request.version()))
            .or_default() += 1;
        for name in [
            http::header::HOST,
            http::header::ACCEPT_ENCODING,
            http::header::AUTHORIZATION,
            http::HeaderName::from_static("x-amz-content-sha256"),
            http::HeaderName::from_static("x-amz-security-token"),
        ] {
            if let Some(value) = request.headers().get(&name).and_then(|v| v.to_str().ok()) {
                *seen.entry(format!("{name}: {value}")).or_default() += 1;
            }
        }
    }

    /// Random bits for the request ID of the `number`th request to a path: distinct per
    /// server (seeded at start) and request.
    fn request_id_bits(&self, number: u64) -> [u64; 2] {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut rng = crate::rng::Rng::new(self.id_seed ^ n.rotate_left(17) ^ number);
        [rng.next_u64(), rng.next_u64()]
    }

    pub fn total(&self) -> u64 {
        self.counts.lock().map(|c| c.values().sum()).unwrap_or(0)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Counts a request to `path`; returns its 1-based number among the requests to it.
    fn note(&self, path: &str) -> u64 {
        self.counts.lock().map_or(0, |mut counts| {
            let n = counts.entry(path.to_owned()).or_default();
            *n += 1;
            *n
        })
    }
}

/// The response header of the demo's request IDs, as AWS API Gateway names it.
const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-amzn-requestid");

fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&state);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(request, Arc::clone(&state)));
            // HTTP/1.1, or HTTP/2 (by ALPN over TLS, prior knowledge otherwise), whichever
            // the client speaks.
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                    // An untrusting client hangs up mid-handshake: nothing to serve.
                    Err(_) => Ok(()),
                },
                None => http.serve_connection(TokioIo::new(stream), service).await,
            };
        });
    }
}

async fn respond(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    state.note_headers(&request);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["token", ..] = segments.as_slice() {
        state.note("/token");
        return Ok(token(&request));
    }
    if let ["secure", ..] = segments.as_slice() {
        state.note("/secure");
        return Ok(secure(request).await);
    }
    if let ["items", rest @ ..] = segments.as_slice() {
        // One count for every item's path, so a long flow run keeps the map small.
        let id = rest.first().copied().filter(|id| !id.is_empty());
        state.note(if id.is_some() {
            "/items/{id}"
        } else {
            "/items"
        });
        return Ok(items(&state, request, id.map(str::to_owned)).await);
    }
    let number = state.note(&path);
    let handled = Instant::now();
    let mut response = route(&state, &segments, number).await;
    if !response.headers().contains_key(SERVER_TIMING) {
        let ms = handled.elapsed().as_secs_f64() * 1_000.0;
        add_header(
            &mut response,
            SERVER_TIMING,
            &format!("handler;dur={ms:.3}"),
        );
    }
    let id = crate::targets::template::uuid_from(state.request_id_bits(number));
    add_header(&mut response, REQUEST_ID, &id.to_string());
    Ok(response)
}

/// The answer of every route without a body to read; `number` is the request's count on
/// its path.
async fn route(state: &State, segments: &[&str], number: u64) -> Response<Full<Bytes>> {
    match segments {
        ["slipspace", name] => slipspace(state, name).await,
        ["delay", duration] => delay(duration).await,
        ["status", code] => status(code),
        ["freeze", after, duration] => freeze(state, number, after, duration).await,
        ["redirect", hops] => redirect(hops.parse::<u32>().ok().map(|n| match n {
            0 => String::new(),
            n => format!("/redirect/{}", n - 1),
        })),
        ["redirect-to", port] => redirect(
            port.parse::<u16>()
                .ok()
                .map(|p| format!("http://127.0.0.1:{p}/hello")),
        ),
        ["redirect-to-https", port] => redirect(
            port.parse::<u16>()
                .ok()
                .map(|p| format!("https://127.0.0.1:{p}/hello")),
        ),
        ["hello"] => json(StatusCode::OK, r#"{"message":"hello"}"#.to_owned()),
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"error":"no such endpoint"}"#.to_owned(),
        ),
    }
}

async fn items(
    state: &State,
    request: Request<Incoming>,
    id: Option<String>,
) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let method = request.method().clone();
    let if_match = request
        .headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // An id may hold any character: the client percent-encodes it.
    let id =
        id.map(|id| String::from_utf8_lossy(&crate::client::percent_decoded(&id)).into_owned());
    let Ok(body) = request.into_body().collect().await else {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unreadable body"}"#.to_owned(),
        );
    };
    let answer = state.items.handle(
        &method,
        id.as_deref(),
        if_match.as_deref(),
        &body.to_bytes(),
    );
    let mut response = match answer.body {
        Some(body) => json(answer.status, body),
        None => {
            let mut empty = Response::new(Full::new(Bytes::new()));
            *empty.status_mut() = answer.status;
            empty
        }
    };
    if let Some(version) = answer.etag
        && let Ok(etag) = http::HeaderValue::from_str(&super::items::etag(version))
    {
        response.headers_mut().insert(http::header::ETAG, etag);
    }
    response
}

/// `/token/...`: 200 for a token a demo token command prints (`Bearer demo-token-...`,
/// demo-only, not a secret), 401 otherwise.
fn token(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer demo-token-"));
    match bearer {
        true => json(StatusCode::OK, r#"{"message":"authorized"}"#.to_owned()),
        false => json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"no demo token"}"#.to_owned(),
        ),
    }
}

/// `/secure/...`: 200 for a request the demo's credentials signed, 403 with the reason
/// otherwise.
async fn secure(request: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await else {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"unreadable body"}"#.to_owned(),
        );
    };
    match super::secure::verify(&parts.method, &parts.uri, &parts.headers, &body.to_bytes()) {
        Ok(()) => json(StatusCode::OK, r#"{"message":"signed"}"#.to_owned()),
        Err(why) => json(
            StatusCode::FORBIDDEN,
            serde_json::json!({ "error": why }).to_string(),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn slipspace(state: &State, name: &str) -> Response<Full<Bytes>> {
    let Some(index) = SLIPSPACE.iter().position(|p| p.name == name) else {
        return json(
            StatusCode::NOT_FOUND,
            r#"{"error":"no such function"}"#.to_owned(),
        );
    };
    let Ok(assignment) = state.pools[index]
        .lock()
        .map(|mut pool| pool.acquire(Instant::now()))
    else {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"pool poisoned"}"#.to_owned(),
        );
    };
    precise_sleep(assignment.service).await;
    if let Ok(mut pool) = state.pools[index].lock() {
        pool.release(assignment.instance, Instant::now());
    }
    let body = format!(
        r#"{{"message":"Hello from the {name} function","instance":{},"cold_start":{}}}"#,
        assignment.instance, assignment.cold
    );
    let mut response = json(StatusCode::OK, body);
    // What a Lambda function reports of itself: its own duration, and its init time on a
    // cold start (README, "Server time, cold starts and the platform's logs").
    let handler_ms = (assignment.service - assignment.init).as_secs_f64() * 1_000.0;
    let timing = match assignment.cold {
        true => format!(
            "init;dur={:.3}, handler;dur={handler_ms:.3}",
            assignment.init.as_secs_f64() * 1_000.0
        ),
        false => format!("handler;dur={handler_ms:.3}"),
    };
    add_header(&mut response, SERVER_TIMING, &timing);
    response
}

fn add_header(response: &mut Response<Full<Bytes>>, name: http::HeaderName, value: &str) {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

async fn delay(text: &str) -> Response<Full<Bytes>> {
    match humantime::parse_duration(text) {
        Ok(d) if d <= Duration::from_secs(3_600) => {
            precise_sleep(d).await;
            json(StatusCode::OK, r#"{"message":"delayed"}"#.to_owned())
        }
        _ => json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"use /delay/20ms"}"#.to_owned(),
        ),
    }
}

/// `/freeze/{n}/{duration}`: request number `n` to this path freezes the whole path for
/// `duration`: it and every request arriving meanwhile wait until the freeze ends, like a
/// server stalled by a garbage collection. The classic coordinated-omission demonstration.
async fn freeze(state: &State, number: u64, after: &str, duration: &str) -> Response<Full<Bytes>> {
    let (Ok(after), Ok(duration)) = (after.parse::<u64>(), humantime::parse_duration(duration))
    else {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"use /freeze/50/1s"}"#.to_owned(),
        );
    };
    let until = match state.frozen_until.lock() {
        Ok(mut frozen) => {
            if number == after {
                *frozen = Some(Instant::now() + duration);
            }
            *frozen
        }
        Err(_) => None,
    };
    if let Some(until) = until.filter(|u| *u > Instant::now()) {
        precise_sleep(until - Instant::now()).await;
    }
    json(StatusCode::OK, r#"{"message":"thawed"}"#.to_owned())
}

/// `/redirect/{n}`: n redirects, then 200; `/redirect-to/{port}` (`/redirect-to-https/{port}`):
/// one redirect to another server's `/hello` (over https).
fn redirect(location: Option<String>) -> Response<Full<Bytes>> {
    match location {
        Some(location) if location.is_empty() => {
            json(StatusCode::OK, r#"{"message":"arrived"}"#.to_owned())
        }
        Some(location) => {
            let mut response = json(StatusCode::FOUND, String::new());
            if let Ok(value) = http::HeaderValue::from_str(&location) {
                response.headers_mut().insert(http::header::LOCATION, value);
            }
            response
        }
        None => json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"use /redirect/3 or /redirect-to/8787"}"#.to_owned(),
        ),
    }
}

fn status(text: &str) -> Response<Full<Bytes>> {
    match text
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(code) => json(code, format!(r#"{{"status":{}}}"#, code.as_u16())),
        None => json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"use /status/500"}"#.to_owned(),
        ),
    }
}

/// Sleeps for `d` to within a few microseconds: tokio's timer fires up to ~1 ms late, too
/// coarse for a delay server that measures a client's overhead, so the last stretch yields
/// in a loop instead.
async fn precise_sleep(d: Duration) {
    const SPIN: Duration = Duration::from_micros(1_500);
    let deadline = Instant::now() + d;
    if d > SPIN {
        tokio::time::sleep_until((deadline - SPIN).into()).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

pub(super) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
