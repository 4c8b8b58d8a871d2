//! proptest strategies generated from the JSON Schemas of the served OpenAPI document:
//! values a schema accepts (for the conformance test's valid requests) and, for a schema,
//! a value it refuses (for the invalid ones). Covers what the document uses: `$ref`,
//! `oneOf`/`anyOf`/`allOf`, `enum`, nullable type lists, strings with lengths, patterns and
//! the `uuid`/`date-time` formats, bounded integers (sometimes written as `400.0`), numbers,
//! booleans, arrays and objects with required and optional properties.

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Just, Union};
use serde_json::{Map, Value, json};

/// The most characters a generated free string has (patterns may make longer ones).
const MAX_FREE_STRING: usize = 24;
/// The most items a generated array has.
const MAX_ITEMS: usize = 3;
/// The deepest a generated value nests before optional parts are left out.
const MAX_DEPTH: usize = 6;

/// The document, to resolve `$ref`s against.
pub(crate) struct Doc<'a>(pub(crate) &'a Value);

impl Doc<'_> {
    /// The schema a `$ref` points at (or the schema itself).
    pub(crate) fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut s = schema;
        for _ in 0..8 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let name = r.trim_start_matches("#/components/schemas/");
                    s = &self.0["components"]["schemas"][name];
                }
                None => break,
            }
        }
        s
    }

    /// The types a schema allows (`type` as a string or a list).
    fn types(schema: &Value) -> Vec<String> {
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Values `schema` accepts.
    pub(crate) fn valid(&self, schema: &Value) -> BoxedStrategy<Value> {
        self.valid_at(schema, 0)
    }

    fn valid_at(&self, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
        let s = self.resolve(schema);
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            return proptest::sample::select(values.clone()).boxed();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = s.get(key).and_then(Value::as_array) {
                let alts: Vec<_> = alts.iter().map(|a| self.valid_at(a, depth + 1)).collect();
                return Union::new(alts).boxed();
            }
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array)
            && let Some(first) = all.first()
        {
            return self.valid_at(first, depth + 1);
        }
        let types = Self::types(s);
        if types.len() > 1 {
            let alts: Vec<_> = types
                .iter()
                .map(|t| self.valid_typed(s, t, depth))
                .collect();
            return Union::new(alts).boxed();
        }
        match types.first() {
            Some(t) => self.valid_typed(s, t, depth),
            // An unconstrained schema (`Object` values on the wire): any small JSON value.
            None => any_small_json(),
        }
    }

    fn valid_typed(&self, s: &Value, t: &str, depth: usize) -> BoxedStrategy<Value> {
        match t {
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "integer" => {
                let (lo, hi) = int_bounds(s);
                (lo..=hi, any::<bool>())
                    .prop_map(|(n, as_float)| {
                        // JSON Schema counts 400.0 as an integer; so must the server.
                        if as_float && n.unsigned_abs() < (1 << 53) {
                            json!(n as f64)
                        } else {
                            json!(n)
                        }
                    })
                    .boxed()
            }
            "number" => (-1.0e6f64..1.0e6).prop_map(|f| json!(f)).boxed(),
            "string" => valid_string(s),
            "array" => {
                let item = s.get("items").cloned().unwrap_or(Value::Null);
                let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                let max = s
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .map_or(MAX_ITEMS, |m| (m as usize).min(MAX_ITEMS))
                    .max(min);
                let max = if depth > MAX_DEPTH { min } else { max };
                proptest::collection::vec(self.valid_at(&item, depth + 1), min..=max)
                    .prop_map(Value::Array)
                    .boxed()
            }
            "object" => self.valid_object(s, depth),
            _ => any_small_json(),
        }
    }

    fn valid_object(&self, s: &Value, depth: usize) -> BoxedStrategy<Value> {
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required: Vec<String> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if props.is_empty()
            && let Some(values) = s.get("additionalProperties").filter(|v| v.is_object())
        {
            // A map (masked fields): names to values of one schema.
            let value = self.valid_at(values, depth + 1);
            return proptest::collection::btree_map("[a-z]{1,8}", value, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed();
        }
        if props.is_empty() {
            // A free-form object (record data, changes): a few string members.
            return proptest::collection::btree_map("[a-z]{1,8}", "[a-z ]{0,8}", 0..3)
                .prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
                })
                .boxed();
        }
        let mut parts: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
        for (name, schema) in props {
            let value = self.valid_at(&schema, depth + 1);
            let n = name.clone();
            if required.contains(&name) {
                parts.push(value.prop_map(move |v| Some((n.clone(), v))).boxed());
            } else if depth <= MAX_DEPTH {
                parts.push(
                    proptest::option::of(value)
                        .prop_map(move |v| v.map(|v| (n.clone(), v)))
                        .boxed(),
                );
            }
        }
        parts
            .prop_map(|members| Value::Object(members.into_iter().flatten().collect::<Map<_, _>>()))
            .boxed()
    }

    /// One value of a parameter (path, query or header: written as text) that `schema`
    /// refuses: text that is no number for an integer, or a string mutation.
    pub(crate) fn invalid_text(&self, schema: &Value) -> Option<BoxedStrategy<Value>> {
        let s = self.resolve(schema);
        let mut alts = self.mutations(s, false);
        if Self::types(s).iter().any(|t| t == "integer") {
            alts.push(Just(json!("x")).boxed());
        }
        (!alts.is_empty()).then(|| Union::new(alts).boxed())
    }

    /// One value `schema` refuses, if the generator knows a way to break it: a value of
    /// another type, one past a bound, a string outside its pattern, an object without a
    /// required property or with one it does not allow.
    pub(crate) fn invalid(&self, schema: &Value) -> Option<BoxedStrategy<Value>> {
        let alts = self.mutations(self.resolve(schema), true);
        (!alts.is_empty()).then(|| Union::new(alts).boxed())
    }

    /// Ways to break `s`; `with_types` adds values of other JSON types.
    fn mutations(&self, s: &Value, with_types: bool) -> Vec<BoxedStrategy<Value>> {
        let mut alts: Vec<BoxedStrategy<Value>> = Vec::new();
        if s.get("oneOf").is_some() || s.get("anyOf").is_some() || s.get("allOf").is_some() {
            return alts;
        }
        let types = Self::types(s);
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let values = values.clone();
            alts.push(
                "[a-z]{1,12}"
                    .prop_filter("not in the enum", move |v| {
                        !values.contains(&Value::String(v.clone()))
                    })
                    .prop_map(Value::String)
                    .boxed(),
            );
        }
        // A value of a type the schema does not allow.
        if with_types && !types.is_empty() && !types.iter().any(|t| t == "null") {
            let wrong: Vec<Value> = [json!(true), json!("x"), json!(7), json!([]), json!({})]
                .into_iter()
                .filter(|v| !types.iter().any(|t| is_type(v, t)))
                .collect();
            if !wrong.is_empty() {
                alts.push(proptest::sample::select(wrong).boxed());
            }
        }
        match types.first().map(String::as_str) {
            Some("integer") => {
                let (lo, hi) = int_bounds(s);
                if s.get("minimum").is_some() && lo > i64::MIN {
                    alts.push(Just(json!(lo - 1)).boxed());
                }
                if s.get("maximum").is_some() && hi < i64::MAX {
                    alts.push(Just(json!(hi + 1)).boxed());
                }
                if with_types {
                    alts.push(Just(json!(1.5)).boxed());
                }
            }
            Some("string") => {
                if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                    && min > 0
                {
                    alts.push(Just(json!("")).boxed());
                }
                if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                    alts.push(Just(json!("a".repeat(max as usize + 1))).boxed());
                }
                if let Some(p) = s.get("pattern").and_then(Value::as_str)
                    && let Ok(re) = regex::Regex::new(p)
                {
                    alts.push(
                        proptest::sample::select(vec!["!", "A B", "\u{e9}", "_x", "-", "a/b"])
                            .prop_filter("outside the pattern", move |v| !re.is_match(v))
                            .prop_map(|v| json!(v))
                            .boxed(),
                    );
                }
                if s.get("format").and_then(Value::as_str) == Some("uuid") {
                    alts.push(Just(json!("not-a-uuid")).boxed());
                }
            }
            Some("object") if with_types => {
                let required: Vec<String> = s
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                let valid = self.valid(s);
                if !required.is_empty() {
                    let req = required.clone();
                    alts.push(
                        (valid.clone(), proptest::sample::select(req))
                            .prop_map(|(mut v, drop)| {
                                if let Value::Object(m) = &mut v {
                                    m.remove(&drop);
                                }
                                v
                            })
                            .boxed(),
                    );
                }
                if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                    alts.push(
                        valid
                            .prop_map(|mut v| {
                                if let Value::Object(m) = &mut v {
                                    m.insert("zz_unknown_member".to_owned(), json!(1));
                                }
                                v
                            })
                            .boxed(),
                    );
                }
            }
            _ => {}
        }
        alts
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

