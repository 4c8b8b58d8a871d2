//! Who is asking and what they may do. Every operation asks [`decide`] for a [`Decision`]:
//! allow or deny, the rule that decided (recorded in the audit event), and a [`Projection`]
//! of the fields the principal may see, which every read path applies (minimum necessary,
//! 45 CFR 164.502(b)). The foundation grants by token scope; roles refine this later.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use phivault_audit::{Actor, ActorKind};

/// A permission carried by a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Create and inspect collections (schemas; no PHI).
    #[serde(rename = "collections:manage")]
    CollectionsManage,
    /// Read, search and list records and their history.
    #[serde(rename = "records:read")]
    RecordsRead,
    /// Create, update and delete records.
    #[serde(rename = "records:write")]
    RecordsWrite,
    /// Create, list and revoke API tokens.
    #[serde(rename = "tokens:manage")]
    TokensManage,
    /// Verify and read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    /// Every scope, as granted to the bootstrap token.
    pub const ALL: [Scope; 5] = [
        Scope::CollectionsManage,
        Scope::RecordsRead,
        Scope::RecordsWrite,
        Scope::TokensManage,
        Scope::AuditRead,
    ];

    /// The wire name, e.g. `records:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CollectionsManage => "collections:manage",
            Scope::RecordsRead => "records:read",
            Scope::RecordsWrite => "records:write",
            Scope::TokensManage => "tokens:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// HL7 v3 PurposeOfUse codes a request may state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Parses an HL7 code such as `TREAT` (case-sensitive, as HL7 writes them).
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
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

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who, as recorded in the audit log.
    pub actor: Actor,
    /// How they authenticated (`api_token`, `local_cli`).
    pub auth_method: &'static str,
    /// What their credential allows.
    pub scopes: BTreeSet<Scope>,
    /// The purpose of use stated with the request, if any.
    pub purpose: Option<PurposeOfUse>,
}

impl Principal {
    /// The operator at the local command line, who holds the data directory and passphrase.
    pub fn local_operator() -> Self {
        Self {
            actor: Actor {
                kind: ActorKind::System,
                id: Some("local-cli".to_owned()),
            },
            auth_method: "local_cli",
            scopes: Scope::ALL.into_iter().collect(),
            purpose: None,
        }
    }
}

/// What a principal is attempting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or inspect collections.
    ManageCollections,
    /// Read records, versions, history, search results, subject listings.
    ReadRecords,
    /// Create, update, delete records.
    WriteRecords,
    /// Manage API tokens.
    ManageTokens,
    /// Read or verify the audit log.
    ReadAudit,
}

impl Action {
    fn required_scope(self) -> Scope {
        match self {
            Action::ManageCollections => Scope::CollectionsManage,
            Action::ReadRecords => Scope::RecordsRead,
            Action::WriteRecords => Scope::RecordsWrite,
            Action::ManageTokens => Scope::TokensManage,
            Action::ReadAudit => Scope::AuditRead,
        }
    }
}

/// Which fields of a record may leave the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// Every field.
    All,
    /// Only these fields.
    Fields(BTreeSet<String>),
}

impl Projection {
    /// Keeps only the allowed fields of `data`.
    pub fn apply(&self, data: &mut serde_json::Map<String, serde_json::Value>) {
        if let Projection::Fields(allowed) = self {
            data.retain(|k, _| allowed.contains(k));
        }
    }
}

/// The policy engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action may proceed.
    pub allowed: bool,
    /// The rule that decided, e.g. `scope:records:read` or `deny:missing_scope:records:read`.
    pub rule: String,
    /// The fields the principal may see.
    pub projection: Projection,
}

/// Decides whether `principal` may perform `action`; deny by default.
pub fn decide(principal: &Principal, action: Action) -> Decision {
    let scope = action.required_scope();
    if principal.scopes.contains(&scope) {
        Decision {
            allowed: true,
            rule: format!("scope:{}", scope.as_str()),
            projection: Projection::All,
        }
    } else {
        Decision {
            allowed: false,
            rule: format!("deny:missing_scope:{}", scope.as_str()),
            projection: Projection::Fields(BTreeSet::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_by_default() {
        let mut p = Principal::local_operator();
        p.scopes.clear();
        let d = decide(&p, Action::ReadRecords);
        assert!(!d.allowed);
        assert_eq!(d.rule, "deny:missing_scope:records:read");
        p.scopes.insert(Scope::RecordsRead);
        assert!(decide(&p, Action::ReadRecords).allowed);
        assert!(!decide(&p, Action::WriteRecords).allowed);
    }

    #[test]
    fn purpose_codes_round_trip() {
        assert_eq!(PurposeOfUse::parse("TREAT"), Some(PurposeOfUse::Treat));
        assert_eq!(PurposeOfUse::parse("treat"), None);
        for p in [PurposeOfUse::Hresch, PurposeOfUse::Etreat] {
            assert_eq!(PurposeOfUse::parse(p.as_str()), Some(p));
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn projection_filters_fields() {
        let mut m = serde_json::Map::new();
        m.insert("a".into(), 1.into());
        m.insert("b".into(), 2.into());
        Projection::Fields(["a".to_owned()].into()).apply(&mut m);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
    }
}
