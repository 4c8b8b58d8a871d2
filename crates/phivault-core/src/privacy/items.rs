//! Standing items: restrictions (164.522(a)), confidential communications (164.522(b)),
//! legal holds and hand-recorded disclosures; ending one, reading and listing items.

use time::Duration;

use super::{
    ACCOUNTING_YEARS, ItemDetail, ItemKind, ItemMeta, ItemStatus, NewDisclosure, NewRestriction,
    PrivacyItem, exclusion, insert_item, required_text, text, to_item,
};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::ids::{CollectionName, SubjectId};
use crate::policy::{Action, Principal};
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Adds an item of `kind` for the subject from `checked` (validated details, or the
    /// bad-request error to audit).
    async fn add_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        kind: ItemKind,
        checked: Result<(ItemMeta, ItemDetail), VaultError>,
    ) -> Result<PrivacyItem, VaultError> {
        let mut ev = self.privacy_event(
            meta,
            principal,
            AuditAction::item_added(kind),
            Some(subject.as_str()),
        );
        if let Ok((m, _)) = &checked {
            ev.collection = m.collections.first().cloned();
            ev.fields = m.fields.clone();
            if kind == ItemKind::Disclosure {
                ev.purpose = m.purposes.first().map(|p| p.as_str().to_owned());
            }
        }
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let (item_meta, detail) = match checked {
            Ok(v) => v,
            Err(e) => return self.reject(ev, e).await,
        };
        let keyring = self.keyring();
        let now = self.clock().now();
        let subject = subject.to_string();
        let pid = principal.id.clone();
        let initial = if kind == ItemKind::Disclosure {
            ItemStatus::Recorded
        } else {
            ItemStatus::Active
        };
        self.audited(ev, move |tx, ev| {
            let mut item_meta = item_meta;
            item_meta.by = Some(pid);
            insert_item(
                tx,
                &keyring,
                ev,
                kind,
                &subject,
                initial,
                (now, None, now),
                &item_meta,
                &detail,
            )
        })
        .await
    }

    /// Agrees to a restriction (164.522(a)): from now on the policy engine denies the
    /// covered collections for the listed purposes (emergency treatment excepted), and
    /// audits each denial with the restriction's id.
    pub async fn add_restriction(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        restriction: NewRestriction,
    ) -> Result<PrivacyItem, VaultError> {
        let valid_collections = !restriction.collections.is_empty()
            && restriction
                .collections
                .iter()
                .all(|c| c == "*" || CollectionName::parse(c).is_ok());
        let checked = if !valid_collections || restriction.purposes.is_empty() {
            Err(VaultError::BadRequest(
                ErrorCode::InvalidRestriction.as_str(),
            ))
        } else {
            text(restriction.reason, "invalid_reason").map(|reason| {
                let mut purposes = restriction.purposes;
                purposes.sort();
                purposes.dedup();
                let m = ItemMeta {
                    collections: restriction.collections,
                    purposes,
                    ..ItemMeta::default()
                };
                let d = ItemDetail {
                    reason,
                    ..ItemDetail::default()
                };
                (m, d)
            })
        };
        self.add_item(meta, principal, subject, ItemKind::Restriction, checked)
            .await
    }

    /// Records a request for confidential communications (164.522(b)): how and where the
    /// individual wants to be reached. Sealed; shown to privacy staff and in exports.
    pub async fn add_confidential_communication(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        instructions: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(instructions, "invalid_instructions").map(|i| {
            let d = ItemDetail {
                instructions: Some(i),
                ..ItemDetail::default()
            };
            (ItemMeta::default(), d)
        });
        let kind = ItemKind::ConfidentialCommunication;
        self.add_item(meta, principal, subject, kind, checked).await
    }

    /// Places a legal hold: the subject's records are neither disposed of by retention nor
    /// erased while it stands.
    pub async fn place_legal_hold(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        reason: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason").map(|r| {
            let d = ItemDetail {
                reason: Some(r),
                ..ItemDetail::default()
            };
            (ItemMeta::default(), d)
        });
        self.add_item(meta, principal, subject, ItemKind::LegalHold, checked)
            .await
    }

    /// Records a disclosure made outside the vault (e.g. a report to public health) for
    /// the accounting (164.528(b)). Purposes the accounting excludes are refused: such a
    /// disclosure need not be accounted for.
    pub async fn record_disclosure(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        d: NewDisclosure,
    ) -> Result<PrivacyItem, VaultError> {
        let now = self.clock().now();
        let lookback = Duration::days(365 * ACCOUNTING_YEARS + 2);
        let checked = if exclusion(d.purpose.as_str()).is_some() {
            Err(VaultError::BadRequest(
                ErrorCode::PurposeNotAccountable.as_str(),
            ))
        } else if d.disclosed_at > now || now - d.disclosed_at > lookback {
            Err(VaultError::BadRequest(
                ErrorCode::InvalidDisclosureTime.as_str(),
            ))
        } else if d
            .collections
            .iter()
            .any(|c| CollectionName::parse(c).is_err())
            || d.fields
                .iter()
                .any(|f| crate::ids::FieldName::parse(f).is_err())
        {
            Err(VaultError::BadRequest(
                ErrorCode::InvalidDisclosureScope.as_str(),
            ))
        } else {
            required_text(d.recipient, "invalid_recipient").and_then(|recipient| {
                let description = required_text(d.description, "invalid_description")?;
                let m = ItemMeta {
                    collections: d.collections,
                    fields: d.fields,
                    purposes: vec![d.purpose],
                    disclosed_at: Some(d.disclosed_at),
                    ..ItemMeta::default()
                };
                let detail = ItemDetail {
                    recipient: Some(recipient),
                    description: Some(description),
                    ..ItemDetail::default()
                };
                Ok((m, detail))
            })
        };
        self.add_item(meta, principal, subject, ItemKind::Disclosure, checked)
            .await
    }

    /// Ends a restriction (164.522(a)(2)), a confidential-communication request or a
    /// legal hold.
    pub async fn end_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let kinds = &[
            ItemKind::Restriction,
            ItemKind::ConfidentialCommunication,
            ItemKind::LegalHold,
        ];
        let action = AuditAction::PrivacyItemEnd;
        self.close_item(
            meta,
            principal,
            action,
            id,
            kinds,
            ItemStatus::Active,
            ItemStatus::Ended,
        )
        .await
    }

    /// One item.
    pub async fn privacy_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let ev = self.privacy_event(meta, principal, AuditAction::PrivacyItemRead, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let id = id.to_owned();
        self.audited(ev, move |tx, ev| {
            let row = tx
                .get_privacy_item(&id)?
                .ok_or(VaultError::NotFound(Missing::PrivacyItem.as_str()))?;
            ev.subject = Some(row.subject.clone());
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Items of a kind, for one subject or all, optionally only open requests past due.
    pub async fn list_privacy_items(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        kind: ItemKind,
        subject: Option<&SubjectId>,
        overdue_only: bool,
    ) -> Result<Vec<PrivacyItem>, VaultError> {
        let ev = self.privacy_event(
            meta,
            principal,
            AuditAction::PrivacyItemList,
            subject.map(SubjectId::as_str),
        );
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let subject = subject.map(SubjectId::to_string);
        self.audited(ev, move |tx, ev| {
            let rows = tx.list_privacy_items(kind.as_str(), subject.as_deref())?;
            let mut items = Vec::new();
            for row in &rows {
                let item = to_item(&keyring, tx, row, now)?;
                if !overdue_only || item.overdue {
                    items.push(item);
                }
            }
            ev.count = Some(items.len() as u64);
            Ok(items)
        })
        .await
    }
}
