//! The engine allocates nothing per request on the plain path: a request written from
//! prepared bytes, a response with Server-Timing and a request ID read where it was parsed
//! (the demo's `/hello` says both). A bare hyper loop sending the same request is counted
//! beside it, to show the counter works and what a hyper-based engine would pay.
//!
//! Counted with a counting global allocator; the server runs in another process (the demo
//! API from the binary) so only the client's allocations are counted. Allocation counts do
//! not depend on timing, so this cannot flake on a loaded machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use api_cannon::client::RequestTemplate;
use api_cannon::engine;
use api_cannon::plan::{LoadSpec, Plan};
use api_cannon::targets;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo_process() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_api-cannon"))
        .args(["demo", "--serve", "--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo server starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut reader = BufReader::new(stderr);
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .expect("demo prints its address");
    // Keep draining: the server prints more lines, and a closed pipe would kill it.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("address in the banner")
        .to_owned();
    Server {
        child,
        url: format!("{url}/hello"),
    }
}

/// Allocations the engine makes for `requests` requests on one lane (keep-alive).
fn engine_allocations(url: &str, requests: u64) -> u64 {
    let targets = targets::from_urls(&[url.to_owned()], Duration::from_secs(5)).unwrap();
    let templates = vec![Arc::new(RequestTemplate::new(&targets[0]).unwrap())];
    let spec = LoadSpec {
        iterations: Some(requests),
        ..LoadSpec::default()
    };
    let plan = Plan::new(targets, spec);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let finished = runtime.block_on(async {
        let (_control, run) = engine::start(&plan, templates).unwrap();
        run.finish().await
    });
    let used = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        finished.stats.endpoints[0].ok, requests,
        "{:?}",
        finished.stats.endpoints[0].errors_by_kind
    );
    used
}

/// Allocations of a bare hyper loop sending the same request `requests` times.
fn bare_hyper_allocations(url: &str, requests: u64) -> u64 {
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap().clone();
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, authority.as_str().parse().unwrap());
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("bare"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        for _ in 0..requests {
            sender.ready().await.unwrap();
            let mut request = http::Request::new(Full::new(Bytes::new()));
            *request.uri_mut() = http::Uri::from_static("/hello");
            *request.headers_mut() = headers.clone();
            let response = sender.send_request(request).await.unwrap();
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                frame.unwrap();
            }
        }
    });
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn a_request_allocates_nothing() {
    let server = demo_process();
    // Marginal allocations per request: the difference between a long and a short run
    // removes fixed costs (threads, runtime, connection, histograms).
    let (short, long) = (2_000, 4_000);
    let engine = (engine_allocations(&server.url, long) as f64
        - engine_allocations(&server.url, short) as f64)
        / (long - short) as f64;
    let bare = (bare_hyper_allocations(&server.url, long) as f64
        - bare_hyper_allocations(&server.url, short) as f64)
        / (long - short) as f64;
    eprintln!("allocations per request: engine {engine:.3}, bare hyper {bare:.3}");
    assert!(bare > 0.0, "the counter works");
    assert!(
        engine < 0.05,
        "the engine allocates {engine:.3} per request (bare hyper {bare:.3})"
    );
}
