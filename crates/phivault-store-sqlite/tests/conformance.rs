//! The store conformance suite against [`SqliteStore`], plus what only SQLite can show:
//! the bytes in the file, reopening, schema versions, batching and lock handling.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use std::sync::Arc;
use std::time::Duration;

use phivault_conformance::Fixture;
use phivault_core::store::{CollectionRow, RecordHead, RecordVersionRow, Store};
use phivault_core::{RecordId, StoreError};
use phivault_store_sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};
use tempfile::TempDir;
use time::macros::datetime;
use uuid::Uuid;

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("vault.db"), SqliteOptions::default()).unwrap();
    Fixture::keeping(store, dir)
}

mod suite {
    use super::fresh;

    phivault_conformance::store_conformance_tests!(fresh);
}

/// The sequential runner works too (and runs against `Synchronous::Normal`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_with_normal_sync() {
    phivault_conformance::run_all(|| async {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteOptions {
            synchronous: Synchronous::Normal,
            max_batch: 8,
            readers: 2,
        };
        let store = SqliteStore::open(&dir.path().join("vault.db"), opts).unwrap();
        Fixture::keeping(store, dir)
    })
    .await;
}

fn temp_db() -> (TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    (dir, path)
}

fn record(n: u128, sealed: Vec<u8>) -> (CollectionRow, RecordHead, RecordVersionRow) {
    let t = datetime!(2026-03-01 08:30:00.123456789 UTC);
    let id = RecordId(Uuid::from_u128(n));
    let coll = CollectionRow {
        name: "notes".into(),
        schema_json: "{}".into(),
        created_at: t,
    };
    let head = RecordHead {
        collection: "notes".into(),
        id,
        subject: "subj-1".into(),
        version: 1,
        deleted: false,
        created_at: t,
        updated_at: t,
    };
    let version = RecordVersionRow {
        collection: "notes".into(),
        id,
        version: 1,
        subject: "subj-1".into(),
        sealed,
        tombstone: false,
        created_at: t,
    };
    (coll, head, version)
}

async fn write_record(store: &SqliteStore, sealed: Vec<u8>) -> RecordVersionRow {
    let (coll, head, version) = record(1, sealed);
    let v = version.clone();
    store
        .write(Box::new(move |tx| {
            tx.insert_collection(&coll)?;
            tx.insert_record_head(&head)?;
            tx.insert_record_version(&v)
        }))
        .await
        .unwrap();
    version
}

#[tokio::test]
async fn sealed_bytes_are_stored_as_an_exact_blob() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let sealed: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let written = write_record(&store, sealed.clone()).await;

    let raw = rusqlite::Connection::open(&path).unwrap();
    let (kind, stored): (String, Vec<u8>) = raw
        .query_row(
            "SELECT typeof(sealed), sealed FROM record_versions WHERE id = ?1",
            [written.id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert_eq!(stored, sealed);
}

#[tokio::test]
async fn reopening_preserves_data_and_nanosecond_times() {
    let (_dir, path) = temp_db();
    let written = {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        write_record(&store, vec![1, 2, 3]).await
    };
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let id = written.id;
    let got = Arc::new(std::sync::Mutex::new(None));
    let slot = got.clone();
    store
        .read(Box::new(move |tx| {
            *slot.lock().unwrap() = tx.get_record_version("notes", &id, 1)?;
            Ok(())
        }))
        .await
        .unwrap();
    assert_eq!(got.lock().unwrap().take(), Some(written));
}

#[tokio::test]
async fn pragmas_and_schema_version_are_set() {
    let (_dir, path) = temp_db();
    let _store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, i64::from(SCHEMA_VERSION));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the database file must not be group/world readable"
        );
    }
}

