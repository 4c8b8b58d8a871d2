//! Secret key types and the small generic primitives (randomness, hashing, comparison).
//!
//! Key material lives only inside [`Key32`] and [`DataKey`]: it is wiped on drop, redacted in
//! `Debug`, has no `Display`, and leaves the type only through the greppable `expose_secret`.

use core::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::CryptoError;

/// 32 bytes of secret key material, wiped from memory on drop.
#[derive(Clone)]
pub struct Key32(Zeroizing<[u8; 32]>);

impl Key32 {
    /// Draws a fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Key32, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(key.as_mut_slice())?;
        Ok(Key32(key))
    }

    /// Wraps existing key bytes (for example read back from the keyring file).
    pub fn from_bytes(b: [u8; 32]) -> Key32 {
        Key32(Zeroizing::new(b))
    }

    /// Takes bytes that are already in a wiping container, avoiding a stray stack copy.
    pub(crate) fn from_zeroizing(b: Zeroizing<[u8; 32]>) -> Key32 {
        Key32(b)
    }

    /// Borrows the raw key bytes; every use is a place where a secret leaves its type.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32([REDACTED])")
    }
}

/// A subject's data encryption key (DEK): it seals that subject's records and is itself
/// stored only wrapped under a key-encryption key, so destroying it crypto-shreds the records.
#[derive(Clone)]
pub struct DataKey(Key32);

impl DataKey {
    /// Draws a fresh data key from the operating system's random number generator.
    pub fn generate() -> Result<DataKey, CryptoError> {
        Key32::generate().map(DataKey)
    }

    pub(crate) fn from_key(key: Key32) -> DataKey {
        DataKey(key)
    }

    pub(crate) fn key(&self) -> &Key32 {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// Fills `dest` from the operating system's random number generator.
pub(crate) fn fill_random(dest: &mut [u8]) -> Result<(), CryptoError> {
    SysRng.try_fill_bytes(dest).map_err(|_| CryptoError::Rng)
}

/// Returns `N` bytes from the operating system's random number generator.
///
/// The array is returned by value, so do not use this for key material (copies are not
/// wiped); use [`Key32::generate`] instead.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// Compares two byte strings in time independent of their contents.
///
/// Slices of different lengths compare unequal at once: lengths are not treated as secret.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = Key32::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        for (text, bytes) in [
            (format!("{key:?}"), key.expose_secret()),
            (format!("{dek:?}"), dek.key().expose_secret()),
        ] {
            assert!(text.contains("[REDACTED]"));
            crate::test_util::assert_no_key_bytes(&text, bytes);
        }
        assert_eq!(format!("{key:?}"), "Key32([REDACTED])");
        assert_eq!(format!("{dek:?}"), "DataKey([REDACTED])");
    }

    #[test]
    fn random_keys_differ() {
        let a = Key32::generate().unwrap();
        let b = Key32::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
    }

    #[test]
    fn ct_eq_compares_contents_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 appendix B.1.
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
