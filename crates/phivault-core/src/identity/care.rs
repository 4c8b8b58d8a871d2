//! Care relationships: which users and service accounts `assigned` grants reach.

use time::OffsetDateTime;

use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::Missing;
use crate::identity_store::CareRelationshipRow;
use crate::policy::Action;
use crate::vault::{RequestMeta, Vault};
use crate::{Principal, SubjectId};

impl Vault {
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
        let mut ev = self.event(meta, Some(principal), AuditAction::CareAssign);
        ev.subject = Some(subject.to_string());
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let now = self.clock().now();
        let (name, subject) = (username.to_owned(), subject.to_string());
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound(Missing::User.as_str()))?;
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
        let mut ev = self.event(meta, Some(principal), AuditAction::CareUnassign);
        ev.subject = Some(subject.to_string());
        self.authorize(principal, Action::ManageUsers, &ev).await?;
        let (name, subject) = (username.to_owned(), subject.to_string());
        self.audited(ev, move |tx, ev| {
            let user = tx
                .get_user_by_name(&name)?
                .ok_or(VaultError::NotFound(Missing::User.as_str()))?;
            ev.target = Some(user.id.clone());
            if tx.delete_care_relationship(&user.id, &subject)? {
                Ok(())
            } else {
                Err(VaultError::NotFound(Missing::CareRelationship.as_str()))
            }
        })
        .await
    }
}
