//! The webhook signature: the shared secret, signing, and the receiver's check.
//! `Phivault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 over "<t>.<body>">`; binding
//! the timestamp into the MAC lets a receiver refuse replays outside its tolerance.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The shared HMAC key of a webhook: zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct WebhookSecret(Arc<Zeroizing<Vec<u8>>>);

impl WebhookSecret {
    /// A secret holding a copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Arc::new(Zeroizing::new(bytes.to_vec())))
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this never falls back; the fallback keeps the
        // no-panic rule without an `expect`.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl From<Vec<u8>> for WebhookSecret {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Arc::new(Zeroizing::new(bytes)))
    }
}

impl From<String> for WebhookSecret {
    fn from(text: String) -> Self {
        Self::from(text.into_bytes())
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

/// The header value signing `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &WebhookSecret, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<seconds>,v1=<hex>`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further from now than the tolerance (a replay or a skewed clock).
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No `v1` value matches the body under the secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Phivault-Signature` header value for `body` at `now` (unix seconds): the
/// timestamp within `tolerance` of `now`, and one `v1` value equal to the HMAC, compared in
/// constant time (`Mac::verify_slice`) so the comparison leaks nothing about the tag.
pub fn verify(
    secret: &WebhookSecret,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            // Unknown schemes are ignored so a later version can be added beside v1.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = now.abs_diff(timestamp);
    if skew > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let mac = secret.mac(timestamp, body);
    if tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: Duration = Duration::from_secs(300);

    #[test]
    fn a_signature_verifies_and_has_the_documented_shape() {
        let secret = WebhookSecret::new(b"shared");
        let header = sign(&secret, 1_700_000_000, b"[1,2]");
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        assert_eq!(v1.len(), "v1=".len() + 64);
        assert_eq!(
            verify(&secret, &header, b"[1,2]", 1_700_000_100, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_or_a_wrong_secret_fails() {
        let secret = WebhookSecret::new(b"shared");
        let header = sign(&secret, 10, b"[1,2]");
        assert_eq!(
            verify(&secret, &header, b"[1,3]", 10, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        let other = WebhookSecret::new(b"other");
        assert_eq!(
            verify(&other, &header, b"[1,2]", 10, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: moving it breaks the tag.
        let moved = header.replace("t=10", "t=11");
        assert_eq!(
            verify(&secret, &moved, b"[1,2]", 10, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_malformed_signatures_fail() {
        let secret = WebhookSecret::new(b"shared");
        let header = sign(&secret, 1000, b"{}");
        assert_eq!(
            verify(&secret, &header, b"{}", 1000 + 301, TOLERANCE),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, &header, b"{}", 1000 - 301, TOLERANCE),
            Err(SignatureError::Stale)
        );
        for bad in [
            "",
            "v1=00",
            "t=1000",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "sha256=00",
        ] {
            assert_eq!(
                verify(&secret, bad, b"{}", 1000, TOLERANCE),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let secret = WebhookSecret::from("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "WebhookSecret([REDACTED])");
    }
}
