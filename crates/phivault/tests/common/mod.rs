//! Helpers shared by the integration tests that drive the `phivault` binary on a data
//! directory of their own.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use serde_json::Value;

/// The passphrase of every test data directory.
pub(crate) const PASSPHRASE: &str = "integration test passphrase 7f3a";

/// The binary with only the test passphrase and a fast KDF from the environment.
pub(crate) fn phivault() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phivault"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PHIVAULT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PHIVAULT_PASSPHRASE", PASSPHRASE)
        .env("PHIVAULT_INSECURE_FAST_KDF", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs the binary on `dir` with `args`.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Output {
    phivault()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Status, stdout and stderr, for assertion messages.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON a successful `--json` command printed.
#[track_caller]
pub(crate) fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// A clean failure: exit code 1 or 2 (never a panic), with the output returned.
#[track_caller]
pub(crate) fn failed(o: &Output) -> String {
    let code = o.status.code();
    assert!(
        code.is_some_and(|c| c == 1 || c == 2),
        "expected a clean failure: {}",
        text(o)
    );
    assert!(!text(o).contains("panicked"), "{}", text(o));
    text(o)
}

/// Initialises a data directory and returns its bootstrap admin token.
pub(crate) fn init(dir: &Path) -> String {
    json_out(&run(dir, &["init", "--json"]))["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A token of a service account that may do anything to any record for treatment.
pub(crate) fn app_token(dir: &Path) -> String {
    let mut args = vec!["grant", "add", "--role", "app-all", "--collection", "*"];
    for a in [
        "read", "create", "update", "delete", "search", "history", "export",
    ] {
        args.extend_from_slice(&["--action", a]);
    }
    args.extend_from_slice(&["--field", "*", "--subjects", "all", "--purpose", "TREAT"]);
    let o = run(dir, &args);
    assert!(o.status.success(), "{}", text(&o));
    json_out(&run(
        dir,
        &[
            "service-account",
            "create",
            "app",
            "--role",
            "app-all",
            "--json",
        ],
    ));
    json_out(&run(
        dir,
        &[
            "token", "create", "--owner", "app", "--name", "t", "--role", "app-all", "--json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned()
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
