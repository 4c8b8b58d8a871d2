//! The audit event: who did what to which resource, when, why, and how it ended.
//! Events carry ids, codes and field *names* only, never a PHI value, so the log can
//! be shipped to a SIEM and read by auditors without widening PHI access.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::canonical;

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action was carried out.
    Success,
    /// Authentication or authorization refused the action.
    Denied,
    /// The request was rejected as invalid (validation, malformed input).
    Invalid,
    /// The server failed while carrying out the action.
    Error,
}

impl Outcome {
    /// The wire name, identical to the serde encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
            Self::Error => "error",
        }
    }
}

/// What kind of principal performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An API token; the actor id is the token id.
    Token,
    /// A human user; the actor id is the user id.
    User,
    /// The vault itself (migrations, retention jobs, key rotation).
    System,
    /// An unauthenticated caller.
    Anonymous,
}

impl ActorKind {
    /// The wire name, identical to the serde encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::User => "user",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }
}

/// The principal behind an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// What kind of principal this is.
    pub kind: ActorKind,
    /// The token id or user id; an identifier, never a secret.
    pub id: Option<String>,
}

impl Actor {
    /// An actor authenticated by the API token with this id.
    pub fn token(id: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Token,
            id: Some(id.into()),
        }
    }

    /// An actor that is the user with this id.
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::User,
            id: Some(id.into()),
        }
    }

    /// The vault acting on its own behalf.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }

    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Self {
            kind: ActorKind::Anonymous,
            id: None,
        }
    }
}

/// One access to or change of the vault, as recorded in the audit log.
///
/// The declared field order is part of the stored format: [`AuditEvent::canonical_bytes`]
/// writes the fields in this order and the chain hashes those bytes, so reordering,
/// renaming or adding a field is a format change that needs a new hash domain label
/// (see [`crate::HASH_DOMAIN`]). Unknown fields are rejected when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// When the action happened; encoded as RFC 3339 in UTC.
    #[serde(
        serialize_with = "canonical::serialize_time",
        deserialize_with = "time::serde::rfc3339::deserialize"
    )]
    pub time: OffsetDateTime,
    /// The request id that ties this event to server logs.
    pub request_id: String,
    /// Who acted.
    pub actor: Actor,
    /// How the actor authenticated, e.g. `"api_token"`, `"none"`, `"local_cli"`.
    pub auth_method: String,
    /// The client address, when there is one.
    pub source: Option<String>,
    /// What was done, e.g. `"record.read"`, `"token.create"`, `"auth.authenticate"`.
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// A stable error code such as `"validation_failed"`; never a submitted value.
    pub reason: Option<String>,
    /// The HL7 PurposeOfUse code the caller declared, e.g. `"TREAT"`.
    pub purpose: Option<String>,
    /// The collection acted on.
    pub collection: Option<String>,
    /// The record acted on.
    pub record_id: Option<String>,
    /// The record version read or written.
    pub version: Option<u64>,
    /// The opaque subject id the record belongs to.
    pub subject: Option<String>,
    /// Names of the fields touched; never their values.
    pub fields: Vec<String>,
    /// A count such as the number of search results.
    pub count: Option<u64>,
    /// A resource acted on that is not a record, by id: a token id, a key version.
    pub target: Option<String>,
}

impl AuditEvent {
    /// An event with the required parts set and every optional part empty.
    pub fn new(
        time: OffsetDateTime,
        request_id: impl Into<String>,
        actor: Actor,
        auth_method: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            time,
            request_id: request_id.into(),
            actor,
            auth_method: auth_method.into(),
            source: None,
            action: action.into(),
            outcome,
            reason: None,
            purpose: None,
            collection: None,
            record_id: None,
            version: None,
            subject: None,
            fields: Vec::new(),
            count: None,
            target: None,
        }
    }

    /// The deterministic encoding that is stored and hashed.
    ///
    /// Compact JSON with fields in declared order, `null` for absent options, and the
    /// time in UTC. It is byte-for-byte what `serde_json::to_vec` gives for this type
    /// (a test holds the two together), but written by hand so it cannot fail. Times
    /// outside what RFC 3339 can express (before year 0 or after 9999 UTC) are clamped
    /// to its range rather than refused, because no real clock produces them.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical::encode_event(self).into_bytes()
    }
}
