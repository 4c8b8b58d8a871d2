//! End-to-end tests of the `phivault` binary: every test runs the real executable against a
//! throwaway data directory (`init`, `token`, `audit verify`, `keys rotate`) and, where a
//! server is needed, starts `phivault serve` on a free loopback port, talks to it over
//! HTTPS with `phivault_client` (trusting the vault's own certificate) and kills it when the
//! test ends. The canary test at the bottom is the one that matters most: distinctive PHI
//! values go in through every door, and must come out only through a successful read —
//! never in the database file, its WAL, the server's debug log or an error body.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use phivault_client::api::{Collection, Record};
use phivault_client::{Client, ClientError};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const PASSPHRASE: &str = "integration test passphrase 7f3a";

/// How long to wait between polls, and how many polls make a bounded wait (15 s).
const POLL: Duration = Duration::from_millis(100);
const POLLS: usize = 150;

// ----- running the binary ------------------------------------------------------------------

/// `phivault` with a clean `PHIVAULT_*` environment, the test passphrase, the fast (insecure)
/// KDF and no stdin, so nothing can stop at a prompt.
fn phivault() -> Command {
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

/// Runs `phivault --data-dir DIR ARGS…` to completion.
fn run(dir: &Path, args: &[&str]) -> Output {
    run_cmd(phivault(), dir, args)
}

fn run_cmd(mut cmd: Command, dir: &Path, args: &[&str]) -> Output {
    cmd.arg("--data-dir").arg(dir).args(args).output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        out(o),
        err(o)
    );
}

#[track_caller]
fn json_out(o: &Output) -> Value {
    assert_success(o);
    serde_json::from_str(out(o).trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", out(o)))
}

/// Asserts that a command failed the way an operator error should: a non-zero exit code
/// that is not a panic (101) or a signal, an `error:` line, no panic message. Returns
/// stderr.
#[track_caller]
fn assert_clean_failure(o: &Output) -> String {
    let stderr = err(o);
    let code = o.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c != 101),
        "expected a clean failure, got {} \nstdout:\n{}\nstderr:\n{stderr}",
        o.status,
        out(o)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    stderr
}

/// `init --json` in `dir`; returns the bootstrap token.
fn init(dir: &Path) -> String {
    let v = json_out(&run(dir, &["init", "--json"]));
    v["token"].as_str().unwrap().to_owned()
}

/// The purpose of use every record request in these tests states.
const PURPOSE: &str = "TREAT";

/// Every data action, for a role that may do anything with records.
const ALL_ACTIONS: [&str; 7] = [
    "read", "create", "update", "delete", "search", "history", "export",
];

/// `grant add --role ROLE` on every collection and field, for every subject, for
/// treatment, with `actions`; creates the custom role if it is missing.
fn grant(dir: &Path, role: &str, actions: &[&str]) {
    let mut args = vec!["grant", "add", "--role", role, "--collection", "*"];
    for a in actions {
        args.extend_from_slice(&["--action", a]);
    }
    args.extend_from_slice(&["--field", "*", "--subjects", "all", "--purpose", PURPOSE]);
    assert_success(&run(dir, &args));
}

