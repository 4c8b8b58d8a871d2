//! The keyring: versioned key-encryption keys (KEKs) and the service's other long-lived keys,
//! plus the passphrase-sealed file they live in and data-key wrapping under the KEKs.
//!
//! File: a JSON envelope whose header (format, version, Argon2id parameters, salt) is bound as
//! AAD to the AES-256-GCM ciphertext of the key material, so the header cannot be downgraded.

use core::fmt;
use std::collections::BTreeMap;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::blind_index::BlindIndexer;
use crate::primitives::{Canonical, NONCE_LEN, aead_open, aead_seal_append, hkdf_sha256_32};
use crate::secret::{DataKey, Key32, ct_eq, random_bytes};
use crate::wrapped::{WRAPPED_CT_LEN, WrappedKey};

const FILE_FORMAT: &str = "phivault-keyring";
const FILE_VERSION: u32 = 1;
const KDF_ALG: &str = "argon2id";
const SALT_LEN: usize = 16;
/// Salts read from files may be longer than ours but not shorter (16 bytes = 128 bits).
const MAX_SALT_LEN: usize = 64;
const CHECK_LEN: usize = 32;
/// A keyring with thousands of KEK versions is still far below this; it bounds parsing work.
const MAX_FILE_LEN: usize = 1 << 20;
const HEADER_AAD_LABEL: &str = "phivault/keyring-header/v1";
const FILE_KEY_INFO: &str = "phivault/keyring/v1/file-encryption-key";
const CHECK_INFO: &str = "phivault/keyring/v1/passphrase-check";
const WRAP_AAD_LABEL: &str = "phivault/dek-wrap/v1";
/// Layout of the sealed key material, see [`Keyring::encode_inner`].
const INNER_FORMAT_V1: u8 = 1;
const INNER_MALFORMED: CryptoError = CryptoError::Format("keyring contents are malformed");

/// Upper bounds checked before running Argon2 on parameters read from a file, so a crafted
/// file cannot make `open` allocate or spin without limit (1 GiB, 64 passes, 16 lanes).
const MAX_M_COST_KIB: u32 = 1 << 20;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// Argon2id cost parameters for deriving the keyring file key from the passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Number of passes over the memory.
    pub t_cost: u32,
    /// Lanes (degree of parallelism).
    pub p_cost: u32,
}

impl KdfParams {
    /// Argon2id with 64 MiB, t = 3, p = 1: the production setting.
    ///
    /// The keyring file is the one secret an attacker can guess against offline, and it is
    /// unlocked once per process start, so we can afford far more than OWASP's interactive-login
    /// minimum (19 MiB, t = 2, p = 1): 64 MiB and t = 3 follow RFC 9106's second recommended
    /// option. We keep p = 1 because the argon2 crate runs lanes sequentially here, so more
    /// lanes would add time for the defender without adding memory-hardness.
    pub fn recommended() -> KdfParams {
        KdfParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }

    /// Tiny parameters (64 KiB, t = 1) for tests only: they give no protection to a passphrase.
    pub fn insecure_fast_for_tests() -> KdfParams {
        KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn argon2(&self) -> Option<Argon2<'static>> {
        if self.m_cost_kib > MAX_M_COST_KIB || self.t_cost > MAX_T_COST || self.p_cost > MAX_P_COST
        {
            return None;
        }
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32)).ok()?;
        Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The two keys derived from the passphrase: one seals the file, one is stored as a check value.
struct FileKeys {
    encryption: Zeroizing<[u8; 32]>,
    check: Zeroizing<[u8; 32]>,
}

fn derive_file_keys(
    argon: &Argon2<'_>,
    passphrase: &[u8],
    salt: &[u8],
) -> Result<FileKeys, CryptoError> {
    let mut master = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, master.as_mut_slice())
        .map_err(|_| CryptoError::Kdf)?;
    Ok(FileKeys {
        encryption: hkdf_sha256_32(&master, FILE_KEY_INFO.as_bytes()),
        check: hkdf_sha256_32(&master, CHECK_INFO.as_bytes()),
    })
}

fn header_aad(params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    Canonical::new(HEADER_AAD_LABEL)
        .str(FILE_FORMAT)
        .u32(FILE_VERSION)
        .str(KDF_ALG)
        .u32(params.m_cost_kib)
        .u32(params.t_cost)
        .u32(params.p_cost)
        .bytes(salt)
        .finish()
}

fn wrap_aad(kek_version: u32, subject: &str) -> Vec<u8> {
    Canonical::new(WRAP_AAD_LABEL)
        .u32(kek_version)
        .str(subject)
        .finish()
}

