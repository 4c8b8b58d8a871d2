//! [`ReadTx`] for the transaction: one bound, prepared statement per read of meta,
//! collections, subject keys, records, the blind index, tokens, the audit log and ledger.

use phivault_core::audit::{AuditEntry, Hash, SignedTreeHead};
use phivault_core::store::{
    CollectionRow, ReadTx, RecordHead, RecordVersionRow, SubjectKeyRow, TokenRow,
};
use phivault_core::{RecordId, StoreError};
use rusqlite::params;

use super::decode::{
    decode_audit, decode_collection, decode_head, decode_subject_key, decode_token,
    decode_tree_head, decode_version, get_uuid,
};
use super::decode::{head_columns, token_columns, version_columns};
use super::{SqlTx, get_hash, get_text, get_u64, int, limit, uuid_text};

impl ReadTx for SqlTx<'_> {
    fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            get_text(r, 0, "meta.value")
        })
    }

    fn get_collection(&mut self, name: &str) -> Result<Option<CollectionRow>, StoreError> {
        self.row(
            "SELECT name, schema_json, created_at FROM collections WHERE name = ?1",
            [name],
            decode_collection,
        )
    }

    fn list_collections(&mut self) -> Result<Vec<CollectionRow>, StoreError> {
        self.rows(
            "SELECT name, schema_json, created_at FROM collections ORDER BY name",
            [],
            decode_collection,
        )
    }

    fn get_subject_key(&mut self, subject: &str) -> Result<Option<SubjectKeyRow>, StoreError> {
        self.row(
            "SELECT subject, wrapped_key, kek_version, created_at FROM subject_keys \
             WHERE subject = ?1",
            [subject],
            decode_subject_key,
        )
    }

    fn list_subject_keys(
        &mut self,
        after: Option<&str>,
        limit_n: usize,
    ) -> Result<Vec<SubjectKeyRow>, StoreError> {
        match after {
            None => self.rows(
                "SELECT subject, wrapped_key, kek_version, created_at FROM subject_keys \
                 ORDER BY subject LIMIT ?1",
                [limit(limit_n)],
                decode_subject_key,
            ),
            Some(after) => self.rows(
                "SELECT subject, wrapped_key, kek_version, created_at FROM subject_keys \
                 WHERE subject > ?1 ORDER BY subject LIMIT ?2",
                params![after, limit(limit_n)],
                decode_subject_key,
            ),
        }
    }

    fn count_subject_keys(&mut self) -> Result<u64, StoreError> {
        let n = self.row("SELECT count(*) FROM subject_keys", [], |r| {
            get_u64(r, 0, "count(subject_keys)")
        })?;
        Ok(n.unwrap_or(0))
    }

    fn get_record_head(
        &mut self,
        collection: &str,
        id: &RecordId,
    ) -> Result<Option<RecordHead>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                head_columns!(),
                " FROM record_heads WHERE collection = ?1 AND id = ?2"
            ),
            params![collection, uuid_text(&id.0)],
            decode_head,
        )
    }

    fn get_record_version(
        &mut self,
        collection: &str,
        id: &RecordId,
        version: u64,
    ) -> Result<Option<RecordVersionRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                version_columns!(),
                " FROM record_versions \
                 WHERE collection = ?1 AND id = ?2 AND version = ?3"
            ),
            params![
                collection,
                uuid_text(&id.0),
                int(version, "record version")?
            ],
            decode_version,
        )
    }

    fn list_record_versions(
        &mut self,
        collection: &str,
        id: &RecordId,
    ) -> Result<Vec<RecordVersionRow>, StoreError> {
        self.rows(
            concat!(
                "SELECT ",
                version_columns!(),
                " FROM record_versions \
                 WHERE collection = ?1 AND id = ?2 ORDER BY version"
            ),
            params![collection, uuid_text(&id.0)],
            decode_version,
        )
    }

    fn find_by_index(
        &mut self,
        collection: &str,
        field: &str,
        tag: &[u8; 32],
        limit_n: usize,
    ) -> Result<Vec<RecordId>, StoreError> {
        // The join drops entries of deleted records (and of heads that do not exist).
        self.rows(
            "SELECT DISTINCT e.record_id FROM index_entries e \
             JOIN record_heads h ON h.collection = e.collection AND h.id = e.record_id \
             WHERE e.collection = ?1 AND e.field = ?2 AND e.tag = ?3 AND h.deleted = 0 \
             ORDER BY e.record_id LIMIT ?4",
            params![collection, field, &tag[..], limit(limit_n)],
            |r| Ok(RecordId(get_uuid(r, 0, "index_entries.record_id")?)),
        )
    }

    fn list_subject_records(
        &mut self,
        subject: &str,
        after: Option<(&str, &RecordId)>,
        limit_n: usize,
    ) -> Result<Vec<RecordHead>, StoreError> {
        match after {
            None => self.rows(
                concat!(
                    "SELECT ",
                    head_columns!(),
                    " FROM record_heads \
                     WHERE subject = ?1 AND deleted = 0 ORDER BY collection, id LIMIT ?2"
                ),
                params![subject, limit(limit_n)],
                decode_head,
            ),
            Some((collection, id)) => self.rows(
                concat!(
                    "SELECT ",
                    head_columns!(),
                    " FROM record_heads \
                     WHERE subject = ?1 AND deleted = 0 AND (collection, id) > (?2, ?3) \
                     ORDER BY collection, id LIMIT ?4"
                ),
                params![subject, collection, uuid_text(&id.0), limit(limit_n)],
                decode_head,
            ),
        }
    }

    fn get_token_by_hash(&mut self, hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError> {
        self.row(
            concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens WHERE secret_hash = ?1"
            ),
            [&hash[..]],
            decode_token,
        )
    }

    fn list_tokens(&mut self) -> Result<Vec<TokenRow>, StoreError> {
        self.rows(
            concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens ORDER BY created_at DESC, id DESC"
            ),
            [],
            decode_token,
        )
    }

    fn audit_head(&mut self) -> Result<Option<(u64, Hash)>, StoreError> {
        self.row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    get_u64(r, 0, "audit_log.seq")?,
                    get_hash(r, 1, "audit_log.hash")?,
                ))
            },
        )
    }

    fn audit_entries(&mut self, after: u64, limit_n: usize) -> Result<Vec<AuditEntry>, StoreError> {
        // Sequence numbers above i64::MAX cannot be stored, so "after" such a value is empty.
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        self.rows(
            "SELECT seq, prev_hash, event_json, hash FROM audit_log \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![after, limit(limit_n)],
            decode_audit,
        )
    }

    fn audit_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        let Ok(index) = i64::try_from(index) else {
            return Ok(None);
        };
        self.row(
            "SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2",
            params![level, index],
            |r| get_hash(r, 0, "audit_nodes.hash"),
        )
    }

    fn audit_nodes(
        &mut self,
        level: u32,
        from: u64,
        limit_n: usize,
    ) -> Result<Vec<(u64, Hash)>, StoreError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        self.rows(
            "SELECT idx, hash FROM audit_nodes WHERE level = ?1 AND idx >= ?2 \
             ORDER BY idx LIMIT ?3",
            params![level, from, limit(limit_n)],
            |r| {
                Ok((
                    get_u64(r, 0, "audit_nodes.idx")?,
                    get_hash(r, 1, "audit_nodes.hash")?,
                ))
            },
        )
    }

    fn latest_tree_head(&mut self) -> Result<Option<SignedTreeHead>, StoreError> {
        self.row(
            "SELECT tree_size, timestamp_ms, root_hash, signature FROM audit_tree_heads \
             ORDER BY tree_size DESC LIMIT 1",
            [],
            decode_tree_head,
        )
    }

    fn tree_heads(
        &mut self,
        after: u64,
        limit_n: usize,
    ) -> Result<Vec<SignedTreeHead>, StoreError> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        self.rows(
            "SELECT tree_size, timestamp_ms, root_hash, signature FROM audit_tree_heads \
             WHERE tree_size > ?1 ORDER BY tree_size LIMIT ?2",
            params![after, limit(limit_n)],
            decode_tree_head,
        )
    }

    fn list_shred_ledger(&mut self) -> Result<Vec<phivault_core::backup::ShredEntry>, StoreError> {
        crate::backup::list_shred_ledger(self)
    }
}
