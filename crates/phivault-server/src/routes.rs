//! The route table: every path and method the API serves, each to its handler, and the
//! one function that assembles the router with its fallbacks and edge middleware. The
//! OpenAPI document is checked against this table by test, so a route cannot be served
//! without being documented.

use axum::Router;
use axum::http::header;
use axum::routing::{MethodRouter, delete, get, post, put};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::edge;
use crate::handlers::{
    audit, auth, break_glass, collections, compliance, health, privacy_requests, privacy_subject,
    records, research, retention, roles, tokens, users,
};
use crate::limits;
use crate::state::AppState;

/// The application router: every route of the API, the audited 404/405 fallbacks, and
/// the edge middleware. It can be driven without a socket (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    let mut r = Router::new();
    for (path, method_router) in table() {
        r = r.route(path, method_router);
    }
    r.fallback(health::unmatched)
        // must follow the routes: it is installed on each route registered so far
        .method_not_allowed_fallback(health::method_not_allowed)
        .with_state(state.clone())
        // inside the edge, so a 429 carries the request id and the security headers
        .layer(axum::middleware::from_fn_with_state(
            state,
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn(edge::edge))
        // outermost, so every later layer and log sees the header marked sensitive
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
}

/// Every path the router serves, in table order (the methods are found by probing).
pub fn route_paths() -> Vec<&'static str> {
    table().into_iter().map(|(path, _)| path).collect()
}

fn table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        // Probes and the API description carry no PHI and need no token; they are not
        // audited because orchestrators poll them every few seconds and would flood the log.
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(health::metrics)),
        ("/v1/openapi.json", get(health::openapi_json)),
        (
            "/v1/collections",
            post(collections::create_collection).get(collections::list_collections),
        ),
        ("/v1/collections/{name}", get(collections::get_collection)),
        (
            "/v1/collections/{name}/records",
            post(records::create_record),
        ),
        (
            "/v1/collections/{name}/records/{id}",
            get(records::get_record)
                .put(records::update_record)
                .patch(records::patch_record)
                .delete(records::delete_record),
        ),
        (
            "/v1/collections/{name}/records/{id}/versions",
            get(records::record_history),
        ),
        (
            "/v1/collections/{name}/records/{id}/versions/{version}",
            get(records::get_record_version),
        ),
        ("/v1/collections/{name}/search", post(records::search)),
        (
            "/v1/subjects/{subject}/records",
            get(records::list_subject_records),
        ),
        (
            "/v1/subjects/{subject}/access-requests",
            post(privacy_requests::open_access_request),
        ),
        (
            "/v1/subjects/{subject}/amendments",
            post(privacy_requests::open_amendment),
        ),
        (
            "/v1/subjects/{subject}/disclosures",
            post(privacy_subject::record_disclosure).get(privacy_subject::accounting),
        ),
        (
            "/v1/subjects/{subject}/restrictions",
            post(privacy_subject::add_restriction),
        ),
        (
            "/v1/subjects/{subject}/confidential-communications",
            post(privacy_subject::add_confidential_communication),
        ),
        (
            "/v1/subjects/{subject}/legal-holds",
            post(privacy_subject::add_legal_hold),
        ),
        (
            "/v1/subjects/{subject}/export",
            get(privacy_subject::export),
        ),
        ("/v1/subjects/{subject}/erase", post(privacy_subject::erase)),
        ("/v1/privacy/items", get(privacy_requests::list_items)),
        ("/v1/privacy/items/{id}", get(privacy_requests::get_item)),
        (
            "/v1/privacy/items/{id}/extend",
            post(privacy_requests::extend),
        ),
        (
            "/v1/privacy/items/{id}/complete",
            post(privacy_requests::complete),
        ),
        (
            "/v1/privacy/items/{id}/accept",
            post(privacy_requests::accept),
        ),
        ("/v1/privacy/items/{id}/deny", post(privacy_requests::deny)),
        (
            "/v1/privacy/items/{id}/disagreement",
            post(privacy_requests::disagreement),
        ),
        ("/v1/privacy/items/{id}/end", post(privacy_requests::end)),
        (
            "/v1/collections/{name}/retention",
            put(retention::set_retention),
        ),
        ("/v1/retention", get(retention::list_retention)),
        ("/v1/retention/run", post(retention::run_retention)),
        (
            "/v1/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        ),
        ("/v1/tokens/{id}", delete(tokens::revoke_token)),
        ("/v1/tokens/{id}/rotate", post(tokens::rotate_token)),
        ("/v1/auth/login", post(auth::login)),
        ("/v1/auth/logout", post(auth::logout)),
        ("/v1/users", get(users::list_users).post(users::create_user)),
        ("/v1/users/{username}/disable", post(users::disable_user)),
        ("/v1/users/{username}/enable", post(users::enable_user)),
        (
            "/v1/users/{username}/reset-password",
            post(users::reset_password),
        ),
        ("/v1/users/{username}/roles", put(users::set_user_roles)),
        (
            "/v1/users/{username}/revoke-sessions",
            post(users::revoke_sessions),
        ),
        ("/v1/service-accounts", post(users::create_service_account)),
        ("/v1/roles", get(roles::list_roles)),
        ("/v1/roles/{name}", put(roles::put_role)),
        (
            "/v1/care-relationships",
            post(users::assign_subject).delete(users::unassign_subject),
        ),
        (
            "/v1/break-glass",
            post(break_glass::open_break_glass).get(break_glass::list_break_glass),
        ),
        (
            "/v1/break-glass/{id}/review",
            post(break_glass::review_break_glass),
        ),
        ("/v1/compliance/gaps", get(compliance::compliance_gaps)),
        ("/v1/audit/verify", post(audit::verify_audit)),
        ("/v1/audit/tree-head", get(audit::tree_head)),
        ("/v1/audit/proof/inclusion", get(audit::inclusion)),
        ("/v1/audit/proof/consistency", get(audit::consistency)),
        ("/v1/audit/events", get(audit::events)),
        ("/v1/audit/export", get(audit::export)),
        ("/v1/research/{collection}/export", post(research::export)),
        (
            "/v1/research/{collection}/aggregate",
            post(research::aggregate),
        ),
    ]
}
