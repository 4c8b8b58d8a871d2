//! The `Vault` service: one method per operation. Each method asks the policy engine, runs
//! its reads and writes in one store transaction together with its audit event (so a write
//! and its audit entry commit together, and a read is answered only once its audit entry is
//! durable), and records failed and denied attempts in a separate audited transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use phivault_audit::{
    Actor, ActorKind, AuditEntry, AuditEvent, ChainVerifier, GENESIS_HASH, Outcome,
};
use phivault_crypto::Keyring;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::VaultError;
use crate::ids::{CollectionName, RecordId, SubjectId, TokenId};
use crate::policy::{
    Action, Candidates, DataAction, Decision, Principal, Projection, data_candidates, decide,
};
use crate::schema::CollectionSchema;
use crate::seal::{RecordWriter, SubjectKeys, index_entries, open_data};
use crate::store::{
    CollectionRow, IndexEntry, ReadTx, RecordHead, RecordVersionRow, Store, TokenRow, WriteTx,
    read_tx, write_tx,
};
use crate::validate::{ValidatedRecord, index_value, validate_record};

#[cfg(feature = "bench-internals")]
mod bench_internals;

/// Tunables of the vault service.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The longest lifetime an API token may be given.
    pub max_token_ttl: Duration,
    /// The most records one search or listing returns.
    pub max_results: usize,
    /// Whether human users must log in with a second factor (TOTP). Turning it off is
    /// reported as a compliance gap (45 CFR 164.312(d)).
    pub mfa_required: bool,
    /// A session ends after this long without use (automatic logoff, 164.312(a)(2)(iii)).
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    pub session_lifetime: Duration,
    /// User management and key rotation need a login this recent.
    pub step_up_window: Duration,
    /// Failed logins within `lockout_window` that lock an account.
    pub lockout_threshold: u64,
    /// The window in which failures count, and the base of the back-off.
    pub lockout_window: Duration,
    /// The longest break-glass episode.
    pub break_glass_max: Duration,
    /// Argon2id parameters for new password hashes.
    pub password_params: phivault_crypto::PasswordHashParams,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            max_token_ttl: Duration::days(90),
            max_results: 100,
            mfa_required: true,
            session_idle_timeout: Duration::minutes(15),
            session_lifetime: Duration::hours(12),
            step_up_window: Duration::minutes(5),
            lockout_threshold: 5,
            lockout_window: Duration::minutes(15),
            break_glass_max: Duration::hours(4),
            password_params: phivault_crypto::PasswordHashParams::recommended(),
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
    /// The service account it acts for (user id).
    pub owner: String,
    /// The roles it carries.
    pub roles: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used (recorded at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
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
    alerts: RwLock<Arc<dyn crate::identity::AlertSink>>,
}

pub(crate) fn append_audit(tx: &mut dyn WriteTx, event: &AuditEvent) -> Result<(), VaultError> {
    let (seq, prev) = tx
        .audit_head()
        .map_err(|_| VaultError::AuditUnavailable)?
        .unwrap_or((0, GENESIS_HASH));
    let entry = AuditEntry::chain(seq + 1, prev, event);
    tx.append_audit(&entry)
        .map_err(|_| VaultError::AuditUnavailable)?;
    crate::audit_log::append_merkle(tx, &entry).map_err(|_| VaultError::AuditUnavailable)
}

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

fn field_names(views: &[RecordView]) -> Vec<String> {
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
            rule: format!("deny:restriction:{id}"),
        });
    }
    Ok(d)
}

/// Minimum necessary for writes: a principal writes only fields it may see unmasked.
fn check_writable(d: &Decision, record: &ValidatedRecord) -> Result<(), VaultError> {
    if record.data().keys().all(|k| d.projection.writable(k)) {
        Ok(())
    } else {
        Err(VaultError::Forbidden {
            rule: "deny:field_not_writable".to_owned(),
        })
    }
}

