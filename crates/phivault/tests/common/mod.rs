//! Helpers shared by the integration tests that drive the `phivault` binary on a data
//! directory of their own.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

/// The passphrase of every test data directory.
pub(crate) const PASSPHRASE: &str = "integration test passphrase 7f3a";

/// Runs the binary on `dir` with `args`, with only the test passphrase and a fast KDF
/// from the environment.
pub(crate) fn phivault_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_phivault"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PHIVAULT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PHIVAULT_PASSPHRASE", PASSPHRASE)
        .env("PHIVAULT_INSECURE_FAST_KDF", "1")
        .stdin(std::process::Stdio::null())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The vault of a data directory made by `phivault init`, opened in process.
pub(crate) fn open_dir(dir: &std::path::Path) -> phivault_core::Vault {
    use phivault_core::crypto::Keyring;
    use phivault_store_sqlite::{SqliteOptions, SqliteStore};
    let keyring = Keyring::open(
        &std::fs::read(dir.join("keyring.json")).unwrap(),
        PASSPHRASE.as_bytes(),
    )
    .unwrap();
    let store = SqliteStore::open(&dir.join("phivault.db"), SqliteOptions::default()).unwrap();
    phivault_core::Vault::new(
        Arc::new(store),
        keyring,
        Arc::new(phivault_core::SystemClock),
        phivault_core::VaultConfig::default(),
    )
}
