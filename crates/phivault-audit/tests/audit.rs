//! The audit crate's one integration-test binary: chain building and verification,
//! the tamper suite, the canonical encoding (golden bytes and hashes), and property tests.

use phivault_audit::{
    Actor, ActorKind, AuditEntry, AuditError, AuditEvent, BreakKind, ChainBreak, ChainVerifier,
    GENESIS_HASH, Hash, Outcome,
};
use proptest::prelude::*;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

// ---------------------------------------------------------------------------------------
// Helpers

/// A synthetic event; `i` varies it so neighbouring entries differ.
fn sample_event(i: u64) -> AuditEvent {
    let time = datetime!(2024-05-06 07:08:09.123 UTC) + time::Duration::seconds(i as i64);
    let mut e = AuditEvent::new(
        time,
        format!("req-{i:04}"),
        Actor::token(format!("tok_{}", i % 7)),
        "api_token",
        if i.is_multiple_of(3) {
            "record.create"
        } else {
            "record.read"
        },
        if i.is_multiple_of(5) {
            Outcome::Denied
        } else {
            Outcome::Success
        },
    );
    e.source = Some("192.0.2.10".into());
    e.purpose = Some("TREAT".into());
    e.collection = Some("patients".into());
    e.record_id = Some(format!("rec-{i}"));
    e.version = Some(i % 4 + 1);
    e.subject = Some(format!("subj-{}", i % 11));
    e.fields = vec!["name".into(), "dob".into()];
    e
}

/// A valid log of `n` entries, seq 1..=n.
fn build_chain(n: u64) -> Vec<AuditEntry> {
    let mut prev = GENESIS_HASH;
    (1..=n)
        .map(|seq| {
            let entry = AuditEntry::chain(seq, prev, &sample_event(seq));
            prev = entry.hash;
            entry
        })
        .collect()
}

/// Feeds `entries` to a fresh verifier; the count accepted, or the first break.
fn verify(entries: &[AuditEntry]) -> Result<u64, ChainBreak> {
    let mut v = ChainVerifier::new();
    for e in entries {
        v.push(e)?;
    }
    Ok(v.verified())
}

fn brk(seq: u64, kind: BreakKind) -> Result<u64, ChainBreak> {
    Err(ChainBreak { seq, kind })
}

/// The entry at `seq` in a log built by `build_chain` (seq 1 is index 0).
fn at(entries: &mut [AuditEntry], seq: u64) -> &mut AuditEntry {
    &mut entries[(seq - 1) as usize]
}

// ---------------------------------------------------------------------------------------
// A valid chain

#[test]
fn a_chain_of_100_events_verifies() {
    let log = build_chain(100);
    let mut v = ChainVerifier::new();
    for e in &log {
        v.push(e).unwrap();
    }
    assert_eq!(v.verified(), 100);
    assert_eq!(v.head(), (100, log[99].hash));
}

#[test]
fn a_fresh_verifier_heads_at_genesis() {
    let v = ChainVerifier::default();
    assert_eq!(v.verified(), 0);
    assert_eq!(v.head(), (0, GENESIS_HASH));
}

#[test]
fn resume_continues_from_a_checkpoint() {
    let log = build_chain(100);
    let mut first = ChainVerifier::new();
    for e in &log[..60] {
        first.push(e).unwrap();
    }
    let (seq, hash) = first.head();
    let mut rest = ChainVerifier::resume(seq + 1, hash);
    for e in &log[60..] {
        rest.push(e).unwrap();
    }
    assert_eq!(rest.verified(), 40);
    assert_eq!(rest.head(), (100, log[99].hash));
}

#[test]
fn resume_from_a_wrong_checkpoint_fails_at_the_first_entry() {
    let log = build_chain(10);
    let mut wrong_hash = ChainVerifier::resume(6, log[3].hash);
    assert_eq!(
        wrong_hash.push(&log[5]),
        Err(ChainBreak {
            seq: 6,
            kind: BreakKind::PrevHashMismatch
        })
    );
    let mut wrong_seq = ChainVerifier::resume(7, log[4].hash);
    assert_eq!(
        wrong_seq.push(&log[5]),
        Err(ChainBreak {
            seq: 6,
            kind: BreakKind::SeqGap { expected: 7 }
        })
    );
}

