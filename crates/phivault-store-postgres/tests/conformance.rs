//! The store conformance suite against [`PgStore`] (the very checks the SQLite backend
//! runs), plus what only a shared server can show: two stores (two nodes) on one schema
//! appending to one audit chain, migrations run once, a newer schema refused.
//!
//! PostgreSQL is the server `PHIVAULT_TEST_POSTGRES_URL` names when it answers, otherwise
//! a throwaway cluster this test process starts (see `phivault_store_postgres::testing`).
//! Each test works in its own fresh schema (dropped afterwards), so tests run in parallel.
//! Only without any PostgreSQL installed does a test skip (a failure under
//! `PHIVAULT_REQUIRE_POSTGRES=1` or `PHIVAULT_REQUIRE_ALL=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use phivault_conformance::Fixture;
use phivault_core::audit::{AuditEntry, GENESIS_HASH};
use phivault_core::store::{Store, read_tx, write_tx};
use phivault_core::{StoreError, VaultError};
use phivault_store_postgres::testing::TestSchema;
use phivault_store_postgres::{PgOptions, PgStore, SCHEMA_VERSION};

async fn fresh(case: &'static str) -> Option<Fixture> {
    let schema = TestSchema::create(case).await?;
    let store = PgStore::connect(&schema.url(), PgOptions::default()).unwrap();
    Some(Fixture::keeping(store, schema))
}

mod suite {
    use super::fresh;

    phivault_conformance::store_conformance_tests!(optional fresh);
}

/// Connects `n` stores (as `n` nodes would) to one fresh schema, all at once, so that the
/// migration races too.
async fn nodes(case: &'static str, n: usize) -> Option<(Vec<Arc<PgStore>>, TestSchema)> {
    let schema = TestSchema::create(case).await?;
    let url = schema.url();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::connect(&url, PgOptions::default()))
        })
        .collect();
    let stores = handles
        .into_iter()
        .map(|h| Arc::new(h.join().unwrap().unwrap()))
        .collect();
    Some((stores, schema))
}

/// Appends one entry after the current head, as the vault does, inside a write.
async fn append_next(store: &PgStore, label: String) -> Result<u64, VaultError> {
    write_tx(store, move |tx| {
        let (seq, prev) = tx.audit_head()?.unwrap_or((0, GENESIS_HASH));
        let json = format!(r#"{{"label":"{label}"}}"#);
        let entry = AuditEntry {
            seq: seq + 1,
            prev_hash: prev,
            hash: AuditEntry::compute_hash(seq + 1, &prev, json.as_bytes()),
            event_json: json,
        };
        tx.append_audit(&entry)?;
        Ok(seq + 1)
    })
    .await
}

/// Two nodes appending concurrently never fork the chain nor leave a gap, and never hit a
/// duplicate sequence number: every append is acknowledged and present, in one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_append_one_gapless_chain() {
    let Some((stores, _schema)) = nodes("two_nodes_chain", 2).await else {
        return;
    };
    let per_task = 25;
    let mut tasks = Vec::new();
    for (node, store) in stores.iter().enumerate() {
        for t in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..per_task {
                    let label = format!("n{node}-t{t}-{i}");
                    let seq = append_next(&store, label.clone()).await.unwrap();
                    acked.push((seq, label));
                }
                acked
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let total = acked.len();
    assert_eq!(total, 2 * 4 * per_task);

    // Read back through the other node than the one that wrote most recently.
    let entries = read_tx(&*stores[1], move |tx| Ok(tx.audit_entries(0, total + 10)?))
        .await
        .unwrap();
    assert_eq!(entries.len(), total, "every acknowledged append is present");
    let mut prev = GENESIS_HASH;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "no gap");
        assert_eq!(e.prev_hash, prev, "no fork at {}", e.seq);
        assert_eq!(
            e.hash,
            AuditEntry::compute_hash(e.seq, &e.prev_hash, e.event_json.as_bytes())
        );
        prev = e.hash;
    }
    for (seq, label) in &acked {
        assert!(
            entries[(*seq - 1) as usize]
                .event_json
                .contains(label.as_str()),
            "entry {seq} is the one acknowledged for {label}"
        );
    }
    // Batching happened on at least one node.
    let (writes, commits) = stores
        .iter()
        .map(|s| s.stats())
        .fold((0, 0), |(w, c), s| (w + s.writes, c + s.commits));
    assert_eq!(writes as usize, total);
    assert!(commits as usize <= total);
}

