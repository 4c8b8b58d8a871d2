//! Individuals' rights end to end through the API, with due dates on the manual clock:
//! access requests and the right-of-access export (45 CFR 164.524), amendments (164.526),
//! the accounting of disclosures (164.528), restrictions (164.522), retention with legal
//! holds, and erasure by crypto-shredding.

use crate::common;
use phivault_api::{
    AmendmentRequestBody, Collection, DisclosureBody, PurposeOfUse, RestrictionBody,
};
use phivault_client::{Client, ClientError};
use phivault_core::audit::Outcome;
use phivault_core::store::read_tx;
use phivault_core::{Clock as _, DataAction, Grant, Principal, RequestMeta, Role, SubjectScope};
use phivault_testkit::TestVault;
use phivault_testkit::server::RECORDS_ALL;
use phivault_testkit::synthetic::patient_schema;
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;

fn status<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api { status, problem }) => (status, problem.code.clone()),
        other => panic!("expected a problem, got {other:?}"),
    }
}

async fn setup() -> (TestVault, Client) {
    let tv = TestVault::start().await;
    for name in ["patients", "labs"] {
        let c: Collection = serde_json::from_value(patient_schema(name)).unwrap();
        tv.admin_client().create_collection(&c).await.unwrap();
    }
    let officer = tv.client_with(Some(
        &tv.token(&["privacy_officer"], Duration::days(90)).await,
    ));
    (tv, officer)
}

async fn record(tv: &TestVault, collection: &str, subject: &str, name: &str) -> Uuid {
    tv.client()
        .create_record(
            collection,
            subject,
            json!({"full_name": name, "ssn": "900-11-2222", "diagnosis": "asthma"}),
        )
        .await
        .unwrap()
        .id
}

/// A role reading every record for one purpose, and a client holding it.
async fn reader_for(tv: &TestVault, role: &str, purpose: phivault_core::PurposeOfUse) -> Client {
    let r = Role {
        name: role.to_owned(),
        description: String::new(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: [DataAction::Read, DataAction::History]
                .into_iter()
                .collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: [purpose].into_iter().collect(),
        }],
    };
    tv.vault
        .put_role(&RequestMeta::default(), &Principal::local_operator(), r)
        .await
        .unwrap();
    tv.client_with(Some(&tv.token(&[role], Duration::days(1)).await))
        .with_purpose(purpose.as_str())
}