// ---------------------------------------------------------------------------------------
// Tamper suite: each names the first bad entry and what is wrong with it.

#[test]
fn editing_one_byte_of_an_event_is_a_hash_mismatch_at_that_entry() {
    let mut log = build_chain(100);
    let entry = at(&mut log, 50);
    // Turn "rec-50" into "rec-51": still valid, still canonical JSON, so only the hash can tell.
    let pos = entry.event_json.find("rec-50").unwrap() + 5;
    let mut bytes = entry.event_json.clone().into_bytes();
    bytes[pos] = b'1';
    entry.event_json = String::from_utf8(bytes).unwrap();
    assert!(
        entry.event().is_ok(),
        "the edit must not be caught merely by parsing"
    );
    assert_eq!(verify(&log), brk(50, BreakKind::HashMismatch));
}

#[test]
fn changing_a_stored_hash_is_a_hash_mismatch_at_that_entry() {
    let mut log = build_chain(100);
    at(&mut log, 50).hash[31] ^= 0x01;
    assert_eq!(verify(&log), brk(50, BreakKind::HashMismatch));
}

#[test]
fn changing_a_stored_prev_hash_is_a_hash_mismatch_at_that_entry() {
    let mut log = build_chain(100);
    at(&mut log, 50).prev_hash[0] ^= 0x80;
    assert_eq!(verify(&log), brk(50, BreakKind::HashMismatch));
}

#[test]
fn changing_a_stored_seq_is_a_hash_mismatch_at_that_entry() {
    let mut log = build_chain(100);
    at(&mut log, 50).seq = 99;
    assert_eq!(verify(&log), brk(99, BreakKind::HashMismatch));
}

#[test]
fn deleting_an_entry_breaks_the_link_of_the_next_one() {
    let mut log = build_chain(100);
    log.remove(49); // seq 50
    assert_eq!(verify(&log), brk(51, BreakKind::PrevHashMismatch));
}

#[test]
fn deleting_the_first_entry_breaks_the_link_of_the_second() {
    let mut log = build_chain(10);
    log.remove(0);
    assert_eq!(verify(&log), brk(2, BreakKind::PrevHashMismatch));
}

#[test]
fn an_inserted_forged_entry_with_a_made_up_link_is_caught_at_itself() {
    let mut log = build_chain(100);
    let mut evil = sample_event(50);
    evil.actor = Actor::user("not-who-did-it");
    // Its own hash is computed correctly; only its link is invented.
    let forged = AuditEntry::chain(50, [7u8; 32], &evil);
    log.insert(49, forged);
    assert_eq!(verify(&log), brk(50, BreakKind::PrevHashMismatch));
}

#[test]
fn an_inserted_forged_entry_linked_to_its_predecessor_is_caught_at_the_next_entry() {
    let mut log = build_chain(100);
    let mut evil = sample_event(50);
    evil.outcome = Outcome::Denied;
    // The strongest splice a chain alone admits: correct hash, correct link, plausible seq.
    // The entry after it still points at the real seq 49, so the break shows there.
    let forged = AuditEntry::chain(50, log[48].hash, &evil);
    log.insert(49, forged);
    let mut v = ChainVerifier::new();
    let result = log.iter().try_for_each(|e| v.push(e));
    assert_eq!(
        result,
        Err(ChainBreak {
            seq: 50,
            kind: BreakKind::PrevHashMismatch
        })
    );
    assert_eq!(
        v.verified(),
        50,
        "entries 1..=49 and the forgery were accepted"
    );
}

#[test]
fn an_inserted_entry_with_renumbered_successors_is_a_hash_mismatch_after_it() {
    let mut log = build_chain(100);
    let forged = AuditEntry::chain(50, log[48].hash, &sample_event(1000));
    log.insert(49, forged);
    for e in &mut log[50..] {
        e.seq += 1;
    }
    // The real seq 50 now claims seq 51, and seq is part of its hash.
    assert_eq!(verify(&log), brk(51, BreakKind::HashMismatch));
}

