//! The Merkle tree over the log: appending leaves and completed subtrees inside the
//! caller's transaction, back-filling a log older than the tree, signing tree heads and
//! building inclusion and consistency proofs.

use phivault_audit::merkle::{self, NodeSource};
use phivault_audit::{AuditEntry, Hash, ProofError, SignedTreeHead};
use time::OffsetDateTime;

use super::PAGE;
use crate::error::{StoreError, VaultError};
use crate::error_code::{ErrorCode, Missing};
use crate::store::{ReadTx, Store, WriteTx, read_tx, write_tx};

/// Merkle nodes read through a transaction.
pub(super) struct TxNodes<'a>(pub(super) &'a mut dyn ReadTx);

impl NodeSource for TxNodes<'_> {
    type Error = StoreError;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        self.0
            .audit_node(level, index)?
            .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
    }
}

pub(super) fn proof_err(e: ProofError<StoreError>) -> VaultError {
    match e {
        ProofError::OutOfRange => VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()),
        ProofError::Source(e) => e.into(),
    }
}

/// Adds `entry`'s Merkle leaf and the subtrees it completes. A log written before the tree
/// existed is back-filled the first time it is appended to.
pub(crate) fn append_merkle(tx: &mut dyn WriteTx, entry: &AuditEntry) -> Result<(), StoreError> {
    let index = entry.seq.saturating_sub(1);
    if index > 0 && tx.audit_node(0, index - 1)?.is_none() {
        backfill(tx, index)?;
    }
    let leaf = merkle::leaf_hash(entry.event_json.as_bytes());
    let nodes = merkle::append_nodes(index, leaf, |level, i| {
        tx.audit_node(level, i)?
            .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
    })?;
    tx.put_audit_nodes(&nodes)
}

/// Writes the missing nodes of the first `upto` leaves.
pub(super) fn backfill(tx: &mut dyn WriteTx, upto: u64) -> Result<(), StoreError> {
    let mut after = 0u64;
    while after < upto {
        let page = tx.audit_entries(after, PAGE)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page.iter().filter(|e| e.seq <= upto) {
            let i = e.seq - 1;
            if tx.audit_node(0, i)?.is_some() {
                continue;
            }
            let leaf = merkle::leaf_hash(e.event_json.as_bytes());
            let nodes = merkle::append_nodes(i, leaf, |level, j| {
                tx.audit_node(level, j)?
                    .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
            })?;
            tx.put_audit_nodes(&nodes)?;
        }
        after = last;
    }
    Ok(())
}

