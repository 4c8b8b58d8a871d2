//! Domain and storage errors, each with a stable machine-readable code. Messages name
//! schema fields and error kinds only; no error ever carries a submitted value.

use crate::error_code::{ErrorCode, InternalFault};
use serde::Serialize;
use thiserror::Error;

/// Failures of a storage backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique key already exists (e.g. a collection name).
    #[error("duplicate key")]
    Duplicate,
    /// The transaction was aborted by its own closure; the domain error travels separately.
    #[error("transaction aborted")]
    Aborted,
    /// The backend is unreachable, full, or failed to commit.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded (corruption or an unknown format).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// One schema violation in a submitted record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// A JSON pointer built only from declared field names and array indices; an
    /// undeclared key shows as `/(undeclared)` because the key itself is submitted text.
    pub pointer: String,
    /// A stable code: `missing_required`, `wrong_type`, `undeclared_field`, `out_of_range`,
    /// `too_long`, `too_deep`, `invalid_date`, `invalid_datetime`, `not_an_object`.
    pub code: &'static str,
}

/// A submitted record that does not match its collection's schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record does not match the collection schema ({} violation(s))", violations.len())]
pub struct ValidationError {
    /// What is wrong, at most a bounded number of entries.
    pub violations: Vec<Violation>,
}

/// Every failure the vault reports to a caller.
#[derive(Debug, Error)]
pub enum VaultError {
    /// No valid credential: missing, malformed, unknown, expired or revoked (one answer for all).
    #[error("authentication required")]
    Unauthenticated,
    /// The principal may not do this; `rule` names the policy rule that decided.
    #[error("forbidden by policy rule {rule}")]
    Forbidden {
        /// The rule that denied.
        rule: String,
    },
    /// The caller may not see this record. It is audited as the denial by `rule`, and
    /// answered exactly as a record that does not exist, so that an answer never confirms
    /// to someone without access that a record exists.
    #[error("record concealed by policy rule {rule}")]
    Concealed {
        /// The rule that denied.
        rule: String,
    },
    /// The named kind of thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The record has been deleted.
    #[error("record deleted")]
    Gone,
    /// The subject was erased (its data key destroyed): nothing of it can be read again.
    #[error("subject erased")]
    Erased,
    /// A uniqueness or state conflict, by code.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// An update or delete without `If-Match`.
    #[error("If-Match is required")]
    PreconditionRequired,
    /// `If-Match` named a version that is not the current one.
    #[error("the record has changed since the given version")]
    PreconditionFailed,
    /// The request is malformed, by code.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The record does not match its schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A collection schema is not acceptable, by code.
    #[error("invalid schema: {0}")]
    InvalidSchema(&'static str),
    /// A name or label looks like an identifier (45 CFR 164.514(b)(2)); says which item
    /// kind and which shape, never the value.
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    /// Stored data failed authentication: tampering or corruption. The read fails closed.
    #[error("stored data failed its integrity check")]
    Integrity,
    /// The audit log could not be written, so the request was not served.
    #[error("audit log unavailable")]
    AuditUnavailable,
    /// The storage backend failed.
    #[error("storage failure")]
    Store(#[source] StoreError),
    /// Anything else; the code is static text.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl VaultError {
    /// The stable error code carried in responses, audit events and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated.as_str(),
            Self::Forbidden { .. } => ErrorCode::Forbidden.as_str(),
            Self::NotFound(_) | Self::Concealed { .. } => ErrorCode::NotFound.as_str(),
            Self::Gone => ErrorCode::RecordDeleted.as_str(),
            Self::Erased => ErrorCode::SubjectErased.as_str(),
            Self::Conflict(c) => c,
            Self::PreconditionRequired => ErrorCode::IfMatchRequired.as_str(),
            Self::PreconditionFailed => ErrorCode::VersionMismatch.as_str(),
            Self::BadRequest(c) => c,
            Self::PayloadTooLarge => ErrorCode::BodyTooLarge.as_str(),
            Self::Invalid(_) => ErrorCode::ValidationFailed.as_str(),
            Self::InvalidSchema(c) => c,
            Self::Metadata(_) => ErrorCode::IdentifierInMetadata.as_str(),
            Self::Integrity => ErrorCode::IntegrityFailure.as_str(),
            Self::AuditUnavailable => ErrorCode::AuditUnavailable.as_str(),
            Self::Store(_) => ErrorCode::StorageUnavailable.as_str(),
            Self::Internal(_) => ErrorCode::InternalError.as_str(),
        }
    }

    /// The audit outcome this error records.
    pub fn outcome(&self) -> phivault_audit::Outcome {
        use phivault_audit::Outcome;
        match self {
            Self::Unauthenticated | Self::Forbidden { .. } | Self::Concealed { .. } => {
                Outcome::Denied
            }
            Self::NotFound(_)
            | Self::Gone
            | Self::Erased
            | Self::Conflict(_)
            | Self::PreconditionRequired
            | Self::PreconditionFailed
            | Self::BadRequest(_)
            | Self::PayloadTooLarge
            | Self::Invalid(_)
            | Self::InvalidSchema(_)
            | Self::Metadata(_) => Outcome::Invalid,
            Self::Integrity | Self::AuditUnavailable | Self::Store(_) | Self::Internal(_) => {
                Outcome::Error
            }
        }
    }
}

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(_) => VaultError::Integrity,
            other => VaultError::Store(other),
        }
    }
}

impl From<phivault_crypto::CryptoError> for VaultError {
    fn from(e: phivault_crypto::CryptoError) -> Self {
        use phivault_crypto::CryptoError;
        match e {
            CryptoError::Integrity | CryptoError::Format(_) => VaultError::Integrity,
            CryptoError::UnknownKeyVersion(_) => VaultError::Integrity,
            _ => VaultError::Internal(InternalFault::CryptoFailure.as_str()),
        }
    }
}
