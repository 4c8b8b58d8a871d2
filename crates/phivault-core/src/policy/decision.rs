//! Decisions: the authenticated [`Principal`], the administrative [`Action`]s and the
//! scope each needs, data-access [`Candidates`] resolved per subject into a [`Decision`]
//! with its [`Projection`] (minimum necessary, 45 CFR 164.502(b) and 164.514(d)).

use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

use phivault_audit::{Actor, ActorKind};

use super::{DataAction, Grant, Mask, PurposeOfUse, Role, Scope, SubjectScope, builtin_role};
use crate::deny::DenyRule;
use crate::schema::CollectionSchema;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user or service-account id (care relationships and break-glass key on it).
    pub id: String,
    /// Who, as recorded in the audit log.
    pub actor: Actor,
    /// How they authenticated (`session`, `api_token`, `local_cli`).
    pub auth_method: &'static str,
    /// The roles in force, resolved.
    pub roles: Vec<Role>,
    /// The purpose of use stated with the request, if any.
    pub purpose: Option<PurposeOfUse>,
    /// When the person logged in (sessions only): step-up checks read it.
    pub authenticated_at: Option<OffsetDateTime>,
    /// The local operator holding the passphrase needs no step-up.
    pub step_up_exempt: bool,
}

impl Principal {
    /// The operator at the local command line, who holds the data directory and passphrase.
    pub fn local_operator() -> Self {
        Self {
            id: "local-cli".to_owned(),
            actor: Actor {
                kind: ActorKind::System,
                id: Some("local-cli".to_owned()),
            },
            auth_method: "local_cli",
            roles: builtin_role("admin").into_iter().collect(),
            purpose: None,
            authenticated_at: None,
            step_up_exempt: true,
        }
    }

    /// The union of the roles' scopes.
    pub fn scopes(&self) -> BTreeSet<Scope> {
        self.roles
            .iter()
            .flat_map(|r| r.scopes.iter().copied())
            .collect()
    }

    /// The role names.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }
}

/// An administrative action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create collections.
    ManageCollections,
    /// Manage API tokens and service accounts.
    ManageTokens,
    /// Read or verify the audit log.
    ReadAudit,
    /// Manage users, sessions and care relationships.
    ManageUsers,
    /// Manage custom roles.
    ManageRoles,
    /// Rotate keys.
    ManageKeys,
    /// Open break-glass access.
    OpenBreakGlass,
    /// Review break-glass episodes.
    ReviewBreakGlass,
    /// Export de-identified data or suppressed aggregates (bulk: needs step-up).
    Research,
    /// Track and answer individuals' requests, restrictions, holds and retention.
    ManagePrivacy,
    /// Crypto-shred a subject (irreversible: needs step-up).
    EraseSubject,
}

impl Action {
    /// The scope the action needs.
    pub fn required_scope(self) -> Scope {
        match self {
            Action::ManageCollections => Scope::CollectionsManage,
            Action::ManageTokens => Scope::TokensManage,
            Action::ReadAudit => Scope::AuditRead,
            Action::ManageUsers => Scope::UsersManage,
            Action::ManageRoles => Scope::RolesManage,
            Action::ManageKeys => Scope::KeysManage,
            Action::OpenBreakGlass => Scope::BreakGlass,
            Action::ReviewBreakGlass => Scope::BreakGlassReview,
            Action::Research => Scope::ResearchRead,
            Action::ManagePrivacy | Action::EraseSubject => Scope::PrivacyManage,
        }
    }

    /// Whether the action needs a login within the step-up window.
    pub fn needs_step_up(self) -> bool {
        matches!(
            self,
            Action::ManageUsers
                | Action::ManageRoles
                | Action::ManageKeys
                | Action::Research
                | Action::EraseSubject
        )
    }
}

/// Which fields of a record may leave the server, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Fields shown.
    pub visible: BTreeSet<String>,
    /// Of those, fields shown masked.
    pub masked: BTreeMap<String, Mask>,
}

impl Projection {
    /// Every field of the schema, unmasked.
    pub fn all(schema: &CollectionSchema) -> Self {
        Self {
            visible: schema.fields.iter().map(|f| f.name.to_string()).collect(),
            masked: BTreeMap::new(),
        }
    }

    /// Keeps only the visible fields of `data` and masks the masked ones.
    pub fn apply(&self, data: &mut serde_json::Map<String, serde_json::Value>) {
        data.retain(|k, _| self.visible.contains(k));
        for (field, mask) in &self.masked {
            if let Some(v) = data.get_mut(field) {
                *v = mask.apply(v);
            }
        }
    }

    /// Whether `field` may be written (visible and unmasked).
    pub fn writable(&self, field: &str) -> bool {
        self.visible.contains(field) && !self.masked.contains_key(field)
    }
}

/// The policy engine's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action may proceed.
    pub allowed: bool,
    /// The rule that decided, e.g. `grant:clinician#0` or `deny:no_grant`.
    pub rule: String,
    /// The fields the principal may see.
    pub projection: Projection,
}

