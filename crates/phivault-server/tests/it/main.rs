//! The server's one integration-test binary: router-level tests driven through
//! `tower::ServiceExt::oneshot` against a `phivault-testkit` vault, TLS tests over loopback
//! and in memory, the route × role matrix, property tests of the parsers that face the
//! network, and the tidy checks on the crate's layout.

// clippy's allow-*-in-tests settings cover `#[test]` functions only, not the helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod auth;
mod common;
mod conformance;
mod edge;
mod identity;
mod limits;
mod matrix;
mod net;
mod parsers;
mod problems;
mod records;
mod schema_gen;
mod tidy;
mod tls;
