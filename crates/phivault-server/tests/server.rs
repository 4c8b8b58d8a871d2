//! Router-level tests driven through `tower::ServiceExt::oneshot` against a real vault on
//! a temporary SQLite store, plus TLS tests over loopback and in memory.

// clippy's allow-*-in-tests settings cover `#[test]` functions only, not the helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use phivault_api::{self as api, Problem};
use phivault_core::audit::AuditEntry;
use phivault_core::crypto::Keyring;
use phivault_core::crypto::{PasswordHashParams, TotpParams, TotpSecret, totp_code};
use phivault_core::store::read_tx;
use phivault_core::{
    Clock, DataAction, Grant, ManualClock, Principal, PurposeOfUse, RequestMeta, Role,
    SubjectScope, Vault, VaultConfig,
};
use phivault_server::{AppState, router};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const BODY_LIMIT: usize = 64 * 1024;

struct Harness {
    vault: Arc<Vault>,
    clock: Arc<ManualClock>,
    state: AppState,
    router: Router,
    /// A token with data access (role `clinician-all`: every subject, TREAT).
    token: String,
    /// An administrator's token (roles `admin` and `auditor`; no PHI).
    admin: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn problem(&self) -> Problem {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).expect("problem document")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn op() -> Principal {
    Principal::local_operator()
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// A custom role with every data action on every subject and field, for treatment.
fn clinician_all() -> Role {
    Role {
        name: "clinician-all".to_owned(),
        description: "Tests: every subject, every action, TREAT.".to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: DataAction::ALL.into_iter().collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: [PurposeOfUse::Treat].into_iter().collect(),
        }],
    }
}

/// A service account with `roles` and a token carrying all of them.
async fn service_token(vault: &Vault, account: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    vault
        .create_service_account(&meta(), &op(), account, &roles, false)
        .await
        .unwrap();
    let (_, secret) = vault
        .create_token(
            &meta(),
            &op(),
            account,
            "t",
            &roles,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    secret.expose_secret().to_owned()
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("v.db"), SqliteOptions::default()).unwrap());
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2026-01-15 09:00:00 UTC),
    ));
    let vault = Arc::new(Vault::new(
        store,
        Keyring::generate().unwrap(),
        clock.clone(),
        VaultConfig {
            password_params: PasswordHashParams::insecure_fast_for_tests(),
            ..VaultConfig::default()
        },
    ));
    vault
        .put_role(&meta(), &op(), clinician_all())
        .await
        .unwrap();
    let token = service_token(&vault, "svc-data", &["clinician-all"]).await;
    let admin = service_token(&vault, "svc-admin", &["admin", "auditor"]).await;
    let state = AppState::new(vault.clone()).with_body_limit(BODY_LIMIT);
    Harness {
        vault,
        clock,
        router: router(state.clone()),
        state,
        token,
        admin,
        _dir: dir,
    }
}

impl Harness {
    async fn audit(&self) -> Vec<AuditEntry> {
        read_tx(&**self.vault.store(), |tx| {
            Ok(tx.audit_entries(0, usize::MAX >> 1)?)
        })
        .await
        .unwrap()
    }

    async fn audit_count(&self) -> usize {
        self.audit().await.len()
    }

    async fn raw(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request with the data token, stating the purpose of use TREAT.
    fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        self.request_as(&self.token, method, uri)
            .header("x-purpose-of-use", "TREAT")
    }

    /// A request with `token` and no purpose of use.
    fn request_as(&self, token: &str, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.send(self.request(method, uri), body).await
    }

    /// A call with `token` and no purpose of use.
    async fn call_as(&self, token: &str, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.send(self.request_as(token, method, uri), body).await
    }

