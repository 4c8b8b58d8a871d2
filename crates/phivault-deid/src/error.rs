//! Errors of the de-identification crate.

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    /// A built-in pattern failed to compile (a bug, caught by the tests).
    #[error("pattern failed to compile: {0}")]
    Pattern(String),
    /// A record was not a JSON object.
    #[error("record is not a JSON object")]
    NotAnObject,
    /// A corpus line could not be read.
    #[error("corpus line {line}: {reason}")]
    Corpus {
        /// 1-based line number.
        line: usize,
        /// What was wrong (never the line's content).
        reason: String,
    },
}
