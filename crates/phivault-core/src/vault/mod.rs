//! The `Vault` service facade: its configuration, construction, and the plumbing every
//! operation shares (audit events, authorization, the audited transaction, the schema
//! cache). The operations themselves live with their workflow: `records`, `identity`,
//! `privacy`, `research`, `audit_log`, `backup`, and `keys` and `audit` below.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use phivault_audit::{Actor, ActorKind, AuditEvent, Outcome};
use phivault_crypto::Keyring;
use time::Duration;

use crate::action::AuditAction;
use crate::clock::Clock;
use crate::deny::DenyRule;
use crate::error::VaultError;
use crate::error_code::Missing;
use crate::ids::CollectionName;
use crate::policy::{Action, Decision, Principal, decide};
use crate::schema::CollectionSchema;
use crate::store::{Store, WriteTx, read_tx, write_tx};

mod audit;
#[cfg(feature = "bench-internals")]
mod bench_internals;
mod keys;

pub use crate::identity::TokenInfo;
pub use crate::records::{RecordView, VersionInfo};
pub(crate) use audit::append_audit;
pub use audit::{AuditVerifyReport, verify_chain};

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

    /// A new event of one of the vault's own actions, successful until told otherwise.
    pub(crate) fn event(
        &self,
        meta: &RequestMeta,
        principal: Option<&Principal>,
        action: AuditAction,
    ) -> AuditEvent {
        self.event_named(meta, principal, action.as_str())
    }

    /// An event whose action the caller names (the edge's rejections, the binary's backup
    /// events).
    pub(crate) fn event_named(
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
            VaultError::Forbidden { rule } | VaultError::Concealed { rule } => rule.clone(),
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
        action: AuditAction,
        err: &VaultError,
    ) -> Result<(), VaultError> {
        let ev = self.event_named(meta, principal, action.as_str());
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
                d.rule = DenyRule::StepUpRequired.to_string();
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
        let row = row.ok_or(VaultError::NotFound(Missing::Collection.as_str()))?;
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
}
