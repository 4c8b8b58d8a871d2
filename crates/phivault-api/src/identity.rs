//! People and access on the wire: login and sessions, human users and service accounts,
//! care relationships, break-glass episodes and the compliance self-check. Every type that
//! carries a password, a session token, a TOTP secret or recovery codes hides them from
//! `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

const REDACTED: &str = "[REDACTED]";

/// The body of `POST /v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
    /// The second factor: a TOTP code from the authenticator app, or a recovery code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("code", &self.code.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The answer to a successful login: a session token to send as the bearer token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The session's bearer token (`pvs_…`); shown only here.
    pub session_token: String,
    /// The session id (for the audit log and for revocation).
    pub session_id: String,
    /// When the session ends, used or not.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The session ends after this many seconds without use.
    pub idle_timeout_seconds: i64,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("session_token", &REDACTED)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .field("idle_timeout_seconds", &self.idle_timeout_seconds)
            .finish()
    }
}

/// The body of `POST /v1/users`: a human user with an initial password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The login name: 3–64 of `[a-z0-9._@-]`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._@-]+$")]
    pub username: String,
    /// The initial password (checked against the password policy).
    pub password: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Allow roles that both administer the vault and reach PHI (flagged in compliance
    /// reports).
    #[serde(default)]
    pub allow_admin_phi: bool,
}

impl fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("roles", &self.roles)
            .field("allow_admin_phi", &self.allow_admin_phi)
            .finish()
    }
}

/// The body of `POST /v1/service-accounts`: a non-human identity that holds API tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountRequest {
    /// The account name: 3–64 of `[a-z0-9._@-]`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._@-]+$")]
    pub username: String,
    /// Role names; its tokens carry a subset.
    pub roles: Vec<String>,
    /// Allow roles that both administer the vault and reach PHI.
    #[serde(default)]
    pub allow_admin_phi: bool,
}

/// A user's or service account's public description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// The id.
    pub id: String,
    /// The login name.
    pub username: String,
    /// `human` or `service`.
    pub kind: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether a second factor is enrolled.
    pub mfa_enrolled: bool,
    /// Whether the admin-and-PHI exception is set.
    pub allow_admin_phi: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// The users and service accounts.
    pub items: Vec<User>,
    /// Always absent: every user fits in one page.
    pub next_cursor: Option<String>,
}

/// What a new user needs to set up their authenticator; shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Enrollment {
    /// The `otpauth://` URI for the authenticator app (contains the TOTP secret).
    pub otpauth_uri: String,
    /// Single-use recovery codes.
    pub recovery_codes: Vec<String>,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("otpauth_uri", &REDACTED)
            .field("recovery_codes", &REDACTED)
            .finish()
    }
}

/// The answer to `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The new user.
    pub user: User,
    /// The second-factor enrollment; the only time it is shown.
    pub enrollment: Enrollment,
}

/// The body of `PUT /v1/users/{username}/roles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The new role names (replacing the old ones).
    pub roles: Vec<String>,
    /// Allow roles that both administer the vault and reach PHI.
    #[serde(default)]
    pub allow_admin_phi: bool,
}

/// The body of `POST /v1/users/{username}/reset-password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The new password (checked against the password policy).
    pub password: String,
}

impl fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetPasswordRequest")
            .field("password", &REDACTED)
            .finish()
    }
}

/// The answer to `POST /v1/users/{username}/revoke-sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedSessions {
    /// How many sessions were ended.
    pub revoked: u64,
}

/// The body of `POST /v1/care-relationships`: links a user or service account to a
/// subject, so grants scoped to `assigned` subjects reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRelationship {
    /// The user or service account.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._@-]+$")]
    pub username: String,
    /// The subject id.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    pub subject: String,
    /// When the relationship ends by itself, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The body of `DELETE /v1/care-relationships`: the relationship to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRelationshipKey {
    /// The user or service account.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._@-]+$")]
    pub username: String,
    /// The subject id.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    pub subject: String,
}

/// The body of `POST /v1/break-glass`: emergency access to one subject.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The subject id.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    pub subject: String,
    /// Why (20–2000 characters, not counting leading and trailing white space); stored
    /// encrypted and shown to the reviewer.
    #[schema(
        min_length = 20,
        max_length = 2000,
        pattern = "^\\s*\\S[\\s\\S]{18,}\\S\\s*$"
    )]
    pub reason: String,
    /// How long access lasts, in minutes: at least 1, at most the server's maximum (240
    /// unless configured otherwise; the served document states the configured one).
    #[schema(minimum = 1, maximum = 240)]
    pub duration_minutes: i64,
}

// The reason may describe the patient's situation.
impl fmt::Debug for BreakGlassRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakGlassRequest")
            .field("subject", &self.subject)
            .field("reason", &REDACTED)
            .field("duration_minutes", &self.duration_minutes)
            .finish()
    }
}

/// A break-glass episode.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassEpisode {
    /// The episode id.
    pub id: String,
    /// Who opened it (user or service-account id).
    pub principal_id: String,
    /// The subject.
    pub subject: String,
    /// The stated reason.
    pub reason: String,
    /// When it opened.
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// When access ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was reviewed, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reviewed_at: Option<OffsetDateTime>,
    /// Who reviewed it.
    pub reviewer: Option<String>,
    /// The reviewer's note.
    pub review_note: Option<String>,
}

impl fmt::Debug for BreakGlassEpisode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakGlassEpisode")
            .field("id", &self.id)
            .field("principal_id", &self.principal_id)
            .field("subject", &self.subject)
            .field("reason", &REDACTED)
            .field("opened_at", &self.opened_at)
            .field("expires_at", &self.expires_at)
            .field("reviewed_at", &self.reviewed_at)
            .field("reviewer", &self.reviewer)
            .field("review_note", &self.review_note.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// A list of break-glass episodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassList {
    /// The episodes.
    pub items: Vec<BreakGlassEpisode>,
    /// Always absent: every episode fits in one page.
    pub next_cursor: Option<String>,
}

/// The body of `POST /v1/break-glass/{id}/review`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The reviewer's conclusion (1–2000 characters, not blank).
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub note: String,
}

impl fmt::Debug for ReviewRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewRequest")
            .field("note", &REDACTED)
            .finish()
    }
}

/// One finding of the compliance self-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceGap {
    /// A stable code, e.g. `mfa_disabled`.
    pub code: String,
    /// What is wrong, with the CFR paragraph it touches.
    pub detail: String,
}

/// The answer to `GET /v1/compliance/gaps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceGapList {
    /// The findings; empty when no safeguard is weakened.
    pub items: Vec<ComplianceGap>,
}