#[tokio::test]
async fn access_requests_are_due_in_thirty_days_extend_once_and_list_as_overdue() {
    let (tv, officer) = setup().await;
    let now = tv.clock.now();
    let req = officer
        .open_access_request("pat-1", Some(now - Duration::days(10)))
        .await
        .unwrap();
    assert_eq!(req.status, "open");
    assert_eq!(req.due_at, Some(now + Duration::days(20)));
    let overdue = officer
        .list_privacy_items("access_request", None, true)
        .await
        .unwrap();
    assert!(overdue.items.is_empty());

    // Only privacy staff may see or change requests; every refusal is audited.
    for client in [tv.client(), tv.admin_client()] {
        assert_eq!(
            status(client.open_access_request("pat-1", None).await).0,
            403
        );
    }
    let denied = tv
        .audit_entries()
        .await
        .iter()
        .filter_map(|e| e.event().ok())
        .filter(|e| e.action == "privacy.access_request.open" && e.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 2);

    // Bad input is refused and changes nothing.
    let future = officer
        .open_access_request("pat-1", Some(now + Duration::days(1)))
        .await;
    assert_eq!(status(future), (422, "received_in_future".to_owned()));
    assert_eq!(status(officer.extend_request(&req.id, "  ").await).0, 400);
    assert_eq!(status(officer.privacy_item("not-a-uuid").await).0, 400);

    // One extension, with its reason, before the due date.
    let ext = officer
        .extend_request(&req.id, "Records are held at an off-site archive.")
        .await
        .unwrap();
    assert_eq!(ext.due_at, Some(now + Duration::days(50)));
    assert_eq!(
        ext.detail.unwrap()["extension_reason"],
        "Records are held at an off-site archive."
    );
    assert_eq!(
        status(officer.extend_request(&req.id, "again").await),
        (409, "already_extended".to_owned())
    );

    // Time passes: a second request, never extended, becomes overdue after 30 days.
    let second = officer.open_access_request("pat-2", None).await.unwrap();
    tv.clock.advance(Duration::days(31));
    let overdue = officer
        .list_privacy_items("access_request", None, true)
        .await
        .unwrap();
    let ids: Vec<&str> = overdue.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec![second.id.as_str()]);
    assert_eq!(
        status(officer.extend_request(&second.id, "too late now").await),
        (409, "request_overdue".to_owned())
    );
    // Answering it by export takes it off the overdue list.
    officer
        .export_subject("pat-2", Some(&second.id))
        .await
        .unwrap();
    let item = officer.privacy_item(&second.id).await.unwrap();
    assert_eq!(item.status, "completed");
    assert!(!item.overdue);
    tv.clock.advance(Duration::days(20));
    let overdue = officer
        .list_privacy_items("access_request", None, true)
        .await
        .unwrap();
    assert_eq!(overdue.items.len(), 1);
    assert_eq!(overdue.items[0].id, req.id);
    officer.complete_access_request(&req.id).await.unwrap();
    assert!(
        officer
            .list_privacy_items("access_request", None, true)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn amendments_become_versions_or_denials_with_statements_that_exports_carry() {
    let (tv, officer) = setup().await;
    let id = record(&tv, "patients", "pat-1", "Ada <Lovelace>").await;
    tv.client()
        .update_record(
            "patients",
            id,
            1,
            json!({"full_name": "Ada <Lovelace>", "diagnosis": "asthma, mild"}),
        )
        .await
        .unwrap();
    let other = record(&tv, "patients", "pat-2", "Grace Hopper").await;

    let body = |changes: Value, rid: Uuid| AmendmentRequestBody {
        collection: "patients".to_owned(),
        record_id: rid.to_string(),
        changes: changes.as_object().unwrap().clone(),
        reason: Some("The diagnosis is wrong.".to_owned()),
        received_at: None,
    };
    // A field the schema does not have, or a record of another subject, is refused.
    let bad = officer
        .open_amendment("pat-1", &body(json!({"no_such_field": 1}), id))
        .await;
    assert_eq!(status(bad), (422, "invalid_amendment_fields".to_owned()));
    let wrong = officer
        .open_amendment("pat-1", &body(json!({"diagnosis": "x"}), other))
        .await;
    assert_eq!(status(wrong).0, 404);
    assert!(
        officer
            .list_privacy_items("amendment", None, false)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let now = tv.clock.now();
    let denied = officer
        .open_amendment("pat-1", &body(json!({"diagnosis": "no asthma"}), id))
        .await
        .unwrap();
    assert_eq!(denied.due_at, Some(now + Duration::days(60)));
    let denied = officer
        .deny_amendment(&denied.id, "The record is accurate and complete.", None)
        .await
        .unwrap();
    assert_eq!(denied.status, "denied");
    let denied = officer
        .file_disagreement(
            &denied.id,
            "I have never had asthma.",
            Some("Spirometry on file."),
        )
        .await
        .unwrap();
    let d = denied.detail.clone().unwrap();
    assert_eq!(d["disagreement"], "I have never had asthma.");
    assert_eq!(d["rebuttal"], "Spirometry on file.");

    let accepted = officer
        .open_amendment("pat-1", &body(json!({"diagnosis": "asthma, resolved"}), id))
        .await
        .unwrap();
    let accepted = officer.accept_amendment(&accepted.id).await.unwrap();
    assert_eq!(accepted.status, "accepted");
    assert_eq!(accepted.meta["applied_version"], 3);
    let rec = tv.client().get_record("patients", id).await.unwrap();
    assert_eq!(rec.version, 3);
    assert_eq!(rec.data["diagnosis"], "asthma, resolved");
    assert_eq!(rec.data["full_name"], "Ada <Lovelace>");
    // An answered request cannot be answered again.
    assert_eq!(status(officer.accept_amendment(&accepted.id).await).0, 409);

    // The export holds every version and the amendment statements.
    let export = officer.export_subject("pat-1", None).await.unwrap();
    assert_eq!(export.format, phivault_api::SUBJECT_EXPORT_FORMAT);
    assert_eq!(export.subject, "pat-1");
    assert_eq!(export.records.len(), 1);
    let diagnoses: Vec<&str> = export.records[0]
        .versions
        .iter()
        .map(|v| v.data["diagnosis"].as_str().unwrap())
        .collect();
    assert_eq!(diagnoses, ["asthma", "asthma, mild", "asthma, resolved"]);
    assert!(export.privacy.iter().any(|i| {
        i.detail
            .as_ref()
            .and_then(|d| d.get("disagreement"))
            .is_some_and(|v| v == "I have never had asthma.")
    }));
    assert!(
        !serde_json::to_string(&export)
            .unwrap()
            .contains("Grace Hopper")
    );

    let html = officer.export_subject_html("pat-1").await.unwrap();
    assert!(html.contains("Ada &lt;Lovelace&gt;"));
    assert!(!html.contains("<Lovelace>"));
    assert!(html.contains("I have never had asthma."));
    assert!(html.contains("asthma, resolved"));

    // Each export is audited as a disclosure to the individual, without values.
    let exports: Vec<_> = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action == "subject.export")
        .collect();
    assert_eq!(exports.len(), 2);
    assert!(
        exports
            .iter()
            .all(|e| e.purpose.as_deref() == Some("PATRQT"))
    );
    let raw = serde_json::to_string(&exports).unwrap();
    assert!(!raw.contains("Lovelace") && !raw.contains("asthma"));
}

#[tokio::test]
async fn the_accounting_lists_exactly_the_disclosures_made_and_none_of_the_excluded() {
    let (tv, officer) = setup().await;
    let id = record(&tv, "patients", "pat-1", "Ada Lovelace").await;
    let other = record(&tv, "patients", "pat-2", "Grace Hopper").await;
    let public_health = reader_for(&tv, "ph-reporter", phivault_core::PurposeOfUse::Pubhlth).await;
    let court = reader_for(&tv, "court-liaison", phivault_core::PurposeOfUse::Hlegal).await;
    let payer = reader_for(&tv, "payer", phivault_core::PurposeOfUse::Hpaymt).await;

    // Excluded: treatment, payment, the individual's own export.
    tv.client().get_record("patients", id).await.unwrap();
    tv.client().get_record("patients", id).await.unwrap();
    payer.get_record("patients", id).await.unwrap();
    officer.export_subject("pat-1", None).await.unwrap();
    // Accountable: public health and legal, and one recorded by hand.
    tv.clock.advance(Duration::hours(1));
    public_health.get_record("patients", id).await.unwrap();
    tv.clock.advance(Duration::hours(1));
    court.history("patients", id).await.unwrap();
    // Not this subject's.
    public_health.get_record("patients", other).await.unwrap();
    let manual = DisclosureBody {
        disclosed_at: tv.clock.now() - Duration::days(3),
        recipient: "County Health Department, 1 Main St".to_owned(),
        purpose: PurposeOfUse::Pubhlth,
        collections: vec!["patients".to_owned()],
        fields: vec!["full_name".to_owned(), "diagnosis".to_owned()],
        description: "Notifiable disease report.".to_owned(),
    };
    let manual = officer.record_disclosure("pat-1", &manual).await.unwrap();
    // A disclosure for treatment needs no accounting and is refused.
    let tpo = DisclosureBody {
        disclosed_at: tv.clock.now(),
        recipient: "Dr. Who".to_owned(),
        purpose: PurposeOfUse::Treat,
        collections: vec![],
        fields: vec![],
        description: "Referral.".to_owned(),
    };
    assert_eq!(
        status(officer.record_disclosure("pat-1", &tpo).await),
        (422, "purpose_not_accountable".to_owned())
    );

    let acc = officer.accounting("pat-1", None).await.unwrap();
    let got: Vec<(&str, &str)> = acc
        .disclosures
        .iter()
        .map(|d| (d.source.as_str(), d.purpose.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("manual", "PUBHLTH"),
            ("audit", "PUBHLTH"),
            ("audit", "HLEGAL")
        ]
    );
    assert_eq!(acc.disclosures[0].reference, manual.id);
    assert_eq!(
        acc.disclosures[0].recipient,
        "County Health Department, 1 Main St"
    );
    assert_eq!(acc.disclosures[1].collections, ["patients"]);
    assert!(acc.disclosures[1].fields.contains(&"diagnosis".to_owned()));
    let excluded: Vec<(&str, u64, &str)> = acc
        .exclusions
        .iter()
        .map(|e| (e.purpose.as_str(), e.events, e.paragraph.as_str()))
        .collect();
    assert_eq!(
        excluded,
        [
            ("HPAYMT", 1, "164.528(a)(1)(i)"),
            ("PATRQT", 1, "164.528(a)(1)(ii)"),
            ("TREAT", 2, "164.528(a)(1)(i)"),
        ]
    );
    // The look-back can be narrowed.
    let recent = officer
        .accounting("pat-1", Some(tv.clock.now() - Duration::minutes(90)))
        .await
        .unwrap();
    assert_eq!(recent.disclosures.len(), 2);
    // Another subject's accounting holds only its own.
    let acc2 = officer.accounting("pat-2", None).await.unwrap();
    assert_eq!(acc2.disclosures.len(), 1);
    assert_eq!(acc2.disclosures[0].purpose, "PUBHLTH");
}

#[tokio::test]
async fn a_restriction_denies_what_it_should_and_nothing_else() {
    let (tv, officer) = setup().await;
    let a = record(&tv, "patients", "pat-a", "Ada Lovelace").await;
    let a_lab = record(&tv, "labs", "pat-a", "Ada Lovelace").await;
    let b = record(&tv, "patients", "pat-b", "Grace Hopper").await;
    let billing = tv
        .client_with(Some(&tv.token(&["billing"], Duration::days(1)).await))
        .with_purpose("HPAYMT");

    let bad = RestrictionBody {
        collections: vec![],
        purposes: vec![PurposeOfUse::Hpaymt],
        reason: None,
    };
    assert_eq!(status(officer.add_restriction("pat-a", &bad).await).0, 400);
    let r = officer
        .add_restriction(
            "pat-a",
            &RestrictionBody {
                collections: vec!["patients".to_owned()],
                purposes: vec![PurposeOfUse::Hpaymt, PurposeOfUse::Hoperat],
                reason: Some("Paid out of pocket in full.".to_owned()),
            },
        )
        .await
        .unwrap();

    // Denied: payment use of the restricted collection for this subject. The record is out
    // of reach for this use, so it answers like a missing one (the audit keeps the rule).
    assert_eq!(status(billing.get_record("patients", a).await).0, 404);
    let ops = billing.clone().with_purpose("HOPERAT");
    assert_eq!(status(ops.get_record("patients", a).await).0, 404);
    // Not denied: another subject, another collection, treatment.
    billing.get_record("patients", b).await.unwrap();
    billing.get_record("labs", a_lab).await.unwrap();
    tv.client().get_record("patients", a).await.unwrap();
    // Search by payment staff leaves the restricted subject out.
    let found = billing
        .search("patients", "ssn", json!("900-11-2222"))
        .await
        .unwrap();
    let subjects: Vec<&str> = found.items.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects, ["pat-b"]);

    // Each denial is audited with the restriction that decided.
    let rule = format!("deny:restriction:{}", r.id);
    let denials = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.outcome == Outcome::Denied && e.reason.as_deref() == Some(rule.as_str()))
        .count();
    assert_eq!(denials, 2);

    // Ended, it no longer denies.
    officer.end_privacy_item(&r.id).await.unwrap();
    billing.get_record("patients", a).await.unwrap();
}

