//! TLS: AEAD suites and TLS 1.2/1.3 only, TLS 1.1 refused, bad PEM refused, and the
//! accept loop surviving a failed handshake.

use std::sync::Arc;

use crate::common::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cert() -> (Vec<u8>, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        c.cert.pem().into_bytes(),
        c.signing_key.serialize_pem().into_bytes(),
    )
}

fn client(ca: &[u8], versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

/// Runs a handshake in memory; returns the negotiated version, suite and ALPN.
fn handshake(
    server: Arc<rustls::ServerConfig>,
    client_cfg: ClientConfig,
) -> (
    rustls::ProtocolVersion,
    rustls::CipherSuite,
    Option<Vec<u8>>,
) {
    let mut s = ServerConnection::new(server).unwrap();
    let mut c = ClientConnection::new(
        Arc::new(client_cfg),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        s.read_tls(&mut buf.as_slice()).unwrap();
        s.process_new_packets().unwrap();
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        c.read_tls(&mut buf.as_slice()).unwrap();
        c.process_new_packets().unwrap();
        if !c.is_handshaking() && !s.is_handshaking() {
            break;
        }
    }
    assert!(!s.is_handshaking());
    (
        s.protocol_version().unwrap(),
        s.negotiated_cipher_suite().unwrap().suite(),
        s.alpn_protocol().map(<[u8]>::to_vec),
    )
}

#[test]
fn only_aead_suites_and_modern_versions_are_configured() {
    let (c, k) = cert();
    let cfg = phivault_server::tls_config(&c, &k).unwrap();
    assert_eq!(
        cfg.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    let names: Vec<String> = cfg
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    for n in &names {
        assert!(
            n.contains("GCM") || n.contains("CHACHA20_POLY1305"),
            "not AEAD: {n}"
        );
        assert!(
            n.starts_with("TLS13_") || n.starts_with("TLS_ECDHE_"),
            "{n}"
        );
    }
}

#[test]
fn tls13_and_tls12_handshakes_succeed_with_aead() {
    let (c, k) = cert();
    let server = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
    let (v, suite, alpn) = handshake(server.clone(), client(&c, &[&rustls::version::TLS13]));
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
    assert!(format!("{suite:?}").starts_with("TLS13_"));
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (v, suite, _) = handshake(server, client(&c, &[&rustls::version::TLS12]));
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
    assert!(format!("{suite:?}").starts_with("TLS_ECDHE_ECDSA_WITH_"));
}

/// A TLS 1.1 ClientHello (no supported_versions extension, CBC suites only), written
/// by hand because rustls cannot speak TLS 1.1.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // ECDHE-RSA-AES128-SHA, AES128-SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn tls11_clients_are_refused() {
    let (c, k) = cert();
    let server = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
    let mut s = ServerConnection::new(server).unwrap();
    s.read_tls(&mut tls11_client_hello().as_slice()).unwrap();
    let err = s.process_new_packets().unwrap_err();
    assert!(
        matches!(err, rustls::Error::PeerIncompatible(_)),
        "unexpected: {err:?}"
    );
    // the server answers with an alert, never a ServerHello
    let mut out = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut out).unwrap();
    }
    assert_eq!(out.first(), Some(&0x15), "an alert record");
}

#[test]
fn bad_pem_is_refused() {
    let (c, k) = cert();
    assert!(matches!(
        phivault_server::tls_config(b"not pem", &k),
        Err(phivault_server::ServerError::InvalidCertificate)
    ));
    assert!(matches!(
        phivault_server::tls_config(&c, b"not pem"),
        Err(phivault_server::ServerError::InvalidKey)
    ));
    let (_, other_key) = cert();
    assert!(phivault_server::tls_config(&c, &other_key).is_err());
}

