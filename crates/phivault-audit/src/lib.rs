//! Audit log for phivault: the event record, its canonical bytes, and the hash chain
//! that makes edits, deletions and reordering of stored entries detectable.
//!
//! The crate is pure: no database, no I/O, no clock. Callers pass times in, store
//! [`AuditEntry`] rows however they like, and stream them back through a
//! [`ChainVerifier`]. The canonical event bytes ([`AuditEntry::event_json`]) are the
//! unit that gets hashed, and the leaves of the RFC 9162 Merkle tree ([`merkle`]) whose
//! signed tree heads ([`SignedTreeHead`]) and whole-log verifier ([`LogVerifier`]) catch
//! truncation and rewrites too; [`ocsf`] encodes events for SIEMs.
#![forbid(unsafe_code)]

mod canonical;
mod chain;
mod error;
mod event;
mod log_verify;
pub mod merkle;
pub mod ocsf;
mod sth;
mod verify;

pub use chain::{AuditEntry, GENESIS_HASH, HASH_DOMAIN, Hash};
pub use error::AuditError;
pub use event::{Actor, ActorKind, AuditEvent, Outcome};
pub use log_verify::{LogBreak, LogBreakKind, LogVerifier};
pub use merkle::{Frontier, MemoryTree, NodeSource, ProofError};
pub use sth::{STH_DOMAIN, SignedTreeHead};
pub use verify::{BreakKind, ChainBreak, ChainVerifier};