/// A write on one node is visible to the next read on another, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_seen_by_another_at_once() {
    let Some((stores, _schema)) = nodes("seen_at_once", 2).await else {
        return;
    };
    for i in 0..20 {
        let v = format!("v{i}");
        write_tx(&*stores[i % 2], move |tx| Ok(tx.set_meta("k", &v)?))
            .await
            .unwrap();
        let seen = read_tx(&*stores[(i + 1) % 2], |tx| Ok(tx.get_meta("k")?))
            .await
            .unwrap();
        assert_eq!(seen, Some(format!("v{i}")));
    }
}

/// Migrations ran once for concurrent starters; reconnecting is a no-op; a schema from a
/// newer build is refused untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_once_and_newer_schema_refused() {
    let Some((stores, schema)) = nodes("migrations", 3).await else {
        return;
    };
    drop(stores);
    let again = PgStore::connect(&schema.url(), PgOptions::default()).unwrap();
    write_tx(&again, |tx| Ok(tx.set_meta("vault_id", "x")?))
        .await
        .unwrap();
    drop(again);
    let version = i64::from(SCHEMA_VERSION) + 1;
    let url = schema.url();
    let name = schema.name().to_owned();
    let client = admin(schema.server_url()).await;
    client
        .execute(
            &format!("UPDATE {name}.phivault_schema_version SET version = $1"),
            &[&version],
        )
        .await
        .unwrap();
    let err = PgStore::connect(&url, PgOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("newer")),
        "{err:?}"
    );
}

/// Rows are ciphertext and ids only; the backend reports itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_name_and_unreachable_server() {
    let Some(schema) = TestSchema::create("backend_name").await else {
        return;
    };
    let store = PgStore::connect(&schema.url(), PgOptions::default()).unwrap();
    assert_eq!(store.backend(), "postgres");
    let opts = PgOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..PgOptions::default()
    };
    let err = PgStore::connect("postgres://nobody:pw@127.0.0.1:1/none", opts).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("pw@"));
}

/// PostgreSQL aborts a whole transaction on a failed statement; a closure that swallows
/// such a failure and returns `Ok` is still failed alone (its savepoint is rolled back),
/// and the closures batched with it commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swallowed_statement_failure_fails_its_closure_alone() {
    let Some(schema) = TestSchema::create("swallowed").await else {
        return;
    };
    let store = Arc::new(PgStore::connect(&schema.url(), PgOptions::default()).unwrap());
    let t = time::OffsetDateTime::UNIX_EPOCH;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(Box::new(move |tx| {
                    if i == 3 {
                        // No such collection: the foreign key fails the statement.
                        let _ = tx.insert_record_head(&phivault_core::store::RecordHead {
                            collection: "missing".into(),
                            id: phivault_core::RecordId(uuid::Uuid::from_u128(1)),
                            subject: "s".into(),
                            version: 1,
                            deleted: false,
                            created_at: t,
                            updated_at: t,
                        });
                    }
                    tx.set_meta(&format!("k{i}"), "v")
                }))
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.is_err(), i == 3, "closure {i}: {outcome:?}");
    }
    for i in 0..8 {
        let v = read_tx(&*store, move |tx| Ok(tx.get_meta(&format!("k{i}"))?))
            .await
            .unwrap();
        assert_eq!(v.is_some(), i != 3, "k{i}");
    }
}

