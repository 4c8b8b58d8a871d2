//! Sealing: subject data keys ([`SubjectKeys`]: get-or-create, unwrap, re-wrap, shred),
//! the associated data that binds each ciphertext to its row ([`Aad`]), and the record
//! writer. No other module of the crate builds associated data or wraps keys; a tidy
//! test below keeps it that way.

mod aad;
mod keys;
mod record;

pub use aad::{Aad, UserSecret};
pub use keys::{Shredded, SubjectKeys, user_key_subject};
pub use record::verify_sealed_record;
pub(crate) use record::{RecordWriter, index_entries, open_data, open_with};

#[cfg(test)]
mod tidy {
    /// Calls that build associated data or touch key wrapping directly.
    const SEAL_ONLY: [&str; 5] = [
        "RecordAad {",
        "seal_record(",
        "open_record(",
        "wrap_data_key(",
        ".insert_subject_key(",
    ];

    #[test]
    fn associated_data_and_key_wrapping_live_only_in_seal() {
        let seal = crate::tidy::src_dir().join("seal");
        let mut offenders = Vec::new();
        for (file, text) in crate::tidy::sources() {
            if file.starts_with(&seal) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                for banned in SEAL_ONLY.iter().filter(|b| line.contains(**b)) {
                    offenders.push(format!("{}:{}: {banned}", file.display(), n + 1));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "build associated data and wrap keys only in core::seal:\n{}",
            offenders.join("\n")
        );
    }
}
