//! The HTTP handlers and the router. Each handler authenticates, parses its inputs and
//! makes one vault call; the `#[utoipa::path]` on each is the source of the OpenAPI
//! document, so the document and the router are written side by side.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use phivault_api as api;
use phivault_api::{HealthStatus, Problem};
use phivault_core::{CollectionName, RecordId, RecordView, SubjectId, TokenId, VaultError};
use serde::Deserialize;
use std::sync::OnceLock;
use utoipa::{IntoParams, OpenApi};

use crate::call::{Call, Ctx, Params};
use crate::convert::{record_to_api, schema_from_api, schema_to_api, token_to_api, verify_to_api};
use crate::error::{ApiError, codes, problem_response};
use crate::identity_routes;
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// The action recorded for requests that match no route.
pub(crate) const UNMATCHED_ACTION: &str = "http.unmatched";

/// The default page size of a subject listing.
const DEFAULT_PAGE: usize = 50;

/// Every route the router serves. The OpenAPI test compares this table with the
/// generated document, so a route cannot be served without being documented.
pub(crate) fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        // Probes and the API description carry no PHI and need no token; they are not
        // audited because orchestrators poll them every few seconds and would flood the log.
        ("/healthz", get(healthz)),
        ("/readyz", get(readyz)),
        ("/metrics", get(metrics)),
        ("/v1/openapi.json", get(openapi_json)),
        (
            "/v1/collections",
            post(create_collection).get(list_collections),
        ),
        ("/v1/collections/{name}", get(get_collection)),
        ("/v1/collections/{name}/records", post(create_record)),
        (
            "/v1/collections/{name}/records/{id}",
            get(get_record).put(update_record).delete(delete_record),
        ),
        (
            "/v1/collections/{name}/records/{id}/versions",
            get(record_history),
        ),
        (
            "/v1/collections/{name}/records/{id}/versions/{version}",
            get(get_record_version),
        ),
        ("/v1/collections/{name}/search", post(search)),
        ("/v1/subjects/{subject}/records", get(list_subject_records)),
        (
            "/v1/subjects/{subject}/access-requests",
            post(crate::privacy_routes::open_access_request),
        ),
        (
            "/v1/subjects/{subject}/amendments",
            post(crate::privacy_routes::open_amendment),
        ),
        (
            "/v1/subjects/{subject}/disclosures",
            post(crate::privacy_routes::record_disclosure).get(crate::privacy_routes::accounting),
        ),
        (
            "/v1/subjects/{subject}/restrictions",
            post(crate::privacy_routes::add_restriction),
        ),
        (
            "/v1/subjects/{subject}/confidential-communications",
            post(crate::privacy_routes::add_confidential_communication),
        ),
        (
            "/v1/subjects/{subject}/legal-holds",
            post(crate::privacy_routes::add_legal_hold),
        ),
        (
            "/v1/subjects/{subject}/export",
            get(crate::privacy_routes::export),
        ),
        (
            "/v1/subjects/{subject}/erase",
            post(crate::privacy_routes::erase),
        ),
        ("/v1/privacy/items", get(crate::privacy_routes::list_items)),
        (
            "/v1/privacy/items/{id}",
            get(crate::privacy_routes::get_item),
        ),
        (
            "/v1/privacy/items/{id}/extend",
            post(crate::privacy_routes::extend),
        ),
        (
            "/v1/privacy/items/{id}/complete",
            post(crate::privacy_routes::complete),
        ),
        (
            "/v1/privacy/items/{id}/accept",
            post(crate::privacy_routes::accept),
        ),
        (
            "/v1/privacy/items/{id}/deny",
            post(crate::privacy_routes::deny),
        ),
        (
            "/v1/privacy/items/{id}/disagreement",
            post(crate::privacy_routes::disagreement),
        ),
        (
            "/v1/privacy/items/{id}/end",
            post(crate::privacy_routes::end),
        ),
        (
            "/v1/collections/{name}/retention",
            put(crate::privacy_routes::set_retention),
        ),
        ("/v1/retention", get(crate::privacy_routes::list_retention)),
        (
            "/v1/retention/run",
            post(crate::privacy_routes::run_retention),
        ),
        ("/v1/tokens", post(create_token).get(list_tokens)),
        ("/v1/tokens/{id}", delete(revoke_token)),
        ("/v1/tokens/{id}/rotate", post(rotate_token)),
        ("/v1/auth/login", post(identity_routes::login)),
        ("/v1/auth/logout", post(identity_routes::logout)),
        (
            "/v1/users",
            get(identity_routes::list_users).post(identity_routes::create_user),
        ),
        (
            "/v1/users/{username}/disable",
            post(identity_routes::disable_user),
        ),
        (
            "/v1/users/{username}/enable",
            post(identity_routes::enable_user),
        ),
        (
            "/v1/users/{username}/reset-password",
            post(identity_routes::reset_password),
        ),
        (
            "/v1/users/{username}/roles",
            put(identity_routes::set_user_roles),
        ),
        (
            "/v1/users/{username}/revoke-sessions",
            post(identity_routes::revoke_sessions),
        ),
        (
            "/v1/service-accounts",
            post(identity_routes::create_service_account),
        ),
        ("/v1/roles", get(identity_routes::list_roles)),
        ("/v1/roles/{name}", put(identity_routes::put_role)),
        (
            "/v1/care-relationships",
            post(identity_routes::assign_subject).delete(identity_routes::unassign_subject),
        ),
        (
            "/v1/break-glass",
            post(identity_routes::open_break_glass).get(identity_routes::list_break_glass),
        ),
        (
            "/v1/break-glass/{id}/review",
            post(identity_routes::review_break_glass),
        ),
        ("/v1/compliance/gaps", get(identity_routes::compliance_gaps)),
        ("/v1/audit/verify", post(verify_audit)),
        ("/v1/audit/tree-head", get(crate::audit_routes::tree_head)),
        (
            "/v1/audit/proof/inclusion",
            get(crate::audit_routes::inclusion),
        ),
        (
            "/v1/audit/proof/consistency",
            get(crate::audit_routes::consistency),
        ),
        ("/v1/audit/events", get(crate::audit_routes::events)),
        ("/v1/audit/export", get(crate::audit_routes::export)),
        (
            "/v1/research/{collection}/export",
            post(crate::research_routes::export),
        ),
        (
            "/v1/research/{collection}/aggregate",
            post(crate::research_routes::aggregate),
        ),
    ]
}

