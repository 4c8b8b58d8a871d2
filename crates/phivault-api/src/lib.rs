//! The phivault wire contract: every request and response body of the HTTP API, shared by
//! the server and the client so the two cannot drift apart. Types derive serde and
//! `utoipa::ToSchema` (the OpenAPI document is generated from them); this crate has no
//! dependency on the domain crate, and the server converts between the two.
#![forbid(unsafe_code)]
// Numbers here come from requests: arithmetic that can overflow must be checked, so it
// cannot panic the server (see clippy.toml beside this crate for the time constructors).
#![deny(clippy::arithmetic_side_effects)]

mod audit;
mod error_code;
mod identity;
mod privacy;
mod problem;
mod records;
mod research;
mod roles;
mod schema;
mod tokens;

pub use audit::{
    ActorKind, AuditActor, AuditEvent, AuditEventFilter, AuditEventItem, AuditEventPage,
    AuditOutcome, AuditVerifyResponse, ChainBreak, ConsistencyProof, InclusionProof,
    SignedTreeHead, TreeHead,
};
pub use error_code::ErrorCode;
pub use identity::{
    BreakGlassEpisode, BreakGlassList, BreakGlassRequest, CareRelationship, CareRelationshipKey,
    ComplianceGap, ComplianceGapList, CreateServiceAccountRequest, CreateUserRequest, CreatedUser,
    Enrollment, LoginRequest, LoginResponse, ResetPasswordRequest, ReviewRequest, RevokedSessions,
    SetRolesRequest, User, UserList,
};
pub use privacy::{
    AccessRequestBody, Accounting, AccountingExclusion, AmendmentRequestBody,
    ConfidentialCommunicationBody, DenyAmendmentBody, DisagreementBody, DisclosureBody,
    DisclosureEntry, Erasure, ExportedRecord, ExportedVersion, PrivacyItem, PrivacyItemKind,
    PrivacyItemList, ReasonBody, RestrictionBody, RetentionBody, RetentionList, RetentionPolicy,
    RetentionRun, SUBJECT_EXPORT_FORMAT, SubjectExport, SubjectExportFormat,
};
pub use problem::{Problem, ProblemViolation};
pub use records::{
    CreateRecordRequest, DeletedRecord, Record, RecordList, RecordPatch, SearchRequest,
    UpdateRecordRequest,
};
pub use research::{
    AggregateCell, AggregateRequest, AggregateResponse, ExportFormat, K_ANONYMITY_HEADER,
    KAnonymityReport, ResearchExportRequest, Suppression,
};
pub use roles::{DataAction, Grant, Mask, PurposeOfUse, Role, RoleList, Scope, SubjectScope};
pub use schema::{Collection, CollectionList, Field, FieldType, IdentifierKind, Sensitivity};
pub use tokens::{CreateTokenRequest, CreatedToken, Token, TokenList};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every JSON request and success response.
pub const JSON_MEDIA_TYPE: &str = "application/json";
/// The media type of error responses (RFC 9457).
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";
/// The request header that states the HL7 purpose of use, e.g. `TREAT`.
pub const PURPOSE_HEADER: &str = "x-purpose-of-use";
/// The request and response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The answer of `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// Always `ok`; failures are problem documents.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitivity_wire_form_matches_core() {
        let f: Field = serde_json::from_value(json!({
            "name": "ssn", "type": "string",
            "sensitivity": {"class": "phi", "identifier": "ssn"},
            "searchable": true, "required": false
        }))
        .unwrap();
        assert_eq!(f.sensitivity, Sensitivity::Phi(IdentifierKind::Ssn));
        assert_eq!(
            serde_json::to_value(&f).unwrap()["sensitivity"],
            json!({"class": "phi", "identifier": "ssn"})
        );
        let h: Sensitivity = serde_json::from_value(json!({"class": "health"})).unwrap();
        assert_eq!(h, Sensitivity::Health);
        assert_eq!(
            serde_json::to_value(Sensitivity::None).unwrap(),
            json!({"class": "none"})
        );
        // searchable and required default to false
        let f: Field = serde_json::from_value(json!({
            "name": "note", "type": "text", "sensitivity": {"class": "health"}
        }))
        .unwrap();
        assert!(!f.searchable && !f.required);
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let r = serde_json::from_value::<CreateRecordRequest>(json!({
            "subject": "s1", "data": {}, "extra": 1
        }));
        assert!(r.is_err());
        let r = serde_json::from_value::<SearchRequest>(json!({
            "field": "a", "value": "b", "x": 1
        }));
        assert!(r.is_err());
        let r = serde_json::from_value::<CreateTokenRequest>(json!({
            "owner": "svc", "name": "t", "roles": ["clinician"], "ttl_seconds": 60, "secret": "x"
        }));
        assert!(r.is_err());
        let r = serde_json::from_value::<LoginRequest>(json!({
            "username": "a", "password": "b", "otp": "123456"
        }));
        assert!(r.is_err());
        let r = serde_json::from_value::<Role>(json!({"name": "r", "scopes": [], "x": 1}));
        assert!(r.is_err());
        let r = serde_json::from_value::<BreakGlassRequest>(json!({
            "subject": "s", "reason": "r", "duration_minutes": 5, "until": "x"
        }));
        assert!(r.is_err());
    }

    #[test]
    fn role_shape_and_defaults() {
        let r: Role = serde_json::from_value(json!({
            "name": "billing-lite",
            "scopes": ["audit:read"],
            "grants": [{
                "collections": ["*"], "actions": ["search", "read"],
                "masked": {"ssn": "last4"}, "subjects": "all", "purposes": ["HPAYMT"]
            }]
        }))
        .unwrap();
        assert_eq!(r.description, "");
        assert_eq!(r.grants[0].fields, vec!["*".to_owned()]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["grants"][0]["actions"], json!(["read", "search"]));
        assert_eq!(v["grants"][0]["masked"]["ssn"], "last4");
        assert_eq!(v["scopes"], json!(["audit:read"]));
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let login = LoginRequest {
            username: "alice".into(),
            password: "CANARYPW".into(),
            code: Some("CANARYCODE".into()),
        };
        let created: CreatedUser = serde_json::from_value(json!({
            "user": {
                "id": "u1", "username": "alice", "kind": "human", "roles": [],
                "mfa_enrolled": true, "allow_admin_phi": false, "disabled": false,
                "created_at": "2026-01-02T03:04:05Z"
            },
            "enrollment": {"otpauth_uri": "otpauth://totp/x?secret=CANARYOTP", "recovery_codes": ["CANARYREC"]}
        }))
        .unwrap();
        let session: LoginResponse = serde_json::from_value(json!({
            "session_token": "pvs_CANARYSESSION", "session_id": "s1",
            "expires_at": "2026-01-02T03:04:05Z", "idle_timeout_seconds": 900
        }))
        .unwrap();
        let reset = ResetPasswordRequest {
            password: "CANARYNEW".into(),
        };
        let user = CreateUserRequest {
            username: "bob".into(),
            password: "CANARYBOB".into(),
            roles: vec![],
            allow_admin_phi: false,
        };
        let all = format!("{login:?} {created:?} {session:?} {reset:?} {user:?}");
        assert!(!all.contains("CANARY"), "{all}");
    }

    #[test]
    fn problem_round_trips_and_omits_empty_violations() {
        let p = Problem {
            problem_type: "urn:phivault:problem:not_found".into(),
            title: "Not Found".into(),
            status: 404,
            detail: "collection not found".into(),
            code: "not_found".into(),
            request_id: "r1".into(),
            violations: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:phivault:problem:not_found");
        assert!(v.get("violations").is_none());
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn record_times_are_rfc3339() {
        let r: Record = serde_json::from_value(json!({
            "collection": "c", "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "subject": "s",
            "version": 2, "current_version": 2, "data": {"a": 1}, "deleted": false,
            "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:06.5Z"
        }))
        .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["created_at"], "2026-01-02T03:04:05Z");
        assert_eq!(v["updated_at"], "2026-01-02T03:04:06.5Z");
    }

    #[test]
    fn created_token_debug_hides_the_secret() {
        let t: CreatedToken = serde_json::from_value(json!({
            "token": {
                "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "name": "t",
                "owner": "svc-1", "roles": ["clinician", "auditor"],
                "created_at": "2026-01-02T03:04:05Z", "expires_at": "2026-01-03T03:04:05Z",
                "revoked_at": null, "last_used_at": null
            },
            "secret": "pvt_canary_secret"
        }))
        .unwrap();
        assert_eq!(
            t.token.roles,
            vec!["clinician".to_owned(), "auditor".to_owned()]
        );
        assert!(!format!("{t:?}").contains("canary"));
    }
}
