//! The baseline: a throwaway PostgreSQL 15 cluster (initdb on a temporary directory, a
//! free loopback port, pgaudit preloaded with `pgaudit.log = 'read, write'`, pgcrypto,
//! `fsync = on`, `synchronous_commit = on`) doing the same logical operations as the vault
//! with the same number of clients, one connection each, statements prepared once and
//! every value sent as a bind parameter.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use crate::load::{PhaseResult, run};
use crate::vault_side::payload;

/// The symmetric key the baseline passes to pgp_sym_encrypt (a bind parameter, so pgaudit,
/// which does not log parameters by default, never sees it).
const PGP_KEY: &str = "bench-only-symmetric-key-7f3a9c";
/// The HMAC key of the baseline's blind index.
const HMAC_KEY: &str = "bench-only-hmac-key-0c1d2e";

/// The baseline's settings on top of the throwaway cluster's (port, loopback, socket).
const BASELINE_CONF: &str = "# phivault-bench baseline\nshared_preload_libraries = 'pgaudit'\n\
     pgaudit.log = 'read, write'\nfsync = on\nsynchronous_commit = on\n\
     full_page_writes = on\nmax_connections = 100\n";

/// A running throwaway cluster (`phivault_testenv::postgres`, which tests share) configured
/// for the baseline; dropping it stops the server and removes the directory.
pub(crate) struct Cluster(phivault_testenv::postgres::Cluster);

impl Cluster {
    /// `initdb`, configure, `pg_ctl start`.
    pub(crate) fn start(bin: &Path) -> Result<Cluster> {
        let cluster = phivault_testenv::postgres::Cluster::start(bin, BASELINE_CONF)
            .map_err(|e| anyhow!("throwaway PostgreSQL cluster: {e}"))?;
        if let Some(pid) = cluster.postmaster_pid() {
            crate::load::set_postmaster(pid);
        }
        Ok(Cluster(cluster))
    }

