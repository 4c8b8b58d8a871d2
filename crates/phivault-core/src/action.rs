//! The actions the vault writes into audit events: one enum, so the name an operation
//! records is defined once and every caller (core, the HTTP edge, SIEM mappings) can name it
//! by type. `as_str` gives the stored text, which must never change for an existing
//! action: the audit log, its hash chain and OCSF mappings all carry it.

use std::fmt;

use crate::privacy::ItemKind;

/// An audit event's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AuditAction {
    /// `audit.export`
    AuditExport,
    /// `audit.proof.consistency`
    AuditProofConsistency,
    /// `audit.proof.inclusion`
    AuditProofInclusion,
    /// `audit.prune`
    AuditPrune,
    /// `audit.query`
    AuditQuery,
    /// `audit.tree_head`
    AuditTreeHead,
    /// `audit.verify`
    AuditVerify,
    /// `auth.authenticate`
    AuthAuthenticate,
    /// `auth.login`
    AuthLogin,
    /// `auth.logout`
    AuthLogout,
    /// `backup.create`
    BackupCreate,
    /// `backup.prune`
    BackupPrune,
    /// `backup.restore`
    BackupRestore,
    /// `backup.verify`
    BackupVerify,
    /// `breakglass.list`
    BreakglassList,
    /// `breakglass.open`
    BreakglassOpen,
    /// `breakglass.review`
    BreakglassReview,
    /// `care.assign`
    CareAssign,
    /// `care.unassign`
    CareUnassign,
    /// `collection.create`
    CollectionCreate,
    /// `collection.list`
    CollectionList,
    /// `collection.read`
    CollectionRead,
    /// `compliance.gaps`
    ComplianceGaps,
    /// `http.unmatched`: a request that reached no route.
    HttpUnmatched,
    /// `http.rate_limited`: requests refused by a rate limit (one event per key and window).
    HttpRateLimited,
    /// `keys.export`
    KeysExport,
    /// `keys.rewrap`
    KeysRewrap,
    /// `privacy.access_request.complete`
    PrivacyAccessRequestComplete,
    /// `privacy.access_request.open`
    PrivacyAccessRequestOpen,
    /// `privacy.accounting`
    PrivacyAccounting,
    /// `privacy.amendment.accept`
    PrivacyAmendmentAccept,
    /// `privacy.amendment.deny`
    PrivacyAmendmentDeny,
    /// `privacy.amendment.disagreement`
    PrivacyAmendmentDisagreement,
    /// `privacy.amendment.open`
    PrivacyAmendmentOpen,
    /// `privacy.confidential_communication.add`
    PrivacyConfidentialCommunicationAdd,
    /// `privacy.disclosure.add`
    PrivacyDisclosureAdd,
    /// `privacy.item.end`
    PrivacyItemEnd,
    /// `privacy.item.list`
    PrivacyItemList,
    /// `privacy.item.read`
    PrivacyItemRead,
    /// `privacy.legal_hold.add`
    PrivacyLegalHoldAdd,
    /// `privacy.request.extend`
    PrivacyRequestExtend,
    /// `privacy.restriction.add`
    PrivacyRestrictionAdd,
    /// `privacy.retention.list`
    PrivacyRetentionList,
    /// `privacy.retention.run`
    PrivacyRetentionRun,
    /// `privacy.retention.set`
    PrivacyRetentionSet,
    /// `record.create`
    RecordCreate,
    /// `record.delete`
    RecordDelete,
    /// `record.dispose`
    RecordDispose,
    /// `record.history`
    RecordHistory,
    /// `record.read`
    RecordRead,
    /// `record.read_version`
    RecordReadVersion,
    /// `record.search`
    RecordSearch,
    /// `record.update`
    RecordUpdate,
    /// `research.aggregate`
    ResearchAggregate,
    /// `research.export`
    ResearchExport,
    /// `role.list`
    RoleList,
    /// `role.put`
    RolePut,
    /// `service_account.create`
    ServiceAccountCreate,
    /// `subject.erase`
    SubjectErase,
    /// `subject.export`
    SubjectExport,
    /// `subject.list_records`
    SubjectListRecords,
    /// `token.create`
    TokenCreate,
    /// `token.list`
    TokenList,
    /// `token.revoke`
    TokenRevoke,
    /// `token.rotate`
    TokenRotate,
    /// `user.create`
    UserCreate,
    /// `user.disable`
    UserDisable,
    /// `user.enable`
    UserEnable,
    /// `user.list`
    UserList,
    /// `user.reset_password`
    UserResetPassword,
    /// `user.revoke_sessions`
    UserRevokeSessions,
    /// `user.set_roles`
    UserSetRoles,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 72] = [
        Self::AuditExport,
        Self::AuditProofConsistency,
        Self::AuditProofInclusion,
        Self::AuditPrune,
        Self::AuditQuery,
        Self::AuditTreeHead,
        Self::AuditVerify,
        Self::AuthAuthenticate,
        Self::AuthLogin,
        Self::AuthLogout,
        Self::HttpUnmatched,
        Self::HttpRateLimited,
        Self::BackupCreate,
        Self::BackupPrune,
        Self::BackupRestore,
        Self::BackupVerify,
        Self::BreakglassList,
        Self::BreakglassOpen,
        Self::BreakglassReview,
        Self::CareAssign,
        Self::CareUnassign,
        Self::CollectionCreate,
        Self::CollectionList,
        Self::CollectionRead,
        Self::ComplianceGaps,
        Self::KeysExport,
        Self::KeysRewrap,
        Self::PrivacyAccessRequestComplete,
        Self::PrivacyAccessRequestOpen,
        Self::PrivacyAccounting,
        Self::PrivacyAmendmentAccept,
        Self::PrivacyAmendmentDeny,
        Self::PrivacyAmendmentDisagreement,
        Self::PrivacyAmendmentOpen,
        Self::PrivacyConfidentialCommunicationAdd,
        Self::PrivacyDisclosureAdd,
        Self::PrivacyItemEnd,
        Self::PrivacyItemList,
        Self::PrivacyItemRead,
        Self::PrivacyLegalHoldAdd,
        Self::PrivacyRequestExtend,
        Self::PrivacyRestrictionAdd,
        Self::PrivacyRetentionList,
        Self::PrivacyRetentionRun,
        Self::PrivacyRetentionSet,
        Self::RecordCreate,
        Self::RecordDelete,
        Self::RecordDispose,
        Self::RecordHistory,
        Self::RecordRead,
        Self::RecordReadVersion,
        Self::RecordSearch,
        Self::RecordUpdate,
        Self::ResearchAggregate,
        Self::ResearchExport,
        Self::RoleList,
        Self::RolePut,
        Self::ServiceAccountCreate,
        Self::SubjectErase,
        Self::SubjectExport,
        Self::SubjectListRecords,
        Self::TokenCreate,
        Self::TokenList,
        Self::TokenRevoke,
        Self::TokenRotate,
        Self::UserCreate,
        Self::UserDisable,
        Self::UserEnable,
        Self::UserList,
        Self::UserResetPassword,
        Self::UserRevokeSessions,
        Self::UserSetRoles,
    ];

    /// The text stored in audit events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuditExport => "audit.export",
            Self::AuditProofConsistency => "audit.proof.consistency",
            Self::AuditProofInclusion => "audit.proof.inclusion",
            Self::AuditPrune => "audit.prune",
            Self::AuditQuery => "audit.query",
            Self::AuditTreeHead => "audit.tree_head",
            Self::AuditVerify => "audit.verify",
            Self::AuthAuthenticate => "auth.authenticate",
            Self::AuthLogin => "auth.login",
            Self::AuthLogout => "auth.logout",
            Self::HttpUnmatched => "http.unmatched",
            Self::HttpRateLimited => "http.rate_limited",
            Self::BackupCreate => "backup.create",
            Self::BackupPrune => "backup.prune",
            Self::BackupRestore => "backup.restore",
            Self::BackupVerify => "backup.verify",
            Self::BreakglassList => "breakglass.list",
            Self::BreakglassOpen => "breakglass.open",
            Self::BreakglassReview => "breakglass.review",
            Self::CareAssign => "care.assign",
            Self::CareUnassign => "care.unassign",
            Self::CollectionCreate => "collection.create",
            Self::CollectionList => "collection.list",
            Self::CollectionRead => "collection.read",
            Self::ComplianceGaps => "compliance.gaps",
            Self::KeysExport => "keys.export",
            Self::KeysRewrap => "keys.rewrap",
            Self::PrivacyAccessRequestComplete => "privacy.access_request.complete",
            Self::PrivacyAccessRequestOpen => "privacy.access_request.open",
            Self::PrivacyAccounting => "privacy.accounting",
            Self::PrivacyAmendmentAccept => "privacy.amendment.accept",
            Self::PrivacyAmendmentDeny => "privacy.amendment.deny",
            Self::PrivacyAmendmentDisagreement => "privacy.amendment.disagreement",
            Self::PrivacyAmendmentOpen => "privacy.amendment.open",
            Self::PrivacyConfidentialCommunicationAdd => "privacy.confidential_communication.add",
            Self::PrivacyDisclosureAdd => "privacy.disclosure.add",
            Self::PrivacyItemEnd => "privacy.item.end",
            Self::PrivacyItemList => "privacy.item.list",
            Self::PrivacyItemRead => "privacy.item.read",
            Self::PrivacyLegalHoldAdd => "privacy.legal_hold.add",
            Self::PrivacyRequestExtend => "privacy.request.extend",
            Self::PrivacyRestrictionAdd => "privacy.restriction.add",
            Self::PrivacyRetentionList => "privacy.retention.list",
            Self::PrivacyRetentionRun => "privacy.retention.run",
            Self::PrivacyRetentionSet => "privacy.retention.set",
            Self::RecordCreate => "record.create",
            Self::RecordDelete => "record.delete",
            Self::RecordDispose => "record.dispose",
            Self::RecordHistory => "record.history",
            Self::RecordRead => "record.read",
            Self::RecordReadVersion => "record.read_version",
            Self::RecordSearch => "record.search",
            Self::RecordUpdate => "record.update",
            Self::ResearchAggregate => "research.aggregate",
            Self::ResearchExport => "research.export",
            Self::RoleList => "role.list",
            Self::RolePut => "role.put",
            Self::ServiceAccountCreate => "service_account.create",
            Self::SubjectErase => "subject.erase",
            Self::SubjectExport => "subject.export",
            Self::SubjectListRecords => "subject.list_records",
            Self::TokenCreate => "token.create",
            Self::TokenList => "token.list",
            Self::TokenRevoke => "token.revoke",
            Self::TokenRotate => "token.rotate",
            Self::UserCreate => "user.create",
            Self::UserDisable => "user.disable",
            Self::UserEnable => "user.enable",
            Self::UserList => "user.list",
            Self::UserResetPassword => "user.reset_password",
            Self::UserRevokeSessions => "user.revoke_sessions",
            Self::UserSetRoles => "user.set_roles",
        }
    }

    /// The action stored as `s`, if it is one of the vault's.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Logging a request of an individual of `kind` (access or amendment).
    pub(crate) fn request_opened(kind: ItemKind) -> Self {
        match kind {
            ItemKind::Amendment => Self::PrivacyAmendmentOpen,
            _ => Self::PrivacyAccessRequestOpen,
        }
    }

    /// Recording a standing item of `kind` (restriction, confidential communication, legal
    /// hold, disclosure).
    pub(crate) fn item_added(kind: ItemKind) -> Self {
        match kind {
            ItemKind::ConfidentialCommunication => Self::PrivacyConfidentialCommunicationAdd,
            ItemKind::LegalHold => Self::PrivacyLegalHoldAdd,
            ItemKind::Disclosure => Self::PrivacyDisclosureAdd,
            _ => Self::PrivacyRestrictionAdd,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_action_round_trips_and_is_unique() {
        let mut seen = BTreeSet::new();
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a), "{a:?}");
            assert!(seen.insert(a.as_str()), "{} twice", a.as_str());
            assert_eq!(a.to_string(), a.as_str());
        }
        assert_eq!(AuditAction::parse("record.nope"), None);
    }

    #[test]
    fn formatted_names_match_the_item_kinds() {
        // These actions were built as `privacy.<kind>.open|add` before the enum.
        for kind in [ItemKind::AccessRequest, ItemKind::Amendment] {
            let want = format!("privacy.{}.open", kind.as_str());
            assert_eq!(AuditAction::request_opened(kind).as_str(), want);
        }
        for kind in [
            ItemKind::Restriction,
            ItemKind::ConfidentialCommunication,
            ItemKind::LegalHold,
            ItemKind::Disclosure,
        ] {
            let want = format!("privacy.{}.add", kind.as_str());
            assert_eq!(AuditAction::item_added(kind).as_str(), want);
        }
    }
}
