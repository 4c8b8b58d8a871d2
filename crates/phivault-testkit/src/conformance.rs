//! The store conformance suite: backend-neutral checks that every [`Store`] must pass.
//! Each check is a `pub async fn` over a fresh, empty store that panics on failure; a
//! backend crate runs them all with [`store_conformance_tests!`](crate::store_conformance_tests)
//! (one `#[tokio::test]` per check) or with [`run_all`].
//!
//! Times carry whole microseconds only, the finest precision every backend keeps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "this module is test code shipped in a library: a failed check must panic"
)]

use std::any::Any;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::task::Poll;
use std::time::Duration as StdDuration;

use phivault_core::audit::{AuditEntry, GENESIS_HASH, Hash};
use phivault_core::identity_store::{
    BreakGlassRow, CareRelationshipRow, RoleRow, SessionRow, UserRow,
};
use phivault_core::privacy_store::PrivacyItemRow;
use phivault_core::store::{
    CollectionRow, IndexEntry, ReadTx, RecordHead, RecordVersionRow, Store, SubjectKeyRow,
    TokenRow, WriteTx, read_tx, write_tx,
};
use phivault_core::{RecordId, StoreError, TokenId, VaultError};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A store under test plus whatever must outlive it (e.g. its temporary directory).
pub struct Fixture {
    // Field order is drop order: the store closes before its directory is removed.
    store: Box<dyn Store>,
    _keep: Box<dyn Any + Send>,
}

impl Fixture {
    /// A fixture that owns only the store.
    pub fn new(store: impl Store + 'static) -> Self {
        Self::keeping(store, ())
    }

    /// A fixture that also keeps `keep` alive until after the store is dropped.
    pub fn keeping(store: impl Store + 'static, keep: impl Any + Send) -> Self {
        Self {
            store: Box::new(store),
            _keep: Box::new(keep),
        }
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// Expands to one `#[tokio::test]` per conformance check. The argument is a function or
/// closure taking no argument and returning a future of a fresh [`Fixture`]; the calling
/// crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// async fn fresh() -> Fixture {
///     let dir = tempfile::tempdir().unwrap();
///     let store = SqliteStore::open(&dir.path().join("vault.db"), Default::default()).unwrap();
///     Fixture::keeping(store, dir)
/// }
/// phivault_testkit::store_conformance_tests!(fresh);
/// ```
///
/// With `optional` first, the maker takes the check's name (`&'static str`) and its future
/// yields `Option<Fixture>`; a check whose fixture is `None` returns at once (a backend
/// whose server is absent; the maker prints why): `store_conformance_tests!(optional fresh_or_skip)`.
#[macro_export]
macro_rules! store_conformance_tests {
    (optional $make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_emit_optional_tests { $make });
    };
    ($make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_emit_tests { $make });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_optional_tests {
    ({ $make:expr } $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: Option<$crate::conformance::Fixture> =
                    ($make)(stringify!($case)).await;
                if let Some(fixture) = fixture {
                    $crate::conformance::$case(fixture.store()).await;
                }
            }
        )*
    };
}

