//! The client against a real server: the testkit's vault over TLS on a loopback port with
//! a self-signed certificate, every client method once.

// clippy's allow-*-in-tests settings cover `#[test]` functions only, not the helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use phivault_client::api;
use phivault_client::{Client, ClientError};
use phivault_core::crypto::{TotpParams, TotpSecret, totp_code};
use phivault_core::{Clock, ManualClock, Principal, RequestMeta, Vault};
use phivault_testkit::TestVault;
use serde_json::json;

/// The testkit vault with the two tokens these tests use.
struct Server {
    tv: TestVault,
    base: String,
    /// A token with data access (the testkit's `test-app`: every subject, TREAT).
    token: String,
    /// An administrator's token (roles `admin` and `auditor`; no PHI).
    admin: String,
    vault: Arc<Vault>,
    clock: Arc<ManualClock>,
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

impl Server {
    async fn start() -> Server {
        let tv = TestVault::start_fast(phivault_server::DEFAULT_BODY_LIMIT).await;
        let admin = tv
            .token(&["admin", "auditor"], time::Duration::days(1))
            .await;
        Server {
            base: tv.base_url(),
            token: tv.app_token.clone(),
            admin,
            vault: tv.vault.clone(),
            clock: tv.clock.clone(),
            tv,
        }
    }

    fn client(&self, token: Option<&str>) -> Client {
        self.tv.client_with(token)
    }

