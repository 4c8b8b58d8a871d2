//! OpenAPI conformance, property-based: the test reads the document the server serves and
//! drives every operation in it through the router with requests generated from the
//! document's own schemas (proptest strategies from `schema_gen`). A request the schemas
//! accept must be answered 2xx or with a status the operation declares (its business
//! rules: 404, 409, 410, 412, 422, 428); a request that breaks one parameter or the body
//! must be refused with a 4xx; nothing may answer 5xx or fail to answer (a panic in a
//! handler fails the test). Bounded: `PHIVAULT_CONFORMANCE_CASES` valid and invalid
//! requests per operation (default 12 each), from a fixed seed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{Method, Request, header};
use phivault_core::{DataAction, Grant, PurposeOfUse, Role, SubjectScope};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, Harness, harness, login, meta, op, totp_now};
use crate::schema_gen::Doc;

/// Valid and invalid requests per operation, unless `PHIVAULT_CONFORMANCE_CASES` says.
const DEFAULT_CASES: usize = 12;

/// One parameter of an operation.
struct Param {
    name: String,
    location: String,
    required: bool,
    schema: Value,
}

/// One operation of the document.
struct Op {
    method: Method,
    path: String,
    params: Vec<Param>,
    body: Option<(Value, bool)>,
    declared: BTreeSet<u16>,
}

impl Op {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (m, op) in item.as_object().expect("path item") {
            let method = match m.as_str() {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Param {
                    name: p["name"].as_str().unwrap_or_default().to_owned(),
                    location: p["in"].as_str().unwrap_or_default().to_owned(),
                    required: p["required"].as_bool().unwrap_or(false),
                    schema: p["schema"].clone(),
                })
                .collect();
            let body = op["requestBody"]["content"]["application/json"]["schema"]
                .is_object()
                .then(|| {
                    (
                        op["requestBody"]["content"]["application/json"]["schema"].clone(),
                        op["requestBody"]["required"].as_bool().unwrap_or(false),
                    )
                });
            let declared = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.parse().ok())
                .collect();
            ops.push(Op {
                method,
                path: path.clone(),
                params,
                body,
                declared,
            });
        }
    }
    ops
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A parameter value as it is written in a URL or header.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A generated request.
#[derive(Debug)]
struct Case {
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

/// What to break in an invalid case.
#[derive(Debug, Clone)]
enum Break {
    Param(usize, Value),
    DropParam(usize),
    Body(Value),
}

struct Gen<'a> {
    doc: Doc<'a>,
    runner: TestRunner,
    known: Vec<(&'static str, String)>,
}

impl Gen<'_> {
    fn sample<S: Strategy>(&mut self, s: S) -> S::Value {
        s.new_tree(&mut self.runner)
            .expect("a strategy that generates")
            .current()
    }

    /// A valid value for a parameter: sometimes a value that names something that exists.
    fn param_value(&mut self, p: &Param) -> Value {
        let generated = self.doc.valid(&p.schema);
        let known: Vec<Value> = self
            .known
            .iter()
            .filter(|(n, _)| *n == p.name)
            .map(|(_, v)| json!(v))
            .collect();
        if known.is_empty() || p.location != "path" {
            return self.sample(generated);
        }
        let s = proptest::prop_oneof![generated, proptest::sample::select(known)];
        self.sample(s)
    }

    fn case(&mut self, op: &Op, broken: Option<&Break>) -> Case {
        let mut path = op.path.clone();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for (i, p) in op.params.iter().enumerate() {
            let value = match broken {
                Some(Break::Param(j, v)) if *j == i => Some(v.clone()),
                Some(Break::DropParam(j)) if *j == i => None,
                _ if p.required || p.location == "path" => Some(self.param_value(p)),
                _ => {
                    let include = self.sample(proptest::bool::ANY);
                    include.then(|| self.param_value(p))
                }
            };
            let Some(value) = value else { continue };
            match p.location.as_str() {
                "path" => path = path.replace(&format!("{{{}}}", p.name), &encode(&text(&value))),
                "query" => query.push(format!("{}={}", encode(&p.name), encode(&text(&value)))),
                "header" => headers.push((p.name.clone(), text(&value))),
                _ => {}
            }
        }
        let body = match (broken, &op.body) {
            (Some(Break::Body(v)), _) => Some(v.clone()),
            (_, Some((schema, required))) => {
                let present = *required || self.sample(proptest::bool::ANY);
                present.then(|| self.sample(self.doc.valid(schema)))
            }
            (_, None) => None,
        };
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        Case { uri, headers, body }
    }

