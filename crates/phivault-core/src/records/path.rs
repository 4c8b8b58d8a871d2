//! The shared record path: the second step of a data decision (`decide_subject`), the
//! write check, opening a stored version into a projected view, and the audited
//! pre-transaction steps (schema, candidates, validation). Used by the record workflows in
//! `records` and by the privacy workflows (amendments, exports); nothing else.

use std::collections::BTreeSet;

use phivault_audit::AuditEvent;
use phivault_crypto::Keyring;
use serde_json::Value;
use time::OffsetDateTime;

use super::RecordView;
use crate::deny::DenyRule;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::ids::RecordId;
use crate::policy::{Candidates, DataAction, Decision, Principal, Projection, data_candidates};
use crate::schema::CollectionSchema;
use crate::seal::{index_entries, open_data};
use crate::store::{IndexEntry, ReadTx, RecordHead, RecordVersionRow};
use crate::validate::{ValidatedRecord, validate_record};
use crate::vault::Vault;

/// Opens one stored version into a view, projected; a tombstone has no data.
pub(crate) fn open_version(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    head: &RecordHead,
    row: &RecordVersionRow,
    projection: &Projection,
) -> Result<RecordView, VaultError> {
    if !row.tombstone && row.subject != head.subject {
        return Err(VaultError::Integrity);
    }
    let mut data = open_data(keyring, tx, row)?;
    projection.apply(&mut data);
    Ok(RecordView {
        collection: row.collection.clone(),
        id: row.id,
        subject: row.subject.clone(),
        version: row.version,
        current_version: head.version,
        data,
        deleted: row.tombstone,
        created_at: head.created_at,
        updated_at: row.created_at,
    })
}

pub(crate) fn field_names(views: &[RecordView]) -> Vec<String> {
    let names: BTreeSet<&String> = views.iter().flat_map(|v| v.data.keys()).collect();
    names.into_iter().cloned().collect()
}

/// The second step of a data decision, once the subject is known: looks up the care
/// relationship and any open break-glass episode only when a grant needs them.
pub(crate) fn decide_subject(
    tx: &mut dyn ReadTx,
    principal_id: &str,
    cand: &Candidates,
    schema: &CollectionSchema,
    subject: &str,
    now: OffsetDateTime,
) -> Result<Decision, VaultError> {
    let assigned =
        cand.needs_assignment() && tx.care_relationship_active(principal_id, subject, now)?;
    let break_glass = if cand.break_glass_eligible && !assigned && !cand.reaches_all_subjects() {
        tx.active_break_glass(principal_id, subject, now)?
            .map(|row| row.id)
    } else {
        None
    };
    let d = cand.resolve(schema, assigned, break_glass.as_deref());
    if !d.allowed {
        return Err(VaultError::Forbidden { rule: d.rule });
    }
    if let Some(id) = crate::privacy::restricting(tx, subject, schema.name.as_str(), cand.purpose)?
    {
        return Err(VaultError::Forbidden {
            rule: DenyRule::Restriction(id).to_string(),
        });
    }
    Ok(d)
}

/// The prologue of every single-record read and write: loads the head of `collection`/`id`,
/// names its subject in the audit event and decides for that subject (the decision's rule
/// goes into the event too). A record the caller may not see is `Concealed`: audited as
/// the denial it is, answered as one that does not exist.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide_record(
    tx: &mut dyn ReadTx,
    ev: &mut AuditEvent,
    principal_id: &str,
    cand: &Candidates,
    schema: &CollectionSchema,
    collection: &str,
    id: &RecordId,
    now: OffsetDateTime,
) -> Result<(RecordHead, Decision), VaultError> {
    let head = tx
        .get_record_head(collection, id)?
        .ok_or(VaultError::NotFound(Missing::Record.as_str()))?;
    ev.subject = Some(head.subject.clone());
    let d = match decide_subject(tx, principal_id, cand, schema, &head.subject, now) {
        Ok(d) => d,
        // The caller may act on this collection but not on this subject: answering 403
        // here and 404 for a missing id would confirm that the record exists.
        Err(VaultError::Forbidden { rule }) => return Err(VaultError::Concealed { rule }),
        Err(e) => return Err(e),
    };
    ev.reason = Some(d.rule.clone());
    Ok((head, d))
}

/// Minimum necessary for writes: a principal writes only fields it may see unmasked.
pub(crate) fn check_writable(d: &Decision, record: &ValidatedRecord) -> Result<(), VaultError> {
    if record.data().keys().all(|k| d.projection.writable(k)) {
        Ok(())
    } else {
        Err(VaultError::Forbidden {
            rule: DenyRule::FieldNotWritable.to_string(),
        })
    }
}

impl Vault {
    pub(crate) fn index_entries(
        &self,
        collection: &str,
        record: &ValidatedRecord,
    ) -> Vec<IndexEntry> {
        index_entries(&self.keyring().blind_indexer(), collection, record)
    }

    /// Validates `data` or records the audited failure.
    pub(crate) async fn validated(
        &self,
        schema: &CollectionSchema,
        data: Value,
        ev: &AuditEvent,
    ) -> Result<ValidatedRecord, VaultError> {
        match validate_record(schema, data) {
            Ok(r) => Ok(r),
            Err(e) => self.reject(ev.clone(), e.into()).await,
        }
    }

    /// The first, subject-independent step of a data decision; denials are audited.
    pub(crate) async fn candidates(
        &self,
        principal: &Principal,
        action: DataAction,
        collection: &str,
        ev: &AuditEvent,
    ) -> Result<Candidates, VaultError> {
        match data_candidates(principal, action, collection) {
            Ok(c) => Ok(c),
            Err(rule) if DenyRule::parse(&rule) == Some(DenyRule::PurposeRequired) => {
                self.reject(
                    ev.clone(),
                    VaultError::BadRequest(ErrorCode::PurposeRequired.as_str()),
                )
                .await
            }
            Err(rule) => {
                self.reject(ev.clone(), VaultError::Forbidden { rule })
                    .await
            }
        }
    }
}
