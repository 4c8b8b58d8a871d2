//! The crate's one error type.
//!
//! Messages are static text: they never carry key material, plaintext or any part of the input,
//! so they are safe to log and to map to client-facing error codes.

/// Every failure a cryptographic operation in this crate can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// An AEAD tag or MAC did not verify: the data was altered or moved to another context.
    #[error("ciphertext failed authentication")]
    Integrity,
    /// The keyring passphrase does not match the keyring file.
    #[error("wrong passphrase for the keyring")]
    WrongPassphrase,
    /// The data names a key-encryption-key version that is not in the keyring.
    #[error("unknown key version {0}")]
    UnknownKeyVersion(u32),
    /// Input is malformed; the text names the problem, never the input.
    #[error("malformed input: {0}")]
    Format(&'static str),
    /// Password-based key derivation failed (bad parameters or out of memory).
    #[error("key derivation failed")]
    Kdf,
    /// The operating system's random number generator failed.
    #[error("operating system random number generator failed")]
    Rng,
}
