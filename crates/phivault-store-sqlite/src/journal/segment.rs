//! Writing a segment: creating it with its header, appending each batch's changeset as a
//! hash-chained entry, and the periodic fsync that bounds what a lost machine loses.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use phivault_core::StoreError;
use phivault_core::crypto::sha256;
use time::OffsetDateTime;

use super::{BODY_FIXED, ENTRY_DOMAIN, FORMAT, HEADER_DOMAIN, MAGIC, MAX_BODY, unavailable};

/// The segment being appended to (writer thread only).
pub(crate) struct Segment {
    file: File,
    seq: u64,
    prev: [u8; 32],
    last_nanos: i64,
    dirty: bool,
    synced_at: Instant,
}

pub(super) fn io_err(what: &str, e: std::io::Error) -> StoreError {
    unavailable(format!("journal: {what}: {}", e.kind()))
}

pub(super) fn header_json(backup_id: &str, schema_version: u32, started_at: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format": FORMAT,
        "backup_id": backup_id,
        "schema_version": schema_version,
        "started_at": started_at,
    }))
    .unwrap_or_default()
}

pub(super) fn genesis(header: &[u8]) -> [u8; 32] {
    let mut b = HEADER_DOMAIN.to_vec();
    b.extend_from_slice(header);
    sha256(&b)
}

pub(super) fn entry_hash(prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
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

pub(super) fn nanos_of(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
