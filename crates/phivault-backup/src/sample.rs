//! Proving that a keyring reads a store: one record version opened with its subject's
//! wrapped key (the check behind `backup verify` and `migrate`), and the paging over a
//! subject's records that picks the samples.

use phivault_core::crypto::{Keyring, RecordAad, WrappedKey, open_record};
use phivault_core::store::{RecordHead, RecordVersionRow, Store, read_tx};

use crate::BackupError;

/// Subjects and records read per page.
pub const PAGE: usize = 500;

/// Every record head of `subject` in `store`, read a page at a time.
pub async fn subject_records(
    store: &dyn Store,
    subject: &str,
) -> Result<Vec<RecordHead>, BackupError> {
    let mut out: Vec<RecordHead> = Vec::new();
    loop {
        let (s, cursor) = (
            subject.to_owned(),
            out.last().map(|h| (h.collection.clone(), h.id)),
        );
        let page = read_tx(store, move |tx| {
            Ok(tx.list_subject_records(
                &s,
                cursor.as_ref().map(|(c, id)| (c.as_str(), id)),
                PAGE,
            )?)
        })
        .await?;
        let full = page.len() == PAGE;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// Opens one record version with its subject's wrapped key, proving the keyring reads it.
/// The only place outside core that builds a record's associated data.
pub fn open_sample(
    keyring: &Keyring,
    wrapped: &[u8],
    row: &RecordVersionRow,
) -> Result<(), BackupError> {
    let wrapped = WrappedKey::from_bytes(wrapped)?;
    let dek = keyring.unwrap_data_key(&wrapped, &row.subject)?;
    let id = row.id.to_string();
    let aad = RecordAad {
        collection: &row.collection,
        record_id: &id,
        version: row.version,
        subject: &row.subject,
    };
    let plain = open_record(&dek, &aad, &row.sealed)?;
    // Parsed to prove it is the record's JSON; the value is dropped unread.
    serde_json::from_slice::<serde_json::Value>(&plain).map_err(|_| BackupError::NotJson)?;
    Ok(())
}
