//! Vault-level tests of the domain core against the embedded store, and property tests of
//! the parsers that take what clients and backup locations send (`parsers`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod parsers;
mod seal;
mod support;
