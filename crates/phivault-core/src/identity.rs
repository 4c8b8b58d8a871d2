//! Identity and access operations of the vault: authentication of API and session tokens,
//! human users with Argon2id passwords and enforced TOTP (45 CFR 164.312(d)), sessions with
//! idle and absolute timeouts (164.312(a)(2)(iii)), lockout, service accounts and their
//! tokens, custom roles, care relationships, and break-glass emergency access with alerts
//! and a review queue (164.312(a)(2)(ii)).

use std::collections::BTreeSet;

use phivault_audit::{Actor, ActorKind, AuditEvent, Outcome};
use phivault_crypto::{
    TokenSecret, TotpParams, TotpSecret, check_password_policy, dummy_verify_password,
    generate_recovery_codes, generate_token, hash_password, otpauth_uri, parse_token,
    recovery_code_hash, token_hash, totp_verify, verify_password,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::identity_store::{BreakGlassRow, CareRelationshipRow, RoleRow, SessionRow, UserRow};
use crate::ids::TokenId;
use crate::metadata::{MetadataKind, check_name};
use crate::policy::{Action, PurposeOfUse, Role, Scope, builtin_role};
use crate::seal::{Aad, SubjectKeys, UserSecret, user_key_subject};
use crate::store::{ReadTx, TokenRow, WriteTx, read_tx, write_tx};
use crate::vault::{RequestMeta, TokenInfo, Vault, append_audit, token_info};
use crate::{Principal, SubjectId};

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
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

fn check_username(s: &str) -> Result<(), VaultError> {
    let ok = (3..=64).contains(&s.len())
        && s.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-' | b'@')
        });
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadRequest("invalid_username"))
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
        Err(VaultError::BadRequest("invalid_role_name"))
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
                    .ok_or(VaultError::BadRequest("unknown_role"))?;
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
            rule: "deny:admin_phi_needs_exception".to_owned(),
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

/// Why a login failed; the caller sees one answer for all of them.
#[derive(Debug, Clone, Copy)]
enum LoginFailure {
    Locked,
    UnknownUser,
    Disabled,
    BadPassword,
    MfaMissing,
    MfaInvalid,
    NotHuman,
}

impl LoginFailure {
    fn code(self) -> &'static str {
        match self {
            Self::Locked => "account_locked",
            Self::UnknownUser => "user_unknown",
            Self::Disabled => "user_disabled",
            Self::BadPassword => "password_invalid",
            Self::MfaMissing => "mfa_code_missing",
            Self::MfaInvalid => "mfa_code_invalid",
            Self::NotHuman => "service_account_login",
        }
    }
}

impl Vault {
    fn alerts_send(&self, alert: &Alert) {
        self.alerts().alert(alert);
    }

    // ----- authentication -------------------------------------------------------------

    /// Turns a bearer token (API or session) into a principal. Every failure gives the
    /// same answer to the caller; the audit event keeps the precise reason.
    pub async fn authenticate(
        &self,
        meta: &RequestMeta,
        bearer: Option<&str>,
    ) -> Result<Principal, VaultError> {
        let now = self.clock().now();
        let reason = match bearer {
            None => "token_missing",
            Some(b) if b.starts_with("pvs_") => match parse_token(b, SESSION_TOKEN_PREFIX) {
                Err(_) => "token_malformed",
                Ok(secret) => match self.session_principal(&secret, now).await? {
                    Ok(p) => return Ok(p),
                    Err(reason) => reason,
                },
            },
            Some(b) => match parse_token(b, API_TOKEN_PREFIX) {
                Err(_) => "token_malformed",
                Ok(secret) => match self.token_principal(&secret, now).await? {
                    Ok(p) => return Ok(p),
                    Err(reason) => reason,
                },
            },
        };
        let mut ev = self.event(meta, None, "auth.authenticate");
        ev.outcome = Outcome::Denied;
        ev.reason = Some(reason.to_owned());
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Err(VaultError::Unauthenticated)
    }

