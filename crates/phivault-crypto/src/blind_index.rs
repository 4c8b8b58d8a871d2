//! Blind indexes: deterministic keyed tags that let the store find records by an exact field
//! value without holding the value in clear, plus the normalisation applied before tagging.
//!
//! Each (collection, field) pair gets its own HMAC key, so equal values in different fields
//! produce unrelated tags and cannot be joined across fields.

use core::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::primitives::{Canonical, hkdf_sha256_32, hmac_sha256};
use crate::secret::Key32;

const INDEX_KEY_LABEL: &str = "phivault/blind-index-key/v1";

/// Computes blind-index tags from the keyring's index root key.
///
/// Per-field keys are derived on every call rather than cached: HKDF is a few SHA-256
/// compressions, cheaper than a lock, and no derived key outlives the call.
#[derive(Clone)]
pub struct BlindIndexer {
    root: Key32,
}

impl fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexer([REDACTED])")
    }
}

impl BlindIndexer {
    /// Builds an indexer from an index root key (normally via `Keyring::blind_indexer`).
    pub fn new(root: Key32) -> BlindIndexer {
        BlindIndexer { root }
    }

    /// HMAC-SHA-256 of `normalised_value` under the key for (`collection`, `field`).
    ///
    /// The field key is HKDF-SHA-256(root, info = label || len-prefixed collection || field).
    /// Callers pass the output of [`normalise_for_index`] so equal values give equal tags.
    pub fn tag(&self, collection: &str, field: &str, normalised_value: &str) -> [u8; 32] {
        let info = Canonical::new(INDEX_KEY_LABEL)
            .str(collection)
            .str(field)
            .finish();
        let field_key = hkdf_sha256_32(self.root.expose_secret(), &info);
        hmac_sha256(&field_key, normalised_value.as_bytes())
    }
}

/// Normalises a value for exact-match indexing: Unicode NFKC, full Unicode lower-casing,
/// trimmed, and internal runs of whitespace collapsed to one space. Idempotent.
///
/// NFKC runs before lower-casing (compatibility forms such as full-width or modifier letters
/// only become ordinary letters after it) and again after, because lower-casing can produce
/// sequences that are not in NFKC.
pub fn normalise_for_index(value: &str) -> String {
    let folded: String = value.nfkc().collect::<String>().to_lowercase();
    let normal: String = folded.nfkc().collect();
    let mut out = String::with_capacity(normal.len());
    for word in normal.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_examples() {
        assert_eq!(normalise_for_index("ＪＯＨＮ  smith "), "john smith");
        assert_eq!(
            normalise_for_index("\tJohn\u{3000}\nSmith\u{2028}"),
            "john smith"
        );
        assert_eq!(normalise_for_index("Ｅ\u{301}LISE"), "élise");
        assert_eq!(
            normalise_for_index("E\u{301}lise"),
            normalise_for_index("Élise")
        );
        assert_eq!(normalise_for_index("ﬁle"), "file");
        assert_eq!(normalise_for_index("   "), "");
    }

    /// Idempotence over every scalar value alone and after a capital, which is where
    /// lower-casing and composition interact; the proptest covers longer strings.
    #[test]
    fn normalisation_is_idempotent_for_every_char() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("A{c}"), format!("{c}\u{301}")] {
                let once = normalise_for_index(&s);
                assert_eq!(normalise_for_index(&once), once, "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = Key32::generate().unwrap();
        let text = format!("{:?}", BlindIndexer::new(key.clone()));
        assert_eq!(text, "BlindIndexer([REDACTED])");
        crate::test_util::assert_no_key_bytes(&text, key.expose_secret());
    }
}
