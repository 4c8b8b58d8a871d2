//! A `phivault serve` child process and the HTTPS side of talking to one: free ports, a
//! reqwest client trusting a vault's certificate, concurrent seeding of records.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;

use phivault_client::Client;
use phivault_client::api::Collection;
use serde_json::Value;
use uuid::Uuid;

use super::{POLL, POLLS, PURPOSE, phivault};

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A reqwest client trusting only the certificates in `pem`, for requests the typed client
/// cannot send (malformed bodies, odd headers, raw status and content-type checks).
pub(crate) fn https_client(pem: &[u8]) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
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

/// How many records a benchmark seeds: `PHIVAULT_BENCH_RECORDS`, by default 100,000.
pub(crate) fn bench_records() -> usize {
    std::env::var("PHIVAULT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Creates `n` records in `notes` through `app` from 32 concurrent tasks, record `i` for
/// subject `s-{i % 10000}` with body `record(i)`; returns the seconds it took.
pub(crate) async fn seed_notes(app: &Client, n: usize, record: fn(usize) -> Value) -> f64 {
    let seeded = std::time::Instant::now();
    let workers = 32;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in (w..n).step_by(workers) {
                    app.create_record("notes", &format!("s-{}", i % 10_000), record(i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    seeded.elapsed().as_secs_f64()
}

/// A `phivault serve` child, killed when dropped.
pub(crate) struct Server {
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
    /// Starts `serve` on `dir` with `setup` applied to its command (environment), logging
    /// under `logs`, and waits until it is healthy and `ready()` holds.
    pub(crate) async fn start(
        dir: &Path,
        logs: &Path,
        setup: impl FnOnce(&mut Command),
        ready: impl Fn() -> bool,
    ) -> Server {
        let mut cmd = phivault();
        setup(&mut cmd);
        cmd.arg("--data-dir").arg(dir).arg("serve");
        let label = format!("serve-{}", Uuid::new_v4());
        Server::spawn(cmd, dir.join("tls/cert.pem"), logs, &label, ready).await
    }

    /// `phivault --data-dir DIR serve`, logging to `logs/LABEL.stdout|stderr`.
    pub(crate) async fn serve(dir: &Path, logs: &Path, label: &str) -> Server {
        let mut cmd = phivault();
        cmd.arg("--data-dir").arg(dir).arg("serve");
        Server::spawn(cmd, dir.join("tls/cert.pem"), logs, label, || true).await
    }

    /// Spawns `cmd` (a `phivault … serve …` command) on a free port, with stdout and stderr
    /// written to `logs/LABEL.stdout|stderr`, and waits until `ready()` holds and `/healthz`
    /// answers over TLS with the certificate at `cert`.
    pub(crate) async fn spawn(
        mut cmd: Command,
        cert: PathBuf,
        logs: &Path,
        label: &str,
        ready: impl Fn() -> bool,
    ) -> Server {
        fs::create_dir_all(logs).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let stdout = logs.join(format!("{label}.stdout"));
        let stderr = logs.join(format!("{label}.stderr"));
        cmd.arg("--listen")
            .arg(&addr)
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            addr,
            cert,
            stdout,
            stderr,
        };
        for _ in 0..POLLS {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited with {status}:\n{}", server.output());
            }
            // The certificate of a `serve --dev` vault appears only once the vault exists.
            if ready()
                && let Ok(pem) = fs::read(&server.cert)
                && let Ok(c) = Client::new(&server.url(), None, &pem)
                && c.healthz().await.is_ok()
            {
                return server;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the server did not become ready:\n{}", server.output());
    }

    /// `https://ADDR`.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The `HOST:PORT` it listens on.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// A client holding `token`, stating no purpose of use (administration).
    pub(crate) fn client(&self, token: &str) -> Client {
        Client::new(
            &self.url(),
            Some(token.to_owned()),
            &fs::read(&self.cert).unwrap(),
        )
        .unwrap()
    }

    /// A client holding `token` that states purpose TREAT, as every record request must.
    pub(crate) fn records(&self, token: &str) -> Client {
        self.client(token).with_purpose(PURPOSE)
    }

    /// Creates `collection` with the `admin` token and returns a records client holding
    /// `token`.
    pub(crate) async fn notes_client(
        &self,
        admin: &str,
        token: &str,
        collection: &Collection,
    ) -> Client {
        self.client(admin)
            .create_collection(collection)
            .await
            .unwrap();
        self.records(token)
    }

    /// Everything the process wrote so far, stdout then stderr.
    pub(crate) fn output(&self) -> String {
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        format!("{}{}", read(&self.stdout), read(&self.stderr))
    }

    /// The file its standard output goes to.
    pub(crate) fn log(&self) -> &Path {
        &self.stdout
    }

    /// Whether the child is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
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

    /// Stops the server with SIGTERM (its shutdown path runs) and waits, bounded, for it to
    /// exit.
    pub(crate) async fn terminate(mut self) -> ExitStatus {
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

    /// SIGKILL: no shutdown path runs, nothing is flushed beyond what was written.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
