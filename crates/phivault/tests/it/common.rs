//! Helpers shared by the integration tests: running the `phivault` binary on a data directory
//! of its own, a `serve` child, HTTPS clients trusting a vault, backup and restore commands.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

mod server;

pub(crate) use server::{Server, bench_records, free_port, https_client, seed_notes};

/// How often and how many times (30 s) to poll a child.
pub(crate) const POLL: Duration = Duration::from_millis(100);
pub(crate) const POLLS: usize = 300;

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
    run_cmd(phivault(), dir, args)
}

/// Runs `cmd` (the binary, with its environment adjusted) on `dir` with `args`.
pub(crate) fn run_cmd(mut cmd: Command, dir: &Path, args: &[&str]) -> Output {
    cmd.arg("--data-dir").arg(dir).args(args).output().unwrap()
}

/// `backup create --to TO --json` on `dir`.
pub(crate) fn backup_create(dir: &Path, to: &Path) -> Output {
    run(
        dir,
        &["backup", "create", "--to", to.to_str().unwrap(), "--json"],
    )
}

/// `backup restore FROM --to TO EXTRA…` on `dir`.
pub(crate) fn restore(dir: &Path, from: &Path, to: &Path, extra: &[&str]) -> Output {
    restore_with(phivault(), dir, from, to, extra)
}

/// `backup restore FROM --to TO EXTRA…` on `dir`, run by `cmd`.
pub(crate) fn restore_with(
    cmd: Command,
    dir: &Path,
    from: &Path,
    to: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "backup",
        "restore",
        from.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_cmd(cmd, dir, &args)
}

/// Copies the tree below `from` to `to`.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
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

/// The purpose of use every record request in these tests states.
pub(crate) const PURPOSE: &str = "TREAT";

/// Every data action, for a role that may do anything with records.
pub(crate) const ALL_ACTIONS: [&str; 7] = [
    "read", "create", "update", "delete", "search", "history", "export",
];

/// `grant add --role ROLE` on every collection and field, for every subject, for
/// treatment, with `actions`; creates the custom role if it is missing.
pub(crate) fn grant(dir: &Path, role: &str, actions: &[&str]) {
    let mut args = vec!["grant", "add", "--role", role, "--collection", "*"];
    for a in actions {
        args.extend_from_slice(&["--action", a]);
    }
    args.extend_from_slice(&["--field", "*", "--subjects", "all", "--purpose", PURPOSE]);
    let o = run(dir, &args);
    assert!(o.status.success(), "{}", text(&o));
}

/// `service-account create NAME --json` holding `roles`; returns the account's id.
pub(crate) fn service_account(dir: &Path, name: &str, roles: &[&str]) -> String {
    let mut args = vec!["service-account", "create", name];
    for r in roles {
        args.extend_from_slice(&["--role", r]);
    }
    args.push("--json");
    let v = json_out(&run(dir, &args));
    assert_eq!(v["username"], name);
    assert_eq!(v["kind"], "service");
    v["id"].as_str().unwrap().to_owned()
}

/// The bootstrap admin token manages the vault but reads no record, so tests that write
/// records get an application token: the custom role `app-all` (every action on every
/// record, for treatment), the service account `app` holding it, and a token of `app`
/// carrying it. Returns the token.
pub(crate) fn app_token(dir: &Path) -> String {
    grant(dir, "app-all", &ALL_ACTIONS);
    service_account(dir, "app", &["app-all"]);
    let v = json_out(&run(
        dir,
        &[
            "token", "create", "--owner", "app", "--name", "t", "--role", "app-all", "--json",
        ],
    ));
    assert_eq!(v["roles"], serde_json::json!(["app-all"]));
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(is_token(&token), "{token}");
    token
}

/// Whether `s` has the documented token shape `pvt_` + 49 base62 characters.
pub(crate) fn is_token(s: &str) -> bool {
    s.len() == 53 && s.starts_with("pvt_") && s.bytes().skip(4).all(|c| c.is_ascii_alphanumeric())
}

/// A data directory `TMP/vault` made by `phivault init` with an application token, and the
/// paths `TMP/backups` and `TMP/logs`: `(vault, backups, logs, admin token, app token)`.
pub(crate) fn app_vault(tmp: &TempDir) -> (PathBuf, PathBuf, PathBuf, String, String) {
    let (vault, backups, logs) = (
        tmp.path().join("vault"),
        tmp.path().join("backups"),
        tmp.path().join("logs"),
    );
    let admin = init(&vault);
    let token = app_token(&vault);
    (vault, backups, logs, admin, token)
}

/// The vault of a data directory made by `phivault init`, opened in process.
pub(crate) fn open_dir(dir: &Path) -> phivault_core::Vault {
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
