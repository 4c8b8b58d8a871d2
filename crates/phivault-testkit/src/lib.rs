//! Test support for phivault: the store conformance suite every backend must pass, an
//! in-process vault served over real TLS on a loopback port with a manual clock, and
//! synthetic PHI. Used only by tests and benchmarks.
#![forbid(unsafe_code)]

pub mod conformance;
pub mod server;
pub mod synthetic;

pub use server::TestVault;
