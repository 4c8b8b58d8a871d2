//! Collection schemas: declare, list and read (no PHI; names are checked for
//! identifier-like text).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::CollectionName;

use crate::call::{Ctx, Params};
use crate::convert::schema::{schema_from_api, schema_to_api};
use crate::error::ApiError;
use crate::state::AppState;

/// Declares a collection and its schema.
#[utoipa::path(
    post, path = "/v1/collections", tag = "collections",
    request_body = api::Collection,
    responses(
        (status = 201, description = "Created", body = api::Collection),
        (status = 409, description = "A collection of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The schema is not acceptable, or a name looks like an identifier (no PHI in metadata)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::CollectionCreate).await?;
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
    )
)]
pub(crate) async fn list_collections(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::CollectionList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::CollectionList).await?;
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
    )
)]
pub(crate) async fn get_collection(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::Collection>, ApiError> {
    let call = ctx.begin(&state, AuditAction::CollectionRead).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let schema = call.done(
        call.vault()
            .get_collection(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(schema_to_api(&schema)))
}
