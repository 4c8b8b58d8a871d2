//! The audit tamper suite, against the SQLite file directly: edit a field of one event,
//! delete one, insert one, reorder two, truncate the tail (with and without the stored
//! heads), and replace the whole log with a consistently re-hashed forgery made without the
//! signing key. Each is detected and the first bad sequence number is reported.

use std::path::PathBuf;
use std::sync::Arc;

use phivault_core::audit::merkle::{append_nodes, leaf_hash};
use phivault_core::audit::{
    Actor, AuditEntry, AuditEvent, BreakKind, GENESIS_HASH, Hash, LogBreakKind, Outcome,
    SignedTreeHead,
};
use phivault_core::audit_log::{LogVerifyReport, verify_log};
use phivault_core::crypto::Keyring;
use phivault_core::{Clock, ManualClock, RequestMeta, Vault, VaultConfig, VaultError};
use phivault_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use rusqlite::{Connection, params};
use time::macros::datetime;

const N: u64 = 40;
const HEAD_EVERY: u64 = 8;

struct Logged {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<SqliteStore>,
    key: [u8; 32],
    /// The head published outside the database after the last event.
    published: SignedTreeHead,
    vault: Vault,
    clock: Arc<ManualClock>,
}

/// A vault whose log holds `N` events, with a signed head every `HEAD_EVERY` events.
async fn logged() -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let opts = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&path, opts).unwrap());
    let clock = Arc::new(ManualClock::new(datetime!(2026-05-01 10:00:00 UTC)));
    let vault = Vault::new(
        store.clone(),
        Keyring::generate().unwrap(),
        clock.clone(),
        VaultConfig::default(),
    );
    let mut published = None;
    for i in 1..=N {
        let meta = RequestMeta {
            request_id: format!("req-{i:03}"),
            source: Some("10.0.0.1".into()),
        };
        vault
            .record_rejected(
                &meta,
                None,
                phivault_core::AuditAction::HttpUnmatched,
                &VaultError::BadRequest("probe"),
            )
            .await
            .unwrap();
        clock.advance(time::Duration::seconds(1));
        if i % HEAD_EVERY == 0 {
            let (head, new) = vault.sign_tree_head().await.unwrap().unwrap();
            assert!(new);
            assert_eq!(head.tree_size, i);
            published = Some(head);
        }
    }
    Logged {
        _dir: dir,
        path,
        store,
        key: vault.audit_public_key(),
        published: published.unwrap(),
        vault,
        clock,
    }
}

impl Logged {
    fn sql(&self) -> Connection {
        Connection::open(&self.path).unwrap()
    }

    async fn verify(&self) -> LogVerifyReport {
        verify_log(
            &*self.store,
            Some(&self.key),
            std::slice::from_ref(&self.published),
        )
        .await
        .unwrap()
    }

    async fn verify_without_published_head(&self) -> LogVerifyReport {
        verify_log(&*self.store, Some(&self.key), &[])
            .await
            .unwrap()
    }
}

fn first_bad(r: &LogVerifyReport) -> (u64, LogBreakKind) {
    let Some(b) = r.first_break else {
        panic!("tampering must be detected: {r:?}")
    };
    (b.seq, b.kind)
}

fn entry(conn: &Connection, seq: u64) -> AuditEntry {
    conn.query_row(
        "SELECT seq, prev_hash, event_json, hash FROM audit_log WHERE seq = ?1",
        [seq as i64],
        |r| {
            Ok(AuditEntry {
                seq: r.get::<_, i64>(0)? as u64,
                prev_hash: r.get::<_, Vec<u8>>(1)?.try_into().unwrap(),
                event_json: r.get(2)?,
                hash: r.get::<_, Vec<u8>>(3)?.try_into().unwrap(),
            })
        },
    )
    .unwrap()
}

fn forged_event(i: u64) -> AuditEvent {
    AuditEvent::new(
        datetime!(2026-05-01 10:00:00 UTC) + time::Duration::seconds(i as i64),
        format!("forged-{i:03}"),
        Actor::system(),
        "none",
        "record.read",
        Outcome::Success,
    )
}

#[tokio::test]
async fn an_intact_log_verifies_against_stored_and_published_heads() {
    let l = logged().await;
    let r = l.verify().await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.entries, N);
    assert_eq!(r.root_hash, l.published.root_hash);
    // Every stored head (5) plus the published one was checked.
    assert_eq!(r.heads_checked, (N / HEAD_EVERY) as usize + 1);
}

