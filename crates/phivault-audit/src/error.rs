//! Errors from reading stored audit events. Messages carry positions and stable codes,
//! never the offending text: a tampered or buggy row could hold anything, PHI included.

use serde_json::error::Category;

/// Why a stored event could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// `event_json` is not JSON, or not JSON of an audit event.
    #[error("audit event is malformed ({category} error at line {line}, column {column})")]
    Malformed {
        /// serde_json's error class: `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// `event_json` parses but is not the canonical encoding of the event it holds.
    #[error("audit event is not in canonical form")]
    NotCanonical,
}

impl AuditError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "audit_event_malformed",
            Self::NotCanonical => "audit_event_not_canonical",
        }
    }

    /// Keeps the position and class of a serde_json error but drops its message, which
    /// can quote the input.
    pub(crate) fn from_json(e: serde_json::Error) -> Self {
        let category = match e.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax",
            Category::Data => "data",
            Category::Eof => "eof",
        };
        Self::Malformed {
            category,
            line: e.line(),
            column: e.column(),
        }
    }
}
