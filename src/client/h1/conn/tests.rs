//! Differential: the same bytes served to this connection and to hyper's must come out
//! the same (status, body, whether the connection can be reused).

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Serves `response` byte for byte to the first request of every connection, then keeps
/// the connection open (or closes it when `close`).
async fn serve(response: &'static [u8], close: bool) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response).await;
                if close {
                    let _ = stream.shutdown().await;
                    return;
                }
                // Held open until the client goes.
                let _ = stream.read(&mut buf).await;
            });
        }
    });
    address
}

/// What came out: (status, body, reusable), or that the response was refused.
type Outcome = Result<(u16, Vec<u8>, bool), &'static str>;

/// Through our connection.
async fn ours(address: std::net::SocketAddr, method: &Method) -> Outcome {
    let mut conn = H1Conn::new(TcpStream::connect(address).await.expect("connects"));
    let mut request = Vec::new();
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, "test".parse().expect("a value"));
    encode_request(
        method,
        &"/".parse().expect("a path"),
        &headers,
        b"",
        &mut request,
    );
    conn.send(&request).await.expect("sent");
    let response = match conn
        .receive(method, Instant::now(), Some(1 << 20), &mut |_, _| {})
        .await
    {
        Ok(response) => response,
        Err(_) => return Err("refused"),
    };
    let body = response.body.unwrap_or_default();
    Ok((response.status, body, conn.is_reusable()))
}

/// Through hyper's connection-level client, as api-cannon uses it today.
async fn hypers(address: std::net::SocketAddr, method: &Method) -> Outcome {
    let stream = TcpStream::connect(address).await.expect("connects");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut request = http::Request::new(Full::new(Bytes::new()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = "/".parse().expect("a path");
    let host = "test".parse().expect("a value");
    request.headers_mut().insert(http::header::HOST, host);
    let Ok(response) = sender.send_request(request).await else {
        return Err("refused");
    };
    let status = response.status().as_u16();
    let Ok(body) = response.into_body().collect().await else {
        return Err("refused");
    };
    let body = body.to_bytes().to_vec();
    let ready = tokio::time::timeout(std::time::Duration::from_millis(200), sender.ready()).await;
    Ok((status, body, matches!(ready, Ok(Ok(())))))
}

/// Responses as servers write them: (bytes, close after writing, request method).
const CORPUS: [(&[u8], bool, &str); 11] = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "GET"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", false, "GET"),
    (b"HTTP/1.1 200 OK\r\n\r\nuntil the close", true, "GET"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false, "HEAD"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, "GET"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", false, "GET"),
    (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false, "GET"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true, "GET"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true, "GET"),
    (b"HTTP/1.1 404 Not Found\r\ncontent-LENGTH: 4\r\nSERVER-timing: a;dur=1\r\n\r\nnope", false, "GET"),
    (b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok", false, "GET"),
];

#[tokio::test]
async fn each_response_of_the_corpus_comes_out_as_it_does_from_hyper() {
    for (bytes, close, method) in CORPUS {
        let method: Method = method.parse().expect("a method");
        let ours = ours(serve(bytes, close).await, &method).await;
        let hypers = hypers(serve(bytes, close).await, &method).await;
        assert_eq!(ours, hypers, "{}", String::from_utf8_lossy(bytes));
    }
}

#[tokio::test]
async fn a_body_shorter_than_its_length_is_a_body_error() {
    let address = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true).await;
    let mut conn = H1Conn::new(TcpStream::connect(address).await.expect("connects"));
    conn.send(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("sent");
    let error = conn
        .receive(&Method::GET, Instant::now(), None, &mut |_, _| {})
        .await
        .err();
    assert!(matches!(error, Some(H1Error::Body(why)) if why.contains("5 of 10")));
    assert!(!conn.is_reusable());
}

#[test]
fn requests_are_encoded_with_their_length_when_they_have_a_body() {
    let mut out = Vec::new();
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, "api.test".parse().expect("a value"));
    encode_request(
        &Method::POST,
        &"/items".parse().expect("a path"),
        &headers,
        b"{}",
        &mut out,
    );
    assert_eq!(
        out,
        b"POST /items HTTP/1.1\r\nhost: api.test\r\ncontent-length: 2\r\n\r\n{}"
    );
    encode_request(
        &Method::GET,
        &"http://api.test/".parse().expect("a URL"),
        &headers,
        b"",
        &mut out,
    );
    assert_eq!(
        out,
        b"GET http://api.test/ HTTP/1.1\r\nhost: api.test\r\n\r\n"
    );
}

#[tokio::test]
async fn a_body_that_trickles_in_byte_by_byte_is_read_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let response =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        for byte in response {
            let _ = stream.write_all(&[*byte]).await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let _ = stream.read(&mut buf).await;
    });
    let mut conn = H1Conn::new(TcpStream::connect(address).await.expect("connects"));
    conn.send(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("sent");
    let response = conn
        .receive(&Method::GET, Instant::now(), Some(1024), &mut |_, _| {})
        .await
        .ok()
        .map(|r| (r.status, r.body));
    assert_eq!(response, Some((200, Some(b"hello".to_vec()))));
    assert!(conn.is_reusable());
}

#[tokio::test]
async fn the_final_head_is_shown_where_it_lies_and_mapped_only_for_kept_responses() {
    let response: &'static [u8] = b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 200 OK\r\nServer-Timing: app;dur=4\r\nContent-Length: 2\r\n\r\nok";
    let address = serve(response, false).await;
    for keep in [None, Some(1024)] {
        let mut conn = H1Conn::new(TcpStream::connect(address).await.expect("connects"));
        conn.send(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .expect("sent");
        let mut seen = Vec::new();
        let mut on_head = |status: u16, lines: &[httparse::Header<'_>]| {
            let names = lines.iter().map(|l| (l.name.to_owned(), l.value.to_vec()));
            seen.push((status, names.collect::<Vec<_>>()));
        };
        let got = conn
            .receive(&Method::GET, Instant::now(), keep, &mut on_head)
            .await
            .expect("a response");
        // Once, for the final head only (not the interim 100), with its lines as sent.
        let timing = ("Server-Timing".to_owned(), b"app;dur=4".to_vec());
        let length = ("Content-Length".to_owned(), b"2".to_vec());
        assert_eq!(seen, vec![(200, vec![timing, length])], "keep {keep:?}");
        assert_eq!(got.headers.len(), if keep.is_some() { 2 } else { 0 });
    }
}

#[tokio::test]
async fn a_long_chunked_body_streams_through_a_buffer_that_stays_small() {
    // 16 MiB in 1 KiB chunks, written as fast as the socket takes them: the body is counted
    // and dropped as it comes, and the read buffer never grows past a few reads' worth.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("an address");
    let chunks = 16 * 1024;
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend_from_slice(&[b'x'; 0x400]);
        chunk.extend_from_slice(b"\r\n");
        let many = chunk.repeat(64);
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        for _ in 0..chunks / 64 {
            if stream.write_all(&many).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let _ = stream.read(&mut buf).await;
    });
    let mut conn = H1Conn::new(TcpStream::connect(address).await.expect("connects"));
    conn.send(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("sent");
    let response = conn
        .receive(&Method::GET, Instant::now(), None, &mut |_, _| {})
        .await
        .expect("the whole body");
    assert_eq!((response.status, response.body), (200, None));
    assert!(conn.is_reusable());
    let capacity = conn.buffer.capacity();
    assert!(
        capacity <= 64 * 1024,
        "the read buffer grew to {capacity} bytes"
    );
}
