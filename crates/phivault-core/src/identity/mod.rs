//! Identity and access operations of the vault: authentication of API and session tokens,
//! human users with Argon2id passwords and enforced TOTP (45 CFR 164.312(d)), sessions with
//! idle and absolute timeouts (164.312(a)(2)(iii)), lockout, service accounts and their
//! tokens, custom roles, care relationships, and break-glass emergency access with alerts
//! and a review queue (164.312(a)(2)(ii)).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::deny::DenyRule;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault};
use crate::identity_store::{CareRelationshipRow, UserRow};
use crate::ids::TokenId;
use crate::policy::{Role, builtin_role};
use crate::store::{ReadTx, TokenRow};

mod auth;
mod break_glass;
mod care;
mod compliance;
mod roles;
mod tokens;
mod users;

/// The prefix of API tokens, so secret scanners can recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "pvt";
/// The prefix of session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "pvs";
/// The issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "phivault";
/// How often a session's last-use time is written: idle timeouts are minutes long, so
/// a minute's precision spares a write per request.
const TOUCH_EVERY: Duration = Duration::minutes(1);
/// How many recovery codes a user gets.
const RECOVERY_CODES: usize = 10;

/// Something worth waking a person for, e.g. a break-glass episode. Carries ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// What happened, e.g. `breakglass.opened`.
    pub kind: String,
    /// The episode or other object id.
    pub id: String,
    /// Who acted (user or service-account id).
    pub principal: String,
    /// The subject concerned.
    pub subject: Option<String>,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// When the access it grants ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// Where alerts go (log line, webhook, …). Implementations must not block for long.
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Delivers one alert.
    fn alert(&self, alert: &Alert);
}

/// The default sink: a warning log line.
#[derive(Debug, Default)]
pub struct LogAlerts;

impl AlertSink for LogAlerts {
    fn alert(&self, alert: &Alert) {
        tracing::warn!(kind = %alert.kind, id = %alert.id, principal = %alert.principal,
            subject = alert.subject.as_deref().unwrap_or(""), "ALERT");
    }
}

/// A user's public description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
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
    /// Whether the admin-and-PHI exception is set (flagged in compliance reports).
    pub allow_admin_phi: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn user_info(row: &UserRow) -> UserInfo {
    UserInfo {
        id: row.id.clone(),
        username: row.username.clone(),
        kind: row.kind.clone(),
        roles: row.roles.clone(),
        mfa_enrolled: row.totp_sealed.is_some(),
        allow_admin_phi: row.allow_admin_phi,
        disabled: row.disabled,
        created_at: row.created_at,
    }
}

/// What a new human user needs to set up their authenticator; shown once.
#[derive(Clone)]
pub struct Enrollment {
    /// The `otpauth://` URI for the authenticator app (contains the secret).
    pub otpauth_uri: Zeroizing<String>,
    /// Single-use recovery codes.
    pub recovery_codes: Vec<Zeroizing<String>>,
}

/// A session's public description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The absolute end.
    pub expires_at: OffsetDateTime,
    /// The idle timeout.
    pub idle_timeout: Duration,
}

/// A break-glass episode as shown to its reviewer.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct BreakGlassInfo {
    /// The episode id.
    pub id: String,
    /// Who opened it.
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
    /// When it was reviewed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reviewed_at: Option<OffsetDateTime>,
    /// Who reviewed it.
    pub reviewer: Option<String>,
    /// The review note.
    pub review_note: Option<String>,
}

/// A care relationship as listed.
pub type CareRelationship = CareRelationshipRow;

/// One finding of the compliance self-check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceGap {
    /// A stable code, e.g. `mfa_disabled`.
    pub code: String,
    /// What is wrong, with the CFR paragraph it touches.
    pub detail: String,
}

/// An API token's public description (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The public id.
    pub id: TokenId,
    /// The label.
    pub name: String,
    /// The service account it acts for (user id).
    pub owner: String,
    /// The roles it carries.
    pub roles: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used (recorded at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
}

/// The public description of a stored token.
pub(crate) fn token_info(row: &TokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        name: row.name.clone(),
        owner: row.owner.clone(),
        roles: row.roles.clone(),
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

fn check_username(s: &str) -> Result<(), VaultError> {
    let ok = (3..=64).contains(&s.len())
        && s.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-' | b'@')
        });
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadRequest(ErrorCode::InvalidUsername.as_str()))
    }
}

fn check_role_name(s: &str) -> Result<(), VaultError> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadRequest(ErrorCode::InvalidRoleName.as_str()))
    }
}

/// Resolves role names to definitions: built-in ones from code, custom ones from the store.
pub(crate) fn resolve_roles(
    tx: &mut dyn ReadTx,
    names: &[String],
) -> Result<Vec<Role>, VaultError> {
    names
        .iter()
        .map(|name| match builtin_role(name) {
            Some(r) => Ok(r),
            None => {
                let row = tx
                    .get_role(name)?
                    .ok_or(VaultError::BadRequest(ErrorCode::UnknownRole.as_str()))?;
                serde_json::from_str(&row.definition_json).map_err(|_| VaultError::Integrity)
            }
        })
        .collect()
}

/// Refuses a role set that administers the vault and reaches PHI, unless the exception is
/// explicitly set (then compliance reports flag the account).
fn check_separation(roles: &[Role], allow_admin_phi: bool) -> Result<(), VaultError> {
    let admin = roles.iter().any(Role::is_administrative);
    let phi = roles.iter().any(Role::reaches_phi);
    if admin && phi && !allow_admin_phi {
        Err(VaultError::Forbidden {
            rule: DenyRule::AdminPhiNeedsException.to_string(),
        })
    } else {
        Ok(())
    }
}

/// A login name reduced to the key under which failures count (known or unknown names
/// alike, so lockout behaviour reveals nothing about which accounts exist).
fn failure_key(username: &str) -> String {
    let mut key: String = username.trim().to_lowercase().chars().take(64).collect();
    key.insert_str(0, "login:");
    key
}

/// Runs CPU-heavy work (Argon2id) on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| VaultError::Internal(InternalFault::BlockingTaskFailed.as_str()))
}

crate::phi::redacted_debug!(BreakGlassInfo {
    id, principal_id, subject, opened_at, expires_at, reviewed_at, reviewer
} hide { reason, review_note });

crate::phi::redacted_debug!(Enrollment {} hide { otpauth_uri, recovery_codes });
