//! The `/metrics` listener: a thread of its own with a small runtime, apart from the
//! workers, serving the latest snapshot to whoever scrapes.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::{Live, Snapshot};

/// The metrics endpoint: bound at start, serving until dropped.
#[derive(Debug)]
pub struct MetricsServer {
    live: Arc<Live>,
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `address` (port 0: any free one) and serves `GET /metrics` from a thread
    /// of its own. Failing to bind (the address in use, not this machine's) is the error.
    pub fn bind(address: SocketAddr) -> std::io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let live = Arc::new(Live::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let served = Arc::clone(&live);
        let thread = std::thread::Builder::new()
            .name("api-cannon-metrics".into())
            .spawn(move || runtime.block_on(serve(listener, served, stopped)))?;
        Ok(MetricsServer {
            live,
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Makes `snapshot` what scrapes see from now on.
    pub fn publish(&self, snapshot: Snapshot) {
        self.live.publish(snapshot);
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    live: Arc<Live>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let live = Arc::clone(&live);
                async move { Ok::<_, std::convert::Infallible>(respond(&request, &live)) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// `GET /metrics` in the format the scraper asks for; 404 elsewhere, 405 for other methods.
fn respond(request: &Request<Incoming>, live: &Live) -> Response<Full<Bytes>> {
    let answer = |status: StatusCode, kind: &'static str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
        response
    };
    if request.uri().path() != "/metrics" {
        let text = "api-cannon serves its metrics at /metrics\n".to_owned();
        return answer(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", text);
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        let text = "GET /metrics\n".to_owned();
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            text,
        );
    }
    let openmetrics = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let kind = match openmetrics {
        true => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        false => "text/plain; version=0.0.4; charset=utf-8",
    };
    answer(StatusCode::OK, kind, live.exposition(openmetrics))
}
