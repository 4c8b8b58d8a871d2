//! Writing records: create (the subject's data key made on first use), update with
//! `If-Match`, and soft delete. Sealing and the version rows are `seal::RecordWriter`'s.

use serde_json::Value;
use uuid::Uuid;

use super::RecordView;
use super::path::{check_writable, decide_record, decide_subject};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::ids::{CollectionName, RecordId, SubjectId};
use crate::policy::{DataAction, Principal};
use crate::seal::{RecordWriter, SubjectKeys};
use crate::store::RecordHead;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Stores a new record for `subject`, creating the subject's data key on first use.
    pub async fn create_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        subject: &SubjectId,
        data: Value,
    ) -> Result<RecordView, VaultError> {
        let now = self.clock().now();
        let id = RecordId(Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.unix_timestamp().max(0) as u64,
            now.nanosecond(),
        )));
        let mut ev = self.event(meta, Some(principal), AuditAction::RecordCreate);
        ev.collection = Some(collection.to_string());
        ev.subject = Some(subject.to_string());
        ev.record_id = Some(id.to_string());
        ev.version = Some(1);
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Create, collection.as_str(), &ev)
            .await?;
        let record = self.validated(&schema, data, &ev).await?;
        ev.fields = record.field_names();
        let entries = self.index_entries(collection.as_str(), &record);
        let keyring = self.keyring();
        let pid = principal.id.clone();
        let (collection, subject) = (collection.to_string(), subject.to_string());
        self.audited(ev, move |tx, ev| {
            let d = decide_subject(tx, &pid, &cand, &schema, &subject, now)?;
            check_writable(&d, &record)?;
            ev.reason = Some(d.rule.clone());
            let dek = SubjectKeys::new(&keyring).get_or_create(tx, &subject, now)?;
            let head = RecordHead {
                collection: collection.clone(),
                id,
                subject: subject.clone(),
                version: 1,
                deleted: false,
                created_at: now,
                updated_at: now,
            };
            RecordWriter::new(tx, now).first(&dek, &head, &record, &entries)?;
            let mut data = record.data().clone();
            d.projection.apply(&mut data);
            Ok(RecordView {
                collection,
                id,
                subject,
                version: 1,
                current_version: 1,
                data,
                deleted: false,
                created_at: now,
                updated_at: now,
            })
        })
        .await
    }

    /// Replaces a record's data with a new version; `expected` must be the current version
    /// (from `If-Match`), so concurrent editors cannot silently overwrite each other.
    pub async fn update_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        expected: Option<u64>,
        data: Value,
    ) -> Result<RecordView, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::RecordUpdate);
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Update, collection.as_str(), &ev)
            .await?;
        let Some(expected) = expected else {
            return self.reject(ev, VaultError::PreconditionRequired).await;
        };
        let record = self.validated(&schema, data, &ev).await?;
        ev.fields = record.field_names();
        let entries = self.index_entries(collection.as_str(), &record);
        let keyring = self.keyring();
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let (mut head, d) = decide_record(tx, ev, &pid, &cand, &schema, &collection, &id, now)?;
            check_writable(&d, &record)?;
            if head.deleted {
                return Err(VaultError::Gone);
            }
            if head.version != expected {
                return Err(VaultError::PreconditionFailed);
            }
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &head.subject)?;
            let version = RecordWriter::new(tx, now).append(&dek, &mut head, &record, &entries)?;
            ev.version = Some(version);
            let mut data = record.data().clone();
            d.projection.apply(&mut data);
            Ok(RecordView {
                collection,
                id,
                subject: head.subject,
                version,
                current_version: version,
                data,
                deleted: false,
                created_at: head.created_at,
                updated_at: now,
            })
        })
        .await
    }

    /// Soft-deletes a record: a tombstone version is added, search no longer finds it, and
    /// its history stays readable. `expected`, when given, must be the current version.
    pub async fn delete_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        expected: Option<u64>,
    ) -> Result<u64, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::RecordDelete);
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Delete, collection.as_str(), &ev)
            .await?;
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let (mut head, _) = decide_record(tx, ev, &pid, &cand, &schema, &collection, &id, now)?;
            if head.deleted {
                return Err(VaultError::Gone);
            }
            if expected.is_some_and(|e| e != head.version) {
                return Err(VaultError::PreconditionFailed);
            }
            let version = RecordWriter::new(tx, now).tombstone(&mut head)?;
            ev.version = Some(version);
            Ok(version)
        })
        .await
    }
}
