//! Tidy checks on the crate's layout: handlers answer with `phivault-api` types only (no
//! ad-hoc JSON), every route the router serves is in the OpenAPI document and nothing
//! else is, and the default problem response is declared once, for every API operation.

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use phivault_server::ApiDoc;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::OpenApi;

use crate::common::harness;

fn handler_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/handlers");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    }
    assert!(out.len() >= 10, "handlers not found in {dir:?}");
    out
}

/// Answers are wire types built in `convert/`: a handler that builds JSON by hand or
/// answers with an untyped value would bring back a second serialisation of an object.
#[test]
fn handlers_answer_with_wire_types_only() {
    let banned = [
        "json!",
        "Json<Value>",
        "Json<serde_json::Value>",
        "serde_json::Value",
        "use serde_json",
        "to_json()",
    ];
    for (name, text) in handler_sources() {
        for (n, line) in text.lines().enumerate() {
            // the OpenAPI document is the one JSON a handler serves as it is
            if line.contains("ApiDoc::openapi()") {
                continue;
            }
            for b in banned {
                assert!(
                    !line.contains(b),
                    "src/handlers/{name}:{} uses `{b}`",
                    n + 1
                );
            }
        }
        // one file per resource, none past the size where it stops doing one job
        assert!(
            text.lines().count() <= 600,
            "src/handlers/{name} is too long"
        );
    }
}

/// The edge's own refusals name a wire `ErrorCode` (through `bad_request`), never a
/// literal: a literal code could be missing from the enum the OpenAPI document lists.
#[test]
fn handlers_refuse_with_wire_error_codes_only() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = handler_sources();
    sources.push((
        "../call.rs".to_owned(),
        std::fs::read_to_string(dir.join("call.rs")).unwrap(),
    ));
    for (name, text) in sources {
        for (n, line) in text.lines().enumerate() {
            for b in [
                "BadRequest(\"",
                "Conflict(\"",
                "InvalidSchema(\"",
                "codes::",
            ] {
                assert!(
                    !line.contains(b),
                    "src/handlers/{name}:{} builds an error code from text (`{b}`)",
                    n + 1
                );
            }
        }
    }
}

/// The default problem response is added once, by the document's modifier.
#[test]
fn no_handler_declares_the_default_response_itself() {
    for (name, text) in handler_sources() {
        assert!(
            !text.contains("status = \"default\""),
            "src/handlers/{name} declares the default response; the OpenAPI modifier adds it"
        );
    }
}

fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap()
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Every documented (method, path), for the matrix.
pub(crate) fn documented_operations() -> BTreeSet<(String, String)> {
    operations(&document())
}

#[test]
fn every_api_operation_declares_the_problem_default() {
    let doc = document();
    let mut with_default = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tags = op["tags"].to_string();
            let exempt = tags.contains("\"health\"") || tags.contains("\"meta\"");
            let default = &op["responses"]["default"];
            if exempt {
                continue;
            }
            assert_eq!(
                default["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path}"
            );
            with_default += 1;
        }
    }
    assert!(with_default >= 61, "{with_default}");
}

