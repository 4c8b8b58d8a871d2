//! The stable error codes core reports, and the names of what can be missing or fail
//! internally, as types. `as_str` keeps each text exactly as it was: codes are a wire and
//! audit contract (problem documents, `reason` of failed events), so they never change.
//! `VaultError` keeps `&'static str` payloads so callers that match on them still compile;
//! core fills them only from these enums (a tidy test checks it).

use crate::error::VaultError;

/// A stable error code: the `code` of a problem document and the reason of a failed
/// audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `unauthenticated`
    Unauthenticated,
    /// `forbidden`
    Forbidden,
    /// `not_found`
    NotFound,
    /// `record_deleted`
    RecordDeleted,
    /// `subject_erased`
    SubjectErased,
    /// `if_match_required`
    IfMatchRequired,
    /// `version_mismatch`
    VersionMismatch,
    /// `body_too_large`
    BodyTooLarge,
    /// `validation_failed`
    ValidationFailed,
    /// `identifier_in_metadata`
    IdentifierInMetadata,
    /// `integrity_failure`
    IntegrityFailure,
    /// `audit_unavailable`
    AuditUnavailable,
    /// `storage_unavailable`
    StorageUnavailable,
    /// `internal_error`
    InternalError,
    /// `already_extended`
    AlreadyExtended,
    /// `already_reviewed`
    AlreadyReviewed,
    /// `breakglass_duration_out_of_range`
    BreakglassDurationOutOfRange,
    /// `breakglass_reason_length`
    BreakglassReasonLength,
    /// `collection_exists`
    CollectionExists,
    /// `field_not_searchable`
    FieldNotSearchable,
    /// `group_by_required`
    GroupByRequired,
    /// `invalid_amendment_fields`
    InvalidAmendmentFields,
    /// `invalid_collection_name`
    InvalidCollectionName,
    /// `invalid_description`
    InvalidDescription,
    /// `invalid_disclosure_scope`
    InvalidDisclosureScope,
    /// `invalid_disclosure_time`
    InvalidDisclosureTime,
    /// `invalid_field_name`
    InvalidFieldName,
    /// `invalid_instructions`
    InvalidInstructions,
    /// `invalid_reason`
    InvalidReason,
    /// `invalid_recipient`
    InvalidRecipient,
    /// `invalid_record_id`
    InvalidRecordId,
    /// `invalid_restriction`
    InvalidRestriction,
    /// `invalid_retention`
    InvalidRetention,
    /// `invalid_role_name`
    InvalidRoleName,
    /// `invalid_statement`
    InvalidStatement,
    /// `invalid_subject_id`
    InvalidSubjectId,
    /// `invalid_token_id`
    InvalidTokenId,
    /// `invalid_token_name`
    InvalidTokenName,
    /// `invalid_username`
    InvalidUsername,
    /// `item_not_in_that_state`
    ItemNotInThatState,
    /// `legal_hold`
    LegalHold,
    /// `not_a_human_user`
    NotAHumanUser,
    /// `not_a_session`
    NotASession,
    /// `proof_out_of_range`
    ProofOutOfRange,
    /// `purpose_not_accountable`
    PurposeNotAccountable,
    /// `purpose_required`
    PurposeRequired,
    /// `received_in_future`
    ReceivedInFuture,
    /// `request_for_another_subject`
    RequestForAnotherSubject,
    /// `request_overdue`
    RequestOverdue,
    /// `review_note_length`
    ReviewNoteLength,
    /// `role_is_builtin`
    RoleIsBuiltin,
    /// `schema_duplicate_field`
    SchemaDuplicateField,
    /// `schema_field_not_indexable`
    SchemaFieldNotIndexable,
    /// `schema_has_no_fields`
    SchemaHasNoFields,
    /// `schema_too_many_fields`
    SchemaTooManyFields,
    /// `sum_field_not_numeric`
    SumFieldNotNumeric,
    /// `token_ttl_out_of_range`
    TokenTtlOutOfRange,
    /// `unknown_field`
    UnknownField,
    /// `unknown_role`
    UnknownRole,
    /// `username_taken`
    UsernameTaken,
    /// `wrong_item_kind`
    WrongItemKind,
}

