//! SIEM sinks end to end: a JSONL file sink with rotation, and a real rsyslog receiver
//! (Debian `rsyslog` + `rsyslog-openssl`, installed by `.ci/run`) over TLS with
//! octet-counted framing. Both are stopped mid-stream (the task is aborted, as a crash
//! would stop it) and restarted on a reopened store: no event is missing; duplicates are
//! allowed and identified by `metadata.uid`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phivault_client::webhook::{DEFAULT_TOLERANCE, verify};
use phivault_core::crypto::Keyring;
use phivault_core::{ManualClock, RequestMeta, Vault, VaultConfig, VaultError};
use phivault_siem::{SinkConfig, SinkKind, SinkStatus, TlsSettings, WebhookSecret, run_sink};
use phivault_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use serde_json::Value;
use time::macros::datetime;

fn open(path: &Path) -> Arc<SqliteStore> {
    let opts = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    Arc::new(SqliteStore::open(path, opts).unwrap())
}

fn vault(store: Arc<SqliteStore>) -> (Vault, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-06-01 12:00:00 UTC)));
    let v = Vault::new(
        store,
        Keyring::generate().unwrap(),
        clock.clone(),
        VaultConfig::default(),
    );
    (v, clock)
}

async fn events(v: &Vault, from: u64, to: u64) {
    for i in from..=to {
        let meta = RequestMeta {
            request_id: format!("req-{i}"),
            source: Some("192.0.2.7".into()),
        };
        v.record_rejected(
            &meta,
            None,
            phivault_core::AuditAction::RecordRead,
            &VaultError::BadRequest("probe"),
        )
        .await
        .unwrap();
    }
}

/// `metadata.sequence` of every OCSF event in `text`, with how often each arrived.
fn sequences(text: &str) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
        let seq = v["metadata"]["sequence"].as_u64().unwrap();
        assert_eq!(v["metadata"]["uid"], format!("audit-{seq}"));
        *seen.entry(seq).or_default() += 1;
    }
    seen
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn spawn(
    store: Arc<SqliteStore>,
    kind: SinkKind,
    batch: usize,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<SinkStatus>>) {
    let status = Arc::new(Mutex::new(SinkStatus::default()));
    let clock = Arc::new(ManualClock::new(datetime!(2026-06-01 12:00:00 UTC)));
    let config = SinkConfig {
        name: "test".into(),
        kind,
        batch,
        idle: Duration::from_millis(20),
    };
    let h = tokio::spawn(run_sink(store, clock, config, status.clone()));
    (h, status)
}

fn read_all(base: &Path) -> String {
    let dir = base.parent().unwrap();
    let name = base.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with(&name) {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_sink_rotates_and_loses_nothing_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let out = dir.path().join("siem").join("audit.jsonl");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let kind = SinkKind::JsonlFile {
        path: out.clone(),
        max_bytes: 8 * 1024,
        max_age: Duration::from_secs(3600),
    };
    let store = open(&db);
    let (v, _) = vault(store.clone());
    events(&v, 1, 60).await;
    let (task, status) = spawn(store.clone(), kind.clone(), 7);
    wait_for("first deliveries", || {
        status.lock().unwrap().delivered >= 20
    })
    .await;
    task.abort();
    let _ = task.await;
    events(&v, 61, 100).await;
    drop(v);
    drop(store);

    let store = open(&db);
    let (task, status) = spawn(store.clone(), kind, 7);
    wait_for("catch-up", || status.lock().unwrap().delivered == 100).await;
    task.abort();
    assert_eq!(status.lock().unwrap().lag(), 0);
    let seen = sequences(&read_all(&out));
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    let rotated = std::fs::read_dir(out.parent().unwrap()).unwrap().count();
    assert!(rotated > 2, "size rotation made {rotated} files");
}

struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts rsyslogd with a TLS (ossl) imtcp input writing each message's MSG to a file, or
/// returns `None` (skip, or a failure under `PHIVAULT_REQUIRE_RSYSLOG=1`) when rsyslog is
/// not installed.
fn rsyslog(dir: &Path) -> Option<(Rsyslog, u16, Vec<u8>)> {
    use phivault_testenv::{Requirement, rsyslog, skip_or_fail};
    let Some(bin) = rsyslog::rsyslogd() else {
        skip_or_fail(Requirement::Rsyslog, rsyslog::MISSING);
        return None;
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_pem = cert.pem();
    std::fs::write(dir.join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = free_port();
    let out = dir.join("received.log");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="{d}/cert.pem"
       DefaultNetstreamDriverCertFile="{d}/cert.pem"
       DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="msgonly" type="string" string="%msg%\n")
action(type="omfile" file="{out}" template="msgonly")
"#,
        work = work.display(),
        d = dir.display(),
        out = out.display(),
    );
    let conf_path = dir.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Some((Rsyslog { child, out }, port, cert_pem.into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_receives_every_event_over_tls_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let Some((rs, port, ca)) = rsyslog(dir.path()) else {
        return;
    };
    // Wait for the listener.
    let addr = format!("127.0.0.1:{port}");
    wait_for("rsyslog to listen", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .await;

    let db = dir.path().join("vault.db");
    let kind = SinkKind::Syslog {
        addr: addr.clone(),
        tls: Some(TlsSettings {
            ca_pem: ca,
            server_name: "localhost".into(),
        }),
        hostname: "vault-test".into(),
    };
    let store = open(&db);
    let (v, _) = vault(store.clone());
    events(&v, 1, 80).await;
    let (task, status) = spawn(store.clone(), kind.clone(), 9);
    wait_for("first deliveries over TLS", || {
        status.lock().unwrap().delivered >= 27
    })
    .await;
    task.abort(); // the vault "crashes" mid-stream
    let _ = task.await;
    events(&v, 81, 150).await;
    drop(v);
    drop(store);

    let store = open(&db);
    let (task, status) = spawn(store.clone(), kind, 9);
    wait_for("catch-up", || status.lock().unwrap().delivered == 150).await;
    task.abort();
    let out = rs.out.clone();
    wait_for("rsyslog to write everything", || {
        std::fs::read_to_string(&out)
            .map(|t| sequences(&t).len() == 150)
            .unwrap_or(false)
    })
    .await;
    let seen = sequences(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (1..=150).collect::<Vec<_>>()
    );
    let dups: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("rsyslog received 150 distinct events, {dups} redelivered duplicates");
    drop(rs);
}

#[test]
fn syslog_messages_are_rfc5424_and_octet_counted() {
    let ev = phivault_core::audit::AuditEvent::new(
        datetime!(2026-06-01 12:00:00.5 UTC),
        "r-1",
        phivault_core::audit::Actor::token("t-1"),
        "api_token",
        "record.read",
        phivault_core::audit::Outcome::Denied,
    );
    let msg = phivault_siem::rfc5424("host a", "phivault", 7, &ev, "{}");
    assert_eq!(
        msg,
        "<108>1 2026-06-01T12:00:00.5Z hosta phivault - record.read [phivault@32473 seq=\"7\"] {}"
    );
    let framed = phivault_siem::frame_octet_counted(&msg);
    assert!(framed.starts_with(format!("{} <108>", msg.len()).as_bytes()));
}

/// A TLS webhook receiver: checks each request's signature with the shared verifier,
/// answers 503 to the first `fail_first` requests (which must be retried), and records the
/// sequences it accepted.
async fn webhook_receiver(
    secret: WebhookSecret,
    fail_first: usize,
) -> (String, Vec<u8>, Arc<Mutex<Vec<u64>>>, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(Mutex::new(0usize));
    let (s2, r2) = (seen.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = tls.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).into_owned();
                    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
                    while buf.len() < i + 4 + len {
                        let n = tls.read(&mut chunk).await.unwrap();
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, buf[i + 4..i + 4 + len].to_vec());
                }
            };
            // The sink's clock is a fixed 2026-06-01 12:00 UTC, and so is this receiver's.
            let now = datetime!(2026-06-01 12:00:00 UTC).unix_timestamp();
            let valid = head.starts_with("POST /ingest HTTP/1.1")
                && header(&head, "phivault-signature")
                    .is_some_and(|sig| verify(&secret, sig, &body, now, DEFAULT_TOLERANCE).is_ok());
            let n = {
                let mut r = r2.lock().unwrap();
                *r += 1;
                *r
            };
            let status = if !valid {
                "401 Unauthorized"
            } else if n <= fail_first {
                "503 Service Unavailable"
            } else {
                let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
                let mut s = s2.lock().unwrap();
                for e in events {
                    s.push(e["metadata"]["sequence"].as_u64().unwrap());
                }
                "200 OK"
            };
            let _ = tls
                .write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let _ = tls.shutdown().await;
        }
    });
    (addr, cert.pem().into_bytes(), seen, requests)
}