#[test]
fn swapping_two_entries_breaks_the_link_of_the_first_one_out_of_place() {
    let mut log = build_chain(100);
    log.swap(49, 50); // seq 51 now comes before seq 50
    assert_eq!(verify(&log), brk(51, BreakKind::PrevHashMismatch));
}

#[test]
fn swapping_two_events_under_fixed_seqs_is_a_hash_mismatch() {
    // A store that orders by its seq column: swapping row contents but not seq numbers.
    let mut log = build_chain(100);
    let (a, b) = (log[49].event_json.clone(), log[50].event_json.clone());
    log[49].event_json = b;
    log[50].event_json = a;
    assert_eq!(verify(&log), brk(50, BreakKind::HashMismatch));
}

#[test]
fn a_duplicated_entry_breaks_the_link_of_the_copy() {
    let mut log = build_chain(100);
    let copy = log[49].clone();
    log.insert(50, copy);
    let mut v = ChainVerifier::new();
    let result = log.iter().try_for_each(|e| v.push(e));
    assert_eq!(
        result,
        Err(ChainBreak {
            seq: 50,
            kind: BreakKind::PrevHashMismatch
        })
    );
    assert_eq!(v.verified(), 50);
}

#[test]
fn a_writer_that_skips_a_number_is_a_seq_gap() {
    // Intact and correctly linked, but numbered 1, 2, 4.
    let e1 = AuditEntry::chain(1, GENESIS_HASH, &sample_event(1));
    let e2 = AuditEntry::chain(2, e1.hash, &sample_event(2));
    let e4 = AuditEntry::chain(4, e2.hash, &sample_event(3));
    assert_eq!(
        verify(&[e1, e2, e4]),
        brk(4, BreakKind::SeqGap { expected: 3 })
    );
}

#[test]
fn a_log_that_does_not_start_at_one_is_a_seq_gap() {
    let e0 = AuditEntry::chain(0, GENESIS_HASH, &sample_event(0));
    assert_eq!(verify(&[e0]), brk(0, BreakKind::SeqGap { expected: 1 }));
}

#[test]
fn a_correctly_hashed_entry_that_is_not_an_event_is_malformed() {
    let spaced = String::from_utf8(sample_event(2).canonical_bytes())
        .unwrap()
        .replacen(",", ", ", 1);
    for json in [
        "not json",
        "{}",
        r#"{"time":"2024-05-06T07:08:09Z"}"#,
        // A real event with one space added: valid JSON, but not its canonical bytes.
        &spaced,
    ] {
        let mut log = build_chain(1);
        let bad = AuditEntry {
            seq: 2,
            prev_hash: log[0].hash,
            event_json: json.to_owned(),
            hash: AuditEntry::compute_hash(2, &log[0].hash, json.as_bytes()),
        };
        log.push(bad);
        assert_eq!(verify(&log), brk(2, BreakKind::Malformed), "{json}");
    }
}

#[test]
fn after_a_break_the_verifier_accepts_nothing() {
    let log = build_chain(5);
    let mut v = ChainVerifier::new();
    v.push(&log[0]).unwrap();
    let first = v.push(&log[2]).unwrap_err();
    assert_eq!(
        first,
        ChainBreak {
            seq: 3,
            kind: BreakKind::PrevHashMismatch
        }
    );
    // log[1] is exactly the entry the verifier was waiting for, but it comes too late.
    assert_eq!(v.push(&log[1]), Err(first));
    assert_eq!(v.verified(), 1);
    assert_eq!(v.head(), (1, log[0].hash));
}

#[test]
fn truncating_the_tail_is_visible_only_against_a_known_head() {
    // A chain cannot see its own end cut off; that is what published tree heads are for.
    let log = build_chain(100);
    let mut v = ChainVerifier::new();
    for e in &log[..90] {
        v.push(e).unwrap();
    }
    assert_ne!(v.head(), (100, log[99].hash));
}

