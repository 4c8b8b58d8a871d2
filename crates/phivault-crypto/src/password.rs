//! User passwords: Argon2id hashing to PHC strings, verification, equal-time handling of
//! unknown users, and the password policy (length, common passwords, username, patterns).
//!
//! The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) carries its own parameters, so
//! raising the cost later only affects new hashes; old ones keep verifying.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::secret::{ct_eq, fill_random};

/// Salt length in bytes (the PHC string format's recommendation).
const SALT_LEN: usize = 16;
/// Hash output length in bytes.
const OUTPUT_LEN: usize = 32;
/// Bounds checked before running Argon2 on parameters read from a stored PHC string, so a
/// crafted or corrupted hash cannot make a login allocate gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;
const MIN_OUTPUT_LEN: usize = 16;
const MAX_OUTPUT_LEN: usize = 64;

/// Argon2id cost parameters for password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasswordHashParams {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl PasswordHashParams {
    /// Argon2id with m = 19 MiB (19456 KiB), t = 2, p = 1: the minimum configuration the
    /// OWASP Password Storage Cheat Sheet recommends for Argon2id.
    ///
    /// Unlike the keyring KDF (run once at startup), this runs on every login, so it trades
    /// memory for throughput under concurrent logins.
    pub fn recommended() -> Self {
        PasswordHashParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }

    /// Minimal cost (8 KiB, one pass) so tests run fast. Never use for real passwords.
    pub fn insecure_fast_for_tests() -> Self {
        PasswordHashParams {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn within_bounds(&self) -> bool {
        self.m_cost_kib <= MAX_M_COST_KIB && self.t_cost <= MAX_T_COST && self.p_cost <= MAX_P_COST
    }

    fn argon2(&self, output_len: usize) -> Result<Argon2<'static>, CryptoError> {
        if !self.within_bounds() {
            return Err(CryptoError::Kdf);
        }
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(output_len))
            .map_err(|_| CryptoError::Kdf)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes a password with Argon2id and a fresh random 16-byte salt; returns the PHC string
/// to store. `Kdf` if the parameters are out of range.
pub fn hash_password(password: &str, params: &PasswordHashParams) -> Result<String, CryptoError> {
    let argon = params.argon2(OUTPUT_LEN)?;
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt)?;
    let phc = argon
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|_| CryptoError::Kdf)?;
    Ok(phc.to_string())
}

/// Verifies a password against a stored PHC string: `Ok(true)` on a match, `Ok(false)` on a
/// mismatch, `Format` if the string is malformed, not Argon2id v19, or has parameters outside
/// sane bounds (memory above 1 GiB, more than 64 passes or 16 lanes). The comparison is
/// constant-time.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(|_| CryptoError::Format("malformed PHC string"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(CryptoError::Format("password hash is not argon2id"));
    }
    if parsed.version != Some(0x13) {
        return Err(CryptoError::Format("unsupported argon2 version"));
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(CryptoError::Format("PHC string lacks salt or hash"));
    };
    let argon_params = Params::try_from(&parsed.params)
        .map_err(|_| CryptoError::Format("invalid argon2 parameters"))?;
    let params = PasswordHashParams {
        m_cost_kib: argon_params.m_cost(),
        t_cost: argon_params.t_cost(),
        p_cost: argon_params.p_cost(),
    };
    let expected = expected.as_bytes();
    if !params.within_bounds() || !(MIN_OUTPUT_LEN..=MAX_OUTPUT_LEN).contains(&expected.len()) {
        return Err(CryptoError::Format("argon2 parameters out of bounds"));
    }
    let argon = params
        .argon2(expected.len())
        .map_err(|_| CryptoError::Format("invalid argon2 parameters"))?;
    let mut computed = Zeroizing::new(vec![0u8; expected.len()]);
    argon
        .hash_password_into(password.as_bytes(), salt.as_ref(), &mut computed)
        .map_err(|_| CryptoError::Kdf)?;
    Ok(ct_eq(&computed, expected))
}

/// Runs the same Argon2id work as a real [`verify_password`] and discards the result.
///
/// Call it when the user does not exist, so that login takes as long as for a wrong
/// password and response time does not reveal which accounts exist. The reference hash is
/// computed once per parameter set and cached.
pub fn dummy_verify_password(password: &str, params: &PasswordHashParams) {
    static CACHE: OnceLock<Mutex<HashMap<PasswordHashParams, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let cached = match cache.lock() {
        Ok(map) => map.get(params).cloned(),
        Err(poisoned) => poisoned.into_inner().get(params).cloned(),
    };
    let phc = match cached {
        Some(phc) => phc,
        None => {
            let Ok(phc) = hash_password("phivault dummy password", params) else {
                return;
            };
            match cache.lock() {
                Ok(mut map) => map.entry(*params).or_insert(phc).clone(),
                Err(poisoned) => poisoned.into_inner().entry(*params).or_insert(phc).clone(),
            }
        }
    };
    let _ = verify_password(password, &phc);
}

/// Why a new password was refused by [`check_password_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Fewer than 12 characters.
    #[error("password is shorter than 12 characters")]
    TooShort,
    /// More than 128 characters.
    #[error("password is longer than 128 characters")]
    TooLong,
    /// On (or a trivial variation of a password on) the list of common passwords.
    #[error("password is too common")]
    Common,
    /// Contains the username.
    #[error("password contains the username")]
    ContainsUsername,
    /// One repeated character, a repeated short pattern, or a keyboard/alphabet/digit run.
    #[error("password is a repetition or a sequence")]
    Repetitive,
}