    /// Stops the server (dropping the testkit vault ends its accept loop).
    async fn stop(self) {
        drop(self);
    }
}

fn api_error(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, problem } => {
            assert_eq!(problem.status, status);
            (status, problem.code)
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[tokio::test]
async fn every_endpoint_through_the_client() {
    let server = Server::start().await;
    let c = server.client(Some(&server.token)).with_purpose("TREAT");
    let admin = server.client(Some(&server.admin));

    assert_eq!(c.healthz().await.unwrap().status, "ok");
    assert_eq!(c.readyz().await.unwrap().status, "ok");
    assert_eq!(c.openapi().await.unwrap()["openapi"], "3.1.0");

    let schema: api::Collection = serde_json::from_value(json!({
        "name": "labs",
        "fields": [
            {"name": "mrn", "type": "string", "sensitivity": {"class": "phi", "identifier": "medical_record_number"}, "searchable": true, "required": true},
            {"name": "result", "type": "decimal", "sensitivity": {"class": "health"}}
        ]
    }))
    .unwrap();
    assert_eq!(admin.create_collection(&schema).await.unwrap(), schema);
    assert_eq!(c.get_collection("labs").await.unwrap(), schema);
    assert_eq!(
        c.list_collections().await.unwrap().items,
        vec![schema.clone()]
    );
    let (status, code) = api_error(admin.create_collection(&schema).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "collection_exists"));

    let r = c
        .create_record("labs", "subj-9", json!({"mrn": "MRN-0001", "result": 5.5}))
        .await
        .unwrap();
    assert_eq!(r.version, 1);
    assert_eq!(
        c.get_record("labs", r.id).await.unwrap().data["mrn"],
        "MRN-0001"
    );
    let (status, code) = api_error(
        c.create_record("labs", "subj-9", json!({"result": "high"}))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (422, "validation_failed"));

    let (status, _) = api_error(
        c.update_record("labs", r.id, 7, json!({"mrn": "MRN-0001"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 412);
    let r2 = c
        .update_record("labs", r.id, 1, json!({"mrn": "MRN-0001", "result": 6.0}))
        .await
        .unwrap();
    assert_eq!(r2.version, 2);
    assert_eq!(c.history("labs", r.id).await.unwrap().items.len(), 2);
    assert_eq!(
        c.get_record_version("labs", r.id, 1).await.unwrap().data["result"],
        5.5
    );
    let found = c.search("labs", "mrn", json!("MRN-0001")).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].id, r.id);

    c.create_record("labs", "subj-9", json!({"mrn": "MRN-0002"}))
        .await
        .unwrap();
    let page1 = c
        .list_subject_records("subj-9", None, Some(1))
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 1);
    let cursor = page1.next_cursor.expect("a second page");
    let page2 = c
        .list_subject_records("subj-9", Some(&cursor), Some(1))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert_ne!(page1.items[0].id, page2.items[0].id);
    let all = c.list_subject_records("subj-9", None, None).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(all.next_cursor.is_none());

    let del = c.delete_record("labs", r.id, Some(2)).await.unwrap();
    assert_eq!(del.version, 3);
    let (status, code) = api_error(c.get_record("labs", r.id).await.unwrap_err());
    assert_eq!((status, code.as_str()), (410, "record_deleted"));

    // without a purpose of use, record operations are refused
    let (status, code) = api_error(
        server
            .client(Some(&server.token))
            .get_record("labs", r2.id)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (400, "purpose_required"));

    let created = admin
        .create_token("test-app", "reader", &strings(&["records-all"]), 3600)
        .await
        .unwrap();
    assert!(!format!("{created:?}").contains(&created.secret));
    assert_eq!(created.token.roles, strings(&["records-all"]));
    let reader = server.client(Some(&created.secret));
    assert_eq!(reader.list_collections().await.unwrap().items.len(), 1);
    let (status, code) = api_error(reader.list_tokens().await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    // the testkit's two tokens, the administrator's and the reader
    assert_eq!(admin.list_tokens().await.unwrap().items.len(), 4);
    let rotated = admin.rotate_token(created.token.id).await.unwrap();
    assert_ne!(rotated.token.id, created.token.id);
    let (status, _) = api_error(reader.list_collections().await.unwrap_err());
    assert_eq!(status, 401, "the old secret stops working");
    let reader = server.client(Some(&rotated.secret));
    assert_eq!(reader.list_collections().await.unwrap().items.len(), 1);
    admin.revoke_token(rotated.token.id).await.unwrap();
    let (status, code) = api_error(reader.list_collections().await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));

    let report = admin.verify_audit().await.unwrap();
    assert!(report.ok && report.entries > 10 && report.first_break.is_none());

    let anonymous = server.client(None);
    let (status, _) = api_error(anonymous.list_collections().await.unwrap_err());
    assert_eq!(status, 401);
    let (status, code) = api_error(
        server
            .client(Some(&server.token))
            .with_purpose("NOT-A-CODE")
            .list_collections()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (400, "invalid_purpose_of_use"));

    server.stop().await;
}

#[tokio::test]
async fn identity_endpoints_through_the_client() {
    let server = Server::start().await;
    let password = "violet-harbour-lantern-93";
    let (_, enrollment) = server
        .vault
        .create_user(
            &meta(),
            &Principal::local_operator(),
            "alice.admin",
            password,
            &strings(&["admin"]),
            false,
        )
        .await
        .unwrap();
    let b32 = enrollment
        .otpauth_uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_owned();
    let now = u64::try_from(server.clock.now().unix_timestamp()).unwrap();
    let code = totp_code(
        &TotpSecret::from_base32(&b32).unwrap(),
        &TotpParams::default(),
        now,
    );

    let anonymous = server.client(None);
    let (status, code_name) = api_error(
        anonymous
            .login("alice.admin", "wrong-password-here-1", Some(&code))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code_name.as_str()), (401, "unauthenticated"));
    let session = anonymous
        .login("alice.admin", password, Some(&code))
        .await
        .unwrap();
    assert!(!format!("{session:?}").contains(&session.session_token));
    let alice = server
        .client(None)
        .with_token(&session.session_token)
        .unwrap();
    assert!(!format!("{alice:?}").contains(&session.session_token));