/// The one list of checks, handed to `$callback` so the macro and [`run_all`] cannot drift.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($callback:ident { $($ctx:tt)* }) => {
        $crate::$callback! {
            { $($ctx)* }
            meta_set_get
            collections_insert_get_list
            subject_keys_insert_update_list_count
            record_heads_and_versions
            index_replace_and_find
            subject_records_live_and_paginated
            tokens_lifecycle
            users_insert_get_update_list
            sessions_lifecycle
            login_failures_count_and_clear
            recovery_codes_replace_and_use
            roles_upsert_list_delete
            care_relationships_lifecycle
            break_glass_lifecycle
            audit_append_and_read
            audit_merkle_nodes_and_tree_heads
            audit_prune_keeps_the_tail
            shred_ledger_and_subject_key_deletion
            privacy_items_upsert_get_list
            subject_heads_retention_scan_and_disposal
            failed_closure_is_rolled_back_alone
            store_error_inside_closure_rolls_it_back
            concurrent_mixed_outcomes_commit_exactly_the_successes
            concurrent_writers_all_commit
            read_sees_committed_writes
            read_sees_one_snapshot
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_tests {
    ({ $make:expr } $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: $crate::conformance::Fixture = ($make)().await;
                $crate::conformance::$case(fixture.store()).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_run {
    ({ $make:ident } $($case:ident)*) => {
        $(
            eprintln!("store conformance: {}", stringify!($case));
            let fixture: $crate::conformance::Fixture = $make().await;
            $crate::conformance::$case(fixture.store()).await;
            drop(fixture);
        )*
    };
}

/// Runs every check in turn, each on a fresh fixture from `make`; panics on the first failure.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Fixture>,
{
    crate::__store_conformance_cases!(__store_conformance_emit_run { make });
}

// ---------------------------------------------------------------------------------------
// helpers

/// A fixed instant plus `secs`, with a sub-second part so truncation would show.
fn at(secs: i64) -> OffsetDateTime {
    datetime!(2026-03-01 08:30:00 UTC) + Duration::seconds(secs) + Duration::microseconds(123_456)
}

fn rid(n: u128) -> RecordId {
    RecordId(Uuid::from_u128(n))
}

fn tid(n: u128) -> TokenId {
    TokenId(Uuid::from_u128(n))
}

fn tag(b: u8) -> [u8; 32] {
    [b; 32]
}

fn collection(name: &str, secs: i64) -> CollectionRow {
    CollectionRow {
        name: name.to_owned(),
        schema_json: format!(r#"{{"name":"{name}","fields":{{}}}}"#),
        created_at: at(secs),
    }
}

fn subject_key(subject: &str, fill: u8) -> SubjectKeyRow {
    SubjectKeyRow {
        subject: subject.to_owned(),
        wrapped_key: vec![fill; 60],
        kek_version: 1,
        created_at: at(1),
    }
}

fn head(collection: &str, id: RecordId, subject: &str, version: u64, deleted: bool) -> RecordHead {
    RecordHead {
        collection: collection.to_owned(),
        id,
        subject: subject.to_owned(),
        version,
        deleted,
        created_at: at(1),
        updated_at: at(i64::try_from(version).unwrap()),
    }
}

fn version_row(head: &RecordHead, version: u64, sealed: Vec<u8>) -> RecordVersionRow {
    RecordVersionRow {
        collection: head.collection.clone(),
        id: head.id,
        version,
        subject: head.subject.clone(),
        tombstone: sealed.is_empty(),
        sealed,
        created_at: at(i64::try_from(version).unwrap()),
    }
}

fn token(n: u128, secs: i64, roles: &[&str]) -> TokenRow {
    TokenRow {
        id: tid(n),
        name: format!("token {n}"),
        secret_hash: tag(u8::try_from(n).unwrap()),
        owner: "svc-1".to_owned(),
        roles: strings(roles),
        created_at: at(secs),
        expires_at: at(secs + 86_400),
        revoked_at: None,
        last_used_at: None,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn user(id: &str, username: &str, kind: &str, roles: &[&str]) -> UserRow {
    UserRow {
        id: id.to_owned(),
        username: username.to_owned(),
        kind: kind.to_owned(),
        password_phc: (kind == "human")
            .then(|| format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}")),
        totp_sealed: None,
        totp_last_step: None,
        roles: strings(roles),
        allow_admin_phi: false,
        disabled: false,
        created_at: at(1),
        updated_at: at(1),
    }
}

fn session(id: &str, user_id: &str, hash: u8, secs: i64) -> SessionRow {
    SessionRow {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        secret_hash: tag(hash),
        created_at: at(secs),
        last_seen_at: at(secs),
        expires_at: at(secs + 3_600),
        revoked_at: None,
    }
}

fn role(name: &str, secs: i64) -> RoleRow {
    RoleRow {
        name: name.to_owned(),
        definition_json: format!(r#"{{"name":"{name}","grants":[]}}"#),
        updated_at: at(secs),
    }
}

fn care(principal: &str, subject: &str, expires: Option<i64>) -> CareRelationshipRow {
    CareRelationshipRow {
        principal_id: principal.to_owned(),
        subject: subject.to_owned(),
        created_at: at(0),
        expires_at: expires.map(at),
    }
}

fn break_glass(id: &str, principal: &str, subject: &str, opened: i64, ends: i64) -> BreakGlassRow {
    BreakGlassRow {
        id: id.to_owned(),
        principal_id: principal.to_owned(),
        subject: subject.to_owned(),
        reason_sealed: format!("sealed reason of {id}").into_bytes(),
        opened_at: at(opened),
        expires_at: at(ends),
        reviewed_at: None,
        reviewer: None,
        review_sealed: None,
    }
}

fn audit_entry(seq: u64, prev_hash: Hash) -> AuditEntry {
    let event_json = format!(r#"{{"action":"conformance","seq":{seq}}}"#);
    let hash = AuditEntry::compute_hash(seq, &prev_hash, event_json.as_bytes());
    AuditEntry {
        seq,
        prev_hash,
        event_json,
        hash,
    }
}

/// A chain of `n` entries starting at seq 1.
fn audit_chain(n: u64) -> Vec<AuditEntry> {
    let mut prev = GENESIS_HASH;
    (1..=n)
        .map(|seq| {
            let e = audit_entry(seq, prev);
            prev = e.hash;
            e
        })
        .collect()
}

/// Runs a write closure and returns the store's own outcome.
async fn write<F>(store: &dyn Store, f: F) -> Result<(), StoreError>
where
    F: FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send + 'static,
{
    store.write(Box::new(f)).await
}

/// Runs a write closure that must succeed.
async fn write_ok<F>(store: &dyn Store, what: &str, f: F)
where
    F: FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send + 'static,
{
    if let Err(e) = write(store, f).await {
        panic!("{what}: write failed: {e}");
    }
}

/// Runs a write closure that must succeed and returns its value.
async fn write_value<T, F>(store: &dyn Store, what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTx) -> Result<T, StoreError> + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let inner = slot.clone();
    write_ok(store, what, move |tx| {
        let v = f(tx)?;
        *inner.lock().unwrap() = Some(v);
        Ok(())
    })
    .await;
    slot.lock()
        .unwrap()
        .take()
        .expect("write closure produced no value")
}

/// Runs a read closure that must succeed and returns its value.
async fn read<T, F>(store: &dyn Store, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut dyn ReadTx) -> Result<T, StoreError> + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let inner = slot.clone();
    let outcome = store
        .read(Box::new(move |tx| {
            let v = f(tx)?;
            *inner.lock().unwrap() = Some(v);
            Ok(())
        }))
        .await;
    if let Err(e) = outcome {
        panic!("read failed: {e}");
    }
    slot.lock()
        .unwrap()
        .take()
        .expect("read closure produced no value")
}

fn assert_duplicate(outcome: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(outcome, Err(StoreError::Duplicate)),
        "{what}: expected StoreError::Duplicate, got {outcome:?}"
    );
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Polls every future concurrently in the current task (the futures borrow the store, so
/// they cannot be spawned). All of them are first polled together, so their writes queue up
/// together: this is what lets a group-commit backend batch them.
async fn join_all<T>(futures: Vec<LocalFuture<'_, T>>) -> Vec<T> {
    let mut futures: Vec<Option<LocalFuture<'_, T>>> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (slot, result) in futures.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

async fn seed_collections(store: &dyn Store, names: &[&str]) {
    let rows: Vec<CollectionRow> = names.iter().map(|n| collection(n, 0)).collect();
    write_ok(store, "seed collections", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_collection(r))
    })
    .await;
}

/// Inserts heads (and a version 1 for each) in one write.
async fn seed_records(store: &dyn Store, heads: Vec<RecordHead>) {
    write_ok(store, "seed records", move |tx| {
        for h in &heads {
            tx.insert_record_head(h)?;
            tx.insert_record_version(&version_row(h, 1, vec![0xA5; 16]))?;
        }
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// checks

/// Meta values: absent, set, overwritten, independent per key.
pub async fn meta_set_get(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_meta("vault_id")).await, None);
    write_ok(store, "set meta", |tx| tx.set_meta("vault_id", "v-1")).await;
    assert_eq!(
        read(store, |tx| tx.get_meta("vault_id")).await.as_deref(),
        Some("v-1")
    );
    write_ok(store, "overwrite meta", |tx| tx.set_meta("vault_id", "v-2")).await;
    assert_eq!(
        read(store, |tx| tx.get_meta("vault_id")).await.as_deref(),
        Some("v-2")
    );
    assert_eq!(read(store, |tx| tx.get_meta("other")).await, None);
}

/// Collections: insert, get, duplicate refused (original kept), listed by name.
pub async fn collections_insert_get_list(store: &dyn Store) {
    let (b, a) = (collection("beta", 1), collection("alpha", 2));
    let rows = [b.clone(), a.clone()];
    write_ok(store, "insert collections", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_collection(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_collection("alpha")).await,
        Some(a.clone())
    );
    assert_eq!(read(store, |tx| tx.get_collection("gamma")).await, None);

    let mut dup = collection("alpha", 9);
    dup.schema_json = r#"{"other":true}"#.into();
    assert_duplicate(
        write(store, move |tx| tx.insert_collection(&dup)).await,
        "insert_collection twice",
    );
    assert_eq!(
        read(store, |tx| tx.get_collection("alpha")).await,
        Some(a.clone()),
        "a refused duplicate must not change the stored collection"
    );
    assert_eq!(read(store, |tx| tx.list_collections()).await, vec![a, b]);
}

/// Subject keys: insert, duplicate refused, get, rotate, paginate by subject, count.
pub async fn subject_keys_insert_update_list_count(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 0);
    let (s1, s2, s3) = (
        subject_key("subj-1", 1),
        subject_key("subj-2", 2),
        subject_key("subj-3", 3),
    );
    let rows = [s2.clone(), s3.clone(), s1.clone()];
    write_ok(store, "insert subject keys", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_subject_key(r))
    })
    .await;
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 3);
    assert_eq!(
        read(store, |tx| tx.get_subject_key("subj-1")).await,
        Some(s1.clone())
    );
    assert_eq!(read(store, |tx| tx.get_subject_key("subj-9")).await, None);

    let dup = subject_key("subj-1", 7);
    assert_duplicate(
        write(store, move |tx| tx.insert_subject_key(&dup)).await,
        "insert_subject_key twice",
    );

    let updated = Arc::new(Mutex::new(Vec::new()));
    let seen = updated.clone();
    write_ok(store, "rotate subject keys", move |tx| {
        let known = tx.update_subject_key("subj-1", &[9; 72], 2)?;
        let unknown = tx.update_subject_key("subj-9", &[9; 72], 2)?;
        seen.lock().unwrap().extend([known, unknown]);
        Ok(())
    })
    .await;
    assert_eq!(*updated.lock().unwrap(), vec![true, false]);
    let rotated = read(store, |tx| tx.get_subject_key("subj-1"))
        .await
        .unwrap();
    assert_eq!(rotated.wrapped_key, vec![9; 72]);
    assert_eq!(rotated.kek_version, 2);
    assert_eq!(
        rotated.created_at, s1.created_at,
        "rotation keeps created_at"
    );
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 3);

    let page1 = read(store, |tx| tx.list_subject_keys(None, 2)).await;
    assert_eq!(page1, vec![rotated.clone(), s2.clone()]);
    let page2 = read(store, |tx| tx.list_subject_keys(Some("subj-2"), 2)).await;
    assert_eq!(page2, vec![s3.clone()]);
    assert!(
        read(store, |tx| tx.list_subject_keys(Some("subj-3"), 2))
            .await
            .is_empty()
    );
    assert!(
        read(store, |tx| tx.list_subject_keys(None, 0))
            .await
            .is_empty()
    );
    // A cursor need not name an existing subject.
    assert_eq!(
        read(store, |tx| tx.list_subject_keys(Some("subj-10"), 10)).await,
        vec![s2, s3]
    );
}

/// Record heads and versions: insert, get, update, list oldest first, duplicates refused,
/// sealed bytes (any bytes, large, empty for a tombstone) kept exactly.
pub async fn record_heads_and_versions(store: &dyn Store) {
    seed_collections(store, &["notes", "other"]).await;
    let id = rid(0x0190_0000_0000_7000_8000_0000_0000_0001);
    let h1 = head("notes", id, "subj-1", 1, false);
    let sealed: Vec<u8> = (0..=255u8).cycle().take(300 * 1024).collect();
    let v1 = version_row(&h1, 1, sealed);
    let (hw, vw) = (h1.clone(), v1.clone());
    write_ok(store, "create record", move |tx| {
        tx.insert_record_head(&hw)?;
        tx.insert_record_version(&vw)
    })
    .await;

    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h1.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 1)).await,
        Some(v1.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 2)).await,
        None
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_head("other", &id)).await,
        None
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &rid(7))).await,
        None
    );

    let dup_head = h1.clone();
    assert_duplicate(
        write(store, move |tx| tx.insert_record_head(&dup_head)).await,
        "insert_record_head twice",
    );
    let mut dup_version = v1.clone();
    dup_version.sealed = vec![1, 2, 3];
    assert_duplicate(
        write(store, move |tx| tx.insert_record_version(&dup_version)).await,
        "insert_record_version twice",
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 1)).await,
        Some(v1.clone()),
        "a refused duplicate version must not change the stored one"
    );

    // Update to version 2, then delete with a tombstone as version 3.
    let h2 = head("notes", id, "subj-1", 2, false);
    let v2 = version_row(&h2, 2, vec![0, 0, 0, 1]);
    let h3 = head("notes", id, "subj-1", 3, true);
    let v3 = version_row(&h3, 3, Vec::new());
    let (hw, vw) = (h2.clone(), v2.clone());
    write_ok(store, "update record", move |tx| {
        tx.insert_record_version(&vw)?;
        tx.update_record_head(&hw)
    })
    .await;
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h2)
    );
    let (hw, vw) = (h3.clone(), v3.clone());
    write_ok(store, "delete record", move |tx| {
        tx.insert_record_version(&vw)?;
        tx.update_record_head(&hw)
    })
    .await;
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h3)
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 3)).await,
        Some(v3.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.list_record_versions("notes", &id)).await,
        vec![v1, v2, v3]
    );
    assert!(
        read(store, move |tx| tx.list_record_versions("other", &id))
            .await
            .is_empty()
    );
}