// ----- helpers --------------------------------------------------------------------------

fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

fn record_response(status: StatusCode, view: RecordView, location: bool) -> Response {
    let tag = etag(view.version);
    let path = format!("/v1/collections/{}/records/{}", view.collection, view.id);
    let body = Json(record_to_api(view));
    if location {
        (
            status,
            [(header::ETAG, tag), (header::LOCATION, path)],
            body,
        )
            .into_response()
    } else {
        (status, [(header::ETAG, tag)], body).into_response()
    }
}

fn record_list(views: Vec<RecordView>, next_cursor: Option<String>) -> Json<api::RecordList> {
    Json(api::RecordList {
        items: views.into_iter().map(record_to_api).collect(),
        next_cursor,
    })
}

/// The version named by `If-Match`, if the header is present. Our ETags are always one
/// strong tag `"<version>"`; anything else can never match a version of ours (412), and
/// `*` is refused because updates must name the version they were based on.
async fn if_match(call: &Call, headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().map(str::trim).unwrap_or("");
    if text == "*" {
        return call
            .reject(VaultError::BadRequest(codes::INVALID_IF_MATCH))
            .await;
    }
    match text
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => Ok(Some(n)),
        None => call.reject(VaultError::PreconditionFailed).await,
    }
}

/// Parses `name` and `id` path parameters.
async fn collection_and_id(
    call: &Call,
    params: Params,
) -> Result<(CollectionName, RecordId), ApiError> {
    let [name, id] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let id = call.check(RecordId::parse(&id)).await?;
    Ok((name, id))
}