/// The bounds of an integer schema, clamped to what the generator writes (i64).
fn int_bounds(s: &Value) -> (i64, i64) {
    let bound = |k: &str| {
        s.get(k).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_u64().map(|_| i64::MAX))
                .or_else(|| v.as_f64().map(|f| f as i64))
        })
    };
    let lo = bound("minimum").unwrap_or(-1_000_000);
    let hi = bound("maximum").unwrap_or(lo.saturating_add(2_000_000));
    (lo, hi.max(lo))
}

fn valid_string(s: &Value) -> BoxedStrategy<Value> {
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    match s.get("format").and_then(Value::as_str) {
        Some("uuid") => {
            return any::<u128>()
                .prop_map(|n| json!(uuid::Uuid::from_u128(n).hyphenated().to_string()))
                .boxed();
        }
        Some("date-time") => {
            // 2000-01-01 .. 2030-01-01, whole seconds, UTC.
            return (946_684_800i64..1_893_456_000)
                .prop_map(|t| {
                    let at = time::OffsetDateTime::from_unix_timestamp(t)
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                    json!(
                        at.format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    )
                })
                .boxed();
        }
        _ => {}
    }
    let pattern = s.get("pattern").and_then(Value::as_str).map(str::to_owned);
    let base: BoxedStrategy<String> = match &pattern {
        Some(p) => {
            let inner = p.trim_start_matches('^').trim_end_matches('$');
            match proptest::string::string_regex(inner) {
                Ok(st) => st.boxed(),
                Err(e) => panic!("pattern {p:?} cannot be generated: {e}"),
            }
        }
        None => {
            let hi = max.unwrap_or(MAX_FREE_STRING).min(min.max(MAX_FREE_STRING));
            proptest::string::string_regex(&format!("[ -~\u{e9}\u{4e2d}]{{{min},{hi}}}"))
                .map(|st| st.boxed())
                .unwrap_or_else(|_| Just(String::new()).boxed())
        }
    };
    let re = pattern.map(|p| regex::Regex::new(&p).expect("pattern compiles"));
    base.prop_filter("within the length bounds and pattern", move |v| {
        let n = v.chars().count();
        n >= min && max.is_none_or(|m| n <= m) && re.as_ref().is_none_or(|r| r.is_match(v))
    })
    .prop_map(Value::String)
    .boxed()
}

fn any_small_json() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        "[a-z ]{0,8}".prop_map(Value::String),
    ]
    .boxed()
}
