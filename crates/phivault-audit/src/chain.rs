//! Stored audit entries and the hash that links each one to its predecessor.
//! Tampering with any stored field changes the entry's hash, and removing, inserting
//! or reordering entries breaks the `prev_hash` links that follow.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::canonical;
use crate::error::AuditError;
use crate::event::AuditEvent;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first entry (seq 1): there is no predecessor to hash.
pub const GENESIS_HASH: Hash = [0u8; 32];

/// Domain-separation label hashed before every entry.
///
/// It keeps entry hashes from colliding with any other SHA-256 use (notably the RFC 9162
/// leaf and node hashes a Merkle tree will compute over the same event bytes), and its
/// `v1` versions the whole entry format: changing the event encoding means a new label.
pub const HASH_DOMAIN: &[u8] = b"phivault-audit-v1\0";

/// One row of the audit log, as stored.
///
/// `event_json` is kept verbatim: verification hashes these exact bytes and never a
/// re-serialization, so a change in how events are encoded cannot mask or fake tampering.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, starting at 1 and without gaps.
    pub seq: u64,
    /// The `hash` of the entry at `seq - 1`, or [`GENESIS_HASH`] for seq 1.
    pub prev_hash: Hash,
    /// The event's canonical bytes ([`AuditEvent::canonical_bytes`]).
    pub event_json: String,
    /// [`AuditEntry::compute_hash`] over the three fields above.
    pub hash: Hash,
}

impl AuditEntry {
    /// Builds the entry that appends `event` at `seq` after an entry hashing to `prev_hash`.
    pub fn chain(seq: u64, prev_hash: Hash, event: &AuditEvent) -> Self {
        let event_json = canonical::encode_event(event);
        let hash = Self::compute_hash(seq, &prev_hash, event_json.as_bytes());
        Self {
            seq,
            prev_hash,
            event_json,
            hash,
        }
    }

    /// SHA-256 over [`HASH_DOMAIN`], `seq` as 8 big-endian bytes, `prev_hash`, and the event bytes.
    ///
    /// Every part before the event bytes has a fixed length, so no two different
    /// inputs concatenate to the same message.
    pub fn compute_hash(seq: u64, prev_hash: &Hash, event_json: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(seq.to_be_bytes());
        h.update(prev_hash);
        h.update(event_json);
        h.finalize().into()
    }

    /// Parses `event_json`, refusing bytes that are not exactly the canonical encoding.
    ///
    /// Requiring canonical bytes means one event has one stored form, so a Merkle leaf
    /// (or a hash) identifies an event and not merely one of its spellings.
    pub fn event(&self) -> Result<AuditEvent, AuditError> {
        let event: AuditEvent =
            serde_json::from_str(&self.event_json).map_err(AuditError::from_json)?;
        if canonical::encode_event(&event) != self.event_json {
            return Err(AuditError::NotCanonical);
        }
        Ok(event)
    }
}

impl fmt::Debug for AuditEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hex rather than the derived list of 32 numbers, so hashes can be compared by eye.
        f.debug_struct("AuditEntry")
            .field("seq", &self.seq)
            .field("prev_hash", &hex::encode(self.prev_hash))
            .field("event_json", &self.event_json)
            .field("hash", &hex::encode(self.hash))
            .finish()
    }
}
