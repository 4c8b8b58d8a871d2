//! Vault-level tests of the domain core against the embedded store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod seal;
mod support;
