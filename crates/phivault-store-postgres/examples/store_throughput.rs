//! The same write workload against both backends, at the `Store` level: CLIENTS concurrent
//! tasks for SECONDS each, every write shaped like a record create (a record head, a 1 KiB
//! sealed version, two blind-index entries, and an audit entry chained after the head read
//! in the same transaction). Prints writes per second and the batching gain.
//!
//! `cargo run --release -p phivault-store-postgres --example store_throughput -- [CLIENTS] [SECONDS]`
//! (PostgreSQL from `PHIVAULT_TEST_POSTGRES_URL`, a fresh schema dropped afterwards).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use phivault_core::audit::{AuditEntry, GENESIS_HASH};
use phivault_core::store::{
    CollectionRow, IndexEntry, RecordHead, RecordVersionRow, Store, write_tx,
};
use phivault_core::{RecordId, VaultError};
use phivault_store_postgres::testing::TestSchema;
use phivault_store_postgres::{PgOptions, PgStore};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;
use uuid::Uuid;

async fn one_write(store: &dyn Store, n: u64) -> Result<(), VaultError> {
    write_tx(store, move |tx| {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000);
        let id = RecordId(Uuid::new_v4());
        let head = RecordHead {
            collection: "patients".into(),
            id,
            subject: format!("subj-{}", n % 1000),
            version: 1,
            deleted: false,
            created_at: t,
            updated_at: t,
        };
        tx.insert_record_head(&head)?;
        tx.insert_record_version(&RecordVersionRow {
            collection: "patients".into(),
            id,
            version: 1,
            subject: head.subject.clone(),
            sealed: vec![0xA5; 1024],
            tombstone: false,
            created_at: t,
        })?;
        let tags = [
            IndexEntry {
                field: "mrn".into(),
                tag: [n as u8; 32],
            },
            IndexEntry {
                field: "last_name".into(),
                tag: [(n >> 8) as u8; 32],
            },
        ];
        tx.replace_index_entries("patients", &id, &tags)?;
        let (seq, prev) = tx.audit_head()?.unwrap_or((0, GENESIS_HASH));
        let json = format!(r#"{{"action":"record.create","n":{n}}}"#);
        tx.append_audit(&AuditEntry {
            seq: seq + 1,
            prev_hash: prev,
            hash: AuditEntry::compute_hash(seq + 1, &prev, json.as_bytes()),
            event_json: json,
        })?;
        Ok(())
    })
    .await
}

async fn run(name: &str, store: Arc<dyn Store>, clients: usize, seconds: u64) -> f64 {
    write_tx(&*store, |tx| {
        Ok(tx.insert_collection(&CollectionRow {
            name: "patients".into(),
            schema_json: "{}".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        })?)
    })
    .await
    .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                one_write(&*store, (c as u64) << 32 | n).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    println!("{name:<10} {clients:>3} clients: {total:>7} writes, {rate:>8.0} writes/s");
    rate
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients: usize = args.get(1).map_or(32, |s| s.parse().unwrap());
    let seconds: u64 = args.get(2).map_or(5, |s| s.parse().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"), SqliteOptions::default()).unwrap(),
    );
    run("sqlite", sqlite.clone(), clients, seconds).await;
    let s = sqlite.stats();
    println!("           {} commits for {} writes", s.commits, s.writes);

    let schema = TestSchema::create("throughput")
        .await
        .expect("PostgreSQL is needed");
    let pg = Arc::new(PgStore::connect(&schema.url(), PgOptions::default()).unwrap());
    run("postgres", pg.clone(), clients, seconds).await;
    let s = pg.stats();
    println!("           {} commits for {} writes", s.commits, s.writes);

    // Two nodes on one database, the same total number of clients.
    let schema2 = TestSchema::create("throughput2").await.unwrap();
    let a = Arc::new(PgStore::connect(&schema2.url(), PgOptions::default()).unwrap());
    let b = Arc::new(PgStore::connect(&schema2.url(), PgOptions::default()).unwrap());
    write_tx(&*a, |tx| {
        Ok(tx.insert_collection(&CollectionRow {
            name: "patients".into(),
            schema_json: "{}".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        })?)
    })
    .await
    .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store: Arc<dyn Store> = if c % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                one_write(&*store, (c as u64) << 32 | n).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    println!("pg 2 nodes {clients:>3} clients: {total:>7} writes, {rate:>8.0} writes/s");
}
