//! Crypto-shredding and subject keys through the vault: an erasure and the shred-ledger
//! replay of a restore leave the same state, and an erased subject never gets a new key.

use phivault_core::backup::{ReplayOutcome, ShredEntry, replay_shred_ledger};
use phivault_core::store::read_tx;
use phivault_core::{CollectionName, RecordId, SubjectId, Vault, VaultError};
use serde_json::json;
use time::Duration;
use time::macros::datetime;

use crate::support::{Fixture, builtin, clinician, fixture, meta, notes};

async fn create(vault: &Vault, notes: &CollectionName, subject: &str, mrn: &str) -> RecordId {
    vault
        .create_record(
            &meta(),
            &clinician("c-1"),
            notes,
            &SubjectId::parse(subject).unwrap(),
            json!({"mrn": mrn, "text": "synthetic note"}),
        )
        .await
        .unwrap()
        .id
}

async fn search(vault: &Vault, notes: &CollectionName, mrn: &str) -> Result<usize, VaultError> {
    vault
        .search(&meta(), &clinician("c-1"), notes, "mrn", &json!(mrn))
        .await
        .map(|v| v.len())
}

/// Replays a ledger naming `subject`, as a restore does with a later backup's ledger.
async fn replay(f: &Fixture, subject: &str) -> ReplayOutcome {
    let entry = ShredEntry {
        subject: subject.to_owned(),
        shredded_at: datetime!(2026-03-02 09:00 UTC),
    };
    replay_shred_ledger(&*f.store, vec![entry]).await.unwrap()
}

/// The state after restoring a backup taken before an erasure: the subject's key and index
/// entries are in the database, and the ledger of a later backup names the subject.
#[tokio::test]
async fn restore_replay_of_an_erasure_drops_the_subjects_index_tags() {
    let f = fixture();
    let notes = notes(&f.vault).await;
    let erased = create(&f.vault, &notes, "patient-1", "MRN-100").await;
    create(&f.vault, &notes, "patient-1", "MRN-101").await;
    let kept = create(&f.vault, &notes, "patient-2", "MRN-200").await;
    assert_eq!(search(&f.vault, &notes, "MRN-100").await.unwrap(), 1);

    let out = replay(&f, "patient-1").await;
    assert_eq!((out.entries, out.keys_deleted), (1, 1));

    let read = f
        .vault
        .get_record(&meta(), &clinician("c-1"), &notes, erased)
        .await;
    let err = read.unwrap_err();
    assert!(matches!(err, VaultError::Erased), "{err:?}");
    assert_eq!(err.code(), "subject_erased"); // 410 Gone at the edge
    // Before the fix the index tags survived, and the search failed on the missing key.
    assert_eq!(search(&f.vault, &notes, "MRN-100").await.unwrap(), 0);
    assert_eq!(search(&f.vault, &notes, "MRN-101").await.unwrap(), 0);
    // Other subjects are untouched.
    assert_eq!(search(&f.vault, &notes, "MRN-200").await.unwrap(), 1);
    f.vault
        .get_record(&meta(), &clinician("c-1"), &notes, kept)
        .await
        .unwrap();
    // A replayed subject stays retired: no new record, no new key.
    let again = f
        .vault
        .create_record(
            &meta(),
            &clinician("c-1"),
            &notes,
            &SubjectId::parse("patient-1").unwrap(),
            json!({"mrn": "MRN-102"}),
        )
        .await;
    assert!(matches!(again, Err(VaultError::Erased)), "{again:?}");
}

#[tokio::test]
async fn erasure_and_replay_leave_the_same_state() {
    let f = fixture();
    let notes = notes(&f.vault).await;
    let id = create(&f.vault, &notes, "patient-1", "MRN-100").await;
    let report = f
        .vault
        .erase_subject(
            &meta(),
            &builtin("po-1", "privacy_officer"),
            &SubjectId::parse("patient-1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(report.records, 1);
    let err = f
        .vault
        .get_record(&meta(), &clinician("c-1"), &notes, id)
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Erased), "{err:?}");
    assert_eq!(search(&f.vault, &notes, "MRN-100").await.unwrap(), 0);
    // Replaying the vault's own ledger again changes nothing and fails nothing.
    let ledger = phivault_core::backup::shred_ledger(&*f.store)
        .await
        .unwrap();
    let out = replay_shred_ledger(&*f.store, ledger).await.unwrap();
    assert_eq!((out.entries, out.keys_deleted), (1, 0));
}

/// A user's own data key (TOTP secret, break-glass reasons) obeys the shred ledger like any
/// subject key: once the ledger names `_user:<id>`, no new key is made for it.
#[tokio::test]
async fn a_shredded_user_key_is_never_recreated() {
    let f = fixture();
    replay(&f, "_user:svc-1").await;
    let opened = f
        .vault
        .open_break_glass(
            &meta(),
            &builtin("svc-1", "breakglass"),
            &SubjectId::parse("patient-1").unwrap(),
            "unconscious patient in the emergency department",
            Duration::hours(1),
        )
        .await;
    assert!(matches!(opened, Err(VaultError::Erased)), "{opened:?}");
    let key = read_tx(&*f.store, |tx| Ok(tx.get_subject_key("_user:svc-1")?))
        .await
        .unwrap();
    assert!(key.is_none());
}
