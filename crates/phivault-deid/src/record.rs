//! Safe Harbor (45 CFR 164.514(b)(2)) applied to structured records, field by field, from the
//! schema's sensitivity tags.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::DeidError;
use crate::pseudonym::date_shift_days;
use crate::scrub::Scrubber;

/// The 18 Safe Harbor identifier kinds, spelled as `phivault_core::IdentifierKind` spells them
/// on the wire (this crate does not depend on core; core maps its enum onto this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Identifier {
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
}

/// How one field is treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRule {
    /// The field's name.
    pub name: String,
    /// `Some(kind)` for a direct identifier, `None` for health information or untagged data.
    pub identifier: Option<Identifier>,
    /// Free text: passed through the scrubber.
    pub free_text: bool,
}

/// The 17 three-digit ZIP prefixes with 20,000 or fewer people (HHS guidance, 2000 Census).
pub const RESTRICTED_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893",
];

/// How dates are treated.
#[derive(Clone, Default)]
pub enum DateMode {
    /// Safe Harbor: keep the year only.
    #[default]
    YearOnly,
    /// Shift every date of a subject by the same keyed offset of up to `max_days` days,
    /// keeping intervals. **Not Safe Harbor**: shifted dates are still date elements; use it
    /// only under an expert determination or a limited data set agreement.
    Shift {
        /// The shift key.
        key: [u8; 32],
        /// The largest offset in days.
        max_days: u16,
    },
}

impl std::fmt::Debug for DateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DateMode::YearOnly => f.write_str("YearOnly"),
            DateMode::Shift { max_days, .. } => write!(f, "Shift {{ max_days: {max_days} }}"),
        }
    }
}

/// Record transform settings.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Date handling.
    pub dates: DateMode,
    /// The year ages are computed against (the export's year; passed in, never read from a
    /// clock here). Birth years more than 89 years before it become "90 or older".
    pub reference_year: i32,
    /// Restricted ZIP3 prefixes (default [`RESTRICTED_ZIP3`]; newer Census data supersedes it).
    pub restricted_zip3: Vec<String>,
}

impl RecordOptions {
    /// Safe Harbor defaults for an export made in `reference_year`.
    pub fn safe_harbor(reference_year: i32) -> RecordOptions {
        RecordOptions {
            dates: DateMode::YearOnly,
            reference_year,
            restricted_zip3: RESTRICTED_ZIP3.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Which method produced a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// 164.514(b)(2) Safe Harbor.
    SafeHarbor,
    /// Dates shifted per subject: **not** Safe Harbor.
    DateShiftedNotSafeHarbor,
}

/// The text an age over 89 is folded into.
pub const NINETY_OR_OLDER: &str = "90 or older";

/// ZIP code to three digits, or `000` for restricted prefixes. `None` if it is not a ZIP.
pub fn zip3(zip: &str, restricted: &[String]) -> Option<String> {
    let z = zip.trim();
    let digits: String = z.chars().take_while(char::is_ascii_digit).collect();
    let shaped = digits.len() == 5
        && (z.len() == 5
            || (z.len() == 10
                && z.as_bytes()[5] == b'-'
                && z[6..].bytes().all(|c| c.is_ascii_digit())));
    if !shaped {
        return None;
    }
    let p = &digits[..3];
    Some(if restricted.iter().any(|r| r == p) {
        "000".to_owned()
    } else {
        p.to_owned()
    })
}

/// Folds an age: ages over 89 become [`NINETY_OR_OLDER`].
pub fn fold_age(age: i64) -> Value {
    if age > 89 {
        Value::String(NINETY_OR_OLDER.to_owned())
    } else {
        Value::from(age)
    }
}

/// The year of a `YYYY-MM-DD…` or `MM/DD/YYYY` date.
pub fn year_of(date: &str) -> Option<i32> {
    let d = date.trim();
    if d.len() >= 4
        && d.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && d.as_bytes().get(4).is_none_or(|c| !c.is_ascii_digit())
    {
        return d[..4].parse().ok();
    }
    let last = d.rsplit(['/', '-', '.', ' ']).next()?;
    if last.len() == 4 && last.bytes().all(|c| c.is_ascii_digit()) {
        return last.parse().ok();
    }
    None
}

pub(crate) fn is_state(v: &str) -> bool {
    let v = v.trim();
    let codes = crate::patterns::STATE_CODES;
    let names = crate::patterns::STATE_NAMES;
    (v.len() == 2 && codes.split('|').any(|c| c.eq_ignore_ascii_case(v)))
        || names.split('|').any(|n| n.eq_ignore_ascii_case(v))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Shifts an ISO `YYYY-MM-DD` date (any suffix such as a time is dropped) by `days`.
pub fn shift_iso_date(date: &str, days: i32) -> Option<String> {
    let d = date.trim();
    let b = d.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = d.get(..4)?.parse().ok()?;
    let m: i64 = d.get(5..7)?.parse().ok()?;
    let dd: i64 = d.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return None;
    }
    let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, dd) + i64::from(days));
    Some(format!("{y2:04}-{m2:02}-{d2:02}"))
}

