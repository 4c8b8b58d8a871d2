//! Collections: declaring one and reading schemas. Schemas are metadata without PHI.

use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault};
use crate::ids::CollectionName;
use crate::policy::{Action, Principal};
use crate::schema::CollectionSchema;
use crate::store::CollectionRow;
use crate::vault::{RequestMeta, Vault};

impl Vault {
    /// Declares a collection.
    pub async fn create_collection(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        schema: CollectionSchema,
    ) -> Result<CollectionSchema, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::CollectionCreate);
        ev.collection = Some(schema.name.to_string());
        ev.fields = schema.fields.iter().map(|f| f.name.to_string()).collect();
        // An identifier-like name must not reach the audit event either.
        let named = crate::metadata::check_schema(&schema);
        if named.is_err() {
            ev.collection = None;
            ev.fields.clear();
        }
        self.authorize(principal, Action::ManageCollections, &ev)
            .await?;
        if let Err(e) = named {
            return self.reject(ev, e.into()).await;
        }
        if let Err(e) = schema.check() {
            return self.reject(ev, e).await;
        }
        let schema_json = serde_json::to_string(&schema)
            .map_err(|_| VaultError::Internal(InternalFault::SchemaEncoding.as_str()))?;
        let row = CollectionRow {
            name: schema.name.to_string(),
            schema_json,
            created_at: self.clock().now(),
        };
        self.audited(ev, move |tx, _| match tx.insert_collection(&row) {
            Err(crate::StoreError::Duplicate) => {
                Err(VaultError::Conflict(ErrorCode::CollectionExists.as_str()))
            }
            other => Ok(other?),
        })
        .await?;
        Ok(schema)
    }

    /// One collection's schema.
    pub async fn get_collection(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        name: &CollectionName,
    ) -> Result<CollectionSchema, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::CollectionRead);
        ev.collection = Some(name.to_string());
        // Schemas are metadata without PHI: every authenticated principal may read them.
        match self.schema(name).await {
            Ok(s) => {
                self.audited(ev, |_, _| Ok(())).await?;
                Ok((*s).clone())
            }
            Err(e) => self.reject(ev, e).await,
        }
    }

    /// Every collection's schema.
    pub async fn list_collections(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<CollectionSchema>, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::CollectionList);
        self.audited(ev, |tx, ev| {
            let rows = tx.list_collections()?;
            ev.count = Some(rows.len() as u64);
            rows.iter()
                .map(|r| serde_json::from_str(&r.schema_json).map_err(|_| VaultError::Integrity))
                .collect()
        })
        .await
    }
}