/// `service-account create NAME --json` holding `roles`; returns the account's id.
fn service_account(dir: &Path, name: &str, roles: &[&str]) -> String {
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
fn app_token(dir: &Path) -> String {
    grant(dir, "app-all", &ALL_ACTIONS);
    service_account(dir, "app", &["app-all"]);
    let v = json_out(&run(
        dir,
        &[
            "token", "create", "--owner", "app", "--name", "t", "--role", "app-all", "--json",
        ],
    ));
    assert_eq!(v["roles"], json!(["app-all"]));
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(is_token(&token), "{token}");
    token
}

/// Whether `s` has the documented token shape `pvt_` + 49 base62 characters.
fn is_token(s: &str) -> bool {
    s.len() == 53 && s.starts_with("pvt_") && s.bytes().skip(4).all(|c| c.is_ascii_alphanumeric())
}

/// Every `pvt_…` token in `text`.
fn tokens_in(text: &str) -> Vec<String> {
    text.match_indices("pvt_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Runs a command that is expected to exit by itself (e.g. a `serve` that must refuse to
/// start); kills it and fails the test if it is still running after the bounded wait.
async fn run_to_exit(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..POLLS {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    panic!(
        "the command was expected to exit but kept running\nstdout:\n{}\nstderr:\n{}",
        out(&o),
        err(&o)
    );
}

// ----- a running server --------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `phivault serve` child process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    cert: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Server {
    /// Spawns `cmd` (a `phivault … serve …` command) on a free port, with stdout and stderr
    /// written to `logs/LABEL.stdout|stderr`, and waits until `/healthz` answers over TLS
    /// with the certificate at `cert`.
    async fn start(mut cmd: Command, cert: PathBuf, logs: &Path, label: &str) -> Server {
        fs::create_dir_all(logs).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let stdout = logs.join(format!("{label}.stdout"));
        let stderr = logs.join(format!("{label}.stderr"));
        cmd.arg("--listen")
            .arg(&addr)
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        let child = cmd.spawn().unwrap();
        let mut server = Server {
            child,
            addr,
            cert,
            stdout,
            stderr,
        };
        server.wait_healthy().await;
        server
    }

    /// `phivault --data-dir DIR serve` with the test passphrase.
    async fn serve(dir: &Path, logs: &Path, label: &str) -> Server {
        let mut cmd = phivault();
        cmd.arg("--data-dir").arg(dir).arg("serve");
        Server::start(cmd, dir.join("tls/cert.pem"), logs, label).await
    }

    fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A client sending `token` and no purpose of use (administration).
    fn client(&self, token: &str) -> Client {
        Client::new(
            &self.base_url(),
            Some(token.to_owned()),
            &fs::read(&self.cert).unwrap(),
        )
        .unwrap()
    }

    /// A client sending `token` and stating the purpose of use `TREAT`, as every record
    /// request must.
    fn records_client(&self, token: &str) -> Client {
        self.client(token).with_purpose(PURPOSE)
    }

    /// Everything the process wrote so far, stdout then stderr.
    fn output(&self) -> String {
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        format!("{}{}", read(&self.stdout), read(&self.stderr))
    }

    async fn wait_healthy(&mut self) {
        for _ in 0..POLLS {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited with {status}:\n{}", self.output());
            }
            // The certificate of a `serve --dev` vault appears only once the vault exists.
            if let Ok(pem) = fs::read(&self.cert)
                && let Ok(c) = Client::new(&self.base_url(), None, &pem)
                && c.healthz().await.is_ok()
            {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the server did not become healthy:\n{}", self.output());
    }

    /// Stops the server with SIGTERM and waits (bounded) for it to exit.
    async fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        for _ in 0..POLLS {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the server ignored SIGTERM:\n{}", self.output());
    }
}

/// A plain reqwest client trusting `cert`, for requests the typed client cannot send
/// (malformed bodies, odd headers).
fn raw_http(cert: &Path) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&fs::read(cert).unwrap()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

/// The HTTP status of a failed client call.
fn status_of<T: std::fmt::Debug>(r: Result<T, ClientError>) -> u16 {
    match r {
        Err(ClientError::Api { status, .. }) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn collection(v: Value) -> Collection {
    serde_json::from_value(v).unwrap()
}

/// A small collection: a searchable name, a date and a free-text note.
fn notes_schema(name: &str) -> Collection {
    collection(json!({
        "name": name,
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "note", "type": "text", "sensitivity": {"class": "health"}}
        ]
    }))
}

// ----- 1. init -----------------------------------------------------------------------------

/// Every file below `dir` with its bytes, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = fs::metadata(&p).unwrap().permissions().mode();
                files.push((p.clone(), fs::read(&p).unwrap(), mode));
            }
        }
    }
    files.sort();
    files
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn init_creates_an_owner_only_vault_prints_its_token_once_and_never_reinitialises() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");

    let o = run(&dir, &["init", "--json"]);
    let v = json_out(&o);
    let token = v["token"].as_str().unwrap();
    assert!(is_token(token), "{token}");
    assert_eq!(
        tokens_in(&out(&o)),
        [token],
        "the token is printed exactly once"
    );
    assert!(tokens_in(&err(&o)).is_empty(), "{}", err(&o));
    Uuid::parse_str(v["token_id"].as_str().unwrap()).unwrap();

    for f in [
        "phivault.toml",
        "keyring.json",
        "phivault.db",
        "tls/cert.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(mode(&dir.join("keyring.json")), 0o600);
    assert_eq!(mode(&dir.join("phivault.toml")), 0o600);
    assert_eq!(mode(&dir.join("phivault.db")), 0o600);
    assert_eq!(mode(&dir.join("tls/key.pem")), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let cert = fs::read_to_string(dir.join("tls/cert.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    let config: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("phivault.toml")).unwrap()).unwrap();
    assert_eq!(config["storage"].as_str(), Some("sqlite:phivault.db"));

    // The bootstrap token belongs to a service account and carries the `admin` role
    // alone (administration, no PHI), and the offline commands can open the vault.
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], v["token_id"]);
    assert_eq!(list[0]["roles"], json!(["admin"]));
    assert!(list[0]["last_used_at"].is_null(), "{}", list[0]);
    let users = json_out(&run(&dir, &["user", "list", "--json"]));
    let owner = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == list[0]["owner"])
        .unwrap_or_else(|| panic!("the token's owner is not listed: {users}"));
    assert_eq!(owner["kind"], "service");
    assert_eq!(owner["roles"], json!(["admin"]));

    // The text form prints the token once as well, and nothing secret on stderr.
    let dir2 = tmp.path().join("vault2");
    let o = run(&dir2, &["init"]);
    assert_success(&o);
    assert_eq!(tokens_in(&out(&o)).len(), 1, "{}", out(&o));
    assert!(is_token(&tokens_in(&out(&o))[0]));
    assert!(tokens_in(&err(&o)).is_empty());

    // A second init refuses, and touches nothing.
    let before = snapshot(&dir);
    for args in [&["init"][..], &["init", "--json"]] {
        let o = run(&dir, args);
        let e = assert_clean_failure(&o);
        assert!(e.contains("already holds a vault"), "{e}");
        assert!(tokens_in(&out(&o)).is_empty());
    }
    assert!(
        snapshot(&dir) == before,
        "a refused init changed the data directory"
    );

    // Even with its config gone (lost, or an init interrupted), a directory holding a
    // keyring and database is not re-initialised: a new keyring would orphan every key.
    let config_path = dir.join("phivault.toml");
    let config_bytes = fs::read(&config_path).unwrap();
    fs::remove_file(&config_path).unwrap();
    let before = snapshot(&dir);
    let o = run(&dir, &["init", "--json"]);
    let e = assert_clean_failure(&o);
    assert!(e.contains("already holds a vault"), "{e}");
    assert!(tokens_in(&out(&o)).is_empty());
    assert!(
        snapshot(&dir) == before,
        "init overwrote a vault whose config was missing"
    );
    fs::write(&config_path, config_bytes).unwrap();
    fs::set_permissions(&config_path, fs::Permissions::from_mode(0o600)).unwrap();

    // A keyring readable by others is refused, with the fix in the message.
    let keyring = dir.join("keyring.json");
    fs::set_permissions(&keyring, fs::Permissions::from_mode(0o644)).unwrap();
    let e = assert_clean_failure(&run(&dir, &["token", "list"]));
    assert!(e.contains("readable by other users"), "{e}");
    assert!(e.contains("chmod 600"), "{e}");
    let e = assert_clean_failure(&run(&dir, &["keys", "rotate"]));
    assert!(e.contains("readable by other users"), "{e}");
    fs::set_permissions(&keyring, fs::Permissions::from_mode(0o600)).unwrap();
    assert_success(&run(&dir, &["token", "list"]));

    // A wrong passphrase is named as such, not a panic and not a vague failure.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", "not the passphrase");
    let e = assert_clean_failure(&run_cmd(cmd, &dir, &["token", "list"]));
    assert!(e.contains("passphrase") && e.contains("keyring"), "{e}");
}

#[tokio::test]
async fn init_seals_the_keyring_with_the_recommended_argon2id_parameters_by_default() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let mut cmd = phivault();
    cmd.env_remove("PHIVAULT_INSECURE_FAST_KDF");
    assert_success(&run_cmd(cmd, &dir, &["init", "--json"]));
    let keyring: Value =
        serde_json::from_slice(&fs::read(dir.join("keyring.json")).unwrap()).unwrap();
    assert_eq!(
        keyring["kdf"]["alg"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("argon2id")
    );
    assert_eq!(keyring["kdf"]["m_cost_kib"], 64 * 1024);
    assert_eq!(keyring["kdf"]["t_cost"], 3);
    // The keyring opens again with the same passphrase (the parameters come from the header).
    assert_success(&run(&dir, &["token", "list"]));
}

// ----- 2. tokens ---------------------------------------------------------------------------

fn rfc3339(v: &Value) -> OffsetDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

#[tokio::test]
async fn tokens_are_created_listed_without_secrets_revoked_and_refused_by_the_server() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    // Tokens belong to a service account and carry roles it holds: here a custom read-only
    // role and the built-in auditor role.
    grant(&dir, "reader", &["read", "search"]);
    let app_id = service_account(&dir, "app", &["reader", "auditor"]);

    let created = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "reader", "--role", "reader", "--ttl",
            "1d", "--json",
        ],
    ));
    let reader = created["token"].as_str().unwrap().to_owned();
    let reader_id = created["id"].as_str().unwrap().to_owned();
    assert!(is_token(&reader));
    assert_eq!(created["roles"], json!(["reader"]));
    assert_eq!(created["owner"], app_id.as_str());

    let doomed = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "doomed", "--role", "reader", "--json",
        ],
    ));
    let doomed_secret = doomed["token"].as_str().unwrap().to_owned();
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();

    // The text form prints the secret alone on stdout (for `$(…)`), the rest on stderr.
    let o = run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "texty", "--role", "auditor",
        ],
    );
    assert_success(&o);
    assert!(is_token(out(&o).trim()), "{}", out(&o));
    assert!(tokens_in(&err(&o)).is_empty());
    let texty = out(&o).trim().to_owned();

    let o = run(&dir, &["token", "list", "--json"]);
    let list = json_out(&o);
    for secret in [&admin, &reader, &doomed_secret, &texty] {
        assert!(
            !out(&o).contains(secret.as_str()),
            "token list printed a secret"
        );
    }
    assert!(tokens_in(&out(&o)).is_empty(), "{}", out(&o));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    let entry = list.iter().find(|t| t["id"] == reader_id.as_str()).unwrap();
    assert_eq!(entry["name"], "reader");
    assert_eq!(entry["roles"], json!(["reader"]));
    assert_eq!(entry["owner"], app_id.as_str());
    assert!(entry["revoked_at"].is_null());
    assert!(entry["last_used_at"].is_null(), "{entry}");
    let texty_entry = list.iter().find(|t| t["name"] == "texty").unwrap();
    assert_eq!(texty_entry["roles"], json!(["auditor"]));
    let texty_id = texty_entry["id"].as_str().unwrap().to_owned();
    // Times are RFC 3339, and --ttl 1d means one day.
    let lifetime = rfc3339(&entry["expires_at"]) - rfc3339(&entry["created_at"]);
    assert_eq!(lifetime, time::Duration::days(1));
    assert_eq!(
        rfc3339(&created["expires_at"]),
        rfc3339(&entry["expires_at"])
    );
    let text = out(&run(&dir, &["token", "list"]));
    assert!(tokens_in(&text).is_empty(), "{text}");
    assert!(text.contains(&reader_id), "{text}");

    let o = run(&dir, &["token", "revoke", &doomed_id, "--json"]);
    assert_eq!(json_out(&o)["revoked"], doomed_id.as_str());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == doomed_id.as_str())
        .unwrap()
        .clone();
    rfc3339(&entry["revoked_at"]);

    // Operator errors fail cleanly and issue nothing: an unknown role, a role the account
    // does not hold (no escalation through a token), an unknown account, bad lifetimes.
    let bad: &[&[&str]] = &[
        &["--owner", "app", "--role", "nosuchrole"],
        &["--owner", "app", "--role", "admin"],
        &["--owner", "app", "--role", "reader", "--role", "admin"],
        &["--owner", "nosuchaccount", "--role", "reader"],
        &["--owner", "app", "--role", "reader", "--ttl", "400d"],
        &["--owner", "app", "--role", "reader", "--ttl", "0d"],
        &["--owner", "app", "--role", "reader", "--ttl", "-1d"],
        &["--owner", "app", "--role", "reader", "--ttl", "10x"],
        &["--owner", "app", "--role", "reader", "--ttl", "5µ"],
        &[
            "--owner",
            "app",
            "--role",
            "reader",
            "--ttl",
            "99999999999999999d",
        ],
        &[
            "--owner",
            "app",
            "--role",
            "reader",
            "--ttl",
            "999999999999999d",
        ],
        &["--owner", "app", "--role", "reader", "--ttl", ""],
    ];
    for extra in bad {
        let mut args = vec!["token", "create", "--name", "bad"];
        args.extend_from_slice(extra);
        let o = run(&dir, &args);
        let e = assert_clean_failure(&o);
        assert!(tokens_in(&out(&o)).is_empty(), "{extra:?} printed a token");
        if extra.contains(&"nosuchrole") {
            // A name that is no role at all is reported as such, not as an escalation.
            assert!(e.contains("unknown_role"), "{e}");
        }
        if extra.contains(&"admin") {
            assert!(e.contains("deny:role_escalation"), "{e}");
        }
        if extra.contains(&"400d") {
            assert!(e.contains("ttl"), "{e}");
        }
    }
    // Roles are resolved where an account is given them: an unknown one is named.
    let e = assert_clean_failure(&run(
        &dir,
        &["service-account", "create", "ghost", "--role", "nosuchrole"],
    ));
    assert!(e.contains("unknown_role"), "{e}");
    let users = out(&run(&dir, &["user", "list", "--json"]));
    assert!(!users.contains("ghost"), "{users}");
    let e = assert_clean_failure(&run(&dir, &["token", "revoke", "not-a-uuid"]));
    assert!(!e.is_empty());
    // A revoked token cannot be rotated back to life.
    let o = run(&dir, &["token", "rotate", &doomed_id]);
    assert_clean_failure(&o);
    assert!(tokens_in(&out(&o)).is_empty());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    assert_eq!(
        list.as_array().unwrap().len(),
        4,
        "a refused create issued a token"
    );

    // Rotation issues a new secret with the same owner and roles and revokes the old one.
    let o = run(&dir, &["token", "rotate", &texty_id, "--json"]);
    let rotated = json_out(&o);
    assert_eq!(tokens_in(&out(&o)).len(), 1, "{}", out(&o));
    let texty2 = rotated["token"].as_str().unwrap().to_owned();
    assert!(is_token(&texty2));
    assert_ne!(texty2, texty);
    assert_ne!(rotated["id"], texty_id.as_str());
    assert_eq!(rotated["roles"], json!(["auditor"]));
    assert_eq!(rotated["owner"], app_id.as_str());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5);
    let old = list.iter().find(|t| t["id"] == texty_id.as_str()).unwrap();
    rfc3339(&old["revoked_at"]);

    // The server honours all of it: a live token works, a revoked one gets 401, and a
    // revocation by the CLI takes effect on the running server at once.
    let server = Server::serve(&dir, &logs, "serve").await;
    let c = server.client(&admin);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    assert_eq!(
        server
            .records_client(&reader)
            .list_collections()
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        server
            .records_client(&reader)
            .search("notes", "full_name", json!("A B"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        status_of(
            server
                .records_client(&doomed_secret)
                .list_collections()
                .await
        ),
        401
    );
    // The rotated-out secret is dead; its successor carries the auditor role.
    assert_eq!(status_of(server.client(&texty).verify_audit().await), 401);
    assert!(server.client(&texty2).verify_audit().await.unwrap().ok);
    // A read-only token may not write.
    let r = server
        .records_client(&reader)
        .create_record("notes", "s-1", json!({"full_name": "A B"}))
        .await;
    assert_eq!(status_of(r), 403);
    // Nor may an administrator hand a token a role its account does not hold.
    let r = c
        .create_token("app", "escalate", &["admin".to_owned()], 3600)
        .await;
    assert_eq!(status_of(r), 403);
    // The CLI sees the server's use of a token.
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == reader_id.as_str())
        .unwrap()
        .clone();
    rfc3339(&entry["last_used_at"]);

    assert_success(&run(&dir, &["token", "revoke", &reader_id]));
    assert_eq!(
        status_of(server.records_client(&reader).list_collections().await),
        401
    );
    assert!(c.list_collections().await.is_ok());
    assert!(server.stop().await.success());
}

