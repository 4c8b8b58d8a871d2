//! Who is asking and what they may do. A principal holds roles; a role is a set of
//! administrative permissions ([`Scope`]) and data [`Grant`]s. Every data operation gets a
//! [`Decision`]: allow or deny, the rule that decided (recorded in the audit event), and a
//! [`Projection`] of the fields that may leave the server, which every read path applies
//! (minimum necessary, 45 CFR 164.502(b) and 164.514(d)). Deny by default.
//!
//! This file owns the vocabulary (scopes, purposes, data actions, masks, grants, roles and
//! the built-in roles); the `decision` module owns principals, decisions and projections.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod decision;

pub use decision::{Action, Candidates, Decision, Principal, Projection, data_candidates, decide};

/// An administrative permission carried by a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Answer individuals' Privacy Rule rights (45 CFR 164.522-164.528): access requests
    /// and exports, amendments, accounting of disclosures, restrictions, legal holds,
    /// retention and erasure. Reaches PHI through the right-of-access export.
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

    /// Whether the scope administers the vault itself (users, roles, keys, tokens). Holding
    /// one together with PHI grants needs an explicit, flagged exception.
    pub fn is_administrative(self) -> bool {
        matches!(
            self,
            Scope::UsersManage | Scope::RolesManage | Scope::KeysManage | Scope::TokensManage
        )
    }
}

/// HL7 v3 PurposeOfUse codes a request states in `X-Purpose-Of-Use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

impl PurposeOfUse {
    /// Every code.
    pub const ALL: [PurposeOfUse; 9] = [
        Self::Treat,
        Self::Etreat,
        Self::Hpaymt,
        Self::Hoperat,
        Self::Pubhlth,
        Self::Hresch,
        Self::Patrqt,
        Self::Hlegal,
        Self::Sysadmin,
    ];

    /// Parses an HL7 code such as `TREAT` (case-sensitive, as HL7 writes them).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The HL7 code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Treat => "TREAT",
            Self::Etreat => "ETREAT",
            Self::Hpaymt => "HPAYMT",
            Self::Hoperat => "HOPERAT",
            Self::Pubhlth => "PUBHLTH",
            Self::Hresch => "HRESCH",
            Self::Patrqt => "PATRQT",
            Self::Hlegal => "HLEGAL",
            Self::Sysadmin => "SYSADMIN",
        }
    }
}

/// What a data grant allows on records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

impl DataAction {
    /// Every action.
    pub const ALL: [DataAction; 7] = [
        Self::Read,
        Self::Create,
        Self::Update,
        Self::Delete,
        Self::Search,
        Self::History,
        Self::Export,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Search => "search",
            Self::History => "history",
            Self::Export => "export",
        }
    }

    /// Whether the action writes.
    pub fn writes(self) -> bool {
        matches!(self, Self::Create | Self::Update | Self::Delete)
    }
}

/// How a masked field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// Only the last four characters, the rest replaced by `*` (e.g. SSNs for billing).
    Last4,
    /// The value replaced by `"[REDACTED]"`.
    Redact,
}

impl Mask {
    /// Applies the mask to a value.
    pub fn apply(self, v: &serde_json::Value) -> serde_json::Value {
        match self {
            Mask::Redact => serde_json::Value::String("[REDACTED]".to_owned()),
            Mask::Last4 => {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let chars: Vec<char> = text.chars().collect();
                let keep = chars.len().saturating_sub(4);
                let masked: String = chars
                    .iter()
                    .enumerate()
                    .map(|(i, c)| if i < keep { '*' } else { *c })
                    .collect();
                serde_json::Value::String(masked)
            }
        }
    }
}

/// Which subjects a grant reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Collection names, or `*` for all.
    pub collections: Vec<String>,
    /// Allowed actions.
    pub actions: BTreeSet<DataAction>,
    /// Visible fields, or `*` for all.
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

impl Grant {
    pub(super) fn covers_collection(&self, name: &str) -> bool {
        self.collections.iter().any(|c| c == "*" || c == name)
    }

    pub(super) fn visible(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == "*" || f == field)
    }
}

/// A role: administrative scopes plus data grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The role's name: `[a-z][a-z0-9_-]{0,62}`.
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

impl Role {
    /// Whether the role administers the vault.
    pub fn is_administrative(&self) -> bool {
        self.scopes.iter().any(|s| s.is_administrative())
    }

    /// Whether the role reaches PHI: through record grants, or through the
    /// right-of-access export of `privacy:manage`.
    pub fn reaches_phi(&self) -> bool {
        !self.grants.is_empty() || self.scopes.contains(&Scope::PrivacyManage)
    }
}

