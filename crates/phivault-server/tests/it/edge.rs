//! What the edge adds to every answer: request ids, security headers, probes without a
//! token, and audited 404/405 fallbacks.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::common::*;

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
    h.tv.state.ready.set(false);
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

#[tokio::test]
async fn the_served_openapi_document_lists_every_error_code_on_the_problem() {
    let h = harness().await;
    let r = h
        .raw(
            Request::builder()
                .uri("/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Problem"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode",
        "the problem's code names the ErrorCode schema"
    );
    let listed: std::collections::BTreeSet<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is a string enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<&str> = phivault_api::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, expected);
    for code in [
        "not_ready",
        "malformed_json",
        "subject_erased",
        "password_common",
    ] {
        assert!(listed.contains(code), "{code}");
    }
}

#[tokio::test]
async fn html_answers_carry_a_content_security_policy_that_allows_only_their_own_style() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let h = harness().await;
    let officer = h.tv.token(&["privacy_officer"], time::Duration::DAY).await;
    let r = h
        .raw(
            h.request_as(
                &officer,
                Method::GET,
                "/v1/subjects/subj-1/export?format=html",
            )
            .header("x-purpose-of-use", "TREAT")
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let style = phivault_core::privacy::EXPORT_STYLE;
    assert!(
        r.text().contains(&format!("<style>{style}</style>")),
        "the page's one stylesheet is the hashed one"
    );
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert_eq!(
        csp,
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'none'"
        )
    );
    assert_eq!(r.headers[header::REFERRER_POLICY], "no-referrer");
    let permissions = r.headers["permissions-policy"].to_str().unwrap();
    for feature in [
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ] {
        assert!(permissions.contains(feature), "{feature}: {permissions}");
    }
    assert!(!permissions.contains("*") && !permissions.contains("self"));
    assert_security_headers(&r);
    // JSON answers and problem documents carry the same policy
    let r = h.call(Method::GET, "/v1/collections/nope", None).await;
    assert_eq!(r.headers[header::CONTENT_SECURITY_POLICY], csp);
}
