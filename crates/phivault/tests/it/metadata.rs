//! No PHI in metadata, end to end: identifier-like collection, field, service-account,
//! token and role names are refused through the API (422 problem that names the item kind
//! and the identifier shape, never the value) and through the CLI (a clean failure), nothing
//! is stored, and each refusal is audited without the value.

use std::process::Output;

use phivault_client::ClientError;
use phivault_core::audit::{AuditEvent, Outcome};
use phivault_core::metadata::{IdentifierLike, MetadataKind};
use phivault_core::{
    CollectionName, CollectionSchema, FieldDef, FieldName, FieldType, Grant, Principal,
    PurposeOfUse, RequestMeta, Role, Sensitivity, SubjectScope, VaultError,
};
use phivault_testkit::TestVault;
use phivault_testkit::server::RECORDS_ALL;
use phivault_testkit::synthetic::patient_schema;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{https_client, run};

const CODE: &str = "identifier_in_metadata";

/// POSTs `body` as the administrator; returns status, content type and body text.
async fn post(tv: &TestVault, path: &str, body: &Value) -> (u16, String, String) {
    let res = https_client(&tv.ca_pem)
        .post(format!("{}{path}", tv.base_url()))
        .bearer_auth(&tv.admin_token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

async fn last_event(tv: &TestVault) -> (AuditEvent, String) {
    let entries = tv.audit_entries().await;
    let last = entries.last().unwrap();
    (last.event().unwrap(), last.event_json.clone())
}

/// The distinctive parts of a refused value that must appear nowhere.
fn pieces(value: &str) -> Vec<&str> {
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| p.len() >= 4)
        .collect()
}

#[track_caller]
fn assert_absent(what: &str, haystack: &str, value: &str) {
    for p in pieces(value) {
        assert!(
            !haystack.contains(p),
            "{p:?} of {value:?} in {what}: {haystack}"
        );
    }
}

#[tokio::test]
async fn identifier_like_collection_and_field_names_are_refused_unstored_and_audited() {
    let tv = TestVault::start().await;
    // (collection name, field name, the kind refused, the shape named)
    let cases = [
        (
            "pt_123_45_6789",
            "notes",
            "a collection name",
            "Social Security number",
        ),
        (
            "call_555_123_4567",
            "notes",
            "a collection name",
            "telephone number",
        ),
        (
            "jane.doe@example.com",
            "notes",
            "a collection name",
            "e-mail address",
        ),
        (
            "visits",
            "ssn_123_45_6789",
            "a field name",
            "Social Security number",
        ),
        (
            "visits",
            "(555) 123-4567",
            "a field name",
            "telephone number",
        ),
        (
            "visits",
            "jane.doe@example.com",
            "a field name",
            "e-mail address",
        ),
        ("visits", "mrn_20240312", "a field name", "long number"),
    ];
    for (collection, field, kind, shape) in cases {
        let value = if collection == "visits" {
            field
        } else {
            collection
        };
        let mut body = patient_schema(collection);
        body["fields"][0]["name"] = json!(field);
        let before = tv.audit_entries().await.len();
        let (status, ct, text) = post(&tv, "/v1/collections", &body).await;
        assert_eq!(status, 422, "{value}: {text}");
        assert_eq!(ct, "application/problem+json");
        assert_absent("the problem body", &text, value);
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["code"], CODE);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.starts_with(kind), "{detail}");
        assert!(detail.contains(shape), "{detail}");

        // Audited once, as an invalid collection.create, without the value.
        let entries = tv.audit_entries().await;
        assert_eq!(entries.len(), before + 1, "{value}");
        let (ev, json) = last_event(&tv).await;
        assert_eq!(ev.action, "collection.create");
        assert_eq!(ev.outcome, Outcome::Invalid);
        assert_eq!(ev.reason.as_deref(), Some(CODE));
        assert_absent("the audit event", &json, value);
        // Nothing stored (after the audit check: listing is audited too).
        let list = tv.admin_client().list_collections().await.unwrap();
        assert!(list.items.is_empty(), "{value}: {:?}", list.items);
    }
    // An ordinary schema still goes through.
    let (status, _, text) = post(&tv, "/v1/collections", &patient_schema("patients")).await;
    assert_eq!(status, 201, "{text}");
}