#[test]
fn breaks_display_the_entry_and_the_cause() {
    let b = ChainBreak {
        seq: 42,
        kind: BreakKind::HashMismatch,
    };
    assert_eq!(
        b.to_string(),
        "audit entry 42: hash does not match its contents"
    );
    let b = ChainBreak {
        seq: 43,
        kind: BreakKind::SeqGap { expected: 42 },
    };
    assert_eq!(
        b.to_string(),
        "audit entry 43: sequence number out of order (expected 42)"
    );
    let b = ChainBreak {
        seq: 7,
        kind: BreakKind::PrevHashMismatch,
    };
    assert!(
        b.to_string()
            .starts_with("audit entry 7: previous hash does not match")
    );
    let b = ChainBreak {
        seq: 8,
        kind: BreakKind::Malformed,
    };
    assert_eq!(
        b.to_string(),
        "audit entry 8: event is not a valid audit event"
    );
}

// ---------------------------------------------------------------------------------------
// Canonical encoding

/// The stored form of a fixed event, and its entry hashes. The hashes were computed
/// outside this crate (`printf 'phivault-audit-v1\0' ... | sha256sum`), so they pin the
/// label, the big-endian seq and the field order, not merely this implementation.
const GOLDEN_JSON: &str = r#"{"time":"2024-05-06T07:08:09.123Z","request_id":"req-01","actor":{"kind":"token","id":"tok_7"},"auth_method":"api_token","source":"192.0.2.10","action":"record.read","outcome":"success","reason":null,"purpose":"TREAT","collection":"patients","record_id":"rec-42","version":3,"subject":"subj-9","fields":["name","dob"],"count":null,"target":null}"#;
const GOLDEN_HASH_SEQ_1: &str = "9693766be1ffc89ae6d48c189c5511e86314c2e9e3f618e40ae5b1fb89c48786";
const GOLDEN_HASH_SEQ_258: &str =
    "c8e5ee0dbe52370878f8f0ba5c2d9ba7b32b7ce33d21ec87db163921f42689e0";

fn golden_event() -> AuditEvent {
    // Given in +02:00 on purpose: the stored time is the same instant in UTC.
    let mut e = AuditEvent::new(
        datetime!(2024-05-06 09:08:09.123 +02:00),
        "req-01",
        Actor::token("tok_7"),
        "api_token",
        "record.read",
        Outcome::Success,
    );
    e.source = Some("192.0.2.10".into());
    e.purpose = Some("TREAT".into());
    e.collection = Some("patients".into());
    e.record_id = Some("rec-42".into());
    e.version = Some(3);
    e.subject = Some("subj-9".into());
    e.fields = vec!["name".into(), "dob".into()];
    e
}

#[test]
fn golden_event_bytes_and_hashes() {
    let event = golden_event();
    assert_eq!(
        String::from_utf8(event.canonical_bytes()).unwrap(),
        GOLDEN_JSON
    );
    let first = AuditEntry::chain(1, GENESIS_HASH, &event);
    assert_eq!(first.event_json, GOLDEN_JSON);
    assert_eq!(hex::encode(first.hash), GOLDEN_HASH_SEQ_1);
    let later = AuditEntry::chain(258, first.hash, &event);
    assert_eq!(hex::encode(later.hash), GOLDEN_HASH_SEQ_258);
}

#[test]
fn canonical_bytes_are_deterministic_and_round_trip() {
    let event = golden_event();
    assert_eq!(event.canonical_bytes(), event.canonical_bytes());
    assert_eq!(event.canonical_bytes(), event.clone().canonical_bytes());
    let entry = AuditEntry::chain(1, GENESIS_HASH, &event);
    let back = entry.event().unwrap();
    assert_eq!(back, event);
    assert_eq!(back.time.offset(), UtcOffset::UTC);
    assert_eq!(back.canonical_bytes(), entry.event_json.as_bytes());
}

