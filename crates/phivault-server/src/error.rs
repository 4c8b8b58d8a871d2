//! The one table that maps every error code to an HTTP status, a title and a problem
//! type URI, and the one `IntoResponse` that turns an error into an RFC 9457 problem
//! document. Details are fixed text chosen here, never the text of the underlying error,
//! so no submitted value and no internal detail can reach a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use phivault_api::{ErrorCode, PROBLEM_MEDIA_TYPE, Problem, ProblemViolation};

use crate::convert::error::wire_code;
use phivault_core::{DenyRule, VaultError};

/// Failures of TLS set-up and of the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The certificate chain PEM held no certificate or could not be parsed.
    #[error("invalid certificate chain PEM")]
    InvalidCertificate,
    /// The private key PEM held no key or could not be parsed.
    #[error("invalid private key PEM")]
    InvalidKey,
    /// The client-certificate CA bundle held no certificate or could not be used.
    #[error("invalid client CA bundle PEM")]
    InvalidClientCa,
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
    /// The listener failed.
    #[error("listener failure: {0}")]
    Io(#[from] std::io::Error),
}

/// A refusal the edge itself produces, carried as `VaultError::BadRequest` so that
/// `Vault::record_rejected` can audit it like any other refusal.
pub(crate) fn bad_request(code: ErrorCode) -> VaultError {
    VaultError::BadRequest(code.as_str())
}

/// The single fixed detail of every 401, whatever the reason (the audit log keeps it).
const UNAUTHENTICATED_DETAIL: &str = "A valid bearer token is required.";
/// The single fixed detail of every failed login, whatever the reason (unknown user, wrong
/// password or code, disabled or locked account); the audit log keeps the reason.
const LOGIN_FAILED_DETAIL: &str = "The username, password or second factor is not valid.";

/// One row of the error table.
struct Row {
    status: StatusCode,
    title: &'static str,
    detail: &'static str,
}

const fn row(status: StatusCode, title: &'static str, detail: &'static str) -> Row {
    Row {
        status,
        title,
        detail,
    }
}

/// Refusals of well-formed requests by a rule the OpenAPI schemas cannot state: it depends
/// on the vault's state (roles, collection schemas, the audit log's size), its clock or
/// its configuration, or on two values together. They answer 422, so that 400 always
/// means "not what the document describes" (the conformance tests rely on that).
fn is_business_rule(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::UnknownRole
            | ErrorCode::UnknownField
            | ErrorCode::FieldNotSearchable
            | ErrorCode::SumFieldNotNumeric
            | ErrorCode::InvalidAmendmentFields
            | ErrorCode::ReceivedInFuture
            | ErrorCode::InvalidDisclosureTime
            | ErrorCode::PurposeNotAccountable
            | ErrorCode::ProofOutOfRange
            | ErrorCode::RoleNameMismatch
            | ErrorCode::RoleIsBuiltin
            | ErrorCode::NotASession
            | ErrorCode::NotAHumanUser
            | ErrorCode::TokenTtlOutOfRange
            | ErrorCode::BreakglassDurationOutOfRange
            | ErrorCode::PasswordTooShort
            | ErrorCode::PasswordTooLong
            | ErrorCode::PasswordCommon
            | ErrorCode::PasswordContainsUsername
            | ErrorCode::PasswordRepetitive
    )
}