#[tokio::test]
async fn the_vault_refuses_identifier_like_schemas_without_auditing_the_names() {
    let tv = TestVault::start().await;
    let schema = CollectionSchema {
        name: CollectionName::parse("labs").unwrap(),
        fields: vec![FieldDef {
            name: FieldName::parse("dob_1984_03_12").unwrap(),
            field_type: FieldType::String,
            sensitivity: Sensitivity::Health,
            searchable: false,
            required: false,
        }],
    };
    let err = tv
        .vault
        .create_collection(
            &RequestMeta::default(),
            &Principal::local_operator(),
            schema,
        )
        .await
        .unwrap_err();
    let VaultError::Metadata(m) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (m.kind, m.found),
        (MetadataKind::FieldName, IdentifierLike::Date)
    );
    let (ev, json) = last_event(&tv).await;
    assert_eq!(ev.reason.as_deref(), Some(CODE));
    assert_eq!(ev.collection, None);
    assert!(ev.fields.is_empty());
    assert_absent("the audit event", &json, "dob_1984_03_12");
}

#[tokio::test]
async fn identifier_like_service_account_and_token_names_are_refused() {
    let tv = TestVault::start().await;
    let admin = tv.admin_client();
    let users_before = admin.list_users().await.unwrap().items.len();
    let err = admin
        .create_service_account("jane.doe@example.com", &["auditor".to_owned()], false)
        .await
        .unwrap_err();
    let ClientError::Api { status, problem } = err else {
        panic!("{err:?}")
    };
    assert_eq!((status, problem.code.as_str()), (422, CODE));
    assert_eq!(
        problem.detail,
        "a service account name must not look like an e-mail address \
         (no identifiers in metadata, 45 CFR 164.514(b)(2))"
    );
    assert_absent(
        "the problem",
        &serde_json::to_string(&problem).unwrap(),
        "jane.doe@example.com",
    );
    let (ev, json) = last_event(&tv).await;
    assert_eq!(
        (ev.action.as_str(), ev.reason.as_deref()),
        ("service_account.create", Some(CODE))
    );
    assert_absent("the audit event", &json, "jane.doe@example.com");
    assert_eq!(admin.list_users().await.unwrap().items.len(), users_before);

    let tokens_before = admin.list_tokens().await.unwrap().items.len();
    for name in ["ssn 123-45-6789", "ci 555.123.4567", "build 2024-03-12"] {
        let err = admin
            .create_token("test-app", name, &[RECORDS_ALL.to_owned()], 3600)
            .await
            .unwrap_err();
        let ClientError::Api { status, problem } = err else {
            panic!("{err:?}")
        };
        assert_eq!((status, problem.code.as_str()), (422, CODE), "{name}");
        assert!(
            problem
                .detail
                .starts_with("a token name must not look like")
        );
        assert_absent(
            "the problem",
            &serde_json::to_string(&problem).unwrap(),
            name,
        );
        let (ev, _) = last_event(&tv).await;
        assert_eq!(
            (ev.action.as_str(), ev.reason.as_deref()),
            ("token.create", Some(CODE))
        );
    }
    assert_eq!(
        admin.list_tokens().await.unwrap().items.len(),
        tokens_before
    );
}

