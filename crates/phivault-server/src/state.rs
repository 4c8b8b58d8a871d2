//! The state every handler shares: the vault, the request body limit, the largest page a
//! listing returns, and the readiness flag that `/readyz` reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use phivault_core::Vault;

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Whether the server should receive traffic; cleared when shutdown begins so that load
/// balancers drain it before connections close.
/// It also carries what is degraded without stopping service (an audit sink that lags or
/// fails): `/readyz` still answers 200, with status `degraded` and the reasons in the
/// `Phivault-Degraded` header.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>, Arc<RwLock<Vec<String>>>);

impl Readiness {
    /// A flag that starts ready.
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)), Arc::default())
    }

    /// Replaces the list of degraded components (e.g. `audit_sink:syslog lag=1200`).
    pub fn set_degraded(&self, reasons: Vec<String>) {
        *self.1.write().unwrap_or_else(|e| e.into_inner()) = reasons;
    }

    /// What is degraded now; empty when all is well.
    pub fn degraded(&self) -> Vec<String> {
        self.1.read().unwrap_or_else(|e| e.into_inner()).clone()
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
}

impl AppState {
    /// State with the default limits, ready.
    pub fn new(vault: Arc<Vault>) -> Self {
        Self {
            vault,
            body_limit: DEFAULT_BODY_LIMIT,
            ready: Readiness::new(),
        }
    }

    /// Sets the request body limit.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}
