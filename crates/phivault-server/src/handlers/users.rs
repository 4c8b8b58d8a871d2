//! Human users and service accounts (create, disable, enable, reset password, roles,
//! sessions) and care relationships. User management needs a recent login (step-up).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use phivault_api as api;
use phivault_api::Problem;
use phivault_core::AuditAction;
use phivault_core::SubjectId;
use zeroize::Zeroizing;

use crate::call::{Call, Ctx, Params};
use crate::convert::identity::{enrollment_to_api, user_to_api};
use crate::error::ApiError;
use crate::state::AppState;

/// The `{username}` path parameter (looked up as given; an unknown name is a 404).
async fn username(call: &Call, params: Params) -> Result<String, ApiError> {
    let [name] = call.params(params).await?;
    Ok(name)
}

/// Every user and service account.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    responses(
        (status = 200, description = "The users", body = api::UserList),
    )
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    ctx: Ctx,
) -> Result<Json<api::UserList>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserList).await?;
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
        (status = 422, description = "The password fails the password policy, or a role does not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserCreate).await?;
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
    )
)]
pub(crate) async fn create_service_account(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::ServiceAccountCreate).await?;
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
    )
)]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserDisable).await?;
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
    )
)]
pub(crate) async fn enable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserEnable).await?;
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
        (status = 422, description = "The password fails the password policy", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserResetPassword).await?;
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
        (status = 422, description = "A role does not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_user_roles(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
    req: Request,
) -> Result<Json<api::User>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserSetRoles).await?;
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
    )
)]
pub(crate) async fn revoke_sessions(
    State(state): State<AppState>,
    ctx: Ctx,
    params: Params,
) -> Result<Json<api::RevokedSessions>, ApiError> {
    let call = ctx.begin(&state, AuditAction::UserRevokeSessions).await?;
    let name = username(&call, params).await?;
    let revoked = call.done(
        call.vault()
            .revoke_sessions(&call.meta, &call.principal, &name)
            .await,
    )?;
    Ok(Json(api::RevokedSessions { revoked }))
}

/// Links a user or service account to a subject, so grants scoped to assigned subjects
/// reach it. Needs a recent login.
#[utoipa::path(
    post, path = "/v1/care-relationships", tag = "users",
    request_body = api::CareRelationship,
    responses(
        (status = 201, description = "In force", body = api::CareRelationship),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn assign_subject(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Response, ApiError> {
    let call = ctx.begin(&state, AuditAction::CareAssign).await?;
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
    )
)]
pub(crate) async fn unassign_subject(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let call = ctx.begin(&state, AuditAction::CareUnassign).await?;
    let body: api::CareRelationshipKey = call.json(req).await?;
    let subject = call.check(SubjectId::parse(&body.subject)).await?;
    call.done(
        call.vault()
            .unassign_subject(&call.meta, &call.principal, &body.username, &subject)
            .await,
    )?;
    Ok(StatusCode::NO_CONTENT)
}