#[tokio::test]
async fn editing_one_field_of_one_event_is_detected_at_that_event() {
    let l = logged().await;
    let n = l
        .sql()
        .execute(
            "UPDATE audit_log SET event_json = replace(event_json, '10.0.0.1', '10.0.0.2') \
             WHERE seq = 13",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        first_bad(&l.verify().await),
        (13, LogBreakKind::Chain(BreakKind::HashMismatch))
    );
}

#[tokio::test]
async fn deleting_one_event_is_detected_at_that_event() {
    let l = logged().await;
    l.sql()
        .execute("DELETE FROM audit_log WHERE seq = 13", [])
        .unwrap();
    assert_eq!(first_bad(&l.verify().await), (13, LogBreakKind::Missing));
}

#[tokio::test]
async fn inserting_one_well_chained_event_is_detected_at_that_event() {
    let l = logged().await;
    let conn = l.sql();
    // Make room at 13 (from the top, so the primary key never collides) and insert an
    // entry that links correctly to entry 12: the chain alone would blame entry 14.
    for seq in (13..=N).rev() {
        conn.execute(
            "UPDATE audit_log SET seq = seq + 1 WHERE seq = ?1",
            [seq as i64],
        )
        .unwrap();
    }
    let prev = entry(&conn, 12).hash;
    let forged = AuditEntry::chain(13, prev, &forged_event(13));
    conn.execute(
        "INSERT INTO audit_log (seq, prev_hash, event_json, hash) VALUES (?1, ?2, ?3, ?4)",
        params![
            13i64,
            &forged.prev_hash[..],
            forged.event_json,
            &forged.hash[..]
        ],
    )
    .unwrap();
    assert_eq!(
        first_bad(&l.verify().await),
        (13, LogBreakKind::LeafMismatch)
    );
}

#[tokio::test]
async fn reordering_two_events_is_detected_at_the_first() {
    let l = logged().await;
    let conn = l.sql();
    let (a, b) = (entry(&conn, 13), entry(&conn, 14));
    for (seq, e) in [(13i64, &b), (14i64, &a)] {
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?2, event_json = ?3, hash = ?4 WHERE seq = ?1",
            params![seq, &e.prev_hash[..], e.event_json, &e.hash[..]],
        )
        .unwrap();
    }
    assert_eq!(
        first_bad(&l.verify().await),
        (13, LogBreakKind::Chain(BreakKind::HashMismatch))
    );
}

#[tokio::test]
async fn truncating_the_tail_is_detected_by_the_stored_heads() {
    let l = logged().await;
    l.sql()
        .execute("DELETE FROM audit_log WHERE seq > 30", [])
        .unwrap();
    let r = l.verify_without_published_head().await;
    assert_eq!(
        first_bad(&r),
        (31, LogBreakKind::Truncated { tree_size: N })
    );
}

#[tokio::test]
async fn a_rollback_that_also_deletes_heads_and_nodes_is_caught_by_the_published_head() {
    let l = logged().await;
    l.sql()
        .execute_batch(
            "DELETE FROM audit_log WHERE seq > 30;
             DELETE FROM audit_tree_heads WHERE tree_size > 30;
             DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 30;",
        )
        .unwrap();
    // Internally consistent: without the published head nothing is wrong...
    assert!(l.verify_without_published_head().await.ok());
    // ...but the head published at 40 names entry 31 as the first missing one.
    assert_eq!(
        first_bad(&l.verify().await),
        (31, LogBreakKind::Truncated { tree_size: N })
    );
}