#[tokio::test]
async fn identifier_like_role_names_descriptions_and_grants_are_refused() {
    let tv = TestVault::start().await;
    let op = Principal::local_operator();
    let meta = RequestMeta::default();
    let grant = Grant {
        collections: vec!["*".to_owned()],
        actions: Default::default(),
        fields: vec!["*".to_owned()],
        masked: Default::default(),
        subjects: SubjectScope::Assigned,
        purposes: [PurposeOfUse::Treat].into_iter().collect(),
    };
    let role = |name: &str, description: &str, field: &str| Role {
        name: name.to_owned(),
        description: description.to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            fields: vec![field.to_owned()],
            ..grant.clone()
        }],
    };
    let cases = [
        (
            role("ward-123456789", "", "*"),
            MetadataKind::RoleName,
            IdentifierLike::Ssn,
        ),
        (
            role("ward", "ask jane@example.com", "*"),
            MetadataKind::RoleDescription,
            IdentifierLike::Email,
        ),
        (
            role("ward", "ward staff", "dob_1984_03_12"),
            MetadataKind::FieldName,
            IdentifierLike::Date,
        ),
    ];
    for (r, kind, found) in cases {
        let err = tv.vault.put_role(&meta, &op, r).await.unwrap_err();
        let VaultError::Metadata(m) = err else {
            panic!("{err:?}")
        };
        assert_eq!((m.kind, m.found), (kind, found));
        let (ev, json) = last_event(&tv).await;
        assert_eq!(
            (ev.action.as_str(), ev.reason.as_deref()),
            ("role.put", Some(CODE))
        );
        assert_eq!(ev.target, None);
        for v in ["123456789", "jane", "1984"] {
            assert!(!json.contains(v), "{json}");
        }
    }
    let roles = tv.vault.list_roles(&meta, &op).await.unwrap();
    assert!(roles.iter().all(|r| !r.name.starts_with("ward")));
    // An ordinary role is accepted.
    tv.vault
        .put_role(&meta, &op, role("ward", "ward staff", "dob"))
        .await
        .unwrap();
}

// ----- the CLI ------------------------------------------------------------------------------

#[track_caller]
fn clean_failure(o: &Output, want: &str, value: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c != 101),
        "{:?}: {stderr}",
        o.status
    );
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.contains(want), "{stderr}");
    assert_absent("stderr", &stderr, value);
    assert_absent("stdout", &String::from_utf8_lossy(&o.stdout), value);
}

#[test]
fn the_cli_refuses_identifier_like_names_and_stores_nothing() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    assert!(run(&dir, &["init", "--json"]).status.success());

    let o = run(
        &dir,
        &[
            "service-account",
            "create",
            "jane.doe@example.com",
            "--role",
            "auditor",
        ],
    );
    clean_failure(
        &o,
        "a service account name must not look like an e-mail address",
        "jane.doe@example.com",
    );
    let o = run(
        &dir,
        &[
            "token",
            "create",
            "--owner",
            "bootstrap-admin",
            "--name",
            "ssn 123-45-6789",
            "--role",
            "admin",
        ],
    );
    clean_failure(
        &o,
        "a token name must not look like a Social Security number",
        "123-45-6789",
    );
    let o = run(
        &dir,
        &[
            "grant",
            "add",
            "--role",
            "ward",
            "--collection",
            "call_555_123_4567",
            "--action",
            "read",
            "--purpose",
            "TREAT",
        ],
    );
    clean_failure(
        &o,
        "a collection name must not look like a telephone number",
        "call_555_123_4567",
    );
    let role_file = tmp.path().join("role.json");
    std::fs::write(
        &role_file,
        r#"{"name":"ward","description":"seen 3/12/1984","scopes":[],"grants":[]}"#,
    )
    .unwrap();
    let o = run(
        &dir,
        &["role", "put", "--file", role_file.to_str().unwrap()],
    );
    clean_failure(
        &o,
        "a role description must not look like a date",
        "3/12/1984",
    );

    // Nothing was stored.
    let users = run(&dir, &["user", "list", "--json"]);
    assert!(users.status.success());
    assert_absent(
        "the user list",
        &String::from_utf8_lossy(&users.stdout),
        "jane.doe@example.com",
    );
    let tokens = run(&dir, &["token", "list", "--json"]);
    assert!(tokens.status.success());
    let tokens: Value = serde_json::from_slice(&tokens.stdout).unwrap();
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    let roles = run(&dir, &["role", "list", "--json"]);
    assert!(roles.status.success());
    let roles: Value = serde_json::from_slice(&roles.stdout).unwrap();
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "ward"),
        "{roles}"
    );
    assert!(run(&dir, &["audit", "verify"]).status.success());
}