/// Blind-index entries: lookup by (collection, field, tag), live records only, by id,
/// limited; a replace drops the old tags; repeated entries in one replace are harmless.
pub async fn index_replace_and_find(store: &dyn Store) {
    seed_collections(store, &["patients", "visits"]).await;
    let (a, b, c, v) = (rid(1), rid(2), rid(3), rid(4));
    seed_records(
        store,
        vec![
            head("patients", a, "subj-1", 1, false),
            head("patients", b, "subj-2", 1, false),
            head("patients", c, "subj-3", 1, false),
            head("visits", v, "subj-1", 1, false),
        ],
    )
    .await;
    let entry = |field: &str, t: u8| IndexEntry {
        field: field.to_owned(),
        tag: tag(t),
    };
    let entries = vec![
        (("patients", b), vec![entry("mrn", 1)]),
        (
            ("patients", a),
            vec![entry("mrn", 1), entry("last_name", 2)],
        ),
        (("patients", c), vec![entry("mrn", 3)]),
        (("visits", v), vec![entry("mrn", 1)]),
    ];
    write_ok(store, "index records", move |tx| {
        for ((coll, id), es) in &entries {
            tx.replace_index_entries(coll, id, es)?;
        }
        Ok(())
    })
    .await;

    let find = |coll: &'static str, field: &'static str, t: u8, limit: usize| {
        read(store, move |tx| {
            tx.find_by_index(coll, field, &tag(t), limit)
        })
    };
    assert_eq!(find("patients", "mrn", 1, 10).await, vec![a, b]);
    assert_eq!(find("patients", "mrn", 1, 1).await, vec![a]);
    assert_eq!(find("patients", "last_name", 2, 10).await, vec![a]);
    assert!(
        find("patients", "last_name", 1, 10).await.is_empty(),
        "field matters"
    );
    assert_eq!(
        find("visits", "mrn", 1, 10).await,
        vec![v],
        "collection matters"
    );
    assert!(find("patients", "mrn", 9, 10).await.is_empty());

    // Replacing a's entries drops its old tags, including those of other fields.
    let new = vec![entry("mrn", 3), entry("mrn", 3)];
    write_ok(store, "reindex a", move |tx| {
        tx.replace_index_entries("patients", &a, &new)
    })
    .await;
    assert_eq!(find("patients", "mrn", 1, 10).await, vec![b]);
    assert!(find("patients", "last_name", 2, 10).await.is_empty());
    assert_eq!(find("patients", "mrn", 3, 10).await, vec![a, c]);

    // A deleted record is not found even though its entries remain.
    let deleted = head("patients", c, "subj-3", 2, true);
    write_ok(store, "delete c", move |tx| tx.update_record_head(&deleted)).await;
    assert_eq!(find("patients", "mrn", 3, 10).await, vec![a]);

    // An empty replace removes every entry.
    write_ok(store, "unindex a", move |tx| {
        tx.replace_index_entries("patients", &a, &[])
    })
    .await;
    assert!(find("patients", "mrn", 3, 10).await.is_empty());
}

/// A subject's live records in (collection, id) order, paginated by cursor.
pub async fn subject_records_live_and_paginated(store: &dyn Store) {
    seed_collections(store, &["a_coll", "b_coll"]).await;
    let heads = vec![
        head("a_coll", rid(3), "subj-1", 1, false),
        head("b_coll", rid(1), "subj-1", 1, false),
        head("a_coll", rid(1), "subj-1", 1, false),
        head("a_coll", rid(4), "subj-1", 1, true),
        head("a_coll", rid(2), "subj-1", 1, false),
        head("a_coll", rid(5), "subj-2", 1, false),
    ];
    seed_records(store, heads.clone()).await;
    let expected = vec![
        heads[2].clone(),
        heads[4].clone(),
        heads[0].clone(),
        heads[1].clone(),
    ];

    assert_eq!(
        read(store, |tx| tx.list_subject_records("subj-1", None, 100)).await,
        expected
    );
    let page1 = read(store, |tx| tx.list_subject_records("subj-1", None, 2)).await;
    assert_eq!(page1, expected[..2]);
    let page2 = read(store, |tx| {
        tx.list_subject_records("subj-1", Some(("a_coll", &rid(2))), 2)
    })
    .await;
    assert_eq!(page2, expected[2..]);
    assert!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("b_coll", &rid(1))), 2)
        })
        .await
        .is_empty()
    );
    // A cursor on a deleted record, or between collections, still continues in order.
    assert_eq!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("a_coll", &rid(4))), 10)
        })
        .await,
        expected[3..]
    );
    assert_eq!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("a_zzz", &rid(0))), 10)
        })
        .await,
        expected[3..]
    );
    assert!(
        read(store, |tx| tx.list_subject_records("subj-9", None, 10))
            .await
            .is_empty()
    );
}