pub(super) fn now_ms(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Signs the current tree unless the latest head already covers it; returns the latest head
/// (new or not) and whether it is new. `None` for an empty log.
pub(super) fn sign_in_tx(
    tx: &mut dyn WriteTx,
    key: &phivault_crypto::Keyring,
    now: OffsetDateTime,
) -> Result<Option<(SignedTreeHead, bool)>, VaultError> {
    let size = tx.audit_head()?.map_or(0, |(s, _)| s);
    let latest = tx.latest_tree_head()?;
    if let Some(l) = latest.filter(|l| l.tree_size >= size) {
        return Ok(Some((l, false)));
    }
    if size == 0 {
        return Ok(None);
    }
    let root = merkle::root(&mut TxNodes(tx), size).map_err(proof_err)?;
    let head = SignedTreeHead::sign(&key.audit_signing_key(), size, now_ms(now), root);
    tx.insert_tree_head(&head)?;
    Ok(Some((head, true)))
}

pub(super) fn head_of_size(
    tx: &mut dyn ReadTx,
    size: u64,
) -> Result<Option<SignedTreeHead>, StoreError> {
    Ok(tx
        .tree_heads(size.saturating_sub(1), 1)?
        .into_iter()
        .find(|h| h.tree_size == size))
}

pub(super) fn size_or_latest(tx: &mut dyn ReadTx, size: Option<u64>) -> Result<u64, VaultError> {
    match size {
        Some(s) => Ok(s),
        None => Ok(tx
            .latest_tree_head()?
            .ok_or(VaultError::NotFound(Missing::TreeHead.as_str()))?
            .tree_size),
    }
}

pub(super) fn inclusion_in_tx(
    tx: &mut dyn ReadTx,
    seq: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof, VaultError> {
    let size = size_or_latest(tx, tree_size)?;
    let log_size = tx.audit_head()?.map_or(0, |(s, _)| s);
    if seq == 0 || seq > size || size > log_size {
        return Err(VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()));
    }
    let entry = tx
        .audit_entries(seq - 1, 1)?
        .into_iter()
        .next()
        .filter(|e| e.seq == seq)
        .ok_or(VaultError::NotFound(Missing::AuditEntry.as_str()))?;
    let mut src = TxNodes(&mut *tx);
    let path = merkle::inclusion_proof(&mut src, seq - 1, size).map_err(proof_err)?;
    let root_hash = merkle::root(&mut src, size).map_err(proof_err)?;
    let leaf_hash = src.node(0, seq - 1)?;
    let signed_head = head_of_size(tx, size)?;
    Ok(InclusionProof {
        seq,
        tree_size: size,
        leaf_hash,
        event_json: entry.event_json,
        path,
        root_hash,
        signed_head,
    })
}

pub(super) fn consistency_in_tx(
    tx: &mut dyn ReadTx,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyProof, VaultError> {
    let to = size_or_latest(tx, to)?;
    let log_size = tx.audit_head()?.map_or(0, |(s, _)| s);
    if from > to || to > log_size {
        return Err(VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()));
    }
    let mut src = TxNodes(&mut *tx);
    let path = merkle::consistency_proof(&mut src, from, to).map_err(proof_err)?;
    let from_root = merkle::root(&mut src, from).map_err(proof_err)?;
    let to_root = merkle::root(&mut src, to).map_err(proof_err)?;
    let signed_head = head_of_size(tx, to)?;
    Ok(ConsistencyProof {
        from,
        to,
        from_root,
        to_root,
        path,
        signed_head,
    })
}

/// An inclusion proof read straight from the store, for offline operator tools (not
/// audited: like [`crate::vault::verify_chain`], it must not append to the log it reads).
pub async fn prove_inclusion(
    store: &dyn Store,
    seq: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof, VaultError> {
    read_tx(store, move |tx| inclusion_in_tx(tx, seq, tree_size)).await
}

/// A consistency proof read straight from the store, for offline operator tools.
pub async fn prove_consistency(
    store: &dyn Store,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyProof, VaultError> {
    read_tx(store, move |tx| consistency_in_tx(tx, from, to)).await
}

/// The latest signed tree head in the store, for offline tools.
pub async fn latest_tree_head(store: &dyn Store) -> Result<Option<SignedTreeHead>, VaultError> {
    read_tx(store, |tx| Ok(tx.latest_tree_head()?)).await
}

/// Signs a tree head over the whole log with `keyring`'s audit key (unless the latest head
/// covers it), for offline tools; see [`Vault::sign_tree_head`].
pub async fn sign_tree_head(
    store: &dyn Store,
    keyring: std::sync::Arc<phivault_crypto::Keyring>,
    now: OffsetDateTime,
) -> Result<Option<(SignedTreeHead, bool)>, VaultError> {
    write_tx(store, move |tx| sign_in_tx(tx, &keyring, now)).await
}

/// An inclusion proof for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's sequence number (its leaf index is `seq - 1`).
    pub seq: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// `SHA-256(0x00 || event bytes)`.
    pub leaf_hash: Hash,
    /// The entry's canonical event bytes, so the verifier can recompute the leaf.
    pub event_json: String,
    /// The audit path, innermost sibling first.
    pub path: Vec<Hash>,
    /// The root the path leads to.
    pub root_hash: Hash,
    /// The signed head of `tree_size`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root of the older tree.
    pub from_root: Hash,
    /// The root of the newer tree.
    pub to_root: Hash,
    /// The proof nodes.
    pub path: Vec<Hash>,
    /// The signed head of `to`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}