#[tokio::test]
async fn a_newer_schema_version_is_refused() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", i64::from(SCHEMA_VERSION) + 1)
        .unwrap();
    drop(raw);
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("newer"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Refusing must not touch the file.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, i64::from(SCHEMA_VERSION) + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .write(Box::new(move |tx| tx.set_meta(&format!("k{i}"), "v")))
                .await
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.unwrap().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.writes, 300);
    assert!(
        stats.commits < stats.writes,
        "group commit should batch concurrent writes: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_batch_bounds_a_batch() {
    let (_dir, path) = temp_db();
    let opts = SqliteOptions {
        max_batch: 1,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&path, opts).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .write(Box::new(move |tx| tx.set_meta(&format!("k{i}"), "v")))
                .await
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.unwrap().unwrap();
    }
    assert_eq!(store.stats().commits, 20);
}

#[tokio::test]
async fn a_panicking_closure_fails_alone_and_the_writer_survives() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let outcome = store
        .write(Box::new(|tx| {
            tx.set_meta("panicked", "1")?;
            panic!("test panic inside a write closure");
        }))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    store
        .write(Box::new(|tx| tx.set_meta("after", "1")))
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let keys: Vec<String> = raw
        .prepare("SELECT key FROM meta ORDER BY key")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, vec!["after".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_connections_lock() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    // Another process (e.g. the CLI) holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let s = store.clone();
    let mut write =
        tokio::spawn(async move { s.write(Box::new(|tx| tx.set_meta("waited", "1"))).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut write)
            .await
            .is_err(),
        "the write must wait while another connection holds the lock"
    );
    other.execute_batch("COMMIT").unwrap();
    write.await.unwrap().unwrap();
}

#[tokio::test]
async fn checkpoint_truncates_the_wal() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    write_record(&store, vec![7; 10_000]).await;
    let wal = path.with_file_name("vault.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    store.checkpoint().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
}

#[tokio::test]
async fn an_undecodable_row_is_reported_as_corrupt() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    write_record(&store, vec![1]).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE record_heads SET id = 'not-a-uuid'", [])
        .unwrap();
    let outcome = store
        .read(Box::new(|tx| {
            tx.list_subject_records("subj-1", None, 10).map(drop)
        }))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Corrupt(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_record_needs_its_collection() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let (_, head, _) = record(5, vec![]);
    let outcome = store
        .write(Box::new(move |tx| tx.insert_record_head(&head)))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
}

/// Migration 3 keeps tokens issued before it: their scope names become role names, they
/// have no owner (`''`) and were never used.
#[tokio::test]
async fn tokens_survive_the_identity_migration() {
    let (_dir, path) = temp_db();
    let created = datetime!(2026-03-01 08:30:00.123456789 UTC);
    {
        // The tokens table as migration 1 created it, in a file at schema version 2.
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "CREATE TABLE tokens (
                id          TEXT PRIMARY KEY NOT NULL,
                name        TEXT NOT NULL,
                secret_hash BLOB NOT NULL UNIQUE,
                scopes      TEXT NOT NULL,
                created_at  INTEGER NOT NULL,
                expires_at  INTEGER NOT NULL,
                revoked_at  INTEGER
            ) STRICT;
            PRAGMA user_version = 2;",
        )
        .unwrap();
        let nanos = i64::try_from(created.unix_timestamp_nanos()).unwrap();
        raw.execute(
            "INSERT INTO tokens VALUES (?1, 'legacy', ?2, '[\"records:read\"]', ?3, ?4, NULL)",
            rusqlite::params![
                Uuid::from_u128(7).hyphenated().to_string(),
                &[7u8; 32][..],
                nanos,
                nanos + 1_000
            ],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let got = Arc::new(std::sync::Mutex::new(None));
    let slot = got.clone();
    store
        .read(Box::new(move |tx| {
            *slot.lock().unwrap() = tx.get_token_by_hash(&[7; 32])?;
            Ok(())
        }))
        .await
        .unwrap();
    let token = got.lock().unwrap().take().unwrap();
    assert_eq!(token.id, phivault_core::TokenId(Uuid::from_u128(7)));
    assert_eq!(token.roles, vec!["records:read".to_owned()]);
    assert_eq!(token.owner, "");
    assert_eq!(token.created_at, created);
    assert_eq!(token.last_used_at, None);
    assert_eq!(token.revoked_at, None);
}

#[path = "audit/tamper.rs"]
mod audit_tamper;
