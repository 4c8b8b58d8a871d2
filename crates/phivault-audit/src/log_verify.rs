//! Whole-log verification: the hash chain, the Merkle leaves a store kept, and every
//! trusted signed tree head, in one streaming pass with `O(log n)` memory.
//!
//! The chain catches edits, deletions, insertions and reordering inside the log; signed
//! heads catch what the chain alone cannot: a truncated tail (the head is longer than the
//! log) and a log rewritten consistently from some point on without the signing key (the
//! head's root no longer matches).

use std::fmt;

use subtle::ConstantTimeEq;

use crate::chain::{AuditEntry, Hash};
use crate::merkle::{Frontier, leaf_hash};
use crate::sth::SignedTreeHead;
use crate::verify::{BreakKind, ChainVerifier};

/// What is wrong at the first bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogBreakKind {
    /// The hash chain is broken at this entry.
    Chain(BreakKind),
    /// The entry with this sequence number is missing (deleted, or the log was renumbered).
    Missing,
    /// The entry's event does not hash to the Merkle leaf stored for it: the entry was
    /// replaced or moved (an insertion renumbers the entries after it).
    LeafMismatch,
    /// The log is shorter than a signed tree head of `tree_size` entries: it was truncated.
    Truncated {
        /// The size of the longest signed head the log falls short of.
        tree_size: u64,
    },
    /// The first `tree_size` entries do not hash to the signed root: the log was rewritten
    /// or rolled back. The first bad entry lies between this seq and `tree_size`; it is exact
    /// when heads are signed after every entry, and otherwise bounded by the head interval.
    RootMismatch {
        /// The size of the signed head that does not match.
        tree_size: u64,
    },
}

impl fmt::Display for LogBreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Chain(k) => write!(f, "{k}"),
            Self::Missing => f.write_str("entry is missing (deleted or renumbered)"),
            Self::LeafMismatch => {
                f.write_str("event does not match its Merkle leaf (replaced, inserted or moved)")
            }
            Self::Truncated { tree_size } => write!(
                f,
                "log is truncated: a signed tree head covers {tree_size} entries"
            ),
            Self::RootMismatch { tree_size } => write!(
                f,
                "log was rewritten: the first {tree_size} entries do not match the signed \
                 tree head of that size (first bad entry is at or after this one)"
            ),
        }
    }
}

/// The first bad entry found by a [`LogVerifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("audit entry {seq}: {kind}")]
pub struct LogBreak {
    /// The first bad (or first missing) sequence number.
    pub seq: u64,
    /// What is wrong.
    pub kind: LogBreakKind,
}

/// Verifies a log in seq order against a set of trusted signed tree heads.
#[derive(Debug, Clone)]
pub struct LogVerifier {
    chain: ChainVerifier,
    frontier: Frontier,
    /// Trusted heads (valid signatures), by ascending size.
    heads: Vec<SignedTreeHead>,
    next_head: usize,
    /// The largest head size checked and matched.
    matched: u64,
    /// Heads refused because their signature is invalid, by size.
    rejected: Vec<u64>,
    broken: Option<LogBreak>,
}

impl LogVerifier {
    /// A verifier for a whole log, trusting the heads in `heads` whose signature verifies
    /// under `public_key`; the others are recorded in [`LogVerifier::rejected_heads`].
    pub fn new(heads: impl IntoIterator<Item = SignedTreeHead>, public_key: &[u8; 32]) -> Self {
        let mut trusted = Vec::new();
        let mut rejected = Vec::new();
        for h in heads {
            if h.verify(public_key) {
                trusted.push(h);
            } else {
                rejected.push(h.tree_size);
            }
        }
        trusted.sort_by_key(|h| h.tree_size);
        Self {
            chain: ChainVerifier::new(),
            frontier: Frontier::new(),
            heads: trusted,
            next_head: 0,
            matched: 0,
            rejected,
            broken: None,
        }
    }

    /// A verifier that resumes above a pruned prefix of `frontier.size()` entries: the next
    /// entry must be `frontier.size() + 1` and link to `chain_hash`. A trusted head of exactly
    /// the pruned size is checked at once against the frontier (so the kept nodes are
    /// authentic); heads below it can no longer be checked and are skipped.
    pub fn resume(
        heads: impl IntoIterator<Item = SignedTreeHead>,
        public_key: &[u8; 32],
        frontier: Frontier,
        chain_hash: Hash,
    ) -> Self {
        let mut v = Self::new(heads, public_key);
        let size = frontier.size();
        v.chain = ChainVerifier::resume(size + 1, chain_hash);
        v.frontier = frontier;
        while let Some(h) = v.heads.get(v.next_head) {
            if h.tree_size > size {
                break;
            }
            if h.tree_size == size {
                if !bool::from(h.root_hash.ct_eq(&v.frontier.root())) {
                    v.broken = Some(LogBreak {
                        seq: size,
                        kind: LogBreakKind::RootMismatch { tree_size: size },
                    });
                }
                v.matched = size;
            }
            v.next_head += 1;
        }
        v
    }

    /// Skips the canonical-JSON check of each event (hashes only); see
    /// [`ChainVerifier::hashes_only`].
    pub fn hashes_only(mut self) -> Self {
        self.chain = self.chain.hashes_only();
        self
    }

