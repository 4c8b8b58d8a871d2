//! Authentication: bearer tokens (API and session) to principals, login with password
//! and TOTP (45 CFR 164.312(d)) under lockout, and logout. Every refusal is audited with
//! its precise reason while the caller sees one answer.

use phivault_audit::{Actor, ActorKind, AuditEvent, Outcome};
use phivault_crypto::{
    TokenSecret, TotpParams, TotpSecret, dummy_verify_password, generate_token, parse_token,
    recovery_code_hash, token_hash, totp_verify, verify_password,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    API_TOKEN_PREFIX, SESSION_TOKEN_PREFIX, SessionInfo, TOUCH_EVERY, blocking, failure_key,
    resolve_roles,
};
use crate::Principal;
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault, Missing};
use crate::identity_store::SessionRow;
use crate::seal::{Aad, SubjectKeys, UserSecret, user_key_subject};
use crate::store::{read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

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
        let mut ev = self.event(meta, None, AuditAction::AuthAuthenticate);
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
            let owner = match tx.get_user(&row.owner)? {
                None => return Ok(Err("token_owner_unknown")),
                Some(o) if o.disabled => return Ok(Err("token_owner_disabled")),
                Some(o) => o,
            };
            // A token never holds more than its account holds now: demoting the account
            // demotes every token it issued at once, on every node, because this is read
            // from the store on each request (45 CFR 164.308(a)(4)(ii)(C)).
            let effective: Vec<String> = row
                .roles
                .iter()
                .filter(|r| owner.roles.contains(r))
                .cloned()
                .collect();
            if effective.is_empty() {
                return Ok(Err("token_roles_withdrawn"));
            }
            // A role deleted since the token was issued leaves it unusable, not half-working.
            match resolve_roles(tx, &effective) {
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
        let mut ev = self.event(meta, None, AuditAction::AuthLogin);
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
            return Err(VaultError::Internal(InternalFault::LoginState.as_str()));
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
                .ok_or(VaultError::Internal(InternalFault::LoginState.as_str()))?;
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
            .map_err(|_| VaultError::BadRequest(ErrorCode::NotASession.as_str()))?;
        let principal = self.authenticate(meta, Some(bearer)).await?;
        let hash = token_hash(&secret);
        let now = self.clock().now();
        let ev = self.event(meta, Some(&principal), AuditAction::AuthLogout);
        self.audited(ev, move |tx, ev| {
            let s = tx
                .get_session_by_hash(&hash)?
                .ok_or(VaultError::NotFound(Missing::Session.as_str()))?;
            ev.target = Some(s.id.clone());
            tx.revoke_session(&s.id, now)?;
            Ok(())
        })
        .await
    }
}
