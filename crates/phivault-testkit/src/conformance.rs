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
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_emit_tests { $make });
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
            audit_append_and_read
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

fn token(n: u128, secs: i64, scopes: &[&str]) -> TokenRow {
    TokenRow {
        id: tid(n),
        name: format!("token {n}"),
        secret_hash: tag(u8::try_from(n).unwrap()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        created_at: at(secs),
        expires_at: at(secs + 86_400),
        revoked_at: None,
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

/// Tokens: insert, get by secret hash, list newest first, revoke once, duplicates refused.
pub async fn tokens_lifecycle(store: &dyn Store) {
    let t1 = token(1, 1, &["records:read", "records:write"]);
    let t2 = token(2, 3, &["audit:read"]);
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
