//! The stable error codes a problem document can carry, as one wire enum: the domain's
//! codes, the password policy's and the HTTP edge's own. The server builds every problem
//! from this enum and the OpenAPI document lists its values, so a client can match on them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, machine-readable error code: the `code` of a problem document.
///
/// A client reads it through `ErrorCode::parse`, which answers `None` for a code this
/// build does not know (a newer server may add codes), so there is no catch-all variant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // Codes the domain reports.
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
    // Password policy rejections.
    /// The password is shorter than the policy allows.
    PasswordTooShort,
    /// The password is longer than the policy allows.
    PasswordTooLong,
    /// The password is on the list of common passwords.
    PasswordCommon,
    /// The password contains the username.
    PasswordContainsUsername,
    /// The password is one repeated character or sequence.
    PasswordRepetitive,
    // Codes the HTTP edge reports before the domain sees the request.
    /// The body is not JSON, or nests deeper than the parser allows.
    MalformedJson,
    /// The body is not UTF-8.
    InvalidUtf8,
    /// The body is JSON but not the shape the endpoint expects.
    InvalidRequestShape,
    /// The body could not be read from the connection.
    BodyUnreadable,
    /// `Content-Type` is missing or not `application/json`.
    UnsupportedMediaType,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A path parameter is not valid percent-encoded UTF-8.
    InvalidPath,
    /// The query string has the wrong shape.
    InvalidQuery,
    /// The pagination cursor is not one this server issued.
    InvalidCursor,
    /// A version path segment is not a positive integer.
    InvalidVersion,
    /// `X-Purpose-Of-Use` is not a known HL7 code.
    InvalidPurposeOfUse,
    /// `If-Match` is not a single strong entity tag naming a version.
    InvalidIfMatch,
    /// The server is not (yet, or any more) ready to serve.
    NotReady,
    /// The role name in the path differs from the one in the body.
    RoleNameMismatch,
    /// The subject export format is not one the server writes.
    InvalidExportFormat,
    /// A privacy item id is not a UUID.
    InvalidItemId,
    /// The privacy item kind in the query is not a known kind.
    InvalidItemKind,
    /// A rate limit (per token, per source address, or of logins per address) refused the
    /// request; `Retry-After` says when to try again.
    RateLimited,
    /// The request body did not arrive within the body read timeout.
    BodyTimeout,
}

impl ErrorCode {
    /// Every value.
    pub const ALL: [ErrorCode; 85] = [
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
        Self::PasswordTooShort,
        Self::PasswordTooLong,
        Self::PasswordCommon,
        Self::PasswordContainsUsername,
        Self::PasswordRepetitive,
        Self::MalformedJson,
        Self::InvalidUtf8,
        Self::InvalidRequestShape,
        Self::BodyUnreadable,
        Self::UnsupportedMediaType,
        Self::MethodNotAllowed,
        Self::InvalidPath,
        Self::InvalidQuery,
        Self::InvalidCursor,
        Self::InvalidVersion,
        Self::InvalidPurposeOfUse,
        Self::InvalidIfMatch,
        Self::NotReady,
        Self::RoleNameMismatch,
        Self::InvalidExportFormat,
        Self::InvalidItemId,
        Self::InvalidItemKind,
        Self::RateLimited,
        Self::BodyTimeout,
    ];

    /// The code as it appears on the wire (also the suffix of the problem `type`).
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
            Self::PasswordTooShort => "password_too_short",
            Self::PasswordTooLong => "password_too_long",
            Self::PasswordCommon => "password_common",
            Self::PasswordContainsUsername => "password_contains_username",
            Self::PasswordRepetitive => "password_repetitive",
            Self::MalformedJson => "malformed_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidRequestShape => "invalid_request_shape",
            Self::BodyUnreadable => "body_unreadable",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidPath => "invalid_path",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidVersion => "invalid_version",
            Self::InvalidPurposeOfUse => "invalid_purpose_of_use",
            Self::InvalidIfMatch => "invalid_if_match",
            Self::NotReady => "not_ready",
            Self::RoleNameMismatch => "role_name_mismatch",
            Self::InvalidExportFormat => "invalid_export_format",
            Self::InvalidItemId => "invalid_item_id",
            Self::InvalidItemKind => "invalid_item_kind",
            Self::RateLimited => "rate_limited",
            Self::BodyTimeout => "body_timeout",
        }
    }

    /// The value whose wire text is `s`, or `None` for a code this build does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn serde_text_is_as_str_and_parse_round_trips() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
            let back: ErrorCode = serde_json::from_value(serde_json::json!(c.as_str())).unwrap();
            assert_eq!(back, c);
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }
}
