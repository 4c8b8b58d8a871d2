//! Time-based one-time passwords: RFC 6238 TOTP over RFC 4226 HOTP, with HMAC-SHA-1/256/512.
//!
//! Time is passed in as unix seconds (the caller reads its `Clock`), so windows and replay
//! protection are testable without sleeping. The shared secret lives in [`TotpSecret`], which
//! wipes on drop and redacts `Debug`; codes are compared in constant time.

use core::fmt;
use core::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;
use crate::secret::{ct_eq, fill_random};

/// Minimum secret length: RFC 4226 section 4 requires at least 128 bits and recommends 160.
const MIN_SECRET_LEN: usize = 20;
/// Upper bound on decoded secrets, so a crafted enrolment string cannot allocate without limit.
const MAX_SECRET_LEN: usize = 128;
/// RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP shared secret (at least 160 bits), wiped on drop and redacted in `Debug`.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// Draws a fresh 20-byte (160-bit) secret from the operating system's RNG, the length
    /// RFC 4226 recommends and every authenticator app accepts.
    pub fn generate() -> Result<TotpSecret, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; MIN_SECRET_LEN]);
        fill_random(bytes.as_mut_slice())?;
        Ok(TotpSecret(bytes))
    }

    /// Wraps existing secret bytes; `Format` if shorter than 20 bytes (or absurdly long).
    pub fn from_bytes(b: Vec<u8>) -> Result<TotpSecret, CryptoError> {
        let b = Zeroizing::new(b);
        if b.len() < MIN_SECRET_LEN {
            return Err(CryptoError::Format("TOTP secret shorter than 160 bits"));
        }
        if b.len() > MAX_SECRET_LEN {
            return Err(CryptoError::Format("TOTP secret too long"));
        }
        Ok(TotpSecret(b))
    }

    /// Borrows the raw secret bytes; every use is a place where the secret leaves its type.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The secret as RFC 4648 base32 without padding, as authenticator apps expect it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.0.len().div_ceil(5) * 8));
        let mut acc: u64 = 0;
        let mut bits: u32 = 0;
        for &byte in self.0.iter() {
            acc = (acc << 8) | u64::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
        }
        acc.zeroize();
        out
    }

    /// Parses RFC 4648 base32 (case-insensitive; spaces, `-` and trailing `=` ignored), as
    /// typed from an authenticator's manual-entry screen. `Format` on bad characters, an
    /// impossible length, non-zero trailing bits, or a secret shorter than 160 bits.
    pub fn from_base32(s: &str) -> Result<TotpSecret, CryptoError> {
        if s.len() > MAX_SECRET_LEN * 4 {
            return Err(CryptoError::Format("TOTP secret too long"));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(s.len() * 5 / 8));
        let mut acc: u64 = 0;
        let mut bits: u32 = 0;
        let mut chars: usize = 0;
        let body = s.trim_end_matches(|c: char| c == '=' || c.is_whitespace());
        for c in body.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let v = match c.to_ascii_uppercase() {
                u @ 'A'..='Z' => u as u64 - u64::from(b'A'),
                d @ '2'..='7' => d as u64 - u64::from(b'2') + 26,
                _ => {
                    acc.zeroize();
                    return Err(CryptoError::Format("TOTP secret is not base32"));
                }
            };
            chars += 1;
            acc = ((acc << 5) | v) & 0xffff;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((acc >> bits) & 0xff) as u8);
            }
        }
        let leftover = acc & ((1u64 << bits) - 1);
        acc.zeroize();
        // A final group of 1, 3 or 6 characters cannot come from whole bytes.
        if matches!(chars % 8, 1 | 3 | 6) || leftover != 0 {
            return Err(CryptoError::Format(
                "TOTP secret has an invalid base32 length",
            ));
        }
        TotpSecret::from_bytes(core::mem::take(&mut *out))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// The HMAC hash function of a TOTP credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1: the RFC 4226 default and the only one every authenticator app supports.
    Sha1,
    /// HMAC-SHA-256 (RFC 6238).
    Sha256,
    /// HMAC-SHA-512 (RFC 6238).
    Sha512,
}

impl TotpAlgorithm {
    /// The name used in `otpauth://` URIs.
    fn uri_name(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }
}

/// TOTP parameters: hash, code length and time step (T0 is always the unix epoch).
///
/// Valid parameters have 6 to 8 digits (RFC 4226 requires at least 6; authenticator apps
/// offer 6 or 8) and a step of at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC hash function.
    pub algorithm: TotpAlgorithm,
    /// Number of decimal digits in a code (6 to 8).
    pub digits: u32,
    /// Length of one time step in seconds (at least 1).
    pub step_seconds: u64,
}

impl Default for TotpParams {
    /// SHA-1, 6 digits, 30 seconds: what every authenticator app supports.
    fn default() -> Self {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            step_seconds: 30,
        }
    }
}

impl TotpParams {
    /// Whether these parameters can produce codes (6–8 digits, a step of at least 1 s).
    pub fn is_valid(&self) -> bool {
        (6..=8).contains(&self.digits) && self.step_seconds >= 1
    }
}

