//! Socket-level helpers: a server on loopback with chosen limits and client-certificate
//! settings, TLS clients (optionally from another loopback address, optionally with a
//! client certificate), HTTP/1.1 and HTTP/2 clients, and a probe that times one request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use phivault_server::{CertificateSwap, ClientAuth, ServeOptions};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;

/// A self-signed server certificate for `localhost`: (certificate PEM, key PEM).
pub(crate) fn server_cert() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// A client CA and one client certificate it issued for `CN=clinic-app, O=Example
/// Clinic`: (CA PEM, client certificate PEM, client key PEM).
pub(crate) fn client_pki() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Example Client CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["clinic-app".to_owned()]).unwrap();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::OrganizationName, "Example Clinic");
    leaf.distinguished_name
        .push(DnType::CommonName, "clinic-app");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = leaf.signed_by(&key, &ca).unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

/// A server on a loopback port; dropping it stops the server.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    /// The certificate to trust.
    pub(crate) ca_pem: Vec<u8>,
    /// The handle that replaces the served certificate.
    pub(crate) swap: CertificateSwap,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Serves `router` with `options` and `client_auth` on a fresh loopback port.
pub(crate) async fn serve(
    router: Router,
    options: ServeOptions,
    client_auth: ClientAuth,
) -> Served {
    let (cert, key) = server_cert();
    let (tls, swap) =
        phivault_server::tls_server(cert.as_bytes(), key.as_bytes(), &client_auth).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(phivault_server::serve_with(
        listener,
        Arc::new(tls),
        router,
        options,
        async {
            let _ = rx.await;
        },
    ));
    Served {
        addr,
        ca_pem: cert.into_bytes(),
        swap,
        stop: Some(tx),
    }
}

/// A TLS client trusting `ca_pem`, offering `alpn`, presenting `identity` (certificate
/// PEM, key PEM) if given.
pub(crate) fn client_config(
    ca_pem: &[u8],
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match identity {
        Some((cert, key)) => b
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A TCP connection to `addr`, from the loopback address `from` if given (Linux answers
/// every 127.0.0.0/8 address), so tests can play several clients.
pub(crate) async fn tcp(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

/// A TLS connection, within `within`.
pub(crate) async fn tls(
    addr: SocketAddr,
    from: Option<IpAddr>,
    cfg: Arc<ClientConfig>,
    within: Duration,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connect = async {
        let tcp = tcp(addr, from).await?;
        tokio_rustls::TlsConnector::from(cfg)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    };
    tokio::time::timeout(within, connect)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

/// An HTTP/1.1 client on an open TLS connection.
pub(crate) async fn h1(
    stream: TlsStream<TcpStream>,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// `GET path` on an HTTP/1.1 client: status and body.
pub(crate) async fn get(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
    token: Option<&str>,
) -> hyper::Result<(StatusCode, hyper::HeaderMap, Bytes)> {
    send.ready().await?;
    let mut b = hyper::Request::get(path).header("host", "localhost");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let res = send.send_request(b.body(Empty::new()).unwrap()).await?;
    let (parts, body) = res.into_parts();
    Ok((
        parts.status,
        parts.headers,
        body.collect().await?.to_bytes(),
    ))
}

/// `GET /healthz` on an HTTP/1.1 client: the status.
pub(crate) async fn healthz(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
) -> StatusCode {
    get(send, "/healthz", None).await.unwrap().0
}

/// An HTTP/2 client (the `h2` crate) on a new connection, its connection task running;
/// the task's result says how the server ended the connection.
pub(crate) async fn h2_client(
    addr: SocketAddr,
    ca_pem: &[u8],
    from: Option<IpAddr>,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let stream = tls(
        addr,
        from,
        client_config(ca_pem, &[b"h2"], None),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let (send, conn) = h2::client::handshake(stream).await.unwrap();
    (send, tokio::spawn(conn))
}

/// The latency of one normal client's request: a new TLS connection, `GET /healthz`,
/// answered 200.
pub(crate) async fn probe(addr: SocketAddr, ca_pem: &[u8]) -> Duration {
    let started = Instant::now();
    let stream = tls(
        addr,
        None,
        client_config(ca_pem, &[b"http/1.1"], None),
        Duration::from_secs(10),
    )
    .await
    .expect("a normal client connects");
    let mut send = h1(stream).await;
    let (status, _, _) = get(&mut send, "/healthz", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    started.elapsed()
}

/// Median and maximum of `count` probes taken `every` apart.
pub(crate) async fn probes_during(
    addr: SocketAddr,
    ca_pem: &[u8],
    count: usize,
    every: Duration,
) -> (Duration, Duration) {
    let mut all = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        all.push(probe(addr, ca_pem).await);
        tokio::time::sleep(every).await;
    }
    all.sort();
    (all[all.len() / 2], all[all.len() - 1])
}

/// Milliseconds, for printed measurements.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
