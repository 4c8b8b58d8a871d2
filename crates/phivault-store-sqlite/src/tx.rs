//! The SQL behind [`ReadTx`] and [`WriteTx`]: one statement per method, always with bound
//! parameters and cached preparation, plus the decoders that turn columns back into core
//! row types and report a malformed column as [`StoreError::Corrupt`].

use phivault_core::audit::{AuditEntry, Hash, SignedTreeHead};
use phivault_core::store::{
    CollectionRow, IndexEntry, ReadTx, RecordHead, RecordVersionRow, SubjectKeyRow, TokenRow,
    WriteTx,
};
use phivault_core::{RecordId, StoreError, TokenId};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{map_err, out_of_range};

/// A transaction already opened on `conn` by the writer thread or a reader.
pub(crate) struct SqlTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqlTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }

    /// Runs a query and decodes every row.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = stmt.query(params).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            out.push(decode(row)?);
        }
        Ok(out)
    }

    /// Runs a query expected to return at most one row.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = stmt.query(params).map_err(map_err)?;
        match rows.next().map_err(map_err)? {
            Some(row) => decode(row).map(Some),
            None => Ok(None),
        }
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn exec(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        stmt.execute(params).map_err(map_err)
    }
}

// ---- encoding ----

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    // i64 nanoseconds cover 1677..2262, far beyond any record or token lifetime.
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| out_of_range("timestamp"))
}

pub(crate) fn int(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| out_of_range(what))
}

pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn uuid_text(u: &Uuid) -> String {
    // Lowercase hyphenated text sorts like the UUID's bytes, so SQL order = RecordId order.
    u.hyphenated().to_string()
}

// ---- decoding: each failure names the column, never its content ----

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub(crate) fn col<'r>(row: &'r Row<'_>, i: usize) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(i).map_err(map_err)
}

