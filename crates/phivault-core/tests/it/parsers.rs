//! Property tests of the parsers in the core that take what a client or a backup location
//! sends: record validation against a schema, identifiers in paths and bodies, the purpose
//! of use header, and the backup manifest. Arbitrary input never panics any of them; what
//! they accept keeps the promises the rest of the vault relies on.

use phivault_core::backup::BackupManifest;
use phivault_core::validate::validate_record;
use phivault_core::{CollectionName, CollectionSchema, PurposeOfUse, RecordId, SubjectId};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A schema with a field of every type (shared with the `record` fuzz target).
fn schema() -> CollectionSchema {
    serde_json::from_str(include_str!("../data/every-field-type.json")).unwrap()
}

/// Any JSON value, nested up to a few levels, keys drawn partly from the schema's names.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("full_name".to_owned()),
        Just("age".to_owned()),
        Just("birth_date".to_owned()),
        Just("seen_at".to_owned()),
        Just("vitals".to_owned()),
        any::<String>(),
    ];
    leaf.prop_recursive(24, 256, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn validation_never_panics_and_accepts_only_declared_fields(value in json_value()) {
        let s = schema();
        match validate_record(&s, value.clone()) {
            Ok(rec) => {
                prop_assert!(rec.data().keys().all(|k| s.field(k).is_some()));
                prop_assert!(rec.data().contains_key("full_name"));
                // What was accepted is accepted again unchanged.
                let again = validate_record(&s, Value::Object(rec.data().clone()));
                prop_assert!(again.is_ok());
            }
            Err(e) => {
                prop_assert!(!e.violations.is_empty());
                // Violations name schema fields only, never submitted keys or values.
                for v in &e.violations {
                    let named = v.pointer.split('/').nth(1).unwrap_or("");
                    prop_assert!(
                        named.is_empty() || named == "(undeclared)" || s.field(named).is_some(),
                        "{}", v.pointer
                    );
                }
            }
        }
    }

    #[test]
    fn identifiers_never_panic_and_round_trip(s in any::<String>()) {
        if let Ok(id) = SubjectId::parse(&s) {
            prop_assert_eq!(SubjectId::parse(&id.to_string()).ok(), Some(id));
        }
        if let Ok(name) = CollectionName::parse(&s) {
            prop_assert_eq!(name.as_str(), s.as_str());
        }
        if let Ok(id) = RecordId::parse(&s) {
            prop_assert_eq!(RecordId::parse(&id.to_string()).ok(), Some(id));
        }
        if let Some(p) = PurposeOfUse::parse(&s) {
            prop_assert_eq!(PurposeOfUse::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn manifests_never_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = BackupManifest::parse(&bytes);
    }

    #[test]
    fn manifest_shaped_json_never_panics_the_reader(value in json_value(), format in any::<u64>()) {
        let mut doc = json!({"format": format, "parts": [{"name": "db.sqlite"}]});
        if let (Value::Object(extra), Value::Object(d)) = (value, &mut doc) {
            d.extend(extra);
        }
        if let Ok(m) = BackupManifest::parse(doc.to_string().as_bytes()) {
            for p in &m.parts {
                prop_assert!(!p.name.starts_with('.') && !p.name.contains('/'));
            }
        }
    }
}
