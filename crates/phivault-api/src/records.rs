//! Records on the wire: the create, update and search bodies, a record version as
//! returned (already projected to the fields the caller may see), and record lists.
//! Search is a POST body so that searched values never appear in URLs or access logs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of `POST /v1/collections/{name}/records`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecordRequest {
    /// The opaque id of the individual the record is about: 1–128 of `[A-Za-z0-9._:-]`,
    /// starting with a letter or digit.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    pub subject: String,
    /// The fields, checked against the collection schema.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The body of `PUT /v1/collections/{name}/records/{id}` (sent with `If-Match`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecordRequest {
    /// The complete new data of the record.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The body of `PATCH /v1/collections/{name}/records/{id}` (sent with `If-Match`): a JSON
/// Merge Patch (RFC 7396) of the record's data. Members set fields, `null` members remove
/// them, absent fields keep their stored values.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct RecordPatch(pub Value);

impl std::fmt::Debug for RecordPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordPatch(<redacted>)")
    }
}

/// The body of `POST /v1/collections/{name}/search`: equality on one searchable field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A field declared `searchable`.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z][a-z0-9_]*$")]
    pub field: String,
    /// The value to match (normalised the same way as stored values).
    #[schema(value_type = Object)]
    pub value: Value,
}

/// One version of a record, projected to the fields the caller may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Record {
    /// The collection.
    pub collection: String,
    /// The record id (UUIDv7).
    pub id: Uuid,
    /// The owning subject.
    pub subject: String,
    /// The version shown.
    pub version: u64,
    /// The record's current version (equals `version` unless an old one was asked for).
    pub current_version: u64,
    /// The fields; empty for a deletion tombstone.
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    /// Whether this version is a deletion tombstone.
    pub deleted: bool,
    /// When the record was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the version shown was written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A page of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordList {
    /// The records.
    pub items: Vec<Record>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The answer to `DELETE /v1/collections/{name}/records/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletedRecord {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: Uuid,
    /// The version of the tombstone that now ends the record's history.
    pub version: u64,
}
