//! Research pseudonyms: the re-identification code of 45 CFR 164.514(c).
//!
//! The code is a keyed HMAC-SHA-256 of the vault's own subject id (a random identifier
//! assigned by the vault, not derived from PHI) under the vault's pseudonym key. It is stable
//! across exports, cannot be reversed without the key, and the key never leaves the vault.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Domain separation so the pseudonym key can never produce another protocol's MAC.
const DOMAIN: &[u8] = b"phivault/research-pseudonym/v1\0";

/// The stable research id of `subject` under `key`: `R-` followed by 26 base32 characters
/// (128 bits of the HMAC).
pub fn pseudonym(key: &[u8; 32], subject: &str) -> String {
    let mut out = String::with_capacity(28);
    out.push_str("R-");
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return out;
    };
    mac.update(DOMAIN);
    mac.update(subject.as_bytes());
    let tag = mac.finalize().into_bytes();
    // RFC 4648 base32 alphabet, lower case, no padding, over the first 16 bytes.
    const ALPHA: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in tag.iter().take(16) {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHA[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHA[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A per-subject day offset in `[-max_days, max_days]`, never 0, for consistent date shifting
/// (not Safe Harbor: see [`crate::record::DateMode::Shift`]).
pub fn date_shift_days(key: &[u8; 32], subject: &str, max_days: u16) -> i32 {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return 1;
    };
    mac.update(b"phivault/date-shift/v1\0");
    mac.update(subject.as_bytes());
    let tag = mac.finalize().into_bytes();
    let n = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]);
    let span = u32::from(max_days.max(1));
    let mag = i32::try_from(n % span).unwrap_or(0) + 1;
    if tag[4] & 1 == 0 { mag } else { -mag }
}
