//! The backup manifest reader, on arbitrary file contents from a backup location.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = phivault_core::backup::BackupManifest::parse(bytes);
});
