//! Collection schemas on the wire: typed fields, each with its sensitivity tag (a Safe
//! Harbor identifier kind, health information, or none), searchability and requiredness.
//! The shape mirrors the domain's schema so a stored schema round-trips unchanged.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A collection and its declared fields (the body of `POST /v1/collections`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// The name: `[a-z][a-z0-9_]{0,62}`.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    pub name: String,
    /// The fields, in declaration order (1 to 256).
    #[schema(min_items = 1, max_items = 256)]
    pub fields: Vec<Field>,
}

/// One declared field of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The name: `[a-z][a-z0-9_]{0,62}`.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    pub name: String,
    /// The JSON type of its values.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// How sensitive its values are.
    pub sensitivity: Sensitivity,
    /// Whether equality search is offered (through a blind index; scalar types only).
    #[serde(default)]
    pub searchable: bool,
    /// Whether every record must carry it.
    #[serde(default)]
    pub required: bool,
}

/// The JSON type a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A short string (at most 4 KiB).
    String,
    /// Free text (at most 256 KiB); not searchable.
    Text,
    /// A signed 64-bit integer.
    Integer,
    /// A finite decimal number.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 date and time with offset.
    Datetime,
    /// A JSON object of bounded depth; not searchable.
    Object,
    /// A JSON array of bounded depth; not searchable.
    Array,
}

/// The 18 identifier kinds of the HIPAA Safe Harbor method, 45 CFR 164.514(b)(2)(i)(A)–(R).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// (A) Names.
    Name,
    /// (B) Geographic subdivisions smaller than a state, including ZIP codes.
    Geographic,
    /// (C) Date elements (except year) directly related to the individual, and ages over 89.
    Date,
    /// (D) Telephone numbers.
    Phone,
    /// (E) Fax numbers.
    Fax,
    /// (F) Electronic mail addresses.
    Email,
    /// (G) Social Security numbers.
    Ssn,
    /// (H) Medical record numbers.
    MedicalRecordNumber,
    /// (I) Health plan beneficiary numbers.
    HealthPlanNumber,
    /// (J) Account numbers.
    AccountNumber,
    /// (K) Certificate/license numbers.
    LicenseNumber,
    /// (L) Vehicle identifiers and serial numbers, including license plates.
    VehicleId,
    /// (M) Device identifiers and serial numbers.
    DeviceId,
    /// (N) Web URLs.
    Url,
    /// (O) IP addresses.
    IpAddress,
    /// (P) Biometric identifiers, including finger and voice prints.
    Biometric,
    /// (Q) Full-face photographs and comparable images.
    Photo,
    /// (R) Any other unique identifying number, characteristic, or code.
    OtherUniqueId,
}

/// How sensitive a field is: `{"class":"phi","identifier":"ssn"}`, `{"class":"health"}`
/// or `{"class":"none"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "class", content = "identifier")]
pub enum Sensitivity {
    /// A direct identifier of the given Safe Harbor kind.
    Phi(IdentifierKind),
    /// Health information that is not itself an identifier (diagnoses, results, notes).
    Health,
    /// Not sensitive (codes, flags).
    None,
}

/// A page of collections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CollectionList {
    /// The collections, by name.
    pub items: Vec<Collection>,
    /// Always absent: every collection fits in one page.
    pub next_cursor: Option<String>,
}
