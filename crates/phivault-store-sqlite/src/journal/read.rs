//! Reading a segment back: parsing and checking the header, lengths, sequence numbers and
//! hash chain, replaying it onto a restored base, and collecting the erasures it records.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use phivault_core::StoreError;
use phivault_core::backup::ShredEntry;
use rusqlite::fallible_streaming_iterator::FallibleStreamingIterator;
use rusqlite::hooks::Action;
use rusqlite::session::{ChangesetIter, ConflictAction, ConflictType};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;

use super::segment::{entry_hash, genesis};
use super::{BODY_FIXED, FORMAT, MAGIC, MAX_BODY, unavailable};
use crate::error::map_err;

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

pub(super) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(super) fn le_u64(b: &[u8]) -> u64 {
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

/// Parses the bytes of a segment file, as [`read_segment`] does after reading it.
pub fn parse_segment(bytes: &[u8]) -> Result<Segmented, JournalError> {
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