#[tokio::test]
async fn erasure_leaves_ciphertext_that_no_read_path_can_open_and_destroys_the_key() {
    let (tv, officer) = setup().await;
    let id = record(&tv, "patients", "pat-x", "Erin Erased").await;
    let lab = record(&tv, "labs", "pat-x", "Erin Erased").await;
    tv.client()
        .update_record(
            "patients",
            id,
            1,
            json!({"full_name": "Erin Erased", "ssn": "900-33-4444"}),
        )
        .await
        .unwrap();
    let kept = record(&tv, "patients", "pat-y", "Yusuf Kept").await;
    let req = officer.open_access_request("pat-x", None).await.unwrap();
    let wrapped = read_tx(&*tv.store, |tx| Ok(tx.get_subject_key("pat-x")?))
        .await
        .unwrap()
        .unwrap()
        .wrapped_key;

    // An API token cannot erase (a recent login is needed), and a legal hold stops it.
    assert_eq!(status(officer.erase_subject("pat-x").await).0, 403);
    let (_, session) = tv.logged_in("pia.privacy", &["privacy_officer"]).await;
    let person = tv.client_with(Some(&session));
    let hold = person
        .place_legal_hold("pat-x", "Litigation pending.")
        .await
        .unwrap();
    assert_eq!(
        status(person.erase_subject("pat-x").await),
        (409, "legal_hold".to_owned())
    );
    tv.client().get_record("patients", id).await.unwrap();
    person.end_privacy_item(&hold.id).await.unwrap();

    let report = person.erase_subject("pat-x").await.unwrap();
    assert_eq!(report.records, 2);

    // Every read path answers "erased".
    let erased = (410, "subject_erased".to_owned());
    let c = tv.client();
    assert_eq!(status(c.get_record("patients", id).await), erased);
    assert_eq!(status(c.get_record("labs", lab).await), erased);
    assert_eq!(
        status(c.get_record_version("patients", id, 1).await),
        erased
    );
    assert_eq!(status(c.history("patients", id).await), erased);
    assert_eq!(
        status(c.list_subject_records("pat-x", None, None).await),
        erased
    );
    assert_eq!(status(officer.export_subject("pat-x", None).await), erased);
    assert_eq!(status(officer.accounting("pat-x", None).await), erased);
    assert_eq!(status(person.erase_subject("pat-x").await), erased);
    // The identifier stays retired: no new key, no new records.
    let new = c
        .create_record("patients", "pat-x", json!({"full_name": "Erin Erased"}))
        .await;
    assert_eq!(status(new), erased);
    // Search no longer finds the subject, whose blind-index entries are gone.
    let found = c
        .search("patients", "ssn", json!("900-33-4444"))
        .await
        .unwrap();
    assert!(found.items.is_empty());
    // Privacy items keep their dates and states, but their sealed details are gone.
    let item = officer.privacy_item(&req.id).await.unwrap();
    assert!(item.detail.is_none());
    // Others are untouched.
    c.get_record("patients", kept).await.unwrap();

    // The ciphertext stays in place; the key is gone from the database, its log and the
    // shred ledger keeps it from coming back.
    let (versions, key, shredded) = read_tx(&*tv.store, move |tx| {
        let rid = phivault_core::RecordId(id);
        Ok((
            tx.list_record_versions("patients", &rid)?,
            tx.get_subject_key("pat-x")?,
            tx.is_shredded("pat-x")?,
        ))
    })
    .await
    .unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions.iter().all(|v| !v.sealed.is_empty()));
    assert!(key.is_none());
    assert!(shredded);
    tv.store.checkpoint().await.unwrap();
    for path in [tv.db_path(), tv.db_path().with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes
                    .windows(wrapped.len())
                    .any(|w| w == wrapped.as_slice()),
                "wrapped key still in {}",
                path.display()
            );
        }
    }
    // The key list that key rotation walks (the keyring holds key-encryption keys only)
    // has the other subject and not this one: nothing is left to re-wrap or unwrap.
    let keys: Vec<String> = read_tx(&*tv.store, |tx| Ok(tx.list_subject_keys(None, 100)?))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.subject)
        .collect();
    assert!(keys.contains(&"pat-y".to_owned()) && !keys.contains(&"pat-x".to_owned()));
    // The erasure is audited, with the subject id and count only.
    let ev = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .find(|e| e.action == "subject.erase" && e.outcome == Outcome::Success)
        .unwrap();
    assert_eq!(ev.subject.as_deref(), Some("pat-x"));
    assert_eq!(ev.count, Some(2));
}

