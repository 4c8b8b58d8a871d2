//! Turns submitted JSON into a [`ValidatedRecord`] by checking it against the collection
//! schema. Only a `ValidatedRecord` can be sealed and stored, so unchecked data cannot reach
//! the store. Violations name schema fields only, never submitted keys or values.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use crate::error::{ValidationError, Violation};
use crate::ids::FieldName;
use crate::phi::Phi;
use crate::schema::{CollectionSchema, FieldDef, FieldType};

/// Longest `string` value, in bytes.
pub const MAX_STRING_BYTES: usize = 4 * 1024;
/// Longest `text` value, in bytes.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Deepest nesting inside an `object` or `array` field.
pub const MAX_DEPTH: usize = 16;
/// Most violations reported for one record.
const MAX_VIOLATIONS: usize = 32;

/// A record that matched its schema, with the normalised values of its searchable fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedRecord {
    data: Phi<Map<String, Value>>,
    /// Normalised searchable values are PHI too.
    index_values: Phi<Vec<(FieldName, String)>>,
}

impl ValidatedRecord {
    /// The record's fields.
    pub fn data(&self) -> &Map<String, Value> {
        self.data.expose()
    }

    /// `(field, normalised value)` for each searchable field present.
    pub fn index_values(&self) -> &[(FieldName, String)] {
        self.index_values.expose()
    }

    /// The names of the fields present.
    pub fn field_names(&self) -> Vec<String> {
        self.data().keys().cloned().collect()
    }
}

/// Checks `value` against `schema`.
pub fn validate_record(
    schema: &CollectionSchema,
    value: Value,
) -> Result<ValidatedRecord, ValidationError> {
    let Value::Object(map) = value else {
        return Err(ValidationError {
            violations: vec![Violation {
                pointer: String::new(),
                code: "not_an_object",
            }],
        });
    };
    let mut violations = Vec::new();
    let mut push = |pointer: String, code: &'static str| {
        if violations.len() < MAX_VIOLATIONS {
            violations.push(Violation { pointer, code });
        }
    };
    for key in map.keys() {
        if schema.field(key).is_none() {
            push("/(undeclared)".to_owned(), "undeclared_field");
        }
    }
    let mut data = Map::new();
    let mut index_values = Vec::new();
    for field in &schema.fields {
        let pointer = format!("/{}", field.name);
        match map.get(field.name.as_str()) {
            None | Some(Value::Null) => {
                if field.required {
                    push(pointer, "missing_required");
                }
            }
            Some(v) => match check_value(field, v) {
                Ok(normalised) => {
                    if field.searchable {
                        index_values.push((field.name.clone(), normalised));
                    }
                    data.insert(field.name.as_str().to_owned(), v.clone());
                }
                Err((sub, code)) => push(format!("{pointer}{sub}"), code),
            },
        }
    }
    if violations.is_empty() {
        Ok(ValidatedRecord {
            data: Phi::new(data),
            index_values: Phi::new(index_values),
        })
    } else {
        Err(ValidationError { violations })
    }
}

/// Checks one value for `field` and returns its normalised index form, as used both when
/// storing a record and when searching, so the two always agree.
pub fn index_value(field: &FieldDef, v: &Value) -> Result<String, ValidationError> {
    check_value(field, v).map_err(|(sub, code)| ValidationError {
        violations: vec![Violation {
            pointer: format!("/{}{sub}", field.name),
            code,
        }],
    })
}

type Failure = (String, &'static str);

fn check_value(field: &FieldDef, v: &Value) -> Result<String, Failure> {
    let wrong = || (String::new(), "wrong_type");
    match field.field_type {
        FieldType::String | FieldType::Text => {
            let s = v.as_str().ok_or_else(wrong)?;
            let max = if field.field_type == FieldType::String {
                MAX_STRING_BYTES
            } else {
                MAX_TEXT_BYTES
            };
            if s.len() > max {
                return Err((String::new(), "too_long"));
            }
            Ok(phivault_crypto::normalise_for_index(s))
        }
        FieldType::Integer => match v {
            Value::Number(n) => n
                .as_i64()
                .map(|i| i.to_string())
                .ok_or((String::new(), "out_of_range")),
            _ => Err(wrong()),
        },
        FieldType::Decimal => match v {
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.is_finite() => Ok(canonical_decimal(f)),
                _ => Err((String::new(), "out_of_range")),
            },
            _ => Err(wrong()),
        },
        FieldType::Boolean => v.as_bool().map(|b| b.to_string()).ok_or_else(wrong),
        FieldType::Date => {
            let s = v.as_str().ok_or_else(wrong)?;
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, fmt)
                .map(|d| d.format(fmt).unwrap_or_default())
                .map_err(|_| (String::new(), "invalid_date"))
        }
        FieldType::Datetime => {
            let s = v.as_str().ok_or_else(wrong)?;
            let t = time::OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| (String::new(), "invalid_datetime"))?;
            t.to_offset(time::UtcOffset::UTC)
                .format(&Rfc3339)
                .map_err(|_| (String::new(), "invalid_datetime"))
        }
        FieldType::Object => {
            if !v.is_object() {
                return Err(wrong());
            }
            check_depth(v, 0)?;
            Ok(String::new())
        }
        FieldType::Array => {
            if !v.is_array() {
                return Err(wrong());
            }
            check_depth(v, 0)?;
            Ok(String::new())
        }
    }
}

