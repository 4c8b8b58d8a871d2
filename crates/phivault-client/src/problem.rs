//! Typed access to the error code of a refused request, so callers match on
//! `phivault_api::ErrorCode` rather than on text.

use phivault_api::ErrorCode;

use crate::ClientError;

impl ClientError {
    /// The error code of a problem document; `None` when the server sent no problem, or a
    /// code this build does not know (a newer server may add codes).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { problem, .. } => problem.error_code(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_api::Problem;

    fn refused(code: &str) -> ClientError {
        ClientError::Api {
            status: 400,
            problem: Box::new(Problem {
                problem_type: format!("urn:phivault:problem:{code}"),
                title: "Bad Request".to_owned(),
                status: 400,
                detail: "d".to_owned(),
                code: code.to_owned(),
                request_id: "r".to_owned(),
                violations: None,
            }),
        }
    }

    #[test]
    fn a_known_code_is_typed_and_an_unknown_one_is_none() {
        assert_eq!(
            refused("subject_erased").code(),
            Some(ErrorCode::SubjectErased)
        );
        assert_eq!(
            refused("malformed_json").code(),
            Some(ErrorCode::MalformedJson)
        );
        assert_eq!(refused("code_from_a_newer_server").code(), None);
        assert_eq!(ClientError::InvalidBaseUrl.code(), None);
    }
}
