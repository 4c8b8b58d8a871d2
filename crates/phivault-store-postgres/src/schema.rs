//! The embedded, versioned schema. Migration `n` (1-based) moves a schema from version
//! `n - 1` to `n` (kept in `phivault_schema_version`); all pending ones run in one
//! transaction under an advisory lock, so several nodes starting at once migrate once, and
//! a schema written by a newer build is refused untouched.
//!
//! The tables mirror the SQLite backend column for column: ids, names, times (BIGINT Unix
//! nanoseconds, UTC, so rows round-trip exactly and `phivault migrate` is lossless),
//! ciphertext, wrapped keys, blind-index tags and audit JSON. Text keys use the "C"
//! collation so that ordering is bytewise, as in SQLite, whatever the database's locale.

use phivault_core::StoreError;
use tokio_postgres::Client;

use crate::error::map_err;

/// The advisory lock key taken while creating a schema or migrating ("phiv").
const MIGRATION_LOCK: i64 = 0x7068_6976;

/// Each entry is one migration; append only, never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE collections (
        name        TEXT COLLATE "C" PRIMARY KEY,
        schema_json TEXT NOT NULL,
        created_at  BIGINT NOT NULL
    );

    CREATE TABLE subject_keys (
        subject     TEXT COLLATE "C" PRIMARY KEY,
        wrapped_key BYTEA NOT NULL,
        kek_version BIGINT NOT NULL,
        created_at  BIGINT NOT NULL
    );

    CREATE TABLE record_heads (
        collection TEXT COLLATE "C" NOT NULL REFERENCES collections(name),
        id         TEXT COLLATE "C" NOT NULL,
        subject    TEXT COLLATE "C" NOT NULL,
        version    BIGINT NOT NULL,
        deleted    BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (collection, id)
    );
    CREATE INDEX record_heads_by_subject ON record_heads (subject, collection, id);

    CREATE TABLE record_versions (
        collection TEXT COLLATE "C" NOT NULL,
        id         TEXT COLLATE "C" NOT NULL,
        version    BIGINT NOT NULL,
        subject    TEXT COLLATE "C" NOT NULL,
        sealed     BYTEA NOT NULL,
        tombstone  BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (collection, id, version)
    );

    CREATE TABLE index_entries (
        collection TEXT COLLATE "C" NOT NULL,
        field      TEXT COLLATE "C" NOT NULL,
        tag        BYTEA NOT NULL,
        record_id  TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (collection, record_id, field, tag)
    );
    CREATE INDEX index_entries_lookup ON index_entries (collection, field, tag, record_id);

    -- roles: a JSON array of role names; owner: the service account's user id.
    CREATE TABLE tokens (
        id           TEXT COLLATE "C" PRIMARY KEY,
        name         TEXT NOT NULL,
        secret_hash  BYTEA NOT NULL UNIQUE,
        roles        TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        revoked_at   BIGINT,
        owner        TEXT COLLATE "C" NOT NULL DEFAULT '',
        last_used_at BIGINT
    );

    CREATE TABLE audit_log (
        seq        BIGINT PRIMARY KEY,
        prev_hash  BYTEA NOT NULL,
        event_json TEXT NOT NULL,
        hash       BYTEA NOT NULL
    );

    -- The RFC 9162 Merkle tree over audit events (perfect subtree hashes, level 0 = leaves)
    -- and its signed tree heads.
    CREATE TABLE audit_nodes (
        level BIGINT NOT NULL,
        idx   BIGINT NOT NULL,
        hash  BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    );

    CREATE TABLE audit_tree_heads (
        tree_size    BIGINT PRIMARY KEY,
        timestamp_ms BIGINT NOT NULL,
        root_hash    BYTEA NOT NULL,
        signature    BYTEA NOT NULL
    );

    -- Identity and access. roles: a JSON array of role names.
    CREATE TABLE users (
        id              TEXT COLLATE "C" PRIMARY KEY,
        username        TEXT COLLATE "C" NOT NULL UNIQUE,
        kind            TEXT NOT NULL,
        password_phc    TEXT,
        totp_sealed     BYTEA,
        totp_last_step  BIGINT,
        roles           TEXT NOT NULL,
        allow_admin_phi BOOLEAN NOT NULL,
        disabled        BOOLEAN NOT NULL,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL
    );

    CREATE TABLE sessions (
        id           TEXT COLLATE "C" PRIMARY KEY,
        user_id      TEXT COLLATE "C" NOT NULL,
        secret_hash  BYTEA NOT NULL UNIQUE,
        created_at   BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        revoked_at   BIGINT
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);

    CREATE TABLE login_failures (
        key TEXT COLLATE "C" NOT NULL,
        at  BIGINT NOT NULL
    );
    CREATE INDEX login_failures_by_key ON login_failures (key, at);

    CREATE TABLE recovery_codes (
        user_id   TEXT COLLATE "C" NOT NULL,
        code_hash BYTEA NOT NULL,
        used_at   BIGINT,
        PRIMARY KEY (user_id, code_hash)
    );

    CREATE TABLE roles (
        name            TEXT COLLATE "C" PRIMARY KEY,
        definition_json TEXT NOT NULL,
        updated_at      BIGINT NOT NULL
    );

    CREATE TABLE care_relationships (
        principal_id TEXT COLLATE "C" NOT NULL,
        subject      TEXT COLLATE "C" NOT NULL,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT,
        PRIMARY KEY (principal_id, subject)
    );

    CREATE TABLE break_glass (
        id            TEXT COLLATE "C" PRIMARY KEY,
        principal_id  TEXT COLLATE "C" NOT NULL,
        subject       TEXT COLLATE "C" NOT NULL,
        reason_sealed BYTEA NOT NULL,
        opened_at     BIGINT NOT NULL,
        expires_at    BIGINT NOT NULL,
        reviewed_at   BIGINT,
        reviewer      TEXT,
        review_sealed BYTEA
    );
    CREATE INDEX break_glass_active ON break_glass (principal_id, subject, expires_at);

    -- Subjects whose data key was destroyed; a restore replays it, so an older backup
    -- never brings an erased subject's key back.
    CREATE TABLE shred_ledger (
        subject     TEXT COLLATE "C" PRIMARY KEY,
        shredded_at BIGINT NOT NULL
    );

    -- One row; every write transaction locks it first (SELECT ... FOR UPDATE), so write
    -- transactions of all nodes run one after another and the audit chain cannot fork.
    CREATE TABLE write_lock (
        id INTEGER PRIMARY KEY CHECK (id = 1)
    );
    INSERT INTO write_lock (id) VALUES (1);
    "#,
    // 2: Privacy Rule items (requests, disclosures, restrictions, holds). Only `sealed`
    // holds PHI, under the subject's data key; the rest drives due dates and enforcement.
    r#"
    CREATE TABLE privacy_items (
        id         TEXT COLLATE "C" PRIMARY KEY,
        kind       TEXT COLLATE "C" NOT NULL,
        subject    TEXT COLLATE "C" NOT NULL,
        status     TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        due_at     BIGINT,
        updated_at BIGINT NOT NULL,
        meta_json  TEXT NOT NULL,
        sealed     BYTEA NOT NULL
    );
    CREATE INDEX privacy_items_by_subject ON privacy_items (subject, kind, created_at);
    CREATE INDEX privacy_items_by_kind ON privacy_items (kind, created_at);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Creates `schema` if given and missing, then brings it up to [`SCHEMA_VERSION`], or
