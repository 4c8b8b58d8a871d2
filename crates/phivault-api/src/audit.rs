//! The auditor's answers on the wire: chain verification, signed tree heads, RFC 9162
//! inclusion and consistency proofs, and pages of audit events. Hashes, keys and
//! signatures travel as lowercase hex; events carry ids, codes and field names, never a
//! PHI value.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// The result of walking the audit hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditVerifyResponse {
    /// True when every entry links to its predecessor and hashes correctly.
    pub ok: bool,
    /// How many entries were checked.
    pub entries: u64,
    /// The hash of the last entry (hex), when the chain is intact and not empty.
    pub head_hash: Option<String>,
    /// The first broken entry, if any.
    pub first_break: Option<ChainBreak>,
}

/// The first entry at which the audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainBreak {
    /// Its sequence number.
    pub seq: u64,
    /// What is wrong with it.
    pub problem: String,
}

/// A signed tree head: Ed25519 over tree size, time and the RFC 9162 root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedTreeHead {
    /// How many entries the tree covers (entries with seq `1..=tree_size`).
    pub tree_size: u64,
    /// When the head was made, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: u64,
    /// The root hash of the first `tree_size` entries (hex).
    pub root_hash: String,
    /// The Ed25519 signature (hex).
    pub signature: String,
}

/// The answer of `GET /v1/audit/tree-head`: a signed head and the key that verifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TreeHead {
    /// The signed tree head.
    pub head: SignedTreeHead,
    /// The audit verifying key (Ed25519, hex).
    pub public_key: String,
}

/// The RFC 9162 inclusion proof of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The entry's sequence number.
    pub seq: u64,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// `SHA-256(0x00 || event_json)` (hex).
    pub leaf_hash: String,
    /// The entry's canonical event bytes, so the verifier can recompute the leaf.
    pub event_json: String,
    /// The audit path, innermost sibling first (hex).
    pub path: Vec<String>,
    /// The root the path leads to (hex).
    pub root_hash: String,
    /// The signed head of `tree_size`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}

/// The RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root of the older tree (hex).
    pub from_root: String,
    /// The root of the newer tree (hex).
    pub to_root: String,
    /// The proof nodes (hex).
    pub path: Vec<String>,
    /// The signed head of `to`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}

/// What kind of principal performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An API token; the actor id is the token id.
    Token,
    /// A human user; the actor id is the user id.
    User,
    /// The vault itself (migrations, retention, key rotation).
    System,
    /// An unauthenticated caller.
    Anonymous,
}

/// The principal behind an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditActor {
    /// What kind of principal this is.
    pub kind: ActorKind,
    /// The token id or user id; an identifier, never a secret.
    pub id: Option<String>,
}

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The action was carried out.
    Success,
    /// Authentication or authorization refused the action.
    Denied,
    /// The request was rejected as invalid.
    Invalid,
    /// The server failed while carrying out the action.
    Error,
}

/// One audit event, field for field as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// When the action happened (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The request id that ties the event to server logs.
    pub request_id: String,
    /// Who acted.
    pub actor: AuditActor,
    /// How the actor authenticated, e.g. `api_token`, `session`, `none`, `local_cli`.
    pub auth_method: String,
    /// The client address, when there is one.
    pub source: Option<String>,
    /// What was done, e.g. `record.read`.
    pub action: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// A stable error code or policy rule; never a submitted value.
    pub reason: Option<String>,
    /// The HL7 purpose of use the caller declared.
    pub purpose: Option<String>,
    /// The collection acted on.
    pub collection: Option<String>,
    /// The record acted on.
    pub record_id: Option<String>,
    /// The record version read or written.
    pub version: Option<u64>,
    /// The subject the record belongs to.
    pub subject: Option<String>,
    /// Names of the fields touched; never their values.
    pub fields: Vec<String>,
    /// A count such as the number of search results.
    pub count: Option<u64>,
    /// A resource acted on that is not a record (a token id, a key version).
    pub target: Option<String>,
}

/// One event of a query, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventItem {
    /// The sequence number in the log.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
}

/// A page of `GET /v1/audit/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventPage {
    /// Matching events, in log order.
    pub items: Vec<AuditEventItem>,
    /// The cursor of the next page (the last sequence number scanned), if the log goes on.
    pub next_cursor: Option<u64>,
}

/// Filters of `GET /v1/audit/events` and `GET /v1/audit/export`; every set filter must
/// match. Sent as query parameters of the same names; the server parses its query string
/// into this type, so a value that does not parse is refused as `invalid_query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditEventFilter {
    /// The actor id (token or user id).
    pub actor: Option<String>,
    /// The subject id.
    pub subject: Option<String>,
    /// The action (`record.read`), or a prefix ending in `.` (`record.`).
    pub action: Option<String>,
    /// `success`, `denied`, `invalid` or `error`.
    #[param(value_type = Option<AuditOutcome>)]
    pub outcome: Option<AuditOutcome>,
    /// The declared purpose of use.
    pub purpose: Option<String>,
    /// RFC 3339: events at or after this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339: events before this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
}

impl AuditOutcome {
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