pub(crate) fn token_info(row: &TokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        name: row.name.clone(),
        owner: row.owner.clone(),
        roles: row.roles.clone(),
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
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
            alerts: RwLock::new(Arc::new(crate::identity::LogAlerts)),
        }
    }

    /// Sends alerts (break-glass and the like) to `sink` instead of the log alone.
    pub fn with_alerts(self, sink: Arc<dyn crate::identity::AlertSink>) -> Self {
        self.set_alerts(sink);
        self
    }

    /// Replaces where alerts go.
    pub fn set_alerts(&self, sink: Arc<dyn crate::identity::AlertSink>) {
        *self.alerts.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    /// Where alerts go.
    pub fn alerts(&self) -> Arc<dyn crate::identity::AlertSink> {
        self.alerts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    pub(crate) fn event(
        &self,
        meta: &RequestMeta,
        principal: Option<&Principal>,
        action: &str,
    ) -> AuditEvent {
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

    pub(crate) async fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        ev: &AuditEvent,
    ) -> Result<Decision, VaultError> {
        let mut d = decide(principal, action);
        if d.allowed && action.needs_step_up() && !principal.step_up_exempt {
            let now = self.clock.now();
            let fresh = principal
                .authenticated_at
                .is_some_and(|t| now - t <= self.config.step_up_window);
            if !fresh {
                d.allowed = false;
                d.rule = "deny:step_up_required".to_owned();
            }
        }
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
    pub(crate) async fn audited<T, F>(&self, ev: AuditEvent, op: F) -> Result<T, VaultError>
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
    pub(crate) async fn reject<T>(&self, ev: AuditEvent, err: VaultError) -> Result<T, VaultError> {
        self.record_failure(ev, &err).await?;
        Err(err)
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
        let ev = self.event(meta, Some(principal), "collection.list");
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
    pub(crate) async fn schema(
        &self,
        name: &CollectionName,
    ) -> Result<Arc<CollectionSchema>, VaultError> {
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
    pub(crate) async fn schema_or_reject(
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
    async fn candidates(
        &self,
        principal: &Principal,
        action: DataAction,
        collection: &str,
        ev: &AuditEvent,
    ) -> Result<Candidates, VaultError> {
        match data_candidates(principal, action, collection) {
            Ok(c) => Ok(c),
            Err(rule) if rule == "deny:purpose_required" => {
                self.reject(ev.clone(), VaultError::BadRequest("purpose_required"))
                    .await
            }
            Err(rule) => {
                self.reject(ev.clone(), VaultError::Forbidden { rule })
                    .await
            }
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
            Some(_) => ("record.read_version", DataAction::History),
            None => ("record.read", DataAction::Read),
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
        let now = self.clock.now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            let d = decide_subject(tx, &pid, &cand, &schema, &head.subject, now)?;
            ev.reason = Some(d.rule.clone());
            if version.is_none() && head.deleted {
                return Err(VaultError::Gone);
            }
            let v = version.unwrap_or(head.version);
            let row = tx
                .get_record_version(&collection, &id, v)?
                .ok_or(VaultError::NotFound("record version"))?;
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
        let mut ev = self.event(meta, Some(principal), "record.history");
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::History, collection.as_str(), &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock.now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            let d = decide_subject(tx, &pid, &cand, &schema, &head.subject, now)?;
            ev.reason = Some(d.rule.clone());
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
        let now = self.clock.now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let mut head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            let d = decide_subject(tx, &pid, &cand, &schema, &head.subject, now)?;
            check_writable(&d, &record)?;
            ev.reason = Some(d.rule.clone());
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
        let mut ev = self.event(meta, Some(principal), "record.delete");
        ev.collection = Some(collection.to_string());
        ev.record_id = Some(id.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Delete, collection.as_str(), &ev)
            .await?;
        let now = self.clock.now();
        let pid = principal.id.clone();
        let collection = collection.to_string();
        self.audited(ev, move |tx, ev| {
            let mut head = tx
                .get_record_head(&collection, &id)?
                .ok_or(VaultError::NotFound("record"))?;
            ev.subject = Some(head.subject.clone());
            let d = decide_subject(tx, &pid, &cand, &schema, &head.subject, now)?;
            ev.reason = Some(d.rule.clone());
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
        let mut ev = self.event(meta, Some(principal), "record.search");
        ev.collection = Some(collection.to_string());
        let schema = self.schema_or_reject(collection, &ev).await?;
        let cand = self
            .candidates(principal, DataAction::Search, collection.as_str(), &ev)
            .await?;
        let Some(def) = schema.field(field).filter(|f| f.searchable).cloned() else {
            return self
                .reject(ev, VaultError::BadRequest("field_not_searchable"))
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
        let limit = self.config.max_results;
        let now = self.clock.now();
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
        let mut ev = self.event(meta, Some(principal), "subject.list_records");
        ev.subject = Some(subject.to_string());
        if principal.purpose.is_none() {
            return self
                .reject(ev, VaultError::BadRequest("purpose_required"))
                .await;
        }
        let keyring = self.keyring();
        let limit = limit.clamp(1, self.config.max_results);
        let now = self.clock.now();
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

    // ----- audit and keys -------------------------------------------------------------

    /// Walks the whole audit chain and reports the first broken entry, if any.
    pub async fn verify_audit(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<AuditVerifyReport, VaultError> {
        let ev = self.event(meta, Some(principal), "audit.verify");
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        // The chain, the Merkle leaves and every stored signed tree head.
        let report =
            crate::audit_log::verify_report(&*self.store, &self.audit_public_key()).await?;
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
        self.authorize(principal, Action::ManageKeys, &ev).await?;
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
                SubjectKeys::new(&keyring).rewrap(tx, &page)
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