/// Tokens: insert (owner, roles and last use kept), get by secret hash, list newest
/// first, revoke once, duplicates refused, `touch_token` records the last use only.
pub async fn tokens_lifecycle(store: &dyn Store) {
    let t1 = token(1, 1, &["clinician", "records-writer"]);
    let mut t2 = token(2, 3, &["auditor"]);
    t2.owner = "svc-2".into();
    t2.last_used_at = Some(at(4));
    let mut t3 = token(3, 2, &[]);
    t3.revoked_at = Some(at(5));
    let rows = [t1.clone(), t2.clone(), t3.clone()];
    write_ok(store, "insert tokens", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_token(r))
    })
    .await;

    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(1))).await,
        Some(t1.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(3))).await,
        Some(t3.clone())
    );
    assert_eq!(read(store, |tx| tx.get_token_by_hash(&tag(9))).await, None);
    assert_eq!(
        read(store, |tx| tx.list_tokens()).await,
        vec![t2.clone(), t3.clone(), t1.clone()]
    );

    let mut same_hash = token(4, 4, &[]);
    same_hash.secret_hash = t1.secret_hash;
    assert_duplicate(
        write(store, move |tx| tx.insert_token(&same_hash)).await,
        "insert_token with a known secret hash",
    );
    let mut same_id = token(5, 4, &[]);
    same_id.id = t1.id;
    assert_duplicate(
        write(store, move |tx| tx.insert_token(&same_id)).await,
        "insert_token with a known id",
    );

    let revoked = Arc::new(Mutex::new(Vec::new()));
    let seen = revoked.clone();
    write_ok(store, "revoke tokens", move |tx| {
        let first = tx.revoke_token(&tid(1), at(10))?;
        let again = tx.revoke_token(&tid(1), at(11))?;
        let already = tx.revoke_token(&tid(3), at(12))?;
        let unknown = tx.revoke_token(&tid(99), at(13))?;
        seen.lock()
            .unwrap()
            .extend([first, again, already, unknown]);
        Ok(())
    })
    .await;
    assert_eq!(*revoked.lock().unwrap(), vec![true, false, false, false]);
    let after = read(store, |tx| tx.get_token_by_hash(&tag(1)))
        .await
        .unwrap();
    assert_eq!(
        after.revoked_at,
        Some(at(10)),
        "the first revocation time stays"
    );
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(3)))
            .await
            .unwrap()
            .revoked_at,
        Some(at(5))
    );
    // Revoking again in a later transaction is still refused.
    let again = Arc::new(Mutex::new(None));
    let seen = again.clone();
    write_ok(store, "revoke again", move |tx| {
        *seen.lock().unwrap() = Some(tx.revoke_token(&tid(1), at(20))?);
        Ok(())
    })
    .await;
    assert_eq!(*again.lock().unwrap(), Some(false));

    // touch_token sets last_used_at (and nothing else); the latest touch wins; an unknown
    // id is not an error.
    write_ok(store, "touch tokens", |tx| {
        tx.touch_token(&tid(2), at(30))?;
        tx.touch_token(&tid(2), at(31))?;
        tx.touch_token(&tid(3), at(32))?;
        tx.touch_token(&tid(99), at(33))
    })
    .await;
    let mut t2_touched = t2.clone();
    t2_touched.last_used_at = Some(at(31));
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(2))).await,
        Some(t2_touched)
    );
    let t3_touched = read(store, |tx| tx.get_token_by_hash(&tag(3)))
        .await
        .unwrap();
    assert_eq!(t3_touched.last_used_at, Some(at(32)));
    assert_eq!(t3_touched.revoked_at, Some(at(5)));
    let t1_after = read(store, |tx| tx.get_token_by_hash(&tag(1)))
        .await
        .unwrap();
    assert_eq!(
        t1_after.last_used_at, None,
        "touching other tokens leaves it"
    );
    assert_eq!(t1_after.owner, "svc-1");
    assert_eq!(t1_after.roles, t1.roles);
}

/// The audit log: empty head, appends, head, ordered ranges, duplicate sequence refused.
pub async fn audit_append_and_read(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.audit_head()).await, None);
    assert!(read(store, |tx| tx.audit_entries(0, 10)).await.is_empty());

    let chain = audit_chain(6);
    // One append per transaction, then three in one transaction.
    for e in &chain[..3] {
        let e = e.clone();
        write_ok(store, "append audit", move |tx| tx.append_audit(&e)).await;
    }
    let rest = chain[3..].to_vec();
    write_ok(store, "append audit batch", move |tx| {
        rest.iter().try_for_each(|e| tx.append_audit(e))
    })
    .await;

    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
    assert_eq!(read(store, |tx| tx.audit_entries(0, 100)).await, chain);
    assert_eq!(read(store, |tx| tx.audit_entries(2, 2)).await, chain[2..4]);
    assert_eq!(read(store, |tx| tx.audit_entries(4, 100)).await, chain[4..]);
    assert!(read(store, |tx| tx.audit_entries(6, 100)).await.is_empty());
    assert!(read(store, |tx| tx.audit_entries(0, 0)).await.is_empty());

    let forged = audit_entry(3, [7; 32]);
    assert_duplicate(
        write(store, move |tx| tx.append_audit(&forged)).await,
        "append_audit with a used sequence number",
    );
    assert_eq!(read(store, |tx| tx.audit_entries(2, 1)).await, chain[2..3]);
    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
}

/// The audit Merkle nodes and signed tree heads: point and range reads, duplicates
/// refused, heads ordered by size, and a failed closure leaving no node behind.
pub async fn audit_merkle_nodes_and_tree_heads(store: &dyn Store) {
    use phivault_core::audit::SignedTreeHead;
    assert_eq!(read(store, |tx| tx.audit_node(0, 0)).await, None);
    assert_eq!(read(store, |tx| tx.latest_tree_head()).await, None);
    assert!(read(store, |tx| tx.tree_heads(0, 10)).await.is_empty());

    let nodes: Vec<(u32, u64, Hash)> = vec![
        (0, 0, [1; 32]),
        (0, 1, [2; 32]),
        (1, 0, [3; 32]),
        (0, 2, [4; 32]),
        (0, u64::from(u32::MAX) + 5, [5; 32]),
    ];
    let n = nodes.clone();
    write_ok(store, "put nodes", move |tx| tx.put_audit_nodes(&n)).await;
    assert_eq!(read(store, |tx| tx.audit_node(1, 0)).await, Some([3; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(0, 2)).await, Some([4; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(2, 0)).await, None);
    assert_eq!(
        read(store, |tx| tx.audit_node(0, u64::from(u32::MAX) + 5)).await,
        Some([5; 32])
    );
    assert_eq!(
        read(store, |tx| tx.audit_nodes(0, 1, 2)).await,
        vec![(1, [2; 32]), (2, [4; 32])]
    );
    assert_eq!(
        read(store, |tx| tx.audit_nodes(0, 0, 100)).await.len(),
        4,
        "level 0 only"
    );
    assert!(read(store, |tx| tx.audit_nodes(1, 1, 100)).await.is_empty());
    assert_duplicate(
        write(store, |tx| tx.put_audit_nodes(&[(0, 1, [9; 32])])).await,
        "put_audit_nodes over an existing node",
    );
    assert_eq!(read(store, |tx| tx.audit_node(0, 1)).await, Some([2; 32]));
    // A failing closure takes its nodes with it.
    let r = write(store, |tx| {
        tx.put_audit_nodes(&[(0, 3, [6; 32])])?;
        Err(StoreError::Aborted)
    })
    .await;
    assert!(r.is_err());
    assert_eq!(read(store, |tx| tx.audit_node(0, 3)).await, None);

    let head = |size: u64, b: u8| SignedTreeHead {
        tree_size: size,
        timestamp_ms: 1_700_000_000_000 + size,
        root_hash: [b; 32],
        signature: [b; 64],
    };
    for h in [head(8, 1), head(2, 2), head(16, 3)] {
        write_ok(store, "insert head", move |tx| tx.insert_tree_head(&h)).await;
    }
    assert_eq!(
        read(store, |tx| tx.latest_tree_head()).await,
        Some(head(16, 3))
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(0, 10)).await,
        vec![head(2, 2), head(8, 1), head(16, 3)]
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(2, 1)).await,
        vec![head(8, 1)]
    );
    assert_duplicate(
        write(store, move |tx| tx.insert_tree_head(&head(8, 9))).await,
        "insert_tree_head with a used size",
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(7, 1)).await,
        vec![head(8, 1)]
    );
}

