//! Collection schemas between wire and domain: names are checked on the way in (an
//! identifier-like name is refused as such), every field type, sensitivity class and
//! Safe Harbor identifier kind maps one to one.

use phivault_api as api;
use phivault_core::metadata::{MetadataKind, check_name};
use phivault_core::{
    CollectionName, CollectionSchema, FieldDef, FieldName, FieldType, IdentifierKind, Sensitivity,
    VaultError,
};

/// A wire collection as a domain schema (names checked; the schema itself is checked by
/// the vault).
pub(crate) fn schema_from_api(c: api::Collection) -> Result<CollectionSchema, VaultError> {
    // Identifier-like names are refused as such (422) before the charset check (400), so
    // an e-mail address as a name is named for what it is.
    check_name(MetadataKind::CollectionName, &c.name)?;
    for f in &c.fields {
        check_name(MetadataKind::FieldName, &f.name)?;
    }
    let fields = c
        .fields
        .into_iter()
        .map(|f| {
            Ok(FieldDef {
                name: FieldName::parse(&f.name)?,
                field_type: field_type_from_api(f.field_type),
                sensitivity: sensitivity_from_api(f.sensitivity),
                searchable: f.searchable,
                required: f.required,
            })
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    Ok(CollectionSchema {
        name: CollectionName::parse(&c.name)?,
        fields,
    })
}

/// A domain schema on the wire.
pub(crate) fn schema_to_api(s: &CollectionSchema) -> api::Collection {
    api::Collection {
        name: s.name.to_string(),
        fields: s
            .fields
            .iter()
            .map(|f| api::Field {
                name: f.name.to_string(),
                field_type: field_type_to_api(f.field_type),
                sensitivity: sensitivity_to_api(f.sensitivity),
                searchable: f.searchable,
                required: f.required,
            })
            .collect(),
    }
}

fn field_type_from_api(t: api::FieldType) -> FieldType {
    match t {
        api::FieldType::String => FieldType::String,
        api::FieldType::Text => FieldType::Text,
        api::FieldType::Integer => FieldType::Integer,
        api::FieldType::Decimal => FieldType::Decimal,
        api::FieldType::Boolean => FieldType::Boolean,
        api::FieldType::Date => FieldType::Date,
        api::FieldType::Datetime => FieldType::Datetime,
        api::FieldType::Object => FieldType::Object,
        api::FieldType::Array => FieldType::Array,
    }
}

fn field_type_to_api(t: FieldType) -> api::FieldType {
    match t {
        FieldType::String => api::FieldType::String,
        FieldType::Text => api::FieldType::Text,
        FieldType::Integer => api::FieldType::Integer,
        FieldType::Decimal => api::FieldType::Decimal,
        FieldType::Boolean => api::FieldType::Boolean,
        FieldType::Date => api::FieldType::Date,
        FieldType::Datetime => api::FieldType::Datetime,
        FieldType::Object => api::FieldType::Object,
        FieldType::Array => api::FieldType::Array,
    }
}

fn sensitivity_from_api(s: api::Sensitivity) -> Sensitivity {
    match s {
        api::Sensitivity::Phi(k) => Sensitivity::Phi(identifier_from_api(k)),
        api::Sensitivity::Health => Sensitivity::Health,
        api::Sensitivity::None => Sensitivity::None,
    }
}

fn sensitivity_to_api(s: Sensitivity) -> api::Sensitivity {
    match s {
        Sensitivity::Phi(k) => api::Sensitivity::Phi(identifier_to_api(k)),
        Sensitivity::Health => api::Sensitivity::Health,
        Sensitivity::None => api::Sensitivity::None,
    }
}

/// Generates both directions of the identifier-kind mapping from one list, so a kind
/// added on one side without the other fails to compile.
macro_rules! identifier_kinds {
    ($($v:ident),* $(,)?) => {
        fn identifier_from_api(k: api::IdentifierKind) -> IdentifierKind {
            match k { $(api::IdentifierKind::$v => IdentifierKind::$v,)* }
        }
        fn identifier_to_api(k: IdentifierKind) -> api::IdentifierKind {
            match k { $(IdentifierKind::$v => api::IdentifierKind::$v,)* }
        }
    };
}

identifier_kinds!(
    Name,
    Geographic,
    Date,
    Phone,
    Fax,
    Email,
    Ssn,
    MedicalRecordNumber,
    HealthPlanNumber,
    AccountNumber,
    LicenseNumber,
    VehicleId,
    DeviceId,
    Url,
    IpAddress,
    Biometric,
    Photo,
    OtherUniqueId,
);

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn schema_round_trips() {
        let wire: api::Collection = serde_json::from_value(serde_json::json!({
            "name": "patients",
            "fields": [
                {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
                {"name": "dx", "type": "text", "sensitivity": {"class": "health"}, "required": true},
                {"name": "flag", "type": "boolean", "sensitivity": {"class": "none"}}
            ]
        }))
        .unwrap();
        let domain = schema_from_api(wire.clone()).unwrap();
        // The domain type serialises to the same JSON as the wire type.
        assert_eq!(
            serde_json::to_value(&domain).unwrap(),
            serde_json::to_value(&wire).unwrap()
        );
        assert_eq!(schema_to_api(&domain), wire);
    }

    #[test]
    fn bad_names_are_refused_with_static_codes() {
        let wire = api::Collection {
            name: "Bad Name CANARY".into(),
            fields: vec![],
        };
        let e = schema_from_api(wire).unwrap_err();
        assert_eq!(e.code(), "invalid_collection_name");
        assert!(!e.to_string().contains("CANARY"));
    }
}
