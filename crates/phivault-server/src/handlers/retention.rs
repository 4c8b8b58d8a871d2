//! Retention periods per collection and the disposal run (the server also runs it on a
//! schedule). Every route needs `privacy:manage`.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::CollectionName;

use crate::call::{Ctx, Params};
use crate::convert::privacy::{retention_list_to_api, retention_run_to_api};
use crate::error::ApiError;
use crate::state::AppState;

/// Sets (or, with `null`, removes) a collection's retention period.
#[utoipa::path(
    put, path = "/v1/collections/{name}/retention", tag = "privacy",
    params(("name" = String, Path, description = "The collection name")),
    request_body = api::RetentionBody,
    responses(
        (status = 204, description = "Set"),
        (status = 404, description = "No such collection", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_retention(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyRetentionSet).await?;
    let [name] = call.params(params).await?;
    let name = call.check(CollectionName::parse(&name)).await?;
    let body: api::RetentionBody = call.json(req).await?;
    call.done(
        call.vault()
            .set_retention(&call.meta, &call.principal, &name, body.days)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every collection's retention period.
#[utoipa::path(
    get, path = "/v1/retention", tag = "privacy",
    responses(
        (status = 200, description = "The periods", body = api::RetentionList),
    )
)]
pub(crate) async fn list_retention(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RetentionList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyRetentionList).await?;
    let list = call.done(
        call.vault()
            .retention_policies(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(retention_list_to_api(list)))
}

/// Disposes of expired records now (the server also does so on a schedule).
#[utoipa::path(
    post, path = "/v1/retention/run", tag = "privacy",
    responses(
        (status = 200, description = "What was disposed of", body = api::RetentionRun),
    )
)]
pub(crate) async fn run_retention(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RetentionRun>, ApiError> {
    let call = ctx.begin(&state, AuditAction::PrivacyRetentionRun).await?;
    let r = call.done(
        call.vault()
            .apply_retention(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(retention_run_to_api(r)))
}