/// Just enough of the envelope to refuse formats and versions we do not know, whatever else
/// a future version puts in the file.
#[derive(Deserialize)]
struct EnvelopeHead {
    format: String,
    version: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeV1 {
    format: String,
    version: u32,
    kdf: KdfHeaderV1,
    /// Passphrase check value: lets `open` tell a wrong passphrase from a damaged ciphertext.
    check: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfHeaderV1 {
    alg: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

fn decode_b64(s: &str, what: &'static str) -> Result<Vec<u8>, CryptoError> {
    B64.decode(s).map_err(|_| CryptoError::Format(what))
}

/// Reads the inner key-material layout, failing with one opaque `Format` error.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        if self.0.len() < n {
            return Err(INNER_MALFORMED);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, CryptoError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| INNER_MALFORMED)?;
        Ok(u32::from_be_bytes(b))
    }

    fn key(&mut self) -> Result<Key32, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(self.take(32)?);
        Ok(Key32::from_zeroizing(k))
    }
}

/// Versioned key-encryption keys plus the blind-index root, audit signing seed and pseudonym key.
#[derive(Clone)]
pub struct Keyring {
    keks: BTreeMap<u32, Key32>,
    current: u32,
    index_root: Key32,
    audit_seed: Key32,
    pseudonym: Key32,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_versions", &self.kek_versions())
            .field("current_kek_version", &self.current)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Creates a keyring with fresh random keys and KEK version 1.
    pub fn generate() -> Result<Keyring, CryptoError> {
        let mut keks = BTreeMap::new();
        keks.insert(1, Key32::generate()?);
        Ok(Keyring {
            keks,
            current: 1,
            index_root: Key32::generate()?,
            audit_seed: Key32::generate()?,
            pseudonym: Key32::generate()?,
        })
    }

    /// The KEK version new data keys are wrapped under.
    pub fn current_kek_version(&self) -> u32 {
        self.current
    }

    /// All KEK versions in the ring, ascending.
    pub fn kek_versions(&self) -> Vec<u32> {
        self.keks.keys().copied().collect()
    }