impl PasswordRejection {
    /// Stable machine-readable code for API responses.
    pub fn code(self) -> &'static str {
        match self {
            PasswordRejection::TooShort => "password_too_short",
            PasswordRejection::TooLong => "password_too_long",
            PasswordRejection::Common => "password_common",
            PasswordRejection::ContainsUsername => "password_contains_username",
            PasswordRejection::Repetitive => "password_repetitive",
        }
    }
}

/// Minimum length in Unicode scalar values (NIST SP 800-63B allows 8; we ask for more since
/// phivault guards PHI and passphrases are encouraged).
const MIN_LEN: usize = 12;
/// Maximum length: long enough for any passphrase, short enough to bound hashing input.
const MAX_LEN: usize = 128;
/// Usernames shorter than this are not checked (they would match too much by chance).
const MIN_USERNAME_LEN: usize = 3;

static COMMON_PASSWORDS_TXT: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS_TXT
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Replaces common leetspeak digits and symbols by letters; `one` is what `1` becomes.
fn unleet(s: &str, one: char) -> String {
    s.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => one,
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

fn is_common(lower: &str) -> bool {
    let set = common_passwords();
    let is_junk = |c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace();
    let stripped = lower.trim_end_matches(is_junk);
    let both_ends = stripped.trim_start_matches(is_junk);
    [lower, stripped, both_ends].iter().any(|form| {
        !form.is_empty()
            && (set.contains(*form)
                || set.contains(unleet(form, 'l').as_str())
                || set.contains(unleet(form, 'i').as_str()))
    })
}

/// Runs that are weak when a password is any contiguous slice of one (either direction).
const SEQUENCES: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "01234567890123456789012345678901234567890",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop[]asdfghjkl;'zxcvbnm,./",
    "1234567890-=qwertyuiop[]",
    "!@#$%^&*()_+",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
    "azertyuiopqsdfghjklmwxcvbn",
    "qwertzuiopasdfghjklyxcvbnm",
];

fn is_repetitive(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    let n = chars.len();
    if n == 0 {
        return false;
    }
    // A repeated unit of at most half the length ("aaaa…", "abcabc…", "qwertyqwerty").
    if (1..=n / 2).any(|p| (p..n).all(|i| chars[i] == chars[i - p])) {
        return true;
    }
    // Almost no variety ("aaaaaaaaaaab").
    let distinct: HashSet<char> = chars.iter().copied().collect();
    if distinct.len() <= 2 {
        return true;
    }
    // A keyboard, alphabet or digit run, forwards or backwards.
    let reversed: String = lower.chars().rev().collect();
    SEQUENCES
        .iter()
        .any(|seq| seq.contains(lower) || seq.contains(reversed.as_str()))
}

/// Checks a new password against the policy; the rejection names the first rule it breaks,
/// in the order: length, common password, username, repetition.
///
/// - 12 to 128 Unicode scalar values;
/// - not on the bundled list of common passwords, compared lower-cased, and also after
///   stripping trailing (and leading) digits/punctuation and undoing common leetspeak
///   (`0→o 1→l/i 3→e 4→a 5→s 7→t @→a $→s`), so `P@ssw0rd2024!` counts as `password`;
/// - must not contain the username (case-insensitive) when it has at least 3 characters;
/// - not one repeated character or short pattern, and not a keyboard/alphabet/digit run.
pub fn check_password_policy(password: &str, username: &str) -> Result<(), PasswordRejection> {
    // Bound the work before looking at characters: 128 scalars are at most 512 bytes.
    if password.len() > MAX_LEN * 4 {
        return Err(PasswordRejection::TooLong);
    }
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PasswordRejection::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordRejection::TooLong);
    }
    let lower = Zeroizing::new(password.to_lowercase());
    if is_common(&lower) {
        return Err(PasswordRejection::Common);
    }
    let user = username.trim().to_lowercase();
    if user.chars().count() >= MIN_USERNAME_LEN && lower.contains(user.as_str()) {
        return Err(PasswordRejection::ContainsUsername);
    }
    if is_repetitive(&lower) {
        return Err(PasswordRejection::Repetitive);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_list_is_lowercase_and_large() {
        let set = common_passwords();
        assert!(set.len() > 1000, "{}", set.len());
        for w in set {
            assert_eq!(*w, w.to_lowercase(), "list entries must be lower-case");
        }
        for w in [
            "password1234",
            "qwertyuiop123",
            "iloveyou1234",
            "123456789012",
            "letmein12345",
        ] {
            assert!(set.contains(w), "{w}");
        }
    }

    #[test]
    fn out_of_bounds_phc_is_refused_before_hashing() {
        let big = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                   aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(matches!(
            verify_password("x", big),
            Err(CryptoError::Format(_))
        ));
        let passes = "$argon2id$v=19$m=8,t=1000,p=1$c29tZXNhbHRzb21lc2FsdA$\
                      aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(matches!(
            verify_password("x", passes),
            Err(CryptoError::Format(_))
        ));
    }
}