#[tokio::test]
async fn serve_survives_a_failed_handshake_and_records_the_peer() {
    let h = harness().await;
    let (c, k) = cert();
    let tls = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(phivault_server::serve(
        listener,
        tls,
        h.router.clone(),
        async {
            let _ = rx.await;
        },
    ));

    // plaintext HTTP on the TLS port: that connection is dropped, nothing else
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf).await;
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

    let before = h.audit_count().await;
    let mut cfg = client(&c, &[&rustls::version::TLS13]);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /v1/collections HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.to_lowercase().contains("strict-transport-security"));
    let entries = h.audit().await;
    assert_eq!(entries.len(), before + 1);
    let ev = entries.last().unwrap().event().unwrap();
    assert_eq!(ev.source.as_deref(), Some("127.0.0.1"));

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// `GET /v1/collections` with the admin token on a new connection made with `cfg`; the
/// status, or the error if the connection or request failed.
async fn collections_over(
    s: &crate::net::Served,
    h: &Harness,
    cfg: Arc<ClientConfig>,
) -> Result<u16, String> {
    let stream = crate::net::tls(s.addr, None, cfg, std::time::Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut send = send;
    crate::net::get(&mut send, "/v1/collections", Some(&h.admin))
        .await
        .map(|(status, _, _)| status.as_u16())
        .map_err(|e| e.to_string())
}

/// A test vault served with client certificates required (or optional), and a client
/// certificate and key from the configured CA.
async fn served_with_client_ca(required: bool) -> (Harness, crate::net::Served, (String, String)) {
    use phivault_server::{ClientAuth, ServeOptions};
    let h = harness().await;
    let (ca, cert, key) = crate::net::client_pki();
    let ca_pem = ca.into_bytes();
    let auth = if required {
        ClientAuth::Required { ca_pem }
    } else {
        ClientAuth::Optional { ca_pem }
    };
    let s = crate::net::serve(h.router.clone(), ServeOptions::default(), auth).await;
    (h, s, (cert, key))
}

/// [`collections_over`] on HTTP/1.1, presenting `identity` (certificate, key) if given.
async fn collections_as(
    s: &crate::net::Served,
    h: &Harness,
    identity: Option<&(String, String)>,
) -> Result<u16, String> {
    let identity = identity.map(|(c, k)| (c.as_str(), k.as_str()));
    let cfg = crate::net::client_config(&s.ca_pem, &[b"http/1.1"], identity);
    collections_over(s, h, cfg).await
}

/// A client certificate and key from a CA the server does not trust.
fn stranger() -> (String, String) {
    let (_, cert, key) = crate::net::client_pki();
    (cert, key)
}

#[tokio::test]
async fn required_client_certificates_refuse_clients_without_one_and_the_subject_is_audited() {
    let (h, s, identity) = served_with_client_ca(true).await;
    let r = collections_as(&s, &h, None).await;
    assert!(r.is_err(), "served without a client certificate: {r:?}");
    let r = collections_as(&s, &h, Some(&stranger())).await;
    assert!(r.is_err(), "served with a certificate of another CA: {r:?}");
    // with one from the configured CA: served, and the subject is in the audit event
    let before = h.audit_count().await;
    assert_eq!(collections_as(&s, &h, Some(&identity)).await, Ok(200));
    let events = h.audit().await.split_off(before);
    assert_eq!(events.len(), 1);
    let ev = events[0].event().unwrap();
    assert_eq!(ev.action, "collection.list");
    assert_eq!(
        ev.source.as_deref(),
        Some("127.0.0.1 client_cert=CN=clinic-app,O=Example Clinic")
    );
}

#[tokio::test]
async fn optional_client_certificates_admit_clients_without_one() {
    let (h, s, identity) = served_with_client_ca(false).await;
    assert_eq!(collections_as(&s, &h, None).await, Ok(200));
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(ev.source.as_deref(), Some("127.0.0.1"));
    assert_eq!(collections_as(&s, &h, Some(&identity)).await, Ok(200));
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(
        ev.source.as_deref(),
        Some("127.0.0.1 client_cert=CN=clinic-app,O=Example Clinic")
    );
    // a certificate from another CA is refused even when certificates are optional
    let r = collections_as(&s, &h, Some(&stranger())).await;
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn a_client_ca_bundle_without_certificates_is_refused() {
    let (c, k) = cert();
    for ca in [&b""[..], b"not pem"] {
        let r = phivault_server::tls_server(
            &c,
            &k,
            &phivault_server::ClientAuth::Required {
                ca_pem: ca.to_vec(),
            },
        );
        assert!(matches!(
            r,
            Err(phivault_server::ServerError::InvalidClientCa)
        ));
    }
}

#[tokio::test]
async fn a_replaced_certificate_is_served_to_new_connections_and_open_ones_keep_working() {
    use phivault_server::{ClientAuth, ServeOptions};
    let h = harness().await;
    let s = crate::net::serve(h.router.clone(), ServeOptions::default(), ClientAuth::Off).await;
    let alpn: &[&[u8]] = &[b"http/1.1"];
    let old = crate::net::client_config(&s.ca_pem, alpn, None);
    let stream = crate::net::tls(s.addr, None, old.clone(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let mut open = crate::net::h1(stream).await;
    assert_eq!(crate::net::healthz(&mut open).await, 200);
    // a bad pair is refused and the current one stays
    let (new_cert, new_key) = crate::net::server_cert();
    let (_, unrelated_key) = crate::net::server_cert();
    assert!(
        s.swap
            .replace(new_cert.as_bytes(), unrelated_key.as_bytes())
            .is_err()
    );
    assert_eq!(collections_over(&s, &h, old.clone()).await, Ok(200));
    // the renewed pair is served to new handshakes ...
    s.swap
        .replace(new_cert.as_bytes(), new_key.as_bytes())
        .unwrap();
    // (a fresh client: one that connected before may resume its TLS session, which is fine)
    let old_only = crate::net::client_config(&s.ca_pem, alpn, None);
    assert!(
        collections_over(&s, &h, old_only).await.is_err(),
        "old certificate still served"
    );
    drop(old);
    let renewed = crate::net::client_config(new_cert.as_bytes(), alpn, None);
    let stream = crate::net::tls(
        s.addr,
        None,
        renewed.clone(),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let expected = CertificateDer::from_pem_slice(new_cert.as_bytes()).unwrap();
    assert_eq!(served, expected);
    // ... while the connection opened before keeps working
    for _ in 0..3 {
        assert_eq!(crate::net::healthz(&mut open).await, 200);
    }
}
