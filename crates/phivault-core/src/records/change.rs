//! What an update says and how it meets the stored record: a full replacement (`PUT`) or a
//! JSON Merge Patch (RFC 7396, `PATCH`). Either way a writer changes only fields it may see
//! unmasked, and every field it may not see keeps its stored value, so a narrow role can
//! never erase what it cannot read (minimum necessary, 45 CFR 164.502(b), 164.514(d)).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::deny::DenyRule;
use crate::error::{ValidationError, VaultError, Violation};
use crate::policy::Projection;

/// How an update states the record's new data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordChange {
    /// The new data in full, as far as the writer may see it: fields it may not see (or
    /// sees masked) keep their stored values.
    Replace(Value),
    /// A JSON Merge Patch (RFC 7396): members set fields, `null` members remove them,
    /// absent members leave them as stored.
    MergePatch(Value),
}

impl RecordChange {
    /// The top-level field names the change touches.
    fn keys(&self) -> Option<impl Iterator<Item = &String>> {
        match self {
            Self::Replace(Value::Object(m)) | Self::MergePatch(Value::Object(m)) => Some(m.keys()),
            _ => None,
        }
    }
}

fn not_an_object() -> VaultError {
    VaultError::Invalid(ValidationError {
        violations: vec![Violation {
            pointer: String::new(),
            code: "not_an_object",
        }],
    })
}

/// The record's next data: `change` applied to `stored` (the whole current data) by a
/// writer who sees `projection`. A change naming a field the writer may not write is
/// refused as a whole; for a replacement, the stored values of the fields the writer may
/// not write are carried over.
pub(crate) fn next_data(
    stored: &Map<String, Value>,
    change: RecordChange,
    projection: &Projection,
) -> Result<Map<String, Value>, VaultError> {
    let writable = match change.keys() {
        Some(mut keys) => keys.all(|k| projection.writable(k)),
        None => return Err(not_an_object()),
    };
    if !writable {
        return Err(VaultError::Forbidden {
            rule: DenyRule::FieldNotWritable.to_string(),
        });
    }
    match change {
        RecordChange::Replace(Value::Object(mut next)) => {
            for (k, v) in stored {
                if !projection.writable(k) {
                    next.insert(k.clone(), v.clone());
                }
            }
            Ok(next)
        }
        RecordChange::MergePatch(patch) => {
            match merge_patch(Value::Object(stored.clone()), patch) {
                Value::Object(m) => Ok(m),
                _ => Err(not_an_object()),
            }
        }
        RecordChange::Replace(_) => Err(not_an_object()),
    }
}

/// RFC 7396 section 2, `MergePatch(Target, Patch)`.
fn merge_patch(target: Value, patch: Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch;
    };
    let mut target = match target {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(&name);
        } else {
            let current = target.remove(&name).unwrap_or(Value::Null);
            target.insert(name, merge_patch(current, value));
        }
    }
    Value::Object(target)
}

/// The top-level fields whose value differs between `before` and `after` (added, changed
/// or removed), for the audit event.
pub(crate) fn changed_fields(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<String> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The examples of RFC 7396 appendix A.
    #[test]
    fn merge_patch_follows_the_rfc_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                merge_patch(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn changed_fields_name_added_changed_and_removed_fields_only() {
        let before = obj(json!({"a": 1, "b": 2, "c": 3}));
        let after = obj(json!({"a": 1, "b": 5, "d": 4}));
        assert_eq!(changed_fields(&before, &after), ["b", "c", "d"]);
        assert!(changed_fields(&before, &before).is_empty());
    }
}