/// Retention: pruning through seq 3 deletes entries 1..=3 and leaves 0..=1, keeps leaf 2
/// (a possible sibling of the first kept leaf), every interior node and the rest.
pub async fn audit_prune_keeps_the_tail(store: &dyn Store) {
    let chain = audit_chain(6);
    let entries = chain.clone();
    write_ok(store, "append audit", move |tx| {
        entries.iter().try_for_each(|e| tx.append_audit(e))?;
        let mut nodes: Vec<(u32, u64, Hash)> = (0..6).map(|i| (0, i, [i as u8; 32])).collect();
        nodes.extend([
            (1, 0, [10; 32]),
            (1, 1, [11; 32]),
            (1, 2, [12; 32]),
            (2, 0, [20; 32]),
        ]);
        tx.put_audit_nodes(&nodes)
    })
    .await;
    let n = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let out = n.clone();
    write_ok(store, "prune", move |tx| {
        *out.lock().unwrap_or_else(|e| e.into_inner()) = tx.prune_audit(3)?;
        Ok(())
    })
    .await;
    assert_eq!(*n.lock().unwrap_or_else(|e| e.into_inner()), 3);
    assert_eq!(read(store, |tx| tx.audit_entries(0, 100)).await, chain[3..]);
    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
    let leaves: Vec<u64> = read(store, |tx| tx.audit_nodes(0, 0, 100))
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(leaves, vec![2, 3, 4, 5]);
    assert_eq!(read(store, |tx| tx.audit_node(1, 0)).await, Some([10; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(2, 0)).await, Some([20; 32]));
}

fn privacy_item(id: &str, kind: &str, subject: &str, secs: i64) -> PrivacyItemRow {
    PrivacyItemRow {
        id: id.to_owned(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        status: "open".to_owned(),
        created_at: at(secs),
        due_at: Some(at(secs + 30)),
        updated_at: at(secs),
        meta_json: "{}".to_owned(),
        sealed: vec![u8::try_from(secs).unwrap(); 48],
    }
}

/// Privacy items: insert, replace by id, get, and list by kind (all subjects or one),
/// oldest first.
pub async fn privacy_items_upsert_get_list(store: &dyn Store) {
    write_ok(store, "items", |tx| {
        tx.put_privacy_item(&privacy_item("i-3", "amendment", "s-a", 3))?;
        tx.put_privacy_item(&privacy_item("i-1", "access_request", "s-a", 1))?;
        tx.put_privacy_item(&privacy_item("i-2", "access_request", "s-b", 2))?;
        let mut no_due = privacy_item("i-4", "restriction", "s-a", 4);
        no_due.due_at = None;
        tx.put_privacy_item(&no_due)?;
        Ok(())
    })
    .await;
    let mut changed = privacy_item("i-1", "access_request", "s-a", 1);
    changed.status = "completed".to_owned();
    changed.due_at = Some(at(90));
    changed.updated_at = at(50);
    changed.meta_json = r#"{"closed_at":"x"}"#.to_owned();
    changed.sealed = vec![9; 20];
    let c = changed.clone();
    write_ok(store, "replace", move |tx| tx.put_privacy_item(&c)).await;
    assert_eq!(
        read(store, |tx| tx.get_privacy_item("i-1")).await,
        Some(changed)
    );
    assert_eq!(read(store, |tx| tx.get_privacy_item("nope")).await, None);
    let ids = |rows: Vec<PrivacyItemRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = read(store, |tx| tx.list_privacy_items("access_request", None)).await;
    assert_eq!(ids(all), ["i-1", "i-2"]);
    let one = read(store, |tx| {
        tx.list_privacy_items("access_request", Some("s-b"))
    })
    .await;
    assert_eq!(ids(one), ["i-2"]);
    let r = read(store, |tx| {
        tx.list_privacy_items("restriction", Some("s-a"))
    })
    .await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].due_at, None);
    assert!(
        read(store, |tx| tx
            .list_privacy_items("restriction", Some("s-b")))
        .await
        .is_empty()
    );
}

/// A subject's heads including deleted ones, the retention scan by last change, disposal
/// of a record with its versions and index entries, and the shred-ledger lookup.
pub async fn subject_heads_retention_scan_and_disposal(store: &dyn Store) {
    write_ok(store, "seed", |tx| {
        tx.insert_collection(&collection("notes", 0))?;
        tx.insert_collection(&collection("labs", 0))?;
        for (c, n, subject, version, deleted) in [
            ("notes", 1, "s-a", 1, false),
            ("notes", 2, "s-a", 5, true),
            ("labs", 3, "s-a", 2, false),
            ("notes", 4, "s-b", 3, false),
        ] {
            let h = head(c, rid(n), subject, version, deleted);
            tx.insert_record_head(&h)?;
            tx.insert_record_version(&version_row(&h, version, vec![1; 8]))?;
            tx.replace_index_entries(
                c,
                &rid(n),
                &[IndexEntry {
                    field: "f".to_owned(),
                    tag: tag(1),
                }],
            )?;
        }
        tx.record_shred("s-z", at(1))?;
        Ok(())
    })
    .await;
    let heads = read(store, |tx| tx.subject_record_heads("s-a", None, 10)).await;
    let keys: Vec<(String, RecordId)> =
        heads.iter().map(|h| (h.collection.clone(), h.id)).collect();
    assert_eq!(
        keys,
        [
            ("labs".to_owned(), rid(3)),
            ("notes".to_owned(), rid(1)),
            ("notes".to_owned(), rid(2))
        ]
    );
    let page = read(store, |tx| {
        tx.subject_record_heads("s-a", Some(("labs", &rid(3))), 1)
    })
    .await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, rid(1));
    // updated_at is at(version): before at(4) are versions 1 and 3 of "notes".
    let old = read(store, |tx| {
        tx.records_updated_before("notes", at(4), None, 10)
    })
    .await;
    assert_eq!(
        old.iter().map(|h| h.id).collect::<Vec<_>>(),
        [rid(1), rid(4)]
    );
    let after = read(store, |tx| {
        tx.records_updated_before("notes", at(4), Some(&rid(1)), 10)
    })
    .await;
    assert_eq!(after.iter().map(|h| h.id).collect::<Vec<_>>(), [rid(4)]);
    let disposed = write_value(store, "dispose", |tx| {
        Ok((
            tx.dispose_record("notes", &rid(1))?,
            tx.dispose_record("notes", &rid(1))?,
        ))
    })
    .await;
    assert_eq!(disposed, (true, false));
    assert_eq!(
        read(store, |tx| tx.get_record_head("notes", &rid(1))).await,
        None
    );
    assert!(
        read(store, |tx| tx.list_record_versions("notes", &rid(1)))
            .await
            .is_empty()
    );
    assert!(
        read(store, |tx| tx.find_by_index("notes", "f", &tag(1), 10))
            .await
            .iter()
            .all(|id| *id != rid(1))
    );
    assert!(read(store, |tx| tx.is_shredded("s-z")).await);
    assert!(!read(store, |tx| tx.is_shredded("s-a")).await);
}