#[test]
fn canonical_bytes_equal_serde_json() {
    let event = golden_event();
    assert_eq!(serde_json::to_vec(&event).unwrap(), event.canonical_bytes());
    let bare = AuditEvent::new(
        datetime!(2024-01-01 00:00 UTC),
        "",
        Actor::anonymous(),
        "none",
        "auth.authenticate",
        Outcome::Invalid,
    );
    assert_eq!(serde_json::to_vec(&bare).unwrap(), bare.canonical_bytes());
}

#[test]
fn enum_wire_names_are_snake_case() {
    for (o, name) in [
        (Outcome::Success, "success"),
        (Outcome::Denied, "denied"),
        (Outcome::Invalid, "invalid"),
        (Outcome::Error, "error"),
    ] {
        assert_eq!(o.as_str(), name);
        assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{name}\""));
    }
    for (k, name) in [
        (ActorKind::Token, "token"),
        (ActorKind::User, "user"),
        (ActorKind::System, "system"),
        (ActorKind::Anonymous, "anonymous"),
    ] {
        assert_eq!(k.as_str(), name);
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
    }
}

/// Every string leaf of a JSON value.
fn string_leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

#[test]
fn serialization_holds_only_what_was_put_in() {
    let event = golden_event();
    let value: serde_json::Value = serde_json::from_slice(&event.canonical_bytes()).unwrap();
    let obj = value.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut expected = vec![
        "time",
        "request_id",
        "actor",
        "auth_method",
        "source",
        "action",
        "outcome",
        "reason",
        "purpose",
        "collection",
        "record_id",
        "version",
        "subject",
        "fields",
        "count",
        "target",
    ];
    // serde_json's map is ordered by key unless preserve_order is on; compare as sets.
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(keys_sorted, expected);
    let actor_keys: Vec<&str> = obj["actor"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(actor_keys, ["id", "kind"]);

    let put_in = [
        "2024-05-06T07:08:09.123Z",
        "req-01",
        "token",
        "tok_7",
        "api_token",
        "192.0.2.10",
        "record.read",
        "success",
        "TREAT",
        "patients",
        "rec-42",
        "subj-9",
        "name",
        "dob",
    ];
    let mut leaves = Vec::new();
    string_leaves(&value, &mut leaves);
    for leaf in &leaves {
        assert!(
            put_in.contains(&leaf.as_str()),
            "unexpected value {leaf:?} in the event"
        );
    }
    assert_eq!(obj["version"], 3);
    for absent in ["reason", "count"] {
        assert!(obj[absent].is_null());
    }
}

#[test]
fn event_refuses_non_canonical_spellings() {
    let canonical = golden_event().canonical_bytes();
    let canonical = String::from_utf8(canonical).unwrap();
    let variants = [
        canonical.replace("\"count\":null", "\"count\": null"),
        canonical.replace(",\"count\":null", ""),
        canonical.replace("07:08:09.123Z", "09:08:09.123+02:00"),
        canonical.replace("07:08:09.123Z", "07:08:09.123000Z"),
        canonical.replace("tok_7", "tok\\u005f7"),
    ];
    for json in variants {
        assert_ne!(json, canonical);
        let entry = AuditEntry {
            seq: 1,
            prev_hash: GENESIS_HASH,
            hash: GENESIS_HASH,
            event_json: json,
        };
        assert_eq!(
            entry.event(),
            Err(AuditError::NotCanonical),
            "{}",
            entry.event_json
        );
    }
}

#[test]
fn event_refuses_unknown_fields_without_echoing_input() {
    let json = GOLDEN_JSON.replace("\"count\":null", "\"count\":null,\"ssn\":\"123-45-6789\"");
    let entry = AuditEntry {
        seq: 1,
        prev_hash: GENESIS_HASH,
        hash: GENESIS_HASH,
        event_json: json,
    };
    let err = entry.event().unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Malformed {
                category: "data",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "audit_event_malformed");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(
            !shown.contains("ssn") && !shown.contains("123-45"),
            "{shown}"
        );
    }
}