// ----- 3. serve --dev ----------------------------------------------------------------------

/// The value after `label` on a banner line such as `  passphrase:     abc`.
fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{banner}"))
        .trim()
        .to_owned()
}

async fn start_dev(cwd: &Path, logs: &Path, label: &str) -> Server {
    let mut cmd = phivault();
    // The dev vault never needs the operator's passphrase.
    cmd.env_remove("PHIVAULT_PASSPHRASE")
        .current_dir(cwd)
        .args(["serve", "--dev"]);
    Server::start(cmd, cwd.join(".phivault-dev/tls/cert.pem"), logs, label).await
}

#[tokio::test]
async fn serve_dev_creates_a_reusable_development_vault_and_serves_https_only() {
    let tmp = TempDir::new().unwrap();
    let cwd = tmp.path().join("project");
    fs::create_dir(&cwd).unwrap();
    let logs = tmp.path().join("logs");
    let dev_dir = cwd.join(".phivault-dev");

    let server = start_dev(&cwd, &logs, "dev1").await;
    let banner = server.output();
    assert!(banner.contains("DEVELOPMENT VAULT"), "{banner}");
    assert!(banner.contains("NOT FOR REAL PATIENT DATA"), "{banner}");
    let pass = banner_value(&banner, "passphrase:");
    let token = banner_value(&banner, "API token:");
    assert!(pass.len() >= 32, "{pass}");
    assert!(is_token(&token), "{token}");
    assert_eq!(
        fs::read_to_string(dev_dir.join("DEV-ONLY-PASSPHRASE"))
            .unwrap()
            .trim(),
        pass
    );
    assert_eq!(mode(&dev_dir.join("DEV-ONLY-PASSPHRASE")), 0o600);
    assert_eq!(mode(&dev_dir.join("keyring.json")), 0o600);

    // The printed token works over HTTPS: it administers the vault and, in development
    // only, also reads and writes every record (with a purpose of use, as always).
    let c = server.client(&token);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    let rec = server
        .records_client(&token)
        .create_record(
            "notes",
            "dev-subject-1",
            json!({"full_name": "Rowan Haddad", "note": "kept"}),
        )
        .await
        .unwrap();
    // The printed passphrase opens the keyring for the offline commands.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", &pass);
    assert_success(&run_cmd(cmd, &dev_dir, &["token", "list"]));

    // Plain HTTP on the port gets no HTTP answer (there is no plaintext listener).
    plain_http_gets_no_http_response(&server.addr, "/healthz").await;
    assert!(
        c.healthz().await.is_ok(),
        "the server survives a plaintext request"
    );

    assert!(server.stop().await.success());

    // A restart reuses the vault: same passphrase, a new token, the old data.
    let server = start_dev(&cwd, &logs, "dev2").await;
    let banner = server.output();
    assert!(banner.contains("DEVELOPMENT VAULT"), "{banner}");
    assert_eq!(banner_value(&banner, "passphrase:"), pass);
    let token2 = banner_value(&banner, "API token:");
    assert!(is_token(&token2));
    assert_ne!(token2, token, "a restart prints a fresh token");
    let again = server
        .records_client(&token2)
        .get_record("notes", rec.id)
        .await
        .unwrap();
    assert_eq!(again, rec);
    assert!(server.stop().await.success());

    // `serve` without --dev refuses the development vault, even with its passphrase.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", &pass)
        .arg("--data-dir")
        .arg(&dev_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())]);
    let o = run_to_exit(cmd).await;
    let e = assert_clean_failure(&o);
    assert!(e.contains("development vault"), "{e}");
}

