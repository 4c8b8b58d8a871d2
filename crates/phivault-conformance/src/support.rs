//! What the checks share: fixed times and ids, row builders, transaction helpers that fail
//! loudly, a join of local futures (so writes queue together for group commit), and seeding.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

pub(crate) use phivault_core::audit::{AuditEntry, GENESIS_HASH, Hash};
pub(crate) use phivault_core::identity_store::{
    BreakGlassRow, CareRelationshipRow, RoleRow, SessionRow, UserRow,
};
pub(crate) use phivault_core::store::{
    CollectionRow, IndexEntry, ReadTx, RecordHead, RecordVersionRow, Store, SubjectKeyRow,
    TokenRow, WriteTx, read_tx, write_tx,
};
pub(crate) use phivault_core::{RecordId, StoreError, TokenId, VaultError};
pub(crate) use time::macros::datetime;
pub(crate) use time::{Duration, OffsetDateTime};
pub(crate) use uuid::Uuid;

/// A fixed instant plus `secs`, with a sub-second part so truncation would show.
pub(crate) fn at(secs: i64) -> OffsetDateTime {
    datetime!(2026-03-01 08:30:00 UTC) + Duration::seconds(secs) + Duration::microseconds(123_456)
}

pub(crate) fn rid(n: u128) -> RecordId {
    RecordId(Uuid::from_u128(n))
}

pub(crate) fn tid(n: u128) -> TokenId {
    TokenId(Uuid::from_u128(n))
}

pub(crate) fn tag(b: u8) -> [u8; 32] {
    [b; 32]
}

pub(crate) fn collection(name: &str, secs: i64) -> CollectionRow {
    CollectionRow {
        name: name.to_owned(),
        schema_json: format!(r#"{{"name":"{name}","fields":{{}}}}"#),
        created_at: at(secs),
    }
}

pub(crate) fn subject_key(subject: &str, fill: u8) -> SubjectKeyRow {
    SubjectKeyRow {
        subject: subject.to_owned(),
        wrapped_key: vec![fill; 60],
        kek_version: 1,
        created_at: at(1),
    }
}

pub(crate) fn head(
    collection: &str,
    id: RecordId,
    subject: &str,
    version: u64,
    deleted: bool,
) -> RecordHead {
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

pub(crate) fn version_row(head: &RecordHead, version: u64, sealed: Vec<u8>) -> RecordVersionRow {
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

pub(crate) fn token(n: u128, secs: i64, roles: &[&str]) -> TokenRow {
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

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn user(id: &str, username: &str, kind: &str, roles: &[&str]) -> UserRow {
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

pub(crate) fn session(id: &str, user_id: &str, hash: u8, secs: i64) -> SessionRow {
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

pub(crate) fn role(name: &str, secs: i64) -> RoleRow {
    RoleRow {
        name: name.to_owned(),
        definition_json: format!(r#"{{"name":"{name}","grants":[]}}"#),
        updated_at: at(secs),
    }
}

pub(crate) fn care(principal: &str, subject: &str, expires: Option<i64>) -> CareRelationshipRow {
    CareRelationshipRow {
        principal_id: principal.to_owned(),
        subject: subject.to_owned(),
        created_at: at(0),
        expires_at: expires.map(at),
    }
}

pub(crate) fn break_glass(
    id: &str,
    principal: &str,
    subject: &str,
    opened: i64,
    ends: i64,
) -> BreakGlassRow {
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

pub(crate) fn audit_entry(seq: u64, prev_hash: Hash) -> AuditEntry {
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
pub(crate) fn audit_chain(n: u64) -> Vec<AuditEntry> {
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
pub(crate) async fn write<F>(store: &dyn Store, f: F) -> Result<(), StoreError>
where
    F: FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send + 'static,
{
    store.write(Box::new(f)).await
}

/// Runs a write closure that must succeed.
pub(crate) async fn write_ok<F>(store: &dyn Store, what: &str, f: F)
where
    F: FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send + 'static,
{
    if let Err(e) = write(store, f).await {
        panic!("{what}: write failed: {e}");
    }
}

/// Runs a write closure that must succeed and returns its value.
pub(crate) async fn write_value<T, F>(store: &dyn Store, what: &str, f: F) -> T
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
pub(crate) async fn read<T, F>(store: &dyn Store, f: F) -> T
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

pub(crate) fn assert_duplicate(outcome: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(outcome, Err(StoreError::Duplicate)),
        "{what}: expected StoreError::Duplicate, got {outcome:?}"
    );
}

pub(crate) type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Polls every future concurrently in the current task (the futures borrow the store, so
/// they cannot be spawned). All of them are first polled together, so their writes queue up
/// together: this is what lets a group-commit backend batch them.
pub(crate) async fn join_all<T>(futures: Vec<LocalFuture<'_, T>>) -> Vec<T> {
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

pub(crate) async fn seed_collections(store: &dyn Store, names: &[&str]) {
    let rows: Vec<CollectionRow> = names.iter().map(|n| collection(n, 0)).collect();
    write_ok(store, "seed collections", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_collection(r))
    })
    .await;
}

/// Inserts heads (and a version 1 for each) in one write.
pub(crate) async fn seed_records(store: &dyn Store, heads: Vec<RecordHead>) {
    write_ok(store, "seed records", move |tx| {
        for h in &heads {
            tx.insert_record_head(h)?;
            tx.insert_record_version(&version_row(h, 1, vec![0xA5; 16]))?;
        }
        Ok(())
    })
    .await;
}
