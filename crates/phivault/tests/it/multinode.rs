//! phivault on PostgreSQL, end to end with the real binary:
//! - two `phivault serve` processes on one database behave as one vault under concurrent
//!   writes through both (no audit gap or fork, every acknowledged write present, a token
//!   revoked on node A refused on node B at once);
//! - `phivault migrate` copies a populated SQLite vault into PostgreSQL and verifies it,
//!   and the vault then serves every record and version from PostgreSQL.
//!
//! PostgreSQL is the server `PHIVAULT_TEST_POSTGRES_URL` names when it answers, otherwise
//! a throwaway cluster this test process starts (`phivault_store_postgres::testing`); each
//! test uses a fresh schema, dropped afterwards. Only without any PostgreSQL installed do
//! the tests skip (a failure under `PHIVAULT_REQUIRE_POSTGRES=1`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use std::sync::Arc;

use phivault_client::ClientError;
use phivault_client::api::Collection;
use phivault_core::crypto::Keyring;
use phivault_core::store::{Store, read_tx};
use phivault_core::{Principal, RequestMeta, SystemClock, Vault, VaultConfig};
use phivault_store_postgres::testing::TestSchema;
use phivault_store_postgres::{PgOptions, PgStore};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use phivault_testkit::server::{RECORDS_ALL, records_all_role};
use phivault_testkit::synthetic::{Synth, patient_schema};
use serde_json::Value;
use uuid::Uuid;

use crate::common::{PASSPHRASE, Server, json_out, phivault, run};

/// `serve` on `dir` as the node `label` (logging into `dir`), on `storage` when given.
async fn start_node(dir: &Path, label: &str, storage: Option<&str>) -> Server {
    let mut cmd = phivault();
    if let Some(s) = storage {
        cmd.env("PHIVAULT_STORAGE", s);
    }
    cmd.arg("--data-dir").arg(dir).arg("serve");
    Server::spawn(cmd, dir.join("tls/cert.pem"), dir, label, || true).await
}

/// Opens the vault of `dir` in-process on `store` (as one more node would) and issues an
/// application token holding the records-all role.
async fn app_token(dir: &Path, store: Arc<dyn Store>) -> String {
    let keyring = Keyring::open(
        &fs::read(dir.join("keyring.json")).unwrap(),
        PASSPHRASE.as_bytes(),
    )
    .unwrap();
    let vault = Vault::new(
        store,
        keyring,
        Arc::new(SystemClock),
        VaultConfig::default(),
    );
    let (op, meta) = (Principal::local_operator(), RequestMeta::default());
    vault
        .put_role(&meta, &op, records_all_role())
        .await
        .unwrap();
    let roles = [RECORDS_ALL.to_owned()];
    vault
        .create_service_account(&meta, &op, "app", &roles, false)
        .await
        .unwrap();
    let (_, secret) = vault
        .create_token(&meta, &op, "app", "app", &roles, time::Duration::days(1))
        .await
        .unwrap();
    secret.expose_secret().to_owned()
}

