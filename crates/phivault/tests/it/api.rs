//! End-to-end tests of the request path over real TLS: a vault served on a loopback port,
//! driven by the typed client. CRUD, versions, search, `If-Match`, authentication
//! failures, scopes, tampering, fail-closed auditing and group commit.

use phivault_api::Collection;
use phivault_client::ClientError;
use phivault_core::audit::{AuditEntry, Outcome};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::{Synth, patient_schema};
use serde_json::{Value, json};
use time::Duration;

fn status_code(err: ClientError) -> (u16, String) {
    match err {
        ClientError::Api { status, problem } => (status, problem.code.clone()),
        other => panic!("expected a problem document, got {other:?}"),
    }
}

async fn with_patients() -> TestVault {
    let tv = TestVault::start().await;
    let schema: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
    tv.admin_client().create_collection(&schema).await.unwrap();
    tv
}

fn events(entries: &[AuditEntry]) -> Vec<phivault_core::audit::AuditEvent> {
    entries.iter().map(|e| e.event().unwrap()).collect()
}

#[tokio::test]
async fn crud_versions_history_and_if_match() {
    let tv = with_patients().await;
    let c = tv.client();
    let mut synth = Synth::new(1);
    let first = synth.patient();
    let created = c
        .create_record("patients", "subj-1", first.clone())
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(Value::Object(created.data.clone()), first);

    let read = c.get_record("patients", created.id).await.unwrap();
    assert_eq!(read.data, created.data);
    assert_eq!(read.subject, "subj-1");

    let second = synth.patient();
    let updated = c
        .update_record("patients", created.id, 1, second.clone())
        .await
        .unwrap();
    assert_eq!((updated.version, updated.current_version), (2, 2));

    // A writer holding the old version is refused instead of overwriting.
    let stale = c
        .update_record("patients", created.id, 1, synth.patient())
        .await
        .unwrap_err();
    assert_eq!(status_code(stale), (412, "version_mismatch".into()));
    assert_eq!(
        Value::Object(c.get_record("patients", created.id).await.unwrap().data),
        second
    );

    let v1 = c
        .get_record_version("patients", created.id, 1)
        .await
        .unwrap();
    assert_eq!(Value::Object(v1.data), first);
    assert_eq!((v1.version, v1.current_version), (1, 2));
    let history = c.history("patients", created.id).await.unwrap();
    let versions: Vec<u64> = history.items.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 2]);

    let gone = c
        .delete_record("patients", created.id, Some(2))
        .await
        .unwrap();
    assert_eq!(gone.version, 3);
    let err = c.get_record("patients", created.id).await.unwrap_err();
    assert_eq!(status_code(err), (410, "record_deleted".into()));
    let history = c.history("patients", created.id).await.unwrap();
    assert_eq!(history.items.len(), 3);
    assert!(history.items[2].deleted && history.items[2].data.is_empty());
    assert_eq!(
        Value::Object(history.items[0].data.clone()),
        first,
        "old versions stay readable after a soft delete"
    );

    let missing = c
        .get_record("patients", uuid::Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(status_code(missing).0, 404);
    let no_coll = c
        .create_record("nope", "subj-1", json!({"full_name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(status_code(no_coll).0, 404);
}

#[tokio::test]
async fn blind_index_search_is_normalised_and_follows_updates_and_deletes() {
    let tv = with_patients().await;
    let c = tv.client();
    let mut synth = Synth::new(2);
    let mut p = synth.patient();
    p["full_name"] = json!("Imani  Haddad");
    let rec = c
        .create_record("patients", "subj-2", p.clone())
        .await
        .unwrap();
    let mut other = synth.patient();
    other["full_name"] = json!("Someone Else");
    c.create_record("patients", "subj-3", other).await.unwrap();

    let hits = c
        .search("patients", "full_name", json!("  IMANI haddad"))
        .await
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    assert_eq!(hits.items[0].id, rec.id);
    let by_ssn = c.search("patients", "ssn", p["ssn"].clone()).await.unwrap();
    assert_eq!(by_ssn.items.len(), 1);

    p["full_name"] = json!("Imani Okafor");
    c.update_record("patients", rec.id, 1, p).await.unwrap();
    let old = c
        .search("patients", "full_name", json!("Imani Haddad"))
        .await
        .unwrap();
    assert!(
        old.items.is_empty(),
        "the old value's index entry must be gone"
    );
    let new = c
        .search("patients", "full_name", json!("imani okafor"))
        .await
        .unwrap();
    assert_eq!(new.items.len(), 1);

    c.delete_record("patients", rec.id, None).await.unwrap();
    let after = c
        .search("patients", "full_name", json!("imani okafor"))
        .await
        .unwrap();
    assert!(after.items.is_empty());

    let err = c
        .search("patients", "diagnosis", json!("x"))
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (422, "field_not_searchable".into()));
    let err = c
        .search("patients", "full_name", json!(12))
        .await
        .unwrap_err();
    assert_eq!(status_code(err).0, 422);

    // The audit event of a search names the field, never the value searched for.
    let searches: Vec<_> = events(&tv.audit_entries().await)
        .into_iter()
        .filter(|e| e.action == "record.search")
        .collect();
    assert!(searches.len() >= 4);
    for e in &searches {
        let text = serde_json::to_string(e).unwrap().to_lowercase();
        assert!(
            !text.contains("imani") && !text.contains("haddad"),
            "{text}"
        );
    }
    assert_eq!(searches[0].fields, ["full_name"]);
    assert_eq!(searches[0].count, Some(1));
}

#[tokio::test]
async fn subject_listing_pages_with_a_cursor() {
    let tv = with_patients().await;
    let c = tv.client();
    let mut synth = Synth::new(3);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            c.create_record("patients", "subj-p", synth.patient())
                .await
                .unwrap()
                .id,
        );
    }
    c.create_record("patients", "subj-other", synth.patient())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let page = c
            .list_subject_records("subj-p", cursor.as_deref(), Some(2))
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    ids.sort();
    seen.sort();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_alike_and_audited() {
    let tv = with_patients().await;
    let before = tv.audit_entries().await.len();
    // Well-formed (checksum valid) but never issued.
    let unknown = phivault_core::crypto::generate_token("pvt").unwrap();
    let unknown = unknown.expose_secret().to_owned();
    for token in [None, Some("not-a-token"), Some(unknown.as_str())] {
        let err = tv.client_with(token).list_collections().await.unwrap_err();
        assert_eq!(status_code(err), (401, "unauthenticated".into()));
    }

    // Expiry is tested by moving the clock, not by sleeping.
    let short = tv.token(&["records-all"], Duration::hours(1)).await;
    tv.client_with(Some(&short))
        .list_collections()
        .await
        .unwrap();
    tv.clock.advance(Duration::minutes(61));
    let err = tv
        .client_with(Some(&short))
        .list_collections()
        .await
        .unwrap_err();
    assert_eq!(status_code(err).0, 401);

    // Revocation takes effect at once.
    let reader_secret = tv.token(&["records-all"], Duration::hours(1)).await;
    let reader = tv.client_with(Some(&reader_secret));
    reader.list_collections().await.unwrap();
    let tokens = tv.admin_client().list_tokens().await.unwrap();
    let newest = tokens
        .items
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .max_by_key(|t| t.created_at)
        .unwrap();
    tv.admin_client().revoke_token(newest.id).await.unwrap();
    let err = reader.list_collections().await.unwrap_err();
    assert_eq!(status_code(err).0, 401);

    let reasons: Vec<String> = events(&tv.audit_entries().await[before..])
        .into_iter()
        .filter(|e| e.action == "auth.authenticate")
        .map(|e| {
            assert_eq!(e.outcome, Outcome::Denied);
            e.reason.unwrap()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "token_missing",
            "token_malformed",
            "token_unknown",
            "token_expired",
            "token_revoked"
        ]
    );
}

#[tokio::test]
async fn roles_and_purposes_are_enforced_and_denials_audited_with_their_rule() {
    let tv = with_patients().await;
    // The admin role administers but reads no PHI.
    let err = tv
        .admin_client()
        .with_purpose("TREAT")
        .create_record("patients", "subj-1", Synth::new(4).patient())
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (403, "forbidden".into()));
    // A data role without a stated purpose is refused; with a purpose outside its grants too.
    let app = tv.client_with(Some(&tv.app_token));
    let err = app
        .create_record("patients", "subj-1", Synth::new(4).patient())
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (400, "purpose_required".into()));
    let err = app
        .clone()
        .with_purpose("HPAYMT")
        .create_record("patients", "subj-1", Synth::new(4).patient())
        .await
        .unwrap_err();
    assert_eq!(status_code(err), (403, "forbidden".into()));

    let denied: Vec<_> = events(&tv.audit_entries().await)
        .into_iter()
        .filter(|e| e.action == "record.create" && e.outcome != Outcome::Success)
        .collect();
    let reasons: Vec<_> = denied.iter().map(|e| e.reason.clone().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "deny:no_grant",
            "purpose_required",
            "deny:purpose_not_permitted"
        ]
    );
    assert_eq!(denied[2].purpose.as_deref(), Some("HPAYMT"));
    // An allowed action records the grant that allowed it.
    tv.client()
        .create_record("patients", "subj-1", Synth::new(4).patient())
        .await
        .unwrap();
    let last = events(&tv.audit_entries().await).pop().unwrap();
    assert_eq!(last.reason.as_deref(), Some("grant:records-all#0"));
    assert_eq!(last.purpose.as_deref(), Some("TREAT"));
}

