use proptest::prelude::*;

use super::*;

/// What a connection would make of `pieces` arriving one after the other, the last
/// followed by the server closing: the final status, the body, and whether the
/// connection could be reused. An error is the first the framing found.
fn decode(pieces: &[Vec<u8>], head_request: bool) -> Result<(u16, Vec<u8>, bool), FrameError> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut pieces = pieces.iter();
    let head = loop {
        if let Some(head) = parse_head(&buffer, head_request, &mut header_slots(), |_, _| {})? {
            break head;
        }
        match pieces.next() {
            Some(piece) => buffer.extend_from_slice(piece),
            None => return Err(FrameError::Invalid("closed before a head".into())),
        }
    };
    buffer.drain(..head.len);
    let mut body = Vec::new();
    match head.body {
        BodyKind::Empty => {}
        BodyKind::Length(n) => loop {
            let take = buffer
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX) - body.len());
            body.extend(buffer.drain(..take));
            if body.len() as u64 == n {
                break;
            }
            match pieces.next() {
                Some(piece) => buffer.extend_from_slice(piece),
                None => return Err(FrameError::Invalid("closed inside the body".into())),
            }
        },
        BodyKind::UntilClose => {
            body.append(&mut buffer);
            for piece in pieces.by_ref() {
                body.extend_from_slice(piece);
            }
        }
        BodyKind::Chunked => {
            let mut chunked = Chunked::default();
            while !chunked.is_done() {
                let step = chunked.step(&buffer)?;
                if let Some(data) = step.data.clone() {
                    body.extend_from_slice(&buffer[data]);
                }
                buffer.drain(..step.consumed);
                if step.consumed == 0 {
                    match pieces.next() {
                        Some(piece) => buffer.extend_from_slice(piece),
                        None => return Err(FrameError::Invalid("closed inside the body".into())),
                    }
                }
            }
        }
    }
    Ok((head.status, body, head.keep_alive))
}

fn whole(text: &str) -> Result<(u16, Vec<u8>, bool), FrameError> {
    decode(&[text.as_bytes().to_vec()], false)
}

#[test]
fn bodies_are_framed_by_length_chunks_or_the_close() {
    let sized = whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
    assert_eq!(sized, Ok((200, b"hello".to_vec(), true)));
    let chunked = whole(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    assert_eq!(chunked, Ok((200, b"hello world".to_vec(), true)));
    let closed = whole("HTTP/1.1 200 OK\r\n\r\nuntil the end");
    assert_eq!(closed, Ok((200, b"until the end".to_vec(), false)));
}

#[test]
fn folded_and_oddly_spaced_header_lines_are_refused_as_hyper_refuses_them() {
    let folded = whole("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok");
    assert!(matches!(folded, Err(FrameError::Invalid(_))), "{folded:?}");
    let spaced = whole("HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok");
    assert!(matches!(spaced, Err(FrameError::Invalid(_))), "{spaced:?}");
}

#[test]
fn some_responses_have_no_body_whatever_they_say() {
    for status in ["204 No Content", "304 Not Modified"] {
        let text = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(whole(&text).map(|r| r.1), Ok(Vec::new()), "{status}");
    }
    let head = decode(
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec()],
        true,
    );
    assert_eq!(head, Ok((200, Vec::new(), true)));
}

