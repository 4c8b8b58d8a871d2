//! The HTTPS webhook sink's settings: each batch is one `POST` of a JSON array of OCSF
//! events, sent and signed by the vault's one outbound webhook (`phivault_client::webhook`,
//! header `Phivault-Signature: t=<unix seconds>,v1=<hex>`), so the receiver can check
//! origin, integrity and freshness. Only a 2xx answer moves the cursor.

use std::net::{IpAddr, SocketAddr};

use phivault_client::webhook::{WebhookOptions, WebhookSecret, WebhookSender};

use crate::SiemError;
use crate::syslog::TlsSettings;

/// Where and how a webhook delivers.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `host:port` to connect to.
    pub addr: String,
    /// The request path, e.g. `/ingest/phivault`.
    pub path: String,
    /// TLS settings (the webhook is HTTPS only): the CA to trust and the name the
    /// receiver's certificate must carry.
    pub tls: TlsSettings,
    /// The shared HMAC key (zeroized, redacted in `Debug`).
    pub secret: WebhookSecret,
}

impl WebhookSettings {
    /// A sender for these settings. The URL names the certificate's host, and the
    /// connection goes to `addr` (resolved now, so a sender is rebuilt after a failure).
    pub(crate) async fn sender(&self) -> Result<WebhookSender, SiemError> {
        let connect_to: Vec<SocketAddr> = tokio::net::lookup_host(&self.addr).await?.collect();
        let port = connect_to.first().map_or(443, SocketAddr::port);
        let host = match self.tls.server_name.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.tls.server_name.clone(),
        };
        let url = format!("https://{host}:{port}{}", self.path);
        let options = WebhookOptions {
            ca_pem: Some(self.tls.ca_pem.clone()),
            secret: Some(self.secret.clone()),
            connect_to,
            ..WebhookOptions::default()
        };
        Ok(WebhookSender::with_options(&url, options)?)
    }
}
