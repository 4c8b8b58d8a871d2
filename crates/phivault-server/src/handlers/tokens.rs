//! API tokens of service accounts: issue, rotate, list and revoke. A secret is in the
//! answer that creates it and nowhere else.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::TokenId;

use crate::call::{Ctx, Params};
use crate::convert::identity::token_to_api;
use crate::error::ApiError;
use crate::state::AppState;

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
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::TokenCreate).await?;
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
    )
)]
pub(crate) async fn rotate_token(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::TokenRotate).await?;
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
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::TokenList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::TokenList).await?;
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
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, AuditAction::TokenRevoke).await?;
    let [id] = call.params(params).await?;
    let id = call.check(TokenId::parse(&id)).await?;
    call.done(
        call.vault()
            .revoke_token(&call.meta, &call.principal, id)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}
