//! Backups of a SQLite vault: taking a signed backup while the vault serves, verifying
//! one (manifest, parts, integrity, audit log, journal, sample decrypts), restoring one
//! (journal replay to a point in time, then every known erasure replayed), pruning a
//! location by retention, exporting the keyring to keep apart from the backups, and the
//! schedule `serve` runs (data backup plan, 45 CFR 164.308(a)(7)(ii)(A)).
//!
//! A backup is a directory `backup-<UTC time>-<id>/` under a backup location holding:
//! - `phivault.db`: a consistent snapshot of the whole store (records as ciphertext,
//!   wrapped data keys, identity, the audit log and its tree heads);
//! - `shred-ledger.json`: the subjects erased so far, so a restore of any older backup in
//!   the same location replays erasures that happened after it;
//! - `phivault.toml`: the configuration (no secrets), when the caller hands one over;
//! - `manifest.json`: vault id, time, size and SHA-256 of every part, the audit tree head
//!   and row counts at backup time, signed with the vault's Ed25519 audit key
//!   ([`phivault_core::backup::BackupManifest`]).
//!
//! The keyring is never in a backup. Point-in-time recovery: a backup taken through the
//! store's [`Journal`] starts a journal segment `journal/<backup id>.pvj` beside it, so a
//! restore to a time T replays the newest base before T plus its segment.
//!
//! This crate prints nothing and knows no command line: long work reports through
//! [`Progress`], and every failure is a [`BackupError`] with a stable code.
#![forbid(unsafe_code)]

mod create;
mod error;
mod files;
mod keys;
mod ledger;
mod location;
mod restore;
pub mod sample;
mod schedule;
mod verify;

use std::sync::Arc;

use phivault_core::RequestMeta;

pub use create::{Created, create};
pub use error::BackupError;
pub use keys::{MIN_EXPORT_PASSPHRASE_CHARS, export_keyring};
pub use ledger::{Ledgers, SkippedSegment, collect_ledgers};
pub use location::{locate, newest, prune};
pub use restore::{RestorePlan, Restored, Target};
pub use schedule::{BackupHealth, Round, Schedule, ScheduleObserver, Scheduler};
pub use verify::{VerifyReport, verify};

pub use phivault_core::backup::DEFAULT_RETENTION_DAYS;
pub use phivault_store_sqlite::journal::Journal;

/// The store part's file name.
pub const DB_PART: &str = "phivault.db";
/// The shred-ledger part's file name.
pub const LEDGER_PART: &str = "shred-ledger.json";
/// The configuration part's file name (the data directory's config file name too).
pub const CONFIG_PART: &str = "phivault.toml";
/// Backup directories start with this.
pub const BACKUP_PREFIX: &str = "backup-";

/// Where long work says what it is doing; the command line shows it as a spinner.
pub trait Progress: Send + Sync {
    /// The step now running, e.g. "hashing parts".
    fn message(&self, text: &str);
}

/// A [`Progress`] that shows nothing (scheduled backups, JSON output).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn message(&self, _text: &str) {}
}

/// A shared [`Progress`]: work moved onto a blocking thread reports through it too.
pub type SharedProgress = Arc<dyn Progress>;

/// Request metadata for an operator action, so its audit events are recognisable.
fn operator_meta(action: &str) -> RequestMeta {
    RequestMeta {
        request_id: format!("cli-{action}-{}", uuid::Uuid::new_v4()),
        source: Some("local".to_owned()),
    }
}

/// A time as RFC 3339, the form messages and reports use.
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
