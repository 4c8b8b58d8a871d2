//! The compliance self-check: settings and accounts that weaken a safeguard.

use super::ComplianceGap;
use crate::Principal;
use crate::action::AuditAction;
use crate::deny::DenyRule;
use crate::error::VaultError;
use crate::policy::Scope;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    // ----- compliance -----------------------------------------------------------------

    /// Settings and accounts that weaken a safeguard, each with the rule it touches.
    pub async fn compliance_gaps(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<ComplianceGap>, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::ComplianceGaps);
        // A read-only report: auditors review it, administrators act on it, and neither
        // needs a fresh login to look.
        let scopes = principal.scopes();
        if !(scopes.contains(&Scope::AuditRead) || scopes.contains(&Scope::UsersManage)) {
            let rule = DenyRule::MissingScope(Scope::AuditRead).to_string();
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
