//! Typed identifiers. Each constructor checks the charset so that an id is safe to put in
//! a URL, a log line or an audit event, and so that a value cannot be confused with another kind.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::error::VaultError;
use crate::error_code::ErrorCode;

/// A UUID in its hyphenated form (`8-4-4-4-12` hex digits), the form ids are written in.
pub fn parse_hyphenated(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The name of a collection: `[a-z][a-z0-9_]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionName(String);

impl CollectionName {
    /// Checks and wraps a collection name.
    pub fn parse(s: &str) -> Result<Self, VaultError> {
        if is_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(VaultError::BadRequest(
                ErrorCode::InvalidCollectionName.as_str(),
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a field in a collection schema: `[a-z][a-z0-9_]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldName(String);

impl FieldName {
    /// Checks and wraps a field name.
    pub fn parse(s: &str) -> Result<Self, VaultError> {
        if is_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(VaultError::BadRequest(ErrorCode::InvalidFieldName.as_str()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The opaque id of a subject, the individual the PHI is about: 1–128 characters of
/// `[A-Za-z0-9._:-]`. It must not itself be an identifier such as an MRN or SSN: the
/// application maps its own identifiers to opaque subject ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubjectId(String);

impl SubjectId {
    /// Checks and wraps a subject id.
    pub fn parse(s: &str) -> Result<Self, VaultError> {
        // A leading `_` is reserved for the vault's internal key subjects.
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(VaultError::BadRequest(ErrorCode::InvalidSubjectId.as_str()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = VaultError;
            fn try_from(s: String) -> Result<Self, VaultError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_conversions!(CollectionName);
string_conversions!(FieldName);
string_conversions!(SubjectId);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $t:ident, $code:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $t(pub Uuid);

        impl $t {
            /// Parses the canonical hyphenated form (36 characters) only: the API
            /// declares `format: uuid`, which the simple, braced and URN forms are not.
            pub fn parse(s: &str) -> Result<Self, VaultError> {
                parse_hyphenated(s)
                    .map(Self)
                    .ok_or(VaultError::BadRequest($code))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// The id of a record, a UUIDv7 assigned by the vault.
    RecordId,
    "invalid_record_id"
);
uuid_id!(
    /// The public id of an API token (not the secret).
    TokenId,
    "invalid_token_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(CollectionName::parse("patients").is_ok());
        assert!(CollectionName::parse("lab_results_2").is_ok());
        for bad in ["", "Patients", "1abc", "a-b", "a b", "é", &"a".repeat(64)] {
            assert!(CollectionName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn subject_ids_are_checked() {
        assert!(SubjectId::parse("subj-0001:a.b_c").is_ok());
        for bad in ["", "a b", "a/b", "x\u{0}", "_user:1", &"s".repeat(129)] {
            assert!(SubjectId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn record_ids_parse_only_uuids() {
        assert!(RecordId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").is_ok());
        assert!(RecordId::parse("../../etc/passwd").is_err());
    }
}