/// The names of the built-in roles.
pub const BUILTIN_ROLES: [&str; 7] = [
    "admin",
    "auditor",
    "clinician",
    "billing",
    "researcher",
    "breakglass",
    "privacy_officer",
];

/// The built-in roles: `admin` (users, roles, collections, tokens, keys; no PHI),
/// `auditor` (audit log and break-glass review; no PHI), `clinician` (records of assigned
/// subjects for treatment), `billing` (read and search for payment and operations, SSNs
/// masked to the last four), `researcher` (de-identified data only: no record grants),
/// `breakglass` (may open emergency access), `privacy_officer` (individuals' rights,
/// retention and erasure).
pub fn builtin_role(name: &str) -> Option<Role> {
    let set = |v: &[PurposeOfUse]| v.iter().copied().collect::<BTreeSet<_>>();
    let acts = |v: &[DataAction]| v.iter().copied().collect::<BTreeSet<_>>();
    let role = |name: &str, description: &str, scopes: &[Scope], grants| Role {
        name: name.to_owned(),
        description: description.to_owned(),
        scopes: scopes.iter().copied().collect(),
        grants,
    };
    Some(match name {
        "admin" => role(
            "admin",
            "Administers users, roles, collections, tokens and keys; reads no PHI.",
            &[
                Scope::UsersManage,
                Scope::RolesManage,
                Scope::CollectionsManage,
                Scope::TokensManage,
                Scope::KeysManage,
            ],
            vec![],
        ),
        "auditor" => role(
            "auditor",
            "Reads the audit log and reviews break-glass episodes; reads no PHI.",
            &[Scope::AuditRead, Scope::BreakGlassReview],
            vec![],
        ),
        "clinician" => role(
            "clinician",
            "Treats assigned patients: reads and writes their records.",
            &[],
            vec![Grant {
                collections: star(),
                actions: acts(&[
                    DataAction::Read,
                    DataAction::Create,
                    DataAction::Update,
                    DataAction::Search,
                    DataAction::History,
                ]),
                fields: star(),
                masked: BTreeMap::new(),
                subjects: SubjectScope::Assigned,
                purposes: set(&[PurposeOfUse::Treat, PurposeOfUse::Etreat]),
            }],
        ),
        "billing" => role(
            "billing",
            "Reads records for payment and operations; SSNs masked to the last four.",
            &[],
            vec![Grant {
                collections: star(),
                actions: acts(&[DataAction::Read, DataAction::Search]),
                fields: star(),
                masked: [("ssn".to_owned(), Mask::Last4)].into_iter().collect(),
                subjects: SubjectScope::All,
                purposes: set(&[PurposeOfUse::Hpaymt, PurposeOfUse::Hoperat]),
            }],
        ),
        "researcher" => role(
            "researcher",
            "Works with de-identified data only; no access to records.",
            &[Scope::ResearchRead],
            vec![],
        ),
        "breakglass" => role(
            "breakglass",
            "May open time-limited emergency access to one subject, with a reason.",
            &[Scope::BreakGlass],
            vec![],
        ),
        "privacy_officer" => role(
            "privacy_officer",
            "Answers individuals' rights: access exports, amendments, accounting of \
             disclosures, restrictions, legal holds, retention and erasure.",
            &[Scope::PrivacyManage],
            vec![],
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_has_no_phi_and_auditor_no_admin() {
        let admin = builtin_role("admin").unwrap();
        assert!(admin.is_administrative() && !admin.reaches_phi());
        let auditor = builtin_role("auditor").unwrap();
        assert!(!auditor.is_administrative() && !auditor.reaches_phi());
        assert!(builtin_role("clinician").unwrap().reaches_phi());
        for name in BUILTIN_ROLES {
            assert_eq!(builtin_role(name).unwrap().name, name);
        }
    }

    #[test]
    fn purpose_codes_round_trip() {
        assert_eq!(PurposeOfUse::parse("TREAT"), Some(PurposeOfUse::Treat));
        assert_eq!(PurposeOfUse::parse("treat"), None);
        for p in PurposeOfUse::ALL {
            assert_eq!(PurposeOfUse::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn masks() {
        assert_eq!(
            Mask::Last4.apply(&serde_json::json!("900-12-3456")),
            serde_json::json!("*******3456")
        );
        assert_eq!(
            Mask::Last4.apply(&serde_json::json!("12")),
            serde_json::json!("12")
        );
        assert_eq!(
            Mask::Redact.apply(&serde_json::json!(5)),
            serde_json::json!("[REDACTED]")
        );
    }
}