    /// A new connection.
    pub(crate) async fn connect(&self) -> Result<Client> {
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Creates a database (for the vault's PostgreSQL store).
    pub(crate) async fn create_database(&self, name: &str) -> Result<()> {
        self.connect()
            .await?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(())
    }

    /// A connection URL for `database`.
    pub(crate) fn url(&self, database: &str) -> String {
        self.0.url(database)
    }

    /// The server log (pgaudit's lines go there).
    pub(crate) fn log_path(&self) -> PathBuf {
        self.0.log_path()
    }
}

const SCHEMA: &str = "
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE IF NOT EXISTS records_enc (
    id uuid PRIMARY KEY, subject text NOT NULL, version bigint NOT NULL,
    mrn_tag bytea NOT NULL, data bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS records_enc_mrn ON records_enc (mrn_tag);
CREATE TABLE IF NOT EXISTS records_plain (
    id uuid PRIMARY KEY, subject text NOT NULL, version bigint NOT NULL,
    mrn text NOT NULL, data text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS records_plain_mrn ON records_plain (mrn);
";

/// Per client: the records it created (id, MRN, current version).
type Created = Mutex<Vec<(Uuid, String, i64)>>;

/// One client's connection and prepared statements.
struct Conn {
    client: Client,
    insert_enc: Statement,
    insert_plain: Statement,
    read: Statement,
    search: Statement,
    update: Statement,
}

impl Conn {
    async fn new(cluster: &Cluster) -> Result<Conn> {
        let client = cluster.connect().await?;
        let insert_enc = client
            .prepare(
                "INSERT INTO records_enc (id, subject, version, mrn_tag, data) \
                 VALUES ($1::text::uuid, $2, 1, hmac($3::text, $4::text, 'sha256'), pgp_sym_encrypt($5::text, $6::text))",
            )
            .await?;
        let insert_plain = client
            .prepare(
                "INSERT INTO records_plain (id, subject, version, mrn, data) \
                 VALUES ($1::text::uuid, $2, 1, $3, $4)",
            )
            .await?;
        let read = client
            .prepare(
                "SELECT subject, version, pgp_sym_decrypt(data, $2::text) FROM records_enc \
                 WHERE id = $1::text::uuid",
            )
            .await?;
        let search = client
            .prepare(
                "SELECT id::text, subject, version, pgp_sym_decrypt(data, $3::text) FROM records_enc \
                 WHERE mrn_tag = hmac($1::text, $2::text, 'sha256') LIMIT 100",
            )
            .await?;
        let update = client
            .prepare(
                "UPDATE records_enc SET data = pgp_sym_encrypt($3::text, $4::text), \
                 mrn_tag = hmac($5::text, $6::text, 'sha256'), version = version + 1 \
                 WHERE id = $1::text::uuid AND version = $2 RETURNING version",
            )
            .await?;
        Ok(Conn {
            client,
            insert_enc,
            insert_plain,
            read,
            search,
            update,
        })
    }
}

/// Creates the schema and runs every baseline phase.
pub(crate) async fn run_all(
    cluster: &Cluster,
    clients: usize,
    warmup: f64,
    seconds: f64,
    bytes: usize,
) -> Result<Vec<PhaseResult>> {
    let setup = cluster.connect().await?;
    setup.batch_execute(SCHEMA).await?;
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(Conn::new(cluster).await?);
    }
    let conns = Arc::new(conns);
    let created: Arc<Vec<Created>> =
        Arc::new((0..clients).map(|_| Mutex::new(Vec::new())).collect());
    let sys = "postgres+pgcrypto+pgaudit";
    let mut out = Vec::new();
    {
        let (conns, created) = (conns.clone(), created.clone());
        out.push(
            run(sys, "create", clients, warmup, seconds, move |c, n| {
                let (conns, created) = (conns.clone(), created.clone());
                async move {
                    let p = payload(bytes, c, n);
                    let mrn = p["mrn"].as_str().unwrap_or_default().to_owned();
                    let id = Uuid::now_v7();
                    let (ids, subject, data) = (
                        id.to_string(),
                        format!("subj-{c}-{}", n % 50),
                        p.to_string(),
                    );
                    let k = &conns[c];
                    k.client
                        .execute(
                            &k.insert_enc,
                            &[&ids, &subject, &mrn, &HMAC_KEY, &data, &PGP_KEY],
                        )
                        .await?;
                    if let Ok(mut v) = created[c].lock() {
                        v.push((id, mrn, 1));
                    }
                    Ok(())
                }
            })
            .await,
        );
    }
    let pick = |created: &[Created], c: usize, n: u64| {
        let v = created[c].lock().map_err(|_| anyhow!("poisoned"))?;
        if v.is_empty() {
            return Err(anyhow!("no records"));
        }
        let i = (n as usize).wrapping_mul(7919) % v.len();
        Ok((i, v[i].clone()))
    };
    {
        let (conns, created) = (conns.clone(), created.clone());
        out.push(
            run(sys, "read", clients, warmup, seconds, move |c, n| {
                let (conns, created) = (conns.clone(), created.clone());
                async move {
                    let (_, (id, _, _)) = pick(&created, c, n)?;
                    let k = &conns[c];
                    let row = k
                        .client
                        .query_one(&k.read, &[&id.to_string(), &PGP_KEY])
                        .await?;
                    let _: String = row.try_get(2)?;
                    Ok(())
                }
            })
            .await,
        );
    }
    {
        let (conns, created) = (conns.clone(), created.clone());
        out.push(
            run(sys, "search", clients, warmup, seconds, move |c, n| {
                let (conns, created) = (conns.clone(), created.clone());
                async move {
                    let (_, (_, mrn, _)) = pick(&created, c, n)?;
                    let k = &conns[c];
                    let rows = k
                        .client
                        .query(&k.search, &[&mrn, &HMAC_KEY, &PGP_KEY])
                        .await?;
                    if rows.is_empty() {
                        return Err(anyhow!("search found nothing"));
                    }
                    Ok(())
                }
            })
            .await,
        );
    }
    {
        let (conns, created) = (conns.clone(), created.clone());
        out.push(
            run(sys, "update", clients, warmup, seconds, move |c, n| {
                let (conns, created) = (conns.clone(), created.clone());
                async move {
                    let (i, (id, mrn, version)) = pick(&created, c, n)?;
                    let mut p = payload(bytes, c, n ^ 0xdead_beef);
                    p["mrn"] = serde_json::Value::String(mrn.clone());
                    let k = &conns[c];
                    let row = k
                        .client
                        .query_one(
                            &k.update,
                            &[
                                &id.to_string(),
                                &version,
                                &p.to_string(),
                                &PGP_KEY,
                                &mrn,
                                &HMAC_KEY,
                            ],
                        )
                        .await?;
                    let v: i64 = row.try_get(0)?;
                    if let Ok(mut l) = created[c].lock() {
                        l[i].2 = v;
                    }
                    Ok(())
                }
            })
            .await,
        );
    }
    {
        let conns = conns.clone();
        out.push(
            run(
                sys,
                "create-plain",
                clients,
                warmup,
                seconds,
                move |c, n| {
                    let conns = conns.clone();
                    async move {
                        let p = payload(bytes, c, n);
                        let mrn = p["mrn"].as_str().unwrap_or_default().to_owned();
                        let (ids, subject, data) = (
                            Uuid::now_v7().to_string(),
                            format!("subj-{c}-{}", n % 50),
                            p.to_string(),
                        );
                        let k = &conns[c];
                        k.client
                            .execute(&k.insert_plain, &[&ids, &subject, &mrn, &data])
                            .await?;
                        Ok(())
                    }
                },
            )
            .await,
        );
    }
    Ok(out)
}

/// How many pgaudit lines the server log holds (a check that auditing was on).
pub(crate) fn audit_lines(cluster: &Cluster) -> usize {
    std::fs::read_to_string(cluster.log_path())
        .map(|s| s.lines().filter(|l| l.contains("AUDIT: SESSION")).count())
        .unwrap_or(0)
}
