//! Amendments (164.526): accepting one (a new record version through the record path),
//! denying it with its basis, and the individual's statement of disagreement.

use serde_json::Value;

use super::{
    ItemDetail, ItemKind, ItemStatus, PrivacyItem, close, encode_meta, open_detail, parse_meta,
    required_text, text, to_item,
};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::Missing;
use crate::ids::CollectionName;
use crate::policy::{Action, Principal};
use crate::privacy_store::PrivacyItemRow;
use crate::seal::{RecordWriter, SubjectKeys, index_entries, open_data};
use crate::store::read_tx;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Accepts an amendment: the requested changes become a new version of the record,
    /// linked from the request (164.526(c)). The merged record must satisfy its schema.
    pub async fn accept_amendment(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let ev = self.privacy_event(meta, principal, AuditAction::PrivacyAmendmentAccept, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        // The schema is needed outside the transaction: look the request up first.
        let key = id.to_owned();
        let found = read_tx(&**self.store(), move |tx| Ok(tx.get_privacy_item(&key)?)).await;
        let collection = match found {
            Ok(Some(row)) => parse_meta(&row).ok().and_then(|m| m.collection),
            Ok(None) => None,
            Err(e) => return self.reject(ev, e).await,
        };
        let Some(collection) = collection.and_then(|c| CollectionName::parse(&c).ok()) else {
            return self
                .reject(ev, VaultError::NotFound(Missing::PrivacyItem.as_str()))
                .await;
        };
        let schema = self.schema_or_reject(&collection, &ev).await?;
        let keyring = self.keyring();
        let indexer = keyring.blind_indexer();
        let now = self.clock().now();
        let (id, pid) = (id.to_owned(), principal.id.clone());
        self.audited(ev, move |tx, ev| {
            let mut row =
                Self::item_for_change(tx, &id, &[ItemKind::Amendment], ItemStatus::Open, ev)?;
            let mut m = parse_meta(&row)?;
            let (coll, rid) = match (&m.collection, m.record_id) {
                (Some(c), Some(r)) => (c.clone(), r),
                _ => return Err(VaultError::Integrity),
            };
            ev.collection = Some(coll.clone());
            ev.record_id = Some(rid.to_string());
            let mut head = tx
                .get_record_head(&coll, &rid)?
                .ok_or(VaultError::NotFound(Missing::Record.as_str()))?;
            if head.deleted {
                return Err(VaultError::Gone);
            }
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &head.subject)?;
            let detail = open_detail(&dek, &row)?;
            let current = tx
                .get_record_version(&coll, &rid, head.version)?
                .ok_or(VaultError::Integrity)?;
            if current.subject != head.subject {
                return Err(VaultError::Integrity);
            }
            let mut data = open_data(&keyring, tx, &current)?;
            data.extend(detail.changes.clone().unwrap_or_default());
            let record = crate::validate::validate_record(&schema, Value::Object(data))?;
            let entries = index_entries(&indexer, &coll, &record);
            let version = RecordWriter::new(tx, now).append(&dek, &mut head, &record, &entries)?;
            ev.version = Some(version);
            ev.fields = m.fields.clone();
            m.applied_version = Some(version);
            row.meta_json = encode_meta(&m)?;
            close(&mut row, ItemStatus::Accepted, now, &pid)?;
            tx.put_privacy_item(&row)?;
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Denies an amendment with its basis (164.526(d)(1)); the individual's statement of
    /// disagreement may come now or later, and goes with every later export.
    pub async fn deny_amendment(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        reason: String,
        disagreement: Option<String>,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason")
            .and_then(|r| Ok((r, text(disagreement, "invalid_statement")?)));
        let pid = principal.id.clone();
        let change = move |row: &mut PrivacyItemRow,
                           detail: &mut ItemDetail,
                           (reason, disagreement): (String, Option<String>),
                           now| {
            detail.denial_reason = Some(reason);
            detail.disagreement = disagreement;
            close(row, ItemStatus::Denied, now, &pid)
        };
        self.change_detail(
            meta,
            principal,
            AuditAction::PrivacyAmendmentDeny,
            id,
            &[ItemKind::Amendment],
            ItemStatus::Open,
            checked,
            change,
        )
        .await
    }

    /// Files the individual's statement of disagreement with a denied amendment, and the
    /// covered entity's rebuttal if any (164.526(d)(1)(iii), (d)(3)).
    pub async fn file_disagreement(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        statement: String,
        rebuttal: Option<String>,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(statement, "invalid_statement")
            .and_then(|s| Ok((s, text(rebuttal, "invalid_statement")?)));
        let change = |row: &mut PrivacyItemRow,
                      detail: &mut ItemDetail,
                      (statement, rebuttal): (String, Option<String>),
                      now| {
            detail.disagreement = Some(statement);
            if rebuttal.is_some() {
                detail.rebuttal = rebuttal;
            }
            row.updated_at = now;
            Ok(())
        };
        self.change_detail(
            meta,
            principal,
            AuditAction::PrivacyAmendmentDisagreement,
            id,
            &[ItemKind::Amendment],
            ItemStatus::Denied,
            checked,
            change,
        )
        .await
    }
}
