//! Every background job `serve` runs beside the HTTPS listener: the SIEM sinks and their
//! lag monitor, the audit tree-head signer and audit retention, scheduled backups, the
//! record retention scheduler, the keyring watch and the TLS certificate watch. Each starts through [`spawn`].

pub(crate) mod audit;
pub(crate) mod backups;
pub(crate) mod keyring;
pub(crate) mod retention;
pub(crate) mod tls;

use std::future::Future;

/// Starts the background job `name`. Every job starts here, so restarting a failed job
/// with back-off and reporting it in `/readyz` can be added in this one place.
pub(crate) fn spawn<F>(name: &'static str, job: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tracing::debug!(job = name, "background job started");
    tokio::spawn(job);
}
