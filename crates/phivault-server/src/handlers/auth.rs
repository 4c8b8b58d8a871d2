//! Login and logout of human users. Login is the one operation without a bearer token;
//! every failure is the same 401 and the audit log keeps the reason.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use phivault_api as api;
use phivault_api::ErrorCode;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::SESSION_TOKEN_PREFIX;
use zeroize::Zeroizing;

use crate::call::Ctx;
use crate::error::{ApiError, bad_request};
use crate::state::AppState;

/// Logs a human user in with password and second factor; the answer carries a session
/// token to send as the bearer token. Every failure (unknown user, wrong password or code,
/// disabled or locked account) is the same 401 with one fixed detail.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = api::LoginResponse),
        (status = 401, description = "The credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Json<api::LoginResponse>, ApiError> {
    let call = ctx.anonymous(&state, AuditAction::AuthLogin);
    let body: api::LoginRequest = call.json(req).await?;
    let password = Zeroizing::new(body.password);
    let code = body.code.map(Zeroizing::new);
    let (session, secret) = call
        .done(
            call.vault()
                .login(
                    &call.meta,
                    &body.username,
                    &password,
                    code.as_deref().map(String::as_str),
                )
                .await,
        )
        .map_err(ApiError::for_login)?;
    Ok(Json(api::LoginResponse {
        session_token: secret.expose_secret().to_owned(),
        session_id: session.id,
        expires_at: session.expires_at,
        idle_timeout_seconds: session.idle_timeout.whole_seconds(),
    }))
}

/// Ends the session whose token is the bearer token.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, description = "The bearer token is not a session token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bearer token is an API token, not a session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<StatusCode, ApiError> {
    let bearer = Zeroizing::new(ctx.bearer_token().unwrap_or_default().to_owned());
    let call = ctx.begin(&state, AuditAction::AuthLogout).await?;
    if !bearer.starts_with(&format!("{SESSION_TOKEN_PREFIX}_")) {
        return call.reject(bad_request(ErrorCode::NotASession)).await;
    }
    call.done(call.vault().logout(&call.meta, &bearer).await)?;
    Ok(StatusCode::NO_CONTENT)
}
