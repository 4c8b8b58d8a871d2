//! The `Vault` service: one method per operation. Each method asks the policy engine, runs
//! its reads and writes in one store transaction together with its audit event (so a write
//! and its audit entry commit together, and a read is answered only once its audit entry is
//! durable), and records failed and denied attempts in a separate audited transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use phivault_audit::{
    Actor, ActorKind, AuditEntry, AuditEvent, ChainVerifier, GENESIS_HASH, Outcome,
};
use phivault_crypto::{
    DataKey, Keyring, RecordAad, TokenSecret, WrappedKey, generate_token, open_record, parse_token,
    seal_record, token_hash,
};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::VaultError;
use crate::ids::{CollectionName, RecordId, SubjectId, TokenId};
use crate::policy::{Action, Decision, Principal, Projection, Scope, decide};
use crate::schema::CollectionSchema;
use crate::store::{
    CollectionRow, IndexEntry, ReadTx, RecordHead, RecordVersionRow, Store, SubjectKeyRow,
    TokenRow, WriteTx, read_tx, write_tx,
};
use crate::validate::{ValidatedRecord, index_value, validate_record};

/// The prefix of API tokens, so secret scanners can recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "pvt";

/// Tunables of the vault service.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The longest lifetime an API token may be given.
    pub max_token_ttl: Duration,
    /// The most records one search or listing returns.
    pub max_results: usize,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            max_token_ttl: Duration::days(90),
            max_results: 100,
        }
    }
}

/// Facts about the request that the audit log records.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The request id (echoed to the client in `X-Request-Id`).
    pub request_id: String,
    /// The client's address.
    pub source: Option<String>,
}

/// A record as returned to a caller, already projected to the fields they may see.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: RecordId,
    /// The owning subject.
    pub subject: String,
    /// The version shown.
    pub version: u64,
    /// The current version of the record (equals `version` unless an old one was asked for).
    pub current_version: u64,
    /// The fields, projected; empty for a deletion tombstone.
    pub data: Map<String, Value>,
    /// Whether this version is a deletion tombstone.
    pub deleted: bool,
    /// When the record was created.
    pub created_at: OffsetDateTime,
    /// When the version shown was written.
    pub updated_at: OffsetDateTime,
}

/// One entry of a record's history.
pub type VersionInfo = RecordView;

/// An API token's public description (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The public id.
    pub id: TokenId,
    /// The label.
    pub name: String,
    /// The scopes' wire names.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The last entry's hash (hex), if any.
    pub head_hash: Option<String>,
    /// The first broken entry, if any: its sequence number and what is wrong.
    pub first_break: Option<(u64, String)>,
}

/// The vault service.
#[derive(Debug)]
pub struct Vault {
    store: Arc<dyn Store>,
    keyring: RwLock<Arc<Keyring>>,
    clock: Arc<dyn Clock>,
    config: VaultConfig,
    schemas: RwLock<HashMap<String, Arc<CollectionSchema>>>,
}

fn append_audit(tx: &mut dyn WriteTx, event: &AuditEvent) -> Result<(), VaultError> {
    let (seq, prev) = tx
        .audit_head()
        .map_err(|_| VaultError::AuditUnavailable)?
        .unwrap_or((0, GENESIS_HASH));
    let entry = AuditEntry::chain(seq + 1, prev, event);
    tx.append_audit(&entry)
        .map_err(|_| VaultError::AuditUnavailable)
}

fn aad<'a>(collection: &'a str, id: &'a str, version: u64, subject: &'a str) -> RecordAad<'a> {
    RecordAad {
        collection,
        record_id: id,
        version,
        subject,
    }
}

fn unwrap_dek(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    subject: &str,
) -> Result<DataKey, VaultError> {
    let row = tx.get_subject_key(subject)?.ok_or(VaultError::Integrity)?;
    let wrapped = WrappedKey::from_bytes(&row.wrapped_key)?;
    Ok(keyring.unwrap_data_key(&wrapped, subject)?)
}

