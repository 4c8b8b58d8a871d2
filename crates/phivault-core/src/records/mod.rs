//! Records: collections, and the create/read/update/delete/search/history workflows of
//! the records in them. `path` holds the steps every record workflow shares (and that the
//! privacy workflows reuse for amendments and exports); sealing itself is `seal`'s.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids::RecordId;

mod change;
mod collections;
pub(crate) mod path;
mod read;
mod search;
mod write;

/// A record as returned to a caller, already projected to the fields they may see.
#[derive(Clone, PartialEq)]
pub struct RecordView {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: RecordId,
    /// The owning subject.
    pub subject: String,
    /// The version shown.
    pub version: u64,
    /// The current version of the record (equals `version` unless an old one was asked for).
    pub current_version: u64,
    /// The fields, projected; empty for a deletion tombstone.
    pub data: Map<String, Value>,
    /// Whether this version is a deletion tombstone.
    pub deleted: bool,
    /// When the record was created.
    pub created_at: OffsetDateTime,
    /// When the version shown was written.
    pub updated_at: OffsetDateTime,
}

/// One entry of a record's history.
pub type VersionInfo = RecordView;

crate::phi::redacted_debug!(RecordView {
    collection, id, subject, version, current_version, deleted, created_at, updated_at
} hide { data });
