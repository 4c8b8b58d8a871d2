//! The accept loop under abuse, over real sockets: connection caps (in all and per
//! address), slowloris on headers and on bodies, a connection that never sends a request,
//! HTTP/2 stream and header-list limits, and an HTTP/2 rapid-reset flood. Each test shows
//! the refusal and that a normal client is still answered; the slowloris and reset-flood
//! tests print the normal client's latency before and during the attack
//! (`cargo test -p phivault-server --test it abuse -- --nocapture`).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use phivault_server::{ClientAuth, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::net::*;

const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A test vault served over loopback with `options` (no client certificates); keep the
/// harness alive as long as the server is used.
async fn served(options: ServeOptions) -> (Harness, Served) {
    let h = harness().await;
    let s = serve(h.router.clone(), options, ClientAuth::Off).await;
    (h, s)
}

/// A connection of the misbehaving client (from its own address), offering `alpn`.
async fn attacker(
    s: &Served,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    tls(
        s.addr,
        Some(ATTACKER),
        client_config(&s.ca_pem, &[alpn], None),
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

/// Reads until the server closes the connection or `within` passes; returns what was read
/// and whether the server closed it.
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    within: Duration,
) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped_and_other_addresses_are_answered() {
    let (_h, s) = served(ServeOptions {
        max_connections_per_address: 2,
        ..ServeOptions::default()
    })
    .await;
    let cfg = client_config(&s.ca_pem, &[b"http/1.1"], None);
    let connect = |within| tls(s.addr, Some(ATTACKER), cfg.clone(), within);
    let a = connect(Duration::from_secs(5)).await.unwrap();
    let b = connect(Duration::from_secs(5)).await.unwrap();
    // the third from the same address is closed before its handshake
    let third = connect(Duration::from_secs(5)).await;
    assert!(
        third.is_err(),
        "a third connection from one address was served"
    );
    // the open ones and other addresses are served
    let mut send = h1(a).await;
    assert_eq!(healthz(&mut send).await, 200);
    probe(s.addr, &s.ca_pem).await;
    // a closed connection frees its slot
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    connect(Duration::from_secs(5))
        .await
        .expect("a slot was freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped_and_accepted_again_when_one_closes() {
    let (_h, s) = served(ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    })
    .await;
    let cfg = client_config(&s.ca_pem, &[b"http/1.1"], None);
    let connect = |within| tls(s.addr, None, cfg.clone(), within);
    let a = connect(Duration::from_secs(5)).await.unwrap();
    let b = connect(Duration::from_secs(5)).await.unwrap();
    // at the cap the server stops accepting: the handshake of a third is not answered
    let third = connect(Duration::from_millis(800)).await;
    assert!(third.is_err(), "a connection over the cap was served");
    // the open connections keep being answered
    let mut send = h1(a).await;
    assert_eq!(healthz(&mut send).await, 200);
    drop(b);
    connect(Duration::from_secs(5))
        .await
        .expect("accepted again once a connection closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off_and_a_normal_client_is_answered() {
    let h = harness().await;
    let timeout = Duration::from_secs(1);
    let s = serve(
        h.router.clone(),
        ServeOptions {
            header_read_timeout: timeout,
            max_connections_per_address: 0,
            ..ServeOptions::default()
        },
        ClientAuth::Off,
    )
    .await;
    let (base_median, base_max) = probes_during(s.addr, &s.ca_pem, 10, Duration::ZERO).await;
    // 200 connections, each sending a header line every 200 ms and never the blank line
    let cfg = client_config(&s.ca_pem, &[b"http/1.1"], None);
    let attackers = 200;
    let mut tasks = Vec::new();
    for _ in 0..attackers {
        let cfg = cfg.clone();
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let mut t = tls(addr, Some(ATTACKER), cfg, Duration::from_secs(10))
                .await
                .unwrap();
            let started = Instant::now();
            t.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                .await
                .unwrap();
            for i in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if t.write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let (got, closed) = read_until_closed(&mut t, Duration::from_secs(5)).await;
            (started.elapsed(), closed, got)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (median, max) = probes_during(s.addr, &s.ca_pem, 20, Duration::from_millis(25)).await;
    let mut cut_after = Vec::new();
    for t in tasks {
        let (after, closed, got) = t.await.unwrap();
        assert!(closed, "a slowloris connection was kept open");
        assert!(
            !String::from_utf8_lossy(&got).contains(" 200 "),
            "a slowloris request was served"
        );
        cut_after.push(after);
    }
    cut_after.sort();
    let slowest = *cut_after.last().unwrap();
    eprintln!(
        "slowloris: {attackers} connections, header timeout {timeout:?}; cut after max {:.0} ms; \
         normal client median/max {:.1}/{:.1} ms during vs {:.1}/{:.1} ms before",
        ms(slowest),
        ms(median),
        ms(max),
        ms(base_median),
        ms(base_max)
    );
    assert!(slowest < timeout + Duration::from_secs(3), "{slowest:?}");
    assert!(
        max < Duration::from_secs(2),
        "a normal client waited {max:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_others_are_answered() {
    let (h, s) = served(ServeOptions {
        body_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let before = h.audit_count().await;
    let mut t = attacker(&s, b"http/1.1").await;
    let started = Instant::now();
    let head = format!(
        "POST /v1/collections HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"name\":",
        h.admin
    );
    t.write_all(head.as_bytes()).await.unwrap();
    let probe_latency = probe(s.addr, &s.ca_pem).await;
    let (got, _) = read_until_closed(&mut t, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(probe_latency < Duration::from_secs(1), "{probe_latency:?}");
    let events = h.audit().await.split_off(before);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event().unwrap().reason.as_deref(),
        Some("body_timeout")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_no_request_is_closed() {
    let (_h, s) = served(ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    // HTTP/2 (no preface at all) and HTTP/1.1 (no request line)
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let mut t = attacker(&s, alpn).await;
        let (_, closed) = read_until_closed(&mut t, Duration::from_secs(4)).await;
        assert!(
            closed,
            "{} connection kept open",
            String::from_utf8_lossy(alpn)
        );
    }
    probe(s.addr, &s.ca_pem).await;
}

fn h2_request(method: &str, path: &str) -> hyper::Request<()> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .body(())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_per_connection_are_capped_and_other_connections_are_answered() {
    let (_h, s) = served(ServeOptions {
        max_streams_per_connection: 4,
        ..ServeOptions::default()
    })
    .await;
    let (mut send, _conn) = h2_client(s.addr, &s.ca_pem, Some(ATTACKER)).await;
    // one round trip, so the server's SETTINGS are in force
    send = send.ready().await.unwrap();
    let (r, _) = send
        .send_request(h2_request("GET", "/healthz"), true)
        .unwrap();
    assert_eq!(r.await.unwrap().status(), 200);
    // four requests whose bodies never come hold all four streams
    let mut held = Vec::new();
    for _ in 0..4 {
        send = send.ready().await.unwrap();
        let mut req = h2_request("POST", "/v1/auth/login");
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        held.push(send.send_request(req, false).unwrap());
    }
    // a fifth waits: the server does not take more streams on this connection
    send = send.ready().await.unwrap();
    let (fifth, _) = send
        .send_request(h2_request("GET", "/healthz"), true)
        .unwrap();
    let mut fifth = Box::pin(fifth);
    assert!(
        tokio::time::timeout(Duration::from_millis(800), &mut fifth)
            .await
            .is_err(),
        "a fifth concurrent stream was served"
    );
    // another connection is served meanwhile
    probe(s.addr, &s.ca_pem).await;
    // once one stream ends, the fifth is served
    let (_, mut stream) = held.remove(0);
    stream.send_reset(h2::Reason::CANCEL);
    let res = tokio::time::timeout(Duration::from_secs(5), fifth)
        .await
        .expect("served once a stream ended")
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_lists_over_the_limit_are_refused_and_the_server_keeps_answering() {
    let (_h, s) = served(ServeOptions {
        max_header_bytes: 8 * 1024,
        ..ServeOptions::default()
    })
    .await;
    let big = "a".repeat(16 * 1024);
    // HTTP/2: 431 (or the stream refused), and the connection still serves
    let (mut send, _conn) = h2_client(s.addr, &s.ca_pem, Some(ATTACKER)).await;
    send = send.ready().await.unwrap();
    let (r, _) = send
        .send_request(h2_request("GET", "/healthz"), true)
        .unwrap();
    assert_eq!(r.await.unwrap().status(), 200);
    let mut req = h2_request("GET", "/healthz");
    req.headers_mut().insert("x-big", big.parse().unwrap());
    send = send.ready().await.unwrap();
    let (r, _) = send.send_request(req, true).unwrap();
    match r.await {
        Ok(res) => assert_eq!(res.status(), 431),
        Err(e) => assert_eq!(e.reason(), Some(h2::Reason::REFUSED_STREAM), "{e}"),
    }
    send = send.ready().await.unwrap();
    let (r, _) = send
        .send_request(h2_request("GET", "/healthz"), true)
        .unwrap();
    assert_eq!(r.await.unwrap().status(), 200);
    // HTTP/1.1: 431
    let mut t = attacker(&s, b"http/1.1").await;
    t.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let (got, _) = read_until_closed(&mut t, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    probe(s.addr, &s.ca_pem).await;
}

/// One HTTP/2 frame: length, type, flags, stream id, payload (RFC 9113 section 4.1).
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HEADERS (END_HEADERS, not END_STREAM) for `GET /healthz`, then RST_STREAM(CANCEL): the
/// rapid-reset pattern, written by hand because a well-behaved client library never sends
/// it. The header block is HPACK with static-table names and literal values.
fn rapid_reset(stream: u32) -> Vec<u8> {
    let mut block = vec![0x82, 0x87]; // :method GET, :scheme https
    block.extend_from_slice(&[0x04, 8]); // :path, literal, 8 bytes
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 9]); // :authority, literal, 9 bytes
    block.extend_from_slice(b"localhost");
    let mut out = frame(0x1, 0x4, stream, &block);
    out.extend(frame(0x3, 0, stream, &0x8u32.to_be_bytes()));
    out
}

/// The error code of the first GOAWAY frame in `bytes`, if any.
fn goaway_code(bytes: &[u8]) -> Option<u32> {
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        if rest.len() < 9 + len {
            return None;
        }
        if rest[3] == 0x7 && len >= 8 {
            return Some(u32::from_be_bytes(rest[13..17].try_into().unwrap()));
        }
        rest = &rest[9 + len..];
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_reset_flood_ends_that_connection_and_a_normal_client_is_answered() {
    let (_h, s) = served(ServeOptions::default()).await;
    let (base_median, base_max) = probes_during(s.addr, &s.ca_pem, 10, Duration::ZERO).await;
    let limit = 200_000u32;
    let mut t = attacker(&s, b"h2").await;
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        let mut sent = 0u32;
        // 100 streams a write, as fast as the connection takes them (CVE-2023-44487)
        while sent < limit {
            for _ in 0..100 {
                out.extend(rapid_reset(2 * sent + 1));
                sent += 1;
            }
            if t.write_all(&out).await.is_err() || t.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        let took = started.elapsed();
        let (got, closed) = read_until_closed(&mut t, Duration::from_secs(10)).await;
        (sent, took, closed, goaway_code(&got))
    });
    let (median, max) = probes_during(s.addr, &s.ca_pem, 20, Duration::from_millis(10)).await;
    let (sent, took, closed, goaway) = flood.await.unwrap();
    eprintln!(
        "reset flood: the server ended the connection after {sent} streams written in {:.0} ms \
         (GOAWAY code {goaway:?}); normal client median/max {:.1}/{:.1} ms during vs \
         {:.1}/{:.1} ms before",
        ms(took),
        ms(median),
        ms(max),
        ms(base_median),
        ms(base_max)
    );
    assert!(closed, "the flooding connection was kept open");
    // 0xb ENHANCE_YOUR_CALM: hyper's max_pending_accept_reset_streams tripped
    assert_eq!(goaway, Some(0xb));
    assert!(sent < limit, "the flood was never stopped");
    assert!(
        max < Duration::from_secs(2),
        "a normal client waited {max:?}"
    );
}
