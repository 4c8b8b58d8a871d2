//! Audit log verification speed against raw SHA-256 over the same bytes.
//!
//! `cargo bench -p phivault-audit --bench verify`. Every benchmark processes the same
//! 20 000 realistic events and reports bytes/s over their canonical event bytes, so the
//! numbers compare directly: `raw_sha256` hashes each event's bytes once; `verify_*` check
//! the hash chain, the RFC 9162 Merkle leaves and tree, and a signed tree head.
#![allow(missing_docs)]

use divan::Bencher;
use divan::counter::BytesCount;
use phivault_audit::merkle::MemoryTree;
use phivault_audit::{
    Actor, AuditEntry, AuditEvent, GENESIS_HASH, LogVerifier, NodeSource as _, Outcome,
    SignedTreeHead,
};
use sha2::{Digest, Sha256};
use time::macros::datetime;

const N: u64 = 20_000;

fn main() {
    divan::main();
}

struct Log {
    entries: Vec<AuditEntry>,
    head: SignedTreeHead,
    key: [u8; 32],
    bytes: usize,
}

fn log() -> &'static Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let mut prev = GENESIS_HASH;
        let mut entries = Vec::new();
        let mut tree = MemoryTree::new();
        for i in 0..N {
            let mut e = AuditEvent::new(
                datetime!(2026-01-02 03:04:05 UTC) + time::Duration::milliseconds(i as i64),
                format!("0193b1c2-7d4e-7f00-8a1b-{i:012x}"),
                Actor::token(format!("0193b1c2-0000-4000-8000-{:012x}", i % 50)),
                "api_token",
                "record.read",
                Outcome::Success,
            );
            e.source = Some("10.1.2.3".into());
            e.purpose = Some("TREAT".into());
            e.collection = Some("patients".into());
            e.record_id = Some(format!("0193b1c2-1111-7000-8000-{i:012x}"));
            e.version = Some(3);
            e.subject = Some(format!("subj-{:06}", i % 997));
            e.fields = vec!["birth_date".into(), "diagnosis".into(), "full_name".into()];
            let entry = AuditEntry::chain(i + 1, prev, &e);
            prev = entry.hash;
            tree.push_data(entry.event_json.as_bytes());
            entries.push(entry);
        }
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let root = phivault_audit::merkle::root(&mut tree, N).unwrap_or_default();
        let _ = tree.node(0, 0);
        let head = SignedTreeHead::sign(&sk, N, 0, root);
        let bytes = entries.iter().map(|e| e.event_json.len()).sum();
        Log {
            entries,
            head,
            key: sk.verifying_key().to_bytes(),
            bytes,
        }
    })
}

#[divan::bench]
fn raw_sha256(b: Bencher) {
    let l = log();
    b.counter(BytesCount::new(l.bytes)).bench(|| {
        let mut acc = 0u8;
        for e in &l.entries {
            let d: [u8; 32] = Sha256::digest(e.event_json.as_bytes()).into();
            acc ^= d[0];
        }
        acc
    });
}

#[divan::bench]
fn verify_hashes(b: Bencher) {
    let l = log();
    b.counter(BytesCount::new(l.bytes)).bench(|| {
        let mut v = LogVerifier::new([l.head.clone()], &l.key).hashes_only();
        v.push_all(&l.entries, &[]).map(|()| v.finish())
    });
}

#[divan::bench]
fn verify_hashes_sequential(b: Bencher) {
    let l = log();
    b.counter(BytesCount::new(l.bytes)).bench(|| {
        let mut v = LogVerifier::new([l.head.clone()], &l.key).hashes_only();
        for e in &l.entries {
            let _ = v.push(e, None);
        }
        v.finish()
    });
}

#[divan::bench]
fn verify_full_with_event_parse(b: Bencher) {
    let l = log();
    b.counter(BytesCount::new(l.bytes)).bench(|| {
        let mut v = LogVerifier::new([l.head.clone()], &l.key);
        v.push_all(&l.entries, &[]).map(|()| v.finish())
    });
}