fn status(e: ClientError) -> u16 {
    match e {
        ClientError::Api { status, .. } => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// `phivault audit verify --json`: the chain must be intact; returns its length.
fn audit_verified(dir: &Path, storage: Option<&str>) -> u64 {
    let mut cmd = phivault();
    if let Some(s) = storage {
        cmd.env("PHIVAULT_STORAGE", s);
    }
    let o = cmd
        .arg("--data-dir")
        .arg(dir)
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    let v = json_out(&o);
    assert_eq!(v["ok"], Value::Bool(true), "{v}");
    v["entries"].as_u64().unwrap()
}

/// Every audit entry's sequence number follows its predecessor's and links its hash.
async fn assert_gapless(store: &dyn Store) -> u64 {
    let entries = read_tx(store, |tx| Ok(tx.audit_entries(0, usize::MAX >> 1)?))
        .await
        .unwrap();
    let mut prev = phivault_core::audit::GENESIS_HASH;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap before {}", e.seq);
        assert_eq!(e.prev_hash, prev, "fork at {}", e.seq);
        prev = e.hash;
    }
    let report = phivault_core::vault::verify_chain(store).await.unwrap();
    assert_eq!(report.first_break, None);
    entries.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_one_vault() {
    let Some(schema) = TestSchema::create("two_nodes_one_vault").await else {
        return;
    };
    let url = schema.url();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let init = json_out(&run(&dir, &["init", "--storage", &url, "--json"]));
    let admin = init["token"].as_str().unwrap().to_owned();
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url, PgOptions::default()).unwrap());
    let app = app_token(&dir, store.clone()).await;

    // Two nodes, one data directory (config, keyring, certificate), one database.
    let a = start_node(&dir, "node-a", None).await;
    let b = start_node(&dir, "node-b", None).await;
    let schema_def: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
    a.client(&admin)
        .create_collection(&schema_def)
        .await
        .unwrap();

    // Concurrent creates and updates through both nodes.
    let (writers, per_writer) = (4, 12);
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b].into_iter().enumerate() {
        for w in 0..writers {
            let c = node.records(&app);
            tasks.push(tokio::spawn(async move {
                let mut synth = Synth::new((n * 100 + w) as u64);
                let mut acked = Vec::new();
                for i in 0..per_writer {
                    let subject = format!("subj-{n}-{w}-{}", i % 3);
                    let r = c
                        .create_record("patients", &subject, synth.patient())
                        .await
                        .unwrap();
                    let mut data = r.data;
                    let mut version = r.version;
                    if i % 2 == 0 {
                        let u = c
                            .update_record("patients", r.id, version, synth.patient())
                            .await
                            .unwrap();
                        version = u.version;
                        data = u.data;
                    }
                    acked.push((r.id, version, data));
                }
                acked
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), 2 * writers * per_writer);

    // Every acknowledged write is present, read through either node.
    let (ca, cb) = (a.records(&app), b.records(&app));
    for (i, (id, version, data)) in acked.iter().enumerate() {
        let c = if i % 2 == 0 { &ca } else { &cb };
        let r = c.get_record("patients", *id).await.unwrap();
        assert_eq!((r.version, &r.data), (*version, data));
    }

    // A token revoked on node A is refused on node B at once.
    let admin_a = a.client(&admin);
    let created = admin_a
        .create_token("app", "short-lived", &[RECORDS_ALL.to_owned()], 3600)
        .await
        .unwrap();
    let on_b = b.records(&created.secret);
    on_b.get_record("patients", acked[0].0).await.unwrap();
    admin_a.revoke_token(created.token.id).await.unwrap();
    let refused = on_b.get_record("patients", acked[0].0).await.unwrap_err();
    assert_eq!(status(refused), 401);

    // The audit log: one chain, no gap, no fork, every write in it.
    drop((a, b));
    let entries = assert_gapless(&*store).await;
    assert!(entries as usize >= acked.len() + acked.len() / 2 + acked.len());
    assert_eq!(audit_verified(&dir, None), entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_sqlite_to_postgres_preserves_everything() {
    let Some(schema) = TestSchema::create("migrate").await else {
        return;
    };
    let url = schema.url();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let init = json_out(&run(&dir, &["init", "--json"]));
    let admin = init["token"].as_str().unwrap().to_owned();
    let db = dir.join("phivault.db");
    let app = {
        let store = Arc::new(SqliteStore::open(&db, SqliteOptions::default()).unwrap());
        app_token(&dir, store).await
    };

    // A populated SQLite vault: records with several versions, a deleted one, searches.
    let mut written: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    {
        let node = start_node(&dir, "sqlite-node", None).await;
        let schema_def: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
        node.client(&admin)
            .create_collection(&schema_def)
            .await
            .unwrap();
        let c = node.records(&app);
        let mut synth = Synth::new(7);
        for i in 0..30 {
            let r = c
                .create_record("patients", &format!("subj-{}", i % 7), synth.patient())
                .await
                .unwrap();
            let mut versions = vec![Value::Object(r.data.clone())];
            for v in 1..=(i % 3) {
                let u = c
                    .update_record("patients", r.id, v as u64, synth.patient())
                    .await
                    .unwrap();
                versions.push(Value::Object(u.data));
            }
            written.insert(r.id, versions);
        }
        let doomed = *written.keys().next().unwrap();
        let v = written[&doomed].len() as u64;
        c.delete_record("patients", doomed, Some(v)).await.unwrap();
        written.remove(&doomed);
    }
    let source = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
    let src_entries = read_tx(&source, |tx| Ok(tx.audit_entries(0, usize::MAX >> 1)?))
        .await
        .unwrap();
    drop(source);

    // Migrate, with verification.
    let from = format!("sqlite:{}", db.display());
    let o = run(&dir, &["migrate", "--from", &from, "--to", &url, "--json"]);
    let report = json_out(&o);
    assert_eq!(report["ok"], Value::Bool(true), "{report}");
    assert_eq!(report["chain_ok"], Value::Bool(true));
    assert!(report["decrypted"].as_u64().unwrap() > 0);

    // A second migration into the same (now populated) target is refused.
    let again = run(&dir, &["migrate", "--from", &from, "--to", &url, "--json"]);
    assert!(!again.status.success());

    // The audit log came over entry for entry.
    let target = PgStore::connect(&url, PgOptions::default()).unwrap();
    let dst_entries = read_tx(&target, |tx| Ok(tx.audit_entries(0, usize::MAX >> 1)?))
        .await
        .unwrap();
    assert_eq!(dst_entries, src_entries);
    drop(target);

    // The vault served from PostgreSQL returns every record and every version.
    let node = start_node(&dir, "pg-node", Some(&url)).await;
    let c = node.records(&app);
    for (id, versions) in &written {
        let current = c.get_record("patients", *id).await.unwrap();
        assert_eq!(current.version, versions.len() as u64);
        for (i, data) in versions.iter().enumerate() {
            let r = c
                .get_record_version("patients", *id, i as u64 + 1)
                .await
                .unwrap();
            assert_eq!(&Value::Object(r.data), data);
        }
    }
    drop(node);
    assert!(audit_verified(&dir, Some(&url)) > src_entries.len() as u64);
}
