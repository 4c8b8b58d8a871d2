//! The bearer-token parser, on arbitrary header text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = phivault_crypto::parse_token(text, "pvt");
    let _ = phivault_crypto::parse_token(text, "pvs");
});
