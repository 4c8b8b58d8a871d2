//! Signed tree heads: `(tree size, root hash, time)` signed with the vault's Ed25519 audit
//! key. A head published outside the database (a witness file, syslog, a webhook, an
//! auditor's `HEAD.json`) pins the log: a later log that is shorter (truncation), or whose
//! first `tree_size` entries hash to another root (rollback, rewrite), no longer matches it,
//! and a forger without the signing key cannot make a head that does.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::chain::Hash;

/// Domain label signed before every tree head; `v1` versions the signed layout.
pub const STH_DOMAIN: &[u8] = b"phivault-sth-v1\0";

/// A tree head and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    /// How many entries the tree covers (entries with seq `1..=tree_size`).
    pub tree_size: u64,
    /// When the head was made, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: u64,
    /// The RFC 9162 root hash of the first `tree_size` entries.
    #[serde(with = "hex_array")]
    pub root_hash: Hash,
    /// Ed25519 signature over [`SignedTreeHead::signed_bytes`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// The bytes that are signed: [`STH_DOMAIN`], tree size and timestamp as 8 big-endian
    /// bytes each, and the root hash. Fixed length, so no two heads share a message.
    pub fn signed_bytes(tree_size: u64, timestamp_ms: u64, root_hash: &Hash) -> Vec<u8> {
        let mut m = Vec::with_capacity(STH_DOMAIN.len() + 48);
        m.extend_from_slice(STH_DOMAIN);
        m.extend_from_slice(&tree_size.to_be_bytes());
        m.extend_from_slice(&timestamp_ms.to_be_bytes());
        m.extend_from_slice(root_hash);
        m
    }

    /// Signs a head with the audit signing key.
    pub fn sign(key: &SigningKey, tree_size: u64, timestamp_ms: u64, root_hash: Hash) -> Self {
        let sig = key.sign(&Self::signed_bytes(tree_size, timestamp_ms, &root_hash));
        Self {
            tree_size,
            timestamp_ms,
            root_hash,
            signature: sig.to_bytes(),
        }
    }

    /// Whether the signature is valid under the audit verifying key (32 bytes, Ed25519).
    /// Strict verification: non-canonical and small-order encodings are refused.
    pub fn verify(&self, public_key: &[u8; 32]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        let sig = Signature::from_bytes(&self.signature);
        let msg = Self::signed_bytes(self.tree_size, self.timestamp_ms, &self.root_hash);
        vk.verify_strict(&msg, &sig).is_ok() && vk.verify(&msg, &sig).is_ok()
    }
}

/// Serde for fixed-size byte arrays as lowercase hex strings.
mod hex_array {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).map_err(|_| D::Error::custom("bad hex length"))?;
        Ok(out)
    }
}