#[test]
fn interim_responses_come_before_the_final_one() {
    let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(whole(text), Ok((201, b"ok".to_vec(), true)));
    let upgrade = whole("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(upgrade, Err(FrameError::SwitchingProtocols));
}

#[test]
fn keep_alive_follows_the_version_and_connection_header() {
    let reuse = |text: &str| whole(text).map(|r| r.2);
    assert_eq!(
        reuse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Ok(true)
    );
    assert_eq!(
        reuse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
        Ok(false)
    );
    assert_eq!(
        reuse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Ok(false)
    );
    assert_eq!(
        reuse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"),
        Ok(true)
    );
    assert_eq!(
        reuse("HTTP/1.1 200 OK\r\nCONTENT-length: 0\r\nconnection: CLOSE\r\n\r\n"),
        Ok(false)
    );
    // Both framings: answered by the chunks, then the connection is not trusted again.
    let both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(whole(both), Ok((200, b"ok".to_vec(), false)));
}

#[test]
fn malformed_or_oversized_heads_are_errors_of_their_own() {
    let conflicting =
        whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    assert_eq!(conflicting, Err(FrameError::BadContentLength));
    assert_eq!(
        whole("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello").map(|r| r.1),
        Ok(b"hello".to_vec())
    );
    assert_eq!(
        whole("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        Err(FrameError::BadContentLength)
    );
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        whole(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")),
        Err(FrameError::TooManyHeaders)
    );
    let long = format!("HTTP/1.1 200 OK\r\nX-Long: {}\r\n\r\n", "a".repeat(1 << 20));
    assert_eq!(whole(&long), Err(FrameError::HeadTooLarge));
    assert!(matches!(
        whole("SSH-2.0-OpenSSH\r\n\r\n"),
        Err(FrameError::Invalid(_))
    ));
    let bad_chunk = whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_eq!(bad_chunk, Err(FrameError::BadChunk));
    let no_crlf = whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n");
    assert_eq!(no_crlf, Err(FrameError::BadChunk));
}

#[test]
fn an_endless_chunked_body_is_decoded_chunk_after_chunk_without_ending() {
    // The decoder's side; that the connection's buffer stays small is
    // conn::tests::a_long_chunked_body_streams_through_a_buffer_that_stays_small.
    let mut chunked = Chunked::default();
    let chunk = b"400\r\n"
        .iter()
        .chain(&[b'x'; 0x400])
        .chain(b"\r\n")
        .copied()
        .collect::<Vec<u8>>();
    let mut data = 0;
    for _ in 0..10_000 {
        let mut input = &chunk[..];
        while !input.is_empty() {
            let step = chunked.step(input).expect("valid");
            data += step.data.map_or(0, |d| d.len());
            input = &input[step.consumed..];
        }
    }
    assert_eq!(data, 10_000 * 0x400);
    assert!(!chunked.is_done());
}

/// A response as a server may write it, and what a client must make of it.
#[derive(Debug, Clone)]
struct Generated {
    bytes: Vec<u8>,
    status: u16,
    body: Vec<u8>,
    keep_alive: bool,
}

fn generated() -> impl Strategy<Value = Generated> {
    let status = prop::sample::select(vec![200u16, 201, 204, 302, 404, 500, 503]);
    let body = prop::collection::vec(any::<u8>(), 0..600);
    let framing = 0..3u8; // length, chunked, close
    let interim = any::<bool>();
    let chunks = prop::collection::vec(1..200usize, 1..8);
    let upper = any::<bool>();
    (status, body, framing, interim, chunks, upper).prop_map(
        |(status, body, framing, interim, chunks, upper)| {
            let name = |n: &str| {
                if upper {
                    n.to_ascii_uppercase()
                } else {
                    n.to_owned()
                }
            };
            let mut bytes = Vec::new();
            if interim {
                bytes.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            bytes.extend_from_slice(
                format!("HTTP/1.1 {status} X\r\nServer-Timing: app;dur=1\r\n").as_bytes(),
            );
            let no_body = status == 204;
            let expected = if no_body { Vec::new() } else { body.clone() };
            let keep_alive = framing != 2;
            match framing {
                0 => {
                    bytes.extend_from_slice(
                        format!("{}: {}\r\n\r\n", name("Content-Length"), body.len()).as_bytes(),
                    );
                    bytes.extend_from_slice(&body);
                }
                1 => {
                    bytes.extend_from_slice(
                        format!("{}: chunked\r\n\r\n", name("Transfer-Encoding")).as_bytes(),
                    );
                    chunk(&body, &chunks, &mut bytes);
                }
                _ => {
                    bytes.extend_from_slice(b"\r\n");
                    bytes.extend_from_slice(&body);
                }
            }
            Generated {
                bytes,
                status,
                body: expected,
                // A 204 has no body whatever framing it names; close-delimited ones end the connection.
                keep_alive: keep_alive || no_body,
            }
        },
    )
}

/// `body` as chunks of the given sizes (in turn), with extensions and a trailer.
fn chunk(body: &[u8], sizes: &[usize], out: &mut Vec<u8>) {
    let mut rest = body;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(1).min(rest.len());
        out.extend_from_slice(format!("{size:x};ext=1\r\n").as_bytes());
        out.extend_from_slice(&rest[..size]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    out.extend_from_slice(b"0\r\nTrailer-Field: t\r\n\r\n");
}

/// `bytes` cut at the given points (as fractions of its length).
fn cut(bytes: &[u8], points: &[f64]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = points
        .iter()
        .map(|p| (p * bytes.len() as f64) as usize)
        .collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([bytes.len()]) {
        pieces.push(bytes[start..end.max(start)].to_vec());
        start = end.max(start);
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// However the reads cut a valid response, it frames the same.
    #[test]
    fn a_response_cut_anywhere_frames_as_a_whole(
        response in generated(),
        points in prop::collection::vec(0.0..1.0f64, 0..12),
    ) {
        let pieces = cut(&response.bytes, &points);
        let framed = decode(&pieces, false);
        prop_assert_eq!(
            framed,
            Ok((response.status, response.body.clone(), response.keep_alive))
        );
    }

    /// Any bytes end in a response or an error: never a panic, never a loop.
    #[test]
    fn arbitrary_bytes_end_in_one_outcome(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        prefix in any::<bool>(),
        points in prop::collection::vec(0.0..1.0f64, 0..6),
    ) {
        let mut input = if prefix { b"HTTP/1.1 200 OK\r\n".to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        let _ = decode(&cut(&input, &points), false);
    }
}