/// A webhook sink posting to the receiver at `addr` (its certificate names `localhost`).
fn webhook_sink(addr: String, ca: Vec<u8>, secret: WebhookSecret) -> SinkKind {
    SinkKind::Webhook(phivault_siem::WebhookSettings {
        addr,
        path: "/ingest".into(),
        tls: TlsSettings {
            ca_pem: ca,
            server_name: "localhost".into(),
        },
        secret,
    })
}

/// The value of header `name` (any case) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_batches_are_hmac_signed_retried_and_complete_across_a_crash() {
    let secret = WebhookSecret::new(b"webhook shared secret 0c1d");
    // Each delivery makes up to three attempts; the first delivery fails all three, so the
    // sink records a failure and retries it after its own back-off.
    let (addr, ca, seen, requests) = webhook_receiver(secret.clone(), 3).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let kind = webhook_sink(addr, ca, secret.clone());
    assert!(
        !format!("{kind:?}").contains("0c1d"),
        "the secret is redacted"
    );
    let store = open(&db);
    let (v, _) = vault(store.clone());
    events(&v, 1, 40).await;
    let (task, status) = spawn(store.clone(), kind.clone(), 8);
    wait_for("a failure to show", || status.lock().unwrap().failures > 0).await;
    assert!(status.lock().unwrap().last_error.is_some());
    wait_for("first deliveries", || {
        status.lock().unwrap().delivered >= 16
    })
    .await;
    task.abort();
    let _ = task.await;
    events(&v, 41, 70).await;
    drop(v);
    drop(store);

    let store = open(&db);
    let (task, status) = spawn(store.clone(), kind, 8);
    wait_for("catch-up", || status.lock().unwrap().delivered == 70).await;
    task.abort();
    let got: std::collections::BTreeSet<u64> = seen.lock().unwrap().iter().copied().collect();
    assert_eq!(got, (1..=70).collect());
    assert!(*requests.lock().unwrap() >= 3 + 70 / 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_the_wrong_secret_never_moves_the_cursor() {
    let (addr, ca, seen, _) = webhook_receiver(WebhookSecret::new(b"receiver's"), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let kind = webhook_sink(addr, ca, WebhookSecret::new(b"sender's"));
    let store = open(&dir.path().join("vault.db"));
    let (v, _) = vault(store.clone());
    events(&v, 1, 5).await;
    let (task, status) = spawn(store.clone(), kind, 8);
    wait_for("a failure to show", || status.lock().unwrap().failures > 0).await;
    task.abort();
    let _ = task.await;
    assert_eq!(status.lock().unwrap().delivered, 0);
    assert!(seen.lock().unwrap().is_empty());
}
