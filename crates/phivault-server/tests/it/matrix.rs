//! The route × role matrix (`tests/data/route-matrix.csv`): one row per documented
//! (method, path) with the outcome class each caller must get. The test fails if a route
//! of the OpenAPI document (checked against the router in `tidy`) has no row, or a row
//! names a route that does not exist, then drives every row against one vault.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use time::Duration;

use crate::common::{Harness, harness};
use crate::tidy::documented_operations;

/// The callers, in the CSV's column order.
const CALLERS: [&str; 6] = [
    "anonymous",
    "data",
    "admin",
    "auditor",
    "privacy_officer",
    "admin_session",
];

struct Row {
    line: usize,
    method: String,
    path: String,
    uri: String,
    expect: Vec<String>,
    body: Option<String>,
}

fn rows() -> Vec<Row> {
    let text = include_str!("../data/route-matrix.csv");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.splitn(10, ',').collect();
        assert_eq!(fields.len(), 10, "line {}: {line}", i + 1);
        out.push(Row {
            line: i + 1,
            method: fields[0].to_owned(),
            path: fields[1].to_owned(),
            uri: fields[2].to_owned(),
            expect: fields[3..9].iter().map(|s| (*s).to_owned()).collect(),
            body: (fields[9] != "-").then(|| fields[9].to_owned()),
        });
    }
    out
}

fn class(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "401",
        StatusCode::FORBIDDEN => "403",
        _ => "ok",
    }
}

/// One vault, one token per caller, a collection and a record to aim at.
async fn fixture() -> (Harness, Vec<Option<String>>, String) {
    let h = harness().await;
    h.create_patients().await;
    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-m", "data": {"name": "Synthetic Matrix"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let rid = r.json()["id"].as_str().unwrap().to_owned();
    let day = Duration::seconds(86_400);
    let (_, session) = h.tv.logged_in("matrix.admin", &["admin"]).await;
    let tokens = vec![
        None,
        Some(h.token.clone()),
        Some(h.tv.token(&["admin"], day).await),
        Some(h.tv.token(&["auditor"], day).await),
        Some(h.tv.token(&["privacy_officer"], day).await),
        Some(session),
    ];
    (h, tokens, rid)
}

#[test]
fn every_documented_route_has_exactly_one_row() {
    let documented = documented_operations();
    let mut seen = BTreeSet::new();
    for r in rows() {
        let key = (r.method.clone(), r.path.clone());
        assert!(
            documented.contains(&key),
            "line {}: {} {} is not a route",
            r.line,
            r.method,
            r.path
        );
        assert!(seen.insert(key), "line {}: duplicate row", r.line);
    }
    let missing: Vec<_> = documented.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix row: {missing:?}"
    );
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let (h, tokens, rid) = fixture().await;
    let mut wrong = Vec::new();
    for r in rows() {
        let uri = r.uri.replace("{rid}", &rid);
        let body = r.body.as_ref().map(|b| b.replace("{rid}", &rid));
        let mut actual = Vec::new();
        for token in &tokens {
            let mut b = Request::builder()
                .method(Method::from_bytes(r.method.as_bytes()).unwrap())
                .uri(&uri)
                .header("x-purpose-of-use", "TREAT")
                .header(header::IF_MATCH, "\"1\"");
            if let Some(t) = token {
                b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = match &body {
                Some(text) => b
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(text.clone())),
                None => b.body(Body::empty()),
            };
            let reply = h.raw(req.unwrap()).await;
            actual.push(class(reply.status).to_owned());
        }
        if actual != r.expect {
            wrong.push(format!(
                "line {}: {} {} expected {:?} got {:?}",
                r.line, r.method, r.path, r.expect, actual
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "callers {CALLERS:?}:\n{}",
        wrong.join("\n")
    );
}
