//! The sender against a loopback HTTPS receiver: the signature a receiver checks, retries
//! that stop at their bound, and answers that are not retried.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// One request as the receiver saw it: header lines (names lower-cased) and body.
#[derive(Debug, Clone)]
struct Seen {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTPS receiver on loopback answering every request with `status`; returns its URL,
/// its certificate and the requests it saw.
async fn receiver(status: u16) -> (String, Vec<u8>, Arc<Mutex<Vec<Seen>>>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let end = loop {
                let n = tls.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i);
                }
            };
            let Some(end) = end else { continue };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = tls.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            log.lock().unwrap().push(Seen { headers, body });
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    (
        format!("https://localhost:{port}/hook"),
        cert.cert.pem().into_bytes(),
        seen,
    )
}

/// Options for the receiver at `url`: its certificate names `localhost`, and the connection
/// goes to 127.0.0.1 explicitly.
fn options(url: &str, ca: Vec<u8>, secret: &[u8], attempts: u32) -> WebhookOptions {
    let port = Url::parse(url).unwrap().port().unwrap();
    WebhookOptions {
        ca_pem: Some(ca),
        secret: Some(WebhookSecret::new(secret)),
        retry: RetryPolicy {
            attempts,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
        connect_to: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        ..WebhookOptions::default()
    }
}

#[tokio::test]
async fn a_delivered_body_verifies_only_with_the_right_secret_and_body() {
    let (url, ca, seen) = receiver(204).await;
    let sender = WebhookSender::with_options(&url, options(&url, ca, b"shared secret", 3)).unwrap();
    sender
        .post(1_800_000_000, br#"{"kind":"x"}"#)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.body, br#"{"kind":"x"}"#);
    assert_eq!(got.header("content-type"), Some("application/json"));
    let header = got.header("phivault-signature").unwrap();
    let secret = WebhookSecret::new(b"shared secret");
    let now = 1_800_000_030;
    assert_eq!(
        verify(&secret, header, &got.body, now, DEFAULT_TOLERANCE),
        Ok(())
    );
    assert_eq!(
        verify(&secret, header, br#"{"kind":"y"}"#, now, DEFAULT_TOLERANCE),
        Err(SignatureError::Mismatch)
    );
    let wrong = WebhookSecret::new(b"another secret");
    assert_eq!(
        verify(&wrong, header, &got.body, now, DEFAULT_TOLERANCE),
        Err(SignatureError::Mismatch)
    );
}

#[tokio::test]
async fn retries_stop_after_the_bound() {
    let (url, ca, seen) = receiver(503).await;
    let sender = WebhookSender::with_options(&url, options(&url, ca, b"s", 4)).unwrap();
    let err = sender.post(1, b"[]").await.unwrap_err();
    assert!(
        matches!(err, ClientError::UnexpectedResponse { status: 503 }),
        "{err:?}"
    );
    // Longer than every back-off together: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_client_error_answer_is_not_retried() {
    let (url, ca, seen) = receiver(401).await;
    let sender = WebhookSender::with_options(&url, options(&url, ca, b"s", 4)).unwrap();
    let err = sender.post(1, b"[]").await.unwrap_err();
    assert!(
        matches!(err, ClientError::UnexpectedResponse { status: 401 }),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn back_off_doubles_up_to_its_ceiling() {
    let policy = RetryPolicy {
        attempts: 6,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(350),
    };
    let delays: Vec<_> = (0..5).map(|a| policy.delay(a).as_millis()).collect();
    assert_eq!(delays, [0, 100, 200, 350, 350]);
}

#[test]
fn plain_http_is_refused_and_the_secret_is_redacted() {
    assert!(WebhookSender::new("http://127.0.0.1:1/x", None, None).is_err());
    let sender = WebhookSender::new("https://127.0.0.1:1/x", None, Some(b"hunter2")).unwrap();
    let debug = format!("{sender:?}");
    assert!(
        debug.contains("REDACTED") && !debug.contains("hunter2"),
        "{debug}"
    );
}
