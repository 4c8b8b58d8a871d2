//! Problem documents never echo submitted values, and every refusal is audited under
//! the action of the operation it refused.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

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
            422,
            "field_not_searchable",
        ),
        case(
            "search on an unknown field",
            Method::POST,
            "/v1/collections/patients/search",
            bytes(r#"{"field":"CANARYFIELD","value":1}"#),
            "CANARYFIELD",
            400,
            "invalid_field_name",
        ),
        case(
            "token with scopes instead of roles",
            Method::POST,
            "/v1/tokens",
            bytes(
                r#"{"owner":"test-app","name":"t","scopes":["CANARYSCOPE"],"ttl_seconds":60}"#,
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
                r#"{"owner":"test-app","name":"CANARYNAME/../","roles":["records-all"],"ttl_seconds":60}"#,
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
            422,
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
            422,
            "breakglass_duration_out_of_range",
        ),
        case(
            "role name mismatch",
            Method::PUT,
            "/v1/roles/canary-path",
            bytes(r#"{"name":"canary-body","scopes":[],"grants":[]}"#),
            "canary",
            422,
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
        400,
        "invalid_if_match",
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
