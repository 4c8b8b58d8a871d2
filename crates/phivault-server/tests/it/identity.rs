//! Identity and access over HTTP: users, roles, service accounts and tokens (with
//! step-up), care relationships and break-glass with its review.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use phivault_api as api;
use serde_json::json;

use crate::common::*;

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
            Some(json!({"username": "eve.both", "password": "amber-tunnel-figure-61", "roles": ["admin", "records-all"]})),
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
    // a business rule (the password policy), not a malformed request
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let r = h.call_as(&session, Method::GET, "/v1/users", None).await;
    let users: api::UserList = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = users.items.iter().map(|u| u.username.as_str()).collect();
    for n in ["alice.admin", "bob.clin", "test-app", "test-admin"] {
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
    assert!(names.contains(&"records-all") && names.contains(&"billing-lite"));
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
    h.tv.clock.advance(time::Duration::seconds(6 * 60));
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
    let clin =
        h.tv.named_token(
            "svc-clin",
            &["clinician", "breakglass"],
            time::Duration::seconds(86_400),
        )
        .await;
    let read = |purpose: &'static str, path: String| {
        let req = h
            .request_as(&clin, Method::GET, &path)
            .header("x-purpose-of-use", purpose)
            .body(Body::empty())
            .unwrap();
        h.raw(req)
    };
    // out of reach answers like a missing record: no confirmation that it exists
    assert_eq!(
        read("TREAT", records[0].clone()).await.status,
        StatusCode::NOT_FOUND
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
        StatusCode::NOT_FOUND
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
        StatusCode::NOT_FOUND
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
        time::Duration::seconds(3_600)
    );
    assert!(!format!("{episode:?}").contains("Unresponsive"));
    assert_eq!(
        read("ETREAT", records[1].clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        read("TREAT", records[1].clone()).await.status,
        StatusCode::NOT_FOUND
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
