//! The rules that deny a request, as a type. The text form (`deny:<rule>[:<detail>]`) is
//! what audit events and problem documents carry, so `Display` keeps it exact; the edge
//! asks the type (e.g. [`DenyRule::is_restriction`]) instead of matching prefixes.

use std::fmt;

use crate::error::VaultError;
use crate::policy::Scope;

/// Why a request was denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyRule {
    /// No role of the principal carries the scope the action needs.
    MissingScope(Scope),
    /// The action needs a login within the step-up window.
    StepUpRequired,
    /// A data request without a purpose of use.
    PurposeRequired,
    /// Grants cover the action, but not for the stated purpose.
    PurposeNotPermitted,
    /// No grant covers the collection and action.
    NoGrant,
    /// The grants need a care relationship with the subject, and there is none.
    SubjectNotAssigned,
    /// A write touches a field the principal may not see unmasked (minimum necessary).
    FieldNotWritable,
    /// A token would carry roles its issuer does not hold.
    RoleEscalation,
    /// A role set that administers the vault and reaches PHI, without the exception.
    AdminPhiNeedsException,
    /// An agreed restriction (164.522(a)) forbids the use; carries the item id.
    Restriction(String),
}

const RESTRICTION: &str = "deny:restriction:";
const MISSING_SCOPE: &str = "deny:missing_scope:";

impl DenyRule {
    /// The rules without a detail.
    const PLAIN: [DenyRule; 8] = [
        Self::StepUpRequired,
        Self::PurposeRequired,
        Self::PurposeNotPermitted,
        Self::NoGrant,
        Self::SubjectNotAssigned,
        Self::FieldNotWritable,
        Self::RoleEscalation,
        Self::AdminPhiNeedsException,
    ];

    fn plain_str(&self) -> Option<&'static str> {
        Some(match self {
            Self::StepUpRequired => "deny:step_up_required",
            Self::PurposeRequired => "deny:purpose_required",
            Self::PurposeNotPermitted => "deny:purpose_not_permitted",
            Self::NoGrant => "deny:no_grant",
            Self::SubjectNotAssigned => "deny:subject_not_assigned",
            Self::FieldNotWritable => "deny:field_not_writable",
            Self::RoleEscalation => "deny:role_escalation",
            Self::AdminPhiNeedsException => "deny:admin_phi_needs_exception",
            Self::MissingScope(_) | Self::Restriction(_) => return None,
        })
    }

    /// Parses a rule's text form; `None` for anything that is not a deny rule of the vault.
    pub fn parse(rule: &str) -> Option<Self> {
        if let Some(id) = rule.strip_prefix(RESTRICTION) {
            return Some(Self::Restriction(id.to_owned()));
        }
        if let Some(scope) = rule.strip_prefix(MISSING_SCOPE) {
            return Scope::parse(scope).map(Self::MissingScope);
        }
        Self::PLAIN
            .into_iter()
            .find(|r| r.plain_str() == Some(rule))
    }

    /// Whether a patient's agreed restriction denied it (answered with its own problem
    /// type at the edge).
    pub fn is_restriction(&self) -> bool {
        matches!(self, Self::Restriction(_))
    }

    /// Whether only a fresh login is missing.
    pub fn is_step_up(&self) -> bool {
        *self == Self::StepUpRequired
    }
}

impl fmt::Display for DenyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScope(scope) => write!(f, "{MISSING_SCOPE}{}", scope.as_str()),
            Self::Restriction(id) => write!(f, "{RESTRICTION}{id}"),
            plain => f.write_str(plain.plain_str().unwrap_or_default()),
        }
    }
}

impl From<DenyRule> for VaultError {
    fn from(rule: DenyRule) -> Self {
        VaultError::Forbidden {
            rule: rule.to_string(),
        }
    }
}

impl VaultError {
    /// The deny rule of a `Forbidden` error, typed.
    pub fn deny_rule(&self) -> Option<DenyRule> {
        match self {
            VaultError::Forbidden { rule } => DenyRule::parse(rule),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_keep_their_text_and_round_trip() {
        let mut rules: Vec<DenyRule> = DenyRule::PLAIN.to_vec();
        rules.push(DenyRule::MissingScope(Scope::AuditRead));
        rules.push(DenyRule::Restriction("0b7e".to_owned()));
        let mut seen = std::collections::BTreeSet::new();
        for r in rules {
            let text = r.to_string();
            assert!(text.starts_with("deny:"), "{text}");
            assert!(seen.insert(text.clone()), "{text} twice");
            assert_eq!(DenyRule::parse(&text), Some(r));
        }
        assert_eq!(
            DenyRule::MissingScope(Scope::AuditRead).to_string(),
            "deny:missing_scope:audit:read"
        );
        assert_eq!(
            DenyRule::StepUpRequired.to_string(),
            "deny:step_up_required"
        );
        assert!(
            DenyRule::parse("deny:restriction:x")
                .unwrap()
                .is_restriction()
        );
        assert_eq!(DenyRule::parse("deny:nope"), None);
        assert_eq!(DenyRule::parse("role:admin:keys:manage"), None);
        let err = VaultError::from(DenyRule::Restriction("i1".to_owned()));
        assert!(err.deny_rule().is_some_and(|r| r.is_restriction()));
    }
}
