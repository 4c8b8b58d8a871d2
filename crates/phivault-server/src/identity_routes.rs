//! The identity-and-access routes: login and logout, human users and service accounts,
//! roles, care relationships, break-glass emergency access and the compliance self-check.
//! Each handler follows the pattern of `routes`: authenticate (login excepted), parse,
//! one vault call; every refusal on the way is audited under the handler's action.

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::{SESSION_TOKEN_PREFIX, SubjectId, VaultError};
use serde::Deserialize;
use utoipa::IntoParams;
use zeroize::Zeroizing;

use crate::call::{Call, Ctx, Params};
use crate::convert::{
    break_glass_to_api, enrollment_to_api, gap_to_api, role_from_api, role_to_api, user_to_api,
};
use crate::error::{ApiError, codes};
use crate::state::AppState;

/// The `{username}` path parameter (looked up as given; an unknown name is a 404).
async fn username(call: &Call, params: Params) -> Result<String, ApiError> {
    let [name] = call.params(params).await?;
    Ok(name)
}

// ----- login and logout -----------------------------------------------------------------

/// Logs a human user in with password and second factor; the answer carries a session
/// token to send as the bearer token. Every failure (unknown user, wrong password or code,
/// disabled or locked account) is the same 401 with one fixed detail.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", security(()),
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = api::LoginResponse),
        (status = 401, description = "The credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Json<api::LoginResponse>, ApiError> {
    let call = ctx.anonymous(&state, "auth.login");
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<StatusCode, ApiError> {
    let bearer = Zeroizing::new(ctx.bearer_token().unwrap_or_default().to_owned());
    let call = ctx.begin(&state, "auth.logout").await?;
    if !bearer.starts_with(&format!("{SESSION_TOKEN_PREFIX}_")) {
        return call
            .reject(VaultError::BadRequest(codes::NOT_A_SESSION))
            .await;
    }
    call.done(call.vault().logout(&call.meta, &bearer).await)?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- users and service accounts -------------------------------------------------------

/// Every user and service account.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    responses(
        (status = 200, description = "The users", body = api::UserList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::UserList>, ApiError> {
    let call = ctx.begin(&state, "user.list").await?;
    let users = call.done(call.vault().list_users(&call.meta, &call.principal).await)?;
    Ok(Json(api::UserList {
        items: users.into_iter().map(user_to_api).collect(),
        next_cursor: None,
    }))
}

/// Creates a human user and enrols their second factor; the enrollment (otpauth URI and
/// recovery codes) is in this answer only. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/users", tag = "users",
    request_body = api::CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = api::CreatedUser),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "user.create").await?;
    let body: api::CreateUserRequest = call.json(req).await?;
    let password = Zeroizing::new(body.password);
    let (user, enrollment) = call.done(
        call.vault()
            .create_user(
                &call.meta,
                &call.principal,
                &body.username,
                &password,
                &body.roles,
                body.allow_admin_phi,
            )
            .await,
    )?;
    let created = api::CreatedUser {
        user: user_to_api(user),
        enrollment: enrollment_to_api(&enrollment),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Creates a service account, the owner of API tokens.
#[utoipa::path(
    post, path = "/v1/service-accounts", tag = "users",
    request_body = api::CreateServiceAccountRequest,
    responses(
        (status = 201, description = "Created", body = api::User),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A name looks like an identifier (SSN, phone, e-mail, date, long number, …): no PHI in metadata", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "service_account.create").await?;
    let body: api::CreateServiceAccountRequest = call.json(req).await?;
    let user = call.done(
        call.vault()
            .create_service_account(
                &call.meta,
                &call.principal,
                &body.username,
                &body.roles,
                body.allow_admin_phi,
            )
            .await,
    )?;
    Ok((StatusCode::CREATED, Json(user_to_api(user))).into_response())
}

/// Disables an account and ends its sessions. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/users/{username}/disable", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "Disabled", body = api::User),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, "user.disable").await?;
    let name = username(&call, params).await?;
    let user = call.done(
        call.vault()
            .disable_user(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(user_to_api(user)))
}

/// Enables a disabled account. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/users/{username}/enable", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "Enabled", body = api::User),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, "user.enable").await?;
    let name = username(&call, params).await?;
    let user = call.done(
        call.vault()
            .enable_user(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(user_to_api(user)))
}

/// Sets a new password, ends the user's sessions and clears their lockout. Needs a recent
/// login.
#[utoipa::path(
    post, path = "/v1/users/{username}/reset-password", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    request_body = api::ResetPasswordRequest,
    responses(
        (status = 200, description = "Reset", body = api::User),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, "user.reset_password").await?;
    let name = username(&call, params).await?;
    let body: api::ResetPasswordRequest = call.json(req).await?;
    let password = Zeroizing::new(body.password);
    let user = call.done(
        call.vault()
            .reset_password(&call.meta, &call.principal, &name, &password)
            .await,
    )?;
    Ok(Json(user_to_api(user)))
}

/// Replaces a user's roles (separation of administration and PHI access enforced). Needs
/// a recent login.
#[utoipa::path(
    put, path = "/v1/users/{username}/roles", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    request_body = api::SetRolesRequest,
    responses(
        (status = 200, description = "The user with the new roles", body = api::User),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_user_roles(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, "user.set_roles").await?;
    let name = username(&call, params).await?;
    let body: api::SetRolesRequest = call.json(req).await?;
    let user = call.done(
        call.vault()
            .set_user_roles(
                &call.meta,
                &call.principal,
                &name,
                &body.roles,
                body.allow_admin_phi,
            )
            .await,
    )?;
    Ok(Json(user_to_api(user)))
}

/// Ends every session of a user at once. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/users/{username}/revoke-sessions", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "How many sessions ended", body = api::RevokedSessions),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::RevokedSessions>, ApiError> {
    let call = ctx.begin(&state, "user.revoke_sessions").await?;
    let name = username(&call, params).await?;
    let revoked = call.done(
        call.vault()
            .revoke_sessions(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(api::RevokedSessions { revoked }))
}

// ----- roles ----------------------------------------------------------------------------

/// Every role: built-in ones first, then custom ones.
#[utoipa::path(
    get, path = "/v1/roles", tag = "roles",
    responses(
        (status = 200, description = "The roles", body = api::RoleList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::RoleList>, ApiError> {
    let call = ctx.begin(&state, "role.list").await?;
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_role(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::Role>, ApiError> {
    let call = ctx.begin(&state, "role.put").await?;
    let [name] = call.params(params).await?;
    let body: api::Role = call.json(req).await?;
    if body.name != name {
        return call
            .reject(VaultError::BadRequest(codes::ROLE_NAME_MISMATCH))
            .await;
    }
    let role = call.done(
        call.vault()
            .put_role(&call.meta, &call.principal, role_from_api(body))
            .await,
    )?;
    Ok(Json(role_to_api(role)))
}

// ----- care relationships ---------------------------------------------------------------

/// Links a user or service account to a subject, so grants scoped to assigned subjects
/// reach it. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/care-relationships", tag = "users",
    request_body = api::CareRelationship,
    responses(
        (status = 201, description = "In force", body = api::CareRelationship),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn assign_subject(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "care.assign").await?;
    let body: api::CareRelationship = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    call.done(
        call.vault()
            .assign_subject(
                &call.meta,
                &call.principal,
                &body.username,
                &subject,
                body.expires_at,
            )
            .await,
    )?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Ends a care relationship. Needs a recent login.
#[utoipa::path(
    delete, path = "/v1/care-relationships", tag = "users",
    request_body = api::CareRelationshipKey,
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such user or relationship", body = Problem, content_type = "application/problem+json"),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn unassign_subject(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, "care.unassign").await?;
    let body: api::CareRelationshipKey = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    call.done(
        call.vault()
            .unassign_subject(&call.meta, &call.principal, &body.username, &subject)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- break-glass ----------------------------------------------------------------------

/// Opens time-limited emergency access to one subject, with a reason; reads then state
/// `X-Purpose-Of-Use: ETREAT`. Raises an alert and waits for review.
#[utoipa::path(
    post, path = "/v1/break-glass", tag = "break-glass",
    request_body = api::BreakGlassRequest,
    responses(
        (status = 201, description = "Opened", body = api::BreakGlassEpisode),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn open_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, "breakglass.open").await?;
    let body: api::BreakGlassRequest = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    let Some(duration) = body
        .duration_minutes
        .checked_mul(60)
        .map(time::Duration::seconds)
    else {
        return call
            .reject(VaultError::BadRequest(codes::DURATION_OUT_OF_RANGE))
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    uri: Uri,
) -> Result<Json<api::BreakGlassList>, ApiError> {
    let call = ctx.begin(&state, "breakglass.list").await?;
    let Ok(Query(query)) = Query::<BreakGlassQuery>::try_from_uri(&uri) else {
        return call
            .reject(VaultError::BadRequest(codes::INVALID_QUERY))
            .await;
    };
    let episodes = call.done(
        call.vault()
            .list_break_glass(&call.meta, &call.principal, query.open.unwrap_or(false))
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
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn review_break_glass(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::BreakGlassEpisode>, ApiError> {
    let call = ctx.begin(&state, "breakglass.review").await?;
    let [id] = call.params(params).await?;
    let body: api::ReviewRequest = call.json(req).await?;
    let episode = call.done(
        call.vault()
            .review_break_glass(&call.meta, &call.principal, &id, &body.note)
            .await,
    )?;
    Ok(Json(break_glass_to_api(episode)))
}

// ----- compliance -----------------------------------------------------------------------

/// Settings and accounts that weaken a safeguard, each with the rule it touches. Needs a
/// recent login.
#[utoipa::path(
    get, path = "/v1/compliance/gaps", tag = "compliance",
    responses(
        (status = 200, description = "The findings", body = api::ComplianceGapList),
        (status = "default", description = "A problem", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn compliance_gaps(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::ComplianceGapList>, ApiError> {
    let call = ctx.begin(&state, "compliance.gaps").await?;
    let gaps = call.done(
        call.vault()
            .compliance_gaps(&call.meta, &call.principal)
            .await,
    )?;
    Ok(Json(api::ComplianceGapList {
        items: gaps.into_iter().map(gap_to_api).collect(),
    }))
}
