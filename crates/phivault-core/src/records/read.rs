//! Reading records: the current version, one version, and the whole history.

use super::path::{decide_record, field_names, open_version};
use super::{RecordView, VersionInfo};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::Missing;
use crate::ids::{CollectionName, RecordId};
use crate::policy::{DataAction, Principal};
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// The current version of a record.
    pub async fn get_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
    ) -> Result<RecordView, VaultError> {
        self.read_record(meta, principal, collection, id, None)
            .await
    }

    /// One version of a record (deleted records' old versions stay readable).
    pub async fn get_record_version(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        version: u64,
    ) -> Result<RecordView, VaultError> {
        self.read_record(meta, principal, collection, id, Some(version))
            .await
    }

    async fn read_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
        version: Option<u64>,
    ) -> Result<RecordView, VaultError> {
        let (action, data_action) = match version {
            Some(_) => (AuditAction::RecordReadVersion, DataAction::History),
            None => (AuditAction::RecordRead, DataAction::Read),
        };
        let mut ev = self.event(meta, Some(principal), action);
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        ev.version = version;
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, data_action, collection.as_str(), &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let (head, d) = decide_record(tx, ev, &pid, &cand, &schema, &collection, &id, now)?;
            if version.is_none() && head.deleted {
                return Err(VaultError::Gone);
            }
            let v = version.unwrap_or(head.version);
            let row = tx
                .get_record_version(&collection, &id, v)?
                .ok_or(VaultError::NotFound(Missing::RecordVersion.as_str()))?;
            let view = open_version(&keyring, tx, &head, &row, &d.projection)?;
            ev.version = Some(v);
            ev.fields = view.data.keys().cloned().collect();
            Ok(view)
        })
        .await
    }

    /// Every version of a record, oldest first.
    pub async fn record_history(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        id: RecordId,
    ) -> Result<Vec<VersionInfo>, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::RecordHistory);
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::History, collection.as_str(), &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let (head, d) = decide_record(tx, ev, &pid, &cand, &schema, &collection, &id, now)?;
            let rows = tx.list_record_versions(&collection, &id)?;
            let views = rows
                .iter()
                .map(|row| open_version(&keyring, tx, &head, row, &d.projection))
                .collect::<Result<Vec<_>, _>>()?;
            ev.count = Some(views.len() as u64);
            ev.fields = field_names(&views);
            Ok(views)
        })
        .await
    }
}