/// The error table: status, title and fixed detail for every error the API reports.
fn classify(err: &VaultError) -> Row {
    match err {
        VaultError::Unauthenticated => row(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            UNAUTHENTICATED_DETAIL,
        ),
        VaultError::Forbidden { .. } if err.deny_rule() == Some(DenyRule::StepUpRequired) => row(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "This operation needs a recent login with a second factor; log in again.",
        ),
        VaultError::Forbidden { .. } if err.deny_rule().is_some_and(|r| r.is_restriction()) => row(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The individual has restricted this use or disclosure of their records.",
        ),
        VaultError::Forbidden { .. } => row(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The credential does not permit this operation.",
        ),
        // A concealed record answers exactly as a missing one (same status, title, detail
        // and code), so the answer never confirms that it exists.
        VaultError::NotFound(_) | VaultError::Concealed { .. } => row(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The requested resource does not exist.",
        ),
        VaultError::Gone => row(StatusCode::GONE, "Gone", "The record has been deleted."),
        VaultError::Erased => row(
            StatusCode::GONE,
            "Subject Erased",
            "The subject was erased: its data key was destroyed and its records can never \
             be read again.",
        ),
        VaultError::Conflict(_) => row(
            StatusCode::CONFLICT,
            "Conflict",
            "The request conflicts with the current state of the resource.",
        ),
        VaultError::PreconditionRequired => row(
            StatusCode::PRECONDITION_REQUIRED,
            "Precondition Required",
            "This request must carry If-Match with the record's current ETag.",
        ),
        VaultError::PreconditionFailed => row(
            StatusCode::PRECONDITION_FAILED,
            "Precondition Failed",
            "The record has changed since the version named in If-Match.",
        ),
        VaultError::PayloadTooLarge => row(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Content Too Large",
            "The request body exceeds the configured limit.",
        ),
        VaultError::Invalid(_) => row(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            "The record does not match the collection schema; see violations.",
        ),
        VaultError::InvalidSchema(_) => row(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            "The collection schema is not acceptable; see code.",
        ),
        VaultError::Metadata(_) => row(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            "A name or label looks like an identifier; see code.",
        ),
        VaultError::BadRequest(code) => match ErrorCode::parse(code) {
            Some(ErrorCode::UnsupportedMediaType) => row(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "The request body must be sent as application/json.",
            ),
            Some(ErrorCode::MethodNotAllowed) => row(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "The resource does not support this method; see Allow.",
            ),
            Some(ErrorCode::MalformedJson) => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "The request body is not valid JSON.",
            ),
            Some(ErrorCode::InvalidUtf8) => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "The request body is not valid UTF-8.",
            ),
            Some(ErrorCode::InvalidRequestShape) => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "The request body does not have the shape this endpoint expects.",
            ),
            Some(ErrorCode::PurposeRequired) => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "Record operations must state an HL7 purpose of use in X-Purpose-Of-Use.",
            ),
            Some(ErrorCode::InvalidPurposeOfUse) => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "X-Purpose-Of-Use is not a known HL7 PurposeOfUse code.",
            ),
            Some(ErrorCode::RateLimited) => row(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "A rate limit refused the request; retry after the time in Retry-After.",
            ),
            Some(ErrorCode::BodyTimeout) => row(
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                "The request body did not arrive in time.",
            ),
            Some(code) if is_business_rule(code) => row(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Content",
                "The request is well formed but a rule of the vault refuses it; see code.",
            ),
            _ => row(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "The request is malformed; see code.",
            ),
        },
        VaultError::Integrity => row(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "Stored data failed its integrity check; the request was not served.",
        ),
        VaultError::AuditUnavailable | VaultError::Store(_) => row(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "The vault cannot serve requests right now; retry later.",
        ),
        VaultError::Internal(_) => row(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "The request could not be served.",
        ),
    }
}

/// The problem `type` URI of a code.
fn problem_type(code: ErrorCode) -> String {
    format!("urn:phivault:problem:{code}")
}

/// An error on its way to the client: the domain error, the request it belongs to, and
/// optionally a more precise fixed detail (at most a line and column of a JSON error).
#[derive(Debug)]
pub(crate) struct ApiError {
    err: VaultError,
    request_id: String,
    detail: Option<String>,
    login: bool,
}

impl ApiError {
    /// Wraps a domain error for the request `request_id`.
    pub(crate) fn new(err: VaultError, request_id: &str) -> Self {
        Self {
            err,
            request_id: request_id.to_owned(),
            detail: None,
            login: false,
        }
    }

    /// Marks the error as the answer to a login, whose 401 carries its own fixed detail.
    pub(crate) fn for_login(mut self) -> Self {
        self.login = true;
        self
    }