/// Sends a plaintext HTTP request to a TLS port and asserts that no HTTP response comes
/// back (the connection is closed, answered with a TLS alert, or left silent).
async fn plain_http_gets_no_http_response(addr: &str, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("HTTP/"),
        "plaintext HTTP got an HTTP answer: {text:?}"
    );
}

// ----- 4. audit verify ---------------------------------------------------------------------

#[tokio::test]
async fn audit_verify_passes_a_healthy_log_and_names_a_tampered_entry() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);
    // Reading the audit log takes the auditor role, which neither admin nor app holds.
    service_account(&dir, "audit", &["auditor"]);
    let auditor = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "audit", "--name", "r", "--role", "auditor", "--json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Server traffic, allowed and refused, lands in the same chain.
    let server = Server::serve(&dir, &logs, "serve").await;
    let c = server.client(&admin);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    let a = server.records_client(&app);
    let rec = a
        .create_record("notes", "s-1", json!({"full_name": "Quinn Moreau"}))
        .await
        .unwrap();
    a.get_record("notes", rec.id).await.unwrap();
    let bad = a.create_record("notes", "s-1", json!({"nope": 1})).await;
    assert_eq!(status_of(bad), 422);
    assert_eq!(
        status_of(server.client("pvt_nonsense").list_collections().await),
        401
    );
    assert!(server.client(&auditor).verify_audit().await.unwrap().ok);
    assert!(server.stop().await.success());

    let o = run(&dir, &["audit", "verify"]);
    assert_success(&o);
    assert!(out(&o).contains("audit log OK"), "{}", out(&o));
    let report = json_out(&run(&dir, &["audit", "verify", "--json"]));
    assert_eq!(report["ok"], true);
    assert!(report["first_break"].is_null());
    let entries = report["entries"].as_u64().unwrap();
    assert!(entries >= 8, "{report}");
    let head = report["head_hash"].as_str().unwrap().to_owned();
    assert_eq!(head.len(), 64);

    // Tamper with one entry in the middle: rewrite the source address it records, as an
    // insider covering their tracks might.
    let target = i64::try_from(entries / 2).unwrap();
    {
        let db = rusqlite::Connection::open(dir.join("phivault.db")).unwrap();
        let event: String = db
            .query_row(
                "SELECT event_json FROM audit_log WHERE seq = ?1",
                [target],
                |r| r.get(0),
            )
            .unwrap();
        let mut v: Value = serde_json::from_str(&event).unwrap();
        v["source"] = json!("203.0.113.66");
        let forged = serde_json::to_string(&v).unwrap();
        assert_ne!(forged, event);
        let n = db
            .execute(
                "UPDATE audit_log SET event_json = ?1 WHERE seq = ?2",
                rusqlite::params![forged, target],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    let o = run(&dir, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains(&format!("BROKEN at entry {target}")),
        "{}",
        out(&o)
    );
    let o = run(&dir, &["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_break"]["seq"], target);
    assert_eq!(report["entries"], target - 1);
}

// ----- 5. keys rotate ----------------------------------------------------------------------

/// Reads every record back and compares it with what was written.
async fn read_all(c: &Client, records: &[Record]) -> Result<(), String> {
    for r in records {
        match c.get_record(&r.collection, r.id).await {
            Ok(got) if got == *r => {}
            Ok(got) => return Err(format!("record {} changed: {got:?}", r.id)),
            Err(e) => return Err(format!("record {}: {e}", r.id)),
        }
    }
    Ok(())
}

fn kek_versions(dir: &Path) -> Vec<u32> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("phivault.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT kek_version FROM subject_keys ORDER BY subject")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn keys_rotate_rewraps_every_data_key_offline_and_beside_a_running_server() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);

    let server = Server::serve(&dir, &logs, "serve1").await;
    server
        .client(&admin)
        .create_collection(&notes_schema("notes"))
        .await
        .unwrap();
    let c = server.records_client(&app);
    let mut records = Vec::new();
    for (i, subject) in ["subj-a", "subj-b", "subj-c", "subj-a"].iter().enumerate() {
        let data = json!({
            "full_name": format!("Person {i}"),
            "birth_date": format!("1970-01-{:02}", i + 1),
            "note": format!("note {i}"),
        });
        records.push(c.create_record("notes", subject, data).await.unwrap());
    }
    read_all(&c, &records).await.unwrap();
    assert!(server.stop().await.success());
    assert_eq!(kek_versions(&dir), [1, 1, 1]);

    // Offline rotation: one re-wrap per subject, then everything reads back unchanged.
    let report = json_out(&run(&dir, &["keys", "rotate", "--json"]));
    assert_eq!(report, json!({"kek_version": 2, "rewrapped": 3}));
    assert_eq!(kek_versions(&dir), [2, 2, 2]);
    assert_eq!(mode(&dir.join("keyring.json")), 0o600);

    let server = Server::serve(&dir, &logs, "serve2").await;
    let c = server.records_client(&app);
    read_all(&c, &records).await.unwrap();
    // A subject created now gets a data key under the new version.
    records.push(
        c.create_record("notes", "subj-d", json!({"full_name": "Person 4"}))
            .await
            .unwrap(),
    );
    assert_eq!(kek_versions(&dir), [2, 2, 2, 2]);

    // Rotation beside the running server: the CLI re-wraps every data key under version 3,
    // and the server picks up the new keyring file by itself.
    let report = json_out(&run(&dir, &["keys", "rotate", "--json"]));
    assert_eq!(report, json!({"kek_version": 3, "rewrapped": 4}));
    assert_eq!(kek_versions(&dir), [3, 3, 3, 3]);
    let mut last = Err("not tried".to_owned());
    for _ in 0..50 {
        last = read_all(&c, &records).await;
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    last.unwrap();
    // And new subjects after the reload are wrapped under version 3.
    records.push(
        c.create_record("notes", "subj-e", json!({"full_name": "Person 5"}))
            .await
            .unwrap(),
    );
    assert_eq!(kek_versions(&dir), [3, 3, 3, 3, 3]);
    read_all(&c, &records).await.unwrap();
    assert!(
        server.output().contains("keyring reloaded"),
        "{}",
        server.output()
    );
    assert!(server.stop().await.success());
    assert_success(&run(&dir, &["audit", "verify"]));
}

