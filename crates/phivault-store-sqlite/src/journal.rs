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

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use phivault_core::backup::ShredEntry;
use phivault_core::crypto::sha256;
use phivault_core::{Clock, StoreError};
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::hooks::Action;
use rusqlite::session::{ChangesetIter, ConflictAction, ConflictType};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::backup::{SnapshotInfo, schema_version, table_counts};
use crate::create_private;
use crate::error::map_err;
use crate::writer::Job;

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

/// The segment being appended to (writer thread only).
pub(crate) struct Segment {
    file: File,
    seq: u64,
    prev: [u8; 32],
    last_nanos: i64,
    dirty: bool,
    synced_at: Instant,
}

fn io_err(what: &str, e: std::io::Error) -> StoreError {
    unavailable(format!("journal: {what}: {}", e.kind()))
}

fn header_json(backup_id: &str, schema_version: u32, started_at: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format": FORMAT,
        "backup_id": backup_id,
        "schema_version": schema_version,
        "started_at": started_at,
    }))
    .unwrap_or_default()
}

fn genesis(header: &[u8]) -> [u8; 32] {
    let mut b = HEADER_DOMAIN.to_vec();
    b.extend_from_slice(header);
    sha256(&b)
}

fn entry_hash(prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut b = Vec::with_capacity(ENTRY_DOMAIN.len() + 32 + body.len());
    b.extend_from_slice(ENTRY_DOMAIN);
    b.extend_from_slice(prev);
    b.extend_from_slice(body);
    sha256(&b)
}

impl Segment {
    /// Creates the segment file (never over an existing one) and makes it durable.
    pub(crate) fn create(
        path: &Path,
        backup_id: &str,
        schema_version: u32,
        now: OffsetDateTime,
    ) -> Result<Segment, StoreError> {
        let dir = path
            .parent()
            .ok_or_else(|| unavailable("journal: the segment path has no folder"))?;
        fs::create_dir_all(dir).map_err(|e| io_err("creating the journal folder", e))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        let started = nanos_of(now);
        let header = header_json(backup_id, schema_version, started);
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_err("creating the segment", e))?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err("writing the segment header", e))?;
        // The new name must survive a crash as well as the bytes.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(Segment {
            file,
            seq: 0,
            prev: genesis(&header),
            last_nanos: started,
            dirty: false,
            synced_at: Instant::now(),
        })
    }

    /// Appends one entry with a single `write()` (a crashed process leaves it whole in the
    /// page cache); the fsync is left to [`Segment::sync_if_due`].
    pub(crate) fn append(
        &mut self,
        at: OffsetDateTime,
        changeset: &[u8],
    ) -> Result<(), StoreError> {
        // Commit times never go backwards within a segment, so "up to T" is a prefix.
        let nanos = nanos_of(at).max(self.last_nanos);
        let seq = self.seq + 1;
        let mut body = Vec::with_capacity(BODY_FIXED + changeset.len());
        body.extend_from_slice(&seq.to_le_bytes());
        body.extend_from_slice(&nanos.to_le_bytes());
        body.extend_from_slice(changeset);
        let len = u32::try_from(body.len())
            .ok()
            .filter(|l| *l <= MAX_BODY)
            .ok_or_else(|| unavailable("journal: a batch changeset is too large"))?;
        let hash = entry_hash(&self.prev, &body);
        let mut entry = Vec::with_capacity(8 + body.len() + 32);
        entry.extend_from_slice(&len.to_le_bytes());
        entry.extend_from_slice(&(!len).to_le_bytes());
        entry.extend_from_slice(&body);
        entry.extend_from_slice(&hash);
        self.file
            .write_all(&entry)
            .map_err(|e| io_err("appending an entry", e))?;
        self.seq = seq;
        self.prev = hash;
        self.last_nanos = nanos;
        self.dirty = true;
        Ok(())
    }

    /// How long until unsynced entries are due for their fsync, if any are waiting.
    pub(crate) fn sync_due_in(&self, rpo: Duration) -> Option<Duration> {
        self.dirty
            .then(|| rpo.saturating_sub(self.synced_at.elapsed()))
    }

    /// Fsyncs when an unsynced entry has waited `rpo` or more.
    pub(crate) fn sync_if_due(&mut self, rpo: Duration) -> Result<(), StoreError> {
        match self.sync_due_in(rpo) {
            Some(d) if d.is_zero() => self.sync(),
            _ => Ok(()),
        }
    }

    /// Fsyncs the segment's data.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| io_err("syncing the segment", e))?;
            self.dirty = false;
        }
        self.synced_at = Instant::now();
        Ok(())
    }
}

