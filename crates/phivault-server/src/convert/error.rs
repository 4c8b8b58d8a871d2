//! The one mapping from the domain's error codes to the wire `ErrorCode`. Both are
//! defined by their text, which never changes, so the mapping is by text; the tests below
//! fail as soon as the domain (or the password policy) gains a code with no wire value.

use phivault_api::ErrorCode;
use phivault_core::VaultError;

/// The wire code of a domain code, or `None` if the wire contract lacks it.
pub(crate) fn from_core(code: phivault_core::ErrorCode) -> Option<ErrorCode> {
    ErrorCode::parse(code.as_str())
}

/// The wire code of an error. `BadRequest`, `Conflict` and `InvalidSchema` carry their
/// code as text (the domain's, the password policy's or the edge's own); one the wire
/// contract does not know is reported as `internal_error` rather than sent unlisted.
pub(crate) fn wire_code(err: &VaultError) -> ErrorCode {
    let text = err.code();
    let wire = match phivault_core::ErrorCode::parse(text) {
        Some(code) => from_core(code),
        // Codes the domain does not own: the password policy's and the edge's.
        None => ErrorCode::parse(text),
    };
    wire.unwrap_or_else(|| {
        tracing::error!(code = text, "error code missing from the wire contract");
        ErrorCode::InternalError
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_crypto::PasswordRejection;

    #[test]
    fn every_domain_code_has_the_same_wire_code() {
        for code in phivault_core::ErrorCode::ALL {
            let wire = from_core(code);
            assert_eq!(
                wire.map(ErrorCode::as_str),
                Some(code.as_str()),
                "domain code {code:?} has no wire ErrorCode"
            );
        }
    }

    #[test]
    fn every_password_rejection_has_a_wire_code() {
        for r in [
            PasswordRejection::TooShort,
            PasswordRejection::TooLong,
            PasswordRejection::Common,
            PasswordRejection::ContainsUsername,
            PasswordRejection::Repetitive,
        ] {
            let err = VaultError::BadRequest(r.code());
            assert_eq!(wire_code(&err).as_str(), r.code());
        }
    }

    #[test]
    fn an_unlisted_code_becomes_internal_error() {
        let err = VaultError::BadRequest("not_a_listed_code");
        assert_eq!(wire_code(&err), ErrorCode::InternalError);
        assert_eq!(
            wire_code(&VaultError::Gone),
            ErrorCode::RecordDeleted,
            "a domain error keeps its code"
        );
    }
}
