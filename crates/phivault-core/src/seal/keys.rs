//! Subject data keys: get-or-create (never for an erased subject), unwrap, re-wrap under a
//! new KEK, and crypto-shredding. The one place that reads or writes `subject_keys`.

use phivault_crypto::{DataKey, Keyring, WrappedKey};
use time::OffsetDateTime;

use crate::error::VaultError;
use crate::ids::RecordId;
use crate::store::{ReadTx, SubjectKeyRow, WriteTx};

/// Record heads whose index entries are dropped per store call while shredding.
const SHRED_PAGE: usize = 500;

/// The internal subject whose data key seals a user's own secrets (TOTP secret,
/// break-glass reasons). Subject ids given by clients cannot start with `_`.
pub fn user_key_subject(user_id: &str) -> String {
    format!("_user:{user_id}")
}

/// What a shred removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shredded {
    /// Record heads of the subject whose blind-index entries were dropped.
    pub records: u64,
    /// Whether a wrapped data key was present and is now deleted.
    pub key_deleted: bool,
}

/// The data keys of subjects, wrapped under the keyring's KEKs.
#[derive(Debug, Clone, Copy)]
pub struct SubjectKeys<'k> {
    keyring: &'k Keyring,
}

impl<'k> SubjectKeys<'k> {
    /// Keys under `keyring`.
    pub fn new(keyring: &'k Keyring) -> Self {
        Self { keyring }
    }

    /// The subject's data key, created (and stored wrapped) on first use. An erased
    /// subject never gets a new key: its identifier stays retired, so this fails with
    /// `Erased` once the shred ledger names it.
    pub fn get_or_create(
        &self,
        tx: &mut dyn WriteTx,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<DataKey, VaultError> {
        if let Some(row) = tx.get_subject_key(subject)? {
            return self.unwrap_row(&row);
        }
        if tx.is_shredded(subject)? {
            return Err(VaultError::Erased);
        }
        let dek = DataKey::generate()?;
        let wrapped = self.keyring.wrap_data_key(&dek, subject)?;
        tx.insert_subject_key(&SubjectKeyRow {
            subject: subject.to_owned(),
            wrapped_key: wrapped.to_bytes(),
            kek_version: wrapped.kek_version,
            created_at: now,
        })?;
        Ok(dek)
    }

    /// The subject's existing data key. A missing key is an erasure when the shred ledger
    /// names the subject (`Erased`), and tampering otherwise (`Integrity`).
    pub fn unwrap(&self, tx: &mut dyn ReadTx, subject: &str) -> Result<DataKey, VaultError> {
        match tx.get_subject_key(subject)? {
            Some(row) => self.unwrap_row(&row),
            None if tx.is_shredded(subject)? => Err(VaultError::Erased),
            None => Err(VaultError::Integrity),
        }
    }

    fn unwrap_row(&self, row: &SubjectKeyRow) -> Result<DataKey, VaultError> {
        self.unwrap_bytes(&row.wrapped_key, &row.subject)
    }

    /// Unwraps a stored wrapped key of `subject` (offline tools that read rows directly).
    pub(crate) fn unwrap_bytes(
        &self,
        wrapped: &[u8],
        subject: &str,
    ) -> Result<DataKey, VaultError> {
        let wrapped = WrappedKey::from_bytes(wrapped)?;
        Ok(self.keyring.unwrap_data_key(&wrapped, subject)?)
    }

    /// Re-wraps the keys in `rows` that are not under the current KEK; record ciphertext
    /// is not touched. Returns how many were re-wrapped.
    pub fn rewrap(&self, tx: &mut dyn WriteTx, rows: &[SubjectKeyRow]) -> Result<u64, VaultError> {
        let current = self.keyring.current_kek_version();
        let mut n = 0u64;
        for row in rows.iter().filter(|r| r.kek_version != current) {
            let wrapped = WrappedKey::from_bytes(&row.wrapped_key)?;
            let new = self.keyring.rewrap_data_key(&wrapped, &row.subject)?;
            tx.update_subject_key(&row.subject, &new.to_bytes(), new.kek_version)?;
            n += 1;
        }
        Ok(n)
    }

    /// Crypto-shreds a subject in the caller's transaction: drops the blind-index entries
    /// of every record of the subject (so no search finds them), deletes its wrapped data
    /// key (so no copy of its ciphertext opens) and records it in the shred ledger at `at`
    /// (so no restore brings the key back, and no new key is ever made for it). Used by
    /// erasure and by the ledger replay of a restore, so both leave the same state
    /// (45 CFR 164.310(d)(2)(i) disposal).
    pub fn shred(
        tx: &mut dyn WriteTx,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<Shredded, VaultError> {
        let mut out = Shredded::default();
        let mut cursor: Option<(String, RecordId)> = None;
        loop {
            let after = cursor.as_ref().map(|(c, id)| (c.as_str(), id));
            let heads = tx.subject_record_heads(subject, after, SHRED_PAGE)?;
            for h in &heads {
                tx.replace_index_entries(&h.collection, &h.id, &[])?;
            }
            out.records += heads.len() as u64;
            match heads.last() {
                Some(h) if heads.len() == SHRED_PAGE => cursor = Some((h.collection.clone(), h.id)),
                _ => break,
            }
        }
        out.key_deleted = tx.delete_subject_key(subject)?;
        tx.record_shred(subject, at)?;
        Ok(out)
    }
}
