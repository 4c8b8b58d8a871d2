//! The record path's sealing: writing a record's first version, the next version and its
//! deletion tombstone (version row, head and blind-index entries together), and opening a
//! stored version. Workflows that store or read record data go through here.

use phivault_crypto::{BlindIndexer, DataKey, Keyring};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::aad::Aad;
use super::keys::SubjectKeys;
use crate::error::VaultError;
use crate::error_code::InternalFault;
use crate::store::{IndexEntry, ReadTx, RecordHead, RecordVersionRow, WriteTx};
use crate::validate::ValidatedRecord;

/// The blind-index entries of a record's searchable values.
pub(crate) fn index_entries(
    indexer: &BlindIndexer,
    collection: &str,
    record: &ValidatedRecord,
) -> Vec<IndexEntry> {
    record
        .index_values()
        .iter()
        .map(|(field, value)| IndexEntry {
            field: field.to_string(),
            tag: indexer.tag(collection, field.as_str(), value),
        })
        .collect()
}

/// Writes record versions in one store transaction: every write keeps the version row,
/// the head and the blind-index entries in step.
pub(crate) struct RecordWriter<'t> {
    tx: &'t mut dyn WriteTx,
    now: OffsetDateTime,
}

impl<'t> RecordWriter<'t> {
    /// A writer stamping versions with `now`.
    pub(crate) fn new(tx: &'t mut dyn WriteTx, now: OffsetDateTime) -> Self {
        Self { tx, now }
    }

    fn seal_version(
        &mut self,
        dek: &DataKey,
        head: &RecordHead,
        version: u64,
        record: &ValidatedRecord,
    ) -> Result<(), VaultError> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(record.data())
                .map_err(|_| VaultError::Internal(InternalFault::Encode.as_str()))?,
        );
        let id = head.id.to_string();
        let sealed =
            Aad::record(&head.collection, &id, version, &head.subject).seal(dek, &plain)?;
        self.tx.insert_record_version(&RecordVersionRow {
            collection: head.collection.clone(),
            id: head.id,
            version,
            subject: head.subject.clone(),
            sealed,
            tombstone: false,
            created_at: self.now,
        })?;
        Ok(())
    }

    /// Stores a new record as version 1: head, sealed version and index entries.
    pub(crate) fn first(
        &mut self,
        dek: &DataKey,
        head: &RecordHead,
        record: &ValidatedRecord,
        entries: &[IndexEntry],
    ) -> Result<(), VaultError> {
        self.tx.insert_record_head(head)?;
        self.seal_version(dek, head, 1, record)?;
        self.tx
            .replace_index_entries(&head.collection, &head.id, entries)?;
        Ok(())
    }

    /// Seals `record` as the next version of `head` and makes it current: version row,
    /// head and blind-index entries. Returns the new version number.
    pub(crate) fn append(
        &mut self,
        dek: &DataKey,
        head: &mut RecordHead,
        record: &ValidatedRecord,
        entries: &[IndexEntry],
    ) -> Result<u64, VaultError> {
        let version = head.version + 1;
        self.seal_version(dek, head, version, record)?;
        head.version = version;
        head.updated_at = self.now;
        self.tx.update_record_head(head)?;
        self.tx
            .replace_index_entries(&head.collection, &head.id, entries)?;
        Ok(version)
    }

    /// Adds a deletion tombstone as the next version and drops the index entries, so
    /// search no longer finds the record while its history stays. Returns the version.
    pub(crate) fn tombstone(&mut self, head: &mut RecordHead) -> Result<u64, VaultError> {
        let version = head.version + 1;
        self.tx.insert_record_version(&RecordVersionRow {
            collection: head.collection.clone(),
            id: head.id,
            version,
            subject: head.subject.clone(),
            sealed: Vec::new(),
            tombstone: true,
            created_at: self.now,
        })?;
        head.version = version;
        head.deleted = true;
        head.updated_at = self.now;
        self.tx.update_record_head(head)?;
        self.tx
            .replace_index_entries(&head.collection, &head.id, &[])?;
        Ok(version)
    }
}

/// Opens one stored (non-tombstone) version with the subject's data key, as JSON.
pub(crate) fn open_with(
    dek: &DataKey,
    row: &RecordVersionRow,
) -> Result<Map<String, Value>, VaultError> {
    let id = row.id.to_string();
    let plain =
        Aad::record(&row.collection, &id, row.version, &row.subject).open(dek, &row.sealed)?;
    match serde_json::from_slice::<Value>(&plain) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(VaultError::Integrity),
    }
}

/// The whole data of one stored version (no projection); a tombstone has none.
pub(crate) fn open_data(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    row: &RecordVersionRow,
) -> Result<Map<String, Value>, VaultError> {
    if row.tombstone {
        return Ok(Map::new());
    }
    let dek = SubjectKeys::new(keyring).unwrap(tx, &row.subject)?;
    open_with(&dek, row)
}

/// Opens a sealed record version for verification (backup verify, `phivault migrate`):
/// unwraps `wrapped_key` (the subject's stored wrapped data key) for the row's subject,
/// opens the ciphertext bound to the row's collection, id, version and subject, and checks
/// that it is a record's JSON. The plaintext is dropped unread; nothing is audited, so this
/// is for offline tools working on a copy, never for serving a read.
pub fn verify_sealed_record(
    keyring: &Keyring,
    wrapped_key: &[u8],
    row: &RecordVersionRow,
) -> Result<(), VaultError> {
    if row.tombstone {
        return Ok(());
    }
    let dek = SubjectKeys::new(keyring).unwrap_bytes(wrapped_key, &row.subject)?;
    open_with(&dek, row).map(drop)
}