    async fn token_principal(
        &self,
        secret: &TokenSecret,
        now: OffsetDateTime,
    ) -> Result<Result<Principal, &'static str>, VaultError> {
        let hash = token_hash(secret);
        let found = read_tx(&**self.store(), move |tx| {
            let Some(row) = tx.get_token_by_hash(&hash)? else {
                return Ok(Err("token_unknown"));
            };
            if !phivault_crypto::ct_eq(&row.secret_hash, &hash) {
                return Ok(Err("token_unknown"));
            }
            if row.revoked_at.is_some() {
                return Ok(Err("token_revoked"));
            }
            if row.expires_at <= now {
                return Ok(Err("token_expired"));
            }
            match tx.get_user(&row.owner)? {
                None => return Ok(Err("token_owner_unknown")),
                Some(o) if o.disabled => return Ok(Err("token_owner_disabled")),
                Some(_) => {}
            }
            // A role deleted since the token was issued leaves it unusable, not half-working.
            match resolve_roles(tx, &row.roles) {
                Ok(roles) => Ok(Ok((row, roles))),
                Err(VaultError::BadRequest(_)) => Ok(Err("token_role_unknown")),
                Err(e) => Err(e),
            }
        })
        .await?;
        let (row, roles) = match found {
            Ok(v) => v,
            Err(reason) => return Ok(Err(reason)),
        };
        if row.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            let id = row.id;
            write_tx(&**self.store(), move |tx| Ok(tx.touch_token(&id, now)?)).await?;
        }
        Ok(Ok(Principal {
            id: row.owner.clone(),
            actor: Actor {
                kind: ActorKind::Token,
                id: Some(row.id.to_string()),
            },
            auth_method: "api_token",
            roles,
            purpose: None,
            authenticated_at: None,
            step_up_exempt: false,
        }))
    }

    async fn session_principal(
        &self,
        secret: &TokenSecret,
        now: OffsetDateTime,
    ) -> Result<Result<Principal, &'static str>, VaultError> {
        let hash = token_hash(secret);
        let idle = self.config().session_idle_timeout;
        let found = read_tx(&**self.store(), move |tx| {
            let Some(s) = tx.get_session_by_hash(&hash)? else {
                return Ok(Err("session_unknown"));
            };
            if !phivault_crypto::ct_eq(&s.secret_hash, &hash) {
                return Ok(Err("session_unknown"));
            }
            if s.revoked_at.is_some() {
                return Ok(Err("session_revoked"));
            }
            if s.expires_at <= now {
                return Ok(Err("session_expired"));
            }
            if now - s.last_seen_at > idle {
                return Ok(Err("session_idle_timeout"));
            }
            let Some(user) = tx.get_user(&s.user_id)? else {
                return Ok(Err("session_unknown"));
            };
            if user.disabled {
                return Ok(Err("user_disabled"));
            }
            match resolve_roles(tx, &user.roles) {
                Ok(roles) => Ok(Ok((s, user, roles))),
                Err(VaultError::BadRequest(_)) => Ok(Err("user_role_unknown")),
                Err(e) => Err(e),
            }
        })
        .await?;
        let (session, user, roles) = match found {
            Ok(v) => v,
            Err(reason) => {
                if reason == "session_idle_timeout" {
                    // Automatic logoff: an idle session is over for good.
                    write_tx(&**self.store(), move |tx| {
                        let hash = hash;
                        if let Some(s) = tx.get_session_by_hash(&hash)? {
                            tx.revoke_session(&s.id, now)?;
                        }
                        Ok(())
                    })
                    .await?;
                }
                return Ok(Err(reason));
            }
        };
        if now - session.last_seen_at >= TOUCH_EVERY {
            let id = session.id.clone();
            write_tx(&**self.store(), move |tx| Ok(tx.touch_session(&id, now)?)).await?;
        }
        Ok(Ok(Principal {
            id: user.id.clone(),
            actor: Actor {
                kind: ActorKind::User,
                id: Some(user.id),
            },
            auth_method: "session",
            roles,
            purpose: None,
            authenticated_at: Some(session.created_at),
            step_up_exempt: false,
        }))
    }

    // ----- login ----------------------------------------------------------------------

    /// Logs a human user in with password and second factor (a TOTP code or a recovery
    /// code). Unknown users, wrong passwords, wrong codes, disabled and locked accounts all
    /// get the same answer after similar work; the audit event keeps the reason.
    pub async fn login(
        &self,
        meta: &RequestMeta,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<(SessionInfo, TokenSecret), VaultError> {
        let now = self.clock().now();
        let cfg = self.config().clone();
        let key = failure_key(username);
        let name = username.trim().to_lowercase();
        let k = key.clone();
        let window = cfg.lockout_window;
        let (user, recent, day) = read_tx(&**self.store(), move |tx| {
            let user = tx.get_user_by_name(&name)?;
            let recent = tx.login_failures_since(&k, now - window)?;
            let day = tx.login_failures_since(&k, now - Duration::hours(24))?;
            Ok((user, recent, day))
        })
        .await?;
        // Locked after `threshold` failures in the window; each further failure doubles the
        // lock (back-off), up to a day.
        let locked = recent.0 >= cfg.lockout_threshold
            || (day.0 >= cfg.lockout_threshold
                && day.1.is_some_and(|last| {
                    let extra = (day.0 - cfg.lockout_threshold).min(6) as u32;
                    now < last + (cfg.lockout_window * 2i32.pow(extra)).min(Duration::hours(24))
                }));
        let params = cfg.password_params;
        let pw = Zeroizing::new(password.to_owned());
        let phc = user.as_ref().and_then(|u| u.password_phc.clone());
        let password_ok = blocking(move || match phc {
            Some(phc) => verify_password(&pw, &phc).unwrap_or(false),
            None => {
                dummy_verify_password(&pw, &params);
                false
            }
        })
        .await?;
        let failure = match &user {
            _ if locked => Some(LoginFailure::Locked),
            None => Some(LoginFailure::UnknownUser),
            Some(u) if u.kind != "human" => Some(LoginFailure::NotHuman),
            Some(_) if !password_ok => Some(LoginFailure::BadPassword),
            Some(u) if u.disabled => Some(LoginFailure::Disabled),
            Some(u) if u.totp_sealed.is_some() && code.is_none() => Some(LoginFailure::MfaMissing),
            Some(u) if u.totp_sealed.is_none() && cfg.mfa_required => {
                Some(LoginFailure::MfaMissing)
            }
            _ => None,
        };
        let mut ev = self.event(meta, None, "auth.login");
        if let Some(u) = &user {
            ev.actor = Actor {
                kind: ActorKind::User,
                id: Some(u.id.clone()),
            };
            ev.auth_method = "password".to_owned();
        }
        if let Some(f) = failure {
            return self.login_failed(ev, key, f, now).await;
        }
        let Some(user) = user else {
            return Err(VaultError::Internal("login_state"));
        };
        let keyring = self.keyring();
        let code = code.map(|c| Zeroizing::new(c.trim().to_owned()));
        let secret = generate_token(SESSION_TOKEN_PREFIX)?;
        let session = SessionRow {
            id: Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            secret_hash: token_hash(&secret),
            created_at: now,
            last_seen_at: now,
            expires_at: now + cfg.session_lifetime,
            revoked_at: None,
        };
        let info = SessionInfo {
            id: session.id.clone(),
            user_id: user.id.clone(),
            expires_at: session.expires_at,
            idle_timeout: cfg.session_idle_timeout,
        };
        let fail_ev = ev.clone();
        let fail_key = key.clone();
        let result = write_tx(&**self.store(), move |tx| {
            let mut ev = ev;
            // Re-read inside the transaction: the replay check must see the latest step.
            let mut user = tx
                .get_user(&user.id)?
                .ok_or(VaultError::Internal("login_state"))?;
            if let (Some(sealed), Some(code)) = (&user.totp_sealed, &code) {
                let subject = user_key_subject(&user.id);
                let dek = SubjectKeys::new(&keyring).unwrap(tx, &subject)?;
                let raw =
                    Aad::user_secret(UserSecret::Totp, &user.id, &subject).open(&dek, sealed)?;
                let totp = TotpSecret::from_bytes(raw.to_vec())?;
                let unix = now.unix_timestamp().max(0) as u64;
                if let Some(step) = totp_verify(
                    &totp,
                    &TotpParams::default(),
                    code,
                    unix,
                    user.totp_last_step,
                ) {
                    user.totp_last_step = Some(step);
                    tx.update_user(&user)?;
                    ev.reason = Some("mfa:totp".to_owned());
                } else if tx.use_recovery_code(&user.id, &recovery_code_hash(code), now)? {
                    ev.reason = Some("mfa:recovery_code".to_owned());
                } else {
                    return Err(VaultError::Unauthenticated);
                }
            } else {
                ev.reason = Some("mfa:not_required".to_owned());
            }
            tx.clear_login_failures(&key)?;
            tx.insert_session(&session)?;
            ev.target = Some(session.id.clone());
            append_audit(tx, &ev)?;
            Ok(())
        })
        .await;
        match result {
            Ok(()) => Ok((info, secret)),
            Err(VaultError::Unauthenticated) => {
                self.login_failed(fail_ev, fail_key, LoginFailure::MfaInvalid, now)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn login_failed<T>(
        &self,
        mut ev: AuditEvent,
        key: String,
        failure: LoginFailure,
        now: OffsetDateTime,
    ) -> Result<T, VaultError> {
        ev.outcome = Outcome::Denied;
        ev.reason = Some(failure.code().to_owned());
        write_tx(&**self.store(), move |tx| {
            tx.insert_login_failure(&key, now)?;
            append_audit(tx, &ev)
        })
        .await
        .map_err(|_| VaultError::AuditUnavailable)?;
        Err(VaultError::Unauthenticated)
    }

    /// Ends the caller's session (the token presented).
    pub async fn logout(&self, meta: &RequestMeta, bearer: &str) -> Result<(), VaultError> {
        let secret = parse_token(bearer, SESSION_TOKEN_PREFIX)
            .map_err(|_| VaultError::BadRequest("not_a_session"))?;
        let principal = self.authenticate(meta, Some(bearer)).await?;
        let hash = token_hash(&secret);
        let now = self.clock().now();
        let ev = self.event(meta, Some(&principal), "auth.logout");
        self.audited(ev, move |tx, ev| {
            let s = tx
                .get_session_by_hash(&hash)?
                .ok_or(VaultError::NotFound("session"))?;
            ev.target = Some(s.id.clone());
            tx.revoke_session(&s.id, now)?;
            Ok(())
        })
        .await
    }

    // ----- users ----------------------------------------------------------------------

    /// Creates a human user with an initial password and enrols TOTP at once (MFA is on
    /// by default): the enrollment (otpauth URI and recovery codes) is returned once.
    pub async fn create_user(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        password: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<(UserInfo, Enrollment), VaultError> {
        let mut ev = self.event(meta, Some(principal), "user.create");
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        if let Err(e) = check_username(username) {
            return self.reject(ev, e).await;
        }
        if let Err(r) = check_password_policy(password, username) {
            return self.reject(ev, VaultError::BadRequest(r.code())).await;
        }
        let params = self.config().password_params;
        let pw = Zeroizing::new(password.to_owned());
        let phc = blocking(move || hash_password(&pw, &params)).await??;
        let now = self.clock().now();
        let id = Uuid::new_v4().to_string();
        ev.target = Some(id.clone());
        let totp = TotpSecret::generate()?;
        let uri = Zeroizing::new(otpauth_uri(
            &totp,
            &TotpParams::default(),
            TOTP_ISSUER,
            username,
        ));
        let codes = generate_recovery_codes(RECOVERY_CODES)?;
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| recovery_code_hash(c)).collect();
        let keyring = self.keyring();
        let row = UserRow {
            id: id.clone(),
            username: username.to_owned(),
            kind: "human".to_owned(),
            password_phc: Some(phc),
            totp_sealed: None,
            totp_last_step: None,
            roles: roles.to_vec(),
            allow_admin_phi,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let info = self
            .audited(ev, move |tx, _| {
                let resolved = resolve_roles(tx, &row.roles)?;
                check_separation(&resolved, row.allow_admin_phi)?;
                let subject = user_key_subject(&row.id);
                let dek = SubjectKeys::new(&keyring).get_or_create(tx, &subject, now)?;
                let mut row = row;
                row.totp_sealed = Some(
                    Aad::user_secret(UserSecret::Totp, &row.id, &subject)
                        .seal(&dek, totp.expose_secret())?,
                );
                match tx.insert_user(&row) {
                    Err(crate::StoreError::Duplicate) => {
                        return Err(VaultError::Conflict("username_taken"));
                    }
                    other => other?,
                }
                tx.replace_recovery_codes(&row.id, &hashes)?;
                Ok(user_info(&row))
            })
            .await?;
        Ok((
            info,
            Enrollment {
                otpauth_uri: uri,
                recovery_codes: codes,
            },
        ))
    }

    /// Creates a service account: a non-human identity that holds API tokens.
    pub async fn create_service_account(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<UserInfo, VaultError> {
        let mut ev = self.event(meta, Some(principal), "service_account.create");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        if let Err(e) = check_name(MetadataKind::ServiceAccountName, username) {
            return self.reject(ev, e.into()).await;
        }
        if let Err(e) = check_username(username) {
            return self.reject(ev, e).await;
        }
        let now = self.clock().now();
        let row = UserRow {
            id: Uuid::new_v4().to_string(),
            username: username.to_owned(),
            kind: "service".to_owned(),
            password_phc: None,
            totp_sealed: None,
            totp_last_step: None,
            roles: roles.to_vec(),
            allow_admin_phi,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        ev.target = Some(row.id.clone());
        self.audited(ev, move |tx, _| {
            let resolved = resolve_roles(tx, &row.roles)?;
            check_separation(&resolved, row.allow_admin_phi)?;
            match tx.insert_user(&row) {
                Err(crate::StoreError::Duplicate) => Err(VaultError::Conflict("username_taken")),
                other => {
                    other?;
                    Ok(user_info(&row))
                }
            }
        })
        .await
    }

    /// Every user and service account.
    pub async fn list_users(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<UserInfo>, VaultError> {
        let ev = self.event(meta, Some(principal), "user.list");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        self.audited(ev, |tx, ev| {
            let rows = tx.list_users()?;
            ev.count = Some(rows.len() as u64);
            Ok(rows.iter().map(user_info).collect())
        })
        .await
    }

    async fn change_user<F>(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: &str,
        username: &str,
        change: F,
    ) -> Result<UserInfo, VaultError>
    where
        F: FnOnce(&mut dyn WriteTx, &mut UserRow, OffsetDateTime) -> Result<(), VaultError>
            + Send
            + 'static,
    {
        let ev = self.event(meta, Some(principal), action);
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let now = self.clock().now();
        let name = username.to_owned();
        self.audited(ev, move |tx, ev| {
            let mut user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound("user"))?;
            ev.target = Some(user.id.clone());
            change(tx, &mut user, now)?;
            user.updated_at = now;
            tx.update_user(&user)?;
            Ok(user_info(&user))
        })
        .await
    }

    /// Disables an account and ends its sessions at once (termination, 164.308(a)(3)(ii)(C)).
    pub async fn disable_user(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
    ) -> Result<UserInfo, VaultError> {
        self.change_user(meta, principal, "user.disable", username, |tx, u, now| {
            u.disabled = true;
            tx.revoke_user_sessions(&u.id, now)?;
            Ok(())
        })
        .await
    }

    /// Enables a disabled account.
    pub async fn enable_user(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
    ) -> Result<UserInfo, VaultError> {
        self.change_user(meta, principal, "user.enable", username, |_, u, _| {
            u.disabled = false;
            Ok(())
        })
        .await
    }

    /// Sets a new password chosen by an administrator, ends the user's sessions and clears
    /// their lockout.
    pub async fn reset_password(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        password: &str,
    ) -> Result<UserInfo, VaultError> {
        if let Err(r) = check_password_policy(password, username) {
            let ev = self.event(meta, Some(principal), "user.reset_password");
            return self.reject(ev, VaultError::BadRequest(r.code())).await;
        }
        let params = self.config().password_params;
        let pw = Zeroizing::new(password.to_owned());
        let phc = blocking(move || hash_password(&pw, &params)).await??;
        let key = failure_key(username);
        self.change_user(
            meta,
            principal,
            "user.reset_password",
            username,
            move |tx, u, now| {
                if u.kind != "human" {
                    return Err(VaultError::BadRequest("not_a_human_user"));
                }
                u.password_phc = Some(phc);
                tx.revoke_user_sessions(&u.id, now)?;
                tx.clear_login_failures(&key)?;
                Ok(())
            },
        )
        .await
    }

    /// Replaces a user's roles (separation of admin and PHI access enforced).
    pub async fn set_user_roles(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<UserInfo, VaultError> {
        let roles = roles.to_vec();
        self.change_user(
            meta,
            principal,
            "user.set_roles",
            username,
            move |tx, u, _| {
                let resolved = resolve_roles(tx, &roles)?;
                check_separation(&resolved, allow_admin_phi)?;
                u.roles = roles;
                u.allow_admin_phi = allow_admin_phi;
                Ok(())
            },
        )
        .await
    }

    /// Ends every session of a user at once.
    pub async fn revoke_sessions(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
    ) -> Result<u64, VaultError> {
        let ev = self.event(meta, Some(principal), "user.revoke_sessions");
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let now = self.clock().now();
        let name = username.to_owned();
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound("user"))?;
            ev.target = Some(user.id.clone());
            let n = tx.revoke_user_sessions(&user.id, now)?;
            ev.count = Some(n);
            Ok(n)
        })
        .await
    }

    // ----- tokens ---------------------------------------------------------------------

    /// Issues an API token for a service account. Its roles must be a subset of the
    /// account's; its lifetime at most the configured maximum; the secret is returned once
    /// and only its hash is stored.
    pub async fn create_token(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        owner: &str,
        name: &str,
        roles: &[String],
        ttl: Duration,
    ) -> Result<(TokenInfo, TokenSecret), VaultError> {
        let mut ev = self.event(meta, Some(principal), "token.create");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        if let Err(e) = check_name(MetadataKind::TokenName, name) {
            return self.reject(ev, e.into()).await;
        }
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b' '));
        if !name_ok {
            return self
                .reject(ev, VaultError::BadRequest("invalid_token_name"))
                .await;
        }
        if ttl <= Duration::ZERO || ttl > self.config().max_token_ttl {
            return self
                .reject(ev, VaultError::BadRequest("token_ttl_out_of_range"))
                .await;
        }
        let secret = generate_token(API_TOKEN_PREFIX)?;
        let now = self.clock().now();
        let id = TokenId(Uuid::new_v4());
        ev.target = Some(id.to_string());
        let (owner, name, roles) = (owner.to_owned(), name.to_owned(), roles.to_vec());
        let hash = token_hash(&secret);
        let info = self
            .audited(ev, move |tx, _| {
                let account = tx
                    .get_user_by_name(&owner)?
                    .filter(|u| u.kind == "service")
                    .ok_or(VaultError::NotFound("service account"))?;
                // A name that is no role at all is a typo, not an escalation attempt.
                resolve_roles(tx, &roles)?;
                let wanted: BTreeSet<&String> = roles.iter().collect();
                if roles.is_empty() || !wanted.iter().all(|r| account.roles.contains(r)) {
                    return Err(VaultError::Forbidden {
                        rule: "deny:role_escalation".to_owned(),
                    });
                }
                let row = TokenRow {
                    id,
                    name,
                    secret_hash: hash,
                    owner: account.id.clone(),
                    roles: wanted.into_iter().cloned().collect(),
                    created_at: now,
                    expires_at: now + ttl,
                    revoked_at: None,
                    last_used_at: None,
                };
                tx.insert_token(&row)?;
                Ok(token_info(&row))
            })
            .await?;
        Ok((info, secret))
    }

    /// Every token's public description.
    pub async fn list_tokens(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<TokenInfo>, VaultError> {
        let ev = self.event(meta, Some(principal), "token.list");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        self.audited(ev, |tx, ev| {
            let rows = tx.list_tokens()?;
            ev.count = Some(rows.len() as u64);
            Ok(rows.iter().map(token_info).collect())
        })
        .await
    }

    /// Revokes a token at once.
    pub async fn revoke_token(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: TokenId,
    ) -> Result<(), VaultError> {
        let mut ev = self.event(meta, Some(principal), "token.revoke");
        ev.target = Some(id.to_string());
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let now = self.clock().now();
        self.audited(ev, move |tx, _| {
            if tx.revoke_token(&id, now)? {
                Ok(())
            } else {
                Err(VaultError::NotFound("active token"))
            }
        })
        .await
    }

    /// Replaces a token with a new secret of the same owner, roles and lifetime, and
    /// revokes the old one in the same transaction.
    pub async fn rotate_token(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: TokenId,
    ) -> Result<(TokenInfo, TokenSecret), VaultError> {
        let mut ev = self.event(meta, Some(principal), "token.rotate");
        ev.target = Some(id.to_string());
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let secret = generate_token(API_TOKEN_PREFIX)?;
        let hash = token_hash(&secret);
        let now = self.clock().now();
        let new_id = TokenId(Uuid::new_v4());
        let info = self
            .audited(ev, move |tx, _| {
                let old = tx
                    .list_tokens()?
                    .into_iter()
                    .find(|t| t.id == id && t.revoked_at.is_none() && t.expires_at > now)
                    .ok_or(VaultError::NotFound("active token"))?;
                tx.revoke_token(&id, now)?;
                let row = TokenRow {
                    id: new_id,
                    secret_hash: hash,
                    created_at: now,
                    expires_at: now + (old.expires_at - old.created_at),
                    revoked_at: None,
                    last_used_at: None,
                    ..old
                };
                tx.insert_token(&row)?;
                Ok(token_info(&row))
            })
            .await?;
        Ok((info, secret))
    }

    // ----- roles ----------------------------------------------------------------------

    /// Defines or replaces a custom role (built-in names are reserved).
    pub async fn put_role(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        role: Role,
    ) -> Result<Role, VaultError> {
        let mut ev = self.event(meta, Some(principal), "role.put");
        ev.target = Some(role.name.clone());
        // An identifier-like name must not reach the audit event either.
        let named = crate::metadata::check_role(&role);
        if named.is_err() {
            ev.target = None;
        }
        self.authorize(principal, Action::ManageRoles, &ev).await?;
        if let Err(e) = named {
            return self.reject(ev, e.into()).await;
        }
        if let Err(e) = check_role_name(&role.name) {
            return self.reject(ev, e).await;
        }
        if builtin_role(&role.name).is_some() {
            return self
                .reject(ev, VaultError::Conflict("role_is_builtin"))
                .await;
        }
        let json =
            serde_json::to_string(&role).map_err(|_| VaultError::Internal("role_encoding"))?;
        let row = RoleRow {
            name: role.name.clone(),
            definition_json: json,
            updated_at: self.clock().now(),
        };
        self.audited(ev, move |tx, _| Ok(tx.upsert_role(&row)?))
            .await?;
        Ok(role)
    }

    /// Every role: built-in ones first, then custom ones.
    pub async fn list_roles(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<Role>, VaultError> {
        let ev = self.event(meta, Some(principal), "role.list");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        self.audited(ev, |tx, _| {
            let mut roles: Vec<Role> = crate::policy::BUILTIN_ROLES
                .iter()
                .filter_map(|n| builtin_role(n))
                .collect();
            for row in tx.list_roles()? {
                roles.push(
                    serde_json::from_str(&row.definition_json)
                        .map_err(|_| VaultError::Integrity)?,
                );
            }
            Ok(roles)
        })
        .await
    }

    // ----- care relationships ---------------------------------------------------------

    /// Links a user or service account to a subject, so `assigned` grants reach it.
    pub async fn assign_subject(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        subject: &SubjectId,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(), VaultError> {
        let mut ev = self.event(meta, Some(principal), "care.assign");
        ev.subject = Some(subject.to_string());
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let now = self.clock().now();
        let (name, subject) = (username.to_owned(), subject.to_string());
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound("user"))?;
            ev.target = Some(user.id.clone());
            tx.upsert_care_relationship(&CareRelationshipRow {
                principal_id: user.id,
                subject,
                created_at: now,
                expires_at,
            })?;
            Ok(())
        })
        .await
    }

    /// Ends a care relationship.
    pub async fn unassign_subject(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
        subject: &SubjectId,
    ) -> Result<(), VaultError> {
        let mut ev = self.event(meta, Some(principal), "care.unassign");
        ev.subject = Some(subject.to_string());
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let (name, subject) = (username.to_owned(), subject.to_string());
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound("user"))?;
            ev.target = Some(user.id.clone());
            if tx.delete_care_relationship(&user.id, &subject)? {
                Ok(())
            } else {
                Err(VaultError::NotFound("care relationship"))
            }
        })
        .await
    }

    // ----- break-glass ----------------------------------------------------------------

    /// Opens emergency access to one subject for a bounded time. Requires the `breakglass`
    /// scope and a reason of at least 20 characters; access then runs under ETREAT. A
    /// high-severity audit event and an alert fire at once, and the episode waits in the
    /// review queue until an auditor closes it.
    pub async fn open_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        reason: &str,
        duration: Duration,
    ) -> Result<BreakGlassInfo, VaultError> {
        let mut ev = self.event(meta, Some(principal), "breakglass.open");
        ev.subject = Some(subject.to_string());
        ev.purpose = Some(PurposeOfUse::Etreat.as_str().to_owned());
        self.authorize(principal, Action::OpenBreakGlass, &ev)
            .await?;
        let reason = reason.trim();
        if reason.chars().count() < 20 || reason.len() > 2000 {
            return self
                .reject(ev, VaultError::BadRequest("breakglass_reason_length"))
                .await;
        }
        if duration <= Duration::ZERO || duration > self.config().break_glass_max {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest("breakglass_duration_out_of_range"),
                )
                .await;
        }
        let now = self.clock().now();
        let id = Uuid::new_v4().to_string();
        ev.target = Some(id.clone());
        ev.reason = Some("severity:high".to_owned());
        let keyring = self.keyring();
        let (pid, subj, text) = (principal.id.clone(), subject.to_string(), reason.to_owned());
        let row_id = id.clone();
        let info = self
            .audited(ev, move |tx, _| {
                let key_subject = user_key_subject(&pid);
                let dek = SubjectKeys::new(&keyring).get_or_create(tx, &key_subject, now)?;
                let row = BreakGlassRow {
                    id: row_id.clone(),
                    principal_id: pid.clone(),
                    subject: subj.clone(),
                    reason_sealed: Aad::user_secret(
                        UserSecret::BreakGlassReason,
                        &row_id,
                        &key_subject,
                    )
                    .seal(&dek, text.as_bytes())?,
                    opened_at: now,
                    expires_at: now + duration,
                    reviewed_at: None,
                    reviewer: None,
                    review_sealed: None,
                };
                tx.insert_break_glass(&row)?;
                Ok(BreakGlassInfo {
                    id: row_id,
                    principal_id: pid,
                    subject: subj,
                    reason: text,
                    opened_at: now,
                    expires_at: now + duration,
                    reviewed_at: None,
                    reviewer: None,
                    review_note: None,
                })
            })
            .await?;
        self.alerts_send(&Alert {
            kind: "breakglass.opened".to_owned(),
            id: info.id.clone(),
            principal: info.principal_id.clone(),
            subject: Some(info.subject.clone()),
            at: now,
            until: Some(info.expires_at),
        });
        Ok(info)
    }

    /// The break-glass review queue (open episodes), or every episode.
    pub async fn list_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        open_only: bool,
    ) -> Result<Vec<BreakGlassInfo>, VaultError> {
        let ev = self.event(meta, Some(principal), "breakglass.list");
        self.authorize(principal, Action::ReviewBreakGlass, &ev)
            .await?;
        let keyring = self.keyring();
        self.audited(ev, move |tx, ev| {
            let rows = tx.list_break_glass(open_only)?;
            ev.count = Some(rows.len() as u64);
            rows.iter()
                .map(|row| break_glass_info(tx, &keyring, row))
                .collect()
        })
        .await
    }

    /// Closes the review of a break-glass episode with the auditor's note.
    pub async fn review_break_glass(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        note: &str,
    ) -> Result<BreakGlassInfo, VaultError> {
        let mut ev = self.event(meta, Some(principal), "breakglass.review");
        ev.target = Some(id.to_owned());
        self.authorize(principal, Action::ReviewBreakGlass, &ev)
            .await?;
        let note = note.trim().to_owned();
        if note.is_empty() || note.len() > 2000 {
            return self
                .reject(ev, VaultError::BadRequest("review_note_length"))
                .await;
        }
        let keyring = self.keyring();
        let now = self.clock().now();
        let (id, reviewer) = (id.to_owned(), principal.id.clone());
        self.audited(ev, move |tx, ev| {
            let row = tx
                .get_break_glass(&id)?
                .ok_or(VaultError::NotFound("break-glass episode"))?;
            ev.subject = Some(row.subject.clone());
            let key_subject = user_key_subject(&row.principal_id);
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &key_subject)?;
            let sealed = Aad::user_secret(UserSecret::BreakGlassReview, &row.id, &key_subject)
                .seal(&dek, note.as_bytes())?;
            if !tx.review_break_glass(&id, &reviewer, &sealed, now)? {
                return Err(VaultError::Conflict("already_reviewed"));
            }
            let row = tx
                .get_break_glass(&id)?
                .ok_or(VaultError::Internal("review_state"))?;
            break_glass_info(tx, &keyring, &row)
        })
        .await
    }

    // ----- compliance -----------------------------------------------------------------

    /// Settings and accounts that weaken a safeguard, each with the rule it touches.
    pub async fn compliance_gaps(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<ComplianceGap>, VaultError> {
        let ev = self.event(meta, Some(principal), "compliance.gaps");
        // A read-only report: auditors review it, administrators act on it, and neither
        // needs a fresh login to look.
        let scopes = principal.scopes();
        if !(scopes.contains(&Scope::AuditRead) || scopes.contains(&Scope::UsersManage)) {
            let rule = "deny:missing_scope:audit:read".to_owned();
            return self.reject(ev, VaultError::Forbidden { rule }).await;
        }
        let mfa_required = self.config().mfa_required;
        self.audited(ev, move |tx, _| {
            let mut gaps = Vec::new();
            if !mfa_required {
                gaps.push(ComplianceGap {
                    code: "mfa_disabled".to_owned(),
                    detail: "Multi-factor authentication is turned off: person authentication \
                             (45 CFR 164.312(d)) rests on passwords alone."
                        .to_owned(),
                });
            }
            for u in tx.list_users()? {
                if u.allow_admin_phi {
                    gaps.push(ComplianceGap {
                        code: "admin_with_phi_access".to_owned(),
                        detail: format!(
                            "Account {} administers the vault and can read PHI (minimum \
                             necessary, 164.502(b)); review the exception.",
                            u.id
                        ),
                    });
                }
                if u.kind == "human" && u.totp_sealed.is_none() && !u.disabled {
                    gaps.push(ComplianceGap {
                        code: "user_without_mfa".to_owned(),
                        detail: format!("Account {} has no second factor enrolled.", u.id),
                    });
                }
            }
            Ok(gaps)
        })
        .await
    }
}

