//! Break-glass emergency access: open (alerted), list the review queue, and review.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::SubjectId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{query, uuid_param};
use crate::call::{Ctx, Params};
use crate::convert::identity::break_glass_to_api;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// Opens time-limited emergency access to one subject, with a reason; reads then state
/// `X-Purpose-Of-Use: ETREAT`. Raises an alert and waits for review.
#[utoipa::path(
    post, path = "/v1/break-glass", tag = "break-glass",
    request_body = api::BreakGlassRequest,
    responses(
        (status = 201, description = "Opened", body = api::BreakGlassEpisode),
        (status = 422, description = "The duration is past the configured maximum", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::BreakglassOpen).await?;
    let body: api::BreakGlassRequest = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    let Some(duration) = body
        .duration_minutes
        .checked_mul(60)
        .map(time::Duration::seconds)
    else {
        return call
            .reject(bad_request(ErrorCode::BreakglassDurationOutOfRange))
            .await;
    };
    let episode = call.done(
        call.vault()
            .open_break_glass(
                &call.meta,
                &call.principal,
                &subject,
                &body.reason,
                duration,
            )
            .await,
    )?;
    Ok((StatusCode::CREATED, Json(break_glass_to_api(episode))).into_response())
}

/// The query of the break-glass listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BreakGlassQuery {
    /// Only episodes still waiting for review (the review queue); default false.
    open: Option<bool>,
}

/// Break-glass episodes: the review queue with `?open=true`, else all of them.
#[utoipa::path(
    get, path = "/v1/break-glass", tag = "break-glass", params(BreakGlassQuery),
    responses(
        (status = 200, description = "The episodes", body = api::BreakGlassList),
    )
)]
pub(crate) async fn list_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::BreakGlassList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::BreakglassList).await?;
    let q: BreakGlassQuery = query(&call, &uri).await?;
    let episodes = call.done(
        call.vault()
            .list_break_glass(&call.meta, &call.principal, q.open.unwrap_or(false))
            .await,
    )?;
    Ok(Json(api::BreakGlassList {
        items: episodes.into_iter().map(break_glass_to_api).collect(),
        next_cursor: None,
    }))
}

/// Closes the review of a break-glass episode with the reviewer's note.
#[utoipa::path(
    post, path = "/v1/break-glass/{id}/review", tag = "break-glass",
    params(("id" = String, Path, description = "The episode id")),
    request_body = api::ReviewRequest,
    responses(
        (status = 200, description = "Reviewed", body = api::BreakGlassEpisode),
        (status = 404, description = "No such episode", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already reviewed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn review_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::BreakGlassEpisode>, ApiError> {
    let call = ctx.begin(&state, AuditAction::BreakglassReview).await?;
    let id = uuid_param(&call, params, ErrorCode::InvalidPath).await?;
    let body: api::ReviewRequest = call.json(req).await?;
    let episode = call.done(
        call.vault()
            .review_break_glass(&call.meta, &call.principal, &id, &body.note)
            .await,
    )?;
    Ok(Json(break_glass_to_api(episode)))
}