/// The shred ledger keeps one entry per subject with its first erasure time, and deleting
/// a subject's data key works once (a restore replays both; see `phivault_core::backup`).
pub async fn shred_ledger_and_subject_key_deletion(store: &dyn Store) {
    write_ok(store, "seed keys", |tx| {
        for s in ["s-a", "s-b"] {
            tx.insert_subject_key(&SubjectKeyRow {
                subject: s.to_owned(),
                wrapped_key: vec![7; 40],
                kek_version: 1,
                created_at: at(0),
            })?;
        }
        Ok(())
    })
    .await;
    assert!(read(store, |tx| tx.list_shred_ledger()).await.is_empty());
    let deleted = write_value(store, "shred", |tx| {
        tx.record_shred("s-a", at(20))?;
        tx.record_shred("s-a", at(30))?;
        tx.record_shred("s-a", at(10))?;
        tx.record_shred("s-z", at(5))?;
        Ok((
            tx.delete_subject_key("s-a")?,
            tx.delete_subject_key("s-a")?,
            tx.delete_subject_key("s-z")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    let ledger: Vec<(String, OffsetDateTime)> = read(store, |tx| tx.list_shred_ledger())
        .await
        .into_iter()
        .map(|e| (e.subject, e.shredded_at))
        .collect();
    assert_eq!(
        ledger,
        vec![("s-a".to_owned(), at(10)), ("s-z".to_owned(), at(5))]
    );
    assert_eq!(read(store, |tx| tx.get_subject_key("s-a")).await, None);
    assert!(read(store, |tx| tx.get_subject_key("s-b")).await.is_some());
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 1);
}

/// A closure that writes and then fails leaves no trace, while closures submitted with
/// it (and so possibly in the same batch) commit and see their own outcome.
pub async fn failed_closure_is_rolled_back_alone(store: &dyn Store) {
    let futures: Vec<LocalFuture<'_, Result<(), StoreError>>> = vec![
        Box::pin(write(store, |tx| tx.set_meta("first", "1"))),
        Box::pin(write(store, |tx| {
            tx.set_meta("failed", "1")?;
            tx.insert_collection(&collection("failed_coll", 0))?;
            tx.set_meta("first", "overwritten by a failed closure")?;
            Err(StoreError::Aborted)
        })),
        Box::pin(write(store, |tx| tx.set_meta("last", "1"))),
    ];
    let outcomes = join_all(futures).await;
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(StoreError::Aborted)),
        "a closure's own error is returned as is: {:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);

    let state = read(store, |tx| {
        Ok((
            tx.get_meta("first")?,
            tx.get_meta("failed")?,
            tx.get_meta("last")?,
            tx.get_collection("failed_coll")?,
        ))
    })
    .await;
    assert_eq!(state.0.as_deref(), Some("1"));
    assert_eq!(
        state.1, None,
        "the failed closure's write must be rolled back"
    );
    assert_eq!(state.2.as_deref(), Some("1"));
    assert_eq!(
        state.3, None,
        "the failed closure's write must be rolled back"
    );
}

/// A store error inside a closure (here a duplicate) fails that closure and undoes its
/// earlier writes; the store stays usable.
pub async fn store_error_inside_closure_rolls_it_back(store: &dyn Store) {
    seed_collections(store, &["taken"]).await;
    let outcome = write(store, |tx| {
        tx.set_meta("before_duplicate", "1")?;
        tx.insert_collection(&collection("taken", 1))
    })
    .await;
    assert_duplicate(outcome, "closure hitting a duplicate");
    assert_eq!(
        read(store, |tx| tx.get_meta("before_duplicate")).await,
        None
    );
    write_ok(store, "write after a failed closure", |tx| {
        tx.set_meta("after", "1")
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_meta("after")).await.as_deref(),
        Some("1")
    );
}

/// 50 concurrent `write_tx` calls, every other one failing with a domain error after
/// writing: exactly the successful ones are visible, and each caller gets its own result.
pub async fn concurrent_mixed_outcomes_commit_exactly_the_successes(store: &dyn Store) {
    const N: usize = 50;
    let futures: Vec<LocalFuture<'_, Result<usize, VaultError>>> = (0..N)
        .map(|i| -> LocalFuture<'_, Result<usize, VaultError>> {
            Box::pin(write_tx(store, move |tx| {
                tx.set_meta(&format!("k{i:02}"), &i.to_string())?;
                tx.insert_subject_key(&subject_key(&format!("subj-{i:02}"), 1))?;
                if i % 2 == 1 {
                    return Err(VaultError::Conflict("conformance_abort"));
                }
                Ok(i)
            }))
        })
        .collect();
    let outcomes = join_all(futures).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i % 2 == 0 {
            assert!(
                matches!(outcome, Ok(v) if *v == i),
                "write {i}: {outcome:?}"
            );
        } else {
            assert!(
                matches!(outcome, Err(VaultError::Conflict("conformance_abort"))),
                "write {i}: {outcome:?}"
            );
        }
    }

    let (count, metas) = read_tx(store, |tx| {
        let count = tx.count_subject_keys()?;
        let metas = (0..N)
            .map(|i| tx.get_meta(&format!("k{i:02}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, metas))
    })
    .await
    .unwrap();
    assert_eq!(count, (N / 2) as u64);
    for (i, meta) in metas.into_iter().enumerate() {
        let expected = (i % 2 == 0).then(|| i.to_string());
        assert_eq!(meta, expected, "meta k{i:02}");
    }
}

/// 200 concurrent writers each appending one row: all succeed and all rows are there.
pub async fn concurrent_writers_all_commit(store: &dyn Store) {
    const N: usize = 200;
    let futures: Vec<LocalFuture<'_, Result<(), StoreError>>> = (0..N)
        .map(|i| -> LocalFuture<'_, Result<(), StoreError>> {
            Box::pin(write(store, move |tx| {
                tx.insert_subject_key(&subject_key(&format!("subj-{i:03}"), 2))
            }))
        })
        .collect();
    for (i, outcome) in join_all(futures).await.into_iter().enumerate() {
        assert!(outcome.is_ok(), "writer {i}: {outcome:?}");
    }
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, N as u64);
    let all = read(store, |tx| tx.list_subject_keys(None, 1_000)).await;
    let subjects: Vec<String> = all.into_iter().map(|r| r.subject).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("subj-{i:03}")).collect();
    assert_eq!(subjects, expected);
}

/// Once a write has resolved, every later read sees it.
pub async fn read_sees_committed_writes(store: &dyn Store) {
    for i in 0..20u32 {
        write_ok(store, "sequential write", move |tx| {
            tx.set_meta("counter", &i.to_string())
        })
        .await;
        assert_eq!(
            read(store, |tx| tx.get_meta("counter")).await,
            Some(i.to_string())
        );
    }
    let value = read_tx(store, |tx| Ok(tx.get_meta("counter")?))
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("19"));
}

/// A read transaction sees one snapshot: a write that commits while the read is open
/// stays invisible to it. A backend that instead makes the write wait for the read also
/// keeps this promise; then the check only confirms that the read finishes.
pub async fn read_sees_one_snapshot(store: &dyn Store) {
    write_ok(store, "seed", |tx| tx.set_meta("snap", "before")).await;
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<()>();
    let (written_tx, written_rx) = mpsc::channel::<()>();

    let reader: LocalFuture<'_, (Option<String>, Option<String>, bool)> =
        Box::pin(read(store, move |tx| {
            let first = tx.get_meta("snap")?;
            let _ = opened_tx.send(());
            // The closure runs on a blocking thread in most backends; a bounded wait keeps
            // a backend that runs it inline (and so blocks the writer) from hanging.
            let concurrent = written_rx.recv_timeout(StdDuration::from_secs(3)).is_ok();
            let second = tx.get_meta("snap")?;
            Ok((first, second, concurrent))
        }));
    let writer: LocalFuture<'_, (Option<String>, Option<String>, bool)> = Box::pin(async move {
        if opened_rx.await.is_ok() {
            write_ok(store, "concurrent write", |tx| tx.set_meta("snap", "after")).await;
            let _ = written_tx.send(());
        }
        (None, None, false)
    });
    let results = join_all(vec![reader, writer]).await;
    let (first, second, concurrent) = results[0].clone();
    assert_eq!(first.as_deref(), Some("before"));
    if concurrent {
        assert_eq!(
            second.as_deref(),
            Some("before"),
            "a write committed during a read must not be visible to it"
        );
    }
    assert_eq!(
        read(store, |tx| tx.get_meta("snap")).await.as_deref(),
        Some("after")
    );
}

// ---------------------------------------------------------------------------------------
// identity checks

/// Users: insert, get by id and by name, list by name, duplicates (id or name) refused,
/// update by id (every field round-trips, a rename frees the old name), unknown id false.
pub async fn users_insert_get_update_list(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_user("u-1")).await, None);
    assert!(read(store, |tx| tx.list_users()).await.is_empty());

    let alice = user("u-1", "alice", "human", &["clinician"]);
    let mut etl = user("u-2", "etl-bot", "service", &[]);
    etl.created_at = at(2);
    etl.updated_at = at(2);
    let rows = [etl.clone(), alice.clone()];
    write_ok(store, "insert users", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_user(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(alice.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("etl-bot")).await,
        Some(etl.clone())
    );
    assert_eq!(read(store, |tx| tx.get_user_by_name("bob")).await, None);
    assert_eq!(
        read(store, |tx| tx.list_users()).await,
        vec![alice.clone(), etl.clone()]
    );

    let same_id = user("u-1", "mallory", "human", &["admin"]);
    assert_duplicate(
        write(store, move |tx| tx.insert_user(&same_id)).await,
        "insert_user with a known id",
    );
    let same_name = user("u-9", "alice", "human", &["admin"]);
    assert_duplicate(
        write(store, move |tx| tx.insert_user(&same_name)).await,
        "insert_user with a known username",
    );
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(alice.clone())
    );
    assert_eq!(read(store, |tx| tx.get_user("u-9")).await, None);

    // Every field changes and round-trips, including the largest TOTP step.
    let mut changed = alice.clone();
    changed.username = "alice.smith".into();
    changed.password_phc = Some("$argon2id$v=19$m=19456,t=2,p=1$bmV3$new".into());
    changed.totp_sealed = Some((0..=255u8).collect());
    changed.totp_last_step = Some(i64::MAX as u64);
    changed.roles = strings(&["clinician", "admin"]);
    changed.allow_admin_phi = true;
    changed.disabled = true;
    changed.updated_at = at(50);
    let mut ghost = user("u-404", "ghost", "human", &[]);
    ghost.updated_at = at(50);
    let (c, g) = (changed.clone(), ghost);
    let outcome = write_value(store, "update users", move |tx| {
        Ok((tx.update_user(&c)?, tx.update_user(&g)?))
    })
    .await;
    assert_eq!(outcome, (true, false));
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(changed.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("alice.smith")).await,
        Some(changed.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("alice")).await,
        None,
        "a rename frees the old name"
    );
    assert_eq!(read(store, |tx| tx.get_user("u-404")).await, None);

    // Back to no TOTP and no password: the optional columns clear.
    let mut cleared = changed.clone();
    cleared.password_phc = None;
    cleared.totp_sealed = None;
    cleared.totp_last_step = Some(0);
    let c = cleared.clone();
    assert!(write_value(store, "clear user fields", move |tx| tx.update_user(&c)).await);
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(cleared.clone())
    );

    // Renaming onto another user's name is refused like an insert.
    let mut clash = etl.clone();
    clash.username = "alice.smith".into();
    assert_duplicate(
        write(store, move |tx| tx.update_user(&clash).map(drop)).await,
        "update_user onto a known username",
    );
    assert_eq!(
        read(store, |tx| tx.list_users()).await,
        vec![cleared, etl],
        "listed by username"
    );
}

