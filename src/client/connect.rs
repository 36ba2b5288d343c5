//! Getting connected: TCP to every address a name resolves to (Happy-Eyeballs style),
//! through a proxy's CONNECT tunnel when there is one, with each phase timed.

use super::*;

/// Asks an HTTP proxy for a tunnel to `host:port` (CONNECT) and waits for its 2xx.
pub(super) async fn tunnel(
    tcp: &mut TcpStream,
    host: &str,
    port: u16,
    authorization: Option<&HeaderValue>,
) -> Result<(), Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(credentials) = authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(credentials.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    tcp.write_all(&request)
        .await
        .map_err(Failure::of(ErrorKind::Connect))?;
    // Read the proxy's answer up to the end of its head: the tunnel starts right after it.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tcp
            .read(&mut byte)
            .await
            .map_err(Failure::of(ErrorKind::Connect))?;
        if head.len() > 8 * 1024 || read == 0 {
            let problem = "the proxy closed the connection or sent no end to its answer to CONNECT";
            return Err(Failure::new(ErrorKind::Connect, problem));
        }
        head.push(byte[0]);
    }
    let status = head.split(|&b| b == b' ').nth(1).unwrap_or_default();
    match status.first() {
        Some(b'2') => Ok(()),
        _ => Err(Failure::new(
            ErrorKind::Connect,
            format!(
                "the proxy refused CONNECT {authority}: {}",
                String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
            ),
        )),
    }
}

/// Connects to `host:port`; a host name is resolved first and its addresses tried in turn.
pub(super) async fn connect_tcp(host: &str, port: u16) -> Result<(TcpStream, Setup), Failure> {
    let mut setup = Setup::default();
    if let Ok(ip) = host.parse::<IpAddr>() {
        let started = Instant::now();
        let address = SocketAddr::new(ip, port);
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| Failure::new(connect_kind(&e), format!("{address}: {e}")))?;
        setup.connect = started.elapsed();
        return Ok((stream, setup));
    }
    let started = Instant::now();
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::new(connect_kind(&e), format!("resolving {host}: {e}")))?;
    setup.dns = Some(started.elapsed());
    let started = Instant::now();
    let stream = connect_any(addresses.collect(), NEXT_ATTEMPT_AFTER, TcpStream::connect)
        .await
        .map_err(|f| Failure::new(f.kind, format!("{host} {}", f.detail)))?;
    setup.connect = started.elapsed();
    Ok((stream, setup))
}

/// How a failure to get a connection counts: the machine's own limits (no file descriptor,
/// no local port, no memory) are `local`, the generator's doing, not the server's.
pub(super) fn connect_kind(error: &std::io::Error) -> ErrorKind {
    use nix::errno::Errno;
    let local = [
        Errno::EMFILE,
        Errno::ENFILE,
        Errno::EADDRNOTAVAIL,
        Errno::ENOBUFS,
        Errno::ENOMEM,
    ];
    match error.raw_os_error() {
        Some(code) if local.contains(&Errno::from_raw(code)) => ErrorKind::Local,
        _ => ErrorKind::Connect,
    }
}

/// How long an address may keep a connection attempt to itself before the next address
/// is tried beside it (RFC 8305's recommended connection attempt delay).
pub(super) const NEXT_ATTEMPT_AFTER: Duration = Duration::from_millis(250);

/// Connects to the first of `addresses` that answers, in their order, Happy-Eyeballs
/// style: an attempt that fails lets the next start at once, one that hangs lets it start
/// after `delay`, and earlier attempts keep running beside it. So an unreachable IPv6
/// address listed first costs `delay`, not the whole request timeout. The error names
/// the last address that failed.
pub(super) async fn connect_any<S, F, Fut>(
    addresses: Vec<SocketAddr>,
    delay: Duration,
    connect: F,
) -> Result<S, Failure>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    use futures_util::StreamExt as _;
    use futures_util::stream::FuturesUnordered;
    let mut waiting = addresses.into_iter();
    let mut attempts = FuturesUnordered::new();
    let mut last = Failure::new(ErrorKind::Connect, "resolved to no address");
    let attempt = |address: SocketAddr| {
        let connecting = connect(address);
        async move { (address, connecting.await) }
    };
    loop {
        if attempts.is_empty() {
            match waiting.next() {
                Some(address) => attempts.push(attempt(address)),
                None => return Err(last),
            }
        }
        let more = waiting.len() > 0;
        tokio::select! {
            Some((address, result)) = attempts.next() => match result {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    last = Failure::new(connect_kind(&e), format!("({address}): {e}"));
                    if let Some(next) = waiting.next() {
                        attempts.push(attempt(next));
                    }
                }
            },
            _ = tokio::time::sleep(delay), if more => {
                if let Some(next) = waiting.next() {
                    attempts.push(attempt(next));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hanging_first_address_costs_the_attempt_delay_not_the_timeout() {
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let refused: SocketAddr = "192.0.2.2:80".parse().unwrap();
        let fake = |address: SocketAddr| async move {
            if address == v6 {
                std::future::pending::<()>().await;
            }
            if address == refused {
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
            }
            Ok(address)
        };
        let delay = Duration::from_millis(250);
        let started = tokio::time::Instant::now();
        assert_eq!(connect_any(vec![v6, v4], delay, fake).await, Ok(v4));
        assert_eq!(started.elapsed(), delay);
        // A refusal moves on at once; when every address fails, the last one is named.
        let started = tokio::time::Instant::now();
        assert_eq!(connect_any(vec![refused, v4], delay, fake).await, Ok(v4));
        assert_eq!(started.elapsed(), Duration::ZERO);
        let error = connect_any(vec![refused], delay, fake).await.unwrap_err();
        assert!(
            error.detail.contains("192.0.2.2:80") && error.detail.contains("refused"),
            "{error:?}"
        );
        assert_eq!(error.kind, ErrorKind::Connect);
        let none = connect_any(Vec::<SocketAddr>::new(), delay, fake).await;
        assert_eq!(
            none,
            Err(Failure::new(ErrorKind::Connect, "resolved to no address"))
        );
    }

    #[test]
    fn running_out_of_descriptors_or_ports_is_local_not_the_servers_connect_error() {
        use nix::errno::Errno;
        let kind = |errno: Errno| connect_kind(&std::io::Error::from_raw_os_error(errno as i32));
        assert_eq!(kind(Errno::EMFILE), ErrorKind::Local);
        assert_eq!(kind(Errno::EADDRNOTAVAIL), ErrorKind::Local);
        assert_eq!(kind(Errno::ECONNREFUSED), ErrorKind::Connect);
        assert_eq!(kind(Errno::ENETUNREACH), ErrorKind::Connect);
    }
}
