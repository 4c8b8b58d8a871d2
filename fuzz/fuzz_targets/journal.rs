//! The point-in-time journal segment reader, on arbitrary file contents.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = phivault_store_sqlite::journal::parse_segment(bytes);
});