/// A read closure that panics reports an error and does not poison the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_read_does_not_poison_the_pool() {
    let Some(schema) = TestSchema::create("read_panic").await else {
        return;
    };
    let opts = PgOptions {
        pool_size: 2,
        ..PgOptions::default()
    };
    let store = PgStore::connect(&schema.url(), opts).unwrap();
    write_tx(&store, |tx| Ok(tx.set_meta("k", "1")?))
        .await
        .unwrap();
    for _ in 0..4 {
        let r = store
            .read(Box::new(|tx| {
                let _ = tx.get_meta("k");
                panic!("closure bug");
            }))
            .await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        write_tx(&store, |tx| Ok(tx.set_meta("k", "2")?))
            .await
            .unwrap();
        let v = read_tx(&store, |tx| Ok(tx.get_meta("k")?)).await.unwrap();
        assert_eq!(
            v.as_deref(),
            Some("2"),
            "a fresh snapshot, not a stale transaction"
        );
        write_tx(&store, |tx| Ok(tx.set_meta("k", "1")?))
            .await
            .unwrap();
    }
}

/// With `sslmode=verify-full`, a server that offers no TLS is refused (no silent fallback
/// to plaintext), and a CA file without certificates is refused before connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_required_when_asked_for() {
    let Some(schema) = TestSchema::create("tls_required").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert.pem()).unwrap();
    let tls_url = format!(
        "{}&sslmode=verify-full&sslrootcert={}",
        schema.url(),
        ca_path.display()
    );
    // The test server listens without TLS (as on these machines): the connection must fail.
    let opts = PgOptions {
        connect_timeout: std::time::Duration::from_secs(3),
        ..PgOptions::default()
    };
    let err = PgStore::connect(&tls_url, opts).unwrap_err();
    eprintln!("refused as expected: {err}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let url = format!(
        "{}&sslmode=verify-full&sslrootcert={}",
        schema.url(),
        empty.display()
    );
    let err = PgStore::connect(&url, opts).unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}

/// A verified TLS connection end to end, when the test server speaks TLS with a
/// certificate this process can read (`SHOW ssl_cert_file`, e.g. Debian's self-signed
/// `localhost` certificate; on this process's throwaway cluster the test turns TLS on with
/// a certificate of its own): the vault connects to `localhost` trusting exactly that
/// certificate, and writes and reads (TLS is required, so the session cannot be plaintext;
/// `tls_is_required_when_asked_for` shows a wrong trust anchor fails). Skipped (with a line
/// saying so, a failure under `PHIVAULT_REQUIRE_POSTGRES=1`) when a configured server has
/// no TLS or its certificate is not readable here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tls_round_trip() {
    let Some(schema) = TestSchema::create("tls_round_trip").await else {
        return;
    };
    let base = schema.server_url().to_owned();
    let client = admin(&base).await;
    let (mut ssl, mut cert) = server_tls(&client).await;
    if ssl != "on"
        && let Some(ours) = tls_on_throwaway_cluster(&client, &base).await
    {
        (ssl, cert) = ("on".to_owned(), ours);
    }
    if ssl != "on" || std::fs::read(&cert).is_err() || !base.contains("127.0.0.1") {
        phivault_testenv::skip_or_fail(
            phivault_testenv::Requirement::Postgres,
            "the test server offers no readable TLS certificate",
        );
        return;
    }
    let url = format!(
        "{}&sslmode=verify-full&sslrootcert={cert}",
        schema.url().replace("127.0.0.1", "localhost")
    );
    let store = PgStore::connect(&url, PgOptions::default()).unwrap();
    write_tx(&store, |tx| Ok(tx.set_meta("k", "over tls")?))
        .await
        .unwrap();
    let v = read_tx(&store, |tx| Ok(tx.get_meta("k")?)).await.unwrap();
    assert_eq!(v.as_deref(), Some("over tls"));
}

