//! Helpers shared by the integration tests that drive the `phivault` binary on a data
//! directory of their own.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use phivault_client::Client;
use serde_json::Value;
use uuid::Uuid;

/// How often and how many times to poll a child server.
const POLL: Duration = Duration::from_millis(100);
const POLLS: usize = 300;

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

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `phivault serve` child on `dir`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: String,
    cert: PathBuf,
    log: PathBuf,
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
    /// Starts `serve` with `setup` applied to its command (environment), logging under
    /// `logs`, and waits until it is healthy and `ready()` holds.
    pub(crate) async fn start(
        dir: &Path,
        logs: &Path,
        setup: impl FnOnce(&mut Command),
        ready: impl Fn() -> bool,
    ) -> Server {
        fs::create_dir_all(logs).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = logs.join(format!("serve-{}.log", Uuid::new_v4()));
        let mut cmd = phivault();
        setup(&mut cmd);
        cmd.arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", &addr])
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(log.with_extension("err")).unwrap());
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            addr,
            cert: dir.join("tls/cert.pem"),
            log,
        };
        for _ in 0..POLLS {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "the server exited with {status}: {}",
                    fs::read_to_string(server.log.with_extension("err")).unwrap_or_default()
                );
            }
            if ready()
                && let Ok(c) = Client::new(&server.url(), None, &fs::read(&server.cert).unwrap())
                && c.healthz().await.is_ok()
            {
                return server;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the server did not become ready");
    }

    /// `https://ADDR`.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A client holding `token`.
    pub(crate) fn client(&self, token: &str) -> Client {
        Client::new(
            &self.url(),
            Some(token.to_owned()),
            &fs::read(&self.cert).unwrap(),
        )
        .unwrap()
    }

    /// A client holding `token` that states purpose TREAT.
    pub(crate) fn records(&self, token: &str) -> Client {
        self.client(token).with_purpose("TREAT")
    }

    /// Kills the child and waits for it to go.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill();
        for _ in 0..POLLS {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The file its standard output goes to.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Whether the child is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: no shutdown path runs, nothing is flushed beyond what was written.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