impl ErrorCode {
    /// Every value.
    pub const ALL: [ErrorCode; 61] = [
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::RecordDeleted,
        Self::SubjectErased,
        Self::IfMatchRequired,
        Self::VersionMismatch,
        Self::BodyTooLarge,
        Self::ValidationFailed,
        Self::IdentifierInMetadata,
        Self::IntegrityFailure,
        Self::AuditUnavailable,
        Self::StorageUnavailable,
        Self::InternalError,
        Self::AlreadyExtended,
        Self::AlreadyReviewed,
        Self::BreakglassDurationOutOfRange,
        Self::BreakglassReasonLength,
        Self::CollectionExists,
        Self::FieldNotSearchable,
        Self::GroupByRequired,
        Self::InvalidAmendmentFields,
        Self::InvalidCollectionName,
        Self::InvalidDescription,
        Self::InvalidDisclosureScope,
        Self::InvalidDisclosureTime,
        Self::InvalidFieldName,
        Self::InvalidInstructions,
        Self::InvalidReason,
        Self::InvalidRecipient,
        Self::InvalidRecordId,
        Self::InvalidRestriction,
        Self::InvalidRetention,
        Self::InvalidRoleName,
        Self::InvalidStatement,
        Self::InvalidSubjectId,
        Self::InvalidTokenId,
        Self::InvalidTokenName,
        Self::InvalidUsername,
        Self::ItemNotInThatState,
        Self::LegalHold,
        Self::NotAHumanUser,
        Self::NotASession,
        Self::ProofOutOfRange,
        Self::PurposeNotAccountable,
        Self::PurposeRequired,
        Self::ReceivedInFuture,
        Self::RequestForAnotherSubject,
        Self::RequestOverdue,
        Self::ReviewNoteLength,
        Self::RoleIsBuiltin,
        Self::SchemaDuplicateField,
        Self::SchemaFieldNotIndexable,
        Self::SchemaHasNoFields,
        Self::SchemaTooManyFields,
        Self::SumFieldNotNumeric,
        Self::TokenTtlOutOfRange,
        Self::UnknownField,
        Self::UnknownRole,
        Self::UsernameTaken,
        Self::WrongItemKind,
    ];

    /// The text carried in errors (and, for codes, on the wire and in audit events).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RecordDeleted => "record_deleted",
            Self::SubjectErased => "subject_erased",
            Self::IfMatchRequired => "if_match_required",
            Self::VersionMismatch => "version_mismatch",
            Self::BodyTooLarge => "body_too_large",
            Self::ValidationFailed => "validation_failed",
            Self::IdentifierInMetadata => "identifier_in_metadata",
            Self::IntegrityFailure => "integrity_failure",
            Self::AuditUnavailable => "audit_unavailable",
            Self::StorageUnavailable => "storage_unavailable",
            Self::InternalError => "internal_error",
            Self::AlreadyExtended => "already_extended",
            Self::AlreadyReviewed => "already_reviewed",
            Self::BreakglassDurationOutOfRange => "breakglass_duration_out_of_range",
            Self::BreakglassReasonLength => "breakglass_reason_length",
            Self::CollectionExists => "collection_exists",
            Self::FieldNotSearchable => "field_not_searchable",
            Self::GroupByRequired => "group_by_required",
            Self::InvalidAmendmentFields => "invalid_amendment_fields",
            Self::InvalidCollectionName => "invalid_collection_name",
            Self::InvalidDescription => "invalid_description",
            Self::InvalidDisclosureScope => "invalid_disclosure_scope",
            Self::InvalidDisclosureTime => "invalid_disclosure_time",
            Self::InvalidFieldName => "invalid_field_name",
            Self::InvalidInstructions => "invalid_instructions",
            Self::InvalidReason => "invalid_reason",
            Self::InvalidRecipient => "invalid_recipient",
            Self::InvalidRecordId => "invalid_record_id",
            Self::InvalidRestriction => "invalid_restriction",
            Self::InvalidRetention => "invalid_retention",
            Self::InvalidRoleName => "invalid_role_name",
            Self::InvalidStatement => "invalid_statement",
            Self::InvalidSubjectId => "invalid_subject_id",
            Self::InvalidTokenId => "invalid_token_id",
            Self::InvalidTokenName => "invalid_token_name",
            Self::InvalidUsername => "invalid_username",
            Self::ItemNotInThatState => "item_not_in_that_state",
            Self::LegalHold => "legal_hold",
            Self::NotAHumanUser => "not_a_human_user",
            Self::NotASession => "not_a_session",
            Self::ProofOutOfRange => "proof_out_of_range",
            Self::PurposeNotAccountable => "purpose_not_accountable",
            Self::PurposeRequired => "purpose_required",
            Self::ReceivedInFuture => "received_in_future",
            Self::RequestForAnotherSubject => "request_for_another_subject",
            Self::RequestOverdue => "request_overdue",
            Self::ReviewNoteLength => "review_note_length",
            Self::RoleIsBuiltin => "role_is_builtin",
            Self::SchemaDuplicateField => "schema_duplicate_field",
            Self::SchemaFieldNotIndexable => "schema_field_not_indexable",
            Self::SchemaHasNoFields => "schema_has_no_fields",
            Self::SchemaTooManyFields => "schema_too_many_fields",
            Self::SumFieldNotNumeric => "sum_field_not_numeric",
            Self::TokenTtlOutOfRange => "token_ttl_out_of_range",
            Self::UnknownField => "unknown_field",
            Self::UnknownRole => "unknown_role",
            Self::UsernameTaken => "username_taken",
            Self::WrongItemKind => "wrong_item_kind",
        }
    }

    /// The value whose text is `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a `NotFound` error says is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Missing {
    /// A missing active token.
    ActiveToken,
    /// A missing audit entry.
    AuditEntry,
    /// A missing break-glass episode.
    BreakGlassEpisode,
    /// A missing care relationship.
    CareRelationship,
    /// A missing collection.
    Collection,
    /// A missing privacy item.
    PrivacyItem,
    /// A missing record.
    Record,
    /// A missing record version.
    RecordVersion,
    /// A missing service account.
    ServiceAccount,
    /// A missing session.
    Session,
    /// A missing subject.
    Subject,
    /// A missing tree head.
    TreeHead,
    /// A missing user.
    User,
    /// A missing vault_id.
    VaultId,
}

