//! The phivault HTTP/TLS edge: the axum router (authentication, body parsing, one vault
//! call per handler, errors as RFC 9457 problem documents, security headers, per-request
//! tracing), the OpenAPI document, and the TLS accept loop. Only this crate knows HTTP.
#![forbid(unsafe_code)]

mod audit_routes;
mod call;
mod convert;
mod edge;
mod error;
mod identity_routes;
mod openapi;
mod privacy_routes;
mod research_routes;
mod routes;
mod state;
mod tls;

use axum::Router;
use axum::http::header;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

pub use error::ServerError;
pub use openapi::ApiDoc;
pub use state::{AppState, DEFAULT_BODY_LIMIT, MetricsRenderer, Readiness};
pub use tls::{crypto_provider, serve, tls_config};

/// The application router: every route of the API, the audited 404/405 fallbacks, and
/// the edge middleware. It can be driven without a socket (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for (path, method_router) in routes::routes() {
        r = r.route(path, method_router);
    }
    r.fallback(routes::unmatched)
        // must follow the routes: it is installed on each route registered so far
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(edge::edge))
        // outermost, so every later layer and log sees the header marked sensitive
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}