    /// Adds a new KEK version and makes it current; older versions stay to unwrap old data keys.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        let newest = self.keks.keys().next_back().copied().unwrap_or(0);
        let next = newest
            .checked_add(1)
            .ok_or(CryptoError::Format("KEK version space exhausted"))?;
        self.keks.insert(next, Key32::generate()?);
        self.current = next;
        Ok(next)
    }

    /// Seals the keyring under `passphrase` and returns the keyring file bytes (JSON).
    ///
    /// Each call draws a fresh salt and nonce. An empty passphrase is refused (`Format`).
    pub fn seal(&self, passphrase: &[u8], params: &KdfParams) -> Result<Vec<u8>, CryptoError> {
        if passphrase.is_empty() {
            return Err(CryptoError::Format("keyring passphrase is empty"));
        }
        let argon = params.argon2().ok_or(CryptoError::Kdf)?;
        let salt = random_bytes::<SALT_LEN>()?;
        let nonce = random_bytes::<NONCE_LEN>()?;
        let keys = derive_file_keys(&argon, passphrase, &salt)?;
        let inner = self.encode_inner();
        let mut ciphertext = Vec::new();
        aead_seal_append(
            &keys.encryption,
            &nonce,
            &header_aad(params, &salt),
            &inner,
            &mut ciphertext,
        )?;
        let envelope = EnvelopeV1 {
            format: FILE_FORMAT.to_owned(),
            version: FILE_VERSION,
            kdf: KdfHeaderV1 {
                alg: KDF_ALG.to_owned(),
                m_cost_kib: params.m_cost_kib,
                t_cost: params.t_cost,
                p_cost: params.p_cost,
                salt: B64.encode(salt),
            },
            check: B64.encode(keys.check.as_slice()),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(&ciphertext),
        };
        let mut out = serde_json::to_vec_pretty(&envelope)
            .map_err(|_| CryptoError::Format("keyring file could not be encoded"))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Opens a keyring file sealed by [`Keyring::seal`].
    ///
    /// Errors: `Format` for anything that is not a well-formed v1 keyring file (including
    /// unknown versions and out-of-range KDF parameters); `WrongPassphrase` when the passphrase
    /// check value does not match; `Integrity` when the check matches but the ciphertext or
    /// its header fails authentication. A tampered salt or KDF parameter changes the derived
    /// key, so it is reported as `WrongPassphrase`: the two cannot honestly be told apart.
    pub fn open(file: &[u8], passphrase: &[u8]) -> Result<Keyring, CryptoError> {
        if file.len() > MAX_FILE_LEN {
            return Err(CryptoError::Format("keyring file is too large"));
        }
        let head: EnvelopeHead = serde_json::from_slice(file)
            .map_err(|_| CryptoError::Format("keyring file is not a JSON keyring envelope"))?;
        if head.format != FILE_FORMAT {
            return Err(CryptoError::Format("not a phivault keyring file"));
        }
        if head.version != u64::from(FILE_VERSION) {
            return Err(CryptoError::Format("unsupported keyring file version"));
        }
        let env: EnvelopeV1 = serde_json::from_slice(file)
            .map_err(|_| CryptoError::Format("keyring file header is malformed"))?;
        if env.kdf.alg != KDF_ALG {
            return Err(CryptoError::Format("unsupported keyring KDF"));
        }
        let params = KdfParams {
            m_cost_kib: env.kdf.m_cost_kib,
            t_cost: env.kdf.t_cost,
            p_cost: env.kdf.p_cost,
        };
        let argon = params
            .argon2()
            .ok_or(CryptoError::Format("keyring KDF parameters out of range"))?;
        let salt = decode_b64(&env.kdf.salt, "keyring salt is not base64")?;
        if !(SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(CryptoError::Format("keyring salt has the wrong length"));
        }
        let check = decode_b64(&env.check, "keyring check value is not base64")?;
        if check.len() != CHECK_LEN {
            return Err(CryptoError::Format(
                "keyring check value has the wrong length",
            ));
        }
        let nonce: [u8; NONCE_LEN] = decode_b64(&env.nonce, "keyring nonce is not base64")?
            .try_into()
            .map_err(|_| CryptoError::Format("keyring nonce has the wrong length"))?;
        let ciphertext = decode_b64(&env.ciphertext, "keyring ciphertext is not base64")?;

        let keys = derive_file_keys(&argon, passphrase, &salt)?;
        if !ct_eq(keys.check.as_slice(), &check) {
            return Err(CryptoError::WrongPassphrase);
        }
        let inner = aead_open(
            &keys.encryption,
            &nonce,
            &header_aad(&params, &salt),
            &ciphertext,
        )?;
        Keyring::decode_inner(&inner)
    }

    /// Inner layout v1: format u8 || current u32 || count u32 || count × (version u32 || key)
    /// || index root || audit seed || pseudonym key; integers big-endian, keys 32 bytes.
    ///
    /// Hand-written rather than serde so no unwiped intermediate copy of a key is ever made.
    fn encode_inner(&self) -> Zeroizing<Vec<u8>> {
        let len = 1 + 4 + 4 + self.keks.len() * 36 + 3 * 32;
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.push(INNER_FORMAT_V1);
        out.extend_from_slice(&self.current.to_be_bytes());
        // The count cannot exceed u32: versions are distinct u32 values.
        out.extend_from_slice(&(self.keks.len() as u32).to_be_bytes());
        for (version, key) in &self.keks {
            out.extend_from_slice(&version.to_be_bytes());
            out.extend_from_slice(key.expose_secret());
        }
        out.extend_from_slice(self.index_root.expose_secret());
        out.extend_from_slice(self.audit_seed.expose_secret());
        out.extend_from_slice(self.pseudonym.expose_secret());
        out
    }

    fn decode_inner(bytes: &[u8]) -> Result<Keyring, CryptoError> {
        let mut r = Reader(bytes);
        if r.u8()? != INNER_FORMAT_V1 {
            return Err(CryptoError::Format("unknown keyring contents format"));
        }
        let current = r.u32()?;
        let count = r.u32()?;
        let mut keks = BTreeMap::new();
        let mut previous = 0u32;
        for _ in 0..count {
            let version = r.u32()?;
            // Strictly ascending and non-zero: rules out duplicates and the sentinel 0.
            if version <= previous {
                return Err(INNER_MALFORMED);
            }
            previous = version;
            keks.insert(version, r.key()?);
        }
        if !keks.contains_key(&current) {
            return Err(INNER_MALFORMED);
        }
        let keyring = Keyring {
            keks,
            current,
            index_root: r.key()?,
            audit_seed: r.key()?,
            pseudonym: r.key()?,
        };
        if !r.0.is_empty() {
            return Err(INNER_MALFORMED);
        }
        Ok(keyring)
    }

    /// Wraps `dek` under the current KEK; the AAD binds the subject id and the KEK version.
    pub fn wrap_data_key(&self, dek: &DataKey, subject: &str) -> Result<WrappedKey, CryptoError> {
        let version = self.current;
        let kek = self
            .keks
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        let nonce = random_bytes::<NONCE_LEN>()?;
        let mut ciphertext = Vec::with_capacity(WRAPPED_CT_LEN);
        aead_seal_append(
            kek.expose_secret(),
            &nonce,
            &wrap_aad(version, subject),
            dek.key().expose_secret(),
            &mut ciphertext,
        )?;
        Ok(WrappedKey {
            kek_version: version,
            nonce,
            ciphertext,
        })
    }

    /// Unwraps a data key with the KEK version it names; `UnknownKeyVersion` if that is absent.
    pub fn unwrap_data_key(
        &self,
        wrapped: &WrappedKey,
        subject: &str,
    ) -> Result<DataKey, CryptoError> {
        let kek = self
            .keks
            .get(&wrapped.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(wrapped.kek_version))?;
        if wrapped.ciphertext.len() != WRAPPED_CT_LEN {
            return Err(CryptoError::Format("wrapped key has the wrong length"));
        }
        let plain = aead_open(
            kek.expose_secret(),
            &wrapped.nonce,
            &wrap_aad(wrapped.kek_version, subject),
            &wrapped.ciphertext,
        )?;
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != key.len() {
            return Err(CryptoError::Format("wrapped key has the wrong length"));
        }
        key.copy_from_slice(&plain);
        Ok(DataKey::from_key(Key32::from_zeroizing(key)))
    }

    /// Re-wraps a data key under the current KEK (key rotation; the records it seals are untouched).
    pub fn rewrap_data_key(
        &self,
        wrapped: &WrappedKey,
        subject: &str,
    ) -> Result<WrappedKey, CryptoError> {
        let dek = self.unwrap_data_key(wrapped, subject)?;
        self.wrap_data_key(&dek, subject)
    }

    /// The keyed hasher for blind (searchable) indexes.
    pub fn blind_indexer(&self) -> BlindIndexer {
        BlindIndexer::new(self.index_root.clone())
    }

    /// The Ed25519 key that signs audit log heads.
    pub fn audit_signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(self.audit_seed.expose_secret())
    }

    /// The public half of [`Keyring::audit_signing_key`], for verifiers.
    pub fn audit_verifying_key(&self) -> [u8; 32] {
        self.audit_signing_key().verifying_key().to_bytes()
    }

    /// The key for keyed pseudonyms (stable per-subject identifiers in exports and logs).
    pub fn pseudonym_key(&self) -> &Key32 {
        &self.pseudonym
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_no_key_bytes;

    #[test]
    fn debug_shows_versions_only() {
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        let text = format!("{ring:?}");
        assert_eq!(
            text,
            "Keyring { kek_versions: [1, 2], current_kek_version: 2, .. }"
        );
        for key in ring
            .keks
            .values()
            .chain([&ring.index_root, &ring.audit_seed, &ring.pseudonym])
        {
            assert_no_key_bytes(&text, key.expose_secret());
        }
    }

    #[test]
    fn inner_round_trip() {
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        ring.rotate().unwrap();
        let encoded = ring.encode_inner();
        let back = Keyring::decode_inner(&encoded).unwrap();
        assert_eq!(back.kek_versions(), vec![1, 2, 3]);
        assert_eq!(back.current, 3);
        assert_eq!(*back.encode_inner(), *encoded);
    }

    #[test]
    fn inner_rejects_malformed() {
        let ring = Keyring::generate().unwrap();
        let encoded = ring.encode_inner();
        for len in 0..encoded.len() {
            assert!(Keyring::decode_inner(&encoded[..len]).is_err(), "len {len}");
        }
        let mut trailing = encoded.to_vec();
        trailing.push(0);
        assert!(Keyring::decode_inner(&trailing).is_err());
        // current version (bytes 1..5) not in the ring
        let mut bad_current = encoded.to_vec();
        bad_current[4] = 9;
        assert!(Keyring::decode_inner(&bad_current).is_err());
        // KEK version 0 (bytes 9..13) is reserved
        let mut zero_version = encoded.to_vec();
        zero_version[12] = 0;
        assert!(Keyring::decode_inner(&zero_version).is_err());
    }

    #[test]
    fn kdf_params_out_of_range_are_refused() {
        let too_big = KdfParams {
            m_cost_kib: MAX_M_COST_KIB + 1,
            ..KdfParams::recommended()
        };
        assert!(too_big.argon2().is_none());
        let zero_passes = KdfParams {
            t_cost: 0,
            ..KdfParams::insecure_fast_for_tests()
        };
        assert!(zero_passes.argon2().is_none());
        assert!(KdfParams::recommended().argon2().is_some());
        let ring = Keyring::generate().unwrap();
        assert_eq!(ring.seal(b"pw", &too_big).unwrap_err(), CryptoError::Kdf);
    }
}
