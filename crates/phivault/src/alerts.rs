//! Alert delivery for `serve`: every alert is logged, and posted to the configured HTTPS
//! webhook (the vault's one outbound webhook, `phivault_client::webhook`: signed, bounded
//! retries) in the background so that raising it never waits on the network.

use std::sync::Arc;

use phivault_client::webhook::WebhookSender;
use phivault_core::{Alert, AlertSink, Clock, LogAlerts, SystemClock};

/// Logs every alert and posts it to a webhook.
pub(crate) struct WebhookAlerts {
    sender: Arc<WebhookSender>,
    /// Dates the signature (the time of sending, which the receiver checks for freshness).
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookAlerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAlerts")
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

impl WebhookAlerts {
    /// Alerts to `sender`, on the current tokio runtime, signed at the wall-clock time.
    pub(crate) fn new(sender: WebhookSender) -> Self {
        Self::with_clock(sender, Arc::new(SystemClock))
    }

    /// Alerts to `sender`, signed at `clock`'s time.
    pub(crate) fn with_clock(sender: WebhookSender, clock: Arc<dyn Clock>) -> Self {
        Self {
            sender: Arc::new(sender),
            clock,
        }
    }
}

impl AlertSink for WebhookAlerts {
    fn alert(&self, alert: &Alert) {
        LogAlerts.alert(alert);
        let sender = self.sender.clone();
        let body = serde_json::to_vec(alert).unwrap_or_default();
        let kind = alert.kind.clone();
        let sent_at = self.clock.now().unix_timestamp();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = sender.post(sent_at, &body).await {
                    tracing::error!(%kind, error = %e, "alert webhook delivery failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_client::webhook::{DEFAULT_TOLERANCE, WebhookSecret, verify};
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTPS receiver on loopback: returns the request it got.
    async fn receiver() -> (String, Vec<u8>, tokio::sync::oneshot::Receiver<String>) {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let ca = cert.cert.pem().into_bytes();
        let mut tls =
            phivault_server::tls_config(&ca, cert.signing_key.serialize_pem().as_bytes()).unwrap();
        // This receiver reads HTTP/1.1 by hand, so it offers nothing else.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Mutex::new(Some(tx));
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut buf = vec![0u8; 16384];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("}") {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            tls.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
            }
        });
        (url, ca, rx)
    }

    #[tokio::test]
    async fn alerts_reach_the_webhook_signed() {
        let (url, ca, rx) = receiver().await;
        let sender = WebhookSender::new(&url, Some(&ca), Some(b"shared secret")).unwrap();
        let at = time::macros::datetime!(2026-01-01 00:00 UTC);
        let sink = WebhookAlerts::with_clock(sender, Arc::new(phivault_core::ManualClock::new(at)));
        sink.alert(&Alert {
            kind: "breakglass.opened".to_owned(),
            id: "ep-1".to_owned(),
            principal: "user-1".to_owned(),
            subject: Some("subj-1".to_owned()),
            at,
            until: Some(at + time::Duration::hours(1)),
        });
        let request = tokio::time::timeout(std::time::Duration::from_secs(10), rx)
            .await
            .unwrap()
            .unwrap();
        let lower = request.to_lowercase();
        assert!(request.starts_with("POST /hook"), "{request}");
        assert!(
            request.contains("\"kind\":\"breakglass.opened\""),
            "{request}"
        );
        let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
        let header = lower
            .lines()
            .find_map(|l| l.strip_prefix("phivault-signature: "))
            .unwrap();
        let secret = WebhookSecret::new(b"shared secret");
        let now = at.unix_timestamp() + 60;
        assert_eq!(
            verify(&secret, header, body.as_bytes(), now, DEFAULT_TOLERANCE),
            Ok(())
        );
        let wrong = WebhookSecret::new(b"another secret");
        assert!(verify(&wrong, header, body.as_bytes(), now, DEFAULT_TOLERANCE).is_err());
    }

    #[test]
    fn plain_http_webhooks_are_refused() {
        assert!(WebhookSender::new("http://127.0.0.1:1/x", None, None).is_err());
    }
}
