//! Authentication: one fixed 401 for every missing or bad token, revoked and expired
//! tokens, missing scopes, and every login failure as the same audited 401.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use phivault_api as api;
use serde_json::json;

use crate::common::*;

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
                "owner": "test-app", "name": "short", "roles": ["records-all"], "ttl_seconds": 60
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created: api::CreatedToken = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(created.token.roles, vec!["records-all".to_owned()]);
    assert_eq!(created.token.name, "short");
    assert!(created.token.last_used_at.is_none());
    // a token cannot carry a role its service account does not hold
    let r = h
        .call_as(
            &h.admin,
            Method::POST,
            "/v1/tokens",
            Some(json!({"owner": "test-app", "name": "x", "roles": ["admin"], "ttl_seconds": 60})),
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
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem().code, "not_a_session");
}