/// Every (method, path) the router serves must be in the document and vice versa. The
/// router is probed without a token: a served route answers 200 or 401, anything else
/// reaches the 405 fallback.
#[tokio::test]
async fn document_lists_every_route_the_router_serves() {
    let h = harness().await;
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);

    let mut served = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for path in phivault_server::route_paths() {
        paths.insert(path.to_owned());
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for m in [
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
        ] {
            let res = h
                .router
                .clone()
                .oneshot(
                    Request::builder()
                        .method(m.clone())
                        .uri(&concrete)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            match res.status() {
                StatusCode::METHOD_NOT_ALLOWED => {}
                StatusCode::OK | StatusCode::UNAUTHORIZED => {
                    served.insert((m.to_string(), path.to_owned()));
                }
                // login needs no token: without a body it stops at the media type
                StatusCode::UNSUPPORTED_MEDIA_TYPE if path == "/v1/auth/login" => {
                    served.insert((m.to_string(), path.to_owned()));
                }
                other => panic!("{m} {concrete}: unexpected {other}"),
            }
        }
    }
    let doc_paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(paths, doc_paths, "router paths vs documented paths");
    assert_eq!(
        served, documented,
        "served operations vs documented operations"
    );

    // every operation but the probes, the document and login requires the bearer token
    let open = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
        "/v1/auth/login",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let security = op.get("security").or(doc.get("security")).unwrap();
            let needs_token = security.to_string().contains("bearer");
            assert_eq!(
                needs_token,
                !open.contains(&path.as_str()),
                "{method} {path}"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // the audit answers are typed in the document, not free-form JSON
    for (path, schema) in [
        ("/v1/audit/tree-head", "TreeHead"),
        ("/v1/audit/proof/inclusion", "InclusionProof"),
        ("/v1/audit/proof/consistency", "ConsistencyProof"),
        ("/v1/audit/events", "AuditEventPage"),
    ] {
        assert_eq!(
            doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/{schema}"),
            "{path}"
        );
    }
}

/// The action a handler audits under is the core's `AuditAction` (the type of
/// `Call::begin`), never a string: every call that starts a handler names an enum variant,
/// and every variant named exists in the core's list of actions.
#[test]
fn handlers_audit_under_the_cores_action_names() {
    let mut named = 0;
    for (name, src) in handler_sources() {
        let flat: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
        for call in [".begin(", ".anonymous("] {
            for (i, _) in flat.match_indices(call) {
                let args = &flat[i + call.len()..];
                let args = &args[..args.find(')').unwrap_or(args.len())];
                let action = args.split(',').nth(1).unwrap_or("").trim();
                assert!(
                    action.starts_with("AuditAction::"),
                    "{name}: `{call}` without an AuditAction variant: `{args}`"
                );
                let variant = &action["AuditAction::".len()..];
                assert!(
                    phivault_core::AuditAction::ALL
                        .iter()
                        .any(|a| format!("{a:?}") == variant),
                    "{name}: unknown action {variant}"
                );
                named += 1;
            }
        }
    }
    assert!(named >= 50, "only {named} handler calls found");
}

/// Time constructors that panic on overflow, banned in the edge crates' clippy.toml
/// (`time::Duration` is an alias of `time::SignedDuration`, the path clippy resolves).
const PANICKING_TIME_CONSTRUCTORS: [&str; 6] = [
    "time::SignedDuration::minutes",
    "time::SignedDuration::hours",
    "time::SignedDuration::days",
    "time::SignedDuration::weeks",
    "time::SignedDuration::seconds_f64",
    "time::SignedDuration::seconds_f32",
];

/// The `path = "…"` entries of a clippy.toml's `disallowed-methods`.
fn disallowed_paths(toml: &str) -> BTreeSet<String> {
    toml.lines()
        .filter_map(|l| l.split("path = \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Numbers from requests never panic the server: the edge crates (which parse every
/// request) deny `clippy::arithmetic_side_effects` in their roots and ban the panicking
/// `time` constructors in their own clippy.toml, which must also keep every workspace rule
/// (clippy reads only the nearest clippy.toml, so a crate file replaces the workspace's).
#[test]
fn the_edge_cannot_do_unchecked_arithmetic_on_request_numbers() {
    let server = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = server.join("../..");
    let workspace = disallowed_paths(&std::fs::read_to_string(root.join("clippy.toml")).unwrap());
    assert!(
        workspace.contains("time::OffsetDateTime::now_utc"),
        "{workspace:?}"
    );
    let mut files = Vec::new();
    for krate in ["phivault-server", "phivault-api"] {
        let dir = root.join("crates").join(krate);
        let toml = std::fs::read_to_string(dir.join("clippy.toml"))
            .unwrap_or_else(|_| panic!("{krate}/clippy.toml is missing"));
        let paths = disallowed_paths(&toml);
        for p in workspace
            .iter()
            .map(String::as_str)
            .chain(PANICKING_TIME_CONSTRUCTORS)
        {
            assert!(paths.contains(p), "{krate}/clippy.toml does not ban {p}");
        }
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("#![deny(clippy::arithmetic_side_effects)]"),
            "{krate}/src/lib.rs must deny clippy::arithmetic_side_effects"
        );
        files.push(toml);
    }
    assert_eq!(
        files[0], files[1],
        "the edge crates' clippy.toml files differ"
    );
}
