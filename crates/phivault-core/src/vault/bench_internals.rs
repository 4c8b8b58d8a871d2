//! Benchmark-only entry points (cargo feature `bench-internals`, off by default, enabled
//! only by `phivault-bench`). They measure the safeguards tax: the same store, the same
//! group commit and the same rows as [`Vault::create_record`], but **without** encryption
//! (the JSON is stored in plaintext), without the audit entry and without the policy
//! decision. Never enable this feature in a deployed build.

use serde_json::Value;
use uuid::Uuid;

use super::Vault;
use crate::error::VaultError;
use crate::error_code::InternalFault;
use crate::ids::{CollectionName, RecordId};
use crate::store::{IndexEntry, RecordHead, RecordVersionRow, write_tx};
use crate::validate::validate_record;

impl Vault {
    /// Stores a record in plaintext: schema validation, then the record head, version and
    /// index rows written through the store's group commit, like `create_record` but with
    /// no data key, no sealing, no HMAC blind index (the index tag is the value's bytes),
    /// no policy decision and no audit entry. For the benchmark harness only.
    pub async fn bench_plain_create(
        &self,
        collection: &CollectionName,
        subject: &str,
        data: Value,
    ) -> Result<RecordId, VaultError> {
        let now = self.clock.now();
        let id = RecordId(Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.unix_timestamp().max(0) as u64,
            now.nanosecond(),
        )));
        let schema = self.schema(collection).await?;
        let record = validate_record(&schema, data)?;
        let entries: Vec<IndexEntry> = record
            .index_values()
            .iter()
            .map(|(field, value)| {
                let mut tag = [0u8; 32];
                for (t, b) in tag.iter_mut().zip(value.as_bytes()) {
                    *t = *b;
                }
                IndexEntry {
                    field: field.to_string(),
                    tag,
                }
            })
            .collect();
        let plain = serde_json::to_vec(record.data())
            .map_err(|_| VaultError::Internal(InternalFault::Encode.as_str()))?;
        let (collection, subject) = (collection.to_string(), subject.to_owned());
        write_tx(&*self.store, move |tx| {
            tx.insert_record_head(&RecordHead {
                collection: collection.clone(),
                id,
                subject: subject.clone(),
                version: 1,
                deleted: false,
                created_at: now,
                updated_at: now,
            })?;
            tx.insert_record_version(&RecordVersionRow {
                collection: collection.clone(),
                id,
                version: 1,
                subject,
                sealed: plain,
                tombstone: false,
                created_at: now,
            })?;
            tx.replace_index_entries(&collection, &id, &entries)?;
            Ok(id)
        })
        .await
    }
}
