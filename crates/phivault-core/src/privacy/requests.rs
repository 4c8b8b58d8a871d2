//! Requests of individuals: logging an access or amendment request with its due date
//! (164.524(b)(2), 164.526(b)(2)), the one extension, and completing an access request.

use time::{Duration, OffsetDateTime};

use super::{
    ACCESS_DUE_DAYS, AMENDMENT_DUE_DAYS, EXTENSION_DAYS, ItemDetail, ItemKind, ItemMeta,
    ItemStatus, NewRequest, PrivacyItem, encode_meta, insert_item, parse_meta, required_text, text,
};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::ids::SubjectId;
use crate::policy::{Action, Principal};
use crate::privacy_store::PrivacyItemRow;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Logs an individual's request (access or amendment) with its due date: 30 days for
    /// access (164.524(b)(2)), 60 for amendment (164.526(b)(2)), counted from `received_at`
    /// (now when not given; never in the future).
    pub async fn open_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        received_at: Option<OffsetDateTime>,
        request: NewRequest,
    ) -> Result<PrivacyItem, VaultError> {
        let kind = match request {
            NewRequest::Access => ItemKind::AccessRequest,
            NewRequest::Amendment { .. } => ItemKind::Amendment,
        };
        let mut ev = self.privacy_event(
            meta,
            principal,
            AuditAction::request_opened(kind),
            Some(subject.as_str()),
        );
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let now = self.clock().now();
        let received = received_at.unwrap_or(now);
        if received > now {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::ReceivedInFuture.as_str()),
                )
                .await;
        }
        let mut item_meta = ItemMeta::default();
        let mut detail = ItemDetail::default();
        let due_days = match request {
            NewRequest::Access => ACCESS_DUE_DAYS,
            NewRequest::Amendment {
                collection,
                record_id,
                changes,
                reason,
            } => {
                ev.collection = Some(collection.to_string());
                ev.record_id = Some(record_id.to_string());
                let schema = self.schema_or_reject(&collection, &ev).await?;
                if changes.is_empty() || changes.keys().any(|k| schema.field(k).is_none()) {
                    return self
                        .reject(
                            ev,
                            VaultError::BadRequest(ErrorCode::InvalidAmendmentFields.as_str()),
                        )
                        .await;
                }
                let reason = match text(reason, "invalid_reason") {
                    Ok(r) => r,
                    Err(e) => return self.reject(ev, e).await,
                };
                item_meta.fields = changes.keys().cloned().collect();
                ev.fields = item_meta.fields.clone();
                item_meta.collection = Some(collection.to_string());
                item_meta.record_id = Some(record_id);
                detail.changes = Some(changes);
                detail.reason = reason;
                AMENDMENT_DUE_DAYS
            }
        };
        let keyring = self.keyring();
        let subject = subject.to_string();
        let pid = principal.id.clone();
        self.audited(ev, move |tx, ev| {
            if let (Some(c), Some(id)) = (&item_meta.collection, &item_meta.record_id) {
                let head = tx
                    .get_record_head(c, id)?
                    .ok_or(VaultError::NotFound(Missing::Record.as_str()))?;
                if head.subject != subject {
                    return Err(VaultError::NotFound(Missing::Record.as_str()));
                }
                if head.deleted {
                    return Err(VaultError::Gone);
                }
            }
            item_meta.by = Some(pid);
            insert_item(
                tx,
                &keyring,
                ev,
                kind,
                &subject,
                ItemStatus::Open,
                (received, Some(received + Duration::days(due_days)), now),
                &item_meta,
                &detail,
            )
        })
        .await
    }

    /// Takes the one 30-day extension of an open request, with the written reason the
    /// individual must be given before the first due date (164.524(b)(2)(ii),
    /// 164.526(b)(2)(ii)).
    pub async fn extend_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        reason: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason");
        let change = |row: &mut PrivacyItemRow, detail: &mut ItemDetail, reason, now| {
            let mut m = parse_meta(row)?;
            if m.extended_at.is_some() {
                return Err(VaultError::Conflict(ErrorCode::AlreadyExtended.as_str()));
            }
            let due = row.due_at.ok_or(VaultError::Integrity)?;
            if now > due {
                return Err(VaultError::Conflict(ErrorCode::RequestOverdue.as_str()));
            }
            detail.extension_reason = Some(reason);
            m.extended_at = Some(now);
            row.due_at = Some(due + Duration::days(EXTENSION_DAYS));
            row.updated_at = now;
            row.meta_json = encode_meta(&m)?;
            Ok(())
        };
        self.change_detail(
            meta,
            principal,
            AuditAction::PrivacyRequestExtend,
            id,
            &[ItemKind::AccessRequest, ItemKind::Amendment],
            ItemStatus::Open,
            checked,
            change,
        )
        .await
    }

    /// Marks an access request answered (the export was delivered).
    pub async fn complete_access_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let action = AuditAction::PrivacyAccessRequestComplete;
        let kinds = &[ItemKind::AccessRequest];
        self.close_item(
            meta,
            principal,
            action,
            id,
            kinds,
            ItemStatus::Open,
            ItemStatus::Completed,
        )
        .await
    }
}
