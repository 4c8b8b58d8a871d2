//! Roles on the wire: administrative permissions ([`Scope`]) and data [`Grant`]s. The
//! shapes mirror the domain's role definition exactly, so a role read from
//! `GET /v1/roles` can be sent back to `PUT /v1/roles/{name}` unchanged.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An administrative permission carried by a role (no access to records).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Declare collections (schemas; no PHI).
    #[serde(rename = "collections:manage")]
    CollectionsManage,
    /// Create, list, rotate and revoke API tokens and service accounts.
    #[serde(rename = "tokens:manage")]
    TokensManage,
    /// Read and verify the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Manage human users, sessions and care relationships.
    #[serde(rename = "users:manage")]
    UsersManage,
    /// Define custom roles.
    #[serde(rename = "roles:manage")]
    RolesManage,
    /// Rotate encryption keys.
    #[serde(rename = "keys:manage")]
    KeysManage,
    /// Open break-glass emergency access to one subject.
    #[serde(rename = "breakglass")]
    BreakGlass,
    /// Review and close break-glass episodes.
    #[serde(rename = "breakglass:review")]
    BreakGlassReview,
    /// Export de-identified records and small-cell-suppressed aggregates (45 CFR 164.514(b)).
    #[serde(rename = "research:read")]
    ResearchRead,
    /// Answer individuals' Privacy Rule rights, retention and erasure.
    #[serde(rename = "privacy:manage")]
    PrivacyManage,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 10] = [
        Scope::CollectionsManage,
        Scope::TokensManage,
        Scope::AuditRead,
        Scope::UsersManage,
        Scope::RolesManage,
        Scope::KeysManage,
        Scope::BreakGlass,
        Scope::BreakGlassReview,
        Scope::ResearchRead,
        Scope::PrivacyManage,
    ];

    /// The wire name, e.g. `audit:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CollectionsManage => "collections:manage",
            Scope::TokensManage => "tokens:manage",
            Scope::AuditRead => "audit:read",
            Scope::UsersManage => "users:manage",
            Scope::RolesManage => "roles:manage",
            Scope::KeysManage => "keys:manage",
            Scope::BreakGlass => "breakglass",
            Scope::BreakGlassReview => "breakglass:review",
            Scope::ResearchRead => "research:read",
            Scope::PrivacyManage => "privacy:manage",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// HL7 v3 PurposeOfUse codes, as sent in `X-Purpose-Of-Use` and listed in grants.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum PurposeOfUse {
    /// Treatment.
    Treat,
    /// Emergency treatment (break-glass).
    Etreat,
    /// Payment.
    Hpaymt,
    /// Health care operations.
    Hoperat,
    /// Public health.
    Pubhlth,
    /// Research.
    Hresch,
    /// Disclosure requested by the patient.
    Patrqt,
    /// Legal (required by law).
    Hlegal,
    /// System administration.
    Sysadmin,
}

/// What a data grant allows on records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DataAction {
    /// Read the current version of a record, or list a subject's records.
    Read,
    /// Create records.
    Create,
    /// Update records.
    Update,
    /// Delete records.
    Delete,
    /// Search by a blind index.
    Search,
    /// Read old versions and history.
    History,
    /// Bulk export.
    Export,
}

/// How a masked field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// Only the last four characters, the rest replaced by `*`.
    Last4,
    /// The value replaced by `"[REDACTED]"`.
    Redact,
}

/// Which subjects a grant reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectScope {
    /// Every subject.
    All,
    /// Only subjects linked to the principal by a care relationship in force.
    Assigned,
}

fn star() -> Vec<String> {
    vec!["*".to_owned()]
}

/// One data grant of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Collection names, or `*` for all.
    pub collections: Vec<String>,
    /// Allowed actions.
    pub actions: BTreeSet<DataAction>,
    /// Visible fields, or `*` for all (the default).
    #[serde(default = "star")]
    pub fields: Vec<String>,
    /// Fields shown only masked.
    #[serde(default)]
    pub masked: BTreeMap<String, Mask>,
    /// Which subjects.
    pub subjects: SubjectScope,
    /// Purposes of use under which the grant applies.
    pub purposes: BTreeSet<PurposeOfUse>,
}

/// A role: administrative scopes plus data grants (the body of `PUT /v1/roles/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The role's name: `[a-z][a-z0-9_-]{0,62}`; built-in names are reserved.
    #[schema(pattern = "^[a-z][a-z0-9_-]{0,62}$")]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Administrative permissions.
    #[serde(default)]
    pub scopes: BTreeSet<Scope>,
    /// Data grants.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

/// Every role: built-in ones first, then custom ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleList {
    /// The roles.
    pub items: Vec<Role>,
    /// Always absent: every role fits in one page.
    pub next_cursor: Option<String>,
}
