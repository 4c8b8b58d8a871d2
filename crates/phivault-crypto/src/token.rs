//! API and session tokens: generation, offline format checks, and the hash stored in place of
//! the token.
//!
//! Tokens carry a recognisable prefix and a checksum (like GitHub's) so secret scanners can
//! spot a leaked one and the server can reject typos before any database lookup.

use core::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::secret::{ct_eq, fill_random};

/// Base62 digits in ASCII order, so the encoding sorts like the number it encodes.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256, so 43 digits hold any 32-byte value.
const RANDOM_CHARS: usize = 43;
/// 62^6 > 2^32, so 6 digits hold any CRC32.
const CHECK_CHARS: usize = 6;
const BODY_CHARS: usize = RANDOM_CHARS + CHECK_CHARS;
const TOKEN_HASH_LABEL: &[u8] = b"phivault/token-hash/v1\0";

/// An API or session token, wiped on drop and redacted in `Debug`.
#[derive(Clone)]
pub struct TokenSecret(Zeroizing<String>);

impl TokenSecret {
    /// Borrows the token text (to hand it to the user once, or to send it as a credential).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([REDACTED])")
    }
}

/// Prefixes are 2–16 characters of `[a-z0-9]` starting with a letter, and contain no `_`, so
/// the first `_` always ends the prefix.
fn valid_prefix(prefix: &str) -> bool {
    (2..=16).contains(&prefix.len())
        && prefix
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Fixed-width base62 of a 256-bit big-endian number, by repeated long division by 62.
fn encode_random(bytes: &[u8; 32]) -> Zeroizing<[u8; RANDOM_CHARS]> {
    let mut n = Zeroizing::new(*bytes);
    let mut digits = Zeroizing::new([b'0'; RANDOM_CHARS]);
    for slot in digits.iter_mut().rev() {
        let mut rem = 0u32;
        for byte in n.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    digits
}

/// Fixed-width base62 of the CRC32 of the random part's characters.
fn checksum(random_part: &[u8]) -> [u8; CHECK_CHARS] {
    let mut crc = crc32fast::hash(random_part);
    let mut out = [b'0'; CHECK_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

/// Generates a token `{prefix}_{random}{checksum}` with 256 bits from the OS RNG.
///
/// `random` is the 32 random bytes as fixed-width (43-character, zero-padded) base62 with the
/// alphabet `0-9A-Za-z`; `checksum` is the CRC32 of those 43 characters as 6-character base62.
/// Secret scanners can match a leaked token with `\b[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{49}\b`
/// (for API tokens `\bpvt_[0-9A-Za-z]{49}\b`, for sessions `\bpvs_[0-9A-Za-z]{49}\b`) and
/// confirm it with the checksum. The prefix must match `[a-z][a-z0-9]{1,15}`.
pub fn generate_token(prefix: &str) -> Result<TokenSecret, CryptoError> {
    if !valid_prefix(prefix) {
        return Err(CryptoError::Format("invalid token prefix"));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    fill_random(raw.as_mut_slice())?;
    let random = encode_random(&raw);
    let check = checksum(random.as_slice());
    let mut token = Zeroizing::new(String::with_capacity(prefix.len() + 1 + BODY_CHARS));
    token.push_str(prefix);
    token.push('_');
    token.extend(random.iter().chain(check.iter()).map(|&b| char::from(b)));
    Ok(TokenSecret(token))
}

/// Checks a presented token's prefix, length, alphabet and checksum; `Format` if any is wrong.
///
/// Run this before any database lookup so malformed or mistyped tokens cost nothing.
pub fn parse_token(s: &str, prefix: &str) -> Result<TokenSecret, CryptoError> {
    if !valid_prefix(prefix) {
        return Err(CryptoError::Format("invalid token prefix"));
    }
    let body = s
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(CryptoError::Format("token has the wrong prefix"))?;
    if body.len() != BODY_CHARS {
        return Err(CryptoError::Format("token has the wrong length"));
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CryptoError::Format("token has invalid characters"));
    }
    let (random, check) = body.as_bytes().split_at(RANDOM_CHARS);
    if !ct_eq(&checksum(random), check) {
        return Err(CryptoError::Format("token checksum does not match"));
    }
    Ok(TokenSecret(Zeroizing::new(s.to_owned())))
}

/// The value stored for a token: SHA-256 over a domain-separation label and the token text.
///
/// A fast unsalted hash is right here, unlike for passwords: a token has 256 bits of entropy,
/// so a stolen hash cannot be brute-forced, and lookups stay one indexed equality query.
pub fn token_hash(t: &TokenSecret) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TOKEN_HASH_LABEL);
    h.update(t.expose_secret().as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_edges() {
        assert_eq!(encode_random(&[0; 32]).as_slice(), [b'0'; RANDOM_CHARS]);
        // 2^256 - 1 fits in 43 digits; its leading digit is 60 ('y'): floor(2^256 / 62^42) = 60.
        let max = encode_random(&[0xff; 32]);
        assert_eq!(max[0], b'y');
        let mut one = [0u8; 32];
        one[31] = 61;
        assert_eq!(encode_random(&one)[RANDOM_CHARS - 1], b'z');
        assert_eq!(checksum(b"").as_slice(), b"000000");
        // CRC32("123456789") = 0xCBF43926, the standard check value; base62 "3jZRME".
        assert_eq!(&checksum(b"123456789"), b"3jZRME");
    }

    #[test]
    fn debug_is_redacted() {
        let t = generate_token("pvt").unwrap();
        let text = format!("{t:?}");
        assert_eq!(text, "TokenSecret([REDACTED])");
        assert!(!text.contains(&t.expose_secret()[4..]));
    }

    #[test]
    fn prefixes() {
        assert!(valid_prefix("pvt"));
        assert!(valid_prefix("pvs"));
        for bad in ["", "p", "PVT", "pv_t", "1pv", "abcdefghijklmnopq", "pvé"] {
            assert!(!valid_prefix(bad), "{bad}");
            assert!(generate_token(bad).is_err());
        }
    }
}