fn break_glass_info(
    tx: &mut dyn ReadTx,
    keyring: &phivault_crypto::Keyring,
    row: &BreakGlassRow,
) -> Result<BreakGlassInfo, VaultError> {
    let key_subject = user_key_subject(&row.principal_id);
    let dek = SubjectKeys::new(keyring).unwrap(tx, &key_subject)?;
    let reason = Aad::user_secret(UserSecret::BreakGlassReason, &row.id, &key_subject)
        .open(&dek, &row.reason_sealed)?;
    let review_note = match &row.review_sealed {
        Some(sealed) => Some(
            Aad::user_secret(UserSecret::BreakGlassReview, &row.id, &key_subject)
                .open(&dek, sealed)?,
        ),
        None => None,
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| VaultError::Integrity);
    Ok(BreakGlassInfo {
        id: row.id.clone(),
        principal_id: row.principal_id.clone(),
        subject: row.subject.clone(),
        reason: text(&reason)?,
        opened_at: row.opened_at,
        expires_at: row.expires_at,
        reviewed_at: row.reviewed_at,
        reviewer: row.reviewer.clone(),
        review_note: review_note.map(|n| text(&n)).transpose()?,
    })
}

/// Runs CPU-heavy work (Argon2id) on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| VaultError::Internal("blocking_task_failed"))
}