    async fn send(&self, b: axum::http::request::Builder, body: Option<Value>) -> Reply {
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&v).unwrap())),
            None => b.body(Body::empty()),
        };
        self.raw(req.unwrap()).await
    }

    async fn send_bytes(&self, method: Method, uri: &str, body: Vec<u8>) -> Reply {
        let req = self
            .request(method, uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.raw(req).await
    }

    async fn create_patients(&self) {
        let r = self
            .call_as(
                &self.admin,
                Method::POST,
                "/v1/collections",
                Some(json!({
                    "name": "patients",
                    "fields": [
                        {"name": "name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
                        {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
                        {"name": "age", "type": "integer", "sensitivity": {"class": "none"}},
                        {"name": "notes", "type": "array", "sensitivity": {"class": "health"}}
                    ]
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.headers[header::LOCATION], "/v1/collections/patients");
    }
}

fn assert_security_headers(r: &Reply) {
    assert_eq!(
        r.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(r.headers.contains_key("x-request-id"));
}

// ----- canaries: no error class echoes submitted values, every refusal is audited ---------

struct Case {
    what: &'static str,
    /// Sent with the admin token instead of the data token.
    admin: bool,
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    canary: String,
    status: u16,
    code: &'static str,
}

fn case(
    what: &'static str,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
    canary: &str,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        what,
        admin: false,
        method,
        uri: uri.to_owned(),
        headers: vec![("content-type", "application/json".to_owned())],
        body,
        canary: canary.to_owned(),
        status,
        code,
    }
}

impl Case {
    fn admin(mut self) -> Case {
        self.admin = true;
        self
    }
}

fn bytes(v: &str) -> Option<Vec<u8>> {
    Some(v.as_bytes().to_vec())
}

#[tokio::test]
async fn problems_never_echo_submitted_values_and_every_refusal_is_audited() {
    let h = harness().await;
    h.create_patients().await;
    let created = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-1", "data": {"name": "Synthetic Person"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let rec = format!("/v1/collections/patients/records/{id}");

    let deep = format!(
        r#"{{"subject":"subj-1","data":{{"notes":{}"CANARYDEEP"{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let big = format!(
        r#"{{"subject":"subj-1","data":{{"name":"CANARYBIG{}"}}}}"#,
        "x".repeat(BODY_LIMIT)
    );
    let mut invalid_utf8 = br#"{"subject":"subj-1","data":{"name":"CANARYUTF "#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}}"#);

    let mut cases = vec![
        case(
            "malformed json",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{"name":"CANARYMAL"#),
            "CANARYMAL",
            400,
            "malformed_json",
        ),
        case(
            "trailing garbage",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{}} CANARYTRAIL"#),
            "CANARYTRAIL",
            400,
            "malformed_json",
        ),
        case(
            "wrong field type",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{"name":"A","age":"CANARYTYPE"}}"#),
            "CANARYTYPE",
            422,
            "validation_failed",
        ),
        case(
            "undeclared field",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{"name":"A","CANARYKEY":"CANARYVAL"}}"#),
            "CANARY",
            422,
            "validation_failed",
        ),
        case(
            "undeclared envelope field",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{},"CANARYENV":"CANARYENV"}"#),
            "CANARYENV",
            400,
            "invalid_request_shape",
        ),
        case(
            "wrong envelope type",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":["CANARYSHAPE"],"data":{}}"#),
            "CANARYSHAPE",
            400,
            "invalid_request_shape",
        ),
        case(
            "bad subject id",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"CANARYSUBJ with spaces","data":{"name":"A"}}"#),
            "CANARYSUBJ",
            400,
            "invalid_subject_id",
        ),
        case(
            "oversized body",
            Method::POST,
            "/v1/collections/patients/records",
            Some(big.into_bytes()),
            "CANARYBIG",
            413,
            "body_too_large",
        ),
        case(
            "invalid utf-8",
            Method::POST,
            "/v1/collections/patients/records",
            Some(invalid_utf8),
            "CANARYUTF",
            400,
            "invalid_utf8",
        ),
        case(
            "huge integer",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{"name":"A","age":98765432198765432198765432}}"#),
            "98765432198765432198765432",
            422,
            "validation_failed",
        ),
        case(
            "number out of range",
            Method::POST,
            "/v1/collections/patients/records",
            bytes(r#"{"subject":"subj-1","data":{"name":"A","age":7654321e999999}}"#),
            "7654321",
            400,
            "malformed_json",
        ),
        case(
            "deep nesting",
            Method::POST,
            "/v1/collections/patients/records",
            Some(deep.into_bytes()),
            "CANARYDEEP",
            400,
            "malformed_json",
        ),
        case(
            "bad record id",
            Method::GET,
            "/v1/collections/patients/records/CANARYID-not-a-uuid",
            None,
            "CANARYID",
            400,
            "invalid_record_id",
        ),
        case(
            "bad collection name",
            Method::GET,
            "/v1/collections/CANARYCOLL",
            None,
            "CANARYCOLL",
            400,
            "invalid_collection_name",
        ),
        case(
            "path not utf-8",
            Method::GET,
            "/v1/collections/%FFCANARYPCT",
            None,
            "CANARYPCT",
            400,
            "invalid_path",
        ),
        case(
            "bad version",
            Method::GET,
            &format!("{rec}/versions/CANARYVER"),
            None,
            "CANARYVER",
            400,
            "invalid_version",
        ),
        case(
            "bad token id",
            Method::DELETE,
            "/v1/tokens/CANARYTOK",
            None,
            "CANARYTOK",
            400,
            "invalid_token_id",
        ),
        case(
            "bad cursor",
            Method::GET,
            "/v1/subjects/subj-1/records?cursor=CANARYCURSOR",
            None,
            "CANARYCURSOR",
            400,
            "invalid_cursor",
        ),
        case(
            "unknown query parameter",
            Method::GET,
            "/v1/subjects/subj-1/records?CANARYQ=1",
            None,
            "CANARYQ",
            400,
            "invalid_query",
        ),
        case(
            "bad subject in path",
            Method::GET,
            "/v1/subjects/CANARYSP%20x/records",
            None,
            "CANARYSP",
            400,
            "invalid_subject_id",
        ),
        case(
            "search on a field that is not searchable",
            Method::POST,
            "/v1/collections/patients/search",
            bytes(r#"{"field":"age","value":"CANARYSEARCH"}"#),
            "CANARYSEARCH",
            400,
            "field_not_searchable",
        ),
        case(
            "search on an unknown field",
            Method::POST,
            "/v1/collections/patients/search",
            bytes(r#"{"field":"CANARYFIELD","value":1}"#),
            "CANARYFIELD",
            400,
            "field_not_searchable",
        ),
        case(
            "token with scopes instead of roles",
            Method::POST,
            "/v1/tokens",
            bytes(
                r#"{"owner":"svc-data","name":"t","scopes":["CANARYSCOPE"],"ttl_seconds":60}"#,
            ),
            "CANARYSCOPE",
            400,
            "invalid_request_shape",
        )
        .admin(),
        case(
            "bad token name",
            Method::POST,
            "/v1/tokens",
            bytes(
                r#"{"owner":"svc-data","name":"CANARYNAME/../","roles":["clinician-all"],"ttl_seconds":60}"#,
            ),
            "CANARYNAME",
            400,
            "invalid_token_name",
        )
        .admin(),
        case(
            "unknown token owner",
            Method::POST,
            "/v1/tokens",
            bytes(r#"{"owner":"canaryowner","name":"t","roles":["admin"],"ttl_seconds":60}"#),
            "canaryowner",
            404,
            "not_found",
        )
        .admin(),
        case(
            "unknown role for a service account",
            Method::POST,
            "/v1/service-accounts",
            bytes(r#"{"username":"svc-new","roles":["canaryrole"]}"#),
            "canaryrole",
            400,
            "unknown_role",
        )
        .admin(),
        case(
            "login with an unknown field",
            Method::POST,
            "/v1/auth/login",
            bytes(r#"{"username":"a","password":"CANARYPASSWORD","otp":"1"}"#),
            "CANARYPASSWORD",
            400,
            "invalid_request_shape",
        ),
        case(
            "break-glass duration out of range",
            Method::POST,
            "/v1/break-glass",
            bytes(
                r#"{"subject":"subj-1","reason":"CANARYREASON but long enough to pass","duration_minutes":9223372036854775807}"#,
            ),
            "CANARYREASON",
            400,
            "breakglass_duration_out_of_range",
        ),
        case(
            "role name mismatch",
            Method::PUT,
            "/v1/roles/canary-path",
            bytes(r#"{"name":"canary-body","scopes":[],"grants":[]}"#),
            "canary",
            400,
            "role_name_mismatch",
        )
        .admin(),
        case(
            "bad field name in schema",
            Method::POST,
            "/v1/collections",
            bytes(
                r#"{"name":"c2","fields":[{"name":"CANARYFN","type":"string","sensitivity":{"class":"none"}}]}"#,
            ),
            "CANARYFN",
            400,
            "invalid_field_name",
        ),
    ];
    let mut c = case(
        "wrong content type",
        Method::POST,
        "/v1/collections/patients/records",
        bytes("CANARYCT"),
        "CANARYCT",
        415,
        "unsupported_media_type",
    );
    c.headers = vec![("content-type", "text/plain".to_owned())];
    cases.push(c);
    let mut c = case(
        "unknown purpose of use",
        Method::GET,
        &rec,
        None,
        "CANARYPOU",
        400,
        "invalid_purpose_of_use",
    );
    c.headers.push(("x-purpose-of-use", "CANARYPOU".to_owned()));
    cases.push(c);
    let mut c = case(
        "garbage If-Match",
        Method::PUT,
        &rec,
        bytes(r#"{"data":{"name":"B"}}"#),
        "CANARYETAG",
        412,
        "version_mismatch",
    );
    c.headers.push(("if-match", "\"CANARYETAG\"".to_owned()));
    cases.push(c);

    for c in cases {
        let before = h.audit_count().await;
        let token = if c.admin { &h.admin } else { &h.token };
        let mut b = h.request_as(token, c.method.clone(), &c.uri);
        if !c.headers.iter().any(|(k, _)| *k == "x-purpose-of-use") {
            b = b.header("x-purpose-of-use", "TREAT");
        }
        for (k, v) in &c.headers {
            b = b.header(*k, v);
        }
        let body = c.body.map(Body::from).unwrap_or_else(Body::empty);
        let r = h.raw(b.body(body).unwrap()).await;
        assert_eq!(r.status.as_u16(), c.status, "{}: {}", c.what, r.text());
        let p = r.problem();
        assert_eq!(p.code, c.code, "{}", c.what);
        assert_eq!(p.status, c.status, "{}", c.what);
        assert_eq!(p.problem_type, format!("urn:phivault:problem:{}", c.code));
        assert_eq!(
            p.request_id,
            r.headers["x-request-id"].to_str().unwrap(),
            "{}",
            c.what
        );
        let all = format!("{:?} {}", r.headers, r.text()).to_lowercase();
        assert!(
            !all.contains(&c.canary.to_lowercase()),
            "{}: response echoes the submitted value: {all}",
            c.what
        );
        assert_security_headers(&r);
        let entries = h.audit().await;
        assert_eq!(entries.len(), before + 1, "{}: one audit event", c.what);
        let last = entries.last().unwrap().event().unwrap();
        assert_eq!(last.request_id, p.request_id, "{}", c.what);
        assert_ne!(last.outcome.as_str(), "success", "{}", c.what);
        assert!(
            !entries
                .last()
                .unwrap()
                .event_json
                .to_lowercase()
                .contains(&c.canary.to_lowercase()),
            "{}: audit event holds the submitted value",
            c.what
        );
        if c.code == "validation_failed" {
            let v = p.violations.expect("violations");
            assert!(!v.is_empty());
            for v in v {
                assert!(v.pointer == "/age" || v.pointer == "/(undeclared)", "{v:?}");
            }
        }
    }
}

#[tokio::test]
async fn refusals_before_an_operation_are_audited_under_its_action() {
    let h = harness().await;
    h.create_patients().await;
    let r = h
        .send_bytes(
            Method::POST,
            "/v1/collections/patients/records",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(ev.action, "record.create");
    assert_eq!(ev.reason.as_deref(), Some("malformed_json"));
    assert_eq!(ev.actor.kind.as_str(), "token");
    assert!(r.problem().detail.contains("line 1"));
}

// ----- authentication --------------------------------------------------------------------

#[tokio::test]
async fn missing_or_bad_tokens_get_one_fixed_401() {
    let h = harness().await;
    let mut details = Vec::new();
    for auth in [
        None,
        Some("Bearer pvt_CANARYTOKEN"),
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("CANARYSCHEME"),
    ] {
        let before = h.audit_count().await;
        let mut b = Request::builder().uri("/v1/collections");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let r = h.raw(b.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_security_headers(&r);
        let p = r.problem();
        assert_eq!(p.code, "unauthenticated");
        assert!(!r.text().contains("CANARY"));
        details.push(p.detail);
        assert_eq!(h.audit_count().await, before + 1, "{auth:?}");
        let ev = h.audit().await.last().unwrap().event().unwrap();
        assert_eq!(ev.action, "auth.authenticate");
        assert!(
            !h.audit()
                .await
                .last()
                .unwrap()
                .event_json
                .contains("CANARY")
        );
    }
    details.dedup();
    assert_eq!(details.len(), 1, "one fixed detail for every 401");
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused() {
    let h = harness().await;
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/tokens",
            Some(json!({
                "owner": "svc-data", "name": "short", "roles": ["clinician-all"], "ttl_seconds": 60
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created: api::CreatedToken = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(created.token.roles, vec!["clinician-all".to_owned()]);
    assert_eq!(created.token.name, "short");
    assert!(created.token.last_used_at.is_none());
    // a token cannot carry a role its service account does not hold
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/tokens",
            Some(json!({"owner": "svc-data", "name": "x", "roles": ["admin"], "ttl_seconds": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let get = |secret: String| {
        Request::builder()
            .uri("/v1/collections")
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        h.raw(get(created.secret.clone())).await.status,
        StatusCode::OK
    );
    let r = h
        .call_as(
            &h.admin,
            Method::DELETE,
            &format!("/v1/tokens/{}", created.token.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.raw(get(created.secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = h
        .call_as(
            &h.admin,
            Method::DELETE,
            &format!("/v1/tokens/{}", created.token.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn missing_scope_is_403() {
    let h = harness().await;
    // the data token holds no administrative scope
    let r = h.call(Method::POST, "/v1/audit/verify", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.problem().code, "forbidden");
    // the rule is for the audit log, not for the caller
    assert!(!r.text().contains("missing_scope"));
}

// ----- headers, probes, fallbacks --------------------------------------------------------

#[tokio::test]
async fn request_ids_are_accepted_or_replaced_and_always_echoed() {
    let h = harness().await;
    let r = h
        .raw(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "client-id_123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "client-id_123");
    assert_security_headers(&r);
    let r = h
        .raw(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "bad id with spaces")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    // the id reaches the audit log
    let r = h
        .raw(
            h.request(Method::GET, "/v1/collections/nope")
                .header("x-request-id", "trace-me")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem().request_id, "trace-me");
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(ev.request_id, "trace-me");
    assert_eq!(ev.action, "collection.read");
}

#[tokio::test]
async fn probes_answer_without_token_and_are_not_audited() {
    let h = harness().await;
    let before = h.audit_count().await;
    for uri in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let r = h
            .raw(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_security_headers(&r);
    }
    h.state.ready.set(false);
    let r = h
        .raw(
            Request::builder()
                .uri("/readyz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.problem().code, "not_ready");
    let r = h
        .raw(
            Request::builder()
                .uri("/healthz")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "liveness does not depend on readiness"
    );
    assert_eq!(h.audit_count().await, before);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_audited_problems() {
    let h = harness().await;
    let before = h.audit_count().await;
    let r = h.call(Method::GET, "/v1/CANARYROUTE", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem().code, "not_found");
    assert!(!r.text().contains("CANARYROUTE"));
    assert_security_headers(&r);
    let r = h.call(Method::PATCH, "/v1/collections", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.problem().code, "method_not_allowed");
    let allow = r.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_security_headers(&r);
    let entries = h.audit().await;
    assert_eq!(entries.len(), before + 2);
    for e in &entries[before..] {
        let ev = e.event().unwrap();
        assert_eq!(ev.action, "http.unmatched");
        assert!(!e.event_json.contains("CANARY"));
    }
}

// ----- the record life cycle -------------------------------------------------------------

#[tokio::test]
async fn record_life_cycle_with_etags_history_search_and_paging() {
    let h = harness().await;
    h.create_patients().await;
    let dup = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/collections",
            Some(json!({"name": "patients", "fields": [{"name": "a", "type": "string", "sensitivity": {"class": "none"}}]})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let r = h.call(Method::GET, "/v1/collections/patients", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let c: api::Collection = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        c.fields[1].sensitivity,
        api::Sensitivity::Phi(api::IdentifierKind::Ssn)
    );
    let r = h.call(Method::GET, "/v1/collections", None).await;
    let list: api::CollectionList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list.items.len(), 1);

    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-1", "data": {"name": "Synthetic One", "ssn": "000-00-0001", "age": 40}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.headers[header::ETAG], "\"1\"");
    let rec: api::Record = serde_json::from_slice(&r.body).unwrap();
    let uri = format!("/v1/collections/patients/records/{}", rec.id);
    assert_eq!(r.headers[header::LOCATION], uri.as_str());

    let r = h.call(Method::GET, &uri, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::ETAG], "\"1\"");
    assert_eq!(r.json()["data"]["name"], "Synthetic One");

    // updates need If-Match
    let body = json!({"data": {"name": "Synthetic One", "age": 41}});
    let r = h.call(Method::PUT, &uri, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let put = |etag: &'static str| {
        h.request(Method::PUT, &uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, etag)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap()
    };
    let r = h.raw(put("\"7\"")).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = h.raw(put("\"1\"")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers[header::ETAG], "\"2\"");

    let r = h.call(Method::GET, &format!("{uri}/versions"), None).await;
    let hist: api::RecordList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(hist.items.len(), 2);
    assert_eq!(hist.items[0].data["age"], 40);
    let r = h
        .call(Method::GET, &format!("{uri}/versions/1"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["version"], 1);
    assert_eq!(r.json()["current_version"], 2);
    let r = h
        .call(Method::GET, &format!("{uri}/versions/9"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // search by blind index, with a stated purpose of use that reaches the audit log
    let r = h
        .raw(
            h.request(Method::POST, "/v1/collections/patients/search")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"field":"name","value":"synthetic one"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let found: api::RecordList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(found.items.len(), 1);
    let last = h.audit().await.last().unwrap().clone();
    let ev = last.event().unwrap();
    assert_eq!(ev.action, "record.search");
    assert_eq!(ev.purpose.as_deref(), Some("TREAT"));
    assert!(!last.event_json.to_lowercase().contains("synthetic"));

    // a second record for the same subject in the same collection, then paging
    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-1", "data": {"name": "Synthetic Two"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/subjects/subj-1/records?limit=1&cursor={c}"),
            None => "/v1/subjects/subj-1/records?limit=1".to_owned(),
        };
        let r = h.call(Method::GET, &q, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let page: api::RecordList = serde_json::from_slice(&r.body).unwrap();
        seen.extend(page.items.iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
        assert!(seen.len() <= 3, "paging does not end");
    }
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1]);

    // delete honours If-Match, then the record is gone
    let r = h
        .raw(
            h.request(Method::DELETE, &uri)
                .header(header::IF_MATCH, "\"1\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = h
        .raw(
            h.request(Method::DELETE, &uri)
                .header(header::IF_MATCH, "\"2\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let del: api::DeletedRecord = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(del.version, 3);
    assert_eq!(
        h.call(Method::GET, &uri, None).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        h.call(Method::DELETE, &uri, None).await.status,
        StatusCode::GONE
    );
    let unknown = "/v1/collections/patients/records/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    assert_eq!(
        h.call(Method::GET, unknown, None).await.status,
        StatusCode::NOT_FOUND
    );

    // tokens and the audit chain
    let r = h.call_as(&h.admin, Method::GET, "/v1/tokens", None).await;
    let tokens: api::TokenList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tokens.items.len(), 2);
    assert!(tokens.items.iter().all(|t| t.last_used_at.is_some()));
    assert!(!r.text().contains(&h.token) && !r.text().contains(&h.admin));
    let r = h
        .call_as(&h.admin, Method::POST, "/v1/audit/verify", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let report: api::AuditVerifyResponse = serde_json::from_slice(&r.body).unwrap();
    assert!(report.ok);
    assert!(report.entries > 10);
    assert!(report.head_hash.is_some());
    assert!(report.first_break.is_none());
}

// ----- TLS -------------------------------------------------------------------------------

mod tls {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn cert() -> (Vec<u8>, Vec<u8>) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (
            c.cert.pem().into_bytes(),
            c.signing_key.serialize_pem().into_bytes(),
        )
    }

    fn client(ca: &[u8], versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca) {
            roots.add(c.unwrap()).unwrap();
        }
        let mut cfg =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        cfg
    }

    /// Runs a handshake in memory; returns the negotiated version, suite and ALPN.
    fn handshake(
        server: Arc<rustls::ServerConfig>,
        client_cfg: ClientConfig,
    ) -> (
        rustls::ProtocolVersion,
        rustls::CipherSuite,
        Option<Vec<u8>>,
    ) {
        let mut s = ServerConnection::new(server).unwrap();
        let mut c = ClientConnection::new(
            Arc::new(client_cfg),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            s.read_tls(&mut buf.as_slice()).unwrap();
            s.process_new_packets().unwrap();
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut buf.as_slice()).unwrap();
            c.process_new_packets().unwrap();
            if !c.is_handshaking() && !s.is_handshaking() {
                break;
            }
        }
        assert!(!s.is_handshaking());
        (
            s.protocol_version().unwrap(),
            s.negotiated_cipher_suite().unwrap().suite(),
            s.alpn_protocol().map(<[u8]>::to_vec),
        )
    }

    #[test]
    fn only_aead_suites_and_modern_versions_are_configured() {
        let (c, k) = cert();
        let cfg = phivault_server::tls_config(&c, &k).unwrap();
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let names: Vec<String> = cfg
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(names.len(), 9, "{names:?}");
        for n in &names {
            assert!(
                n.contains("GCM") || n.contains("CHACHA20_POLY1305"),
                "not AEAD: {n}"
            );
            assert!(
                n.starts_with("TLS13_") || n.starts_with("TLS_ECDHE_"),
                "{n}"
            );
        }
    }

    #[test]
    fn tls13_and_tls12_handshakes_succeed_with_aead() {
        let (c, k) = cert();
        let server = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
        let (v, suite, alpn) = handshake(server.clone(), client(&c, &[&rustls::version::TLS13]));
        assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
        assert!(format!("{suite:?}").starts_with("TLS13_"));
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        let (v, suite, _) = handshake(server, client(&c, &[&rustls::version::TLS12]));
        assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
        assert!(format!("{suite:?}").starts_with("TLS_ECDHE_ECDSA_WITH_"));
    }

    /// A TLS 1.1 ClientHello (no supported_versions extension, CBC suites only), written
    /// by hand because rustls cannot speak TLS 1.1.
    fn tls11_client_hello() -> Vec<u8> {
        let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
        body.extend_from_slice(&[0x11; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // ECDHE-RSA-AES128-SHA, AES128-SHA
        body.extend_from_slice(&[0x01, 0x00]); // null compression
        let mut hs = vec![0x01, 0x00];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn tls11_clients_are_refused() {
        let (c, k) = cert();
        let server = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
        let mut s = ServerConnection::new(server).unwrap();
        s.read_tls(&mut tls11_client_hello().as_slice()).unwrap();
        let err = s.process_new_packets().unwrap_err();
        assert!(
            matches!(err, rustls::Error::PeerIncompatible(_)),
            "unexpected: {err:?}"
        );
        // the server answers with an alert, never a ServerHello
        let mut out = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut out).unwrap();
        }
        assert_eq!(out.first(), Some(&0x15), "an alert record");
    }

    #[test]
    fn bad_pem_is_refused() {
        let (c, k) = cert();
        assert!(matches!(
            phivault_server::tls_config(b"not pem", &k),
            Err(phivault_server::ServerError::InvalidCertificate)
        ));
        assert!(matches!(
            phivault_server::tls_config(&c, b"not pem"),
            Err(phivault_server::ServerError::InvalidKey)
        ));
        let (_, other_key) = cert();
        assert!(phivault_server::tls_config(&c, &other_key).is_err());
    }

    #[tokio::test]
    async fn serve_survives_a_failed_handshake_and_records_the_peer() {
        let h = harness().await;
        let (c, k) = cert();
        let tls = Arc::new(phivault_server::tls_config(&c, &k).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(phivault_server::serve(
            listener,
            tls,
            h.router.clone(),
            async {
                let _ = rx.await;
            },
        ));

        // plaintext HTTP on the TLS port: that connection is dropped, nothing else
        let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = plain.read_to_end(&mut buf).await;
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

        let before = h.audit_count().await;
        let mut cfg = client(&c, &[&rustls::version::TLS13]);
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(
            b"GET /v1/collections HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        assert!(text.to_lowercase().contains("strict-transport-security"));
        let entries = h.audit().await;
        assert_eq!(entries.len(), before + 1);
        let ev = entries.last().unwrap().event().unwrap();
        assert_eq!(ev.source.as_deref(), Some("127.0.0.1"));

        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}

// ----- identity and access -----------------------------------------------------------------

const ADMIN_PASSWORD: &str = "violet-harbour-lantern-93";

/// The current TOTP code of an enrollment's `otpauth://` URI, at the vault's clock.
fn totp_now(h: &Harness, uri: &str) -> String {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    let secret = TotpSecret::from_base32(b32).unwrap();
    let now = u64::try_from(h.clock.now().unix_timestamp()).unwrap();
    totp_code(&secret, &TotpParams::default(), now)
}

async fn login(h: &Harness, username: &str, password: &str, code: Option<&str>) -> Reply {
    let mut body = json!({"username": username, "password": password});
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    h.raw(
        Request::builder()
            .method(Method::POST)
            .uri("/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    )
    .await
}

/// Creates the human administrator `alice.admin` and returns her enrollment's URI.
async fn create_admin_user(h: &Harness) -> String {
    let (_, enrollment) = h
        .vault
        .create_user(
            &meta(),
            &op(),
            "alice.admin",
            ADMIN_PASSWORD,
            &["admin".to_owned()],
            false,
        )
        .await
        .unwrap();
    enrollment.otpauth_uri.as_str().to_owned()
}

/// A fresh session of `alice.admin` (who must exist).
async fn admin_session(h: &Harness, uri: &str) -> String {
    let r = login(h, "alice.admin", ADMIN_PASSWORD, Some(&totp_now(h, uri))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let s: api::LoginResponse = serde_json::from_slice(&r.body).unwrap();
    s.session_token
}

#[tokio::test]
async fn every_login_failure_is_the_same_401_and_audited() {
    let h = harness().await;
    let uri = create_admin_user(&h).await;
    let mut details = Vec::new();
    for (what, user, password, code) in [
        ("unknown user", "nobody.here", "CANARYPASS-unknown", None),
        (
            "wrong password",
            "alice.admin",
            "CANARYPASS-wrong-one",
            Some("123456"),
        ),
        ("missing code", "alice.admin", ADMIN_PASSWORD, None),
        (
            "malformed code",
            "alice.admin",
            ADMIN_PASSWORD,
            Some("CANARYCODE"),
        ),
        ("service account", "svc-data", "CANARYPASS-service", None),
    ] {
        let before = h.audit_count().await;
        let r = login(&h, user, password, code).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text());
        let p = r.problem();
        assert_eq!(p.code, "unauthenticated", "{what}");
        assert!(!r.text().contains("CANARY"), "{what}");
        details.push(p.detail);
        let entries = h.audit().await;
        assert_eq!(entries.len(), before + 1, "{what}: one audit event");
        let last = entries.last().unwrap();
        let ev = last.event().unwrap();
        assert_eq!(ev.action, "auth.login", "{what}");
        assert_eq!(ev.outcome.as_str(), "denied", "{what}");
        assert_eq!(ev.request_id, p.request_id, "{what}");
        assert!(!last.event_json.contains("CANARY"), "{what}");
    }
    details.dedup();
    assert_eq!(details.len(), 1, "one fixed detail for every failed login");
    assert_ne!(details[0], "A valid bearer token is required.");

    let r = login(&h, "alice.admin", ADMIN_PASSWORD, Some(&totp_now(&h, &uri))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let s: api::LoginResponse = serde_json::from_slice(&r.body).unwrap();
    assert!(s.session_token.starts_with("pvs_"));
    assert_eq!(s.idle_timeout_seconds, 15 * 60);
    assert_eq!(
        s.expires_at,
        time::macros::datetime!(2026-01-15 21:00:00 UTC)
    );
    assert!(!format!("{s:?}").contains(&s.session_token));
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(
        (ev.action.as_str(), ev.outcome.as_str()),
        ("auth.login", "success")
    );

    // the session is a bearer token; logout ends it
    let r = h
        .call_as(&s.session_token, Method::GET, "/v1/users", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .call_as(&s.session_token, Method::POST, "/v1/auth/logout", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = h
        .call_as(&s.session_token, Method::GET, "/v1/users", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // an API token is not a session
    let r = h
        .call_as(&h.admin, Method::POST, "/v1/auth/logout", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem().code, "not_a_session");
}

#[tokio::test]
async fn users_roles_service_accounts_and_tokens_over_http() {
    let h = harness().await;
    let uri = create_admin_user(&h).await;
    let session = admin_session(&h, &uri).await;

    // user management needs a recent login: an API token is refused
    let bob = json!({"username": "bob.clin", "password": "copper-meadow-signal-58", "roles": ["clinician"]});
    let r = h
        .call_as(&h.admin, Method::POST, "/v1/users", Some(bob.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.problem().detail.contains("recent login"));

    let r = h
        .call_as(&session, Method::POST, "/v1/users", Some(bob.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created: api::CreatedUser = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(created.user.username, "bob.clin");
    assert_eq!(created.user.kind, "human");
    assert!(created.user.mfa_enrolled);
    assert!(
        created
            .enrollment
            .otpauth_uri
            .starts_with("otpauth://totp/")
    );
    assert_eq!(created.enrollment.recovery_codes.len(), 10);
    assert!(!format!("{created:?}").contains(&created.enrollment.recovery_codes[0]));
    assert!(
        !h.audit()
            .await
            .last()
            .unwrap()
            .event_json
            .contains("copper")
    );
    let r = h
        .call_as(&session, Method::POST, "/v1/users", Some(bob))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem().code, "username_taken");
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/users",
            Some(json!({"username": "eve.both", "password": "amber-tunnel-figure-61", "roles": ["admin", "clinician-all"]})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "admin and PHI need the exception"
    );
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/users",
            Some(json!({"username": "weak.pw", "password": "password", "roles": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = h.call_as(&session, Method::GET, "/v1/users", None).await;
    let users: api::UserList = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = users.items.iter().map(|u| u.username.as_str()).collect();
    for n in ["alice.admin", "bob.clin", "svc-data", "svc-admin"] {
        assert!(names.contains(&n), "{names:?}");
    }

    let r = h
        .call_as(
            &session,
            Method::PUT,
            "/v1/users/bob.clin/roles",
            Some(json!({"roles": ["clinician", "breakglass"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let user: api::User = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        user.roles,
        vec!["clinician".to_owned(), "breakglass".to_owned()]
    );
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/users/bob.clin/reset-password",
            Some(json!({"password": "granite-willow-orbit-24"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // bob logs in with a recovery code; revoking his sessions ends it
    let r = login(
        &h,
        "bob.clin",
        "granite-willow-orbit-24",
        Some(&created.enrollment.recovery_codes[0]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let bob_session: api::LoginResponse = serde_json::from_slice(&r.body).unwrap();
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/users/bob.clin/revoke-sessions",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["revoked"], 1);
    let r = h
        .call_as(
            &bob_session.session_token,
            Method::GET,
            "/v1/collections",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = h
        .call_as(&session, Method::POST, "/v1/users/bob.clin/disable", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["disabled"], true);
    let r = login(
        &h,
        "bob.clin",
        "granite-willow-orbit-24",
        Some(&created.enrollment.recovery_codes[1]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .call_as(&session, Method::POST, "/v1/users/bob.clin/enable", None)
        .await;
    assert_eq!(r.json()["disabled"], false);
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/users/no.such.user/enable",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // roles
    let role = json!({
        "name": "billing-lite",
        "description": "Payment lookups.",
        "grants": [{
            "collections": ["*"], "actions": ["read", "search"],
            "masked": {"ssn": "last4"}, "subjects": "all", "purposes": ["HPAYMT"]
        }]
    });
    let r = h
        .call_as(&session, Method::PUT, "/v1/roles/billing-lite", Some(role))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let stored: api::Role = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(stored.grants[0].fields, vec!["*".to_owned()]);
    let r = h
        .call_as(
            &session,
            Method::PUT,
            "/v1/roles/admin",
            Some(json!({"name": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = h.call_as(&h.admin, Method::GET, "/v1/roles", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let roles: api::RoleList = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = roles.items.iter().map(|r| r.name.as_str()).collect();
    let builtin = phivault_core::policy::BUILTIN_ROLES;
    assert_eq!(&names[..builtin.len()], builtin.as_slice());
    assert!(names.contains(&"clinician-all") && names.contains(&"billing-lite"));
    assert!(roles.items[0].scopes.contains(&api::Scope::UsersManage));

    let r = h
        .call_as(&session, Method::GET, "/v1/compliance/gaps", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let gaps: api::ComplianceGapList = serde_json::from_slice(&r.body).unwrap();
    assert!(gaps.items.iter().all(|g| g.code != "mfa_disabled"));

    // service accounts and their tokens need no step-up
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/service-accounts",
            Some(json!({"username": "svc-audit", "roles": ["auditor"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let account: api::User = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(account.kind, "service");
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/tokens",
            Some(json!({"owner": "svc-audit", "name": "ci", "roles": ["auditor"], "ttl_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let first: api::CreatedToken = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(first.token.owner, account.id);
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            &format!("/v1/tokens/{}/rotate", first.token.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let rotated: api::CreatedToken = serde_json::from_slice(&r.body).unwrap();
    assert_ne!(rotated.token.id, first.token.id);
    assert_ne!(rotated.secret, first.secret);
    assert_eq!(rotated.token.roles, first.token.roles);
    assert_eq!(rotated.token.expires_at, first.token.expires_at);
    let r = h
        .call_as(&first.secret, Method::POST, "/v1/audit/verify", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .call_as(&rotated.secret, Method::POST, "/v1/audit/verify", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            &format!("/v1/tokens/{}/rotate", first.token.id),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a revoked token cannot be rotated"
    );

    // the step-up window closes five minutes after login
    h.clock.advance(time::Duration::minutes(6));
    let r = h
        .call_as(
            &session,
            Method::PUT,
            "/v1/roles/billing-lite",
            Some(json!({"name": "billing-lite"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.problem().detail.contains("recent login"));
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(ev.reason.as_deref(), Some("deny:step_up_required"));
}

#[tokio::test]
async fn record_operations_need_a_purpose_of_use() {
    let h = harness().await;
    h.create_patients().await;
    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-1", "data": {"name": "Synthetic Person"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let uri = format!(
        "/v1/collections/patients/records/{}",
        r.json()["id"].as_str().unwrap()
    );
    for (method, path, body) in [
        (Method::GET, uri.clone(), None),
        (Method::GET, format!("{uri}/versions"), None),
        (
            Method::POST,
            "/v1/collections/patients/search".to_owned(),
            Some(json!({"field": "name", "value": "Synthetic Person"})),
        ),
        (
            Method::POST,
            "/v1/collections/patients/records".to_owned(),
            Some(json!({"subject": "subj-1", "data": {"name": "Synthetic Two"}})),
        ),
        (Method::GET, "/v1/subjects/subj-1/records".to_owned(), None),
    ] {
        let before = h.audit_count().await;
        let r = h.call_as(&h.token, method.clone(), &path, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}");
        let p = r.problem();
        assert_eq!(p.code, "purpose_required", "{method} {path}");
        assert!(p.detail.contains("X-Purpose-Of-Use"));
        let entries = h.audit().await;
        assert_eq!(entries.len(), before + 1, "{method} {path}");
        let ev = entries.last().unwrap().event().unwrap();
        assert_eq!(ev.reason.as_deref(), Some("purpose_required"));
    }
    // a purpose the role's grants do not cover is refused by policy
    let r = h
        .raw(
            h.request_as(&h.token, Method::GET, &uri)
                .header("x-purpose-of-use", "HPAYMT")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let ev = h.audit().await.last().unwrap().event().unwrap();
    assert_eq!(ev.reason.as_deref(), Some("deny:purpose_not_permitted"));
    assert_eq!(ev.purpose.as_deref(), Some("HPAYMT"));
    // codes are case-sensitive HL7 codes
    let r = h
        .raw(
            h.request_as(&h.token, Method::GET, &uri)
                .header("x-purpose-of-use", "treat")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem().code, "invalid_purpose_of_use");
}

#[tokio::test]
async fn care_relationships_and_break_glass_over_http() {
    let h = harness().await;
    let uri = create_admin_user(&h).await;
    h.create_patients().await;
    let mut records = Vec::new();
    for subject in ["subj-a", "subj-b"] {
        let r = h
            .call(
                Method::POST,
                "/v1/collections/patients/records",
                Some(json!({"subject": subject, "data": {"name": "Synthetic Person"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        records.push(format!(
            "/v1/collections/patients/records/{}",
            r.json()["id"].as_str().unwrap()
        ));
    }
    let clin = service_token(&h.vault, "svc-clin", &["clinician", "breakglass"]).await;
    let read = |purpose: &'static str, path: String| {
        let req = h
            .request_as(&clin, Method::GET, &path)
            .header("x-purpose-of-use", purpose)
            .body(Body::empty())
            .unwrap();
        h.raw(req)
    };
    assert_eq!(
        read("TREAT", records[0].clone()).await.status,
        StatusCode::FORBIDDEN
    );

    // a care relationship opens the assigned subject's records
    let session = admin_session(&h, &uri).await;
    let link = json!({"username": "svc-clin", "subject": "subj-a"});
    let r = h
        .call_as(
            &session,
            Method::POST,
            "/v1/care-relationships",
            Some(link.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        read("TREAT", records[0].clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        read("TREAT", records[1].clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h
        .call_as(
            &session,
            Method::DELETE,
            "/v1/care-relationships",
            Some(link.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        read("TREAT", records[0].clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h
        .call_as(
            &session,
            Method::DELETE,
            "/v1/care-relationships",
            Some(link),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // break-glass: a reason, a bounded time, ETREAT reads, then review
    let r = h
        .call_as(
            &clin,
            Method::POST,
            "/v1/break-glass",
            Some(json!({"subject": "subj-b", "reason": "too short", "duration_minutes": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem().code, "breakglass_reason_length");
    let reason = "Unresponsive patient in the emergency department, chart needed";
    let r = h
        .call_as(
            &clin,
            Method::POST,
            "/v1/break-glass",
            Some(json!({"subject": "subj-b", "reason": reason, "duration_minutes": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let episode: api::BreakGlassEpisode = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(episode.subject, "subj-b");
    assert_eq!(
        episode.expires_at - episode.opened_at,
        time::Duration::hours(1)
    );
    assert!(!format!("{episode:?}").contains("Unresponsive"));
    assert_eq!(
        read("ETREAT", records[1].clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        read("TREAT", records[1].clone()).await.status,
        StatusCode::FORBIDDEN
    );
    // the data token holds no breakglass scope
    let r = h
        .call_as(
            &h.token,
            Method::POST,
            "/v1/break-glass",
            Some(json!({"subject": "subj-b", "reason": reason, "duration_minutes": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // the auditor's review queue
    let r = h
        .call_as(&h.admin, Method::GET, "/v1/break-glass?open=true", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let queue: api::BreakGlassList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(queue.items.len(), 1);
    assert_eq!(queue.items[0].reason, reason);
    let review = format!("/v1/break-glass/{}/review", episode.id);
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            &review,
            Some(json!({"note": "Confirmed with the ED attending."})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let reviewed: api::BreakGlassEpisode = serde_json::from_slice(&r.body).unwrap();
    assert!(reviewed.reviewed_at.is_some());
    assert_eq!(
        reviewed.review_note.as_deref(),
        Some("Confirmed with the ED attending.")
    );
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            &review,
            Some(json!({"note": "again"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = h
        .call_as(&h.admin, Method::GET, "/v1/break-glass?open=true", None)
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 0);
    let r = h
        .call_as(&h.admin, Method::GET, "/v1/break-glass", None)
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = h
        .call_as(&h.admin, Method::GET, "/v1/break-glass?CANARY=1", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem().code, "invalid_query");
}