/// An opaque listing cursor: base64url of `collection/id` of the last record returned.
pub(crate) fn encode_cursor(collection: &str, id: &RecordId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{collection}/{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(CollectionName, RecordId), VaultError> {
    let bad = VaultError::BadRequest(codes::INVALID_CURSOR);
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad)?;
    let text =
        String::from_utf8(bytes).map_err(|_| VaultError::BadRequest(codes::INVALID_CURSOR))?;
    let (c, id) = text
        .split_once('/')
        .ok_or(VaultError::BadRequest(codes::INVALID_CURSOR))?;
    match (CollectionName::parse(c), RecordId::parse(id)) {
        (Ok(c), Ok(id)) => Ok((c, id)),
        _ => Err(VaultError::BadRequest(codes::INVALID_CURSOR)),
    }
}

// ----- probes and the API description ----------------------------------------------------

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
    let not_ready = |code: &str| {
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
        return not_ready(codes::NOT_READY);
    }
    let probe = state
        .vault
        .store()
        .read(Box::new(|tx| tx.get_meta("vault_id").map(|_| ())))
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
            not_ready("storage_unavailable")
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

// ----- collections ----------------------------------------------------------------------

/// Declares a collection and its schema.
#[utoipa::path(
    post, path = "/v1/collections", tag = "collections",
    request_body = api::Collection,
    responses(
        (status = 201, description = "Created", body = api::Collection),
        (status = 409, description = "A collection of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The schema is not acceptable, or a name looks like an identifier (no PHI in metadata)", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "collection.create").await?;
    let body: api::Collection = call.json(req).await?;
    let schema = call.check(schema_from_api(body)).await?;
    let created = call.done(
        call.vault()
            .create_collection(&call.meta, &call.principal, schema)
            .await,
    )?;
    let location = format!("/v1/collections/{}", created.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(schema_to_api(&created)),
    )
        .into_response())
}

