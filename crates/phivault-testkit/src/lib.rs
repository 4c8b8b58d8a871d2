//! Test support for phivault: an in-process vault served over real TLS on a loopback port
//! with a manual clock, and synthetic PHI; the store conformance suite (its own crate,
//! `phivault-conformance`, which store crates use without this HTTP stack) re-exported, and
//! so is `phivault-testenv` (the skip-or-fail rule, the throwaway PostgreSQL cluster) as
//! [`testenv`]. Used only by tests and benchmarks.
#![forbid(unsafe_code)]

pub mod server;
pub mod synthetic;

pub use phivault_conformance as conformance;
pub use phivault_conformance::store_conformance_tests;
pub use phivault_testenv as testenv;
pub use server::TestVault;