/// HMAC of the 8-byte big-endian counter under the secret, in a buffer wiped on drop.
fn hmac_counter(
    secret: &TotpSecret,
    algorithm: TotpAlgorithm,
    counter: u64,
) -> Option<Zeroizing<Vec<u8>>> {
    let msg = counter.to_be_bytes();
    let key = secret.expose_secret();
    let out = match algorithm {
        TotpAlgorithm::Sha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).ok()?;
            mac.update(&msg);
            mac.finalize().into_bytes().to_vec()
        }
        TotpAlgorithm::Sha256 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
            mac.update(&msg);
            mac.finalize().into_bytes().to_vec()
        }
        TotpAlgorithm::Sha512 => {
            let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).ok()?;
            mac.update(&msg);
            mac.finalize().into_bytes().to_vec()
        }
    };
    Some(Zeroizing::new(out))
}

/// RFC 4226 HOTP: HMAC, dynamic truncation to 31 bits, reduced to `digits` zero-padded digits.
fn hotp(secret: &TotpSecret, params: &TotpParams, counter: u64) -> Option<Zeroizing<String>> {
    if !params.is_valid() {
        return None;
    }
    let mac = hmac_counter(secret, params.algorithm, counter)?;
    let offset = usize::from(*mac.last()? & 0x0f);
    let window = mac.get(offset..offset + 4)?;
    let mut bin = Zeroizing::new(
        u32::from_be_bytes([window[0], window[1], window[2], window[3]]) & 0x7fff_ffff,
    );
    let modulus = 10u32.checked_pow(params.digits)?;
    *bin %= modulus;
    let mut code = Zeroizing::new(String::with_capacity(params.digits as usize));
    write!(code, "{:0width$}", *bin, width = params.digits as usize).ok()?;
    Some(code)
}

/// The time step containing `unix_time`, or `None` for invalid parameters.
fn step_at(params: &TotpParams, unix_time: u64) -> Option<u64> {
    if !params.is_valid() {
        return None;
    }
    unix_time.checked_div(params.step_seconds)
}

/// The TOTP code for `unix_time`, zero-padded to `params.digits`.
///
/// Returns an empty string if `params` are invalid (see [`TotpParams::is_valid`]); no code
/// ever verifies against an empty string.
pub fn totp_code(secret: &TotpSecret, params: &TotpParams, unix_time: u64) -> String {
    step_at(params, unix_time)
        .and_then(|step| hotp(secret, params, step))
        .map(|code| code.as_str().to_owned())
        .unwrap_or_default()
}

/// Checks a presented code against the current time step and one step either side (clock
/// drift and the time it takes to type), and returns the step that matched.
///
/// Replay protection: steps at or before `last_used_step` are refused, so a code that was
/// already accepted (or any older one) cannot be used again; store the returned step as the
/// new `last_used_step`. A code of the wrong length or with non-digits is refused before any
/// HMAC is computed; candidate codes are compared in constant time, and every candidate step
/// is computed whether or not an earlier one matched.
pub fn totp_verify(
    secret: &TotpSecret,
    params: &TotpParams,
    code: &str,
    unix_time: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let current = step_at(params, unix_time)?;
    if code.len() != params.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let candidates = [
        current.checked_sub(1),
        Some(current),
        current.checked_add(1),
    ];
    let mut matched = None;
    for step in candidates.into_iter().flatten() {
        if last_used_step.is_some_and(|used| step <= used) {
            continue;
        }
        let Some(expected) = hotp(secret, params, step) else {
            continue;
        };
        if ct_eq(expected.as_bytes(), code.as_bytes()) {
            matched = Some(step);
        }
    }
    matched
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so `:` `@` space `&` and
/// `/` inside an issuer or account name cannot break the URI).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `otpauth://` enrolment URI (Google Authenticator Key URI format) for a QR code:
/// `otpauth://totp/{issuer}:{account}?secret=BASE32&issuer={issuer}&algorithm=SHA1&digits=6&period=30`.
///
/// Issuer and account are percent-encoded. The URI contains the secret: show it to the user
/// once (as a QR code) and never log it.
pub fn otpauth_uri(
    secret: &TotpSecret,
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> String {
    let issuer = percent_encode(issuer);
    let secret_b32 = secret.to_base32();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}&digits={digits}&period={period}",
        account = percent_encode(account),
        secret = secret_b32.as_str(),
        alg = params.algorithm.uri_name(),
        digits = params.digits,
        period = params.step_seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 section 10, padding removed; inputs padded to 20 bytes are not needed here.
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(s.to_base32().as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let foobar = TotpSecret(Zeroizing::new(b"foobar".to_vec()));
        assert_eq!(foobar.to_base32().as_str(), "MZXW6YTBOI");
        let fooba = TotpSecret(Zeroizing::new(b"fooba".to_vec()));
        assert_eq!(fooba.to_base32().as_str(), "MZXW6YTB");
        let f = TotpSecret(Zeroizing::new(b"f".to_vec()));
        assert_eq!(f.to_base32().as_str(), "MY");
    }

    #[test]
    fn invalid_params_yield_no_code() {
        let s = TotpSecret::generate().unwrap();
        for params in [
            TotpParams {
                digits: 5,
                ..TotpParams::default()
            },
            TotpParams {
                digits: 9,
                ..TotpParams::default()
            },
            TotpParams {
                step_seconds: 0,
                ..TotpParams::default()
            },
        ] {
            assert_eq!(totp_code(&s, &params, 59), "");
            assert_eq!(totp_verify(&s, &params, "", 59, None), None);
        }
    }
}
