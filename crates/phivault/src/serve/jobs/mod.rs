//! Every background job `serve` runs beside the HTTPS listener: the SIEM sinks and their
//! lag monitor, the audit tree-head signer and audit retention, scheduled backups, the
//! record retention scheduler, the keyring watch and the TLS certificate watch. Each starts
//! through one [`Supervisor`], which restarts a job that panics or fails and reports it in
//! `/readyz`.

pub(crate) mod audit;
pub(crate) mod backups;
pub(crate) mod keyring;
pub(crate) mod retention;
mod supervisor;
pub(crate) mod tls;

pub(crate) use supervisor::Supervisor;
