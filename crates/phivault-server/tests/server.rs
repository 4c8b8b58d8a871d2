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
use phivault_core::store::read_tx;
use phivault_core::{ManualClock, Principal, RequestMeta, Scope, Vault, VaultConfig};
use phivault_server::{AppState, router};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const BODY_LIMIT: usize = 64 * 1024;

struct Harness {
    vault: Arc<Vault>,
    state: AppState,
    router: Router,
    token: String,
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
        clock,
        VaultConfig::default(),
    ));
    let (_, secret) = vault
        .create_token(
            &RequestMeta::default(),
            &Principal::local_operator(),
            "t",
            &Scope::ALL,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    let state = AppState::new(vault.clone()).with_body_limit(BODY_LIMIT);
    Harness {
        vault,
        router: router(state.clone()),
        state,
        token: secret.expose_secret().to_owned(),
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

    fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let b = self.request(method, uri);
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
            .call(
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
        method,
        uri: uri.to_owned(),
        headers: vec![("content-type", "application/json".to_owned())],
        body,
        canary: canary.to_owned(),
        status,
        code,
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
            "unknown scope",
            Method::POST,
            "/v1/tokens",
            bytes(r#"{"name":"t","scopes":["CANARYSCOPE"],"ttl_seconds":60}"#),
            "CANARYSCOPE",
            400,
            "invalid_request_shape",
        ),
        case(
            "bad token name",
            Method::POST,
            "/v1/tokens",
            bytes(r#"{"name":"CANARYNAME/../","scopes":["records:read"],"ttl_seconds":60}"#),
            "CANARYNAME",
            400,
            "invalid_token_name",
        ),
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
        let mut b = h.request(c.method.clone(), &c.uri);
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
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "short", "scopes": ["records:read"], "ttl_seconds": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let created: api::CreatedToken = serde_json::from_slice(&r.body).unwrap();
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
        .call(
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
        .call(
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
    let (_, secret) = h
        .vault
        .create_token(
            &RequestMeta::default(),
            &Principal::local_operator(),
            "ro",
            &[Scope::RecordsRead],
            time::Duration::hours(1),
        )
        .await
        .unwrap();
    let r = h
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/audit/verify")
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", secret.expose_secret()),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
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
        .call(
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
                .header("x-purpose-of-use", "TREAT")
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
    let r = h.call(Method::GET, "/v1/tokens", None).await;
    let tokens: api::TokenList = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tokens.items.len(), 1);
    assert!(!r.text().contains(&h.token));
    let r = h.call(Method::POST, "/v1/audit/verify", None).await;
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
