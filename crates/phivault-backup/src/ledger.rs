//! Collecting every erasure a restore must replay: a backup only knows the erasures made
//! before it was taken, so the ledgers of the other backups in its location, the erasures
//! in the location's journal segments and the ledger of the database being replaced are
//! merged in, and the restore destroys those subjects' keys again (crypto-shredding, so
//! an erased subject never comes back with an older backup).

use std::fs;
use std::path::{Path, PathBuf};

use phivault_core::backup::{self, ShredEntry};
use phivault_store_sqlite::journal::{self, JournalError};

use crate::{BACKUP_PREFIX, BackupError, LEDGER_PART};

/// A journal segment left out while collecting erasures because it is damaged.
#[derive(Debug, Clone)]
pub struct SkippedSegment {
    /// The segment file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub error: JournalError,
}

/// The merged erasures, one per subject at its earliest time.
#[derive(Debug, Clone, Default)]
pub struct Ledgers {
    /// The entries to replay.
    pub entries: Vec<ShredEntry>,
    /// Damaged segments whose erasures could not be read.
    pub skipped: Vec<SkippedSegment>,
}

/// Every shred ledger that may know of erasures after the backup in `dir`: the backup's
/// own, those of every other backup in the same location, every erasure in the location's
/// journal segments (after a restore's target time too), and `existing_db`'s.
pub fn collect_ledgers(dir: &Path, existing_db: Option<&Path>) -> Result<Ledgers, BackupError> {
    let mut all: Vec<ShredEntry> = Vec::new();
    let mut skipped = Vec::new();
    let mut files = vec![dir.join(LEDGER_PART)];
    if let Some(root) = dir.parent()
        && let Ok(entries) = fs::read_dir(root)
    {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX) {
                files.push(e.path().join(LEDGER_PART));
            }
        }
    }
    for f in files {
        if let Ok(bytes) = fs::read(&f) {
            let entries: Vec<ShredEntry> =
                serde_json::from_slice(&bytes).map_err(|e| BackupError::Ledger {
                    path: f.clone(),
                    reason: e.to_string(),
                })?;
            all.extend(entries);
        }
    }
    if let Some(root) = dir.parent()
        && let Ok(entries) = fs::read_dir(root.join(journal::JOURNAL_DIR))
    {
        for e in entries.flatten() {
            // Only whole, checked segments count here; a damaged one is named, and its
            // sound prefix's erasures are in the ledgers of later backups.
            match journal::read_segment(&e.path()) {
                Ok(seg) => all.extend(journal::shred_entries(&seg)?),
                Err(error) => skipped.push(SkippedSegment {
                    path: e.path(),
                    error,
                }),
            }
        }
    }
    if let Some(db) = existing_db
        && db.exists()
    {
        let replaced = phivault_store_sqlite::backup::read_shred_ledger(db).map_err(|e| {
            BackupError::Ledger {
                path: db.to_owned(),
                reason: e.to_string(),
            }
        })?;
        all.extend(replaced);
    }
    Ok(Ledgers {
        entries: backup::merge_ledgers(all),
        skipped,
    })
}