#[tokio::test]
async fn a_consistently_rehashed_forgery_without_the_key_is_detected_at_entry_1() {
    let l = logged().await;
    let conn = l.sql();
    // The forger rewrites every event, re-chains every hash, recomputes every Merkle node,
    // and replaces the signed heads with ones signed by a key of their own.
    conn.execute_batch(
        "DELETE FROM audit_log; DELETE FROM audit_nodes; DELETE FROM audit_tree_heads;",
    )
    .unwrap();
    let mut prev = GENESIS_HASH;
    let mut levels: Vec<Vec<Hash>> = Vec::new();
    // The forger's own key: another keyring's audit key.
    let forger = Keyring::generate().unwrap().audit_signing_key();
    for seq in 1..=N {
        let e = AuditEntry::chain(seq, prev, &forged_event(seq));
        prev = e.hash;
        conn.execute(
            "INSERT INTO audit_log (seq, prev_hash, event_json, hash) VALUES (?1, ?2, ?3, ?4)",
            params![seq as i64, &e.prev_hash[..], e.event_json, &e.hash[..]],
        )
        .unwrap();
        let nodes = append_nodes(seq - 1, leaf_hash(e.event_json.as_bytes()), |lv, i| {
            Ok::<_, ()>(levels[lv as usize][i as usize])
        })
        .unwrap();
        for (lv, i, h) in nodes {
            if levels.len() <= lv as usize {
                levels.push(Vec::new());
            }
            levels[lv as usize].push(h);
            conn.execute(
                "INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)",
                params![lv, i as i64, &h[..]],
            )
            .unwrap();
        }
        if seq % HEAD_EVERY == 0 {
            let mut t = phivault_core::audit::MemoryTree::new();
            for k in 1..=seq {
                t.push(levels[0][(k - 1) as usize]);
            }
            let root = phivault_core::audit::merkle::root(&mut t, seq).unwrap();
            let h = SignedTreeHead::sign(&forger, seq, 0, root);
            conn.execute(
                "INSERT INTO audit_tree_heads (tree_size, timestamp_ms, root_hash, signature) \
                 VALUES (?1, 0, ?2, ?3)",
                params![seq as i64, &h.root_hash[..], &h.signature[..]],
            )
            .unwrap();
        }
    }
    // The chain and the tree are internally consistent; the forged heads do not verify.
    let r = l.verify_without_published_head().await;
    assert!(r.first_break.is_none());
    assert_eq!(r.rejected_heads, vec![8, 16, 24, 32, 40]);
    assert!(!r.ok());
    // Against the published head: rewritten from entry 1.
    let r = l.verify().await;
    assert_eq!(
        first_bad(&r),
        (1, LogBreakKind::RootMismatch { tree_size: N })
    );
}

#[tokio::test]
async fn pruning_below_a_signed_checkpoint_keeps_the_rest_verifiable() {
    let l = logged().await;
    // Events are one second apart from 10:00:00; the clock is at 10:00:40. A 20 s
    // retention makes heads 8 and 16 old enough (entry 16 is from 10:00:15), not 24.
    assert_eq!(l.clock.now(), datetime!(2026-05-01 10:00:40 UTC));
    let through = l
        .vault
        .prune_audit(time::Duration::seconds(20))
        .await
        .unwrap();
    assert_eq!(through, Some(16));
    // Idempotent: nothing more is old enough.
    assert_eq!(
        l.vault
            .prune_audit(time::Duration::seconds(20))
            .await
            .unwrap(),
        None
    );
    let conn = l.sql();
    let (min, count): (i64, i64) = conn
        .query_row("SELECT min(seq), count(*) FROM audit_log", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(min, 17);
    assert_eq!(
        count as u64,
        N - 16 + 1,
        "the rest, plus the audit.prune event"
    );
    let r = l.verify().await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.root_hash.len(), 32);

    // Proofs for kept entries still work against the published head.
    let p = phivault_core::audit_log::prove_inclusion(&*l.store, 17, Some(N))
        .await
        .unwrap();
    assert_eq!(p.root_hash, l.published.root_hash);
    assert!(phivault_core::audit::merkle::verify_inclusion(
        &p.leaf_hash,
        16,
        N,
        &p.path,
        &l.published.root_hash
    ));

    // Tampering above the checkpoint is still named exactly...
    conn.execute(
        "UPDATE audit_log SET event_json = replace(event_json, 'req-030', 'req-03X') \
         WHERE seq = 30",
        [],
    )
    .unwrap();
    assert_eq!(
        first_bad(&l.verify().await),
        (30, LogBreakKind::Chain(BreakKind::HashMismatch))
    );
}

#[tokio::test]
async fn a_forged_node_below_the_checkpoint_is_caught_by_the_checkpoint_head() {
    let l = logged().await;
    l.vault
        .prune_audit(time::Duration::seconds(20))
        .await
        .unwrap();
    // The interior node over entries 1..=16 is what now vouches for the pruned prefix.
    l.sql()
        .execute(
            "UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0",
            [],
        )
        .unwrap();
    assert_eq!(
        first_bad(&l.verify().await),
        (16, LogBreakKind::RootMismatch { tree_size: 16 })
    );
}
