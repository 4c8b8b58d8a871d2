//! API tokens of service accounts: issue (expiry mandatory), list, revoke, rotate.

use std::collections::BTreeSet;

use phivault_crypto::{TokenSecret, generate_token, token_hash};
use time::Duration;
use uuid::Uuid;

use super::{API_TOKEN_PREFIX, TokenInfo, resolve_roles, token_info};
use crate::Principal;
use crate::action::AuditAction;
use crate::deny::DenyRule;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::ids::TokenId;
use crate::metadata::{MetadataKind, check_name};
use crate::policy::Action;
use crate::store::TokenRow;
use crate::vault::{RequestMeta, Vault};

impl Vault {
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
        let mut ev = self.event(meta, Some(principal), AuditAction::TokenCreate);
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
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::InvalidTokenName.as_str()),
                )
                .await;
        }
        if ttl <= Duration::ZERO || ttl > self.config().max_token_ttl {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::TokenTtlOutOfRange.as_str()),
                )
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
                    .ok_or(VaultError::NotFound(Missing::ServiceAccount.as_str()))?;
                // A name that is no role at all is a typo, not an escalation attempt.
                resolve_roles(tx, &roles)?;
                let wanted: BTreeSet<&String> = roles.iter().collect();
                if roles.is_empty() || !wanted.iter().all(|r| account.roles.contains(r)) {
                    return Err(VaultError::Forbidden {
                        rule: DenyRule::RoleEscalation.to_string(),
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
        let ev = self.event(meta, Some(principal), AuditAction::TokenList);
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
        let mut ev = self.event(meta, Some(principal), AuditAction::TokenRevoke);
        ev.target = Some(id.to_string());
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let now = self.clock().now();
        self.audited(ev, move |tx, _| {
            if tx.revoke_token(&id, now)? {
                Ok(())
            } else {
                Err(VaultError::NotFound(Missing::ActiveToken.as_str()))
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
        let mut ev = self.event(meta, Some(principal), AuditAction::TokenRotate);
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
                    .ok_or(VaultError::NotFound(Missing::ActiveToken.as_str()))?;
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
}