// ----- 6. canaries -------------------------------------------------------------------------

// Distinctive PHI values. Each must be readable through a successful read and must appear
// nowhere else: not in the database or its WAL, not in the server's debug log, not in any
// error body.
const NAME: &str = "CANARYzq7x-Name";
const SSN: &str = "987-65-4321";
const NOTE: &str = "CANARYnote-ab12 Lives At 12 Elm St";
const DOB: &str = "1907-03-14";
/// Irregular spacing and case, so that its normalised search form differs from its
/// lower-case form.
const NAME_SPACED: &str = "CANARY  Spaced   Person-Qv5";
const NAME2: &str = "CANARYupd8-Name";
const SSN2: &str = "987-65-4329";
const NOTE2: &str = "CANARYnote-upd9";
const DOB2: &str = "1911-11-29";
// Values that only ever travel in refused requests.
const BAD_TYPE: &str = "CANARYbadtype-w3";
const BAD_FIELD: &str = "CANARYfield_k3";
const BAD_FIELD_VALUE: &str = "CANARYval-k3";
const BAD_JSON: &str = "CANARYjson-m4";
const BAD_SEARCH: &str = "CANARYsearch-p6";
const BAD_TOKEN: &str = "CANARYtoken-t7";
const BAD_COLLECTION: &str = "CANARYcoll-c8";
const BAD_SUBJECT: &str = "CANARY subj-s9";
const BAD_PURPOSE: &str = "CANARYpurpose-u1";
const BAD_PATH: &str = "CANARYpath-r2";
const PLAINTEXT: &str = "CANARYplain-h1";