/// refuses it if a newer build has already migrated it. The connection's `search_path`
/// already points at the schema.
pub(crate) async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(map_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(map_err)?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {0}; SET LOCAL search_path TO {0}",
            quote_ident(schema)
        ))
        .await
        .map_err(map_err)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS phivault_schema_version (version BIGINT NOT NULL)",
    )
    .await
    .map_err(map_err)?;
    let current: Option<i64> = tx
        .query_opt("SELECT version FROM phivault_schema_version", &[])
        .await
        .map_err(map_err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(map_err)?;
    let current = match current {
        None => 0,
        Some(v) => u32::try_from(v)
            .map_err(|_| StoreError::Corrupt("database schema version is out of range".into()))?,
    };
    if current > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build supports \
             ({SCHEMA_VERSION}); upgrade phivault"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await.map_err(map_err)?;
        tracing::info!(schema_version = i + 1, "applied postgres migration");
    }
    if current != SCHEMA_VERSION {
        let v = i64::from(SCHEMA_VERSION);
        tx.execute("DELETE FROM phivault_schema_version", &[])
            .await
            .map_err(map_err)?;
        tx.execute(
            "INSERT INTO phivault_schema_version (version) VALUES ($1)",
            &[&v],
        )
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)
}

/// Quotes an identifier for SQL text (schemas cannot be bound as parameters).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