    /// Something to break in `op`, if the document constrains anything there.
    fn breakage(&mut self, op: &Op) -> Option<Break> {
        let mut options: Vec<Break> = Vec::new();
        for (i, p) in op.params.iter().enumerate() {
            if let Some(s) = self.doc.invalid_text(&p.schema) {
                let v = self.sample(s);
                options.push(Break::Param(i, v));
            }
            if p.required && p.location != "path" {
                options.push(Break::DropParam(i));
            }
        }
        if let Some((schema, _)) = &op.body {
            if let Some(s) = self.doc.invalid(schema) {
                options.push(Break::Body(self.sample(s)));
            }
            options.push(Break::Body(json!([])));
        }
        if options.is_empty() {
            return None;
        }
        let pick = self.sample(0..options.len());
        Some(options.swap_remove(pick))
    }
}

async fn send(h: &Harness, op: &Op, token: &str, case: &Case) -> (u16, String) {
    let mut b = Request::builder()
        .method(op.method.clone())
        .uri(&case.uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (k, v) in &case.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let req = match &case.body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(v).expect("json"))),
        None => b.body(Body::empty()),
    }
    .expect("request");
    let r = h.raw(req).await;
    (r.status.as_u16(), r.text())
}

/// A person holding administration, the audit log, individuals' rights and every record
/// for every purpose (with the admin-and-PHI exception, as the development token has),
/// logged in just now: the one caller that may do everything, step-up included.
async fn all_powerful_session(h: &Harness) -> String {
    let role = Role {
        name: "conformance-all".to_owned(),
        description: "Every record, every purpose, for the conformance test.".to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: DataAction::ALL.into_iter().collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: PurposeOfUse::ALL.into_iter().collect(),
        }],
    };
    h.tv.vault.put_role(&meta(), &op(), role).await.unwrap();
    let roles = [
        "admin",
        "auditor",
        "privacy_officer",
        "researcher",
        "breakglass",
        "conformance-all",
    ]
    .map(str::to_owned);
    let (_, enrollment) =
        h.tv.vault
            .create_user(
                &meta(),
                &op(),
                "conformance.operator",
                ADMIN_PASSWORD,
                &roles,
                true,
            )
            .await
            .unwrap();
    let code = totp_now(h, enrollment.otpauth_uri.as_str());
    let r = login(h, "conformance.operator", ADMIN_PASSWORD, Some(&code)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["session_token"].as_str().unwrap().to_owned()
}

fn cases() -> usize {
    std::env::var("PHIVAULT_CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_accepts_what_its_schema_allows_and_refuses_what_it_does_not() {
    let h = harness().await;
    h.create_patients().await;
    let created = h
        .call(
            Method::POST,
            "/v1/collections/patients/records",
            Some(json!({"subject": "subj-1", "data": {"name": "Ada Synthetic"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let record_id = created.json()["id"].as_str().unwrap().to_owned();
    let session = all_powerful_session(&h).await;

    let served = h.call(Method::GET, "/v1/openapi.json", None).await;
    let doc: Value = serde_json::from_slice(&served.body).expect("the served document");
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "only {} operations", ops.len());

    let config = Config {
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut g = Gen {
        doc: Doc(&doc),
        runner: TestRunner::new_with_rng(config, rng),
        known: vec![
            ("name", "patients".to_owned()),
            ("collection", "patients".to_owned()),
            ("subject", "subj-1".to_owned()),
            ("id", record_id),
        ],
    };
    let n = cases();
    let mut failures = Vec::new();
    let mut counts = (0usize, 0usize);
    for op in &ops {
        // Logging out ends the session the other requests use; it runs last, below.
        if op.path == "/v1/auth/logout" {
            continue;
        }
        for _ in 0..n {
            let case = g.case(op, None);
            let (status, body) = send(&h, op, &session, &case).await;
            counts.0 += 1;
            let ok = (200..300).contains(&status) || op.declared.contains(&status);
            if !ok || status >= 500 {
                failures.push(format!(
                    "valid {} -> {status}: {case:?}\n  {body}",
                    op.label()
                ));
            }
        }
        for _ in 0..n {
            let Some(broken) = g.breakage(op) else { break };
            let case = g.case(op, Some(&broken));
            let (status, body) = send(&h, op, &session, &case).await;
            counts.1 += 1;
            if !(400..500).contains(&status) {
                failures.push(format!(
                    "invalid {} ({broken:?}) -> {status}: {case:?}\n  {body}",
                    op.label()
                ));
            }
        }
    }
    let logout = ops
        .iter()
        .find(|o| o.path == "/v1/auth/logout")
        .expect("logout");
    let (status, body) = send(&h, logout, &session, &g.case(logout, None)).await;
    assert!(
        (200..300).contains(&status) || logout.declared.contains(&status),
        "logout -> {status}: {body}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} valid and {} invalid requests broke the contract:\n{}",
        failures.len(),
        counts.0,
        counts.1,
        failures.join("\n")
    );
}
