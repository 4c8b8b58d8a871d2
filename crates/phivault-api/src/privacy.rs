//! Individuals' rights on the wire (45 CFR 164.522-164.528): requests for access and
//! amendment with due dates, recorded disclosures and the accounting, restrictions,
//! confidential communications, legal holds, retention and erasure. All need the
//! `privacy:manage` scope; erasure also needs a recent login.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::roles::PurposeOfUse;

/// The form of a subject export (`GET /v1/subjects/{subject}/export?format=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectExportFormat {
    /// The export as JSON (`application/json`).
    #[default]
    Json,
    /// A readable document (`text/html`).
    Html,
}

/// What a privacy item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyItemKind {
    /// A request for access (164.524).
    AccessRequest,
    /// A request for amendment (164.526).
    Amendment,
    /// A disclosure recorded by hand (164.528).
    Disclosure,
    /// A restriction (164.522(a)).
    Restriction,
    /// A request for confidential communications (164.522(b)).
    ConfidentialCommunication,
    /// A legal hold.
    LegalHold,
}

/// A privacy item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PrivacyItem {
    /// The id.
    pub id: String,
    /// The kind.
    pub kind: PrivacyItemKind,
    /// The subject.
    pub subject: String,
    /// `open`, `completed`, `accepted`, `denied`, `active`, `ended` or `recorded`.
    pub status: String,
    /// When it was received or recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When an answer is due (requests).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Whether an open request is past its due date.
    pub overdue: bool,
    /// Details that are not PHI: record, fields, collections, purposes, dates.
    #[schema(value_type = Object)]
    pub meta: Map<String, Value>,
    /// The PHI details (requested changes, statements, recipient, reasons); absent once
    /// the subject is erased.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Map<String, Value>>,
}

/// A list of privacy items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PrivacyItemList {
    /// The items, oldest first.
    pub items: Vec<PrivacyItem>,
}

/// The body of `POST /v1/subjects/{subject}/access-requests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestBody {
    /// When the request was received (default now; never in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
}

/// The body of `POST /v1/subjects/{subject}/amendments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequestBody {
    /// The record's collection.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z][a-z0-9_]*$")]
    pub collection: String,
    /// The record's id.
    #[schema(format = Uuid)]
    pub record_id: String,
    /// The changes asked for: field name to new value.
    #[schema(value_type = Object)]
    pub changes: Map<String, Value>,
    /// The individual's reason (not blank).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub reason: Option<String>,
    /// When the request was received (default now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
}

/// A written reason (extensions, legal holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// The reason (not blank).
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub reason: String,
}

/// The body of `POST /v1/privacy/items/{id}/deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyAmendmentBody {
    /// The basis for the denial (164.526(d)(1)(i)); not blank.
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub reason: String,
    /// The individual's statement of disagreement, if already given.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub disagreement: Option<String>,
}

/// The body of `POST /v1/privacy/items/{id}/disagreement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisagreementBody {
    /// The individual's statement of disagreement (not blank).
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub statement: String,
    /// The covered entity's rebuttal (164.526(d)(3)).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub rebuttal: Option<String>,
}

/// The body of `POST /v1/subjects/{subject}/disclosures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBody {
    /// When the disclosure happened.
    #[serde(with = "time::serde::rfc3339")]
    pub disclosed_at: OffsetDateTime,
    /// Who received it (name and, if known, address); not blank.
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub recipient: String,
    /// The purpose (one the accounting covers, e.g. PUBHLTH or HLEGAL).
    pub purpose: PurposeOfUse,
    /// Collections released.
    #[serde(default)]
    pub collections: Vec<String>,
    /// Field names released.
    #[serde(default)]
    pub fields: Vec<String>,
    /// A brief statement of what was disclosed and why (not blank).
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub description: String,
}

/// The body of `POST /v1/subjects/{subject}/restrictions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionBody {
    /// Collections covered, or `["*"]`.
    #[schema(min_items = 1)]
    pub collections: Vec<String>,
    /// Purposes of use denied, e.g. `["HPAYMT", "HOPERAT"]` for no disclosure to a
    /// health plan (164.522(a)(1)(vi)).
    #[schema(min_items = 1)]
    pub purposes: Vec<PurposeOfUse>,
    /// The individual's reason (not blank).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub reason: Option<String>,
}

/// The body of `POST /v1/subjects/{subject}/confidential-communications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfidentialCommunicationBody {
    /// How and where the individual wants to be reached (not blank).
    #[schema(min_length = 1, max_length = 10_000, pattern = "\\S")]
    pub instructions: String,
}

/// One entry of an accounting of disclosures (164.528(b)(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisclosureEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `audit` (from the audit log) or `manual` (recorded by hand).
    pub source: String,
    /// The audit sequence number or the item id.
    pub reference: String,
    /// Who received it.
    pub recipient: String,
    /// The purpose of use.
    pub purpose: String,
    /// Collections released.
    pub collections: Vec<String>,
    /// Field names released.
    pub fields: Vec<String>,
    /// The recorded statement (manual entries).
    pub description: Option<String>,
}

/// One exclusion of 164.528(a)(1) applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountingExclusion {
    /// The purpose of use left out.
    pub purpose: String,
    /// The paragraph that excludes it.
    pub paragraph: String,
    /// Why.
    pub explanation: String,
    /// Accesses left out.
    pub events: u64,
}

/// An accounting of disclosures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accounting {
    /// The subject.
    pub subject: String,
    /// The start of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// The end of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Disclosures, oldest first.
    pub disclosures: Vec<DisclosureEntry>,
    /// Exclusions applied.
    pub exclusions: Vec<AccountingExclusion>,
}

/// The answer to an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Erasure {
    /// The subject.
    pub subject: String,
    /// Records made unreadable.
    pub records: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub erased_at: OffsetDateTime,
}

/// A collection's retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// The collection.
    pub collection: String,
    /// Days after a record's last change at which it is disposed of.
    pub days: u32,
}

/// The body of `PUT /v1/collections/{name}/retention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days after the last change, 1 to 36525 (100 years); `null` to keep for ever.
    #[schema(minimum = 1, maximum = 36_525)]
    pub days: Option<u32>,
}

/// Every retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionList {
    /// The policies, by collection.
    pub policies: Vec<RetentionPolicy>,
}

/// What a retention run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRun {
    /// Collections with a period.
    pub policies: u64,
    /// Records disposed of.
    pub disposed: u64,
    /// Expired records kept under a legal hold.
    pub held: u64,
}

/// The format label of a right-of-access export.
pub const SUBJECT_EXPORT_FORMAT: &str = "phivault-subject-export/1";

/// One version of a record in a right-of-access export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportedVersion {
    /// The version number.
    pub version: u64,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether it is a deletion marker.
    pub deleted: bool,
    /// The data (empty for a deletion marker).
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
}

/// One record in a right-of-access export, with its whole history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportedRecord {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
    /// Whether it is deleted.
    pub deleted: bool,
    /// Every version, oldest first.
    pub versions: Vec<ExportedVersion>,
}

/// Everything the vault holds about a subject (164.524(a)), as
/// `GET /v1/subjects/{subject}/export` and `phivault subject export` give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubjectExport {
    /// Always [`SUBJECT_EXPORT_FORMAT`].
    pub format: String,
    /// The subject.
    pub subject: String,
    /// When it was produced.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Records, by collection and id.
    pub records: Vec<ExportedRecord>,
    /// Privacy items other than recorded disclosures, oldest first.
    pub privacy: Vec<PrivacyItem>,
}
