//! Custom roles: define or replace one, list built-in and custom roles.

use super::check_role_name;
use crate::Principal;
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault};
use crate::identity_store::RoleRow;
use crate::policy::{Action, Role, builtin_role};
use crate::vault::{RequestMeta, Vault};

impl Vault {
    // ----- roles ----------------------------------------------------------------------

    /// Defines or replaces a custom role (built-in names are reserved).
    pub async fn put_role(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        role: Role,
    ) -> Result<Role, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::RolePut);
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
                .reject(ev, VaultError::Conflict(ErrorCode::RoleIsBuiltin.as_str()))
                .await;
        }
        let json = serde_json::to_string(&role)
            .map_err(|_| VaultError::Internal(InternalFault::RoleEncoding.as_str()))?;
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
        let ev = self.event(meta, Some(principal), AuditAction::RoleList);
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
}