fn nanos_of(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

// ----- reading -------------------------------------------------------------------------------

/// One committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// 1, 2, … within the segment.
    pub seq: u64,
    /// When the batch committed (store clock).
    pub committed_at: OffsetDateTime,
    /// The batch's SQLite changeset.
    pub changeset: Vec<u8>,
}

/// A segment read and checked by [`read_segment`].
#[derive(Debug, Clone)]
pub struct Segmented {
    /// The base backup this segment continues.
    pub backup_id: String,
    /// The schema version the changesets apply to.
    pub schema_version: u32,
    /// When the segment (and its base snapshot) started.
    pub started_at: OffsetDateTime,
    /// Every whole entry, in order.
    pub entries: Vec<JournalEntry>,
    /// Bytes of an incomplete final entry (a crash during its append), ignored.
    pub torn_tail: Option<u64>,
    /// Hash of the last whole entry (or of the header), lowercase hex.
    pub head: String,
}

impl Segmented {
    /// Commit time of the last whole entry.
    pub fn last_committed_at(&self) -> Option<OffsetDateTime> {
        self.entries.last().map(|e| e.committed_at)
    }
}

/// Why a segment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read.
    #[error("journal segment unreadable: {0}")]
    Io(String),
    /// Not a segment, or its header is damaged.
    #[error("journal segment header is damaged: {0}")]
    Header(String),
    /// A whole entry fails its checks: the journal was changed or damaged there.
    #[error("journal segment is corrupt at entry {seq} (byte offset {offset}): {reason}")]
    Corrupt {
        /// The entry's expected sequence number.
        seq: u64,
        /// Where the entry starts in the file.
        offset: u64,
        /// What failed.
        reason: &'static str,
    },
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads a segment and checks its header, sequence numbers and hash chain. A torn final
/// entry is reported in [`Segmented::torn_tail`]; any other damage is an error.
pub fn read_segment(path: &Path) -> Result<Segmented, JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| JournalError::Io(e.kind().to_string()))?;
    parse_segment(&bytes)
}

fn parse_segment(bytes: &[u8]) -> Result<Segmented, JournalError> {
    let header_err = |m: &str| JournalError::Header(m.to_owned());
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(header_err("not a phivault journal segment"));
    }
    let hlen = le_u32(&bytes[8..]) as usize;
    let header = bytes
        .get(12..12 + hlen)
        .ok_or_else(|| header_err("header cut short"))?;
    let h: serde_json::Value =
        serde_json::from_slice(header).map_err(|_| header_err("header is not JSON"))?;
    if h["format"].as_u64() != Some(FORMAT) {
        return Err(header_err("unknown segment format"));
    }
    let backup_id = h["backup_id"]
        .as_str()
        .ok_or_else(|| header_err("no backup_id"))?
        .to_owned();
    let schema_version = h["schema_version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| header_err("no schema_version"))?;
    let started_at = h["started_at"]
        .as_i64()
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok())
        .ok_or_else(|| header_err("no started_at"))?;
    let mut prev = genesis(header);
    let mut pos = 12 + hlen;
    let mut entries = Vec::new();
    let mut torn_tail = None;
    let mut last_nanos = i64::MIN;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let seq = entries.len() as u64 + 1;
        let corrupt = |reason| JournalError::Corrupt {
            seq,
            offset: pos as u64,
            reason,
        };
        // A crash mid-append leaves a prefix of the entry; a power loss may leave zeros.
        if rest.len() < 8 || rest.iter().all(|b| *b == 0) {
            torn_tail = Some(rest.len() as u64);
            break;
        }
        let len = le_u32(rest);
        if le_u32(&rest[4..]) != !len {
            return Err(corrupt("the entry length is damaged"));
        }
        if len > MAX_BODY || (len as usize) < BODY_FIXED {
            return Err(corrupt("impossible entry length"));
        }
        let need = 8 + len as usize + 32;
        if rest.len() < need {
            torn_tail = Some(rest.len() as u64);
            break;
        }
        let body = &rest[8..8 + len as usize];
        let hash = &rest[8 + len as usize..need];
        if entry_hash(&prev, body) != hash {
            return Err(corrupt(
                "hash mismatch: the entry or one before it was changed",
            ));
        }
        if le_u64(body) != seq {
            return Err(corrupt("sequence number out of order"));
        }
        let nanos = le_u64(&body[8..]) as i64;
        if nanos < last_nanos {
            return Err(corrupt("commit time goes backwards"));
        }
        last_nanos = nanos;
        let committed_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .map_err(|_| corrupt("commit time out of range"))?;
        entries.push(JournalEntry {
            seq,
            committed_at,
            changeset: body[BODY_FIXED..].to_vec(),
        });
        prev.copy_from_slice(hash);
        pos += need;
    }
    Ok(Segmented {
        backup_id,
        schema_version,
        started_at,
        entries,
        torn_tail,
        head: phivault_core::backup::hex(&prev),
    })
}

