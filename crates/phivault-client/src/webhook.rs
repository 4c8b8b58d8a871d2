//! The one outbound webhook of phivault, used by break-glass alerts and by the SIEM webhook
//! sink (and its tree-head witness): a body POSTed over HTTPS only, signed, with a per-attempt
//! timeout and bounded retries with back-off.
//!
//! It lives in `phivault-client` because this is the crate that already makes outbound
//! HTTPS calls (reqwest over rustls with the ring provider, the private-CA and web-roots TLS
//! configurations below). `phivault-siem` depends on it rather than on an HTTP stack of its
//! own; the client depends only on the wire contract (`phivault-api`), never on the server
//! or the domain, so no layer is crossed in the wrong direction.
//!
//! # Signature
//!
//! When a secret is set, every request carries
//! `Phivault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 over "<t>.<body>">`
//! (the decimal timestamp, one full stop, the raw body bytes). A receiver recomputes the
//! HMAC with the shared secret, compares in constant time, and refuses a timestamp too far
//! from its own clock ([`verify`] does all three). Unknown `name=value` pairs are ignored,
//! so a later scheme can be sent beside `v1`.

mod signature;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;
use rustls::RootCertStore;

use crate::{ClientError, tls_config, tls_config_with_roots};

pub use signature::{SignatureError, WebhookSecret, sign, verify};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Phivault-Signature";

/// How far a receiver should accept a signature timestamp from its own clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// How often a delivery is attempted and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least one is made).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each later one.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt number `attempt` (0-based; the first has none).
    fn delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Everything about a webhook but its URL.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// PEM root certificate(s) to trust; `None` trusts the public web roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The signing key; `None` sends unsigned requests.
    pub secret: Option<WebhookSecret>,
    /// Retries on transport failures and 5xx answers.
    pub retry: RetryPolicy,
    /// How long one attempt may take end to end.
    pub timeout: Duration,
    /// How long connecting (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// Addresses to connect to instead of resolving the URL's host; the certificate is
    /// still checked against the host.
    pub connect_to: Vec<SocketAddr>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            ca_pem: None,
            secret: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            connect_to: Vec::new(),
        }
    }
}

/// Posts JSON documents to one HTTPS endpoint.
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    url: Url,
    secret: Option<WebhookSecret>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("url", &self.url.as_str())
            .field("secret", &self.secret)
            .field("retry", &self.retry)
            .finish()
    }
}

impl WebhookSender {
    /// A sender to `url` (https only), trusting `ca_pem` if given or else the public web
    /// roots, signing bodies with `secret` if given; default retries and timeouts.
    pub fn new(
        url: &str,
        ca_pem: Option<&[u8]>,
        secret: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        Self::with_options(
            url,
            WebhookOptions {
                ca_pem: ca_pem.map(<[u8]>::to_vec),
                secret: secret.map(WebhookSecret::new),
                ..WebhookOptions::default()
            },
        )
    }

    /// A sender to `url` (https only) configured by `options`.
    pub fn with_options(url: &str, options: WebhookOptions) -> Result<Self, ClientError> {
        let url = Url::parse(url).map_err(|_| ClientError::InvalidBaseUrl)?;
        if url.scheme() != "https" {
            return Err(ClientError::InvalidBaseUrl);
        }
        let tls = match &options.ca_pem {
            Some(pem) => tls_config(pem)?,
            None => tls_config_with_roots(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })?,
        };
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout);
        if let (Some(host), false) = (url.host_str(), options.connect_to.is_empty()) {
            builder = builder.resolve_to_addrs(host, &options.connect_to);
        }
        Ok(Self {
            http: builder.build()?,
            url,
            secret: options.secret,
            retry: options.retry,
        })
    }

    /// The signature header value for `body` sent at `timestamp`, if a secret is set.
    pub fn signature(&self, timestamp: i64, body: &[u8]) -> Option<String> {
        self.secret.as_ref().map(|s| sign(s, timestamp, body))
    }

    /// Posts `body` (JSON) signed at `timestamp` (unix seconds). Transport failures and 5xx
    /// answers are retried under the retry policy; any other non-2xx answer fails at once.
    pub async fn post(&self, timestamp: i64, body: &[u8]) -> Result<(), ClientError> {
        let mut last = ClientError::UnexpectedResponse { status: 0 };
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt)).await;
            }
            let mut req = self
                .http
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
            if let Some(sig) = self.signature(timestamp, body) {
                req = req.header(SIGNATURE_HEADER, sig);
            }
            match req.send().await {
                Ok(res) if res.status().is_success() => return Ok(()),
                Ok(res) if res.status().is_server_error() => {
                    last = ClientError::UnexpectedResponse {
                        status: res.status().as_u16(),
                    };
                }
                Ok(res) => {
                    return Err(ClientError::UnexpectedResponse {
                        status: res.status().as_u16(),
                    });
                }
                Err(e) => last = ClientError::Transport(e),
            }
        }
        Err(last)
    }
}
