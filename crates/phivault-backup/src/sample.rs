//! Proving that a keyring reads a store: one record version opened with its subject's
//! wrapped key (the check behind `backup verify` and `migrate`), and the paging over a
//! subject's records that picks the samples.

use phivault_core::crypto::Keyring;
use phivault_core::seal::verify_sealed_record;
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

/// Opens one record version with its subject's wrapped key, proving the keyring reads it;
/// the associated data is core's (`seal::verify_sealed_record`), never built here.
pub fn open_sample(
    keyring: &Keyring,
    wrapped: &[u8],
    row: &RecordVersionRow,
) -> Result<(), BackupError> {
    Ok(verify_sealed_record(keyring, wrapped, row)?)
}
