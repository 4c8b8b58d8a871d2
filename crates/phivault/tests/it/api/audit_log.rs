//! The auditor's API over real TLS: signed tree heads, inclusion and consistency proofs
//! checked against the signed roots, filtered queries with cursor pagination, CSV/JSONL
//! exports (themselves audited), and the `audit:read` gate.

use phivault_core::audit::SignedTreeHead;
use phivault_core::audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::Synth;
use serde_json::Value;
use time::Duration;

use super::with_patients;
use crate::common::{https_client, phivault, run};

async fn get(tv: &TestVault, token: &str, path: &str) -> (u16, String) {
    let r = https_client(&tv.ca_pem)
        .get(format!("{}{path}", tv.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(tv: &TestVault, token: &str, path: &str) -> Value {
    let (status, body) = get(tv, token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    let s = v.as_str().unwrap();
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn path_of(v: &Value) -> Vec<[u8; 32]> {
    v.as_array().unwrap().iter().map(h32).collect()
}

async fn make_events(tv: &TestVault, n: usize, seed: u64) {
    let c = tv.client();
    let mut synth = Synth::new(seed);
    for i in 0..n {
        c.create_record("patients", &format!("subj-{seed}-{i}"), synth.patient())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn tree_heads_and_proofs_verify_against_the_signed_roots() {
    let tv = with_patients().await;
    make_events(&tv, 5, 1).await;
    let auditor = tv.token(&["auditor"], Duration::days(1)).await;

    let th = get_json(&tv, &auditor, "/v1/audit/tree-head?fresh=true").await;
    let head: SignedTreeHead = serde_json::from_value(th["head"].clone()).unwrap();
    let key = h32(&th["public_key"]);
    assert_eq!(key, tv.vault.audit_public_key());
    assert!(head.verify(&key));
    let n = head.tree_size;
    assert!(n >= 6, "{n}");

    for seq in 1..=n {
        let p = get_json(
            &tv,
            &auditor,
            &format!("/v1/audit/proof/inclusion?seq={seq}&tree_size={n}"),
        )
        .await;
        let leaf = leaf_hash(p["event_json"].as_str().unwrap().as_bytes());
        assert_eq!(leaf, h32(&p["leaf_hash"]));
        assert_eq!(h32(&p["root_hash"]), head.root_hash);
        assert!(verify_inclusion(
            &leaf,
            seq - 1,
            n,
            &path_of(&p["path"]),
            &head.root_hash
        ));
        assert!(!verify_inclusion(
            &leaf_hash(b"not this event"),
            seq - 1,
            n,
            &path_of(&p["path"]),
            &head.root_hash
        ));
    }

    make_events(&tv, 7, 2).await;
    let th2 = get_json(&tv, &auditor, "/v1/audit/tree-head?fresh=true").await;
    let head2: SignedTreeHead = serde_json::from_value(th2["head"].clone()).unwrap();
    assert!(head2.verify(&key) && head2.tree_size > n);
    for from in 1..=n {
        let p = get_json(
            &tv,
            &auditor,
            &format!("/v1/audit/proof/consistency?from={from}"),
        )
        .await;
        assert_eq!(p["to"].as_u64(), Some(head2.tree_size));
        assert_eq!(h32(&p["to_root"]), head2.root_hash);
        let proof = path_of(&p["path"]);
        let from_root = h32(&p["from_root"]);
        assert!(verify_consistency(
            from,
            head2.tree_size,
            &from_root,
            &head2.root_hash,
            &proof
        ));
        if from == n {
            assert_eq!(from_root, head.root_hash, "the earlier signed root");
        }
    }
    // Out of range: well formed, refused by the log's size (a business rule, 422).
    let (status, _) = get(&tv, &auditor, "/v1/audit/proof/inclusion?seq=100000").await;
    assert_eq!(status, 422);
    let (status, _) = get(&tv, &auditor, "/v1/audit/proof/consistency?from=2&to=1").await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn only_audit_readers_reach_the_audit_log() {
    let tv = with_patients().await;
    for path in [
        "/v1/audit/tree-head",
        "/v1/audit/events",
        "/v1/audit/export?format=csv",
        "/v1/audit/proof/inclusion?seq=1",
        "/v1/audit/proof/consistency?from=1",
    ] {
        let (status, _) = get(&tv, &tv.app_token, path).await;
        assert_eq!(status, 403, "{path}");
    }
    let events = tv.audit_entries().await;
    let denied = events
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action.starts_with("audit.") && e.reason.is_some())
        .count();
    assert!(denied >= 5, "every refused audit read is itself audited");
}

#[tokio::test]
async fn queries_filter_and_paginate_and_exports_are_audited() {
    let tv = with_patients().await;
    make_events(&tv, 5, 3).await;
    let auditor = tv.token(&["auditor"], Duration::days(1)).await;

    let mut cursor = 0u64;
    let mut seen = Vec::new();
    loop {
        let page = get_json(
            &tv,
            &auditor,
            &format!(
                "/v1/audit/events?action=record.create&outcome=success&limit=2&cursor={cursor}"
            ),
        )
        .await;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["event"]["action"], "record.create");
            seen.push(item["seq"].as_u64().unwrap());
        }
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = c,
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    let one = get_json(&tv, &auditor, "/v1/audit/events?subject=subj-3-2").await;
    let items = one["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["event"]["subject"], "subj-3-2");
    let none = get_json(
        &tv,
        &auditor,
        "/v1/audit/events?since=2100-01-01T00:00:00Z&action=record.",
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (status, _) = get(&tv, &auditor, "/v1/audit/events?outcome=maybe").await;
    assert_eq!(status, 400);

    let (status, csv) = get(
        &tv,
        &auditor,
        "/v1/audit/export?format=csv&action=record.create",
    )
    .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("seq,time,request_id,actor_kind"));
    assert_eq!(lines.len(), 6, "{csv}");
    let (status, jsonl) = get(&tv, &auditor, "/v1/audit/export?format=jsonl").await;
    assert_eq!(status, 200);
    for line in jsonl.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["seq"].as_u64().is_some() && v["event"]["action"].is_string());
    }
    let exports = get_json(&tv, &auditor, "/v1/audit/events?action=audit.export").await;
    assert_eq!(
        exports["items"].as_array().unwrap().len(),
        2,
        "each export is audited"
    );
}

// ----- the CLI: tree heads, proofs and `audit verify --against HEAD.json` -------------------

#[track_caller]
fn ok_json(o: &std::process::Output) -> Value {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn cli_verify_against_a_published_head_detects_truncation_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let init = run(&dir, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    for _ in 0..3 {
        assert!(run(&dir, &["keys", "rotate"]).status.success());
    }
    let head = run(&dir, &["audit", "tree-head", "--fresh"]);
    let head_json = ok_json(&head);
    let size = head_json["head"]["tree_size"].as_u64().unwrap();
    assert!(size >= 3);
    let head_file = tmp.path().join("HEAD.json");
    std::fs::write(&head_file, &head.stdout).unwrap();
    let against = head_file.to_str().unwrap();

    // More events after the published head; every proof the CLI prints checks out.
    for _ in 0..2 {
        assert!(run(&dir, &["keys", "rotate"]).status.success());
    }
    let p = ok_json(&run(
        &dir,
        &["--json", "audit", "proof", "inclusion", "--seq", "1"],
    ));
    assert_eq!(p["verified"], true);
    let fresh = ok_json(&run(&dir, &["audit", "tree-head", "--fresh"]));
    let new_size = fresh["head"]["tree_size"].as_u64().unwrap();
    assert!(new_size > size);
    let p = ok_json(&run(
        &dir,
        &[
            "--json",
            "audit",
            "proof",
            "consistency",
            "--from",
            &size.to_string(),
        ],
    ));
    assert_eq!(p["verified"], true);
    assert_eq!(p["from_root"], head_json["head"]["root_hash"]);

    let r = ok_json(&run(
        &dir,
        &["--json", "audit", "verify", "--against", against],
    ));
    assert_eq!(r["ok"], true);
    assert_eq!(r["entries"].as_u64(), Some(new_size));

    // Roll the database back to below the published head, heads and nodes included, as
    // restoring an old backup (or an insider) would: the published head names the first
    // missing entry.
    {
        let db = rusqlite::Connection::open(dir.join("phivault.db")).unwrap();
        db.execute_batch(&format!(
            "DELETE FROM audit_log WHERE seq >= {keep};
             DELETE FROM audit_tree_heads WHERE tree_size >= {keep};
             DELETE FROM audit_nodes WHERE ((idx + 1) << level) >= {keep};",
            keep = size - 1
        ))
        .unwrap();
    }
    let o = run(&dir, &["--json", "audit", "verify", "--against", against]);
    assert_eq!(o.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["ok"], false);
    assert_eq!(r["first_break"]["kind"], "truncated");
    assert_eq!(r["first_break"]["seq"].as_u64(), Some(size - 1));
    // Without the published head the shortened log looks internally consistent.
    let r = ok_json(&run(&dir, &["--json", "audit", "verify"]));
    assert_eq!(r["ok"], true);
    let o = run(&dir, &["audit", "verify", "--against", against]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("BROKEN at entry {}", size - 1)),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

// ----- SIEM over TLS to a real rsyslog, with `phivault serve` killed mid-stream ------------

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// rsyslogd with a TLS (ossl) imtcp input writing each message's MSG to `received.log`;
/// `None` (skip, or a failure under `PHIVAULT_REQUIRE_RSYSLOG=1`) when it is not installed.
fn rsyslog_tls(dir: &std::path::Path) -> Option<(Killed, u16, std::path::PathBuf)> {
    use phivault_testkit::testenv::{Requirement, rsyslog, skip_or_fail};
    let Some(bin) = rsyslog::rsyslogd() else {
        skip_or_fail(Requirement::Rsyslog, rsyslog::MISSING);
        return None;
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("siem-ca.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("siem-key.pem"), key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dir.join("received.log");
    let work = dir.join("rsyslog-work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}" DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="{d}/siem-ca.pem"
       DefaultNetstreamDriverCertFile="{d}/siem-ca.pem"
       DefaultNetstreamDriverKeyFile="{d}/siem-key.pem")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="msgonly" type="string" string="%msg%\n")
action(type="omfile" file="{out}" template="msgonly")
"#,
        work = work.display(),
        d = dir.display(),
        out = out.display(),
    );
    std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
    let child = std::process::Command::new(bin)
        .args(["-n", "-f"])
        .arg(dir.join("rsyslog.conf"))
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Some((Killed(child), port, out))
}

fn serve(dir: &std::path::Path, listen: &str, syslog: &str) -> Killed {
    let child = phivault()
        .env("PHIVAULT_AUDIT_SINK_SYSLOG", syslog)
        .env(
            "PHIVAULT_AUDIT_SINK_SYSLOG_CA",
            dir.join("..").join("siem-ca.pem"),
        )
        .env("PHIVAULT_AUDIT_SINK_SYSLOG_SERVER_NAME", "localhost")
        .env("PHIVAULT_AUDIT_HEAD_EVERY", "25")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", listen])
        .spawn()
        .unwrap();
    Killed(child)
}

fn received(out: &std::path::Path) -> std::collections::BTreeMap<u64, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(out).unwrap_or_default().lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
            // Signed tree heads are witnessed on the same channel; they are not events.
            let Some(seq) = v["metadata"]["sequence"].as_u64() else {
                assert!(v["head"]["tree_size"].is_u64(), "{line}");
                continue;
            };
            assert_eq!(v["metadata"]["uid"], format!("audit-{seq}"));
            *seen.entry(seq).or_default() += 1;
        }
    }
    seen
}

async fn poll(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Unauthenticated requests: each is refused and audited, so each is one event.
async fn knock(dir: &std::path::Path, listen: &str, n: usize) {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap();
    for _ in 0..n {
        let r = http
            .get(format!("https://{listen}/v1/collections"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_gets_every_event_over_tls_when_the_vault_is_killed_mid_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((_rsyslog, port, out)) = rsyslog_tls(tmp.path()) else {
        return;
    };
    let dir = tmp.path().join("vault");
    assert!(run(&dir, &["init"]).status.success());
    let syslog = format!("127.0.0.1:{port}");
    let listen = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let up = |l: &str| std::net::TcpStream::connect(l).is_ok();

    let server = serve(&dir, &listen, &syslog);
    poll("the vault to listen", || up(&listen)).await;
    knock(&dir, &listen, 60).await;
    poll("some events at rsyslog", || !received(&out).is_empty()).await;
    drop(server); // SIGKILL, mid-stream: no shutdown, no flush

    let server = serve(&dir, &listen, &syslog);
    poll("the vault to listen again", || up(&listen)).await;
    knock(&dir, &listen, 40).await;
    let total = {
        let db = rusqlite::Connection::open(dir.join("phivault.db")).unwrap();
        db.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    };
    assert!(total >= 100, "{total}");
    poll("every event at rsyslog", || {
        received(&out).len() as u64 >= total
    })
    .await;
    drop(server);
    let seen = received(&out);
    let missing: Vec<u64> = (1..=total).filter(|s| !seen.contains_key(s)).collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    let dups: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("rsyslog received all {total} events; {dups} identifiable duplicates");
    // The signer published tree heads to the same receiver: a witness outside the database.
    let text = std::fs::read_to_string(&out).unwrap();
    let heads: Vec<SignedTreeHead> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter_map(|v| serde_json::from_value(v["head"].clone()).ok())
        .collect();
    assert!(!heads.is_empty(), "no tree head reached the syslog witness");
    let key = ok_json(&run(&dir, &["audit", "tree-head"]))["public_key"].clone();
    assert!(heads.iter().all(|h| h.verify(&h32(&key))));
}
