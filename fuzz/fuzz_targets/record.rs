//! Record validation against a schema with every field type, on arbitrary JSON bodies.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phivault_core::CollectionSchema;
use phivault_core::validate::validate_record;

fn schema() -> &'static CollectionSchema {
    static SCHEMA: OnceLock<CollectionSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../crates/phivault-core/tests/data/every-field-type.json"
        ))
        .unwrap_or_else(|e| panic!("fuzz schema: {e}"))
    })
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = validate_record(schema(), value);
    }
});
