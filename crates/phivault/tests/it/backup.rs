//! Backups and disaster recovery, end to end through the real binary: a backup taken while
//! the vault serves under write load verifies and restores (with an exported keyring, into
//! a clean directory); tampered backups fail verify with a clear message; a subject erased
//! after a backup stays unreadable after restoring it; restore refuses to overwrite
//! without --force; backup and restore leave audit events.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{
    Server, app_vault, backup_create, bench_records, copy_tree, failed, init, json_out, phivault,
    restore, restore_with, run, run_cmd, seed_notes, text,
};
use phivault_client::ClientError;
use phivault_client::api::Collection;
use serde_json::{Value, json};
use tempfile::TempDir;

const EXPORT_PASSPHRASE: &str = "a different export passphrase 91c2";
const POLL: Duration = Duration::from_millis(100);
const POLLS: usize = 150;

fn notes() -> Collection {
    serde_json::from_value(json!({
        "name": "notes",
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "note", "type": "text", "sensitivity": {"class": "health"}}
        ]
    }))
    .unwrap()
}

/// The one backup directory under `root` whose name is `name` (from `--json` output).
fn path_of(v: &Value) -> PathBuf {
    PathBuf::from(v["path"].as_str().unwrap())
}

fn audit_actions(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT event_json FROM audit_log ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|j| {
            let v: Value = serde_json::from_str(&j.unwrap()).unwrap();
            v["action"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Blind-index rows of one record in a vault's database file.
fn index_rows(db: &Path, record_id: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM index_entries WHERE record_id = ?1",
        [record_id],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_write_load_verifies_and_restores_into_a_clean_directory() {
    let tmp = TempDir::new().unwrap();
    let (vault, backups, logs, admin, token) = app_vault(&tmp);
    // The load is the point here: one writer as fast as it can go, so rate limits are off.
    let unlimited = |c: &mut Command| {
        c.env("PHIVAULT_LIMITS_PER_TOKEN_PER_SECOND", "0")
            .env("PHIVAULT_LIMITS_PER_ADDRESS_PER_SECOND", "0");
    };
    let server = Server::start(&vault, &logs, unlimited, || true).await;
    let app = server.notes_client(&admin, &token, &notes()).await;
    let mut before = Vec::new();
    for i in 0..20 {
        let r = app
            .create_record(
                "notes",
                &format!("s-{i}"),
                json!({"full_name": format!("Pat {i}")}),
            )
            .await
            .unwrap();
        before.push(r.id);
    }

    // Writers keep going while the backup is taken by another process.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                app.create_record("notes", "s-load", json!({"full_name": "Load"}))
                    .await
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = {
        let (vault, backups) = (vault.clone(), backups.clone());
        tokio::task::spawn_blocking(move || backup_create(&vault, &backups))
            .await
            .unwrap()
    };
    stop.store(true, Ordering::Relaxed);
    let during = writer.await.unwrap();
    let created = json_out(&created);
    assert!(during > 0, "no write ran during the backup");
    let backup = path_of(&created);
    assert!(created["audit_tree_size"].as_u64().unwrap() > 20);
    // The keyring is not in the backup.
    let mut parts: Vec<String> = fs::read_dir(&backup)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        [
            "manifest.json",
            "phivault.db",
            "phivault.toml",
            "shred-ledger.json"
        ]
    );

    let verified = json_out(&run(
        &vault,
        &["backup", "verify", backup.to_str().unwrap(), "--json"],
    ));
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified["decrypted"].as_u64().unwrap() >= 20, "{verified}");
    assert_eq!(verified["counts_ok"], true);
    assert_eq!(verified["audit_ok"], true);

    // A separately sealed keyring, then a restore on a "clean host" with only it.
    let exported = tmp.path().join("keyring.export");
    let mut cmd = phivault();
    cmd.env("PHIVAULT_EXPORT_PASSPHRASE", EXPORT_PASSPHRASE);
    json_out(&run_cmd(
        cmd,
        &vault,
        &[
            "keys",
            "export",
            "--to",
            exported.to_str().unwrap(),
            "--json",
        ],
    ));
    server.stop().await;

    let clean = tmp.path().join("clean-host");
    let restore = |force: bool| {
        let mut cmd = phivault();
        cmd.env("PHIVAULT_KEYRING_PASSPHRASE", EXPORT_PASSPHRASE);
        let mut extra = vec!["--keyring", exported.to_str().unwrap(), "--json"];
        if force {
            extra.push("--force");
        }
        // The data dir of a clean host does not exist; the keyring comes from --keyring.
        restore_with(cmd, &tmp.path().join("nowhere"), &backup, &clean, &extra)
    };
    let restored = json_out(&restore(false));
    assert_eq!(restored["keys_shredded"], 0);
    let refused = failed(&restore(false));
    assert!(refused.contains("--force"), "{refused}");
    json_out(&restore(true));

    // The restored vault serves with the export passphrase and holds every record
    // acknowledged before the backup started, readable.
    let server = Server::start(
        &clean,
        &logs,
        |cmd| {
            cmd.env("PHIVAULT_PASSPHRASE", EXPORT_PASSPHRASE);
        },
        || true,
    )
    .await;
    let app = server.records(&token);
    for id in &before {
        app.get_record("notes", *id).await.unwrap();
    }
    server.stop().await;
    let actions = audit_actions(&vault.join("phivault.db"));
    assert!(actions.iter().any(|a| a == "backup.create"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "backup.verify"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "keys.export"), "{actions:?}");
    // The forced restore replaced the first one's database, its event included.
    let restored_actions = audit_actions(&clean.join("phivault.db"));
    assert_eq!(
        restored_actions
            .iter()
            .filter(|a| *a == "backup.restore")
            .count(),
        1
    );
}

#[test]
fn a_flipped_byte_a_missing_part_or_a_forged_manifest_fails_verify_clearly() {
    let tmp = TempDir::new().unwrap();
    let (vault, backups) = (tmp.path().join("vault"), tmp.path().join("backups"));
    init(&vault);
    let good = path_of(&json_out(&backup_create(&vault, &backups)));
    let verify = |dir: &Path| run(&vault, &["backup", "verify", dir.to_str().unwrap()]);
    assert!(verify(&good).status.success(), "{}", text(&verify(&good)));

    // One flipped byte in the store.
    let flipped = tmp.path().join("flipped");
    copy_tree(&good, &flipped);
    let db = flipped.join("phivault.db");
    let mut bytes = fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&db, bytes).unwrap();
    let out = failed(&verify(&flipped));
    assert!(
        out.contains("part phivault.db is corrupt: its SHA-256 differs"),
        "{out}"
    );

    // A missing part.
    let missing = tmp.path().join("missing");
    copy_tree(&good, &missing);
    fs::remove_file(missing.join("shred-ledger.json")).unwrap();
    let out = failed(&verify(&missing));
    assert!(out.contains("part shred-ledger.json is missing"), "{out}");

    // A manifest edited after signing (here: to match a changed store).
    let forged = tmp.path().join("forged");
    copy_tree(&good, &forged);
    let mut m: Value =
        serde_json::from_slice(&fs::read(forged.join("manifest.json")).unwrap()).unwrap();
    m["audit"]["tree_size"] = json!(m["audit"]["tree_size"].as_u64().unwrap() + 1);
    fs::write(
        forged.join("manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let out = failed(&verify(&forged));
    assert!(out.contains("manifest signature is invalid"), "{out}");

    // A backup of another vault (validly signed by that vault) is not this vault's.
    let other = tmp.path().join("other");
    init(&other);
    let foreign = path_of(&json_out(&backup_create(
        &other,
        &tmp.path().join("other-backups"),
    )));
    let out = failed(&verify(&foreign));
    assert!(out.contains("manifest signature is invalid"), "{out}");

    // Restore refuses every one of them before touching the target.
    let target = tmp.path().join("target");
    for bad in [&flipped, &missing, &forged] {
        let out = failed(&restore(&vault, bad, &target, &[]));
        assert!(out.contains("refusing to restore"), "{out}");
        assert!(!target.join("phivault.db").exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_erased_after_a_backup_stays_unreadable_after_restoring_it() {
    let tmp = TempDir::new().unwrap();
    let (vault, backups, logs, admin, token) = app_vault(&tmp);
    let server = Server::start(&vault, &logs, |_| {}, || true).await;
    let app = server.notes_client(&admin, &token, &notes()).await;
    let erased = app
        .create_record(
            "notes",
            "subject-erased",
            json!({"full_name": "Erased Person"}),
        )
        .await
        .unwrap();
    let kept = app
        .create_record("notes", "subject-kept", json!({"full_name": "Kept Person"}))
        .await
        .unwrap();
    let old = path_of(&json_out(&backup_create(&vault, &backups)));
    server.stop().await;

    // The erasure happens after the backup, through the vault's own erase path: the
    // subject's blind-index entries are dropped, its data key destroyed and the subject
    // entered in the shred ledger.
    let db = vault.join("phivault.db");
    let erased_id = erased.id.hyphenated().to_string();
    assert_eq!(
        index_rows(&db, &erased_id),
        1,
        "the search tag exists before"
    );
    let o = run(
        &vault,
        &[
            "subject",
            "erase",
            "subject-erased",
            "--confirm",
            "subject-erased",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        index_rows(&db, &erased_id),
        0,
        "erasure drops the search tag"
    );
    // A later backup carries the ledger, so even a restore elsewhere replays it.
    json_out(&backup_create(&vault, &backups));

    let elsewhere = tmp.path().join("elsewhere");
    let r = json_out(&restore(&vault, &old, &elsewhere, &["--json"]));
    assert_eq!(r["keys_shredded"], 1, "{r}");
    fs::copy(vault.join("keyring.json"), elsewhere.join("keyring.json")).unwrap();

    // Over the live directory: refused without --force, then the vault's own ledger replays.
    let out = failed(&restore(&vault, &old, &vault, &[]));
    assert!(
        out.contains("refusing to overwrite it without --force"),
        "{out}"
    );
    let r = json_out(&restore(&vault, &old, &vault, &["--force", "--json"]));
    assert_eq!(r["keys_shredded"], 1, "{r}");

    for dir in [&vault, &elsewhere] {
        let server = Server::start(dir, &logs, |_| {}, || true).await;
        let app = server.records(&token);
        // Restoring the pre-erasure backup must not bring back the key nor the tags.
        assert_eq!(
            index_rows(&dir.join("phivault.db"), &erased_id),
            0,
            "an erased subject's search tags came back in {}",
            dir.display()
        );
        match app.get_record("notes", erased.id).await {
            Err(ClientError::Api { status, problem }) => {
                assert_eq!((status, problem.code.as_str()), (410, "subject_erased"))
            }
            other => panic!(
                "an erased subject came back in {}: {other:?}",
                dir.display()
            ),
        }
        let found = app
            .search("notes", "full_name", json!("Erased Person"))
            .await
            .unwrap();
        assert!(
            found.items.is_empty(),
            "search still finds the erased subject"
        );
        let back = app.get_record("notes", kept.id).await.unwrap();
        assert_eq!(back.data["full_name"], "Kept Person");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_scheduled_backups_and_prune_keeps_the_retention_window() {
    let tmp = TempDir::new().unwrap();
    let (vault, backups, logs) = (
        tmp.path().join("vault"),
        tmp.path().join("scheduled"),
        tmp.path().join("logs"),
    );
    init(&vault);
    // Every second, into a location relative to the data directory.
    serve_until_two_backups(&vault, &logs, &backups).await;
    let names = backup_names(&backups);
    assert!(names.len() >= 2, "{names:?}");
    let newest = backups.join(names.last().unwrap());
    let v = json_out(&run(
        &vault,
        &["backup", "verify", newest.to_str().unwrap(), "--json"],
    ));
    assert_eq!(v["ok"], true, "{v}");

    // Age the oldest backup's manifest beyond 35 days: prune removes it (and only it).
    let oldest = backups.join(&names[0]);
    let mpath = oldest.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    m["created_at"] = json!("2020-01-01T00:00:00Z");
    fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let p = json_out(&run(
        &vault,
        &["backup", "prune", backups.to_str().unwrap(), "--json"],
    ));
    assert_eq!(p["pruned"], json!([names[0].clone()]));
    assert!(!oldest.exists());
    assert_eq!(backup_names(&backups).len(), names.len() - 1);
}

fn backup_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("backup-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Serves `vault` with scheduled backups into `backups` every second until two exist.
async fn serve_until_two_backups(vault: &Path, logs: &Path, backups: &Path) {
    let setup = |cmd: &mut Command| {
        cmd.env("PHIVAULT_BACKUP_DIR", backups)
            .env("PHIVAULT_BACKUP_INTERVAL", "1s");
    };
    let mut server = Server::start(vault, logs, setup, || true).await;
    let log_path = server.log().to_owned();
    for _ in 0..POLLS {
        if backup_names(backups).len() >= 2 {
            server.stop().await;
            let log = fs::read_to_string(&log_path).unwrap();
            assert!(log.contains("scheduled backup written"), "{log}");
            assert!(log.contains("last_good_backup_age_seconds"), "{log}");
            return;
        }
        assert!(server.running(), "serve exited");
        tokio::time::sleep(POLL).await;
    }
    panic!("no scheduled backups appeared");
}

/// Backup throughput and recovery time for a vault of `PHIVAULT_BENCH_RECORDS` records
/// (default 100,000). Run with
/// `cargo test --release -p phivault --test it -- --ignored --nocapture backup::recovery_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: seeds 100,000 records over HTTPS"]
async fn recovery_time_and_backup_throughput_benchmark() {
    use std::time::Instant;
    let n = bench_records();
    let tmp = TempDir::new().unwrap();
    let (vault, backups, logs, admin, token) = app_vault(&tmp);
    let server = Server::start(&vault, &logs, |_| {}, || true).await;
    let app = server.notes_client(&admin, &token, &notes()).await;
    let seed_s = seed_notes(
        &app,
        n,
        |i| json!({"full_name": format!("Pat {i}"), "note": "synthetic benchmark note"}),
    )
    .await;
    server.stop().await;

    let timed = |args: Vec<String>| {
        let started = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = json_out(&run(&vault, &args));
        (started.elapsed().as_secs_f64(), v)
    };
    let (create_s, created) = timed(vec![
        "backup".into(),
        "create".into(),
        "--to".into(),
        backups.to_str().unwrap().into(),
        "--json".into(),
    ]);
    let bytes = created["bytes"].as_u64().unwrap();
    let backup = path_of(&created);
    let (verify_s, verified) = timed(vec![
        "backup".into(),
        "verify".into(),
        backup.to_str().unwrap().into(),
        "--json".into(),
    ]);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["records"].as_u64().unwrap(), n as u64);
    let target = tmp.path().join("restored");
    let (restore_s, _) = timed(vec![
        "backup".into(),
        "restore".into(),
        backup.to_str().unwrap().into(),
        "--to".into(),
        target.to_str().unwrap().into(),
        "--json".into(),
    ]);
    fs::copy(vault.join("keyring.json"), target.join("keyring.json")).unwrap();
    let started = Instant::now();
    let server = Server::start(&target, &logs, |_| {}, || true).await;
    let serving_s = started.elapsed().as_secs_f64();
    server.stop().await;
    let mb = bytes as f64 / 1e6;
    println!(
        "BENCH records={n} seed={seed_s:.1}s ({:.0} writes/s) backup_bytes={bytes} \
         create={create_s:.2}s ({:.1} MB/s) verify={verify_s:.2}s restore={restore_s:.2}s \
         restore_to_serving={:.2}s",
        n as f64 / seed_s,
        mb / create_s,
        restore_s + serving_s
    );
}