/// A plain connection to the test server, for administration.
async fn admin(base: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// `SHOW ssl` and `SHOW ssl_cert_file`.
async fn server_tls(client: &tokio_postgres::Client) -> (String, String) {
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let cert: String = client
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    (ssl, cert)
}

/// When the test server is this process's throwaway cluster: gives it a fresh self-signed
/// certificate for `localhost`, turns TLS on (a reload; plaintext connections of other
/// tests go on working) and returns the certificate's path once new sessions see it.
async fn tls_on_throwaway_cluster(client: &tokio_postgres::Client, base: &str) -> Option<String> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let cluster = phivault_testenv::postgres::shared().ok()?;
    if cluster.url("test") != base {
        return None;
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_path = cluster.dir().join("server.crt");
    let key_path = cluster.dir().join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    // PostgreSQL reads a key only its own user can read.
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner = std::fs::metadata(cluster.dir()).unwrap();
    for p in [&cert_path, &key_path] {
        std::os::unix::fs::chown(p, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    // ALTER SYSTEM may not run in a transaction block: one statement per call.
    for statement in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert_path.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_path.display()),
        "ALTER SYSTEM SET ssl = on".to_owned(),
        "SELECT pg_reload_conf()".to_owned(),
    ] {
        client.batch_execute(&statement).await.unwrap();
    }
    for _ in 0..100 {
        if server_tls(&admin(base).await).await.0 == "on" {
            return Some(cert_path.display().to_string());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the throwaway cluster did not turn TLS on")
}

/// The shared state the vault enforces per request (sessions and their revocation,
/// lockout counters, break-glass grants, re-wrapped data keys) written through one node is
/// what the next transaction on another node reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_state_is_shared_between_nodes_at_once() {
    use phivault_core::identity_store::{BreakGlassRow, SessionRow};
    use phivault_core::store::SubjectKeyRow;
    let Some((stores, _schema)) = nodes("shared_state", 2).await else {
        return;
    };
    let (a, b) = (stores[0].clone(), stores[1].clone());
    let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let session = SessionRow {
        id: "sess-1".into(),
        user_id: "user-1".into(),
        secret_hash: [7; 32],
        created_at: t,
        last_seen_at: t,
        expires_at: t + time::Duration::hours(8),
        revoked_at: None,
    };
    let s = session.clone();
    write_tx(&*a, move |tx| {
        tx.insert_session(&s)?;
        tx.insert_subject_key(&SubjectKeyRow {
            subject: "subj-1".into(),
            wrapped_key: vec![1; 65],
            kek_version: 1,
            created_at: t,
        })?;
        Ok(())
    })
    .await
    .unwrap();
    let seen = read_tx(&*b, |tx| Ok(tx.get_session_by_hash(&[7; 32])?))
        .await
        .unwrap();
    assert_eq!(seen, Some(session));

    // Revoked on A: refused on B.
    write_tx(&*a, move |tx| Ok(tx.revoke_session("sess-1", t)?))
        .await
        .unwrap();
    let seen = read_tx(&*b, |tx| Ok(tx.get_session_by_hash(&[7; 32])?))
        .await
        .unwrap();
    assert_eq!(seen.unwrap().revoked_at, Some(t));

    // Failed logins counted on both nodes lock out on both.
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        let at = t + time::Duration::seconds(i as i64);
        write_tx(&**node, move |tx| Ok(tx.insert_login_failure("alice", at)?))
            .await
            .unwrap();
    }
    for node in [&a, &b] {
        let (n, last) = read_tx(&**node, move |tx| Ok(tx.login_failures_since("alice", t)?))
            .await
            .unwrap();
        assert_eq!((n, last), (3, Some(t + time::Duration::seconds(2))));
    }

    // A break-glass grant opened on B is in force on A.
    let grant = BreakGlassRow {
        id: "bg-1".into(),
        principal_id: "user-1".into(),
        subject: "subj-1".into(),
        reason_sealed: vec![9; 40],
        opened_at: t,
        expires_at: t + time::Duration::hours(1),
        reviewed_at: None,
        reviewer: None,
        review_sealed: None,
    };
    let g = grant.clone();
    write_tx(&*b, move |tx| Ok(tx.insert_break_glass(&g)?))
        .await
        .unwrap();
    let now = t + time::Duration::minutes(5);
    let active = read_tx(&*a, move |tx| {
        Ok(tx.active_break_glass("user-1", "subj-1", now)?)
    })
    .await
    .unwrap();
    assert_eq!(active, Some(grant));

    // A data key re-wrapped (key rotation) on B is read re-wrapped on A.
    write_tx(&*b, |tx| Ok(tx.update_subject_key("subj-1", &[2; 65], 2)?))
        .await
        .unwrap();
    let key = read_tx(&*a, |tx| Ok(tx.get_subject_key("subj-1")?))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((key.kek_version, key.wrapped_key), (2, vec![2; 65]));
}
