//! The record life cycle over HTTP: ETags, history, versions, search, paging, deletion,
//! and the purpose of use every record operation must state.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use phivault_api as api;
use serde_json::json;

use crate::common::*;

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
    // the testkit's two tokens and the harness's administrator; the unused one has no
    // last use
    assert_eq!(tokens.items.len(), 3);
    let used = tokens.items.iter().filter(|t| t.last_used_at.is_some());
    assert_eq!(used.count(), 2);
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
