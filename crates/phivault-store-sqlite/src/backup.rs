//! Backups of a SQLite vault: a consistent snapshot of the whole database (records, keys,
//! identity and the audit log) taken with `VACUUM INTO` from a separate read-only
//! connection, so it runs beside a serving vault without blocking its writer; plus the
//! shred ledger's SQL and the checks a verifier runs on a restored copy.
//!
//! `VACUUM INTO` reads inside one read transaction: the copy is exactly the state of one
//! commit, never a mix, however many writes land meanwhile (SQLite's page-by-page online
//! backup API would restart on every concurrent write of another process). The copy is
//! compact, has no WAL and has its free pages dropped, so shredded keys do not linger in it.

use std::collections::BTreeMap;
use std::path::Path;

use phivault_core::StoreError;
use phivault_core::backup::ShredEntry;
use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;

use crate::error::map_err;
use crate::tx::{SqlTx, get_text, get_time, nanos};
use crate::{BUSY_TIMEOUT, create_private};

/// A snapshot written by [`snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Rows per table in the copy.
    pub counts: BTreeMap<String, u64>,
    /// `PRAGMA user_version` of the copy.
    pub schema_version: u32,
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    Ok(conn)
}

/// Writes a consistent copy of the database at `source` to `dest` (a new, owner-only
/// file), while other connections and processes keep reading and writing `source`.
pub fn snapshot(source: &Path, dest: &Path) -> Result<SnapshotInfo, StoreError> {
    if dest.exists() {
        return Err(StoreError::Unavailable(
            "the snapshot file already exists".to_owned(),
        ));
    }
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StoreError::Unavailable("the snapshot path is not UTF-8".to_owned()))?;
    // Created empty and owner-only first: VACUUM INTO accepts an empty file and keeps its mode.
    create_private(dest)?;
    let conn = open_read_only(source)?;
    conn.execute("VACUUM INTO ?1", [dest_text])
        .map_err(map_err)?;
    drop(conn);
    Ok(SnapshotInfo {
        counts: table_counts(dest)?,
        schema_version: schema_version(dest)?,
    })
}

/// Rows per table (every table of the schema, SQLite's own excepted).
pub fn table_counts(db: &Path) -> Result<BTreeMap<String, u64>, StoreError> {
    let conn = open_read_only(db)?;
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .map_err(map_err)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    let mut counts = BTreeMap::new();
    for name in names {
        // The name comes from the schema itself; quoting keeps odd names one identifier.
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = conn.query_row(&sql, [], |r| r.get(0)).map_err(map_err)?;
        counts.insert(name, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// `PRAGMA user_version` of a database file.
pub fn schema_version(db: &Path) -> Result<u32, StoreError> {
    let conn = open_read_only(db)?;
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(map_err)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt("database schema version".into()))
}

/// `PRAGMA integrity_check`: an empty list when the file is sound, else SQLite's findings.
pub fn integrity_check(db: &Path) -> Result<Vec<String>, StoreError> {
    let conn = open_read_only(db)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// The shred ledger of a database file, read without opening a store (a missing table,
/// in a file older than the ledger, is an empty ledger).
pub fn read_shred_ledger(db: &Path) -> Result<Vec<ShredEntry>, StoreError> {
    let conn = open_read_only(db)?;
    let exists: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'shred_ledger'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    list_shred_ledger(&SqlTx::new(&conn))
}

pub(crate) fn list_shred_ledger(tx: &SqlTx<'_>) -> Result<Vec<ShredEntry>, StoreError> {
    tx.rows(
        "SELECT subject, shredded_at FROM shred_ledger ORDER BY subject",
        [],
        |r| {
            Ok(ShredEntry {
                subject: get_text(r, 0, "shred_ledger.subject")?,
                shredded_at: get_time(r, 1, "shred_ledger.shredded_at")?,
            })
        },
    )
}

pub(crate) fn record_shred(
    tx: &SqlTx<'_>,
    subject: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO shred_ledger (subject, shredded_at) VALUES (?1, ?2) \
         ON CONFLICT (subject) DO UPDATE SET shredded_at = min(shredded_at, excluded.shredded_at)",
        rusqlite::params![subject, nanos(at)?],
    )
    .map(drop)
}

pub(crate) fn delete_subject_key(tx: &SqlTx<'_>, subject: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM subject_keys WHERE subject = ?1", [subject])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteOptions, SqliteStore};
    use phivault_core::store::{ReadTx, Store, SubjectKeyRow, WriteTx};
    use std::sync::{Arc, Mutex};

    async fn write(store: &SqliteStore, f: impl FnOnce(&mut dyn WriteTx) + Send + 'static) {
        store
            .write(Box::new(move |tx| {
                f(tx);
                Ok(())
            }))
            .await
            .unwrap();
    }

    async fn read<T: Send + 'static>(
        store: &SqliteStore,
        f: impl FnOnce(&mut dyn ReadTx) -> T + Send + 'static,
    ) -> T {
        let slot = Arc::new(Mutex::new(None));
        let inner = slot.clone();
        store
            .read(Box::new(move |tx| {
                *inner.lock().unwrap() = Some(f(tx));
                Ok(())
            }))
            .await
            .unwrap();
        slot.lock().unwrap().take().unwrap()
    }

    #[tokio::test]
    async fn the_shred_ledger_keeps_the_first_time_and_keys_are_deleted_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.db");
        let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(3);
        write(&store, move |tx| {
            tx.insert_subject_key(&SubjectKeyRow {
                subject: "s-1".into(),
                wrapped_key: vec![1, 2, 3],
                kek_version: 1,
                created_at: t,
            })
            .unwrap();
            tx.record_shred("s-1", t).unwrap();
            tx.record_shred("s-1", t + time::Duration::days(1)).unwrap();
            tx.record_shred("s-1", t - time::Duration::days(1)).unwrap();
            assert!(tx.delete_subject_key("s-1").unwrap());
            assert!(!tx.delete_subject_key("s-1").unwrap());
        })
        .await;
        let ledger = read(&store, |tx| tx.list_shred_ledger().unwrap()).await;
        assert_eq!(
            ledger,
            vec![ShredEntry {
                subject: "s-1".into(),
                shredded_at: t - time::Duration::days(1)
            }]
        );
        assert!(
            read(&store, |tx| tx.get_subject_key("s-1").unwrap())
                .await
                .is_none()
        );

        // A snapshot taken while the store is open holds the same rows and ledger.
        let snap = dir.path().join("snap.db");
        let info = snapshot(&db, &snap).unwrap();
        assert_eq!(info.counts["shred_ledger"], 1);
        assert_eq!(info.counts["subject_keys"], 0);
        assert_eq!(info.schema_version, crate::SCHEMA_VERSION);
        assert_eq!(read_shred_ledger(&snap).unwrap(), ledger);
        assert!(integrity_check(&snap).unwrap().is_empty());
        assert!(snapshot(&db, &snap).is_err(), "a snapshot never overwrites");
    }
}
