//! Collection schemas: typed fields, each tagged with its sensitivity (one of the 18 Safe
//! Harbor identifier kinds of 45 CFR 164.514(b)(2)(i), health information, or none),
//! whether it is searchable through a blind index, and whether it is required.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::VaultError;
use crate::error_code::ErrorCode;
use crate::ids::{CollectionName, FieldName};

/// The most fields one collection may declare.
pub const MAX_FIELDS: usize = 256;

/// The JSON type a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A short string (at most 4 KiB).
    String,
    /// Free text (at most 256 KiB).
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
    /// A JSON object of bounded depth.
    Object,
    /// A JSON array of bounded depth.
    Array,
}

impl FieldType {
    /// Whether values of this type can carry a blind index (scalars only).
    pub fn indexable(self) -> bool {
        !matches!(self, Self::Object | Self::Array | Self::Text)
    }
}

/// The 18 identifier kinds of the HIPAA Safe Harbor method, 45 CFR 164.514(b)(2)(i)(A)–(R).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// How sensitive a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "class", content = "identifier")]
pub enum Sensitivity {
    /// A direct identifier of the given Safe Harbor kind.
    Phi(IdentifierKind),
    /// Health information that is not itself an identifier (diagnoses, results, notes).
    Health,
    /// Not sensitive (codes, flags).
    None,
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The field's name.
    pub name: FieldName,
    /// Its JSON type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Its sensitivity tag.
    pub sensitivity: Sensitivity,
    /// Whether equality search is offered through a blind index.
    #[serde(default)]
    pub searchable: bool,
    /// Whether every record must carry it.
    #[serde(default)]
    pub required: bool,
}

/// A collection's declared schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSchema {
    /// The collection's name.
    pub name: CollectionName,
    /// Its fields, in declaration order.
    pub fields: Vec<FieldDef>,
}

impl CollectionSchema {
    /// Checks the schema itself: at least one field, at most [`MAX_FIELDS`], unique names,
    /// searchable only on scalar types.
    pub fn check(&self) -> Result<(), VaultError> {
        if self.fields.is_empty() {
            return Err(VaultError::InvalidSchema(
                ErrorCode::SchemaHasNoFields.as_str(),
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(VaultError::InvalidSchema(
                ErrorCode::SchemaTooManyFields.as_str(),
            ));
        }
        let mut seen = BTreeSet::new();
        for f in &self.fields {
            if !seen.insert(f.name.as_str()) {
                return Err(VaultError::InvalidSchema(
                    ErrorCode::SchemaDuplicateField.as_str(),
                ));
            }
            if f.searchable && !f.field_type.indexable() {
                return Err(VaultError::InvalidSchema(
                    ErrorCode::SchemaFieldNotIndexable.as_str(),
                ));
            }
        }
        Ok(())
    }

    /// The declared field of that name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, t: FieldType, searchable: bool) -> FieldDef {
        FieldDef {
            name: FieldName::parse(name).unwrap(),
            field_type: t,
            sensitivity: Sensitivity::Health,
            searchable,
            required: false,
        }
    }

    #[test]
    fn schema_checks() {
        let name = CollectionName::parse("c").unwrap();
        let ok = CollectionSchema {
            name: name.clone(),
            fields: vec![field("a", FieldType::String, true)],
        };
        assert!(ok.check().is_ok());
        let dup = CollectionSchema {
            name: name.clone(),
            fields: vec![
                field("a", FieldType::String, false),
                field("a", FieldType::Integer, false),
            ],
        };
        assert_eq!(dup.check().unwrap_err().code(), "schema_duplicate_field");
        let obj = CollectionSchema {
            name: name.clone(),
            fields: vec![field("a", FieldType::Object, true)],
        };
        assert_eq!(
            obj.check().unwrap_err().code(),
            "schema_field_not_indexable"
        );
        let empty = CollectionSchema {
            name,
            fields: vec![],
        };
        assert!(empty.check().is_err());
    }

    #[test]
    fn sensitivity_serializes_readably() {
        let s = serde_json::to_string(&Sensitivity::Phi(IdentifierKind::Ssn)).unwrap();
        assert_eq!(s, r#"{"class":"phi","identifier":"ssn"}"#);
        let h: Sensitivity = serde_json::from_str(r#"{"class":"health"}"#).unwrap();
        assert_eq!(h, Sensitivity::Health);
    }
}
