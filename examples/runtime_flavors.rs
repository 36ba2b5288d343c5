//! The measurement behind `--threads`: the same bare hyper closed loop (50 connections,
//! one request each at a time) on N current-thread runtimes, one per thread, each with its
//! own connections (api-cannon's design), or on one N-worker multi-thread runtime.
//!
//!     cargo run --release --example runtime_flavors -- current 2 200000 127.0.0.1:18080
//!     cargo run --release --example runtime_flavors -- multi 2 200000 127.0.0.1:18080
//!
//! Prints requests/s and CPU µs per request (process CPU time ÷ requests); run it pinned
//! (taskset) against a local server, interleaving the two flavours.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

const CONNECTIONS: u64 = 50;

async fn lane(addr: String, requests: u64) {
    let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return;
    };
    tokio::spawn(connection);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::HOST,
        addr.parse().expect("host:port is a header value"),
    );
    for _ in 0..requests {
        if sender.ready().await.is_err() {
            return;
        }
        let mut request = http::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = http::Uri::from_static("/hello");
        *request.headers_mut() = headers.clone();
        let Ok(response) = sender.send_request(request).await else {
            return;
        };
        let mut body = response.into_body();
        while let Some(Ok(_)) = body.frame().await {}
    }
}

fn current_thread(threads: u64, requests: u64, addr: &str) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let addr = addr.to_owned();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let lanes = CONNECTIONS / threads;
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..lanes {
                        set.spawn(lane(addr.clone(), requests / CONNECTIONS));
                    }
                    while set.join_next().await.is_some() {}
                });
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
}

fn multi_thread(threads: u64, requests: u64, addr: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads as usize)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..CONNECTIONS {
            set.spawn(lane(addr.to_owned(), requests / CONNECTIONS));
        }
        while set.join_next().await.is_some() {}
    });
}

fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            (u.user_time().num_microseconds() + u.system_time().num_microseconds()) as f64 / 1e6
        })
        .unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: runtime_flavors current|multi THREADS REQUESTS HOST:PORT";
    let (Some(flavor), Some(threads), Some(requests), Some(addr)) =
        (args.get(1), args.get(2), args.get(3), args.get(4))
    else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Ok(threads), Ok(requests)) = (threads.parse::<u64>(), requests.parse::<u64>()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    match flavor.as_str() {
        "current" => current_thread(threads, requests, addr),
        "multi" => multi_thread(threads, requests, addr),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    println!(
        "{flavor} {threads}: {:.0} req/s, {:.2} µs CPU/request",
        requests as f64 / wall,
        cpu / requests as f64 * 1e6
    );
}
