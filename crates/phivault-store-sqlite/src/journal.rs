//! Point-in-time recovery: a continuous journal of committed changes, one segment per base
//! backup, written by the group-commit writer and replayed onto that base by a restore.
//!
//! Each write batch runs under a SQLite session (the session extension): just before the
//! batch commits, the session's changeset (the net row changes of the batch: records as
//! ciphertext, keys wrapped, audit rows, exactly what the database holds) is taken; after
//! the COMMIT it is appended to the segment with one `write()`, and only then are the
//! batch's callers answered. The page cache keeps an appended entry across a crash of the
//! process (kill -9); the segment is fsynced at most every [`JournalConfig::rpo`] (and when
//! the writer falls idle), which bounds what a lost machine loses.
//!
//! A segment starts atomically with its base snapshot: the writer takes the write lock,
//! pins a read transaction on another connection (the snapshot is that state), and switches
//! to the new segment before the next batch. Writes by another process are not seen by the
//! session; the writer notices them (`PRAGMA data_version` changes under its write lock),
//! ends the segment there and reports that a new base is needed ([`Journal::needs_base`]).
//!
//! Segment file (`journal/<base backup id>.pvj` under the backup location):
//! ```text
//! "PVJRNL01" | u32 LE header length | header JSON {format, backup_id, schema_version, started_at}
//! entry*:  u32 LE body length | u32 LE !body length | body | SHA-256 (32 bytes)
//! body:    u64 LE seq | i64 LE commit time (Unix ns, store clock) | changeset bytes
//! hash:    SHA-256(entry domain || previous hash || body); the first entry's previous
//!          hash is SHA-256(header domain || header JSON), which binds the segment to its base.
//! ```
//! A final entry cut short (a crash during the append, or zeros after a power loss) is
//! reported and ignored; a hash, sequence or length mismatch anywhere is corruption.
//!
//! This file owns the configuration, the [`Journal`] handle and the base snapshot; the
//! `segment` module writes segments and `read` parses and replays them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use phivault_core::{Clock, StoreError};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::backup::{SnapshotInfo, schema_version, table_counts};
use crate::create_private;
use crate::error::map_err;
use crate::writer::Job;

mod read;
mod segment;

pub use read::{
    JournalEntry, JournalError, ReplayReport, Segmented, parse_segment, read_segment, replay,
    shred_entries,
};
pub(crate) use segment::Segment;

/// The folder of journal segments inside a backup location.
pub const JOURNAL_DIR: &str = "journal";
/// Segment files end with this.
pub const JOURNAL_EXT: &str = "pvj";
/// The default recovery point: at most this much of committed writes is not yet fsynced.
pub const DEFAULT_RPO: Duration = Duration::from_secs(1);

const MAGIC: &[u8; 8] = b"PVJRNL01";
const HEADER_DOMAIN: &[u8] = b"phivault-journal-header-v1\0";
const ENTRY_DOMAIN: &[u8] = b"phivault-journal-entry-v1\0";
const FORMAT: u64 = 1;
/// seq + commit time.
const BODY_FIXED: usize = 16;
/// No batch changeset comes near this; a larger length is corruption, not a big entry.
const MAX_BODY: u32 = 1 << 30;

/// Where and how often the journal is written.
#[derive(Clone)]
pub struct JournalConfig {
    /// The backup location; segments go to its `journal/` folder.
    pub dir: PathBuf,
    /// The longest time an appended entry waits for its fsync (zero: fsync every entry).
    pub rpo: Duration,
    /// The clock that stamps commit times (the vault's clock).
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for JournalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalConfig")
            .field("dir", &self.dir)
            .field("rpo", &self.rpo)
            .finish_non_exhaustive()
    }
}

/// The path of the segment that continues the base backup `backup_id`.
pub fn segment_path(backup_dir: &Path, backup_id: &str) -> PathBuf {
    backup_dir
        .join(JOURNAL_DIR)
        .join(format!("{backup_id}.{JOURNAL_EXT}"))
}