/// De-identifies one record (a JSON object) of `subject` under `rules`. Fields without a rule
/// are dropped (an unknown field could be anything). Returns the new record and the method.
pub fn deidentify_record(
    record: &Value,
    subject: &str,
    rules: &[FieldRule],
    options: &RecordOptions,
    scrubber: &Scrubber,
) -> Result<(Map<String, Value>, Method), DeidError> {
    let obj = record.as_object().ok_or(DeidError::NotAnObject)?;
    let mut out = Map::new();
    let method = match options.dates {
        DateMode::YearOnly => Method::SafeHarbor,
        DateMode::Shift { .. } => Method::DateShiftedNotSafeHarbor,
    };
    for rule in rules {
        let Some(v) = obj.get(&rule.name) else {
            continue;
        };
        if let Some(nv) = transform_field(v, &rule.name, rule, subject, options, scrubber) {
            out.insert(rule.name.clone(), nv);
        }
    }
    Ok((out, method))
}

fn transform_field(
    v: &Value,
    name: &str,
    rule: &FieldRule,
    subject: &str,
    options: &RecordOptions,
    scrubber: &Scrubber,
) -> Option<Value> {
    use Identifier as I;
    match rule.identifier {
        None => match v {
            Value::String(s) if rule.free_text => Some(Value::String(scrubber.scrub(s))),
            Value::Object(_) | Value::Array(_) => Some(scrub_deep(v, scrubber)),
            other => Some(other.clone()),
        },
        Some(I::Date) => match v {
            // An integer tagged as a date element is an age.
            Value::Number(n) => n.as_i64().map(fold_age),
            Value::String(s) => {
                let birth = {
                    let l = name.to_ascii_lowercase();
                    l.contains("birth") || l.contains("dob")
                };
                match &options.dates {
                    DateMode::Shift { key, max_days } => {
                        let days = date_shift_days(key, subject, *max_days);
                        shift_iso_date(s, days).map(Value::String)
                    }
                    DateMode::YearOnly => {
                        let y = year_of(s)?;
                        if birth && options.reference_year - y > 89 {
                            Some(Value::String(NINETY_OR_OLDER.to_owned()))
                        } else {
                            Some(Value::from(y))
                        }
                    }
                }
            }
            _ => None,
        },
        Some(I::Geographic) => match v {
            Value::String(s) => {
                if let Some(z) = zip3(s, &options.restricted_zip3) {
                    Some(Value::String(z))
                } else if is_state(s) {
                    Some(Value::String(s.trim().to_owned()))
                } else {
                    None
                }
            }
            Value::Number(n) => {
                let s = format!("{:05}", n.as_u64()?);
                zip3(&s, &options.restricted_zip3).map(Value::String)
            }
            _ => None,
        },
        // Every other identifier kind is removed outright.
        Some(_) => None,
    }
}

/// Scrubs every string inside a JSON value.
pub fn scrub_deep(v: &Value, scrubber: &Scrubber) -> Value {
    match v {
        Value::String(s) => Value::String(scrubber.scrub(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub_deep(x, scrubber)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), scrub_deep(x, scrubber)))
                .collect(),
        ),
        other => other.clone(),
    }
}
