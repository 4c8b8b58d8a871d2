//! The token parser faces every request's `Authorization` header: arbitrary text never
//! panics it, every token the generator makes parses, and any one-character change to a
//! valid token is refused before a lookup (the checksum and alphabet catch it).

#![allow(clippy::unwrap_used)]

use phivault_crypto::{generate_token, parse_token};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_token_parser(s in any::<String>(), prefix in "[a-z][a-z0-9]{0,16}") {
        let parsed = parse_token(&s, &prefix);
        // Only text of the documented shape can be accepted.
        if parsed.is_ok() {
            let body = s.strip_prefix(&format!("{prefix}_")).unwrap_or_default();
            prop_assert_eq!(body.len(), 49);
            prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn token_shaped_text_with_a_bad_checksum_is_refused(body in "[0-9A-Za-z]{49}") {
        // A random 49-character body passes the 6-character checksum about once in 62^6
        // (5.7e10), so over these cases a pass means the checksum is not checked.
        let text = format!("pvt_{body}");
        prop_assert!(parse_token(&text, "pvt").is_err());
    }

    #[test]
    fn any_single_change_to_a_valid_token_is_refused(pos in 0usize..53, replacement in any::<char>()) {
        let token = generate_token("pvt").unwrap();
        let text = token.expose_secret().to_owned();
        prop_assert!(parse_token(&text, "pvt").is_ok());
        let mut chars: Vec<char> = text.chars().collect();
        prop_assume!(chars[pos] != replacement);
        chars[pos] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(parse_token(&changed, "pvt").is_err(), "{pos} {replacement:?}");
    }
}