#[tokio::test]
async fn retention_disposes_of_expired_records_except_under_a_legal_hold() {
    let (tv, officer) = setup().await;
    assert_eq!(
        status(officer.set_retention("patients", Some(0)).await).0,
        400
    );
    assert_eq!(status(officer.set_retention("nope", Some(30)).await).0, 404);
    officer.set_retention("patients", Some(30)).await.unwrap();
    let policies = officer.retention_policies().await.unwrap();
    assert_eq!(policies.policies.len(), 1);
    assert_eq!(policies.policies[0].days, 30);

    let held = record(&tv, "patients", "pat-h", "Hal Held").await;
    let old = record(&tv, "patients", "pat-o", "Olga Old").await;
    let fresh = record(&tv, "patients", "pat-o", "Olga Old").await;
    let lab = record(&tv, "labs", "pat-o", "Olga Old").await; // no retention period
    tv.clock.advance(Duration::days(20));
    tv.client()
        .update_record(
            "patients",
            fresh,
            1,
            json!({"full_name": "Olga Old", "age": 70}),
        )
        .await
        .unwrap();
    let hold = officer
        .place_legal_hold("pat-h", "Subpoena 2026-17.")
        .await
        .unwrap();
    tv.clock.advance(Duration::days(11));

    let run = officer.run_retention().await.unwrap();
    assert_eq!((run.policies, run.disposed, run.held), (1, 1, 1));
    // The test-app token lives 30 days; this one outlives the test's clock.
    let c = tv
        .client_with(Some(&tv.token(&[RECORDS_ALL], Duration::days(90)).await))
        .with_purpose("TREAT");
    assert_eq!(status(c.get_record("patients", old).await).0, 404);
    c.get_record("patients", held).await.unwrap();
    c.get_record("patients", fresh).await.unwrap();
    c.get_record("labs", lab).await.unwrap();
    let disposed: Vec<_> = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action == "record.dispose")
        .collect();
    assert_eq!(disposed.len(), 1);
    assert_eq!(
        disposed[0].record_id.as_deref(),
        Some(old.to_string().as_str())
    );
    assert_eq!(disposed[0].reason.as_deref(), Some("retention:30d"));
    // Disposal removes the versions for good, not just the head.
    let left = read_tx(&*tv.store, move |tx| {
        Ok(tx.list_record_versions("patients", &phivault_core::RecordId(old))?)
    })
    .await
    .unwrap();
    assert!(left.is_empty());

    officer.end_privacy_item(&hold.id).await.unwrap();
    tv.clock.advance(Duration::days(20));
    let run = officer.run_retention().await.unwrap();
    assert_eq!((run.disposed, run.held), (2, 0));
    assert_eq!(status(c.get_record("patients", held).await).0, 404);
    c.get_record("labs", lab).await.unwrap();
}