#[tokio::test]
async fn invalid_records_store_nothing_and_are_audited() {
    let tv = with_patients().await;
    let c = tv.client();
    let count = || {
        let db = rusqlite::Connection::open(tv.db_path()).unwrap();
        let n: i64 = db
            .query_row("SELECT count(*) FROM record_versions", [], |r| r.get(0))
            .unwrap();
        let k: i64 = db
            .query_row("SELECT count(*) FROM subject_keys", [], |r| r.get(0))
            .unwrap();
        (n, k)
    };
    let audit_before = tv.audit_entries().await.len();
    let bad = [
        json!({"full_name": 7}),
        json!({"ssn": "900-00-0001"}),
        json!({"full_name": "a", "not_declared": "CANARY-undeclared"}),
        json!({"full_name": "a", "age": 1.5}),
        json!({"full_name": "a", "birth_date": "2020-02-30"}),
        json!("just a string"),
    ];
    for data in &bad {
        let err = c
            .create_record("patients", "subj-new", data.clone())
            .await
            .unwrap_err();
        match err {
            ClientError::Api { status, problem } => {
                assert_eq!(status, 422);
                let text = serde_json::to_string(&problem).unwrap();
                assert!(
                    !text.contains("CANARY") && !text.contains("900-00"),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(count(), (0, 0), "nothing stored, not even a subject key");
    let after = tv.audit_entries().await;
    let invalid: Vec<_> = events(&after[audit_before..])
        .into_iter()
        .filter(|e| e.action == "record.create")
        .collect();
    assert_eq!(invalid.len(), bad.len());
    for e in invalid {
        assert_eq!(e.outcome, Outcome::Invalid);
        assert_eq!(e.reason.as_deref(), Some("validation_failed"));
    }
}

fn exec(tv: &TestVault, sql: &str) {
    let db = rusqlite::Connection::open(tv.db_path()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute_batch(sql).unwrap();
}

#[tokio::test]
async fn tampered_ciphertext_fails_closed() {
    let tv = with_patients().await;
    let c = tv.client();
    let mut synth = Synth::new(5);
    let a = c
        .create_record("patients", "subj-a", synth.patient())
        .await
        .unwrap();
    let b = c
        .create_record("patients", "subj-a", synth.patient())
        .await
        .unwrap();
    let x = c
        .create_record("patients", "subj-x", synth.patient())
        .await
        .unwrap();

    // One flipped bit in the middle of a stored ciphertext.
    {
        let db = rusqlite::Connection::open(tv.db_path()).unwrap();
        let id = a.id.to_string();
        let mut sealed: Vec<u8> = db
            .query_row(
                "SELECT sealed FROM record_versions WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        sealed[20] ^= 1;
        db.execute(
            "UPDATE record_versions SET sealed = ?1 WHERE id = ?2",
            rusqlite::params![sealed, id],
        )
        .unwrap();
    }
    let err = c.get_record("patients", a.id).await.unwrap_err();
    assert_eq!(status_code(err), (500, "integrity_failure".into()));

    // Ciphertexts swapped between two rows of one subject (same key, other AAD).
    exec(
        &tv,
        &format!(
            "UPDATE record_versions SET sealed = (SELECT sealed FROM record_versions WHERE id = '{b}') \
             WHERE id = '{x}';",
            b = b.id,
            x = x.id
        ),
    );
    let err = c.get_record("patients", x.id).await.unwrap_err();
    assert_eq!(status_code(err), (500, "integrity_failure".into()));
    // The untouched record still opens.
    c.get_record("patients", b.id).await.unwrap();

    // Swapping in a copy of the same record's own ciphertext under another version also fails.
    c.update_record("patients", b.id, 1, synth.patient())
        .await
        .unwrap();
    exec(
        &tv,
        &format!(
            "UPDATE record_versions SET sealed = (SELECT sealed FROM record_versions WHERE id = '{b}' AND version = 1) \
             WHERE id = '{b}' AND version = 2;",
            b = b.id
        ),
    );
    let err = c.get_record("patients", b.id).await.unwrap_err();
    assert_eq!(status_code(err), (500, "integrity_failure".into()));

    let failures: Vec<_> = events(&tv.audit_entries().await)
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("integrity_failure"))
        .collect();
    assert_eq!(failures.len(), 3, "each failed read is audited");
    assert!(failures.iter().all(|e| e.outcome == Outcome::Error));
}

#[tokio::test]
async fn an_edited_audit_row_is_named_by_verify() {
    let tv = with_patients().await;
    let c = tv.client();
    let mut synth = Synth::new(6);
    for i in 0..5 {
        c.create_record("patients", &format!("subj-{i}"), synth.patient())
            .await
            .unwrap();
    }
    let auditor = tv.client_with(Some(&tv.token(&["auditor"], Duration::days(1)).await));
    let ok = auditor.verify_audit().await.unwrap();
    assert!(ok.ok && ok.first_break.is_none());
    assert!(ok.entries >= 6);

    exec(
        &tv,
        "UPDATE audit_log SET event_json = replace(event_json, '\"outcome\":\"success\"', \
         '\"outcome\":\"denied\"') WHERE seq = 4",
    );
    let broken = auditor.verify_audit().await.unwrap();
    assert!(!broken.ok);
    assert_eq!(broken.first_break.unwrap().seq, 4);

    // Deleting an entry is named at the entry that follows the gap.
    exec(&tv, "DELETE FROM audit_log WHERE seq = 2");
    let report = phivault_core::vault::verify_chain(&*tv.store)
        .await
        .unwrap();
    assert_eq!(report.first_break.unwrap().0, 3);
}

#[tokio::test]
async fn reads_fail_closed_when_the_audit_log_cannot_be_written() {
    let tv = with_patients().await;
    let c = tv.client();
    let rec = c
        .create_record("patients", "subj-f", Synth::new(7).patient())
        .await
        .unwrap();
    exec(
        &tv,
        "CREATE TRIGGER audit_jam BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'jam'); END;",
    );
    let err = c.get_record("patients", rec.id).await.unwrap_err();
    assert_eq!(status_code(err), (503, "audit_unavailable".into()));
    let err = c
        .create_record("patients", "subj-g", Synth::new(8).patient())
        .await
        .unwrap_err();
    assert_eq!(status_code(err).0, 503);
    exec(&tv, "DROP TRIGGER audit_jam;");
    let db = rusqlite::Connection::open(tv.db_path()).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM record_heads WHERE subject = 'subj-g'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "a write whose audit event failed is not committed");
    c.get_record("patients", rec.id).await.unwrap();
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_keep_the_chain_whole() {
    let tv = with_patients().await;
    let before = tv.store.stats();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = tv.client();
        tasks.push(tokio::spawn(async move {
            let p = Synth::new(100 + i).patient();
            c.create_record("patients", &format!("subj-c{}", i % 8), p)
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = tv.store.stats();
    let writes = after.writes - before.writes;
    let commits = after.commits - before.commits;
    assert!(writes >= 64);
    assert!(commits <= writes, "{commits} commits for {writes} writes");
    let report = phivault_core::vault::verify_chain(&*tv.store)
        .await
        .unwrap();
    assert!(report.first_break.is_none());
    let creates = events(&tv.audit_entries().await)
        .into_iter()
        .filter(|e| e.action == "record.create" && e.outcome == Outcome::Success)
        .count();
    assert_eq!(creates, 64);
}

mod audit_log;
