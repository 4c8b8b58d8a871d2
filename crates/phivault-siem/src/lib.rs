//! Streams the audit log to the SIEM the customer already runs: a JSONL file with size and
//! time rotation, or syslog (RFC 5424) over TCP or TLS with octet-counted framing
//! (RFC 5425 / RFC 6587). Events are encoded as OCSF (`phivault_core::audit::ocsf`).
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

pub use sink::{SinkConfig, SinkKind, SinkStatus, cursor_key, run_sink};
pub use syslog::{TlsSettings, frame_octet_counted, rfc5424};

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// The destination failed (connect, write, sync).
    #[error("sink i/o: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration or handshake failed.
    #[error("sink tls: {0}")]
    Tls(String),
    /// Reading the log or the cursor failed.
    #[error("audit log: {0}")]
    Vault(#[from] phivault_core::VaultError),
}