const CANARIES: [&str; 20] = [
    NAME,
    SSN,
    NOTE,
    DOB,
    NAME_SPACED,
    NAME2,
    SSN2,
    NOTE2,
    DOB2,
    BAD_TYPE,
    BAD_FIELD,
    BAD_FIELD_VALUE,
    BAD_JSON,
    BAD_SEARCH,
    BAD_TOKEN,
    BAD_COLLECTION,
    BAD_SUBJECT,
    BAD_PURPOSE,
    BAD_PATH,
    PLAINTEXT,
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every form in which a canary could leak: as sent, lower-cased, and normalised as the
/// blind index normalises search values.
fn canary_forms(secrets: &[String]) -> Vec<String> {
    let mut forms = Vec::new();
    for c in secrets {
        for f in [
            c.clone(),
            c.to_lowercase(),
            phivault_crypto::normalise_for_index(c),
        ] {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
    }
    forms
}

/// Asserts that no canary form occurs in `bytes`; `what` names the haystack.
#[track_caller]
fn assert_no_canary(what: &str, bytes: &[u8], secrets: &[String]) {
    let leaked: Vec<_> = canary_forms(secrets)
        .into_iter()
        .filter(|f| contains(bytes, f.as_bytes()))
        .collect();
    assert!(leaked.is_empty(), "{what} contains {leaked:?}");
}

/// The database and its WAL (if present) must not hold a canary, while the schema, which
/// is stored in the clear, must be found: that proves the bytes scanned are the vault's.
#[track_caller]
fn assert_store_clean(dir: &Path, secrets: &[String], when: &str) -> u64 {
    let db = fs::read(dir.join("phivault.db")).unwrap();
    assert_no_canary(&format!("phivault.db ({when})"), &db, secrets);
    let wal = fs::read(dir.join("phivault.db-wal")).unwrap_or_default();
    assert_no_canary(&format!("phivault.db-wal ({when})"), &wal, secrets);
    // The schema (field names) is stored in the clear in one of the two.
    assert!(
        contains(&db, b"full_name") || contains(&wal, b"full_name"),
        "the scan does not see the database ({when})"
    );
    let size = (db.len() + wal.len()) as u64;
    // Every other file of the data directory too (keyring, config, certificate, shm).
    for (path, bytes, _) in snapshot(dir) {
        assert_no_canary(&format!("{} ({when})", path.display()), &bytes, secrets);
    }
    size
}

/// A request the canary test expects to be refused.
struct Bad {
    /// The expected status, or 0 for any 4xx.
    want: u16,
    method: Method,
    url: String,
    token: String,
    /// The stated purpose of use: `TREAT` unless a case sets another or none.
    purpose: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
}

impl Bad {
    fn new(want: u16, method: Method, url: &str, token: &str) -> Bad {
        Bad {
            want,
            method,
            url: url.to_owned(),
            token: token.to_owned(),
            purpose: Some(PURPOSE.to_owned()),
            headers: Vec::new(),
            body: None,
        }
    }

    fn purpose(mut self, value: &str) -> Bad {
        self.purpose = Some(value.to_owned());
        self
    }

    fn no_purpose(mut self) -> Bad {
        self.purpose = None;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Bad {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn body(mut self, content_type: &'static str, body: String) -> Bad {
        self.body = Some((content_type, body));
        self
    }

    fn json(self, v: Value) -> Bad {
        self.body("application/json", v.to_string())
    }

    /// Sends the request and checks that it was refused with the expected status and a
    /// problem document; returns a description, the status and the body.
    async fn send(self, http: &reqwest::Client) -> (String, u16, Vec<u8>) {
        let what = format!(
            "{} {} (purpose {:?}) {:?}",
            self.method, self.url, self.purpose, self.body
        );
        let mut req = http
            .request(self.method, &self.url)
            .bearer_auth(&self.token);
        if let Some(purpose) = &self.purpose {
            req = req.header("x-purpose-of-use", purpose);
        }
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        if let Some((content_type, body)) = self.body {
            req = req.header("content-type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.bytes().await.unwrap().to_vec();
        let text = String::from_utf8_lossy(&body);
        if self.want == 0 {
            assert!((400..500).contains(&status), "{what}: {status} {text}");
        } else {
            assert_eq!(status, self.want, "{what}: {text}");
        }
        assert_eq!(content_type, "application/problem+json", "{what}");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(problem["code"].is_string(), "{what}: {problem}");
        (what, status, body)
    }
}

#[tokio::test]
async fn canary_phi_never_reaches_the_database_the_logs_or_error_bodies() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);
    let mut secrets: Vec<String> = CANARIES.iter().map(|s| (*s).to_owned()).collect();
    // The API tokens are secrets too: only their hashes may be stored, and they are never
    // logged.
    secrets.push(admin.clone());
    secrets.push(app.clone());

    let mut cmd = phivault();
    cmd.env("PHIVAULT_LOG", "debug")
        .arg("--data-dir")
        .arg(&dir)
        .arg("serve");
    let server = Server::start(cmd, dir.join("tls/cert.pem"), &logs, "canary").await;
    // The administrator declares the collection; the application reads and writes records.
    let c = server.records_client(&app);
    server.client(&admin).create_collection(&collection(json!({
        "name": "patients",
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "note", "type": "text", "sensitivity": {"class": "health"}},
            {"name": "visits", "type": "integer", "sensitivity": {"class": "health"}}
        ]
    })))
    .await
    .unwrap();
    let size_before = assert_store_clean(&dir, &secrets, "before writes");

    // Write, read and search the canaries.
    let first =
        json!({"full_name": NAME, "ssn": SSN, "birth_date": DOB, "note": NOTE, "visits": 3});
    let rec1 = c
        .create_record("patients", "subj-0001", first.clone())
        .await
        .unwrap();
    assert_eq!(Value::Object(rec1.data.clone()), first);
    let second = json!({"full_name": NAME_SPACED, "note": NOTE});
    let rec2 = c
        .create_record("patients", "subj-0002", second.clone())
        .await
        .unwrap();

    let got = c.get_record("patients", rec1.id).await.unwrap();
    assert_eq!(
        got.data["full_name"], NAME,
        "the canary was stored and reads back"
    );
    assert_eq!(got.data["ssn"], SSN);
    assert_eq!(got.data["note"], NOTE);
    assert_eq!(got.data["birth_date"], DOB);
    assert_eq!(
        Value::Object(c.get_record("patients", rec2.id).await.unwrap().data),
        second
    );
    let ids =
        |l: phivault_client::api::RecordList| l.items.iter().map(|r| r.id).collect::<Vec<_>>();
    let hits = c
        .search("patients", "full_name", json!(NAME.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let hits = c.search("patients", "ssn", json!(SSN)).await.unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let hits = c
        .search("patients", "full_name", json!(" canary spaced PERSON-qv5 "))
        .await
        .unwrap();
    assert_eq!(ids(hits), [rec2.id]);
    let listed = c
        .list_subject_records("subj-0001", None, None)
        .await
        .unwrap();
    assert_eq!(listed.items[0].data["full_name"], NAME);

    let size_written = assert_store_clean(&dir, &secrets, "after the first writes");
    assert!(
        size_written > size_before,
        "the database did not grow: {size_before} -> {size_written}"
    );

    // Update with other canaries; the history keeps the old ones, the index follows.
    let updated = json!({"full_name": NAME2, "ssn": SSN2, "birth_date": DOB2, "note": NOTE2});
    let rec1v2 = c
        .update_record("patients", rec1.id, 1, updated.clone())
        .await
        .unwrap();
    assert_eq!(rec1v2.version, 2);
    assert_eq!(
        Value::Object(c.get_record("patients", rec1.id).await.unwrap().data),
        updated
    );
    let history = c.history("patients", rec1.id).await.unwrap();
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[0].data["full_name"], NAME);
    assert!(
        c.search("patients", "full_name", json!(NAME))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let hits = c.search("patients", "ssn", json!(SSN2)).await.unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let stale = c
        .update_record("patients", rec1.id, 1, json!({"full_name": NAME}))
        .await;
    assert_eq!(status_of(stale), 412);

    // Bad requests carrying canaries: every one is refused with a problem document.
    let http = raw_http(&dir.join("tls/cert.pem"));
    let base = server.base_url();
    let records = format!("{base}/v1/collections/patients/records");
    let rec1_url = format!("{records}/{}", rec1.id);
    let search = format!("{base}/v1/collections/patients/search");
    let post = |want, url: &str| Bad::new(want, Method::POST, url, &app);
    let put = |want| Bad::new(want, Method::PUT, &rec1_url, &app).header("if-match", "\"2\"");
    let get = |want, url: &str| Bad::new(want, Method::GET, url, &app);
    let cases = [
        // Wrong types and formats.
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, "birth_date": BAD_TYPE}})),
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, "visits": BAD_TYPE}})),
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": [NAME, SSN]}})),
        // An undeclared field named after a canary.
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, BAD_FIELD: BAD_FIELD_VALUE}})),
        // Malformed JSON, wrong envelopes, a wrong media type.
        post(400, &records).body(
            "application/json",
            format!(
                r#"{{"subject": "subj-0003", "data": {{"full_name": "{BAD_JSON}", "ssn": '{SSN}'"#
            ),
        ),
        post(400, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME}, BAD_FIELD: BAD_JSON})),
        post(400, &records).json(json!([BAD_JSON])),
        post(415, &records).body("text/plain", format!("full_name={BAD_JSON}&ssn={SSN}")),
        // A subject id that is not an opaque id.
        post(400, &records).json(json!({"subject": BAD_SUBJECT, "data": {"full_name": NAME}})),
        // Updates with bad data.
        put(422).json(json!({"data": {"full_name": NAME2, "visits": BAD_TYPE}})),
        put(400).body(
            "application/json",
            format!(r#"{{"data": {{"full_name": "{BAD_JSON}"}}"#),
        ),
        // Searches on a field that is not searchable or not declared, or for a non-string.
        post(0, &search).json(json!({"field": "note", "value": BAD_SEARCH})),
        post(0, &search).json(json!({"field": BAD_FIELD, "value": BAD_SEARCH})),
        post(0, &search).json(json!({"field": "full_name", "value": {"nested": BAD_SEARCH}})),
        // A collection whose name breaks the rules (declared by the administrator).
        Bad::new(0, Method::POST, &format!("{base}/v1/collections"), &admin).json(
            json!({"name": BAD_COLLECTION,
            "fields": [{"name": "full_name", "type": "string",
                        "sensitivity": {"class": "phi", "identifier": "name"}}]}),
        ),
        // Bogus tokens, a bogus purpose of use, bogus ids in the path.
        Bad::new(401, Method::GET, &rec1_url, BAD_TOKEN),
        Bad::new(401, Method::GET, &rec1_url, &format!("pvt_{BAD_TOKEN}")),
        get(400, &rec1_url).purpose(BAD_PURPOSE),
        // No purpose of use at all, and a token whose roles reach no record.
        post(400, &records)
            .no_purpose()
            .json(json!({"subject": "subj-0003", "data": {"full_name": NAME, "ssn": SSN}})),
        get(400, &rec1_url).no_purpose(),
        Bad::new(403, Method::POST, &records, &admin)
            .json(json!({"subject": "subj-0003", "data": {"full_name": NAME, "ssn": SSN}})),
        Bad::new(403, Method::GET, &rec1_url, &admin),
        Bad::new(403, Method::POST, &search, &admin)
            .json(json!({"field": "full_name", "value": NAME2})),
        get(400, &format!("{records}/{BAD_PATH}")),
        get(0, &format!("{base}/v1/collections/{BAD_PATH}")),
        get(
            0,
            &format!(
                "{base}/v1/subjects/{}/records",
                BAD_SUBJECT.replace(' ', "%20")
            ),
        ),
    ];
    let mut error_bodies = Vec::new();
    for case in cases {
        let (what, _, bytes) = case.send(&http).await;
        error_bodies.push((what, bytes));
    }
    // Plaintext bytes on the TLS port (logged at debug level as a failed handshake).
    plain_http_gets_no_http_response(&server.addr, &format!("/{PLAINTEXT}")).await;

    // The refused requests stored nothing: the record is unchanged and nothing was created.
    assert_eq!(
        Value::Object(c.get_record("patients", rec1.id).await.unwrap().data),
        updated
    );
    let all = c
        .list_subject_records("subj-0003", None, None)
        .await
        .unwrap();
    assert!(all.items.is_empty());
    assert_eq!(c.list_collections().await.unwrap().items.len(), 1);

    for (what, body) in &error_bodies {
        assert_no_canary(&format!("the error body of {what}"), body, &secrets);
    }
    // Scan the store while the server runs (the WAL may hold the latest pages).
    assert_store_clean(&dir, &secrets, "while serving");

    // The metrics endpoint counts what happened and carries nothing else.
    let metrics = http
        .get(format!("{}/metrics", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for class in ["2xx", "4xx"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "phivault_http_responses_total{{class=\"{class}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no {class} count in {metrics}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 5.0, "{line}");
    }
    assert_no_canary("the metrics", metrics.as_bytes(), &secrets);

    let status = server.stop().await;
    assert!(status.success(), "{status}");
    let log = fs::read(&server_log_paths(&logs)[0]).unwrap();
    let log_err = fs::read(&server_log_paths(&logs)[1]).unwrap();
    let log_all = [log, log_err].concat();
    let log_text = String::from_utf8_lossy(&log_all);
    // The log was really captured, at debug level, through the whole run.
    assert!(log_text.contains("request finished"), "{log_text}");
    assert!(
        log_text.contains("DEBUG"),
        "no debug lines were logged:\n{log_text}"
    );
    assert!(log_text.contains("phivault stopped"), "{log_text}");
    // Written to a file, log lines carry no terminal colour codes.
    assert!(
        !log_all.contains(&0x1b),
        "escape codes in the log file:\n{log_text}"
    );
    assert_no_canary("the server log", &log_all, &secrets);
    let size_after = assert_store_clean(&dir, &secrets, "after shutdown");
    assert!(size_after > size_before);
    assert_success(&run(&dir, &["audit", "verify"]));
}

fn server_log_paths(logs: &Path) -> [PathBuf; 2] {
    [logs.join("canary.stdout"), logs.join("canary.stderr")]
}

/// Every setting is parsed once, through the config: a bad value of a background job's
/// setting stops `serve` before it listens, naming the variable, instead of running with a
/// silent default; the same holds for the offline commands, which load the same config.
#[tokio::test]
async fn a_bad_setting_value_stops_serve_with_an_error_naming_the_variable() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    init(&dir);
    for (name, value) in [
        ("PHIVAULT_AUDIT_SINK_MAX_LAG", "abc"),
        ("PHIVAULT_AUDIT_HEAD_EVERY", "often"),
        ("PHIVAULT_BACKUP_JOURNAL", "maybe"),
        ("PHIVAULT_RETENTION_INTERVAL_SECS", "-5"),
    ] {
        let mut cmd = phivault();
        cmd.env(name, value)
            .env("PHIVAULT_LISTEN", format!("127.0.0.1:{}", free_port()))
            .arg("--data-dir")
            .arg(&dir)
            .arg("serve");
        let o = run_to_exit(cmd).await;
        let stderr = assert_clean_failure(&o);
        assert!(stderr.contains(name), "{name}: {stderr}");
        let mut cmd = phivault();
        cmd.env(name, value);
        let o = run_cmd(cmd, &dir, &["role", "list"]);
        let stderr = assert_clean_failure(&o);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}