fn canonical_decimal(f: f64) -> String {
    // -0.0 and 0.0 are the same number to a person searching.
    if f == 0.0 {
        "0".to_owned()
    } else {
        f.to_string()
    }
}

fn check_depth(v: &Value, depth: usize) -> Result<(), Failure> {
    if depth >= MAX_DEPTH {
        return Err((String::new(), "too_deep"));
    }
    match v {
        Value::Object(m) => m.values().try_for_each(|c| check_depth(c, depth + 1)),
        Value::Array(a) => a.iter().try_for_each(|c| check_depth(c, depth + 1)),
        Value::String(s) if s.len() > MAX_TEXT_BYTES => Err((String::new(), "too_long")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CollectionName;
    use crate::schema::{IdentifierKind, Sensitivity};
    use serde_json::json;

    fn schema() -> CollectionSchema {
        let f = |name: &str, t, searchable, required| FieldDef {
            name: FieldName::parse(name).unwrap(),
            field_type: t,
            sensitivity: Sensitivity::Phi(IdentifierKind::Name),
            searchable,
            required,
        };
        CollectionSchema {
            name: CollectionName::parse("patients").unwrap(),
            fields: vec![
                f("name", FieldType::String, true, true),
                f("age", FieldType::Integer, true, false),
                f("weight", FieldType::Decimal, false, false),
                f("dob", FieldType::Date, true, false),
                f("seen", FieldType::Datetime, true, false),
                f("extra", FieldType::Object, false, false),
                f("active", FieldType::Boolean, true, false),
            ],
        }
    }

    fn codes(v: Value) -> Vec<(String, &'static str)> {
        validate_record(&schema(), v)
            .unwrap_err()
            .violations
            .into_iter()
            .map(|v| (v.pointer, v.code))
            .collect()
    }

    #[test]
    fn accepts_a_valid_record_and_normalises_index_values() {
        let r = validate_record(
            &schema(),
            json!({"name": "  Ada   LOVELACE ", "age": 36, "dob": "1815-12-10",
                   "seen": "2026-01-02T03:04:05+01:00", "active": true, "extra": {"a": [1]}}),
        )
        .unwrap();
        let idx: Vec<_> = r
            .index_values()
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            idx,
            vec![
                ("name", "ada lovelace"),
                ("age", "36"),
                ("dob", "1815-12-10"),
                ("seen", "2026-01-02T02:04:05Z"),
                ("active", "true"),
            ]
        );
    }

    #[test]
    fn reports_violations_without_values() {
        let got = codes(json!({"name": 5, "age": "x", "ssn-123-45-6789": 1, "dob": "1815-13-40"}));
        assert!(got.contains(&("/name".into(), "wrong_type")));
        assert!(got.contains(&("/age".into(), "wrong_type")));
        assert!(got.contains(&("/(undeclared)".into(), "undeclared_field")));
        assert!(got.contains(&("/dob".into(), "invalid_date")));
        let text = format!("{got:?}");
        assert!(!text.contains("123-45"));
        assert_eq!(codes(json!({}))[0], ("/name".into(), "missing_required"));
        assert_eq!(codes(json!([1]))[0].1, "not_an_object");
    }

    #[test]
    fn bounds_numbers_strings_and_depth() {
        let big: Value =
            serde_json::from_str(r#"{"name":"a","age":18446744073709551615}"#).unwrap();
        assert_eq!(codes(big)[0], ("/age".into(), "out_of_range"));
        let long = json!({"name": "x".repeat(MAX_STRING_BYTES + 1)});
        assert_eq!(codes(long)[0], ("/name".into(), "too_long"));
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        let deep = json!({"name": "a", "extra": {"x": deep}});
        assert_eq!(codes(deep)[0], ("/extra".into(), "too_deep"));
    }
}