#[tokio::test]
async fn the_command_line_exports_accounts_and_erases_a_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let o = common::run(&dir, &["init", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    {
        let vault = common::open_dir(&dir);
        let meta = RequestMeta::default();
        let schema: phivault_core::CollectionSchema =
            serde_json::from_value(patient_schema("patients")).unwrap();
        vault
            .create_collection(&meta, &Principal::local_operator(), schema)
            .await
            .unwrap();
        let mut writer = Principal::local_operator();
        writer.roles = vec![phivault_testkit::server::records_all_role()];
        writer.purpose = Some(phivault_core::PurposeOfUse::Treat);
        vault
            .create_record(
                &meta,
                &writer,
                &phivault_core::CollectionName::parse("patients").unwrap(),
                &phivault_core::SubjectId::parse("cli-s").unwrap(),
                json!({"full_name": "Cleo <Cli>", "diagnosis": "gout"}),
            )
            .await
            .unwrap();
    }

    let out = tmp.path().join("export.html");
    let o = common::run(
        &dir,
        &[
            "subject",
            "export",
            "cli-s",
            "--format",
            "html",
            "--to",
            out.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("exported 1 records"), "{stderr}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("Cleo &lt;Cli&gt;") && html.contains("gout"));

    let o = common::run(&dir, &["--json", "subject", "accounting", "cli-s"]);
    assert!(o.status.success());
    let acc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(acc["disclosures"], json!([]));
    assert_eq!(acc["exclusions"][0]["purpose"], "PATRQT");
    assert_eq!(acc["exclusions"][0]["events"], 1);

    let o = common::run(&dir, &["subject", "erase", "cli-s", "--confirm", "cli-x"]);
    assert!(!o.status.success());
    let o = common::run(&dir, &["subject", "erase", "cli-s", "--confirm", "cli-s"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = common::run(&dir, &["subject", "export", "cli-s"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("subject_erased"));
    assert!(o.stdout.is_empty());
}

#[tokio::test]
async fn a_tampered_or_swapped_privacy_item_fails_closed() {
    let (tv, officer) = setup().await;
    let a = officer
        .place_legal_hold("pat-1", "Litigation hold A.")
        .await
        .unwrap();
    let b = officer
        .place_legal_hold("pat-1", "Litigation hold B.")
        .await
        .unwrap();
    let (ia, ib) = (a.id.clone(), b.id.clone());
    phivault_core::store::write_tx(&*tv.store, move |tx| {
        let mut ra = tx.get_privacy_item(&ia)?.unwrap();
        let mut rb = tx.get_privacy_item(&ib)?.unwrap();
        // Sealed details are bound to their item: swapping them is detected.
        std::mem::swap(&mut ra.sealed, &mut rb.sealed);
        tx.put_privacy_item(&ra)?;
        tx.put_privacy_item(&rb)?;
        Ok(())
    })
    .await
    .unwrap();
    for id in [&a.id, &b.id] {
        assert_eq!(
            status(officer.privacy_item(id).await),
            (500, "integrity_failure".to_owned())
        );
    }
    // A flipped bit is detected too, and the reason never reaches the error.
    let c = officer
        .place_legal_hold("pat-2", "Litigation hold C.")
        .await
        .unwrap();
    let ic = c.id.clone();
    phivault_core::store::write_tx(&*tv.store, move |tx| {
        let mut rc = tx.get_privacy_item(&ic)?.unwrap();
        let last = rc.sealed.len() - 1;
        rc.sealed[last] ^= 1;
        tx.put_privacy_item(&rc)?;
        Ok(())
    })
    .await
    .unwrap();
    match officer.privacy_item(&c.id).await {
        Err(ClientError::Api { status, problem }) => {
            assert_eq!(status, 500);
            assert!(
                !serde_json::to_string(&problem)
                    .unwrap()
                    .contains("Litigation")
            );
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

/// Regression: a retention period too long to subtract from now (`u32::MAX` days, once
/// accepted) made the retention run panic, which killed the request and the hourly
/// scheduler. Periods past the declared maximum are now refused; the longest accepted one
/// expires nothing and the other collections' retention keeps working.
#[tokio::test]
async fn a_retention_period_beyond_the_maximum_is_refused_and_the_longest_expires_nothing() {
    let (tv, officer) = setup().await;
    for days in [
        phivault_core::privacy::MAX_RETENTION_DAYS + 1,
        2_147_483_648,
        u32::MAX,
    ] {
        assert_eq!(
            status(officer.set_retention("patients", Some(days)).await).0,
            400,
            "{days}"
        );
    }
    officer
        .set_retention("patients", Some(phivault_core::privacy::MAX_RETENTION_DAYS))
        .await
        .unwrap();
    officer.set_retention("labs", Some(30)).await.unwrap();
    let kept = record(&tv, "patients", "pat-k", "Kim Kept").await;
    let lab = record(&tv, "labs", "pat-k", "Kim Kept").await;
    tv.clock.advance(Duration::days(31));
    let run = officer.run_retention().await.unwrap();
    assert_eq!(run.disposed, 1, "{run:?}");
    // The test-app token lives 30 days; this one outlives the test's clock.
    let c = tv
        .client_with(Some(&tv.token(&[RECORDS_ALL], Duration::days(90)).await))
        .with_purpose("TREAT");
    c.get_record("patients", kept).await.unwrap();
    assert_eq!(status(c.get_record("labs", lab).await).0, 404);
}
