//! phivault's integration tests, one binary: each module drives the library, the HTTP API
//! or the real `phivault` executable end to end; `common` holds the helpers they share.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod access;
mod api;
mod architecture;
mod backup;
mod cli;
mod identity;
mod metadata;
mod multinode;
mod narrow;
mod pitr;
mod privacy;
mod research;
