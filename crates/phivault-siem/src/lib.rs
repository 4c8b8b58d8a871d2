//! Streams the audit log to the SIEM the customer already runs: a JSONL file with size and
//! time rotation, syslog (RFC 5424) over TCP or TLS with octet-counted framing
//! (RFC 5425 / RFC 6587), or an HTTPS webhook signed with HMAC-SHA-256 (sent by
//! `phivault_client::webhook`, the vault's one outbound webhook). Events are encoded as OCSF
//! (`phivault_core::audit::ocsf`).
//!
//! Each sink keeps a cursor (the last delivered seq) in the store's `meta` table and moves
//! it only after a batch is delivered (written and flushed, or synced), so delivery is
//! at-least-once across restarts and crashes; a redelivered event carries the same
//! `metadata.uid` (`audit-<seq>`), so duplicates are identifiable. A sink reads the log
//! through read transactions and never blocks or drops appends: a sink that fails or lags
//! only falls behind, which [`SinkStatus`] reports (for `/readyz`, metrics and logs).
#![forbid(unsafe_code)]

mod sink;
mod syslog;
mod webhook;

pub use phivault_client::webhook::WebhookSecret;
pub use sink::{SinkConfig, SinkKind, SinkStatus, cursor_key, run_sink};
pub use syslog::{TlsSettings, frame_octet_counted, rfc5424};
pub use webhook::WebhookSettings;

/// Publishes one signed tree head (its JSON) to a syslog receiver as an RFC 5424 message
/// with MSGID `audit.tree_head`: a witness outside the database.
pub async fn publish_head_syslog(
    addr: &str,
    tls: Option<&TlsSettings>,
    hostname: &str,
    tree_size: u64,
    head_json: &str,
) -> Result<(), SiemError> {
    let msg = syslog::rfc5424_head(hostname, tree_size, head_json);
    let mut conn = syslog::connect(addr, tls).await?;
    syslog::send(&mut conn, &[frame_octet_counted(&msg)]).await
}

/// Publishes one signed tree head (its JSON) to the webhook, HMAC-signed like event batches.
pub async fn publish_head_webhook(
    w: &WebhookSettings,
    unix_time: i64,
    head_json: &str,
) -> Result<(), SiemError> {
    Ok(w.sender()
        .await?
        .post(unix_time, head_json.as_bytes())
        .await?)
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// The destination failed (connect, write, sync).
    #[error("sink i/o: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration or handshake failed.
    #[error("sink tls: {0}")]
    Tls(String),
    /// The webhook refused the delivery or could not be reached (after its retries).
    #[error("sink webhook: {0}")]
    Webhook(#[from] phivault_client::ClientError),
    /// Reading the log or the cursor failed.
    #[error("audit log: {0}")]
    Vault(#[from] phivault_core::VaultError),
}
