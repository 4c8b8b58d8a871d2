//! The verifiable audit log on top of the hash chain: the RFC 9162 Merkle tree kept
//! incrementally in the store, signed tree heads, inclusion and consistency proofs,
//! full-log verification against published heads, and auditor queries and exports.
//!
//! Appends stay inside the caller's write transaction (and so inside the group commit):
//! each append writes its leaf and the perfect subtrees it completes, about two node rows.
//!
//! The tree and proofs live in `tree`, auditor queries, verification and export in
//! `query`, the [`Vault`](crate::Vault) methods in `facade`; this file keeps the limits and
//! the prune marker they share.

mod facade;
mod query;
mod tree;

pub use query::{
    AuditPage, AuditQuery, CSV_HEADER, ExportFormat, LogVerifyReport, encode_export, verify_log,
};
pub(crate) use query::{scan, verify_report};
pub(crate) use tree::append_merkle;
pub use tree::{
    ConsistencyProof, InclusionProof, latest_tree_head, prove_consistency, prove_inclusion,
    sign_tree_head,
};

use phivault_audit::Hash;

/// Entries read per page when walking the log.
const PAGE: usize = 2000;
/// The most entries one query request scans before it returns a cursor.
const MAX_SCAN: u64 = 100_000;
/// The most events one export returns.
pub const MAX_EXPORT: usize = 100_000;

/// The `meta` key recording a retention prune: `"<through seq> <chain hash hex>"`.
pub const PRUNED_META: &str = "audit.pruned_through";
/// HIPAA keeps documentation six years (45 CFR 164.316(b)(2)); the default retention.
pub const DEFAULT_AUDIT_RETENTION: time::Duration = time::Duration::days(6 * 365 + 2);

fn parse_pruned(v: &str) -> Option<(u64, Hash)> {
    let (n, h) = v.split_once(' ')?;
    let mut hash = [0u8; 32];
    if h.len() != 64 {
        return None;
    }
    for (o, pair) in hash.iter_mut().zip(h.as_bytes().chunks(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some((n.parse().ok()?, hash))
}
