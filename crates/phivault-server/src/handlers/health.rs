//! The probes (`/healthz`, `/readyz`, `/metrics`), the OpenAPI document, and the audited
//! fallbacks for unknown routes and methods. Probes carry no PHI and need no token.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use phivault_api::ErrorCode;
use phivault_api::{HealthStatus, Problem};
use phivault_core::{AuditAction, VaultError};
use utoipa::OpenApi;

use crate::call::Ctx;
use crate::error::{ApiError, bad_request, problem_response};
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// Liveness: the process is up and answering HTTP.
#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
pub(crate) async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".to_owned(),
    })
}

/// Prometheus metrics: request counts and latencies, audit sink lag, backup age. Counts
/// only, never ids or values, so it needs no token and is not audited, like the probes.
#[utoipa::path(
    get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Readiness: the server is not shutting down and its store answers a trivial read.
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>, ctx: Ctx) -> Response {
    let not_ready = |code: ErrorCode| {
        problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "The server is not ready to serve requests.".to_owned(),
            code,
            ctx.request_id(),
            None,
        )
    };
    if !state.ready.is_ready() {
        return not_ready(ErrorCode::NotReady);
    }
    let probe = state
        .vault
        .store()
        .read(Box::new(|tx| {
            tx.get_meta(phivault_core::store::META_VAULT_ID).map(|_| ())
        }))
        .await;
    let degraded = state.ready.degraded();
    match probe {
        Ok(()) if degraded.is_empty() => healthz().await.into_response(),
        Ok(()) => {
            // Still serving (auditing never waits for a sink), but say what lags.
            let detail = degraded.join("; ");
            let mut r = Json(HealthStatus {
                status: "degraded".to_owned(),
            })
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&detail) {
                r.headers_mut().insert("phivault-degraded", v);
            }
            r
        }
        Err(e) => {
            tracing::warn!(backend = state.vault.store().backend(), error = %e, "readiness probe failed");
            not_ready(ErrorCode::StorageUnavailable)
        }
    }
}

/// The OpenAPI 3.1 description of this API, generated from the handlers.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response()
}

/// The action recorded for requests that match no route.
pub(crate) const UNMATCHED_ACTION: AuditAction = AuditAction::HttpUnmatched;

/// Unknown routes: 404, audited (probing for endpoints is worth recording).
pub(crate) async fn unmatched(State(state): State<AppState>, ctx: Ctx) -> ApiError {
    ctx.refuse(&state, UNMATCHED_ACTION, VaultError::NotFound("route"))
        .await
}

/// Known routes with an unsupported method: 405 (axum adds `Allow`), audited.
pub(crate) async fn method_not_allowed(State(state): State<AppState>, ctx: Ctx) -> ApiError {
    ctx.refuse(
        &state,
        UNMATCHED_ACTION,
        bad_request(ErrorCode::MethodNotAllowed),
    )
    .await
}