/// Opens one stored version into a view; a tombstone has no data.
fn open_version(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    head: &RecordHead,
    row: &RecordVersionRow,
    projection: &Projection,
) -> Result<RecordView, VaultError> {
    let mut data = Map::new();
    if !row.tombstone {
        if row.subject != head.subject {
            return Err(VaultError::Integrity);
        }
        let dek = unwrap_dek(keyring, tx, &row.subject)?;
        let id = row.id.to_string();
        let plain = open_record(
            &dek,
            &aad(&row.collection, &id, row.version, &row.subject),
            &row.sealed,
        )?;
        data = match serde_json::from_slice::<Value>(&plain) {
            Ok(Value::Object(m)) => m,
            _ => return Err(VaultError::Integrity),
        };
        projection.apply(&mut data);
    }
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

fn field_names(views: &[RecordView]) -> Vec<String> {
    let names: BTreeSet<&String> = views.iter().flat_map(|v| v.data.keys()).collect();
    names.into_iter().cloned().collect()
}

fn token_info(row: &TokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        name: row.name.clone(),
        scopes: row.scopes.clone(),
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

impl Vault {
    /// A vault over `store`, sealing with `keyring`, reading time from `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        clock: Arc<dyn Clock>,
        config: VaultConfig,
    ) -> Self {
        Self {
            store,
            keyring: RwLock::new(Arc::new(keyring)),
            clock,
            config,
            schemas: RwLock::new(HashMap::new()),
        }
    }

    /// The storage backend.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The service's tunables.
    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The keyring in use.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the keyring, e.g. after `keys rotate` changed the keyring file.
    pub fn replace_keyring(&self, keyring: Keyring) {
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keyring);
    }

    fn event(&self, meta: &RequestMeta, principal: Option<&Principal>, action: &str) -> AuditEvent {
        let (actor, method) = match principal {
            Some(p) => (p.actor.clone(), p.auth_method),
            None => (
                Actor {
                    kind: ActorKind::Anonymous,
                    id: None,
                },
                "none",
            ),
        };
        let mut ev = AuditEvent::new(
            self.clock.now(),
            meta.request_id.clone(),
            actor,
            method,
            action,
            Outcome::Success,
        );
        ev.source = meta.source.clone();
        ev.purpose = principal
            .and_then(|p| p.purpose)
            .map(|p| p.as_str().to_owned());
        ev
    }

    /// Records a failed or denied attempt in its own transaction. If even that cannot be
    /// written, the caller gets `AuditUnavailable` instead of the original error.
    async fn record_failure(&self, mut ev: AuditEvent, err: &VaultError) -> Result<(), VaultError> {
        ev.outcome = err.outcome();
        ev.reason = Some(match err {
            VaultError::Forbidden { rule } => rule.clone(),
            other => other.code().to_owned(),
        });
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)
    }

    /// Records a request that was refused before it reached an operation (malformed body,
    /// unknown route, oversized body), so that every request leaves an audit event.
    pub async fn record_rejected(
        &self,
        meta: &RequestMeta,
        principal: Option<&Principal>,
        action: &str,
        err: &VaultError,
    ) -> Result<(), VaultError> {
        let ev = self.event(meta, principal, action);
        self.record_failure(ev, err).await
    }

    async fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        ev: &AuditEvent,
    ) -> Result<Decision, VaultError> {
        let d = decide(principal, action);
        if d.allowed {
            Ok(d)
        } else {
            let err = VaultError::Forbidden { rule: d.rule };
            self.record_failure(ev.clone(), &err).await?;
            Err(err)
        }
    }

    /// Runs `op` and the audit event it completes in one write transaction; on failure the
    /// attempt is audited separately and the error returned.
    async fn audited<T, F>(&self, ev: AuditEvent, op: F) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn WriteTx, &mut AuditEvent) -> Result<T, VaultError> + Send + 'static,
    {
        let base = ev.clone();
        let result = write_tx(&*self.store, move |tx| {
            let mut ev = ev;
            let v = op(tx, &mut ev)?;
            append_audit(tx, &ev)?;
            Ok(v)
        })
        .await;
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.record_failure(base, &e).await?;
                Err(e)
            }
        }
    }

    /// Fails the request (audited) before any transaction runs.
    async fn reject<T>(&self, ev: AuditEvent, err: VaultError) -> Result<T, VaultError> {
        self.record_failure(ev, &err).await?;
        Err(err)
    }

    // ----- authentication and tokens -------------------------------------------------

    /// Turns a bearer token into a principal. Every failure gives the same answer to the
    /// caller; the audit event keeps the precise reason.
    pub async fn authenticate(
        &self,
        meta: &RequestMeta,
        bearer: Option<&str>,
    ) -> Result<Principal, VaultError> {
        let ev = self.event(meta, None, "auth.authenticate");
        let reason = match bearer.map(|b| parse_token(b, API_TOKEN_PREFIX)) {
            None => "token_missing",
            Some(Err(_)) => "token_malformed",
            Some(Ok(secret)) => {
                let hash = token_hash(&secret);
                let row = read_tx(&*self.store, move |tx| Ok(tx.get_token_by_hash(&hash)?)).await?;
                let now = self.clock.now();
                match row {
                    None => "token_unknown",
                    Some(r) if !phivault_crypto::ct_eq(&r.secret_hash, &hash) => "token_unknown",
                    Some(r) if r.revoked_at.is_some() => "token_revoked",
                    Some(r) if r.expires_at <= now => "token_expired",
                    Some(r) => {
                        return Ok(Principal {
                            actor: Actor {
                                kind: ActorKind::Token,
                                id: Some(r.id.to_string()),
                            },
                            auth_method: "api_token",
                            scopes: r.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
                            purpose: None,
                        });
                    }
                }
            }
        };
        let mut ev = ev;
        ev.outcome = Outcome::Denied;
        ev.reason = Some(reason.to_owned());
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Err(VaultError::Unauthenticated)
    }

    /// Issues an API token. Its scopes must be a subset of the creator's, and its lifetime at
    /// most the configured maximum; the secret is returned once and only its hash is stored.
    pub async fn create_token(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        name: &str,
        scopes: &[Scope],
        ttl: Duration,
    ) -> Result<(TokenInfo, TokenSecret), VaultError> {
        let mut ev = self.event(meta, Some(principal), "token.create");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b' '));
        if !name_ok {
            return self
                .reject(ev, VaultError::BadRequest("invalid_token_name"))
                .await;
        }
        if ttl <= Duration::ZERO || ttl > self.config.max_token_ttl {
            return self
                .reject(ev, VaultError::BadRequest("token_ttl_out_of_range"))
                .await;
        }
        if scopes.is_empty() || !scopes.iter().all(|s| principal.scopes.contains(s)) {
            let err = VaultError::Forbidden {
                rule: "deny:scope_escalation".to_owned(),
            };
            return self.reject(ev, err).await;
        }
        let secret = generate_token(API_TOKEN_PREFIX)?;
        let now = self.clock.now();
        let id = TokenId(Uuid::new_v4());
        let row = TokenRow {
            id,
            name: name.to_owned(),
            secret_hash: token_hash(&secret),
            scopes: scopes
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            created_at: now,
            expires_at: now + ttl,
            revoked_at: None,
        };
        ev.target = Some(id.to_string());
        let info = token_info(&row);
        self.audited(ev, move |tx, _| Ok(tx.insert_token(&row)?))
            .await?;
        Ok((info, secret))
    }

    /// Every token's public description.
    pub async fn list_tokens(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<TokenInfo>, VaultError> {
        let ev = self.event(meta, Some(principal), "token.list");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        self.audited(ev, |tx, ev| {
            let rows = tx.list_tokens()?;
            ev.count = Some(rows.len() as u64);
            Ok(rows.iter().map(token_info).collect())
        })
        .await
    }

    /// Revokes a token at once.
    pub async fn revoke_token(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: TokenId,
    ) -> Result<(), VaultError> {
        let mut ev = self.event(meta, Some(principal), "token.revoke");
        ev.target = Some(id.to_string());
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let now = self.clock.now();
        self.audited(ev, move |tx, _| {
            if tx.revoke_token(&id, now)? {
                Ok(())
            } else {
                Err(VaultError::NotFound("active token"))
            }
        })
        .await
    }

    // ----- collections ----------------------------------------------------------------

    /// Declares a collection.
    pub async fn create_collection(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        schema: CollectionSchema,
    ) -> Result<CollectionSchema, VaultError> {
        let mut ev = self.event(meta, Some(principal), "collection.create");
        ev.collection = Some(schema.name.to_string());
        ev.fields = schema.fields.iter().map(|f| f.name.to_string()).collect();
        self.authorize(principal, Action::ManageCollections, &ev)
            .await?;
        if let Err(e) = schema.check() {
            return self.reject(ev, e).await;
        }
        let schema_json =
            serde_json::to_string(&schema).map_err(|_| VaultError::Internal("schema_encoding"))?;
        let row = CollectionRow {
            name: schema.name.to_string(),
            schema_json,
            created_at: self.clock.now(),
        };
        self.audited(ev, move |tx, _| match tx.insert_collection(&row) {
            Err(crate::StoreError::Duplicate) => Err(VaultError::Conflict("collection_exists")),
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
        let mut ev = self.event(meta, Some(principal), "collection.read");
        ev.collection = Some(name.to_string());
        self.authorize(principal, Action::ReadRecords, &ev).await?;
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
        let ev = self.event(meta, Some(principal), "collection.list");
        self.authorize(principal, Action::ReadRecords, &ev).await?;
        self.audited(ev, |tx, ev| {
            let rows = tx.list_collections()?;
            ev.count = Some(rows.len() as u64);
            rows.iter()
                .map(|r| serde_json::from_str(&r.schema_json).map_err(|_| VaultError::Integrity))
                .collect()
        })
        .await
    }

    /// A collection's schema, cached: schemas do not change once declared.
    async fn schema(&self, name: &CollectionName) -> Result<Arc<CollectionSchema>, VaultError> {
        if let Some(s) = self
            .schemas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name.as_str())
        {
            return Ok(s.clone());
        }
        let key = name.to_string();
        let row = read_tx(&*self.store, move |tx| Ok(tx.get_collection(&key)?)).await?;
        let row = row.ok_or(VaultError::NotFound("collection"))?;
        let schema: CollectionSchema =
            serde_json::from_str(&row.schema_json).map_err(|_| VaultError::Integrity)?;
        let schema = Arc::new(schema);
        self.schemas
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), schema.clone());
        Ok(schema)
    }

    /// The schema, or an audited failure.
    async fn schema_or_reject(
        &self,
        name: &CollectionName,
        ev: &AuditEvent,
    ) -> Result<Arc<CollectionSchema>, VaultError> {
        match self.schema(name).await {
            Ok(s) => Ok(s),
            Err(e) => self.reject(ev.clone(), e).await,
        }
    }

    // ----- records --------------------------------------------------------------------

    fn index_entries(&self, collection: &str, record: &ValidatedRecord) -> Vec<IndexEntry> {
        let indexer = self.keyring().blind_indexer();
        record
            .index_values()
            .iter()
            .map(|(field, value)| IndexEntry {
                field: field.to_string(),
                tag: indexer.tag(collection, field.as_str(), value),
            })
            .collect()
    }

    /// Validates `data` or records the audited failure.
    async fn validated(
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

    /// Stores a new record for `subject`, creating the subject's data key on first use.
    pub async fn create_record(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        subject: &SubjectId,
        data: Value,
    ) -> Result<RecordView, VaultError> {
        let now = self.clock.now();
        let id = RecordId(Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.unix_timestamp().max(0) as u64,
            now.nanosecond(),
        )));
        let mut ev = self.event(meta, Some(principal), "record.create");
        ev.collection = Some(collection.to_string());
        ev.subject = Some(subject.to_string());
        ev.record_id = Some(id.to_string());
        ev.version = Some(1);
        self.authorize(principal, Action::WriteRecords, &ev).await?;
        let schema = self.schema_or_reject(collection, &ev).await?;
        let record = self.validated(&schema, data, &ev).await?;
        ev.fields = record.field_names();
        let entries = self.index_entries(collection.as_str(), &record);
        let keyring = self.keyring();
        let (collection, subject) = (collection.to_string(), subject.to_string());
        self.audited(ev, move |tx, _| {
            let dek = match tx.get_subject_key(&subject)? {
                Some(row) => {
                    let wrapped = WrappedKey::from_bytes(&row.wrapped_key)?;
                    keyring.unwrap_data_key(&wrapped, &subject)?
                }
                None => {
                    let dek = DataKey::generate()?;
                    let wrapped = keyring.wrap_data_key(&dek, &subject)?;
                    tx.insert_subject_key(&SubjectKeyRow {
                        subject: subject.clone(),
                        wrapped_key: wrapped.to_bytes(),
                        kek_version: wrapped.kek_version,
                        created_at: now,
                    })?;
                    dek
                }
            };
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(record.data()).map_err(|_| VaultError::Internal("encode"))?,
            );
            let id_text = id.to_string();
            let sealed = seal_record(&dek, &aad(&collection, &id_text, 1, &subject), &plain)?;
            let head = RecordHead {
                collection: collection.clone(),
                id,
                subject: subject.clone(),
                version: 1,
                deleted: false,
                created_at: now,
                updated_at: now,
            };
            tx.insert_record_head(&head)?;
            tx.insert_record_version(&RecordVersionRow {
                collection: collection.clone(),
                id,
                version: 1,
                subject: subject.clone(),
                sealed,
                tombstone: false,
                created_at: now,
            })?;
            tx.replace_index_entries(&collection, &id, &entries)?;
            Ok(RecordView {
                collection,
                id,
                subject,
                version: 1,
                current_version: 1,
                data: record.data().clone(),
                deleted: false,
                created_at: now,
                updated_at: now,
            })
        })
        .await
    }

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
        let action = if version.is_some() {
            "record.read_version"
        } else {
            "record.read"
        };
        let mut ev = self.event(meta, Some(principal), action);
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        ev.version = version;
        let decision = self.authorize(principal, Action::ReadRecords, &ev).await?;
        self.schema_or_reject(collection, &ev).await?;
        let keyring = self.keyring();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            if version.is_none() && head.deleted {
                return Err(VaultError::Gone);
            }
            let v = version.unwrap_or(head.version);
            let row = tx
                .get_record_version(&collection, &id, v)?
                .ok_or(VaultError::NotFound("record version"))?;
            let view = open_version(&keyring, tx, &head, &row, &decision.projection)?;
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
        let mut ev = self.event(meta, Some(principal), "record.history");
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let decision = self.authorize(principal, Action::ReadRecords, &ev).await?;
        self.schema_or_reject(collection, &ev).await?;
        let keyring = self.keyring();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            let rows = tx.list_record_versions(&collection, &id)?;
            let views = rows
                .iter()
                .map(|row| open_version(&keyring, tx, &head, row, &decision.projection))
                .collect::<Result<Vec<_>, _>>()?;
            ev.count = Some(views.len() as u64);
            ev.fields = field_names(&views);
            Ok(views)
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
        let mut ev = self.event(meta, Some(principal), "record.update");
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        self.authorize(principal, Action::WriteRecords, &ev).await?;
        let Some(expected) = expected else {
            return self.reject(ev, VaultError::PreconditionRequired).await;
        };
        let schema = self.schema_or_reject(collection, &ev).await?;
        let record = self.validated(&schema, data, &ev).await?;
        ev.fields = record.field_names();
        let entries = self.index_entries(collection.as_str(), &record);
        let keyring = self.keyring();
        let now = self.clock.now();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let mut head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            if head.deleted {
                return Err(VaultError::Gone);
            }
            if head.version != expected {
                return Err(VaultError::PreconditionFailed);
            }
            let version = head.version + 1;
            ev.version = Some(version);
            let dek = unwrap_dek(&keyring, tx, &head.subject)?;
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(record.data()).map_err(|_| VaultError::Internal("encode"))?,
            );
            let id_text = id.to_string();
            let sealed = seal_record(
                &dek,
                &aad(&collection, &id_text, version, &head.subject),
                &plain,
            )?;
            tx.insert_record_version(&RecordVersionRow {
                collection: collection.clone(),
                id,
                version,
                subject: head.subject.clone(),
                sealed,
                tombstone: false,
                created_at: now,
            })?;
            head.version = version;
            head.updated_at = now;
            tx.update_record_head(&head)?;
            tx.replace_index_entries(&collection, &id, &entries)?;
            Ok(RecordView {
                collection,
                id,
                subject: head.subject,
                version,
                current_version: version,
                data: record.data().clone(),
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
        let mut ev = self.event(meta, Some(principal), "record.delete");
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        self.authorize(principal, Action::WriteRecords, &ev).await?;
        self.schema_or_reject(collection, &ev).await?;
        let now = self.clock.now();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let mut head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            if head.deleted {
                return Err(VaultError::Gone);
            }
            if expected.is_some_and(|e| e != head.version) {
                return Err(VaultError::PreconditionFailed);
            }
            let version = head.version + 1;
            ev.version = Some(version);
            tx.insert_record_version(&RecordVersionRow {
                collection: collection.clone(),
                id,
                version,
                subject: head.subject.clone(),
                sealed: Vec::new(),
                tombstone: true,
                created_at: now,
            })?;
            head.version = version;
            head.deleted = true;
            head.updated_at = now;
            tx.update_record_head(&head)?;
            tx.replace_index_entries(&collection, &id, &[])?;
            Ok(version)
        })
        .await
    }

    /// Equality search on a searchable field through its blind index. The audit event
    /// names the field, never the value.
    pub async fn search(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        field: &str,
        value: &Value,
    ) -> Result<Vec<RecordView>, VaultError> {
        let mut ev = self.event(meta, Some(principal), "record.search");
        ev.collection = Some(collection.to_string());
        let decision = self.authorize(principal, Action::ReadRecords, &ev).await?;
        let schema = self.schema_or_reject(collection, &ev).await?;
        let Some(def) = schema.field(field).filter(|f| f.searchable) else {
            return self
                .reject(ev, VaultError::BadRequest("field_not_searchable"))
                .await;
        };
        ev.fields = vec![def.name.to_string()];
        let normalised = match index_value(def, value) {
            Ok(n) => n,
            Err(e) => return self.reject(ev, e.into()).await,
        };
        let keyring = self.keyring();
        let tag = keyring
            .blind_indexer()
            .tag(collection.as_str(), def.name.as_str(), &normalised);
        let field = def.name.to_string();
        let limit = self.config.max_results;
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let ids = tx.find_by_index(&collection, &field, &tag, limit)?;
            let mut views = Vec::with_capacity(ids.len());
            for id in ids {
                let head = tx
                    .get_record_head(&collection, &id)?
                    .ok_or(VaultError::Integrity)?;
                let row = tx
                    .get_record_version(&collection, &id, head.version)?
                    .ok_or(VaultError::Integrity)?;
                views.push(open_version(
                    &keyring,
                    tx,
                    &head,
                    &row,
                    &decision.projection,
                )?);
            }
            ev.count = Some(views.len() as u64);
            Ok(views)
        })
        .await
    }

    /// A subject's live records across collections, in pages ordered by (collection, id).
    pub async fn list_subject_records(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        after: Option<(CollectionName, RecordId)>,
        limit: usize,
    ) -> Result<Vec<RecordView>, VaultError> {
        let mut ev = self.event(meta, Some(principal), "subject.list_records");
        ev.subject = Some(subject.to_string());
        let decision = self.authorize(principal, Action::ReadRecords, &ev).await?;
        let keyring = self.keyring();
        let limit = limit.clamp(1, self.config.max_results);
        let subject = subject.to_string();
        self.audited(ev, move |tx, ev| {
            let cursor = after.as_ref().map(|(c, id)| (c.as_str(), id));
            let heads = tx.list_subject_records(&subject, cursor, limit)?;
            let mut views = Vec::with_capacity(heads.len());
            for head in heads {
                let row = tx
                    .get_record_version(&head.collection, &head.id, head.version)?
                    .ok_or(VaultError::Integrity)?;
                views.push(open_version(
                    &keyring,
                    tx,
                    &head,
                    &row,
                    &decision.projection,
                )?);
            }
            ev.count = Some(views.len() as u64);
            ev.fields = field_names(&views);
            Ok(views)
        })
        .await
    }

    // ----- audit and keys -------------------------------------------------------------

    /// Walks the whole audit chain and reports the first broken entry, if any.
    pub async fn verify_audit(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<AuditVerifyReport, VaultError> {
        let ev = self.event(meta, Some(principal), "audit.verify");
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        let report = verify_chain(&*self.store).await?;
        let mut ev = ev;
        ev.count = Some(report.entries);
        if report.first_break.is_some() {
            ev.outcome = Outcome::Error;
            ev.reason = Some("audit_chain_broken".to_owned());
        }
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(report)
    }

    /// Re-wraps every subject data key under the keyring's current KEK, in batches, without
    /// touching record ciphertext. `progress(done, total)` is called after each batch.
    pub async fn rewrap_data_keys(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, VaultError> {
        const BATCH: usize = 500;
        let mut ev = self.event(meta, Some(principal), "keys.rewrap");
        self.authorize(principal, Action::ManageTokens, &ev).await?;
        let keyring = self.keyring();
        let current = keyring.current_kek_version();
        ev.target = Some(format!("kek_v{current}"));
        let total = read_tx(&*self.store, |tx| Ok(tx.count_subject_keys()?)).await?;
        let mut done = 0u64;
        let mut rewrapped = 0u64;
        let mut after: Option<String> = None;
        loop {
            let cursor = after.clone();
            let page = read_tx(&*self.store, move |tx| {
                Ok(tx.list_subject_keys(cursor.as_deref(), BATCH)?)
            })
            .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.subject.clone());
            done += page.len() as u64;
            let keyring = keyring.clone();
            rewrapped += write_tx(&*self.store, move |tx| {
                let mut n = 0u64;
                for row in page.iter().filter(|r| r.kek_version != current) {
                    let wrapped = WrappedKey::from_bytes(&row.wrapped_key)?;
                    let new = keyring.rewrap_data_key(&wrapped, &row.subject)?;
                    tx.update_subject_key(&row.subject, &new.to_bytes(), new.kek_version)?;
                    n += 1;
                }
                Ok(n)
            })
            .await?;
            progress(done, total);
        }
        ev.count = Some(rewrapped);
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(rewrapped)
    }
}

/// Walks the audit chain in the store from the first entry; used by the vault and by
/// offline tools that must not append to the log they check.
pub async fn verify_chain(store: &dyn Store) -> Result<AuditVerifyReport, VaultError> {
    const PAGE: usize = 2000;
    let mut verifier = ChainVerifier::new();
    let mut after = 0u64;
    loop {
        let page = read_tx(store, move |tx| Ok(tx.audit_entries(after, PAGE)?)).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            if let Err(b) = verifier.push(entry) {
                return Ok(AuditVerifyReport {
                    entries: verifier.verified(),
                    head_hash: None,
                    first_break: Some((b.seq, b.to_string())),
                });
            }
        }
    }
    let (seq, hash) = verifier.head();
    Ok(AuditVerifyReport {
        entries: verifier.verified(),
        head_hash: (seq > 0).then(|| hex_encode(&hash)),
        first_break: None,
    })
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
