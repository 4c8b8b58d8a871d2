//! Finding records: equality search through the blind index, and a subject's records
//! across collections. Both leave out what the principal may not see rather than fail.

use std::collections::HashMap;

use serde_json::Value;

use super::RecordView;
use super::path::{decide_subject, field_names, open_version};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::ErrorCode;
use crate::ids::{CollectionName, RecordId, SubjectId};
use crate::policy::{Candidates, DataAction, Principal, data_candidates};
use crate::schema::CollectionSchema;
use crate::validate::index_value;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Equality search on a searchable field through its blind index. Only records of
    /// subjects the principal may see are returned; the searched field must be visible to
    /// them. The audit event names the field, never the value.
    pub async fn search(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        field: &str,
        value: &Value,
    ) -> Result<Vec<RecordView>, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::RecordSearch);
        ev.collection = Some(collection.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Search, collection.as_str(), &ev)
            .await?;
        let Some(def) = schema.field(field).filter(|f| f.searchable).cloned() else {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::FieldNotSearchable.as_str()),
                )
                .await;
        };
        ev.fields = vec![def.name.to_string()];
        let normalised = match index_value(&def, value) {
            Ok(n) => n,
            Err(e) => return self.reject(ev, e.into()).await,
        };
        let keyring = self.keyring();
        let tag = keyring
            .blind_indexer()
            .tag(collection.as_str(), def.name.as_str(), &normalised);
        let field = def.name.to_string();
        let limit = self.config().max_results;
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let ids = tx.find_by_index(&collection, &field, &tag, limit)?;
            let mut views = Vec::with_capacity(ids.len());
            let mut rule = None;
            for id in ids {
                let head = tx
                    .get_record_head(&collection, &id)?
                    .ok_or(VaultError::Integrity)?;
                let d = match decide_subject(tx, &pid, &cand, &schema, &head.subject, now) {
                    Ok(d) if d.projection.visible.contains(&field) => d,
                    // Minimum necessary: a subject the principal may not see is left out,
                    // and so is a match on a field they may not see.
                    _ => continue,
                };
                rule.get_or_insert(d.rule.clone());
                let row = tx
                    .get_record_version(&collection, &id, head.version)?
                    .ok_or(VaultError::Integrity)?;
                views.push(open_version(&keyring, tx, &head, &row, &d.projection)?);
            }
            ev.reason = rule.or(Some("filtered:no_visible_results".to_owned()));
            ev.count = Some(views.len() as u64);
            Ok(views)
        })
        .await
    }

    /// A subject's live records across collections, in pages ordered by (collection, id);
    /// records the principal may not see are left out.
    pub async fn list_subject_records(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        after: Option<(CollectionName, RecordId)>,
        limit: usize,
    ) -> Result<Vec<RecordView>, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::SubjectListRecords);
        ev.subject = Some(subject.to_string());
        if principal.purpose.is_none() {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::PurposeRequired.as_str()),
                )
                .await;
        }
        let keyring = self.keyring();
        let limit = limit.clamp(1, self.config().max_results);
        let now = self.clock().now();
        let principal = principal.clone();
        let subject = subject.to_string();
        self.audited(ev, move |tx, ev| {
            let cursor = after.as_ref().map(|(c, id)| (c.as_str(), id));
            let heads = tx.list_subject_records(&subject, cursor, limit)?;
            let mut schemas: HashMap<String, Option<(CollectionSchema, Candidates)>> =
                HashMap::new();
            let mut views = Vec::with_capacity(heads.len());
            let mut rule = None;
            for head in heads {
                if !schemas.contains_key(&head.collection) {
                    let entry = match tx.get_collection(&head.collection)? {
                        Some(row) => {
                            let schema: CollectionSchema = serde_json::from_str(&row.schema_json)
                                .map_err(|_| VaultError::Integrity)?;
                            data_candidates(&principal, DataAction::Read, &head.collection)
                                .ok()
                                .map(|c| (schema, c))
                        }
                        None => None,
                    };
                    schemas.insert(head.collection.clone(), entry);
                }
                let Some(Some((schema, cand))) = schemas.get(&head.collection) else {
                    continue;
                };
                let Ok(d) = decide_subject(tx, &principal.id, cand, schema, &subject, now) else {
                    continue;
                };
                rule.get_or_insert(d.rule.clone());
                let row = tx
                    .get_record_version(&head.collection, &head.id, head.version)?
                    .ok_or(VaultError::Integrity)?;
                views.push(open_version(&keyring, tx, &head, &row, &d.projection)?);
            }
            ev.reason = rule.or(Some("filtered:no_visible_results".to_owned()));
            ev.count = Some(views.len() as u64);
            ev.fields = field_names(&views);
            Ok(views)
        })
        .await
    }
}
