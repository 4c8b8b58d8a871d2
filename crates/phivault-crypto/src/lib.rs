//! Cryptography for phivault: record sealing, data-key wrapping, the passphrase-sealed
//! keyring, blind indexes, API/session tokens, and the identity primitives (TOTP, Argon2id
//! password hashes and policy, MFA recovery codes).
//!
//! Every other crate reaches cryptography only through this crate's API, so the RustCrypto
//! primitives behind it (AES-256-GCM, HMAC/HKDF/SHA-256, Argon2id, Ed25519) can later be
//! swapped for a FIPS-validated provider without changing any stored format. Secrets live in
//! types that wipe on drop, redact `Debug`, and are read only through `expose_secret`.
//!
//! Key hierarchy: the keyring file (Argon2id from a passphrase) holds versioned key-encryption
//! keys (KEKs); each subject's data key (DEK) is stored wrapped under a KEK and seals that
//! subject's records. Rotation adds a KEK and re-wraps DEKs; records are not re-encrypted.

#![forbid(unsafe_code)]

mod blind_index;
mod error;
mod keyring;
mod password;
mod primitives;
mod record;
mod recovery;
mod secret;
mod token;
mod totp;
mod wrapped;

pub use blind_index::{BlindIndexer, normalise_for_index};
pub use error::CryptoError;
pub use keyring::{KdfParams, Keyring};
pub use password::{
    PasswordHashParams, PasswordRejection, check_password_policy, dummy_verify_password,
    hash_password, verify_password,
};
pub use record::{RecordAad, open_record, seal_record};
pub use recovery::{generate_recovery_codes, recovery_code_hash};
pub use secret::{DataKey, Key32, ct_eq, random_bytes, sha256};
pub use token::{TokenSecret, generate_token, parse_token, token_hash};
pub use totp::{TotpAlgorithm, TotpParams, TotpSecret, otpauth_uri, totp_code, totp_verify};
pub use wrapped::WrappedKey;

#[cfg(test)]
mod test_util {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    /// Fails if `text` contains `key` as hex (either case), base64 (standard or URL-safe), the
    /// `Debug` form of the array, or any 8-byte run of it in lower-case hex.
    pub(crate) fn assert_no_key_bytes(text: &str, key: &[u8; 32]) {
        let lower = hex::encode(key);
        let forms = [
            lower.clone(),
            hex::encode_upper(key),
            STANDARD.encode(key),
            STANDARD_NO_PAD.encode(key),
            URL_SAFE_NO_PAD.encode(key),
            format!("{key:?}"),
        ];
        for form in &forms {
            assert!(!text.contains(form.as_str()), "key material in {text:?}");
        }
        for window in key.windows(8) {
            assert!(
                !text.contains(&hex::encode(window)),
                "key bytes in {text:?}"
            );
        }
    }
}
