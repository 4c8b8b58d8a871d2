//! Micro-benchmarks of the per-request safeguards: `cargo bench -p phivault-bench --bench micro`.
//!
//! Audit *verification* against raw SHA-256 lives in `phivault-audit`'s `verify` bench and
//! de-identification throughput in `phivault-deid`'s `scrub` bench; they are not repeated here.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use divan::Bencher;
use divan::counter::BytesCount;
use phivault_audit::merkle::MemoryTree;
use phivault_audit::{Actor, AuditEntry, AuditEvent, GENESIS_HASH, Outcome};
use phivault_crypto::{DataKey, Keyring, RecordAad, open_record, seal_record};
use sha2::{Digest, Sha256};
use time::macros::datetime;

fn main() {
    divan::main();
}

fn record_1k() -> Vec<u8> {
    let mut s = phivault_testkit::synthetic::Synth::new(1);
    serde_json::to_vec(&s.patient_of_size(1024)).unwrap()
}

const AAD: RecordAad<'static> = RecordAad {
    collection: "patients",
    record_id: "0193b1c2-1111-7000-8000-000000000001",
    version: 1,
    subject: "subj-000001",
};

/// AES-256-GCM seal of a ~1 KB record under a subject's data key (random nonce included).
#[divan::bench]
fn seal_1k(b: Bencher) {
    let dek = DataKey::generate().unwrap();
    let plain = record_1k();
    b.counter(BytesCount::of_slice(&plain))
        .bench(|| seal_record(&dek, &AAD, divan::black_box(&plain)).unwrap());
}

/// Verify and decrypt a sealed ~1 KB record.
#[divan::bench]
fn open_1k(b: Bencher) {
    let dek = DataKey::generate().unwrap();
    let plain = record_1k();
    let sealed = seal_record(&dek, &AAD, &plain).unwrap();
    b.counter(BytesCount::of_slice(&plain))
        .bench(|| open_record(&dek, &AAD, divan::black_box(&sealed)).unwrap());
}

/// Unwrapping a subject's data key with the KEK (done once per record request).
#[divan::bench]
fn unwrap_data_key(b: Bencher) {
    let kr = Keyring::generate().unwrap();
    let dek = DataKey::generate().unwrap();
    let wrapped = kr.wrap_data_key(&dek, "subj-000001").unwrap();
    b.bench(|| {
        kr.unwrap_data_key(divan::black_box(&wrapped), "subj-000001")
            .unwrap()
    });
}

/// One blind-index tag (HMAC-SHA-256 under the field key) of a normalised value.
#[divan::bench]
fn blind_index_tag(b: Bencher) {
    let indexer = Keyring::generate().unwrap().blind_indexer();
    b.bench(|| indexer.tag("patients", "mrn", divan::black_box("mrn00012345")));
}

fn event(i: u64) -> AuditEvent {
    let mut e = AuditEvent::new(
        datetime!(2026-01-02 03:04:05 UTC),
        format!("0193b1c2-7d4e-7f00-8a1b-{i:012x}"),
        Actor::token("0193b1c2-0000-4000-8000-000000000001"),
        "api_token",
        "record.create",
        Outcome::Success,
    );
    e.source = Some("127.0.0.1".into());
    e.purpose = Some("TREAT".into());
    e.collection = Some("patients".into());
    e.record_id = Some(format!("0193b1c2-1111-7000-8000-{i:012x}"));
    e.version = Some(1);
    e.subject = Some("subj-000001".into());
    e.fields = vec![
        "birth_date".into(),
        "diagnosis".into(),
        "full_name".into(),
        "mrn".into(),
    ];
    e
}

/// Appending one audit entry in memory: canonical event JSON, hash chain link and the
/// RFC 9162 Merkle leaf and interior nodes (the store write is measured by the harness).
#[divan::bench]
fn audit_append(b: Bencher) {
    let e = event(1);
    b.with_inputs(|| (MemoryTree::new(), GENESIS_HASH))
        .bench_local_values(|(mut tree, prev)| {
            let mut prev = prev;
            for seq in 1..=64u64 {
                let entry = AuditEntry::chain(seq, prev, divan::black_box(&e));
                tree.push_data(entry.event_json.as_bytes());
                prev = entry.hash;
            }
            tree
        });
}

/// Raw SHA-256 over the same canonical event bytes, 64 times (compare with `audit_append`).
#[divan::bench]
fn audit_append_raw_sha256(b: Bencher) {
    let bytes = AuditEntry::chain(1, GENESIS_HASH, &event(1))
        .event_json
        .into_bytes();
    b.bench(|| {
        let mut h = [0u8; 32];
        for _ in 0..64 {
            h = Sha256::digest(divan::black_box(&bytes)).into();
        }
        h
    });
}
