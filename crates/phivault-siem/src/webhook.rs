//! The HTTPS webhook: each batch is one `POST` of a JSON array of OCSF events, signed with
//! HMAC-SHA-256 over `timestamp + "." + body` (header `Phivault-Signature:
//! t=<unix seconds>,v1=<hex>`), so the receiver can check origin, integrity and freshness.
//! A minimal HTTP/1.1 client over rustls (one connection per batch, `Connection: close`):
//! this crate stays free of the HTTP stacks that only the edge crates may use. Only a 2xx
//! answer moves the cursor.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::SiemError;
use crate::syslog::{TlsSettings, connect_stream};

/// Where and how a webhook delivers.
#[derive(Clone)]
pub struct WebhookSettings {
    /// `host:port` to connect to.
    pub addr: String,
    /// The request path, e.g. `/ingest/phivault`.
    pub path: String,
    /// TLS settings (the webhook is HTTPS only).
    pub tls: TlsSettings,
    /// The shared HMAC key.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("addr", &self.addr)
            .field("path", &self.path)
            .field("tls", &self.tls)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The signature header value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

pub(crate) async fn post(
    w: &WebhookSettings,
    timestamp: i64,
    body: &[u8],
) -> Result<(), SiemError> {
    let mut stream = connect_stream(&w.addr, &w.tls).await?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nPhivault-Signature: {}\r\nConnection: close\r\n\r\n",
        w.path,
        w.tls.server_name,
        body.len(),
        signature(&w.secret, timestamp, body),
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 4096 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&answer);
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(0);
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(SiemError::Io(std::io::Error::other(format!(
            "webhook answered {code}"
        ))))
    }
}