#[test]
fn entry_debug_shows_hashes_as_hex() {
    let entry = AuditEntry::chain(1, GENESIS_HASH, &golden_event());
    let shown = format!("{entry:?}");
    assert!(shown.contains(GOLDEN_HASH_SEQ_1), "{shown}");
    assert!(shown.contains(&"0".repeat(64)), "{shown}");
}

// ---------------------------------------------------------------------------------------
// Property tests

fn arb_time() -> impl Strategy<Value = OffsetDateTime> {
    // Years 0001..=9997 as Unix seconds, so any offset keeps the instant in RFC 3339 range.
    (
        -62_135_596_800i64..=253_370_764_800,
        0i32..1_000_000_000,
        -1439i32..=1439,
    )
        .prop_filter_map("offset out of range", |(secs, nanos, offset_minutes)| {
            let offset = UtcOffset::from_whole_seconds(offset_minutes * 60).ok()?;
            let utc = OffsetDateTime::UNIX_EPOCH + time::Duration::new(secs, nanos);
            Some(utc.to_offset(offset))
        })
}

fn arb_event() -> impl Strategy<Value = AuditEvent> {
    let kinds = prop_oneof![
        Just(ActorKind::Token),
        Just(ActorKind::User),
        Just(ActorKind::System),
        Just(ActorKind::Anonymous),
    ];
    let outcomes = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Denied),
        Just(Outcome::Invalid),
        Just(Outcome::Error),
    ];
    let s = || any::<String>();
    let os = || proptest::option::of(any::<String>());
    (
        (arb_time(), s(), kinds, os(), s(), os(), s(), outcomes),
        (
            os(),
            os(),
            os(),
            os(),
            proptest::option::of(any::<u64>()),
            os(),
        ),
        (
            proptest::collection::vec(s(), 0..4),
            proptest::option::of(any::<u64>()),
            os(),
        ),
    )
        .prop_map(
            |(
                (time, request_id, kind, actor_id, auth_method, source, action, outcome),
                (reason, purpose, collection, record_id, version, subject),
                (fields, count, target),
            )| AuditEvent {
                time,
                request_id,
                actor: Actor { kind, id: actor_id },
                auth_method,
                source,
                action,
                outcome,
                reason,
                purpose,
                collection,
                record_id,
                version,
                subject,
                fields,
                count,
                target,
            },
        )
}

fn chain_of(events: &[AuditEvent]) -> Vec<AuditEntry> {
    let mut prev: Hash = GENESIS_HASH;
    events
        .iter()
        .zip(1u64..)
        .map(|(event, seq)| {
            let entry = AuditEntry::chain(seq, prev, event);
            prev = entry.hash;
            entry
        })
        .collect()
}

proptest! {
    #[test]
    fn any_events_chain_verify_and_round_trip(events in proptest::collection::vec(arb_event(), 1..6)) {
        let log = chain_of(&events);
        prop_assert_eq!(verify(&log), Ok(events.len() as u64));
        for (entry, event) in log.iter().zip(&events) {
            prop_assert_eq!(&entry.event().unwrap(), event);
            prop_assert_eq!(serde_json::to_vec(event).unwrap(), event.canonical_bytes());
        }
    }

    #[test]
    fn flipping_any_byte_of_any_event_is_detected(
        events in proptest::collection::vec(arb_event(), 1..6),
        pick in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut log = chain_of(&events);
        let i = pick.index(log.len());
        let seq = log[i].seq;
        let mut bytes = log[i].event_json.clone().into_bytes();
        let j = byte.index(bytes.len());
        bytes[j] ^= mask;
        // Whatever the bytes became, they no longer hash to the stored hash.
        prop_assert_ne!(AuditEntry::compute_hash(seq, &log[i].prev_hash, &bytes), log[i].hash);
        // A String column can only hold UTF-8; when the flip keeps it so, the verifier must
        // name this entry.
        if let Ok(json) = String::from_utf8(bytes) {
            log[i].event_json = json;
            prop_assert_eq!(verify(&log), brk(seq, BreakKind::HashMismatch));
        }
    }
}

#[path = "audit/merkle.rs"]
mod merkle;

#[path = "audit/ocsf.rs"]
mod ocsf;
