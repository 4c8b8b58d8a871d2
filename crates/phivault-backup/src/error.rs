//! [`BackupError`]: every way taking, checking or restoring a backup fails, each with a
//! stable code for scripts and logs. Messages name files and backups, never record data.

use std::path::PathBuf;

use phivault_core::backup::ManifestError;
use phivault_core::crypto::CryptoError;
use phivault_core::{StoreError, VaultError};
use phivault_store_sqlite::journal::JournalError;
use time::OffsetDateTime;

use crate::rfc3339;

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file or directory could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The vault refused or failed (audit append, reading the snapshot).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The SQLite store of a snapshot failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be unwrapped, or a record or keyring not sealed or opened.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A manifest is unreadable, too new, unsafe or wrongly signed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A shred ledger file is not a ledger.
    #[error("reading the shred ledger {path}: {reason}")]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal segment of a backup is damaged.
    #[error("checking the journal segment: {0}")]
    Segment(#[source] JournalError),
    /// A backup names a journal segment that is not there.
    #[error(
        "the journal segment {0} of this backup is missing; restore with --base-only \
         to recover the backup's own state"
    )]
    SegmentMissing(PathBuf),
    /// The journal segment beside a backup continues another backup.
    #[error("the journal segment belongs to another backup")]
    ForeignSegment,
    /// A point in time before the backup was taken.
    #[error("--to-time {} is before this backup was taken ({}); restore an older backup", rfc3339(*.target), rfc3339(*.taken))]
    BeforeBackup {
        /// The requested time.
        target: OffsetDateTime,
        /// When the backup was taken.
        taken: OffsetDateTime,
    },
    /// A point in time asked of a backup without a journal.
    #[error(
        "this backup has no journal, so it restores only to its own time ({}); drop --to-time",
        rfc3339(*.0)
    )]
    NoJournal(OffsetDateTime),
    /// A backup directory given without the location around it.
    #[error("the backup directory has no parent location")]
    NoLocation,
    /// No backup in a location fits the request.
    #[error("refusing to restore: no backup in {}{}", .location.display(),
        .before.map_or_else(String::new, |t| format!(" was taken at or before {}", rfc3339(t))))]
    NoBackup {
        /// The backup location.
        location: PathBuf,
        /// The target time, if one was given.
        before: Option<OffsetDateTime>,
    },
    /// A backup that failed its checks is never restored.
    #[error("refusing to restore: {0}")]
    Refused(String),
    /// The restore target already holds a database.
    #[error("{} already holds a vault database; refusing to overwrite it without --force", .0.display())]
    TargetExists(PathBuf),
    /// The snapshot of the store could not be taken.
    #[error("taking the snapshot: {0}")]
    Snapshot(#[source] StoreError),
    /// The snapshot's write-ahead log still held pages after its checkpoint.
    #[error("the snapshot's WAL was not checkpointed")]
    SnapshotWal,
    /// The export passphrase is too short to protect a keyring copy.
    #[error(
        "the export passphrase must have at least {} characters",
        crate::MIN_EXPORT_PASSPHRASE_CHARS
    )]
    WeakPassphrase,
    /// A task on a blocking thread panicked or was cancelled.
    #[error("the {0} task failed")]
    Task(&'static str),
}

impl BackupError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Io { .. } => "backup_io",
            BackupError::Vault(e) => e.code(),
            BackupError::Store(_) => "storage_unavailable",
            BackupError::Crypto(_) => "backup_crypto",
            BackupError::Manifest(_) => "backup_manifest_invalid",
            BackupError::Ledger { .. } => "backup_ledger_invalid",
            BackupError::Segment(_) => "backup_journal_corrupt",
            BackupError::SegmentMissing(_) => "backup_journal_missing",
            BackupError::ForeignSegment => "backup_journal_foreign",
            BackupError::BeforeBackup { .. } => "backup_target_before_base",
            BackupError::NoJournal(_) => "backup_no_journal",
            BackupError::NoLocation => "backup_no_location",
            BackupError::NoBackup { .. } => "backup_not_found",
            BackupError::Refused(_) => "backup_refused",
            BackupError::TargetExists(_) => "backup_target_exists",
            BackupError::Snapshot(_) => "backup_snapshot_failed",
            BackupError::SnapshotWal => "backup_snapshot_incomplete",
            BackupError::WeakPassphrase => "backup_weak_passphrase",
            BackupError::Task(_) => "backup_task_failed",
        }
    }

    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem_and_codes_are_stable() {
        let e = BackupError::TargetExists(PathBuf::from("/v/phivault.db"));
        assert_eq!(
            e.to_string(),
            "/v/phivault.db already holds a vault database; refusing to overwrite it without --force"
        );
        assert_eq!(e.code(), "backup_target_exists");
        let e = BackupError::NoBackup {
            location: PathBuf::from("/b"),
            before: Some(OffsetDateTime::UNIX_EPOCH),
        };
        assert_eq!(
            e.to_string(),
            "refusing to restore: no backup in /b was taken at or before 1970-01-01T00:00:00Z"
        );
        let e = BackupError::NoBackup {
            location: PathBuf::from("/b"),
            before: None,
        };
        assert_eq!(e.to_string(), "refusing to restore: no backup in /b");
    }
}