/// The journal of one store: its configuration and the writer's state as others see it.
/// Opened with [`crate::SqliteStore::open_with_journal`]; inactive until the first
/// [`Journal::start_segment`].
pub struct Journal {
    pub(crate) config: JournalConfig,
    /// The writer's queue while the store is open.
    pub(crate) jobs: Mutex<Option<mpsc::Sender<Job>>>,
    pub(crate) needs_base: AtomicBool,
    pub(crate) entries: AtomicU64,
    pub(crate) segment: Mutex<Option<String>>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("config", &self.config)
            .field("needs_base", &self.needs_base())
            .field("segment", &self.segment())
            .finish_non_exhaustive()
    }
}

fn unavailable(what: impl Into<String>) -> StoreError {
    StoreError::Unavailable(what.into())
}

impl Journal {
    /// A journal that starts inactive (needing a base).
    pub fn new(config: JournalConfig) -> Arc<Journal> {
        Arc::new(Journal {
            config,
            jobs: Mutex::new(None),
            needs_base: AtomicBool::new(true),
            entries: AtomicU64::new(0),
            segment: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// Whether no segment is being written (none started yet, or the last one ended because
    /// another process wrote to the database or an append failed): take a base backup.
    pub fn needs_base(&self) -> bool {
        self.needs_base.load(Ordering::Relaxed)
    }

    /// Entries appended since the store was opened.
    pub fn entries(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// The base backup id of the segment being written.
    pub fn segment(&self) -> Option<String> {
        self.segment
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let jobs = jobs
            .as_ref()
            .ok_or_else(|| unavailable("the journaled store is closed"))?;
        jobs.send(job)
            .map_err(|_| unavailable("sqlite writer thread is not running"))
    }

    /// Writes a base snapshot to `dest` (a new owner-only file) and starts the segment
    /// `backup_id` exactly at that state: every batch committed after the snapshot goes to
    /// the new segment, every one before it is in the snapshot.
    pub async fn start_segment(
        &self,
        dest: &Path,
        backup_id: &str,
    ) -> Result<SnapshotInfo, StoreError> {
        if dest.exists() {
            return Err(unavailable("the snapshot file already exists"));
        }
        let (to, pinned) = oneshot::channel();
        self.send(Job::StartSegment {
            backup_id: backup_id.to_owned(),
            reply: to,
        })?;
        let pinned = pinned
            .await
            .unwrap_or_else(|_| Err(unavailable("sqlite writer thread is not running")))?;
        let dest = dest.to_owned();
        let copied = tokio::task::spawn_blocking(move || copy_pinned(&pinned, &dest))
            .await
            .unwrap_or_else(|_| Err(unavailable("the snapshot task panicked")));
        if copied.is_err() {
            // The segment would continue a base that does not exist.
            let _ = self.stop_segment().await;
        }
        copied
    }

    /// Ends the current segment (synced) and marks the journal as needing a new base, e.g.
    /// after the base backup that started it failed.
    pub async fn stop_segment(&self) -> Result<(), StoreError> {
        let (to, done) = oneshot::channel();
        self.send(Job::StopSegment(to))?;
        done.await
            .unwrap_or_else(|_| Err(unavailable("sqlite writer thread is not running")))
    }
}

/// Copies the state pinned by `reader`'s open read transaction into `dest` with SQLite's
/// backup API in one step (the read transaction keeps it one committed state).
fn copy_pinned(reader: &Connection, dest: &Path) -> Result<SnapshotInfo, StoreError> {
    create_private(dest)?;
    let outcome = (|| {
        let mut dst = Connection::open(dest).map_err(map_err)?;
        {
            let backup = rusqlite::backup::Backup::new(reader, &mut dst).map_err(map_err)?;
            match backup.step(-1).map_err(map_err)? {
                rusqlite::backup::StepResult::Done => {}
                _ => {
                    return Err(unavailable(
                        "the base snapshot did not complete in one step",
                    ));
                }
            }
        }
        // The copy carries the source's WAL flag; a backup part is one self-contained file.
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(map_err)?;
        Ok(())
    })();
    let _ = reader.execute_batch("ROLLBACK");
    outcome?;
    Ok(SnapshotInfo {
        counts: table_counts(dest)?,
        schema_version: schema_version(dest)?,
    })
}

#[cfg(test)]
mod tests;