    // users
    let bob = alice
        .create_user(
            "bob.clin",
            "copper-meadow-signal-58",
            &strings(&["clinician"]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(bob.enrollment.recovery_codes.len(), 10);
    assert!(bob.user.mfa_enrolled);
    let users = alice.list_users().await.unwrap();
    assert!(users.items.iter().any(|u| u.username == "bob.clin"));
    let u = alice
        .set_user_roles("bob.clin", &strings(&["clinician", "breakglass"]), false)
        .await
        .unwrap();
    assert_eq!(u.roles, strings(&["clinician", "breakglass"]));
    alice
        .reset_password("bob.clin", "granite-willow-orbit-24")
        .await
        .unwrap();
    let bob_session = anonymous
        .login(
            "bob.clin",
            "granite-willow-orbit-24",
            Some(&bob.enrollment.recovery_codes[0]),
        )
        .await
        .unwrap();
    let bob_client = server
        .client(None)
        .with_token(&bob_session.session_token)
        .unwrap();
    assert_eq!(bob_client.list_collections().await.unwrap().items.len(), 0);
    assert_eq!(alice.revoke_sessions("bob.clin").await.unwrap(), 1);
    let (status, _) = api_error(bob_client.list_collections().await.unwrap_err());
    assert_eq!(status, 401);
    assert!(alice.disable_user("bob.clin").await.unwrap().disabled);
    assert!(!alice.enable_user("bob.clin").await.unwrap().disabled);

    // roles
    let role: api::Role = serde_json::from_value(json!({
        "name": "billing-lite",
        "grants": [{
            "collections": ["*"], "actions": ["read"], "masked": {"ssn": "last4"},
            "subjects": "all", "purposes": ["HPAYMT"]
        }]
    }))
    .unwrap();
    assert_eq!(alice.put_role(&role).await.unwrap(), role);
    let roles = alice.list_roles().await.unwrap();
    assert!(roles.items.contains(&role));

    // service accounts, care relationships, break-glass
    let admin = server.client(Some(&server.admin));
    let svc = admin
        .create_service_account("svc-clin", &strings(&["clinician", "breakglass"]), false)
        .await
        .unwrap();
    assert_eq!(svc.kind, "service");
    let t = admin
        .create_token(
            "svc-clin",
            "ward",
            &strings(&["clinician", "breakglass"]),
            3600,
        )
        .await
        .unwrap();
    let data = server.client(Some(&server.token)).with_purpose("TREAT");
    let schema: api::Collection = serde_json::from_value(json!({
        "name": "notes",
        "fields": [{"name": "text", "type": "text", "sensitivity": {"class": "health"}, "required": true}]
    }))
    .unwrap();
    admin.create_collection(&schema).await.unwrap();
    let a = data
        .create_record("notes", "subj-a", json!({"text": "synthetic"}))
        .await
        .unwrap();
    let b = data
        .create_record("notes", "subj-b", json!({"text": "synthetic"}))
        .await
        .unwrap();
    let ward = server.client(Some(&t.secret)).with_purpose("TREAT");
    // Out of reach answers like a missing record.
    let (status, _) = api_error(ward.get_record("notes", a.id).await.unwrap_err());
    assert_eq!(status, 404);
    let link = alice
        .assign_subject("svc-clin", "subj-a", None)
        .await
        .unwrap();
    assert_eq!(link.subject, "subj-a");
    assert_eq!(ward.get_record("notes", a.id).await.unwrap().id, a.id);
    alice.unassign_subject("svc-clin", "subj-a").await.unwrap();
    let (status, _) = api_error(ward.get_record("notes", a.id).await.unwrap_err());
    assert_eq!(status, 404);

    let episode = ward
        .open_break_glass(
            "subj-b",
            "Unresponsive patient in the emergency department",
            30,
        )
        .await
        .unwrap();
    let emergency = server.client(Some(&t.secret)).with_purpose("ETREAT");
    assert_eq!(emergency.get_record("notes", b.id).await.unwrap().id, b.id);
    let queue = admin.list_break_glass(true).await.unwrap();
    assert_eq!(queue.items.len(), 1);
    let reviewed = admin
        .review_break_glass(&episode.id, "Confirmed with the attending.")
        .await
        .unwrap();
    assert!(reviewed.reviewed_at.is_some());
    assert!(admin.list_break_glass(true).await.unwrap().items.is_empty());
    assert_eq!(admin.list_break_glass(false).await.unwrap().items.len(), 1);

    let gaps = alice.compliance_gaps().await.unwrap();
    assert!(gaps.items.iter().all(|g| g.code != "mfa_disabled"));

    alice.logout().await.unwrap();
    let (status, _) = api_error(alice.list_users().await.unwrap_err());
    assert_eq!(status, 401);
    let (status, code_name) = api_error(admin.logout().await.unwrap_err());
    assert_eq!((status, code_name.as_str()), (422, "not_a_session"));

    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let server = Server::start().await;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let c = Client::new(&server.base, None, other.cert.pem().as_bytes()).unwrap();
    assert!(matches!(c.healthz().await, Err(ClientError::Transport(_))));
    server.stop().await;
}

/// The auditor's calls on a testkit vault: a fresh signed head, an inclusion proof and a
/// consistency proof that lead to its root, a filtered page of typed events, and a CSV
/// export; a caller without `audit:read` is refused.
#[tokio::test]
async fn audit_endpoints_through_the_client() {
    let tv = TestVault::start_fast(1024 * 1024).await;
    let auditor = tv.client_with(Some(&tv.token(&["auditor"], time::Duration::days(1)).await));
    tv.admin_client().list_collections().await.unwrap();

    let th = auditor.tree_head(true).await.unwrap();
    let key: String = tv
        .vault
        .audit_public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(th.public_key, key);
    let n = th.head.tree_size;
    assert!(n >= 2, "{n}");
    assert_eq!(th.head.signature.len(), 128);

    let p = auditor.inclusion_proof(1, Some(n)).await.unwrap();
    assert_eq!((p.seq, p.leaf_index, p.tree_size), (1, 0, n));
    assert_eq!(p.root_hash, th.head.root_hash);
    assert!(p.event_json.contains("\"action\""));
    let c = auditor.consistency_proof(1, None).await.unwrap();
    assert_eq!((c.from, c.to), (1, n));
    assert_eq!(c.to_root, th.head.root_hash);
    assert_eq!(c.signed_head.as_ref(), Some(&th.head));

    let filter = api::AuditEventFilter {
        action: Some("collection.list".to_owned()),
        outcome: Some(api::AuditOutcome::Success),
        ..Default::default()
    };
    let page = auditor.audit_events(&filter, None, Some(10)).await.unwrap();
    assert_eq!(page.items.len(), 1, "{page:?}");
    let ev = &page.items[0].event;
    assert_eq!(ev.action, "collection.list");
    assert_eq!(ev.actor.kind, api::ActorKind::Token);
    assert_eq!(ev.outcome, api::AuditOutcome::Success);
    let none = api::AuditEventFilter {
        since: Some(time::macros::datetime!(2100-01-01 00:00:00 UTC)),
        ..filter.clone()
    };
    assert!(
        auditor
            .audit_events(&none, None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let csv = auditor
        .export_audit(&filter, phivault_client::AuditExportFormat::Csv)
        .await
        .unwrap();
    assert!(csv.starts_with("seq,time,request_id,actor_kind"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let verify = auditor.verify_audit().await.unwrap();
    assert!(verify.ok);

    let (status, code) = api_error(tv.client().tree_head(false).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
}

/// The right-of-access export arrives as the typed `SubjectExport` (every version of the
/// subject's records), and a refusal carries its typed code.
#[tokio::test]
async fn the_subject_export_is_typed_and_refusals_carry_a_typed_code() {
    let tv = TestVault::start_fast(1024 * 1024).await;
    let c: api::Collection =
        serde_json::from_value(phivault_testkit::synthetic::patient_schema("patients")).unwrap();
    tv.admin_client().create_collection(&c).await.unwrap();
    let id = tv
        .client()
        .create_record(
            "patients",
            "pat-7",
            json!({"full_name": "Ada Lovelace", "ssn": "900-11-2222", "diagnosis": "asthma"}),
        )
        .await
        .unwrap()
        .id;
    let officer = tv.client_with(Some(
        &tv.token(&["privacy_officer"], time::Duration::days(1))
            .await,
    ));

    let export = officer.export_subject("pat-7", None).await.unwrap();
    assert_eq!(export.format, api::SUBJECT_EXPORT_FORMAT);
    assert_eq!(export.subject, "pat-7");
    assert_eq!(export.records.len(), 1);
    let rec = &export.records[0];
    assert_eq!(
        (rec.collection.as_str(), rec.id.as_str()),
        ("patients", id.to_string().as_str())
    );
    assert_eq!(rec.versions.len(), 1);
    assert_eq!(rec.versions[0].data["diagnosis"], "asthma");

    // A records token without the privacy scope is refused, and the code is typed.
    let err = tv.client().export_subject("pat-7", None).await.unwrap_err();
    assert_eq!(err.code(), Some(api::ErrorCode::Forbidden), "{err:?}");
}
