//! Writing records: create (the subject's data key made on first use), update (replace or
//! merge patch, see `change`) with `If-Match`, and soft delete. Sealing and the version rows are `seal::RecordWriter`'s.

use serde_json::Value;
use uuid::Uuid;

use super::RecordView;
use super::change::{RecordChange, changed_fields, next_data};
use super::path::{check_writable, decide_record, decide_subject};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::ids::{CollectionName, RecordId, SubjectId};
use crate::phi::Phi;
use crate::policy::{DataAction, Principal};
use crate::seal::{RecordWriter, SubjectKeys, index_entries, open_with};
use crate::store::RecordHead;
use crate::validate::validate_record;
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
    /// (from `If-Match`), so concurrent editors cannot silently overwrite each other. Fields
    /// the caller may not see, or sees masked, keep their stored values.
    pub async fn update_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        expected: Option<u64>,
        data: Value,
    ) -> Result<RecordView, VaultError> {
        self.change_record(
            meta,
            principal,
            collection,
            id,
            expected,
            RecordChange::Replace(data),
        )
        .await
    }

    /// Applies a JSON Merge Patch (RFC 7396) to a record as a new version; `expected` must
    /// be the current version. The patch may name only fields the caller may write.
    pub async fn patch_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        expected: Option<u64>,
        patch: Value,
    ) -> Result<RecordView, VaultError> {
        self.change_record(
            meta,
            principal,
            collection,
            id,
            expected,
            RecordChange::MergePatch(patch),
        )
        .await
    }

    /// The one update workflow: the change meets the stored data inside the write
    /// transaction, the result is validated as a whole, and the audit event names every
    /// field whose value changed.
    async fn change_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        expected: Option<u64>,
        change: RecordChange,
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
        let keyring = self.keyring();
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let (mut head, d) = decide_record(tx, ev, &pid, &cand, &schema, &collection, &id, now)?;
            if head.deleted {
                return Err(VaultError::Gone);
            }
            if head.version != expected {
                return Err(VaultError::PreconditionFailed);
            }
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &head.subject)?;
            let current = tx
                .get_record_version(&collection, &id, head.version)?
                .ok_or(VaultError::Integrity)?;
            if current.subject != head.subject {
                return Err(VaultError::Integrity);
            }
            let stored = Phi::new(open_with(&dek, &current)?);
            let next = next_data(stored.expose(), change, &d.projection)?;
            let record = validate_record(&schema, Value::Object(next))?;
            ev.fields = changed_fields(stored.expose(), record.data());
            let entries = index_entries(&keyring.blind_indexer(), &collection, &record);
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
