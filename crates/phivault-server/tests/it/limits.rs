//! Rate limits (per token, per source address, logins per address) and per-route body
//! limits: each refusal is a 429 (or 413) problem document, audited once per window, and
//! the server keeps answering every other client.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use phivault_server::{Rate, RateLimits};
use serde_json::json;

use crate::common::*;

/// A harness whose router enforces `limits`.
async fn limited(limits: RateLimits) -> Harness {
    let mut h = harness().await;
    h.router = phivault_server::router(h.tv.state.clone().with_rate_limits(&limits));
    h
}

/// `req` as if sent from `ip`.
fn from(ip: [u8; 4], mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(IpAddr::from(ip), 40000)));
    req
}

fn get_as(token: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn login_req(username: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::to_vec(&json!({"username": username, "password": "wrong-password-1"}))
                .unwrap(),
        ))
        .unwrap()
}

/// Asserts a 429 problem document with a whole-second `Retry-After` of at least 1.
fn assert_limited(r: &Reply) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let p = r.problem();
    assert_eq!(p.code, "rate_limited");
    assert_eq!(p.status, 429);
    assert_security_headers(r);
    let after: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= 1, "{after}");
    after
}

async fn rate_limited_events(h: &Harness) -> Vec<phivault_core::audit::AuditEvent> {
    h.audit()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action == "http.rate_limited")
        .collect()
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after_audited_once_and_others_are_answered() {
    let h = limited(RateLimits {
        per_token: Rate::per_minute(1, 3),
        ..RateLimits::off()
    })
    .await;
    for _ in 0..3 {
        let r = h.raw(get_as(&h.admin, "/v1/collections")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let mut waits = Vec::new();
    for _ in 0..5 {
        waits.push(assert_limited(
            &h.raw(get_as(&h.admin, "/v1/collections")).await,
        ));
    }
    // one token's bucket takes nothing from another's
    let r = h.raw(get_as(&h.token, "/v1/subjects/subj-1/records")).await;
    assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    // five refusals, one audit event, naming neither the token nor its hash
    let events = rate_limited_events(&h).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason.as_deref(), Some("rate_limited"));
    let text = serde_json::to_string(&events[0]).unwrap();
    assert!(!text.contains(&h.admin), "the token reached the audit log");
    // one request a minute: the next is earned within the minute
    assert!(waits.iter().all(|w| (1..=60).contains(w)), "{waits:?}");
}

#[tokio::test]
async fn an_address_over_its_rate_gets_429_and_other_addresses_are_answered() {
    let h = limited(RateLimits {
        per_address: Rate::per_minute(1, 2),
        ..RateLimits::off()
    })
    .await;
    for _ in 0..2 {
        let r = h
            .raw(from([192, 0, 2, 1], get_as(&h.admin, "/v1/collections")))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // the address is limited whatever the token, and with none
    assert_limited(
        &h.raw(from([192, 0, 2, 1], get_as(&h.token, "/v1/collections")))
            .await,
    );
    let probe = Request::builder()
        .uri("/healthz")
        .body(Body::empty())
        .unwrap();
    assert_limited(&h.raw(from([192, 0, 2, 1], probe)).await);
    let r = h
        .raw(from([192, 0, 2, 2], get_as(&h.admin, "/v1/collections")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = rate_limited_events(&h).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].source.as_deref(), Some("192.0.2.1"));
}

#[tokio::test]
async fn logins_are_throttled_per_address_across_usernames() {
    let h = limited(RateLimits {
        login_per_address: Rate::per_minute(1, 2),
        ..RateLimits::off()
    })
    .await;
    // two guesses from one address are answered (and fail) ...
    for name in ["alice", "bob"] {
        let r = h.raw(from([198, 51, 100, 7], login_req(name))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // ... the third is refused before any password is checked, whatever the name
    let before = h.audit_count().await;
    assert_limited(&h.raw(from([198, 51, 100, 7], login_req("carol"))).await);
    assert_limited(&h.raw(from([198, 51, 100, 7], login_req("dave"))).await);
    let after: Vec<_> = h.audit().await.split_off(before);
    assert_eq!(after.len(), 1, "one event for two refusals");
    assert_eq!(after[0].event().unwrap().action, "http.rate_limited");
    // other addresses still log in (and fail on the password), other routes still answer
    let r = h.raw(from([198, 51, 100, 8], login_req("carol"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .raw(from([198, 51, 100, 7], get_as(&h.admin, "/v1/collections")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn limits_are_off_by_default_in_the_library() {
    let h = harness().await;
    for _ in 0..50 {
        let r = h.raw(from([192, 0, 2, 9], login_req("alice"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn login_has_a_small_body_limit_while_records_keep_the_configured_one() {
    let h = harness().await;
    h.create_patients().await;
    let padding = "x".repeat(phivault_server::SMALL_BODY_LIMIT);
    let big_login = json!({"username": "alice", "password": padding});
    let r = h
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&big_login).unwrap()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.problem().code, "body_too_large");
    // a record body of the same size is under the configured 64 KiB and is stored
    let notes: Vec<String> = (0..20)
        .map(|i| format!("Synthetic note {i} {}", "y".repeat(900)))
        .collect();
    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-big", "data": {"name": "Synthetic Big", "notes": notes}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}
