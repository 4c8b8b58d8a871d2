//! The embedded, versioned schema. Migration `n` (1-based) moves a database from
//! `PRAGMA user_version = n - 1` to `n`; all pending ones run in one transaction on open,
//! and a database written by a newer build (a higher version) is refused untouched.
//!
//! Columns hold ids, names, times, ciphertext, wrapped keys, blind-index tags and audit
//! JSON only. Times are INTEGER Unix nanoseconds (UTC), so rows round-trip exactly.

use phivault_core::StoreError;
use rusqlite::Connection;

use crate::error::map_err;

/// Each entry is one migration; append only, never edit a released one (existing files
/// were built by it).
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE collections (
        name        TEXT PRIMARY KEY NOT NULL,
        schema_json TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE subject_keys (
        subject     TEXT PRIMARY KEY NOT NULL,
        wrapped_key BLOB NOT NULL,
        kek_version INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;

    -- A record cannot outlive its collection: the vault never deletes collections that
    -- hold records, and the foreign key turns a bug that tried into a failed write.
    CREATE TABLE record_heads (
        collection TEXT NOT NULL REFERENCES collections(name),
        id         TEXT NOT NULL,
        subject    TEXT NOT NULL,
        version    INTEGER NOT NULL,
        deleted    INTEGER NOT NULL CHECK (deleted IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (collection, id)
    ) STRICT;
    -- Serves list_subject_records: a subject's records in (collection, id) order.
    CREATE INDEX record_heads_by_subject ON record_heads (subject, collection, id);

    -- No foreign key to record_heads: the vault may write a version before its head in
    -- the same transaction, and deferred checks would fail a whole group-commit batch.
    CREATE TABLE record_versions (
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        version    INTEGER NOT NULL,
        subject    TEXT NOT NULL,
        sealed     BLOB NOT NULL,
        tombstone  INTEGER NOT NULL CHECK (tombstone IN (0, 1)),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (collection, id, version)
    ) STRICT;

    CREATE TABLE index_entries (
        collection TEXT NOT NULL,
        field      TEXT NOT NULL,
        tag        BLOB NOT NULL,
        record_id  TEXT NOT NULL,
        PRIMARY KEY (collection, record_id, field, tag)
    ) STRICT;
    -- Serves find_by_index; the primary key serves replace_index_entries.
    CREATE INDEX index_entries_lookup ON index_entries (collection, field, tag, record_id);

    CREATE TABLE tokens (
        id          TEXT PRIMARY KEY NOT NULL,
        name        TEXT NOT NULL,
        secret_hash BLOB NOT NULL UNIQUE,
        scopes      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    ) STRICT;

    -- seq is the rowid: appends are cheap and entries come back in order without an index.
    CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY,
        prev_hash  BLOB NOT NULL,
        event_json TEXT NOT NULL,
        hash       BLOB NOT NULL
    ) STRICT;
    "#,
    // 2: the RFC 9162 Merkle tree over audit events and its signed tree heads.
    r#"
    -- Perfect subtree hashes, written as entries are appended (level 0 = leaf hashes), so
    -- roots and proofs need O(log n) reads and no append rehashes the log.
    CREATE TABLE audit_nodes (
        level INTEGER NOT NULL,
        idx   INTEGER NOT NULL,
        hash  BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE audit_tree_heads (
        tree_size    INTEGER PRIMARY KEY,
        timestamp_ms INTEGER NOT NULL,
        root_hash    BLOB NOT NULL,
        signature    BLOB NOT NULL
    ) STRICT;
    "#,
    // 3: identity and access (users, sessions, login failures, recovery codes, custom
    // roles, care relationships, break glass); tokens gain an owner, roles and last use.
    r#"
    -- roles: a JSON array of role names. No foreign keys to users in this migration: the
    -- contract defines no ordering between writes, and users are never deleted.
    CREATE TABLE users (
        id              TEXT PRIMARY KEY NOT NULL,
        username        TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL,
        password_phc    TEXT,
        totp_sealed     BLOB,
        totp_last_step  INTEGER,
        roles           TEXT NOT NULL,
        allow_admin_phi INTEGER NOT NULL CHECK (allow_admin_phi IN (0, 1)),
        disabled        INTEGER NOT NULL CHECK (disabled IN (0, 1)),
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY NOT NULL,
        user_id      TEXT NOT NULL,
        secret_hash  BLOB NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        revoked_at   INTEGER
    ) STRICT;
    -- Serves revoke_user_sessions.
    CREATE INDEX sessions_by_user ON sessions (user_id);

    -- One row per failed login; key is a normalised login name, known or not.
    CREATE TABLE login_failures (
        key TEXT NOT NULL,
        at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX login_failures_by_key ON login_failures (key, at);

    CREATE TABLE recovery_codes (
        user_id   TEXT NOT NULL,
        code_hash BLOB NOT NULL,
        used_at   INTEGER,
        PRIMARY KEY (user_id, code_hash)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE roles (
        name            TEXT PRIMARY KEY NOT NULL,
        definition_json TEXT NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE care_relationships (
        principal_id TEXT NOT NULL,
        subject      TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        PRIMARY KEY (principal_id, subject)
    ) STRICT, WITHOUT ROWID;

    -- reason_sealed and review_sealed are sealed under the opener's data key.
    CREATE TABLE break_glass (
        id            TEXT PRIMARY KEY NOT NULL,
        principal_id  TEXT NOT NULL,
        subject       TEXT NOT NULL,
        reason_sealed BLOB NOT NULL,
        opened_at     INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        reviewed_at   INTEGER,
        reviewer      TEXT,
        review_sealed BLOB
    ) STRICT;
    -- Serves active_break_glass.
    CREATE INDEX break_glass_active ON break_glass (principal_id, subject, expires_at);

    -- Existing tokens keep their scope names as role names and get no owner ('').
    ALTER TABLE tokens RENAME COLUMN scopes TO roles;
    ALTER TABLE tokens ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
    "#,
    // 4: the shred ledger: subjects whose data key was destroyed. A restore replays it, so
    // an older backup never brings an erased subject's key back.
    r#"
    CREATE TABLE shred_ledger (
        subject     TEXT PRIMARY KEY NOT NULL,
        shredded_at INTEGER NOT NULL
    ) STRICT;
    "#,
    // 5: Privacy Rule items (requests, disclosures, restrictions, holds). Only `sealed`
    // holds PHI, under the subject's data key; the rest drives due dates and enforcement.
    r#"
    CREATE TABLE privacy_items (
        id         TEXT PRIMARY KEY NOT NULL,
        kind       TEXT NOT NULL,
        subject    TEXT NOT NULL,
        status     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        due_at     INTEGER,
        updated_at INTEGER NOT NULL,
        meta_json  TEXT NOT NULL,
        sealed     BLOB NOT NULL
    ) STRICT;
    -- Serves restriction checks on every data decision and per-subject lists.
    CREATE INDEX privacy_items_by_subject ON privacy_items (subject, kind, created_at);
    CREATE INDEX privacy_items_by_kind ON privacy_items (kind, created_at);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`] in one immediate transaction, or refuses
/// it if a newer build has already migrated it.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    // IMMEDIATE: two processes opening a fresh file at once must not both migrate it.
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    let result = migrate_in_tx(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match (result, conn.execute_batch(end).map_err(map_err)) {
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

fn migrate_in_tx(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    let current = u32::try_from(current)
        .map_err(|_| StoreError::Corrupt("database schema version is negative".into()))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build supports \
             ({SCHEMA_VERSION}); upgrade phivault"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        conn.execute_batch(sql).map_err(map_err)?;
        tracing::info!(schema_version = i + 1, "applied sqlite migration");
    }
    if current != SCHEMA_VERSION {
        // user_version lives in the file header, which is part of this transaction.
        conn.pragma_update(None, "user_version", i64::from(SCHEMA_VERSION))
            .map_err(map_err)?;
    }
    Ok(())
}
