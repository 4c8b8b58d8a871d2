//! PHI in memory: [`Phi`] wraps a value whose `Debug` must never print it, and
//! `redacted_debug!` gives domain types whose public fields carry PHI a `Debug` that names
//! those fields without their values, so a stray `{:?}` in a log line leaks nothing.

use std::fmt;

use zeroize::Zeroize;

/// A PHI value: `Debug` prints `Phi(..)`, there is no `Display`, and reading it takes an
/// explicit, greppable [`Phi::expose`]. Zeroizes on request where `T` can.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Phi<T>(T);

impl<T> Phi<T> {
    /// Wraps a PHI value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for code that must read it (sealing, projection, rendering).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value, mutably.
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Unwraps the value.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Phi<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phi(..)")
    }
}

impl<T: Zeroize> Zeroize for Phi<T> {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// What a redacted field prints in `Debug`.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `Debug` for a struct that shows the listed fields and prints `[REDACTED]` for the
/// hidden ones. Every field must be listed (the pattern is exhaustive), so a field added
/// later cannot be shown or hidden by accident without a decision.
macro_rules! redacted_debug {
    ($ty:ident { $($shown:ident),* $(,)? } hide { $($hidden:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let Self { $($shown,)* $($hidden: _,)* } = self;
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), $shown))*
                    $(.field(stringify!($hidden), &$crate::phi::Redacted))*
                    .finish()
            }
        }
    };
}
pub(crate) use redacted_debug;

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::Phi;
    use crate::identity::{BreakGlassInfo, Enrollment};
    use crate::ids::{CollectionName, RecordId};
    use crate::privacy::{
        Accounting, Disclosure, ExportedRecord, ExportedVersion, ItemDetail, ItemKind, ItemMeta,
        NewDisclosure, NewRequest, NewRestriction, PrivacyItem, SubjectExport,
    };
    use crate::records::RecordView;
    use crate::schema::CollectionSchema;
    use crate::validate::validate_record;

    /// Synthetic PHI that must never show in `Debug` output.
    const CANARY: &str = "Canary-Jane-Q-Doe-555-0199";

    fn at() -> OffsetDateTime {
        datetime!(2026-03-01 08:00 UTC)
    }

    fn data() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".to_owned(), json!(CANARY));
        m
    }

    fn assert_redacted(what: &str, text: String) {
        assert!(!text.contains(CANARY), "{what} leaks PHI in Debug: {text}");
        assert!(
            !text.contains("555-0199"),
            "{what} leaks PHI in Debug: {text}"
        );
    }

    fn detail() -> ItemDetail {
        ItemDetail {
            changes: Some(data()),
            reason: Some(CANARY.to_owned()),
            extension_reason: Some(CANARY.to_owned()),
            denial_reason: Some(CANARY.to_owned()),
            disagreement: Some(CANARY.to_owned()),
            rebuttal: Some(CANARY.to_owned()),
            recipient: Some(CANARY.to_owned()),
            description: Some(CANARY.to_owned()),
            instructions: Some(CANARY.to_owned()),
        }
    }

    fn view() -> RecordView {
        RecordView {
            collection: "notes".to_owned(),
            id: RecordId(uuid::Uuid::nil()),
            subject: "patient-1".to_owned(),
            version: 1,
            current_version: 1,
            data: data(),
            deleted: false,
            created_at: at(),
            updated_at: at(),
        }
    }

    #[test]
    fn phi_prints_nothing_of_its_value() {
        let p = Phi::new(CANARY.to_owned());
        assert_eq!(format!("{p:?}"), "Phi(..)");
        assert_eq!(format!("{p:#?}"), "Phi(..)");
        assert_eq!(p.expose(), CANARY);
    }

    #[test]
    fn record_view_is_redacted() {
        let text = format!("{:?}", view());
        assert_redacted("RecordView", text.clone());
        assert!(
            text.contains("patient-1") && text.contains("[REDACTED]"),
            "{text}"
        );
    }

    #[test]
    fn validated_record_is_redacted() {
        let schema: CollectionSchema = serde_json::from_value(json!({
            "name": "people",
            "fields": [{"name": "name", "type": "string",
                        "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true}],
        }))
        .unwrap();
        let record = validate_record(&schema, Value::Object(data())).unwrap();
        assert!(!record.index_values().is_empty());
        assert_redacted("ValidatedRecord", format!("{record:?}"));
    }

    #[test]
    fn privacy_types_are_redacted() {
        assert_redacted("ItemDetail", format!("{:?}", detail()));
        let item = PrivacyItem {
            id: "i".to_owned(),
            kind: ItemKind::Amendment,
            subject: "patient-1".to_owned(),
            status: "open".to_owned(),
            created_at: at(),
            due_at: None,
            updated_at: at(),
            overdue: false,
            meta: ItemMeta::default(),
            detail: Some(detail()),
        };
        assert_redacted("PrivacyItem", format!("{item:?}"));
        let export = SubjectExport {
            subject: "patient-1".to_owned(),
            generated_at: at(),
            records: vec![ExportedRecord {
                collection: "notes".to_owned(),
                id: RecordId(uuid::Uuid::nil()),
                deleted: false,
                versions: vec![ExportedVersion {
                    version: 1,
                    created_at: at(),
                    deleted: false,
                    data: data(),
                }],
            }],
            items: vec![item],
        };
        assert_redacted("SubjectExport", format!("{export:?}"));
        let request = NewRequest::Amendment {
            collection: CollectionName::parse("notes").unwrap(),
            record_id: RecordId(uuid::Uuid::nil()),
            changes: data(),
            reason: Some(CANARY.to_owned()),
        };
        assert_redacted("NewRequest", format!("{request:?}"));
        let disclosure = NewDisclosure {
            disclosed_at: at(),
            recipient: CANARY.to_owned(),
            purpose: crate::policy::PurposeOfUse::Pubhlth,
            collections: vec![],
            fields: vec![],
            description: CANARY.to_owned(),
        };
        assert_redacted("NewDisclosure", format!("{disclosure:?}"));
        let restriction = NewRestriction {
            collections: vec!["*".to_owned()],
            purposes: vec![],
            reason: Some(CANARY.to_owned()),
        };
        assert_redacted("NewRestriction", format!("{restriction:?}"));
        let accounting = Accounting {
            subject: "patient-1".to_owned(),
            from: at(),
            to: at(),
            disclosures: vec![Disclosure {
                at: at(),
                source: "manual",
                reference: "i".to_owned(),
                recipient: CANARY.to_owned(),
                purpose: "PUBHLTH".to_owned(),
                collections: vec![],
                fields: vec![],
                description: Some(CANARY.to_owned()),
            }],
            exclusions: vec![],
        };
        assert_redacted("Accounting", format!("{accounting:?}"));
    }

    #[test]
    fn identity_types_are_redacted() {
        let info = BreakGlassInfo {
            id: "e".to_owned(),
            principal_id: "u".to_owned(),
            subject: "patient-1".to_owned(),
            reason: CANARY.to_owned(),
            opened_at: at(),
            expires_at: at(),
            reviewed_at: None,
            reviewer: None,
            review_note: Some(CANARY.to_owned()),
        };
        assert_redacted("BreakGlassInfo", format!("{info:?}"));
        let enrollment = Enrollment {
            otpauth_uri: zeroize::Zeroizing::new(CANARY.to_owned()),
            recovery_codes: vec![zeroize::Zeroizing::new(CANARY.to_owned())],
        };
        assert_redacted("Enrollment", format!("{enrollment:?}"));
    }
}
