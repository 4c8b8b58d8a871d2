//! User and service-account management: creation (with TOTP enrolment for people),
//! listing, disabling, password reset, role changes and revoking sessions.

use phivault_crypto::{
    TotpParams, TotpSecret, check_password_policy, generate_recovery_codes, hash_password,
    otpauth_uri, recovery_code_hash,
};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{
    Enrollment, RECOVERY_CODES, TOTP_ISSUER, UserInfo, blocking, check_separation, check_username,
    failure_key, resolve_roles, user_info,
};
use crate::Principal;
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::identity_store::UserRow;
use crate::metadata::{MetadataKind, check_name};
use crate::policy::Action;
use crate::seal::{Aad, SubjectKeys, UserSecret, user_key_subject};
use crate::store::WriteTx;
use crate::vault::{RequestMeta, Vault};

impl Vault {
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
        let mut ev = self.event(meta, Some(principal), AuditAction::UserCreate);
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
                        return Err(VaultError::Conflict(ErrorCode::UsernameTaken.as_str()));
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
        let mut ev = self.event(meta, Some(principal), AuditAction::ServiceAccountCreate);
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
                Err(crate::StoreError::Duplicate) => {
                    Err(VaultError::Conflict(ErrorCode::UsernameTaken.as_str()))
                }
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
        let ev = self.event(meta, Some(principal), AuditAction::UserList);
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
        action: AuditAction,
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
                .ok_or(VaultError::NotFound(Missing::User.as_str()))?;
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
        self.change_user(
            meta,
            principal,
            AuditAction::UserDisable,
            username,
            |tx, u, now| {
                u.disabled = true;
                tx.revoke_user_sessions(&u.id, now)?;
                Ok(())
            },
        )
        .await
    }

    /// Enables a disabled account.
    pub async fn enable_user(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        username: &str,
    ) -> Result<UserInfo, VaultError> {
        self.change_user(
            meta,
            principal,
            AuditAction::UserEnable,
            username,
            |_, u, _| {
                u.disabled = false;
                Ok(())
            },
        )
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
            let ev = self.event(meta, Some(principal), AuditAction::UserResetPassword);
            return self.reject(ev, VaultError::BadRequest(r.code())).await;
        }
        let params = self.config().password_params;
        let pw = Zeroizing::new(password.to_owned());
        let phc = blocking(move || hash_password(&pw, &params)).await??;
        let key = failure_key(username);
        self.change_user(
            meta,
            principal,
            AuditAction::UserResetPassword,
            username,
            move |tx, u, now| {
                if u.kind != "human" {
                    return Err(VaultError::BadRequest(ErrorCode::NotAHumanUser.as_str()));
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
            AuditAction::UserSetRoles,
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
        let ev = self.event(meta, Some(principal), AuditAction::UserRevokeSessions);
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let now = self.clock().now();
        let name = username.to_owned();
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound(Missing::User.as_str()))?;
            ev.target = Some(user.id.clone());
            let n = tx.revoke_user_sessions(&user.id, now)?;
            ev.count = Some(n);
            Ok(n)
        })
        .await
    }
}
