//! [`WriteTx`] for the transaction: one bound, prepared statement per insert, update or
//! delete of meta, collections, subject keys, records, index entries, tokens and audit rows.

use phivault_core::audit::{AuditEntry, Hash, SignedTreeHead};
use phivault_core::store::{
    CollectionRow, IndexEntry, RecordHead, RecordVersionRow, SubjectKeyRow, TokenRow, WriteTx,
};
use phivault_core::{RecordId, StoreError, TokenId};
use time::OffsetDateTime;

use super::decode::{head_columns, token_columns, version_columns};
use super::{PgTx, int, nanos, uuid_text};

impl WriteTx for PgTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .map(drop)
    }

    fn insert_collection(&mut self, row: &CollectionRow) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO collections (name, schema_json, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[&row.name, &row.schema_json, &nanos(row.created_at)?],
        )
    }

    fn insert_subject_key(&mut self, row: &SubjectKeyRow) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO subject_keys (subject, wrapped_key, kek_version, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                &row.subject,
                &row.wrapped_key,
                &i64::from(row.kek_version),
                &nanos(row.created_at)?,
            ],
        )
    }

    fn update_subject_key(
        &mut self,
        subject: &str,
        wrapped_key: &[u8],
        kek_version: u32,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE subject_keys SET wrapped_key = $2, kek_version = $3 WHERE subject = $1",
            &[&subject, &wrapped_key, &i64::from(kek_version)],
        )?;
        Ok(n > 0)
    }

    fn insert_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO record_heads (",
                head_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
            ),
            &[
                &head.collection,
                &uuid_text(&head.id.0),
                &head.subject,
                &int(head.version, "record version")?,
                &head.deleted,
                &nanos(head.created_at)?,
                &nanos(head.updated_at)?,
            ],
        )
    }

    fn update_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE record_heads SET subject = $3, version = $4, deleted = $5, \
             created_at = $6, updated_at = $7 WHERE collection = $1 AND id = $2",
            &[
                &head.collection,
                &uuid_text(&head.id.0),
                &head.subject,
                &int(head.version, "record version")?,
                &head.deleted,
                &nanos(head.created_at)?,
                &nanos(head.updated_at)?,
            ],
        )?;
        // As in SQLite: the vault only updates a head it has just read in the same
        // transaction, so a miss is a bug and must not pass silently.
        if n == 0 {
            return Err(StoreError::Unavailable(
                "update_record_head: no such record head".into(),
            ));
        }
        Ok(())
    }

    fn insert_record_version(&mut self, row: &RecordVersionRow) -> Result<(), StoreError> {
        self.insert(
            concat!(
                "INSERT INTO record_versions (",
                version_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
            ),
            &[
                &row.collection,
                &uuid_text(&row.id.0),
                &int(row.version, "record version")?,
                &row.subject,
                &row.sealed,
                &row.tombstone,
                &nanos(row.created_at)?,
            ],
        )
    }

    fn replace_index_entries(
        &mut self,
        collection: &str,
        id: &RecordId,
        entries: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let id = uuid_text(&id.0);
        self.exec(
            "DELETE FROM index_entries WHERE collection = $1 AND record_id = $2",
            &[&collection, &id],
        )?;
        for e in entries {
            // DO NOTHING: a multi-valued field may yield the same tag twice; one row suffices.
            self.exec(
                "INSERT INTO index_entries (collection, field, tag, record_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&collection, &e.field, &&e.tag[..], &id],
            )?;
        }
        Ok(())
    }

    fn insert_token(&mut self, row: &TokenRow) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&row.roles)
            .map_err(|_| StoreError::Unavailable("token roles could not be encoded".into()))?;
        let revoked_at = row.revoked_at.map(nanos).transpose()?;
        let last_used_at = row.last_used_at.map(nanos).transpose()?;
        self.insert(
            concat!(
                "INSERT INTO tokens (",
                token_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
            ),
            &[
                &uuid_text(&row.id.0),
                &row.name,
                &&row.secret_hash[..],
                &roles,
                &nanos(row.created_at)?,
                &nanos(row.expires_at)?,
                &revoked_at,
                &row.owner,
                &last_used_at,
            ],
        )
    }

    fn revoke_token(&mut self, id: &TokenId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&uuid_text(&id.0), &nanos(at)?],
        )?;
        Ok(n > 0)
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO audit_log (seq, prev_hash, event_json, hash) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
            &[
                &int(entry.seq, "audit sequence number")?,
                &&entry.prev_hash[..],
                &entry.event_json,
                &&entry.hash[..],
            ],
        )
    }

    fn put_audit_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError> {
        for (level, index, hash) in nodes {
            self.insert(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[
                    &i64::from(*level),
                    &int(*index, "merkle node index")?,
                    &&hash[..],
                ],
            )?;
        }
        Ok(())
    }

    fn prune_audit(&mut self, through: u64) -> Result<u64, StoreError> {
        let through = int(through, "audit sequence number")?;
        let n = self.exec("DELETE FROM audit_log WHERE seq <= $1", &[&through])?;
        self.exec(
            "DELETE FROM audit_nodes WHERE level = 0 AND idx + 1 < $1",
            &[&through],
        )?;
        Ok(n)
    }

    fn record_shred(&mut self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO shred_ledger (subject, shredded_at) VALUES ($1, $2) \
             ON CONFLICT (subject) DO UPDATE SET \
             shredded_at = LEAST(shred_ledger.shredded_at, excluded.shredded_at)",
            &[&subject, &nanos(at)?],
        )
        .map(drop)
    }

    fn delete_subject_key(&mut self, subject: &str) -> Result<bool, StoreError> {
        Ok(self.exec("DELETE FROM subject_keys WHERE subject = $1", &[&subject])? > 0)
    }

    fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<(), StoreError> {
        self.insert(
            "INSERT INTO audit_tree_heads (tree_size, timestamp_ms, root_hash, signature) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                &int(head.tree_size, "tree size")?,
                &int(head.timestamp_ms, "tree head timestamp")?,
                &&head.root_hash[..],
                &&head.signature[..],
            ],
        )
    }
}
