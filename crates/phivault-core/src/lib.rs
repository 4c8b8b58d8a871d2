//! The phivault domain: collections, subjects, records, tokens, policy decisions and the
//! `Vault` service that ties them to the store, the keys and the audit log.
//!
//! This crate knows neither HTTP nor SQL: the server calls [`Vault`] methods, and storage
//! backends implement [`store::Store`]. Time comes from an injected [`Clock`].
#![forbid(unsafe_code)]

pub mod action;
pub mod audit_log;
pub mod backup;
pub mod clock;
pub mod deny;
pub mod error;
pub mod error_code;
pub mod identity;
pub mod identity_store;
pub mod ids;
pub mod metadata;
pub mod phi;
pub mod policy;
pub mod privacy;
pub mod privacy_store;
pub mod records;
pub mod research;
pub mod schema;
pub mod seal;
pub mod store;
#[cfg(test)]
mod tidy;
pub mod validate;
pub mod vault;

pub use action::AuditAction;
pub use clock::{Clock, ManualClock, SystemClock};
pub use deny::DenyRule;
pub use error::{StoreError, ValidationError, VaultError, Violation};
pub use error_code::ErrorCode;
pub use identity::{
    API_TOKEN_PREFIX, Alert, AlertSink, BreakGlassInfo, ComplianceGap, Enrollment, LogAlerts,
    SESSION_TOKEN_PREFIX, SessionInfo, UserInfo,
};
pub use ids::{CollectionName, FieldName, RecordId, SubjectId, TokenId};
pub use policy::{
    Action, DataAction, Decision, Grant, Mask, Principal, Projection, PurposeOfUse, Role, Scope,
    SubjectScope,
};
pub use schema::{CollectionSchema, FieldDef, FieldType, IdentifierKind, Sensitivity};
pub use vault::{
    AuditVerifyReport, RecordView, RequestMeta, TokenInfo, Vault, VaultConfig, VersionInfo,
};

/// The audit crate, re-exported so that storage backends share its entry type.
pub use phivault_audit as audit;
/// The crypto crate, re-exported for backends and tools that handle wrapped keys.
pub use phivault_crypto as crypto;
