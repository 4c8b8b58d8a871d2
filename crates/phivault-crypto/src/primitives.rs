//! Internal wrappers over the raw primitives (AES-256-GCM, HKDF, HMAC) and the canonical
//! encoder every AAD and KDF label goes through.
//!
//! Keeping each primitive behind one function here is what lets a FIPS-validated provider
//! replace the RustCrypto implementations without touching the formats above.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// AES-GCM nonce length (96 bits, the size GCM is designed for).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length (the full 128 bits; truncated tags are never used).
pub(crate) const TAG_LEN: usize = 16;

/// Builds an unambiguous byte string: a label, then fields each prefixed with their length.
///
/// Length prefixes (u64, big-endian) make the encoding injective, so no two different field
/// lists can produce the same bytes and a value cannot be shifted from one field into another.
pub(crate) struct Canonical(Vec<u8>);

impl Canonical {
    pub(crate) fn new(label: &str) -> Canonical {
        Canonical(Vec::with_capacity(128)).bytes(label.as_bytes())
    }

    pub(crate) fn bytes(mut self, field: &[u8]) -> Canonical {
        self.0
            .extend_from_slice(&(field.len() as u64).to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    pub(crate) fn str(self, field: &str) -> Canonical {
        self.bytes(field.as_bytes())
    }

    pub(crate) fn u32(mut self, n: u32) -> Canonical {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub(crate) fn u64(mut self, n: u64) -> Canonical {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Encrypts `plaintext` with AES-256-GCM and appends ciphertext || tag to `out`.
///
/// The plaintext is copied straight into `out` and encrypted in place, with capacity reserved
/// first, so no stray copy of it is left in a freed allocation.
pub(crate) fn aead_seal_append(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let start = out.len();
    out.reserve_exact(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    match cipher(key).encrypt_inout_detached(nonce.into(), aad, (&mut out[start..]).into()) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        Err(_) => {
            // Only reachable for inputs beyond GCM's 64 GiB limit; do not leave plaintext behind.
            out[start..].zeroize();
            out.truncate(start);
            Err(CryptoError::Format("plaintext too long for AES-GCM"))
        }
    }
}

/// Verifies and decrypts ciphertext || tag; the plaintext is wiped when the caller drops it.
pub(crate) fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let ct_len = ciphertext_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::Format("ciphertext shorter than its tag"))?;
    let (ct, tag) = ciphertext_and_tag.split_at(ct_len);
    let tag = Tag::try_from(tag).map_err(|_| CryptoError::Format("bad tag length"))?;
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher(key)
        .decrypt_inout_detached(nonce.into(), aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| CryptoError::Integrity)?;
    Ok(buf)
}

/// HKDF-SHA-256 (RFC 5869) of a uniformly random 32-byte key into a 32-byte subkey.
pub(crate) fn hkdf_sha256_32(ikm: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut okm = Zeroizing::new([0u8; 32]);
    #[expect(
        clippy::expect_used,
        reason = "HKDF-SHA-256 only fails for outputs over 8160 bytes; this one is 32"
    )]
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, okm.as_mut_slice())
        .expect("32-byte HKDF output is always valid");
    okm
}

/// HMAC-SHA-256 with a 32-byte key.
pub(crate) fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    // RFC 2104 zero-pads keys shorter than the 64-byte block, so feeding the padded block to
    // the infallible `new` is the same MAC as `new_from_slice(key)` without an error path.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new((&*block).into());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_encoding_is_unambiguous() {
        let a = Canonical::new("l").str("ab").str("c").finish();
        let b = Canonical::new("l").str("a").str("bc").finish();
        assert_ne!(a, b);
        let c = Canonical::new("l1").str("x").finish();
        let d = Canonical::new("l").str("1x").finish();
        assert_ne!(c, d);
    }

    #[test]
    fn padded_hmac_key_matches_slice_key() {
        let key = [0x5au8; 32];
        let mut reference = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        reference.update(b"message");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, b"message"), expected);
    }

    #[test]
    fn hkdf_wrapper_matches_crate() {
        let ikm = [7u8; 32];
        let mut expected = [0u8; 32];
        Hkdf::<Sha256>::new(None, &ikm)
            .expand(b"info", &mut expected)
            .unwrap();
        assert_eq!(*hkdf_sha256_32(&ikm, b"info"), expected);
        assert_ne!(*hkdf_sha256_32(&ikm, b"info2"), expected);
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        let key = [1u8; 32];
        let nonce = [2u8; NONCE_LEN];
        let mut out = b"prefix".to_vec();
        aead_seal_append(&key, &nonce, b"aad", b"hello", &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out.len(), 6 + 5 + TAG_LEN);
        let sealed = &out[6..];
        assert_eq!(
            aead_open(&key, &nonce, b"aad", sealed).unwrap().as_slice(),
            b"hello"
        );
        assert_eq!(
            aead_open(&key, &nonce, b"aaD", sealed),
            Err(CryptoError::Integrity)
        );
        assert!(matches!(
            aead_open(&key, &nonce, b"aad", &sealed[..TAG_LEN - 1]),
            Err(CryptoError::Format(_))
        ));
    }
}
