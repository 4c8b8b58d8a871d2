//! Outgoing HTTPS webhooks (alerts, later SIEM and witnesses): JSON posted with bounded
//! retries, trusting either a given root certificate or the public web roots, with an
//! optional HMAC-SHA-256 signature header so the receiver can check the sender.

use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use reqwest::Url;
use rustls::RootCertStore;
use zeroize::Zeroizing;

use crate::{ClientError, tls_config, tls_config_with_roots};

/// The header that carries `sha256=<hex HMAC of the body>` when a secret is set.
pub const SIGNATURE_HEADER: &str = "X-Phivault-Signature";

/// Posts JSON documents to one HTTPS endpoint.
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    url: Url,
    secret: Option<Arc<Zeroizing<Vec<u8>>>>,
    attempts: u32,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("url", &self.url.as_str())
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl WebhookSender {
    /// A sender to `url` (https only), trusting `ca_pem` if given or else the public web
    /// roots, signing bodies with `secret` if given.
    pub fn new(
        url: &str,
        ca_pem: Option<&[u8]>,
        secret: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let url = Url::parse(url).map_err(|_| ClientError::InvalidBaseUrl)?;
        if url.scheme() != "https" {
            return Err(ClientError::InvalidBaseUrl);
        }
        let tls = match ca_pem {
            Some(pem) => tls_config(pem)?,
            None => {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                tls_config_with_roots(roots)?
            }
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            url,
            secret: secret.map(|s| Arc::new(Zeroizing::new(s.to_vec()))),
            attempts: 3,
        })
    }

    /// The signature header value for `body`, if a secret is set.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        let secret = self.secret.as_ref()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
        mac.update(body);
        Some(format!(
            "sha256={}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    /// Posts `body` as JSON; retries on transport errors and 5xx with a short back-off.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|_| ClientError::InvalidHeader)?;
        let mut last = None;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let mut req = self
                .http
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            if let Some(sig) = self.signature(&bytes) {
                req = req.header(SIGNATURE_HEADER, sig);
            }
            match req.send().await {
                Ok(res) if res.status().is_success() => return Ok(()),
                Ok(res) if res.status().is_server_error() => {
                    last = Some(ClientError::UnexpectedResponse {
                        status: res.status().as_u16(),
                    });
                }
                Ok(res) => {
                    return Err(ClientError::UnexpectedResponse {
                        status: res.status().as_u16(),
                    });
                }
                Err(e) => last = Some(ClientError::Transport(e)),
            }
        }
        Err(last.unwrap_or(ClientError::UnexpectedResponse { status: 0 }))
    }
}