pub(crate) fn get_i64(row: &Row<'_>, i: usize, what: &'static str) -> Result<i64, StoreError> {
    match col(row, i)? {
        ValueRef::Integer(v) => Ok(v),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_u64(row: &Row<'_>, i: usize, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(get_i64(row, i, what)?).map_err(|_| corrupt(what))
}

pub(crate) fn get_bool(row: &Row<'_>, i: usize, what: &'static str) -> Result<bool, StoreError> {
    match get_i64(row, i, what)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_text(row: &Row<'_>, i: usize, what: &'static str) -> Result<String, StoreError> {
    match col(row, i)? {
        ValueRef::Text(b) => std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_blob(row: &Row<'_>, i: usize, what: &'static str) -> Result<Vec<u8>, StoreError> {
    match col(row, i)? {
        ValueRef::Blob(b) => Ok(b.to_vec()),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_hash(row: &Row<'_>, i: usize, what: &'static str) -> Result<Hash, StoreError> {
    match col(row, i)? {
        ValueRef::Blob(b) => <[u8; 32]>::try_from(b).map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_time(
    row: &Row<'_>,
    i: usize,
    what: &'static str,
) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(get_i64(row, i, what)?))
        .map_err(|_| corrupt(what))
}

fn get_uuid(row: &Row<'_>, i: usize, what: &'static str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(&get_text(row, i, what)?).map_err(|_| corrupt(what))
}

fn decode_collection(row: &Row<'_>) -> Result<CollectionRow, StoreError> {
    Ok(CollectionRow {
        name: get_text(row, 0, "collections.name")?,
        schema_json: get_text(row, 1, "collections.schema_json")?,
        created_at: get_time(row, 2, "collections.created_at")?,
    })
}

fn decode_subject_key(row: &Row<'_>) -> Result<SubjectKeyRow, StoreError> {
    Ok(SubjectKeyRow {
        subject: get_text(row, 0, "subject_keys.subject")?,
        wrapped_key: get_blob(row, 1, "subject_keys.wrapped_key")?,
        kek_version: u32::try_from(get_i64(row, 2, "subject_keys.kek_version")?)
            .map_err(|_| corrupt("subject_keys.kek_version"))?,
        created_at: get_time(row, 3, "subject_keys.created_at")?,
    })
}

// Column lists are macros so that `concat!` builds each statement text at compile time:
// no allocation per call, and the decoders below read columns in this order.
macro_rules! head_columns {
    () => {
        "collection, id, subject, version, deleted, created_at, updated_at"
    };
}

pub(crate) fn decode_head(row: &Row<'_>) -> Result<RecordHead, StoreError> {
    Ok(RecordHead {
        collection: get_text(row, 0, "record_heads.collection")?,
        id: RecordId(get_uuid(row, 1, "record_heads.id")?),
        subject: get_text(row, 2, "record_heads.subject")?,
        version: get_u64(row, 3, "record_heads.version")?,
        deleted: get_bool(row, 4, "record_heads.deleted")?,
        created_at: get_time(row, 5, "record_heads.created_at")?,
        updated_at: get_time(row, 6, "record_heads.updated_at")?,
    })
}

macro_rules! version_columns {
    () => {
        "collection, id, version, subject, sealed, tombstone, created_at"
    };
}

fn decode_version(row: &Row<'_>) -> Result<RecordVersionRow, StoreError> {
    Ok(RecordVersionRow {
        collection: get_text(row, 0, "record_versions.collection")?,
        id: RecordId(get_uuid(row, 1, "record_versions.id")?),
        version: get_u64(row, 2, "record_versions.version")?,
        subject: get_text(row, 3, "record_versions.subject")?,
        sealed: get_blob(row, 4, "record_versions.sealed")?,
        tombstone: get_bool(row, 5, "record_versions.tombstone")?,
        created_at: get_time(row, 6, "record_versions.created_at")?,
    })
}

macro_rules! token_columns {
    () => {
        "id, name, secret_hash, roles, created_at, expires_at, revoked_at, owner, last_used_at"
    };
}

fn decode_token(row: &Row<'_>) -> Result<TokenRow, StoreError> {
    let roles = get_text(row, 3, "tokens.roles")?;
    let revoked_at = match col(row, 6)? {
        ValueRef::Null => None,
        _ => Some(get_time(row, 6, "tokens.revoked_at")?),
    };
    let last_used_at = match col(row, 8)? {
        ValueRef::Null => None,
        _ => Some(get_time(row, 8, "tokens.last_used_at")?),
    };
    Ok(TokenRow {
        id: TokenId(get_uuid(row, 0, "tokens.id")?),
        name: get_text(row, 1, "tokens.name")?,
        secret_hash: get_hash(row, 2, "tokens.secret_hash")?,
        owner: get_text(row, 7, "tokens.owner")?,
        roles: serde_json::from_str(&roles).map_err(|_| corrupt("tokens.roles"))?,
        created_at: get_time(row, 4, "tokens.created_at")?,
        expires_at: get_time(row, 5, "tokens.expires_at")?,
        revoked_at,
        last_used_at,
    })
}

fn decode_audit(row: &Row<'_>) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: get_u64(row, 0, "audit_log.seq")?,
        prev_hash: get_hash(row, 1, "audit_log.prev_hash")?,
        event_json: get_text(row, 2, "audit_log.event_json")?,
        hash: get_hash(row, 3, "audit_log.hash")?,
    })
}

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

fn decode_tree_head(row: &Row<'_>) -> Result<SignedTreeHead, StoreError> {
    let signature = match col(row, 3)? {
        ValueRef::Blob(b) => {
            <[u8; 64]>::try_from(b).map_err(|_| corrupt("audit_tree_heads.signature"))?
        }
        _ => return Err(corrupt("audit_tree_heads.signature")),
    };
    Ok(SignedTreeHead {
        tree_size: get_u64(row, 0, "audit_tree_heads.tree_size")?,
        timestamp_ms: get_u64(row, 1, "audit_tree_heads.timestamp_ms")?,
        root_hash: get_hash(row, 2, "audit_tree_heads.root_hash")?,
        signature,
    })
}

impl WriteTx for SqlTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
        .map(drop)
    }

    fn insert_collection(&mut self, row: &CollectionRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO collections (name, schema_json, created_at) VALUES (?1, ?2, ?3)",
            params![row.name, row.schema_json, nanos(row.created_at)?],
        )
        .map(drop)
    }

    fn insert_subject_key(&mut self, row: &SubjectKeyRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO subject_keys (subject, wrapped_key, kek_version, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                row.subject,
                row.wrapped_key,
                i64::from(row.kek_version),
                nanos(row.created_at)?
            ],
        )
        .map(drop)
    }

    fn update_subject_key(
        &mut self,
        subject: &str,
        wrapped_key: &[u8],
        kek_version: u32,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE subject_keys SET wrapped_key = ?2, kek_version = ?3 WHERE subject = ?1",
            params![subject, wrapped_key, i64::from(kek_version)],
        )?;
        Ok(n > 0)
    }

    fn insert_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError> {
        self.exec(
            concat!(
                "INSERT INTO record_heads (",
                head_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                head.collection,
                uuid_text(&head.id.0),
                head.subject,
                int(head.version, "record version")?,
                head.deleted,
                nanos(head.created_at)?,
                nanos(head.updated_at)?
            ],
        )
        .map(drop)
    }

    fn update_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE record_heads SET subject = ?3, version = ?4, deleted = ?5, \
             created_at = ?6, updated_at = ?7 WHERE collection = ?1 AND id = ?2",
            params![
                head.collection,
                uuid_text(&head.id.0),
                head.subject,
                int(head.version, "record version")?,
                head.deleted,
                nanos(head.created_at)?,
                nanos(head.updated_at)?
            ],
        )?;
        // The contract has no "not found" answer here; the vault only updates a head it
        // has just read in the same transaction, so a miss is a bug and must not pass silently.
        if n == 0 {
            return Err(StoreError::Unavailable(
                "update_record_head: no such record head".into(),
            ));
        }
        Ok(())
    }

    fn insert_record_version(&mut self, row: &RecordVersionRow) -> Result<(), StoreError> {
        self.exec(
            concat!(
                "INSERT INTO record_versions (",
                version_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                row.collection,
                uuid_text(&row.id.0),
                int(row.version, "record version")?,
                row.subject,
                row.sealed,
                row.tombstone,
                nanos(row.created_at)?
            ],
        )
        .map(drop)
    }

    fn replace_index_entries(
        &mut self,
        collection: &str,
        id: &RecordId,
        entries: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let id = uuid_text(&id.0);
        self.exec(
            "DELETE FROM index_entries WHERE collection = ?1 AND record_id = ?2",
            params![collection, id],
        )?;
        for e in entries {
            // OR IGNORE: a multi-valued field may yield the same tag twice; one row suffices.
            self.exec(
                "INSERT OR IGNORE INTO index_entries (collection, field, tag, record_id) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![collection, e.field, &e.tag[..], id],
            )?;
        }
        Ok(())
    }

    fn insert_token(&mut self, row: &TokenRow) -> Result<(), StoreError> {
        let roles = serde_json::to_string(&row.roles)
            .map_err(|_| StoreError::Unavailable("token roles could not be encoded".into()))?;
        let revoked_at = row.revoked_at.map(nanos).transpose()?;
        let last_used_at = row.last_used_at.map(nanos).transpose()?;
        self.exec(
            concat!(
                "INSERT INTO tokens (",
                token_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                uuid_text(&row.id.0),
                row.name,
                &row.secret_hash[..],
                roles,
                nanos(row.created_at)?,
                nanos(row.expires_at)?,
                revoked_at,
                row.owner,
                last_used_at
            ],
        )
        .map(drop)
    }

    fn revoke_token(&mut self, id: &TokenId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![uuid_text(&id.0), nanos(at)?],
        )?;
        Ok(n > 0)
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO audit_log (seq, prev_hash, event_json, hash) VALUES (?1, ?2, ?3, ?4)",
            params![
                int(entry.seq, "audit sequence number")?,
                &entry.prev_hash[..],
                entry.event_json,
                &entry.hash[..]
            ],
        )
        .map(drop)
    }

    fn put_audit_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError> {
        for (level, index, hash) in nodes {
            self.exec(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                params![level, int(*index, "merkle node index")?, &hash[..]],
            )?;
        }
        Ok(())
    }

    fn prune_audit(&mut self, through: u64) -> Result<u64, StoreError> {
        let through = int(through, "audit sequence number")?;
        let n = self.exec("DELETE FROM audit_log WHERE seq <= ?1", params![through])?;
        self.exec(
            "DELETE FROM audit_nodes WHERE level = 0 AND idx + 1 < ?1",
            params![through],
        )?;
        Ok(n as u64)
    }

    fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO audit_tree_heads (tree_size, timestamp_ms, root_hash, signature) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                int(head.tree_size, "tree size")?,
                int(head.timestamp_ms, "tree head timestamp")?,
                &head.root_hash[..],
                &head.signature[..]
            ],
        )
        .map(drop)
    }

    fn record_shred(&mut self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        crate::backup::record_shred(self, subject, at)
    }

    fn delete_subject_key(&mut self, subject: &str) -> Result<bool, StoreError> {
        crate::backup::delete_subject_key(self, subject)
    }
}