/// Sessions: insert, duplicates (id or secret hash) refused, get by hash, touch, revoke
/// once, and revoking a user's sessions touches only that user's live ones.
pub async fn sessions_lifecycle(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        None
    );
    let s1 = session("s-1", "u-1", 1, 0);
    let s2 = session("s-2", "u-1", 2, 1);
    let s3 = session("s-3", "u-2", 3, 2);
    let mut s4 = session("s-4", "u-1", 4, 3);
    s4.revoked_at = Some(at(4));
    let rows = [s1.clone(), s2.clone(), s3.clone(), s4.clone()];
    write_ok(store, "insert sessions", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_session(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(4))).await,
        Some(s4.clone()),
        "a revoked session is still found (callers check revoked_at)"
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(9))).await,
        None
    );

    let mut same_id = session("s-1", "u-2", 7, 5);
    same_id.expires_at = at(9_999);
    assert_duplicate(
        write(store, move |tx| tx.insert_session(&same_id)).await,
        "insert_session with a known id",
    );
    let same_hash = session("s-7", "u-2", 1, 5);
    assert_duplicate(
        write(store, move |tx| tx.insert_session(&same_hash)).await,
        "insert_session with a known secret hash",
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1.clone())
    );

    // touch_session moves last_seen_at only; an unknown id is not an error.
    write_ok(store, "touch sessions", |tx| {
        tx.touch_session("s-1", at(60))?;
        tx.touch_session("s-1", at(61))?;
        tx.touch_session("s-404", at(62))
    })
    .await;
    let mut s1_seen = s1.clone();
    s1_seen.last_seen_at = at(61);
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1_seen.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(2))).await,
        Some(s2.clone())
    );

    let revoked = write_value(store, "revoke session", |tx| {
        Ok((
            tx.revoke_session("s-2", at(70))?,
            tx.revoke_session("s-2", at(71))?,
            tx.revoke_session("s-4", at(72))?,
            tx.revoke_session("s-404", at(73))?,
        ))
    })
    .await;
    assert_eq!(revoked, (true, false, false, false));
    let mut s2_revoked = s2.clone();
    s2_revoked.revoked_at = Some(at(70));
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(2))).await,
        Some(s2_revoked.clone()),
        "the first revocation time stays"
    );

    // Of u-1's sessions only s-1 is still live; s-2 and s-4 keep their revocation times.
    let counts = write_value(store, "revoke user sessions", |tx| {
        Ok((
            tx.revoke_user_sessions("u-1", at(80))?,
            tx.revoke_user_sessions("u-1", at(81))?,
            tx.revoke_user_sessions("u-404", at(82))?,
        ))
    })
    .await;
    assert_eq!(counts, (1, 0, 0));
    let mut s1_revoked = s1_seen;
    s1_revoked.revoked_at = Some(at(80));
    let now = read(store, |tx| {
        Ok((
            tx.get_session_by_hash(&tag(1))?,
            tx.get_session_by_hash(&tag(2))?,
            tx.get_session_by_hash(&tag(3))?,
            tx.get_session_by_hash(&tag(4))?,
        ))
    })
    .await;
    assert_eq!(now.0, Some(s1_revoked));
    assert_eq!(now.1, Some(s2_revoked));
    assert_eq!(now.2, Some(s3), "another user's session stays live");
    assert_eq!(now.3, Some(s4));
}

/// Login failures: counted per key from `since` (inclusive) with the latest time; the
/// same instant twice counts twice; clearing one key leaves the others.
pub async fn login_failures_count_and_clear(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.login_failures_since("alice", at(0))).await,
        (0, None)
    );
    write_ok(store, "record failures", |tx| {
        tx.insert_login_failure("alice", at(1))?;
        tx.insert_login_failure("alice", at(5))?;
        tx.insert_login_failure("alice", at(5))?;
        tx.insert_login_failure("alice", at(3))?;
        tx.insert_login_failure("nobody-known", at(10))
    })
    .await;
    let since = |key: &'static str, secs: i64| {
        read(store, move |tx| tx.login_failures_since(key, at(secs)))
    };
    assert_eq!(since("alice", -100).await, (4, Some(at(5))));
    assert_eq!(
        since("alice", 3).await,
        (3, Some(at(5))),
        "since is inclusive"
    );
    assert_eq!(since("alice", 4).await, (2, Some(at(5))));
    assert_eq!(since("alice", 6).await, (0, None));
    assert_eq!(since("nobody-known", 0).await, (1, Some(at(10))));
    assert_eq!(since("bob", 0).await, (0, None));

    write_ok(store, "clear failures", |tx| {
        tx.clear_login_failures("alice")?;
        tx.clear_login_failures("never-failed")
    })
    .await;
    assert_eq!(since("alice", -100).await, (0, None));
    assert_eq!(since("nobody-known", 0).await, (1, Some(at(10))));
    write_ok(store, "fail again", |tx| {
        tx.insert_login_failure("alice", at(20))
    })
    .await;
    assert_eq!(since("alice", -100).await, (1, Some(at(20))));
}

/// Recovery codes: a replace sets a user's whole set, each code works once, per user.
pub async fn recovery_codes_replace_and_use(store: &dyn Store) {
    assert!(!read(store, |tx| tx.has_recovery_code("u-1", &tag(1))).await);
    write_ok(store, "set codes", |tx| {
        tx.replace_recovery_codes("u-1", &[tag(1), tag(2), tag(3)])?;
        tx.replace_recovery_codes("u-2", &[tag(1)])
    })
    .await;
    let has =
        |user: &'static str, t: u8| read(store, move |tx| tx.has_recovery_code(user, &tag(t)));
    assert!(has("u-1", 1).await);
    assert!(has("u-1", 3).await);
    assert!(!has("u-1", 9).await);
    assert!(!has("u-3", 1).await);

    let used = write_value(store, "use codes", |tx| {
        Ok((
            tx.use_recovery_code("u-1", &tag(1), at(10))?,
            tx.use_recovery_code("u-1", &tag(1), at(11))?,
            tx.use_recovery_code("u-1", &tag(9), at(12))?,
            tx.use_recovery_code("u-3", &tag(1), at(13))?,
        ))
    })
    .await;
    assert_eq!(used, (true, false, false, false));
    assert!(!has("u-1", 1).await, "a used code is gone");
    assert!(has("u-1", 2).await);
    assert!(has("u-2", 1).await, "codes are per user");
    // Used in a later transaction: still refused.
    let again = write_value(store, "reuse code", |tx| {
        tx.use_recovery_code("u-1", &tag(1), at(20))
    })
    .await;
    assert!(!again);

    // A replace drops the old set (used or not); a repeated hash is one code.
    write_ok(store, "regenerate codes", |tx| {
        tx.replace_recovery_codes("u-1", &[tag(1), tag(4), tag(4)])
    })
    .await;
    assert!(has("u-1", 1).await, "a regenerated code is unused");
    assert!(!has("u-1", 2).await);
    assert!(!has("u-1", 3).await);
    assert!(has("u-1", 4).await);
    let used = write_value(store, "use regenerated", |tx| {
        Ok((
            tx.use_recovery_code("u-1", &tag(4), at(30))?,
            tx.use_recovery_code("u-1", &tag(4), at(31))?,
        ))
    })
    .await;
    assert_eq!(used, (true, false));

    write_ok(store, "drop codes", |tx| {
        tx.replace_recovery_codes("u-1", &[])
    })
    .await;
    assert!(!has("u-1", 1).await);
    assert!(has("u-2", 1).await);
}

