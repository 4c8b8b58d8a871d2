//! The stored form of a data key: encrypted under one version of the key-encryption key.
//!
//! Owns the compact binary encoding kept in the database; wrapping and unwrapping themselves
//! live on [`crate::Keyring`], which holds the key-encryption keys.

use crate::CryptoError;
use crate::primitives::{NONCE_LEN, TAG_LEN};

/// First byte of an encoded wrapped key (layout v1 below).
const WRAPPED_FORMAT_V1: u8 = 1;
/// Ciphertext of a 32-byte data key plus the GCM tag.
pub(crate) const WRAPPED_CT_LEN: usize = 32 + TAG_LEN;
/// format (1) || kek_version (4, big-endian) || nonce (12) || ciphertext+tag (48).
const WRAPPED_V1_LEN: usize = 1 + 4 + NONCE_LEN + WRAPPED_CT_LEN;

/// A data key encrypted (AES-256-GCM) under the key-encryption key of `kek_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Version of the key-encryption key that wrapped this data key.
    pub kek_version: u32,
    /// The AES-GCM nonce used for the wrap.
    pub nonce: [u8; 12],
    /// The encrypted data key followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl WrappedKey {
    /// Encodes as format byte || kek_version (u32 BE) || nonce || ciphertext (65 bytes for v1).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 4 + NONCE_LEN + self.ciphertext.len());
        out.push(WRAPPED_FORMAT_V1);
        out.extend_from_slice(&self.kek_version.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes [`WrappedKey::to_bytes`] output; unknown formats and wrong lengths are `Format`.
    pub fn from_bytes(b: &[u8]) -> Result<WrappedKey, CryptoError> {
        let (&format, rest) = b
            .split_first()
            .ok_or(CryptoError::Format("wrapped key is empty"))?;
        if format != WRAPPED_FORMAT_V1 {
            return Err(CryptoError::Format("unknown wrapped key format"));
        }
        if b.len() != WRAPPED_V1_LEN {
            return Err(CryptoError::Format("wrapped key has the wrong length"));
        }
        let (version, rest) = rest.split_at(4);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let version: [u8; 4] = version
            .try_into()
            .map_err(|_| CryptoError::Format("wrapped key has the wrong length"))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| CryptoError::Format("wrapped key has the wrong length"))?;
        Ok(WrappedKey {
            kek_version: u32::from_be_bytes(version),
            nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WrappedKey {
        WrappedKey {
            kek_version: 0x0102_0304,
            nonce: [9; 12],
            ciphertext: (0..48).collect(),
        }
    }

    #[test]
    fn round_trip_and_golden_layout() {
        let w = sample();
        let bytes = w.to_bytes();
        assert_eq!(bytes.len(), WRAPPED_V1_LEN);
        // Golden prefix: the layout is a storage contract.
        assert_eq!(&bytes[..5], &[1, 1, 2, 3, 4]);
        assert_eq!(&bytes[5..17], &[9; 12]);
        assert_eq!(WrappedKey::from_bytes(&bytes).unwrap(), w);
    }

    #[test]
    fn rejects_malformed() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(matches!(
                WrappedKey::from_bytes(&bytes[..len]),
                Err(CryptoError::Format(_))
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(WrappedKey::from_bytes(&long).is_err());
        let mut other_format = bytes;
        other_format[0] = 2;
        assert_eq!(
            WrappedKey::from_bytes(&other_format),
            Err(CryptoError::Format("unknown wrapped key format"))
        );
    }
}
