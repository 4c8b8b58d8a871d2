//! What a privacy item is and which state it is in, with their stored names.

use serde::{Deserialize, Serialize};

/// What a privacy item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A request for access to the designated record set (164.524).
    AccessRequest,
    /// A request to amend a record (164.526).
    Amendment,
    /// A disclosure recorded by hand, e.g. a report to public health (164.528).
    Disclosure,
    /// An agreed restriction on uses and disclosures (164.522(a)).
    Restriction,
    /// A request for confidential communications (164.522(b)).
    ConfidentialCommunication,
    /// A legal hold: no disposal or erasure while it stands.
    LegalHold,
}

impl ItemKind {
    /// Every kind.
    pub const ALL: [ItemKind; 6] = [
        Self::AccessRequest,
        Self::Amendment,
        Self::Disclosure,
        Self::Restriction,
        Self::ConfidentialCommunication,
        Self::LegalHold,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessRequest => "access_request",
            Self::Amendment => "amendment",
            Self::Disclosure => "disclosure",
            Self::Restriction => "restriction",
            Self::ConfidentialCommunication => "confidential_communication",
            Self::LegalHold => "legal_hold",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The state of a privacy item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    /// A request awaiting an answer.
    Open,
    /// An access request answered.
    Completed,
    /// An amendment made.
    Accepted,
    /// An amendment refused.
    Denied,
    /// A restriction, confidential-communication request or hold in force.
    Active,
    /// A restriction, confidential-communication request or hold lifted.
    Ended,
    /// A recorded disclosure.
    Recorded,
}

impl ItemStatus {
    /// Every state.
    pub const ALL: [ItemStatus; 7] = [
        Self::Open,
        Self::Completed,
        Self::Accepted,
        Self::Denied,
        Self::Active,
        Self::Ended,
        Self::Recorded,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
            Self::Accepted => "accepted",
            Self::Denied => "denied",
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Recorded => "recorded",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Item states as stored text (kept for callers that compare strings; prefer
/// [`ItemStatus`]).
pub mod status {
    use super::ItemStatus;

    /// [`ItemStatus::Open`].
    pub const OPEN: &str = ItemStatus::Open.as_str();
    /// [`ItemStatus::Completed`].
    pub const COMPLETED: &str = ItemStatus::Completed.as_str();
    /// [`ItemStatus::Accepted`].
    pub const ACCEPTED: &str = ItemStatus::Accepted.as_str();
    /// [`ItemStatus::Denied`].
    pub const DENIED: &str = ItemStatus::Denied.as_str();
    /// [`ItemStatus::Active`].
    pub const ACTIVE: &str = ItemStatus::Active.as_str();
    /// [`ItemStatus::Ended`].
    pub const ENDED: &str = ItemStatus::Ended.as_str();
    /// [`ItemStatus::Recorded`].
    pub const RECORDED: &str = ItemStatus::Recorded.as_str();
}
