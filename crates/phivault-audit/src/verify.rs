//! Streaming verification of the hash chain: feed entries in log order and learn the
//! first entry that was edited, removed, inserted, reordered or malformed. It holds only
//! the last accepted link, so verifying a log of any length needs constant memory.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::chain::{AuditEntry, GENESIS_HASH, Hash};

/// What is wrong with the first bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// The stored hash does not match the entry's own fields: the entry was edited.
    HashMismatch,
    /// The entry is intact but does not link to the entry before it: an entry was
    /// removed, inserted or reordered before it.
    PrevHashMismatch,
    /// The entry is intact and linked but carries the wrong number: the writer skipped
    /// or repeated a number, or the resume checkpoint does not fit this log.
    SeqGap {
        /// The sequence number the verifier was waiting for.
        expected: u64,
    },
    /// The hash chain holds, but `event_json` is not a valid canonical event.
    Malformed,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HashMismatch => f.write_str("hash does not match its contents"),
            Self::PrevHashMismatch => f.write_str(
                "previous hash does not match the entry before it \
                 (an entry was removed, inserted or reordered)",
            ),
            Self::SeqGap { expected } => {
                write!(f, "sequence number out of order (expected {expected})")
            }
            Self::Malformed => f.write_str("event is not a valid audit event"),
        }
    }
}

/// The first bad entry found by a [`ChainVerifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("audit entry {seq}: {kind}")]
pub struct ChainBreak {
    /// The `seq` stored in the bad entry, which names its row.
    pub seq: u64,
    /// What is wrong with it.
    pub kind: BreakKind,
}

/// Checks a log one entry at a time, in `seq` order.
///
/// After the first break the verifier stays broken and returns that same break for
/// every later entry: an entry that happens to link to the last good one must not be
/// accepted once something before it is known to be wrong.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    /// `seq` of the last accepted entry; 0 before any.
    last_seq: u64,
    /// `hash` of the last accepted entry, which the next `prev_hash` must equal.
    last_hash: Hash,
    /// Entries accepted since construction.
    verified: u64,
    /// The first break, once found.
    broken: Option<ChainBreak>,
    /// Whether each event must parse as a canonical [`crate::AuditEvent`].
    check_events: bool,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier for a whole log: expects seq 1 with [`GENESIS_HASH`] as its `prev_hash`.
    pub fn new() -> Self {
        Self::resume(1, GENESIS_HASH)
    }

    /// A verifier that continues from a trusted checkpoint: the next entry must have
    /// `seq == next_seq` and `prev_hash == prev_hash`.
    ///
    /// Sequence numbers start at 1, so a `next_seq` of 0 is treated as 1.
    pub fn resume(next_seq: u64, prev_hash: Hash) -> Self {
        Self {
            last_seq: next_seq.saturating_sub(1),
            last_hash: prev_hash,
            verified: 0,
            broken: None,
            check_events: true,
        }
    }

    /// Checks hashes, links and numbers only, not that each event parses as a canonical
    /// event. Parsing costs more than hashing; a log whose hashes match a signed tree head
    /// holds exactly the bytes the vault wrote, which the vault only writes canonically.
    pub fn hashes_only(mut self) -> Self {
        self.check_events = false;
        self
    }

    /// Checks the next entry and, if it is good, makes it the new head.
    ///
    /// Checks run from the most specific cause to the least: the entry's own hash first
    /// (was it edited?), then its link to the head (was something removed, inserted or
    /// reordered before it?), then its number, then whether the event parses. So a
    /// deleted entry shows as a broken link at the entry after it, and an edited entry
    /// as a hash mismatch at itself.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let recomputed =
            AuditEntry::compute_hash(entry.seq, &entry.prev_hash, entry.event_json.as_bytes());
        self.push_prehashed(entry, &recomputed)
    }

    /// [`push`](Self::push) with the entry's hash already recomputed (by
    /// [`AuditEntry::compute_hash`], perhaps on another thread).
    pub(crate) fn push_prehashed(
        &mut self,
        entry: &AuditEntry,
        recomputed: &Hash,
    ) -> Result<(), ChainBreak> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        match self.check(entry, recomputed) {
            Ok(()) => {
                self.last_seq = entry.seq;
                self.last_hash = entry.hash;
                self.verified += 1;
                Ok(())
            }
            Err(kind) => {
                let b = ChainBreak {
                    seq: entry.seq,
                    kind,
                };
                self.broken = Some(b);
                Err(b)
            }
        }
    }

    /// Entries accepted so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }

    /// The last accepted `seq` and `hash`: the checkpoint to [`resume`](Self::resume) from
    /// (with `seq + 1`) or to compare against a published head. `(0, GENESIS_HASH)` before
    /// any entry of a fresh log.
    pub fn head(&self) -> (u64, Hash) {
        (self.last_seq, self.last_hash)
    }

    fn check(&self, entry: &AuditEntry, recomputed: &Hash) -> Result<(), BreakKind> {
        // Hashes here are public, but every hash check is constant-time by convention so
        // that no call site has to argue whether its operands are secret.
        if !bool::from(recomputed.ct_eq(&entry.hash)) {
            return Err(BreakKind::HashMismatch);
        }
        if !bool::from(entry.prev_hash.ct_eq(&self.last_hash)) {
            return Err(BreakKind::PrevHashMismatch);
        }
        // Wraps to 0 only after seq u64::MAX, and no entry may follow that one.
        let expected = self.last_seq.wrapping_add(1);
        if entry.seq != expected || expected == 0 {
            return Err(BreakKind::SeqGap { expected });
        }
        if self.check_events && entry.event().is_err() {
            return Err(BreakKind::Malformed);
        }
        Ok(())
    }
}
