//! A backup's life on a real SQLite vault, in process: taken while records exist, verified
//! (every record decrypts with the keyring), restored into a new directory with an erasure
//! made after it replayed from a later backup's ledger, and refused when a part is damaged
//! or the target already holds a database.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use phivault_backup::{RestorePlan, SharedProgress, Silent, Target};
use phivault_core::crypto::Keyring;
use phivault_core::store::{read_tx, write_tx};
use phivault_core::{
    CollectionName, CollectionSchema, DataAction, Grant, Principal, PurposeOfUse, RequestMeta,
    Role, SubjectId, SubjectScope, SystemClock, Vault, VaultConfig,
};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;

/// The local operator, able to administer, read and write every record, and erase.
fn operator() -> Principal {
    let mut p = Principal::local_operator();
    p.roles.push(Role {
        name: "all-records".to_owned(),
        description: "every record".to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: DataAction::ALL.into_iter().collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: PurposeOfUse::ALL.into_iter().collect(),
        }],
    });
    p.roles
        .extend(phivault_core::policy::builtin_role("privacy_officer"));
    p.purpose = Some(PurposeOfUse::Treat);
    p
}

async fn vault_at(db: &Path, keyring: &Keyring) -> Vault {
    fs::create_dir_all(db.parent().unwrap()).unwrap();
    let store = SqliteStore::open(db, SqliteOptions::default()).unwrap();
    write_tx(&store, |tx| Ok(tx.set_meta("vault_id", "round-trip")?))
        .await
        .unwrap();
    Vault::new(
        Arc::new(store),
        keyring.clone(),
        Arc::new(SystemClock),
        VaultConfig::default(),
    )
}

async fn has_key(db: &Path, subject: &str) -> bool {
    let store = SqliteStore::open(db, SqliteOptions::default()).unwrap();
    let s = subject.to_owned();
    read_tx(&store, move |tx| Ok(tx.get_subject_key(&s)?))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_verifies_restores_with_later_erasures_and_refuses_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, backups) = (
        tmp.path().join("vault/phivault.db"),
        tmp.path().join("backups"),
    );
    let keyring = Keyring::generate().unwrap();
    let vault = vault_at(&db, &keyring).await;
    let (meta, op) = (RequestMeta::default(), operator());
    let schema: CollectionSchema = serde_json::from_value(json!({
        "name": "notes",
        "fields": [{"name": "full_name", "type": "string",
                    "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true}]
    }))
    .unwrap();
    vault.create_collection(&meta, &op, schema).await.unwrap();
    let notes = CollectionName::parse("notes").unwrap();
    for s in ["s-keep", "s-erase"] {
        let subject = SubjectId::parse(s).unwrap();
        vault
            .create_record(&meta, &op, &notes, &subject, json!({"full_name": "Pat"}))
            .await
            .unwrap();
    }
    let progress: SharedProgress = Arc::new(Silent);

    let first = phivault_backup::create(&vault, &db, &backups, None, None, &Silent)
        .await
        .unwrap();
    let report = phivault_backup::verify(&first.path, &keyring, 10, &progress).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.decrypted), (2, 2));
    assert!(report.signature_ok && report.parts_ok && report.counts_ok && report.audit_ok);
    // Another vault's keyring reads nothing of it.
    let other = Keyring::generate().unwrap();
    assert!(
        !phivault_backup::verify(&first.path, &other, 10, &progress)
            .await
            .ok()
    );

    // Erased after the first backup; the second backup's ledger knows it.
    vault
        .erase_subject(&meta, &op, &SubjectId::parse("s-erase").unwrap())
        .await
        .unwrap();
    let second = phivault_backup::create(&vault, &db, &backups, None, None, &Silent)
        .await
        .unwrap();

    let to = tmp.path().join("restored");
    let restored_db = to.join("phivault.db");
    let plan = RestorePlan::prepare(&first.path, Target::Latest, &keyring, &progress).unwrap();
    let restored = plan
        .execute(&to, &restored_db, false, keyring.clone(), &progress)
        .await
        .unwrap();
    assert_eq!(restored.manifest.backup_id, first.manifest.backup_id);
    assert_eq!(restored.shredded.keys_deleted, 1);
    assert!(has_key(&restored_db, "s-keep").await);
    assert!(
        !has_key(&restored_db, "s-erase").await,
        "an erased key came back"
    );

    // The target now holds a database: without force, nothing is replaced.
    let plan = RestorePlan::prepare(&first.path, Target::Latest, &keyring, &progress).unwrap();
    let refused = plan
        .execute(&to, &restored_db, false, keyring.clone(), &progress)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "backup_target_exists");

    // One flipped byte in the store part: verify names it, restore refuses the backup.
    let part = second.path.join(phivault_backup::DB_PART);
    let mut bytes = fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&part, bytes).unwrap();
    let report = phivault_backup::verify(&second.path, &keyring, 10, &progress).await;
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("part phivault.db is corrupt")),
        "{:?}",
        report.problems
    );
    let refused =
        RestorePlan::prepare(&second.path, Target::Latest, &keyring, &progress).unwrap_err();
    assert_eq!(refused.code(), "backup_refused");
}
