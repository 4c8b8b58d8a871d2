//! Consistent surrogates: a keyed hash of the original value picks a realistic replacement
//! of the same category, keeping the shape of numbers.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::category::Category;

const SURROGATE_GIVEN: &[&str] = &[
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Parker",
    "Reese", "Rowan", "Sage", "Emerson", "Finley", "Harper",
];
const SURROGATE_FAMILY: &[&str] = &[
    "Ashdown",
    "Brierley",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairbanks",
    "Galloway",
    "Hartwell",
    "Ingram",
    "Jessup",
    "Kingsley",
    "Lockhart",
    "Merriman",
    "Northcott",
    "Oakley",
    "Pemberton",
];
const SURROGATE_CITY: &[&str] = &[
    "Eastbrook",
    "Westfield Falls",
    "Millbrook",
    "Cedar Hollow",
    "Ridgeview",
    "Lakemont",
];
const SURROGATE_STREET: &[&str] = &[
    "Maple Avenue",
    "Oak Street",
    "Birch Lane",
    "Cedar Road",
    "Elm Court",
    "Pine Drive",
];

pub(super) fn surrogate(key: &[u8; 32], category: Category, value: &str, out: &mut String) {
    let mut h = [0u8; 32];
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        mac.update(category.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(value.trim().to_ascii_lowercase().as_bytes());
        h.copy_from_slice(&mac.finalize().into_bytes());
    }
    let pick = |list: &[&'static str], i: usize| list[usize::from(h[i]) % list.len()];
    match category {
        Category::Name => {
            if value.contains(' ') || value.contains(',') {
                out.push_str(pick(SURROGATE_GIVEN, 0));
                out.push(' ');
            }
            out.push_str(pick(SURROGATE_FAMILY, 1));
        }
        Category::City => out.push_str(pick(SURROGATE_CITY, 0)),
        Category::Street => {
            out.push_str(&(u16::from(h[0]) * 7 + 10).to_string());
            out.push(' ');
            out.push_str(pick(SURROGATE_STREET, 1));
        }
        Category::Facility => {
            out.push_str(pick(SURROGATE_CITY, 0));
            out.push_str(" Hospital");
        }
        Category::Email => {
            out.push_str(&pick(SURROGATE_GIVEN, 0).to_ascii_lowercase());
            out.push_str(&format!("{:02x}{:02x}@example.org", h[1], h[2]));
        }
        Category::Url => out.push_str(&format!(
            "https://example.org/{:02x}{:02x}{:02x}",
            h[0], h[1], h[2]
        )),
        Category::Date | Category::Age | Category::State => out.push_str(category.placeholder()),
        _ => {
            // Keep the shape: digits become other digits, letters other letters.
            for (i, c) in value.chars().enumerate() {
                let r = h[i % 32].wrapping_add(u8::try_from(i / 32).unwrap_or(0));
                if c.is_ascii_digit() {
                    out.push(char::from(b'0' + r % 10));
                } else if c.is_ascii_uppercase() {
                    out.push(char::from(b'A' + r % 26));
                } else if c.is_ascii_lowercase() {
                    out.push(char::from(b'a' + r % 26));
                } else {
                    out.push(c);
                }
            }
        }
    }
}
