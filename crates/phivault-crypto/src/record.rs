//! Record encryption: PHI payloads sealed under a subject's data key with AES-256-GCM.
//!
//! Owns the sealed-record byte format and the canonical AAD that binds each ciphertext to its
//! collection, record id, version and subject, so a ciphertext copied anywhere else fails to open.

use zeroize::Zeroizing;

use crate::CryptoError;
use crate::primitives::{Canonical, NONCE_LEN, TAG_LEN, aead_open, aead_seal_append};
use crate::secret::{DataKey, random_bytes};

/// First byte of a sealed record: AES-256-GCM, 96-bit random nonce, AAD layout v1.
const RECORD_FORMAT_V1: u8 = 1;
/// Domain-separation label of the record AAD; changing the layout means a new label and format byte.
const RECORD_AAD_LABEL: &str = "phivault/record-aad/v1";
const HEADER_LEN: usize = 1 + NONCE_LEN;

/// Where a sealed record lives; authenticated (not encrypted) alongside its ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAad<'a> {
    /// Collection (record type) the record belongs to.
    pub collection: &'a str,
    /// The record's id.
    pub record_id: &'a str,
    /// The record's version; binding it stops an old version being replayed as a newer one.
    pub version: u64,
    /// The subject whose data key sealed the record.
    pub subject: &'a str,
}

impl RecordAad<'_> {
    /// The canonical AAD bytes: label, then each field length-prefixed, in a fixed order.
    pub(crate) fn canonical_bytes(&self) -> Vec<u8> {
        Canonical::new(RECORD_AAD_LABEL)
            .u32(u32::from(RECORD_FORMAT_V1))
            .str(self.collection)
            .str(self.record_id)
            .u64(self.version)
            .str(self.subject)
            .finish()
    }
}

/// Encrypts a record payload; output is format byte || 12-byte nonce || ciphertext || 16-byte tag.
///
/// Nonces are random: at 2^32 records per data key the collision chance stays below 2^-32,
/// and one key only ever seals a single subject's records.
pub fn seal_record(
    dek: &DataKey,
    aad: &RecordAad<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce = random_bytes::<NONCE_LEN>()?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(RECORD_FORMAT_V1);
    out.extend_from_slice(&nonce);
    aead_seal_append(
        dek.key().expose_secret(),
        &nonce,
        &aad.canonical_bytes(),
        plaintext,
        &mut out,
    )?;
    Ok(out)
}

/// Verifies and decrypts a sealed record; any change to the bytes or the AAD gives `Integrity`.
pub fn open_record(
    dek: &DataKey,
    aad: &RecordAad<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&format, rest) = sealed
        .split_first()
        .ok_or(CryptoError::Format("sealed record is empty"))?;
    if format != RECORD_FORMAT_V1 {
        return Err(CryptoError::Format("unknown sealed record format"));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Format("sealed record is truncated"));
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::Format("sealed record is truncated"))?;
    aead_open(
        dek.key().expose_secret(),
        nonce,
        &aad.canonical_bytes(),
        body,
    )
}
