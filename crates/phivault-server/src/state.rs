//! The state every handler shares: the vault, the request body limit, the rate-limit
//! buckets, and the readiness flag that `/readyz` reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use phivault_core::Vault;

use crate::limits::{Limiters, RateLimits};

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Whether the server should receive traffic; cleared when shutdown begins so that load
/// balancers drain it before connections close.
/// It also carries what is degraded without stopping service (an audit sink that lags or
/// fails): `/readyz` still answers 200, with status `degraded` and the reasons in the
/// `Phivault-Degraded` header.
#[derive(Debug, Clone)]
pub struct Readiness(
    Arc<AtomicBool>,
    Arc<RwLock<BTreeMap<&'static str, Vec<String>>>>,
);

impl Readiness {
    /// A flag that starts ready.
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)), Arc::default())
    }

    /// Replaces what `source` (e.g. `audit_sinks`, `backups`) reports as degraded (e.g.
    /// `audit_sink:syslog lag=1200`); each source owns its own list.
    pub fn set_degraded(&self, source: &'static str, reasons: Vec<String>) {
        self.1
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(source, reasons);
    }

    /// What is degraded now, over every source; empty when all is well.
    pub fn degraded(&self) -> Vec<String> {
        self.1
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// Marks the server ready or not ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// What the router's handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The vault service every handler calls.
    pub vault: Arc<Vault>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The readiness flag.
    pub ready: Readiness,
    /// Renders the Prometheus exposition served at `/metrics`, when metrics are on.
    pub metrics: MetricsRenderer,
    /// The rate-limit buckets (see [`AppState::with_rate_limits`]).
    pub(crate) limiters: Arc<Limiters>,
}

/// Renders Prometheus text for `/metrics`; the binary installs the recorder behind it.
#[derive(Clone, Default)]
pub struct MetricsRenderer(Option<Arc<dyn Fn() -> String + Send + Sync>>);

impl MetricsRenderer {
    /// A renderer calling `f`.
    pub fn new(f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The current exposition text (empty when metrics are off).
    pub fn render(&self) -> String {
        self.0.as_ref().map(|f| f()).unwrap_or_default()
    }
}

impl std::fmt::Debug for MetricsRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "MetricsRenderer(on)"
        } else {
            "MetricsRenderer(off)"
        })
    }
}

impl AppState {
    /// State with the default body limit and no rate limits, ready.
    pub fn new(vault: Arc<Vault>) -> Self {
        Self {
            vault,
            body_limit: DEFAULT_BODY_LIMIT,
            ready: Readiness::new(),
            metrics: MetricsRenderer::default(),
            limiters: Arc::new(Limiters::new(&RateLimits::off())),
        }
    }

    /// Enforces `limits` (state starts with none, so that tests and tools driving the
    /// router are not limited; `serve` configures them).
    pub fn with_rate_limits(mut self, limits: &RateLimits) -> Self {
        self.limiters = Arc::new(Limiters::new(limits));
        self
    }

    /// Serves `renderer`'s text at `/metrics`.
    pub fn with_metrics(mut self, renderer: MetricsRenderer) -> Self {
        self.metrics = renderer;
        self
    }

    /// Sets the request body limit.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}
