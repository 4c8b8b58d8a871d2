//! Associated data: what binds a ciphertext to the row it belongs to. Every sealed value
//! in the vault names its kind here, so a ciphertext of one kind never opens as another.

use std::borrow::Cow;

use phivault_crypto::{DataKey, RecordAad, open_record, seal_record};
use zeroize::Zeroizing;

use crate::error::VaultError;

/// A secret of a user kept under the user's own data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSecret {
    /// The TOTP secret.
    Totp,
    /// The reason given when a break-glass episode was opened.
    BreakGlassReason,
    /// The reviewer's note on a break-glass episode.
    BreakGlassReview,
}

impl UserSecret {
    /// The legacy label (see [`Aad`]).
    fn label(self) -> &'static str {
        match self {
            Self::Totp => "_totp",
            Self::BreakGlassReason => "_breakglass_reason",
            Self::BreakGlassReview => "_breakglass_review",
        }
    }
}

/// The kind of a sealed value: the AAD domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain<'a> {
    Record { collection: &'a str },
    UserSecret(UserSecret),
    PrivacyItem { kind: &'a str },
}

/// The associated data of one sealed value: its kind, the id of its row, its version and
/// the subject whose key seals it.
///
/// Stored format: the bytes are those of [`RecordAad`] (a label, then each field
/// length-prefixed), with the kind encoded in the `collection` slot as data written since
/// format v1 has it: a record's collection name; `_totp`, `_breakglass_reason` or
/// `_breakglass_review` for a user's secrets (version 1); `_privacy:<kind>` for a privacy
/// item's detail (version 0). The encoding is kept byte for byte so that every stored
/// ciphertext keeps opening without a migration; the labels cannot collide with a record
/// because collection names start with a lowercase letter, never `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    domain: Domain<'a>,
    id: &'a str,
    version: u64,
    subject: &'a str,
}

impl<'a> Aad<'a> {
    /// A record version: collection, record id, version, owning subject.
    pub fn record(collection: &'a str, id: &'a str, version: u64, subject: &'a str) -> Self {
        Self {
            domain: Domain::Record { collection },
            id,
            version,
            subject,
        }
    }

    /// A user's secret: which one, the row it belongs to (user or episode id), and the
    /// user's key subject (`_user:<id>`).
    pub fn user_secret(secret: UserSecret, id: &'a str, key_subject: &'a str) -> Self {
        Self {
            domain: Domain::UserSecret(secret),
            id,
            version: 1,
            subject: key_subject,
        }
    }

    /// A privacy item's sealed detail: its stored kind name, id and subject.
    pub fn privacy_item(kind: &'a str, id: &'a str, subject: &'a str) -> Self {
        Self {
            domain: Domain::PrivacyItem { kind },
            id,
            version: 0,
            subject,
        }
    }

    /// The legacy encoding of the domain in the `collection` slot.
    fn label(&self) -> Cow<'a, str> {
        match self.domain {
            Domain::Record { collection } => Cow::Borrowed(collection),
            Domain::UserSecret(s) => Cow::Borrowed(s.label()),
            Domain::PrivacyItem { kind } => Cow::Owned(format!("_privacy:{kind}")),
        }
    }

    fn with_bytes<T>(&self, f: impl FnOnce(&RecordAad<'_>) -> T) -> T {
        let label = self.label();
        f(&RecordAad {
            collection: &label,
            record_id: self.id,
            version: self.version,
            subject: self.subject,
        })
    }

    /// Seals `plain` under `dek` bound to this associated data.
    pub fn seal(&self, dek: &DataKey, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(self.with_bytes(|aad| seal_record(dek, aad, plain))?)
    }

    /// Opens `sealed`; fails closed if it was sealed for another row, kind or key.
    pub fn open(&self, dek: &DataKey, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        Ok(self.with_bytes(|aad| open_record(dek, aad, sealed))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_do_not_open_each_other() {
        let dek = DataKey::generate().unwrap();
        let sealed = Aad::privacy_item("amendment", "i1", "s1")
            .seal(&dek, b"x")
            .unwrap();
        assert!(
            Aad::privacy_item("amendment", "i1", "s1")
                .open(&dek, &sealed)
                .is_ok()
        );
        assert!(
            Aad::privacy_item("restriction", "i1", "s1")
                .open(&dek, &sealed)
                .is_err()
        );
        assert!(
            Aad::record("amendment", "i1", 0, "s1")
                .open(&dek, &sealed)
                .is_err()
        );
        let totp = Aad::user_secret(UserSecret::Totp, "u1", "_user:u1")
            .seal(&dek, b"x")
            .unwrap();
        assert!(
            Aad::user_secret(UserSecret::BreakGlassReason, "u1", "_user:u1")
                .open(&dek, &totp)
                .is_err()
        );
    }

    #[test]
    fn the_encoding_is_the_legacy_one() {
        // Data sealed before the typed constructors existed must keep opening.
        let dek = DataKey::generate().unwrap();
        let cases: [(RecordAad<'_>, Aad<'_>); 3] = [
            (
                RecordAad {
                    collection: "notes",
                    record_id: "r",
                    version: 3,
                    subject: "s",
                },
                Aad::record("notes", "r", 3, "s"),
            ),
            (
                RecordAad {
                    collection: "_breakglass_review",
                    record_id: "e",
                    version: 1,
                    subject: "_user:u",
                },
                Aad::user_secret(UserSecret::BreakGlassReview, "e", "_user:u"),
            ),
            (
                RecordAad {
                    collection: "_privacy:legal_hold",
                    record_id: "i",
                    version: 0,
                    subject: "s",
                },
                Aad::privacy_item("legal_hold", "i", "s"),
            ),
        ];
        for (legacy, typed) in cases {
            let sealed = seal_record(&dek, &legacy, b"payload").unwrap();
            assert_eq!(&*typed.open(&dek, &sealed).unwrap(), b"payload");
        }
    }
}