/// What [`replay`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Entries applied.
    pub applied: u64,
    /// Entries left out because they committed after the target time.
    pub skipped: u64,
    /// Commit time of the last applied entry: the state the database now has.
    pub recovered_to: Option<OffsetDateTime>,
}

/// Applies the entries of `segment` committed at or before `until` (all when `None`), in
/// order and in one transaction, to the restored base at `db`. A change that does not fit
/// (a row missing or already there) aborts the replay: the base is not this segment's.
pub fn replay(
    db: &Path,
    segment: &Segmented,
    until: Option<OffsetDateTime>,
    progress: &dyn Fn(u64, u64),
) -> Result<ReplayReport, StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    if version != i64::from(segment.schema_version) {
        return Err(unavailable(format!(
            "the journal applies to schema version {}, the base has {version}",
            segment.schema_version
        )));
    }
    let total = segment.entries.len() as u64;
    let mut report = ReplayReport::default();
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    for e in &segment.entries {
        if until.is_some_and(|t| e.committed_at > t) {
            report.skipped = total - report.applied;
            break;
        }
        let mut input: &[u8] = &e.changeset;
        let applied = conn.apply_strm(
            &mut input,
            None::<fn(&str) -> bool>,
            |_: ConflictType, _| ConflictAction::SQLITE_CHANGESET_ABORT,
        );
        if applied.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(unavailable(format!(
                "journal entry {} does not apply to the base: the segment does not continue \
                 this backup, or an entry is missing",
                e.seq
            )));
        }
        report.applied += 1;
        report.recovered_to = Some(e.committed_at);
        if report.applied % 1024 == 0 {
            progress(report.applied, total);
        }
    }
    conn.execute_batch("COMMIT").map_err(map_err)?;
    progress(report.applied, total);
    Ok(report)
}

/// Every erasure recorded anywhere in the segment (after any target time too): a restore
/// to an earlier time must still destroy the keys of subjects erased later.
pub fn shred_entries(segment: &Segmented) -> Result<Vec<ShredEntry>, StoreError> {
    let mut out = Vec::new();
    for e in &segment.entries {
        let mut bytes: &[u8] = &e.changeset;
        let input: &mut dyn Read = &mut bytes;
        let mut it = ChangesetIter::start_strm(&input).map_err(map_err)?;
        while let Some(item) = it.next().map_err(map_err)? {
            let op = item.op().map_err(map_err)?;
            if op.table_name() != "shred_ledger" {
                continue;
            }
            let (subject, at) = match op.code() {
                Action::SQLITE_INSERT => (item.new_value(0), item.new_value(1)),
                // The primary key is only among the old values of an update.
                Action::SQLITE_UPDATE => (
                    item.old_value(0),
                    item.new_value(1).or_else(|_| item.old_value(1)),
                ),
                _ => continue,
            };
            let subject = match subject.map_err(map_err)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => continue,
            };
            let at = match at.map_err(map_err)? {
                ValueRef::Integer(n) => OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
                    .unwrap_or(e.committed_at),
                _ => e.committed_at,
            };
            out.push(ShredEntry {
                subject,
                shredded_at: at,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
