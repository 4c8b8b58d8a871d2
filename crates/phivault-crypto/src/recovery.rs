//! MFA recovery codes: one-time codes shown to the user once, stored only as hashes.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::secret::fill_random;

/// RFC 4648 base32 alphabet: no `0`/`1`/`8`/`9`, so codes are easy to read back.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// 80 random bits per code: 16 base32 characters.
const CODE_BYTES: usize = 10;
/// More codes than anyone prints is a caller bug, not a request to honour.
const MAX_CODES: usize = 100;
const RECOVERY_HASH_LABEL: &[u8] = b"phivault/recovery-code-hash/v1\0";

/// Generates `n` distinct recovery codes, each 80 random bits as base32 grouped as
/// `XXXX-XXXX-XXXX-XXXX`. `Format` if `n` is 0 or above 100.
pub fn generate_recovery_codes(n: usize) -> Result<Vec<Zeroizing<String>>, CryptoError> {
    if n == 0 || n > MAX_CODES {
        return Err(CryptoError::Format("recovery code count out of range"));
    }
    let mut codes: Vec<Zeroizing<String>> = Vec::with_capacity(n);
    while codes.len() < n {
        let mut raw = Zeroizing::new([0u8; CODE_BYTES]);
        fill_random(raw.as_mut_slice())?;
        // 80 bits split exactly into sixteen 5-bit groups.
        let mut value =
            Zeroizing::new(raw.iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b)));
        let mut code = Zeroizing::new(String::with_capacity(19));
        for i in 0..16 {
            if i > 0 && i % 4 == 0 {
                code.push('-');
            }
            let shift = 75 - 5 * i;
            code.push(char::from(BASE32[((*value >> shift) & 31) as usize]));
        }
        *value = 0;
        // A collision at 80 bits is practically impossible; keeping codes distinct is free.
        if !codes.iter().any(|c| c.as_str() == code.as_str()) {
            codes.push(code);
        }
    }
    Ok(codes)
}

/// The value stored for a recovery code: SHA-256 over a domain-separation label and the
/// normalised code (`-` and whitespace removed, upper-cased), so `abcd-efgh…` and
/// `ABCDEFGH…` match.
///
/// A fast unsalted hash is right here, unlike for passwords: each code carries 80 random
/// bits, so even a stolen hash cannot be brute-forced (2^80 guesses), and the lookup stays
/// one equality check. Slow hashing only helps low-entropy, human-chosen secrets.
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normalised: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect(),
    );
    let mut h = Sha256::new();
    h.update(RECOVERY_HASH_LABEL);
    h.update(normalised.as_bytes());
    h.finalize().into()
}