/// Custom roles: upsert adds or replaces, listed by name, delete once.
pub async fn roles_upsert_list_delete(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_role("nurse")).await, None);
    assert!(read(store, |tx| tx.list_roles()).await.is_empty());
    let (nurse, billing) = (role("nurse", 1), role("billing", 2));
    let rows = [nurse.clone(), billing.clone()];
    write_ok(store, "add roles", move |tx| {
        rows.iter().try_for_each(|r| tx.upsert_role(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_role("nurse")).await,
        Some(nurse.clone())
    );
    assert_eq!(
        read(store, |tx| tx.list_roles()).await,
        vec![billing.clone(), nurse.clone()]
    );

    let mut nurse2 = role("nurse", 9);
    nurse2.definition_json = r#"{"name":"nurse","grants":["records:read"]}"#.into();
    let n = nurse2.clone();
    write_ok(store, "replace role", move |tx| tx.upsert_role(&n)).await;
    assert_eq!(
        read(store, |tx| tx.get_role("nurse")).await,
        Some(nurse2.clone())
    );
    assert_eq!(
        read(store, |tx| tx.list_roles()).await,
        vec![billing.clone(), nurse2]
    );

    let deleted = write_value(store, "delete roles", |tx| {
        Ok((
            tx.delete_role("nurse")?,
            tx.delete_role("nurse")?,
            tx.delete_role("unknown")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    assert_eq!(read(store, |tx| tx.get_role("nurse")).await, None);
    assert_eq!(read(store, |tx| tx.list_roles()).await, vec![billing]);
}

/// Care relationships: in force until `expires_at` (exclusive) or for ever, per
/// (principal, subject); upsert replaces; listed by subject; delete once.
pub async fn care_relationships_lifecycle(store: &dyn Store) {
    let active = |p: &'static str, s: &'static str, secs: i64| {
        read(store, move |tx| tx.care_relationship_active(p, s, at(secs)))
    };
    assert!(!active("p-1", "subj-1", 0).await);
    let forever = care("p-1", "subj-1", None);
    let ending = care("p-1", "subj-2", Some(100));
    let other = care("p-2", "subj-1", Some(50));
    let rows = [ending.clone(), other.clone(), forever.clone()];
    write_ok(store, "add care relationships", move |tx| {
        rows.iter().try_for_each(|r| tx.upsert_care_relationship(r))
    })
    .await;
    assert!(active("p-1", "subj-1", 1_000_000).await);
    assert!(active("p-1", "subj-2", 99).await);
    assert!(
        !active("p-1", "subj-2", 100).await,
        "expires_at is exclusive"
    );
    assert!(!active("p-1", "subj-2", 101).await);
    assert!(active("p-2", "subj-1", 10).await);
    assert!(!active("p-2", "subj-2", 10).await, "per subject");
    assert!(!active("p-3", "subj-1", 10).await, "per principal");

    assert_eq!(
        read(store, |tx| tx.list_care_relationships("p-1")).await,
        vec![forever.clone(), ending.clone()],
        "expired ones are listed too, by subject"
    );
    assert!(
        read(store, |tx| tx.list_care_relationships("p-9"))
            .await
            .is_empty()
    );

    // Upsert replaces: the ended relationship becomes permanent.
    let mut renewed = care("p-1", "subj-2", None);
    renewed.created_at = at(200);
    let r = renewed.clone();
    write_ok(store, "renew", move |tx| tx.upsert_care_relationship(&r)).await;
    assert!(active("p-1", "subj-2", 1_000).await);
    assert_eq!(
        read(store, |tx| tx.list_care_relationships("p-1")).await,
        vec![forever, renewed]
    );

    let deleted = write_value(store, "end care", |tx| {
        Ok((
            tx.delete_care_relationship("p-1", "subj-1")?,
            tx.delete_care_relationship("p-1", "subj-1")?,
            tx.delete_care_relationship("p-9", "subj-1")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    assert!(!active("p-1", "subj-1", 0).await);
    assert!(active("p-2", "subj-1", 10).await);
}

/// Break glass: the latest episode in force for (principal, subject) between opened_at
/// (inclusive) and expires_at (exclusive); listed newest first; reviewed once.
pub async fn break_glass_lifecycle(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.active_break_glass("p-1", "subj-1", at(0))).await,
        None
    );
    assert!(
        read(store, |tx| tx.list_break_glass(false))
            .await
            .is_empty()
    );
    let first = break_glass("bg-1", "p-1", "subj-1", 0, 100);
    let second = break_glass("bg-2", "p-1", "subj-1", 50, 200);
    let other = break_glass("bg-3", "p-2", "subj-2", 10, 20);
    let rows = [second.clone(), first.clone(), other.clone()];
    write_ok(store, "open break glass", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_break_glass(r))
    })
    .await;

    let active = |p: &'static str, s: &'static str, secs: i64| {
        read(store, move |tx| tx.active_break_glass(p, s, at(secs)))
    };
    assert_eq!(active("p-1", "subj-1", 0).await, Some(first.clone()));
    assert_eq!(active("p-1", "subj-1", 10).await, Some(first.clone()));
    assert_eq!(
        active("p-1", "subj-1", 60).await,
        Some(second.clone()),
        "the latest opened episode wins"
    );
    assert_eq!(active("p-1", "subj-1", 150).await, Some(second.clone()));
    assert_eq!(
        active("p-1", "subj-1", 200).await,
        None,
        "expires_at is exclusive"
    );
    assert_eq!(
        active("p-1", "subj-1", -1).await,
        None,
        "not before it opens"
    );
    assert_eq!(active("p-1", "subj-2", 60).await, None, "per subject");
    assert_eq!(active("p-2", "subj-1", 60).await, None, "per principal");
    assert_eq!(active("p-2", "subj-2", 15).await, Some(other.clone()));

    let mut dup = break_glass("bg-1", "p-9", "subj-9", 0, 1);
    dup.reason_sealed = vec![1];
    assert_duplicate(
        write(store, move |tx| tx.insert_break_glass(&dup)).await,
        "insert_break_glass with a known id",
    );
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-1")).await,
        Some(first.clone())
    );
    assert_eq!(read(store, |tx| tx.get_break_glass("bg-9")).await, None);
    let newest_first = vec![second.clone(), other.clone(), first.clone()];
    assert_eq!(
        read(store, |tx| tx.list_break_glass(false)).await,
        newest_first
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(true)).await,
        newest_first
    );

    let reviewed = write_value(store, "review", |tx| {
        Ok((
            tx.review_break_glass("bg-3", "auditor-1", &[7, 8, 9], at(300))?,
            tx.review_break_glass("bg-3", "auditor-2", &[1], at(301))?,
            tx.review_break_glass("bg-9", "auditor-1", &[1], at(302))?,
        ))
    })
    .await;
    assert_eq!(reviewed, (true, false, false));
    let mut other_reviewed = other.clone();
    other_reviewed.reviewed_at = Some(at(300));
    other_reviewed.reviewer = Some("auditor-1".into());
    other_reviewed.review_sealed = Some(vec![7, 8, 9]);
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-3")).await,
        Some(other_reviewed.clone()),
        "the first review stays"
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(true)).await,
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(false)).await,
        vec![second, other_reviewed.clone(), first]
    );
    // Reviewed in a later transaction: still refused, and nothing changes.
    let again = write_value(store, "review again", |tx| {
        tx.review_break_glass("bg-3", "auditor-3", &[], at(400))
    })
    .await;
    assert!(!again);
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-3")).await,
        Some(other_reviewed)
    );
}