    /// Checks the next entry. `stored_leaf` is the leaf hash the store kept for it, when it
    /// keeps one; a mismatch pinpoints a replaced entry that the chain alone would blame
    /// on its successor.
    pub fn push(&mut self, entry: &AuditEntry, stored_leaf: Option<&Hash>) -> Result<(), LogBreak> {
        let chain =
            AuditEntry::compute_hash(entry.seq, &entry.prev_hash, entry.event_json.as_bytes());
        let leaf = leaf_hash(entry.event_json.as_bytes());
        self.push_prehashed(entry, stored_leaf, &chain, leaf)
    }

    /// Checks a run of entries in order, like [`push`](Self::push) for each, but hashing
    /// on two threads: the chain hashes on one, the Merkle leaves and tree on the other.
    /// `stored_leaves[i]`, when present, is the stored leaf of `entries[i]`; pass `&[]` if
    /// the store keeps none.
    pub fn push_all(
        &mut self,
        entries: &[AuditEntry],
        stored_leaves: &[Option<Hash>],
    ) -> Result<(), LogBreak> {
        const CHUNK: usize = 8192;
        for (c, chunk) in entries.chunks(CHUNK).enumerate() {
            let (chains, leaves) = std::thread::scope(|s| {
                let worker = s.spawn(|| {
                    chunk
                        .iter()
                        .map(|e| {
                            AuditEntry::compute_hash(e.seq, &e.prev_hash, e.event_json.as_bytes())
                        })
                        .collect::<Vec<_>>()
                });
                let leaves: Vec<Hash> = chunk
                    .iter()
                    .map(|e| leaf_hash(e.event_json.as_bytes()))
                    .collect();
                (worker.join(), leaves)
            });
            // A worker that could not run (it cannot panic) is redone on this thread.
            let chains = chains.unwrap_or_else(|_| {
                chunk
                    .iter()
                    .map(|e| AuditEntry::compute_hash(e.seq, &e.prev_hash, e.event_json.as_bytes()))
                    .collect()
            });
            for (i, ((e, ch), leaf)) in chunk.iter().zip(&chains).zip(leaves).enumerate() {
                let stored = stored_leaves.get(c * CHUNK + i).and_then(Option::as_ref);
                self.push_prehashed(e, stored, ch, leaf)?;
            }
        }
        Ok(())
    }

    fn push_prehashed(
        &mut self,
        entry: &AuditEntry,
        stored_leaf: Option<&Hash>,
        chain: &Hash,
        leaf: Hash,
    ) -> Result<(), LogBreak> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        let r = self.check(entry, stored_leaf, chain, leaf);
        if let Err(b) = r {
            self.broken = Some(b);
        }
        r
    }

    fn check(
        &mut self,
        entry: &AuditEntry,
        stored_leaf: Option<&Hash>,
        chain: &Hash,
        leaf: Hash,
    ) -> Result<(), LogBreak> {
        let expected = self.frontier.size() + 1;
        if entry.seq > expected {
            return Err(LogBreak {
                seq: expected,
                kind: LogBreakKind::Missing,
            });
        }
        self.chain
            .push_prehashed(entry, chain)
            .map_err(|b| LogBreak {
                seq: b.seq,
                kind: LogBreakKind::Chain(b.kind),
            })?;
        if let Some(stored) = stored_leaf
            && !bool::from(stored.ct_eq(&leaf))
        {
            return Err(LogBreak {
                seq: entry.seq,
                kind: LogBreakKind::LeafMismatch,
            });
        }
        self.frontier.push(leaf);
        while let Some(h) = self.heads.get(self.next_head) {
            if h.tree_size > self.frontier.size() {
                break;
            }
            if h.tree_size == self.frontier.size() {
                if !bool::from(h.root_hash.ct_eq(&self.frontier.root())) {
                    return Err(LogBreak {
                        seq: self.matched + 1,
                        kind: LogBreakKind::RootMismatch {
                            tree_size: h.tree_size,
                        },
                    });
                }
                self.matched = h.tree_size;
            }
            self.next_head += 1;
        }
        Ok(())
    }

    /// Ends the walk: the log must be at least as long as every trusted head.
    pub fn finish(&mut self) -> Result<(), LogBreak> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        if let Some(longest) = self.heads.last()
            && longest.tree_size > self.frontier.size()
        {
            let b = LogBreak {
                seq: self.frontier.size() + 1,
                kind: LogBreakKind::Truncated {
                    tree_size: longest.tree_size,
                },
            };
            self.broken = Some(b);
            return Err(b);
        }
        Ok(())
    }

    /// Entries accepted so far.
    pub fn verified(&self) -> u64 {
        self.frontier.size()
    }

    /// The Merkle root over the entries accepted so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The last accepted entry's seq and chain hash.
    pub fn chain_head(&self) -> (u64, Hash) {
        self.chain.head()
    }

    /// Sizes of trusted heads checked and matched so far.
    pub fn matched_heads(&self) -> usize {
        self.next_head
    }

    /// Sizes of heads refused for an invalid signature (forged or corrupted heads).
    pub fn rejected_heads(&self) -> &[u64] {
        &self.rejected
    }
}