impl Missing {
    /// Every value.
    pub const ALL: [Missing; 14] = [
        Self::ActiveToken,
        Self::AuditEntry,
        Self::BreakGlassEpisode,
        Self::CareRelationship,
        Self::Collection,
        Self::PrivacyItem,
        Self::Record,
        Self::RecordVersion,
        Self::ServiceAccount,
        Self::Session,
        Self::Subject,
        Self::TreeHead,
        Self::User,
        Self::VaultId,
    ];

    /// The text carried in errors (and, for codes, on the wire and in audit events).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ActiveToken => "active token",
            Self::AuditEntry => "audit entry",
            Self::BreakGlassEpisode => "break-glass episode",
            Self::CareRelationship => "care relationship",
            Self::Collection => "collection",
            Self::PrivacyItem => "privacy item",
            Self::Record => "record",
            Self::RecordVersion => "record version",
            Self::ServiceAccount => "service account",
            Self::Session => "session",
            Self::Subject => "subject",
            Self::TreeHead => "tree head",
            Self::User => "user",
            Self::VaultId => "vault_id",
        }
    }

    /// The value whose text is `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Which internal step failed, for an `Internal` error (never shown to callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum InternalFault {
    /// `blocking_task_failed`
    BlockingTaskFailed,
    /// `crypto_failure`
    CryptoFailure,
    /// `deid_scrubber`
    DeidScrubber,
    /// `encode`
    Encode,
    /// `login_state`
    LoginState,
    /// `review_state`
    ReviewState,
    /// `role_encoding`
    RoleEncoding,
    /// `schema_encoding`
    SchemaEncoding,
    /// `transaction_result_missing`
    TransactionResultMissing,
}

impl InternalFault {
    /// Every value.
    pub const ALL: [InternalFault; 9] = [
        Self::BlockingTaskFailed,
        Self::CryptoFailure,
        Self::DeidScrubber,
        Self::Encode,
        Self::LoginState,
        Self::ReviewState,
        Self::RoleEncoding,
        Self::SchemaEncoding,
        Self::TransactionResultMissing,
    ];

    /// The text carried in errors (and, for codes, on the wire and in audit events).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BlockingTaskFailed => "blocking_task_failed",
            Self::CryptoFailure => "crypto_failure",
            Self::DeidScrubber => "deid_scrubber",
            Self::Encode => "encode",
            Self::LoginState => "login_state",
            Self::ReviewState => "review_state",
            Self::RoleEncoding => "role_encoding",
            Self::SchemaEncoding => "schema_encoding",
            Self::TransactionResultMissing => "transaction_result_missing",
        }
    }

    /// The value whose text is `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl VaultError {
    /// The error's stable code, typed.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(self.code())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = BTreeSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
        }
        for m in Missing::ALL {
            assert_eq!(Missing::parse(m.as_str()), Some(m));
        }
        for f in InternalFault::ALL {
            assert_eq!(InternalFault::parse(f.as_str()), Some(f));
        }
        assert_eq!(
            VaultError::Conflict(ErrorCode::LegalHold.as_str()).error_code(),
            Some(ErrorCode::LegalHold)
        );
        assert_eq!(
            VaultError::Erased.error_code(),
            Some(ErrorCode::SubjectErased)
        );
    }

    /// Core builds its errors from the enums above, never from string literals.
    #[test]
    fn core_builds_error_payloads_from_the_enums() {
        let mut offenders = Vec::new();
        for (f, text) in crate::tidy::sources() {
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                for v in [
                    "NotFound",
                    "Conflict",
                    "BadRequest",
                    "InvalidSchema",
                    "Internal",
                ] {
                    if line.contains(&format!("VaultError::{v}(\"")) {
                        offenders.push(format!("{}:{}", f.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "literal error payloads: {offenders:?}"
        );
    }
}
