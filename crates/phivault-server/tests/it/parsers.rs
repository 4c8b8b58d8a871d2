//! Property tests of the parsers that face the network, driven through the router: the
//! bearer token, the purpose-of-use header, record and search bodies, a merge patch and the
//! audit query string each take arbitrary input. Whatever arrives, the answer is a 2xx or a
//! 4xx problem document, never a 5xx and never a panic (which would drop the connection).

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::common::{Harness, Reply, harness};

const CASES: u32 = 96;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A refusal is a problem document with a code; anything else is a success.
fn well_formed(r: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(r.status.as_u16() < 500, "{} {}", r.status, r.text());
    if r.status.is_client_error() {
        let p = r.problem();
        prop_assert!(!p.code.is_empty());
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("name".to_owned()),
        Just("ssn".to_owned()),
        Just("age".to_owned()),
        Just("field".to_owned()),
        Just("value".to_owned()),
        Just("subject".to_owned()),
        Just("data".to_owned()),
        any::<String>(),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Runs `strategy` through `case` on a runtime of its own (proptest's runner is synchronous).
fn check<S: Strategy>(
    name: &str,
    strategy: S,
    case: impl Fn(&Harness, S::Value) -> std::pin::Pin<Box<dyn Future<Output = Reply> + '_>>,
) where
    S::Value: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(async {
        let h = harness().await;
        h.create_patients().await;
        h
    });
    let result = runner().run(&strategy, |input| {
        let reply = rt.block_on(case(&h, input));
        well_formed(&reply)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

async fn record(h: &Harness) -> String {
    let r = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-prop", "data": {"name": "Synthetic Prop", "age": 40}})),
        )
        .await;
    r.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn any_authorization_header_gets_an_answer() {
    check("authorization", any::<Vec<u8>>(), |h, bytes| {
        Box::pin(async move {
            let mut req = Request::get("/v1/collections").body(Body::empty()).unwrap();
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                req.headers_mut().insert(header::AUTHORIZATION, v);
            }
            h.raw(req).await
        })
    });
}

#[test]
fn any_purpose_of_use_header_gets_an_answer() {
    check("purpose", any::<Vec<u8>>(), |h, bytes| {
        Box::pin(async move {
            let id = record(h).await;
            let mut req = h
                .request_as(
                    &h.token,
                    Method::GET,
                    &format!("/v1/collections/patients/records/{id}"),
                )
                .body(Body::empty())
                .unwrap();
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                req.headers_mut().insert("x-purpose-of-use", v);
            }
            h.raw(req).await
        })
    });
}

#[test]
fn any_record_body_gets_an_answer() {
    check(
        "record body",
        (json_value(), any::<bool>()),
        |h, (data, wrap)| {
            Box::pin(async move {
                let body = if wrap {
                    json!({"subject": "subj-prop", "data": data})
                } else {
                    data
                };
                h.call(Method::POST, "/v1/collections/patients/records", Some(body))
                    .await
            })
        },
    );
}

#[test]
fn any_search_body_gets_an_answer() {
    check("search body", json_value(), |h, body| {
        Box::pin(async move {
            h.call(Method::POST, "/v1/collections/patients/search", Some(body))
                .await
        })
    });
}

#[test]
fn any_merge_patch_gets_an_answer() {
    check("merge patch", json_value(), |h, patch| {
        Box::pin(async move {
            let id = record(h).await;
            let req = h
                .request(
                    Method::PATCH,
                    &format!("/v1/collections/patients/records/{id}"),
                )
                .header(header::IF_MATCH, "\"1\"")
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .body(Body::from(patch.to_string()))
                .unwrap();
            h.raw(req).await
        })
    });
}

#[test]
fn any_body_bytes_get_an_answer() {
    check("body bytes", any::<Vec<u8>>(), |h, bytes| {
        Box::pin(async move {
            h.send_bytes(Method::POST, "/v1/collections/patients/search", bytes)
                .await
        })
    });
}

#[test]
fn any_audit_query_gets_an_answer() {
    let key = prop_oneof![
        Just("actor"),
        Just("subject"),
        Just("action"),
        Just("outcome"),
        Just("purpose"),
        Just("since"),
        Just("until"),
        Just("cursor"),
        Just("limit"),
        Just("format"),
        Just("bogus"),
    ];
    let pairs = prop::collection::vec((key, any::<String>()), 0..5);
    check("audit query", pairs, |h, pairs| {
        Box::pin(async move {
            let query: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let admin = h.admin.clone();
            h.call_as(
                &admin,
                Method::GET,
                &format!("/v1/audit/events?{query}"),
                None,
            )
            .await
        })
    });
}

/// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
