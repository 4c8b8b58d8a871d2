//! Built-in and custom roles: list, and define or replace a custom role (step-up).

use axum::Json;
use axum::extract::{Request, State};
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;

use crate::call::{Ctx, Params};
use crate::convert::roles::{role_from_api, role_to_api};
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// Every role: built-in ones first, then custom ones.
#[utoipa::path(
    get, path = "/v1/roles", tag = "roles",
    responses(
        (status = 200, description = "The roles", body = api::RoleList),
    )
)]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RoleList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::RoleList).await?;
    let roles = call.done(call.vault().list_roles(&call.meta, &call.principal).await)?;
    Ok(Json(api::RoleList {
        items: roles.into_iter().map(role_to_api).collect(),
        next_cursor: None,
    }))
}

/// Defines or replaces a custom role; the name in the path must match the body's. Needs
/// a recent login.
#[utoipa::path(
    put, path = "/v1/roles/{name}", tag = "roles",
    params(("name" = String, Path, description = "The role name")),
    request_body = api::Role,
    responses(
        (status = 200, description = "The role as stored", body = api::Role),
        (status = 409, description = "The name is a built-in role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A name looks like an identifier (SSN, phone, e-mail, date, long number, …): no PHI in metadata", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_role(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::Role>, ApiError> {
    let call = ctx.begin(&state, AuditAction::RolePut).await?;
    let [name] = call.params(params).await?;
    let body: api::Role = call.json(req).await?;
    if body.name != name {
        return call.reject(bad_request(ErrorCode::RoleNameMismatch)).await;
    }
    let role = call.done(
        call.vault()
            .put_role(&call.meta, &call.principal, role_from_api(body))
            .await,
    )?;
    Ok(Json(role_to_api(role)))
}