impl Decision {
    fn deny(rule: &str) -> Self {
        Self {
            allowed: false,
            rule: rule.to_owned(),
            projection: Projection {
                visible: BTreeSet::new(),
                masked: BTreeMap::new(),
            },
        }
    }
}

/// Decides an administrative action; deny by default. Step-up is checked by the vault.
pub fn decide(principal: &Principal, action: Action) -> Decision {
    let scope = action.required_scope();
    if let Some(role) = principal.roles.iter().find(|r| r.scopes.contains(&scope)) {
        Decision {
            allowed: true,
            rule: format!("role:{}:{}", role.name, scope.as_str()),
            projection: Projection {
                visible: BTreeSet::new(),
                masked: BTreeMap::new(),
            },
        }
    } else {
        Decision::deny(&DenyRule::MissingScope(scope).to_string())
    }
}

/// The grants that may allow a data action, before the subject is known.
#[derive(Debug, Clone)]
pub struct Candidates {
    grants: Vec<(String, Grant)>,
    /// The purpose of use stated (restrictions are matched against it).
    pub purpose: PurposeOfUse,
    /// Whether a break-glass episode for the subject could allow it (ETREAT reads).
    pub break_glass_eligible: bool,
}

/// The first step of a data decision: grants that cover the collection, action and
/// purpose. `Err` carries the deny rule when nothing can allow it.
pub fn data_candidates(
    principal: &Principal,
    action: DataAction,
    collection: &str,
) -> Result<Candidates, String> {
    let Some(purpose) = principal.purpose else {
        return Err(DenyRule::PurposeRequired.to_string());
    };
    let break_glass_eligible = purpose == PurposeOfUse::Etreat
        && matches!(
            action,
            DataAction::Read | DataAction::Search | DataAction::History
        );
    let mut by_action = false;
    let mut grants = Vec::new();
    for role in &principal.roles {
        for (i, g) in role.grants.iter().enumerate() {
            if g.covers_collection(collection) && g.actions.contains(&action) {
                by_action = true;
                if g.purposes.contains(&purpose) {
                    grants.push((format!("grant:{}#{i}", role.name), g.clone()));
                }
            }
        }
    }
    if grants.is_empty() && !break_glass_eligible {
        return Err(if by_action {
            DenyRule::PurposeNotPermitted.to_string()
        } else {
            DenyRule::NoGrant.to_string()
        });
    }
    Ok(Candidates {
        grants,
        purpose,
        break_glass_eligible,
    })
}

impl Candidates {
    /// Whether any candidate needs a care relationship to apply.
    pub fn needs_assignment(&self) -> bool {
        self.grants
            .iter()
            .any(|(_, g)| g.subjects == SubjectScope::Assigned)
    }

    /// Whether some grant applies to every subject.
    pub fn reaches_all_subjects(&self) -> bool {
        self.grants
            .iter()
            .any(|(_, g)| g.subjects == SubjectScope::All)
    }

    /// The decision for one subject: `assigned` says whether a care relationship is in
    /// force, `break_glass` names an open break-glass episode for the subject. A field is
    /// visible if any applicable grant shows it, and masked only if every such grant masks it.
    pub fn resolve(
        &self,
        schema: &CollectionSchema,
        assigned: bool,
        break_glass: Option<&str>,
    ) -> Decision {
        let applicable: Vec<&(String, Grant)> = self
            .grants
            .iter()
            .filter(|(_, g)| g.subjects == SubjectScope::All || assigned)
            .collect();
        if applicable.is_empty() {
            return match break_glass {
                Some(id) if self.break_glass_eligible => Decision {
                    allowed: true,
                    rule: format!("breakglass:{id}"),
                    projection: Projection::all(schema),
                },
                _ => Decision::deny(&DenyRule::SubjectNotAssigned.to_string()),
            };
        }
        let mut visible = BTreeSet::new();
        let mut masked = BTreeMap::new();
        for field in &schema.fields {
            let name = field.name.as_str();
            let showing: Vec<&Grant> = applicable
                .iter()
                .map(|(_, g)| g)
                .filter(|g| g.visible(name))
                .collect();
            if showing.is_empty() {
                continue;
            }
            visible.insert(name.to_owned());
            if let Some(mask) = showing
                .iter()
                .map(|g| g.masked.get(name).copied())
                .collect::<Option<Vec<Mask>>>()
                .and_then(|m| m.first().copied())
            {
                masked.insert(name.to_owned(), mask);
            }
        }
        Decision {
            allowed: true,
            rule: applicable[0].0.clone(),
            projection: Projection { visible, masked },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_by_default() {
        let mut p = Principal::local_operator();
        p.roles.clear();
        let d = decide(&p, Action::ReadAudit);
        assert!(!d.allowed);
        assert_eq!(d.rule, "deny:missing_scope:audit:read");
        p.roles.push(builtin_role("auditor").unwrap());
        assert!(decide(&p, Action::ReadAudit).allowed);
        assert!(!decide(&p, Action::ManageUsers).allowed);
    }
}
