//! The RFC 9457 problem document that every error response carries. It names an error
//! code and, for schema violations, JSON pointers built from declared field names; it
//! never carries a submitted value.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ErrorCode;

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:phivault:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, fixed summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A fixed explanation; never contains submitted data.
    pub detail: String,
    /// The stable machine-readable error code, one of `ErrorCode`. Kept as text so that a
    /// client built before a new code was added still reads the problem; `Problem::error_code`
    /// gives the typed value.
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// The request id, also sent in `X-Request-Id`.
    pub request_id: String,
    /// Schema violations of a submitted record, when the code is `validation_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<ProblemViolation>>,
}

impl Problem {
    /// The typed error code, or `None` for a code this build does not know.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

/// One schema violation: where (a JSON pointer made of declared field names) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemViolation {
    /// A JSON pointer such as `/date_of_birth`; an undeclared key shows as `/(undeclared)`.
    pub pointer: String,
    /// A stable code such as `missing_required` or `wrong_type`.
    pub code: String,
}
