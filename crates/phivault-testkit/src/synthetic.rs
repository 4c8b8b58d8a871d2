//! Synthetic PHI for tests: realistic-looking but invented patients, built from a seed so
//! that runs repeat. No value here belongs to a real person; SSNs use the never-issued 9xx
//! area and phone numbers the fictional 555-01xx range.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

const GIVEN: [&str; 12] = [
    "Avery",
    "Jordan",
    "Rowan",
    "Morgan",
    "Quinn",
    "Elliot",
    "Harper",
    "Sasha",
    "Imani",
    "Kenji",
    "Lucía",
    "Oluwaseun",
];
const FAMILY: [&str; 12] = [
    "Okafor",
    "Lindqvist",
    "Haddad",
    "Nakamura",
    "Fairweather",
    "Moreau",
    "Castellano",
    "Abernathy",
    "Petrov",
    "Mbeki",
    "Oyelaran",
    "Thorsdottir",
];

/// The collection schema matching [`patient`], as JSON for the API.
pub fn patient_schema(name: &str) -> Value {
    json!({
        "name": name,
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
            {"name": "mrn", "type": "string", "sensitivity": {"class": "phi", "identifier": "medical_record_number"}, "searchable": true},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "phone", "type": "string", "sensitivity": {"class": "phi", "identifier": "phone"}},
            {"name": "age", "type": "integer", "sensitivity": {"class": "health"}},
            {"name": "weight_kg", "type": "decimal", "sensitivity": {"class": "health"}},
            {"name": "diagnosis", "type": "text", "sensitivity": {"class": "health"}},
            {"name": "smoker", "type": "boolean", "sensitivity": {"class": "health"}},
            {"name": "vitals", "type": "object", "sensitivity": {"class": "health"}},
            {"name": "allergies", "type": "array", "sensitivity": {"class": "health"}}
        ]
    })
}

/// A deterministic generator of synthetic patients.
#[derive(Debug)]
pub struct Synth {
    rng: StdRng,
}

impl Synth {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// One synthetic patient matching [`patient_schema`].
    pub fn patient(&mut self) -> Value {
        let r = &mut self.rng;
        let name = format!(
            "{} {}",
            GIVEN[r.random_range(0..GIVEN.len())],
            FAMILY[r.random_range(0..FAMILY.len())]
        );
        json!({
            "full_name": name,
            "ssn": format!("9{:02}-{:02}-{:04}", r.random_range(0..100), r.random_range(1..100), r.random_range(1..10000)),
            "mrn": format!("MRN{:08}", r.random_range(0..100_000_000u32)),
            "birth_date": format!("{}-{:02}-{:02}", r.random_range(1930..2020), r.random_range(1..13), r.random_range(1..29)),
            "phone": format!("+1-202-555-01{:02}", r.random_range(0..100)),
            "age": r.random_range(0..100),
            "weight_kg": f64::from(r.random_range(300..1500u32)) / 10.0,
            "diagnosis": "Type 2 diabetes mellitus without complications; follow up in 3 months.",
            "smoker": r.random_bool(0.2),
            "vitals": {"bp": "120/80", "hr": r.random_range(50..110)},
            "allergies": ["penicillin"]
        })
    }

    /// A payload of about `bytes` bytes (for throughput tests): a patient with padded notes.
    pub fn patient_of_size(&mut self, bytes: usize) -> Value {
        let mut p = self.patient();
        let current = p.to_string().len();
        if current < bytes {
            p["diagnosis"] = Value::String("x".repeat(bytes - current + 70));
        }
        p
    }
}