/// Lists every collection.
#[utoipa::path(
    get, path = "/v1/collections", tag = "collections",
    responses(
        (status = 200, description = "The collections", body = api::CollectionList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::CollectionList>, ApiError> {
    let call = ctx.begin(&state, "collection.list").await?;
    let list = call.done(
        call.vault()
            .list_collections(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(api::CollectionList {
        items: list.iter().map(schema_to_api).collect(),
        next_cursor: None,
    }))
}

/// One collection's schema.
#[utoipa::path(
    get, path = "/v1/collections/{name}", tag = "collections",
    params(("name" = String, Path, description = "The collection name")),
    responses(
        (status = 200, description = "The collection", body = api::Collection),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::Collection>, ApiError> {
    let call = ctx.begin(&state, "collection.read").await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let schema = call.done(
        call.vault()
            .get_collection(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(schema_to_api(&schema)))
}

// ----- records --------------------------------------------------------------------------

/// Stores a new record for a subject.
#[utoipa::path(
    post, path = "/v1/collections/{name}/records", tag = "records",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::CreateRecordRequest,
    responses(
        (status = 201, description = "Created; `Location` names the record, `ETag` its version", body = api::Record),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The data does not match the schema", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "record.create").await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::CreateRecordRequest = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    let view = call.done(
        call.vault()
            .create_record(&call.meta, &call.principal, &name, &subject, body.data)
            .await,
    )?;
    Ok(record_response(StatusCode::CREATED, view, true))
}

/// The current version of a record; `ETag` carries its version.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "The record", body = api::Record),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The record was deleted", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "record.read").await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let view = call.done(
        call.vault()
            .get_record(&call.meta, &call.principal, &name, id)
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Replaces a record's data; `If-Match` must name its current version.
#[utoipa::path(
    put, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("If-Match" = String, Header, description = "The current ETag, e.g. \"3\""),
    ),
    request_body = api::UpdateRecordRequest,
    responses(
        (status = 200, description = "The new version", body = api::Record),
        (status = 412, description = "The record has changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "record.update").await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let expected = if_match(&call, req.headers()).await?;
    let body: api::UpdateRecordRequest = call.json(req).await?;
    let view = call.done(
        call.vault()
            .update_record(&call.meta, &call.principal, &name, id, expected, body.data)
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Soft-deletes a record (honours `If-Match` when given).
#[utoipa::path(
    delete, path = "/v1/collections/{name}/records/{id}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("If-Match" = Option<String>, Header, description = "The current ETag, e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "Deleted", body = api::DeletedRecord),
        (status = 410, description = "Already deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record has changed", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_record(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    headers: HeaderMap,
) -> Result<Json<api::DeletedRecord>, ApiError> {
    let call = ctx.begin(&state, "record.delete").await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let expected = if_match(&call, &headers).await?;
    let version = call.done(
        call.vault()
            .delete_record(&call.meta, &call.principal, &name, id, expected)
            .await,
    )?;
    Ok(Json(api::DeletedRecord {
        collection: name.to_string(),
        id: id.0,
        version,
    }))
}

/// Every version of a record, oldest first.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}/versions", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "The history", body = api::RecordList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn record_history(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, "record.history").await?;
    let (name, id) = collection_and_id(&call, params).await?;
    let views = call.done(
        call.vault()
            .record_history(&call.meta, &call.principal, &name, id)
            .await,
    )?;
    Ok(record_list(views, None))
}

/// One version of a record.
#[utoipa::path(
    get, path = "/v1/collections/{name}/records/{id}/versions/{version}", tag = "records",
    params(
        ("name" = String, Path, description = "The collection name"),
        ("id" = String, Path, description = "The record id"),
        ("version" = u64, Path, description = "The version number"),
    ),
    responses(
        (status = 200, description = "That version", body = api::Record),
        (status = 404, description = "No such record or version", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_record_version(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "record.read_version").await?;
    let [name, id, version] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let id = call.check(RecordId::parse(&id)).await?;
    let version = match version.parse::<u64>() {
        Ok(v) if v > 0 => v,
        _ => {
            return call
                .reject(VaultError::BadRequest(codes::INVALID_VERSION))
                .await;
        }
    };
    let view = call.done(
        call.vault()
            .get_record_version(&call.meta, &call.principal, &name, id, version)
            .await,
    )?;
    Ok(record_response(StatusCode::OK, view, false))
}

/// Equality search on a searchable field. A POST, so the value never appears in a URL.
#[utoipa::path(
    post, path = "/v1/collections/{name}/search", tag = "records",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::SearchRequest,
    responses(
        (status = 200, description = "The matching records", body = api::RecordList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, "record.search").await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::SearchRequest = call.json(req).await?;
    let views = call.done(
        call.vault()
            .search(&call.meta, &call.principal, &name, &body.field, &body.value)
            .await,
    )?;
    Ok(record_list(views, None))
}

/// The query of a subject listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The most records to return (default 50, at most the server's page limit).
    limit: Option<usize>,
}

/// A subject's live records across collections, in pages.
#[utoipa::path(
    get, path = "/v1/subjects/{subject}/records", tag = "records",
    params(("subject" = String, Path, description = "The subject id"), ListQuery),
    responses(
        (status = 200, description = "A page of records", body = api::RecordList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_subject_records(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    uri: Uri,
) -> Result<Json<api::RecordList>, ApiError> {
    let call = ctx.begin(&state, "subject.list_records").await?;
    let [subject] = call.params(params).await?;
    let subject = call.check(SubjectId::parse(&subject)).await?;
    let Ok(Query(query)) = Query::<ListQuery>::try_from_uri(&uri) else {
        return call
            .reject(VaultError::BadRequest(codes::INVALID_QUERY))
            .await;
    };
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(call.check(decode_cursor(c)).await?),
    };
    let limit = query
        .limit
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, call.vault().config().max_results.max(1));
    let views = call.done(
        call.vault()
            .list_subject_records(&call.meta, &call.principal, &subject, after, limit)
            .await,
    )?;
    let next_cursor = if views.len() >= limit {
        views.last().map(|v| encode_cursor(&v.collection, &v.id))
    } else {
        None
    };
    Ok(record_list(views, next_cursor))
}

// ----- tokens and audit -----------------------------------------------------------------

/// Issues an API token for a service account, with a subset of its roles; the secret is
/// in this answer only.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "tokens",
    request_body = api::CreateTokenRequest,
    responses(
        (status = 201, description = "Created", body = api::CreatedToken),
        (status = 403, description = "Roles exceed the service account's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such service account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A name looks like an identifier (SSN, phone, e-mail, date, long number, …): no PHI in metadata", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "token.create").await?;
    let body: api::CreateTokenRequest = call.json(req).await?;
    let ttl = time::Duration::seconds(body.ttl_seconds);
    let (info, secret) = call.done(
        call.vault()
            .create_token(
                &call.meta,
                &call.principal,
                &body.owner,
                &body.name,
                &body.roles,
                ttl,
            )
            .await,
    )?;
    let created = api::CreatedToken {
        token: token_to_api(info),
        secret: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Replaces a token with a new secret of the same owner, roles and lifetime, and revokes
/// the old one; the new secret is in this answer only.
#[utoipa::path(
    post, path = "/v1/tokens/{id}/rotate", tag = "tokens",
    params(("id" = String, Path, description = "The token id")),
    responses(
        (status = 201, description = "The new token", body = api::CreatedToken),
        (status = 404, description = "No such active token", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn rotate_token(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "token.rotate").await?;
    let [id] = call.params(params).await?;
    let id = call.check(TokenId::parse(&id)).await?;
    let (info, secret) = call.done(
        call.vault()
            .rotate_token(&call.meta, &call.principal, id)
            .await,
    )?;
    let created = api::CreatedToken {
        token: token_to_api(info),
        secret: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Lists every token's public description.
#[utoipa::path(
    get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "The tokens", body = api::TokenList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::TokenList>, ApiError> {
    let call = ctx.begin(&state, "token.list").await?;
    let tokens = call.done(call.vault().list_tokens(&call.meta, &call.principal).await)?;
    Ok(Json(api::TokenList {
        items: tokens.into_iter().map(token_to_api).collect(),
        next_cursor: None,
    }))
}

/// Revokes a token at once.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such active token", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, "token.revoke").await?;
    let [id] = call.params(params).await?;
    let id = call.check(TokenId::parse(&id)).await?;
    call.done(
        call.vault()
            .revoke_token(&call.meta, &call.principal, id)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Walks the audit hash chain and reports the first broken entry.
#[utoipa::path(
    post, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The verification report", body = api::AuditVerifyResponse),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify_audit(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::AuditVerifyResponse>, ApiError> {
    let call = ctx.begin(&state, "audit.verify").await?;
    let report = call.done(call.vault().verify_audit(&call.meta, &call.principal).await)?;
    Ok(Json(verify_to_api(report)))
}

// ----- fallbacks ------------------------------------------------------------------------

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
        VaultError::BadRequest(codes::METHOD_NOT_ALLOWED),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = RecordId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").unwrap();
        let c = encode_cursor("patients", &id);
        let (name, back) = decode_cursor(&c).unwrap();
        assert_eq!(name.as_str(), "patients");
        assert_eq!(back, id);
        for bad in ["", "!!!", "cGF0aWVudHM", &URL_SAFE_NO_PAD.encode("Bad/x")] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
