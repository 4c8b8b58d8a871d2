//! The accept loop: TCP connections become TLS connections become HTTP/1.1 or HTTP/2
//! connections (by ALPN), under the limits of [`ServeOptions`]: a cap on open connections
//! (in all and per source address), handshake, header, first-request and body read
//! timeouts (slowloris), and HTTP/2 stream, header-list and reset-flood limits, all from
//! hyper's own settings. There is no plaintext listener: PHI never crosses the network
//! unencrypted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;
use tower_http::timeout::DeadlineBody;

use crate::error::ServerError;
use crate::tls::certificate_subject;

/// The limits of the accept loop. The defaults are safe for a server facing the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Connections open at once; at the cap the loop stops accepting until one closes.
    pub max_connections: usize,
    /// Connections open at once from one source address (0: no per-address cap); more are
    /// closed as soon as they are accepted, so one client cannot take every slot.
    pub max_connections_per_address: usize,
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time to send a request's headers once they have begun (HTTP/1.1), and to send a
    /// first request at all on a new connection (both protocols). A connection idle after
    /// its first request is bounded by the connection caps, not by this.
    pub header_read_timeout: Duration,
    /// Time, from the request headers, to send the whole request body.
    pub body_read_timeout: Duration,
    /// Concurrent requests (HTTP/2 streams) on one connection; HTTP/1.1 has one at a time.
    pub max_streams_per_connection: u32,
    /// Largest request header section (HTTP/1.1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: u32,
    /// Interval of HTTP/2 keep-alive pings; a peer that does not answer within the same
    /// time is disconnected.
    pub keep_alive: Duration,
    /// Streams a client may open and reset before the server accepted them (the HTTP/2
    /// "rapid reset" flood, CVE-2023-44487); above it the connection ends with GOAWAY.
    pub max_pending_reset_streams: usize,
    /// Streams the server may reset because of client errors on one connection before
    /// it ends the connection with GOAWAY.
    pub max_error_reset_streams: usize,
    /// How long shutdown waits for in-flight requests before dropping connections.
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_address: 64,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            max_streams_per_connection: 100,
            max_header_bytes: 32 * 1024,
            keep_alive: Duration::from_secs(30),
            max_pending_reset_streams: 20,
            max_error_reset_streams: 256,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The subject of the client certificate verified on a connection, placed in the
/// extensions of each of its requests (and from there into each audit event's source).
#[derive(Debug, Clone)]
pub(crate) struct ClientCertSubject(pub(crate) String);

/// Open connections per source address.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One open connection counted in [`PerAddress`]; dropping it uncounts it.
struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n = n.saturating_add(1);
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = (self.0).0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// Serves `router` over TLS on `listener` with the default [`ServeOptions`]; see
/// [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with(listener, tls, router, ServeOptions::default(), shutdown).await
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then stops accepting
/// and lets in-flight requests finish (up to the drain timeout). A failed or slow
/// handshake drops only that connection. Each request carries the peer address as
/// `ConnectInfo<SocketAddr>`, which becomes the audit event's source, and the verified
/// client certificate's subject, if any.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let conn = Arc::new(ConnConfig::new(TlsAcceptor::from(tls), router, &options));
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_address.take(peer.ip(), options.max_connections_per_address) else {
            metrics::counter!("phivault_connections_refused_total", "limit" => "per_address")
                .increment(1);
            tracing::debug!(%peer, "connection refused: too many from this address");
            drop(tcp);
            continue;
        };
        let conn = conn.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            conn.serve(tcp, peer, watcher).await;
            drop((slot, permit));
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown drain timed out; remaining connections dropped");
    }
    Ok(())
}

/// What every connection needs: the TLS acceptor, the router and the protocol builders.
struct ConnConfig {
    acceptor: TlsAcceptor,
    router: Router,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    handshake_timeout: Duration,
    first_request_timeout: Duration,
    body_read_timeout: Duration,
}

impl ConnConfig {
    fn new(acceptor: TlsAcceptor, router: Router, o: &ServeOptions) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(o.header_read_timeout)
            .max_header_size(o.max_header_bytes as usize)
            .max_buf_size((o.max_header_bytes as usize).max(8192));
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(o.max_streams_per_connection)
            .max_header_list_size(o.max_header_bytes)
            .max_pending_accept_reset_streams(o.max_pending_reset_streams)
            .max_local_error_reset_streams(o.max_error_reset_streams)
            .keep_alive_interval(o.keep_alive)
            .keep_alive_timeout(o.keep_alive);
        Self {
            acceptor,
            router,
            http1: h1,
            http2: h2,
            handshake_timeout: o.handshake_timeout,
            first_request_timeout: o.header_read_timeout,
            body_read_timeout: o.body_read_timeout,
        }
    }

    async fn serve(&self, tcp: TcpStream, peer: SocketAddr, watcher: Watcher) {
        let stream =
            match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
        let (_, session) = stream.get_ref();
        let subject = session
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(certificate_subject)
            .map(ClientCertSubject);
        let h2 = session.alpn_protocol() == Some(b"h2");
        let first_request = Arc::new(Notify::new());
        let service = {
            let (router, first_request, deadline) = (
                self.router.clone(),
                first_request.clone(),
                self.body_read_timeout,
            );
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                first_request.notify_one();
                let mut req = req.map(|body| DeadlineBody::new(deadline, body));
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                if let Some(s) = &subject {
                    req.extensions_mut().insert(s.clone());
                }
                let router = router.clone();
                async move { Ok::<_, Infallible>(infallible(router.oneshot(req).await)) }
            })
        };
        let served = self.run(stream, h2, service, watcher);
        // A connection that never sends a request is closed; HTTP/1.1 has its own header
        // timeout, HTTP/2 has none before the first stream.
        let idle = async {
            if tokio::time::timeout(self.first_request_timeout, first_request.notified())
                .await
                .is_ok()
            {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = served => if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            },
            () = idle => tracing::debug!(%peer, "no request in time; connection closed"),
        }
    }

    async fn run<S>(
        &self,
        stream: TlsStream<TcpStream>,
        h2: bool,
        service: S,
        watcher: Watcher,
    ) -> Result<(), hyper::Error>
    where
        S: hyper::service::Service<
                hyper::Request<Incoming>,
                Response = axum::response::Response,
                Error = Infallible,
            > + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let io = TokioIo::new(stream);
        if h2 {
            watcher
                .watch(self.http2.serve_connection(io, service))
                .await
        } else {
            watcher
                .watch(self.http1.serve_connection(io, service))
                .await
        }
    }
}

/// The value of a `Result` that cannot fail, without an `unwrap`.
fn infallible<T>(r: Result<T, Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(never) => match never {},
    }
}
