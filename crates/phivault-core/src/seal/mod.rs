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
    use std::path::Path;

    /// Calls that build associated data or touch key wrapping directly.
    const SEAL_ONLY: [&str; 5] = [
        "RecordAad {",
        "seal_record(",
        "open_record(",
        "wrap_data_key(",
        ".insert_subject_key(",
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn associated_data_and_key_wrapping_live_only_in_seal() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let seal = src.join("seal");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        let mut offenders = Vec::new();
        for file in files.iter().filter(|f| !f.starts_with(&seal)) {
            let text = std::fs::read_to_string(file).unwrap();
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