    /// Replaces the table's detail; callers pass fixed text and numbers only.
    pub(crate) fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Builds a problem response from its parts (also used by `/readyz`, which has no
/// domain error to report).
pub(crate) fn problem_response(
    status: StatusCode,
    title: &str,
    detail: String,
    code: ErrorCode,
    request_id: &str,
    violations: Option<Vec<ProblemViolation>>,
) -> Response {
    let problem = Problem {
        problem_type: problem_type(code),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        code: code.as_str().to_owned(),
        request_id: request_id.to_owned(),
        violations,
    };
    // Serialising a struct of strings cannot fail; fall back to an empty object anyway
    // rather than panicking in the error path.
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_MEDIA_TYPE),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"phivault\""),
        );
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let row = classify(&self.err);
        let code = wire_code(&self.err);
        // Server-side failures are logged by code only; the error's Display may name a
        // store path or driver message, which has no place in a response.
        if row.status.is_server_error() {
            tracing::warn!(code = code.as_str(), request_id = %self.request_id, "request failed");
        }
        let violations = match &self.err {
            VaultError::Invalid(v) => Some(
                v.violations
                    .iter()
                    .map(|v| ProblemViolation {
                        pointer: v.pointer.clone(),
                        code: v.code.to_owned(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let detail = match self.detail {
            _ if self.login && row.status == StatusCode::UNAUTHORIZED => {
                LOGIN_FAILED_DETAIL.to_owned()
            }
            Some(d) if !row.status.is_server_error() && row.status != StatusCode::UNAUTHORIZED => d,
            _ => row.detail.to_owned(),
        };
        // Names the item kind and the identifier shape only, never the refused value.
        let detail = match &self.err {
            VaultError::Metadata(m) => m.to_string(),
            _ => detail,
        };
        problem_response(
            row.status,
            row.title,
            detail,
            code,
            &self.request_id,
            violations,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_core::{StoreError, ValidationError, Violation};

    #[test]
    fn table_covers_every_class() {
        let cases: Vec<(VaultError, u16)> = vec![
            (VaultError::Unauthenticated, 401),
            (
                VaultError::Forbidden {
                    rule: "deny:x".into(),
                },
                403,
            ),
            (VaultError::NotFound("record"), 404),
            (
                VaultError::Concealed {
                    rule: "deny:x".into(),
                },
                404,
            ),
            (VaultError::Gone, 410),
            (VaultError::Erased, 410),
            (VaultError::Conflict("collection_exists"), 409),
            (VaultError::PreconditionRequired, 428),
            (VaultError::PreconditionFailed, 412),
            (VaultError::BadRequest("invalid_record_id"), 400),
            (
                VaultError::BadRequest(ErrorCode::UnsupportedMediaType.as_str()),
                415,
            ),
            (
                VaultError::BadRequest(ErrorCode::MethodNotAllowed.as_str()),
                405,
            ),
            (VaultError::PayloadTooLarge, 413),
            (
                VaultError::Invalid(ValidationError {
                    violations: vec![Violation {
                        pointer: "/a".into(),
                        code: "wrong_type",
                    }],
                }),
                422,
            ),
            (VaultError::InvalidSchema("schema_has_no_fields"), 422),
            (
                VaultError::Metadata(phivault_core::metadata::MetadataError {
                    kind: phivault_core::metadata::MetadataKind::FieldName,
                    found: phivault_core::metadata::IdentifierLike::Ssn,
                }),
                422,
            ),
            (VaultError::Integrity, 500),
            (VaultError::AuditUnavailable, 503),
            (
                VaultError::Store(StoreError::Unavailable("/secret/path/db".into())),
                503,
            ),
            (VaultError::Internal("x"), 500),
            (
                VaultError::BadRequest(ErrorCode::PurposeRequired.as_str()),
                400,
            ),
            (VaultError::BadRequest(ErrorCode::RateLimited.as_str()), 429),
            (VaultError::BadRequest(ErrorCode::BodyTimeout.as_str()), 408),
            (
                VaultError::Forbidden {
                    rule: DenyRule::StepUpRequired.to_string(),
                },
                403,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(classify(&err).status.as_u16(), status, "{err:?}");
        }
    }
}
