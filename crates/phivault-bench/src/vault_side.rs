//! The phivault side: an in-process vault (the real `phivault_server` router and TLS accept
//! loop, on a temporary SQLite database or a given PostgreSQL URL) driven over HTTPS on
//! loopback, plus the benchmark-only plaintext path for the safeguards tax.

use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use phivault_api::{Collection, CreateRecordRequest};
use phivault_client::Client;
use phivault_core::crypto::Keyring;
use phivault_core::store::Store;
use phivault_core::{
    CollectionName, Principal, PurposeOfUse, RequestMeta, SubjectId, SystemClock, Vault,
    VaultConfig,
};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use phivault_testkit::synthetic::{Synth, patient_schema};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::load::{PhaseResult, run};

/// Where the vault keeps its data.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// A temporary SQLite database (`synchronous=FULL`, WAL).
    Sqlite,
    /// A PostgreSQL database at this URL.
    Postgres(String),
}

/// A running vault.
pub(crate) struct BenchVault {
    vault: Arc<Vault>,
    base_url: String,
    ca_pem: Vec<u8>,
    app_token: String,
    admin_token: String,
    backend: &'static str,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

/// The route of the benchmark-only plaintext create (no token, no policy, no audit, no
/// encryption), added to the same server.
const PLAIN_ROUTE: &str = "/bench-internal/plain/{name}/records";

/// Everything the workload needs to remember about one created record.
#[derive(Debug, Clone)]
struct Created {
    id: Uuid,
    mrn: String,
    version: u64,
}

/// A synthetic ~`bytes` patient for client `c`, operation `n` (deterministic).
pub(crate) fn payload(bytes: usize, c: usize, n: u64) -> Value {
    Synth::new(((c as u64) << 40) ^ n).patient_of_size(bytes)
}

/// The SQLite store; with `PHIVAULT_BENCH_JOURNAL_RPO_MS` set, journaling every commit
/// for point-in-time recovery (a segment is started at once, as `serve` does), so the
/// same workload measures the journal's cost.
async fn open_sqlite(dir: &std::path::Path) -> Result<SqliteStore> {
    use phivault_store_sqlite::journal::{Journal, JournalConfig};
    let db = dir.join("vault.db");
    let Ok(rpo) = std::env::var("PHIVAULT_BENCH_JOURNAL_RPO_MS") else {
        return SqliteStore::open(&db, SqliteOptions::default())
            .map_err(|e| anyhow!("open sqlite store: {e:?}"));
    };
    let journal = Journal::new(JournalConfig {
        dir: dir.join("backups"),
        rpo: std::time::Duration::from_millis(rpo.parse()?),
        clock: Arc::new(SystemClock),
    });
    let store = SqliteStore::open_with_journal(&db, SqliteOptions::default(), journal.clone())
        .map_err(|e| anyhow!("open sqlite store: {e:?}"))?;
    journal
        .start_segment(&dir.join("base.db"), "bench")
        .await
        .map_err(|e| anyhow!("start the journal: {e:?}"))?;
    eprintln!("journal on: rpo {rpo} ms");
    Ok(store)
}

impl BenchVault {
    /// Starts a vault and its HTTPS server on a loopback port.
    pub(crate) async fn start(backend: &Backend) -> Result<BenchVault> {
        let dir = tempfile::tempdir()?;
        let (store, name): (Arc<dyn Store>, &'static str) = match backend {
            Backend::Sqlite => (Arc::new(open_sqlite(dir.path()).await?), "sqlite"),
            Backend::Postgres(url) => {
                let url = url.clone();
                let s = tokio::task::spawn_blocking(move || {
                    phivault_store_postgres::PgStore::connect(&url, Default::default())
                })
                .await?
                .map_err(|e| anyhow!("connect postgres store: {e:?}"))?;
                (Arc::new(s), "postgres")
            }
        };
        let vault = Arc::new(Vault::new(
            store,
            Keyring::generate().map_err(|e| anyhow!("keyring: {e:?}"))?,
            Arc::new(SystemClock),
            VaultConfig::default(),
        ));
        let op = Principal::local_operator();
        let meta = RequestMeta::default();
        vault
            .put_role(&meta, &op, phivault_testkit::server::records_all_role())
            .await
            .map_err(|e| anyhow!("role: {e:?}"))?;
        let mut tokens = Vec::new();
        for (account, role) in [
            ("bench-admin", "admin"),
            ("bench-app", phivault_testkit::server::RECORDS_ALL),
        ] {
            vault
                .create_service_account(&meta, &op, account, &[role.to_owned()], false)
                .await
                .map_err(|e| anyhow!("service account: {e:?}"))?;
            let (_, secret) = vault
                .create_token(
                    &meta,
                    &op,
                    account,
                    "bench",
                    &[role.to_owned()],
                    Duration::days(1),
                )
                .await
                .map_err(|e| anyhow!("token: {e:?}"))?;
            tokens.push(secret.expose_secret().to_owned());
        }
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])?;
        let ca_pem = cert.cert.pem().into_bytes();
        let key_pem = cert.signing_key.serialize_pem();
        let tls = Arc::new(
            phivault_server::tls_config(&ca_pem, key_pem.as_bytes())
                .map_err(|e| anyhow!("tls: {e:?}"))?,
        );
        let plain_vault = vault.clone();
        let router = phivault_server::router(phivault_server::AppState::new(vault.clone())).route(
            PLAIN_ROUTE,
            post(
                move |Path(name): Path<String>, Json(body): Json<CreateRecordRequest>| {
                    let v = plain_vault.clone();
                    async move {
                        let Ok(coll) = CollectionName::parse(&name) else {
                            return Err(StatusCode::BAD_REQUEST);
                        };
                        match v.bench_plain_create(&coll, &body.subject, body.data).await {
                            Ok(id) => Ok((
                                StatusCode::CREATED,
                                Json(serde_json::json!({ "id": id.to_string() })),
                            )),
                            Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = phivault_server::serve(listener, tls, router, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(BenchVault {
            vault,
            base_url: format!("https://{addr}"),
            ca_pem,
            app_token: tokens[1].clone(),
            admin_token: tokens[0].clone(),
            backend: name,
            _dir: dir,
            _shutdown: tx,
        })
    }

    /// `sqlite` or `postgres`.
    pub(crate) fn backend(&self) -> &'static str {
        self.backend
    }

    fn client(&self) -> Result<Client> {
        Ok(
            Client::new(&self.base_url, Some(self.app_token.clone()), &self.ca_pem)
                .map_err(|e| anyhow!("client: {e:?}"))?
                .with_purpose("TREAT"),
        )
    }

    /// A raw HTTPS client trusting the vault's certificate (for the plaintext route).
    fn raw_client(&self) -> Result<reqwest::Client> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&self.ca_pem) {
            roots.add(c?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .https_only(true)
            .build()?)
    }

    /// Runs every phivault phase and returns the results.
    pub(crate) async fn run_all(
        &self,
        clients: usize,
        warmup: f64,
        seconds: f64,
        bytes: usize,
        round: usize,
    ) -> Result<Vec<PhaseResult>> {
        // one collection per round; leaked so that the 'static phase closures can share it
        let coll: &'static str = Box::leak(format!("bench_patients_{round}").into_boxed_str());
        let admin = Client::new(&self.base_url, Some(self.admin_token.clone()), &self.ca_pem)
            .map_err(|e| anyhow!("admin client: {e:?}"))?;
        let schema: Collection = serde_json::from_value(patient_schema(coll))?;
        admin
            .create_collection(&schema)
            .await
            .map_err(|e| anyhow!("create collection: {e:?}"))?;
        let sys = format!("phivault-{}", self.backend);
        let mut out = Vec::new();
        let cs: Arc<Vec<Client>> =
            Arc::new((0..clients).map(|_| self.client()).collect::<Result<_>>()?);
        let created: Arc<Vec<Mutex<Vec<Created>>>> =
            Arc::new((0..clients).map(|_| Mutex::new(Vec::new())).collect());

        // 1. create: TLS → token → policy → validate → seal → blind index → audit → group commit
        {
            let (cs, created) = (cs.clone(), created.clone());
            out.push(
                run(&sys, "create", clients, warmup, seconds, move |c, n| {
                    let (cs, created) = (cs.clone(), created.clone());
                    async move {
                        let p = payload(bytes, c, n);
                        let mrn = p["mrn"].as_str().unwrap_or_default().to_owned();
                        let r = cs[c]
                            .create_record(coll, &format!("subj-{c}-{}", n % 50), p)
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                        if let Ok(mut v) = created[c].lock() {
                            v.push(Created {
                                id: r.id,
                                mrn,
                                version: r.version,
                            });
                        }
                        Ok(())
                    }
                })
                .await,
            );
        }
        let pick = |created: &[Mutex<Vec<Created>>], c: usize, n: u64| -> Result<Created> {
            let v = created[c].lock().map_err(|_| anyhow!("poisoned"))?;
            if v.is_empty() {
                return Err(anyhow!("no records"));
            }
            Ok(v[(n as usize).wrapping_mul(7919) % v.len()].clone())
        };

        // 2. read by id
        {
            let (cs, created) = (cs.clone(), created.clone());
            out.push(
                run(&sys, "read", clients, warmup, seconds, move |c, n| {
                    let (cs, created) = (cs.clone(), created.clone());
                    async move {
                        let r = pick(&created, c, n)?;
                        cs[c]
                            .get_record(coll, r.id)
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                        Ok(())
                    }
                })
                .await,
            );
        }
        // 3. search by the blind-indexed MRN
        {
            let (cs, created) = (cs.clone(), created.clone());
            out.push(
                run(&sys, "search", clients, warmup, seconds, move |c, n| {
                    let (cs, created) = (cs.clone(), created.clone());
                    async move {
                        let r = pick(&created, c, n)?;
                        let l = cs[c]
                            .search(coll, "mrn", Value::String(r.mrn))
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                        if l.items.is_empty() {
                            return Err(anyhow!("search found nothing"));
                        }
                        Ok(())
                    }
                })
                .await,
            );
        }
        // 4. update (If-Match on the current version; each client updates its own records)
        {
            let (cs, created) = (cs.clone(), created.clone());
            out.push(
                run(&sys, "update", clients, warmup, seconds, move |c, n| {
                    let (cs, created) = (cs.clone(), created.clone());
                    async move {
                        let idx = {
                            let v = created[c].lock().map_err(|_| anyhow!("poisoned"))?;
                            if v.is_empty() {
                                return Err(anyhow!("no records"));
                            }
                            (n as usize).wrapping_mul(7919) % v.len()
                        };
                        let r = created[c].lock().map_err(|_| anyhow!("poisoned"))?[idx].clone();
                        let mut p = payload(bytes, c, n ^ 0xdead_beef);
                        p["mrn"] = Value::String(r.mrn.clone());
                        let up = cs[c]
                            .update_record(coll, r.id, r.version, p)
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                        if let Ok(mut v) = created[c].lock() {
                            v[idx].version = up.version;
                        }
                        Ok(())
                    }
                })
                .await,
            );
        }
        // 5. safeguards off, same HTTPS server: plaintext create through the same store
        {
            let raws: Arc<Vec<reqwest::Client>> = Arc::new(
                (0..clients)
                    .map(|_| self.raw_client())
                    .collect::<Result<_>>()?,
            );
            let url = format!("{}{}", self.base_url, PLAIN_ROUTE.replace("{name}", coll));
            out.push(
                run(
                    &sys,
                    "create-plain",
                    clients,
                    warmup,
                    seconds,
                    move |c, n| {
                        let (raws, url) = (raws.clone(), url.clone());
                        async move {
                            let body = CreateRecordRequest {
                                subject: format!("subj-{c}-{}", n % 50),
                                data: payload(bytes, c, n),
                            };
                            let r = raws[c].post(&url).json(&body).send().await?;
                            if !r.status().is_success() {
                                return Err(anyhow!("status {}", r.status()));
                            }
                            let _ = r.bytes().await?;
                            Ok(())
                        }
                    },
                )
                .await,
            );
        }
        // 6./7. the same pair in-process (no HTTP, no TLS): Vault::create_record vs the plaintext path
        let sys_in = format!("{sys}-inproc");
        let meta = RequestMeta::default();
        let mut principal = self
            .vault
            .authenticate(&meta, Some(&self.app_token))
            .await
            .map_err(|e| anyhow!("authenticate: {e:?}"))?;
        principal.purpose = Some(PurposeOfUse::Treat);
        let principal = Arc::new(principal);
        let cname = CollectionName::parse(coll).map_err(|e| anyhow!("{e:?}"))?;
        {
            let (v, p, cname) = (self.vault.clone(), principal.clone(), cname.clone());
            out.push(
                run(&sys_in, "create", clients, warmup, seconds, move |c, n| {
                    let (v, p, cname) = (v.clone(), p.clone(), cname.clone());
                    async move {
                        let subject = SubjectId::parse(&format!("subj-{c}-{}", n % 50))
                            .map_err(|e| anyhow!("{e:?}"))?;
                        let meta = RequestMeta {
                            request_id: Uuid::new_v4().to_string(),
                            source: Some("127.0.0.1".to_owned()),
                        };
                        v.create_record(&meta, &p, &cname, &subject, payload(bytes, c, n))
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                        Ok(())
                    }
                })
                .await,
            );
        }
        {
            let (v, cname) = (self.vault.clone(), cname.clone());
            out.push(
                run(
                    &sys_in,
                    "create-plain",
                    clients,
                    warmup,
                    seconds,
                    move |c, n| {
                        let (v, cname) = (v.clone(), cname.clone());
                        async move {
                            v.bench_plain_create(
                                &cname,
                                &format!("subj-{c}-{}", n % 50),
                                payload(bytes, c, n),
                            )
                            .await
                            .map_err(|e| anyhow!("{e:?}"))?;
                            Ok(())
                        }
                    },
                )
                .await,
            );
        }
        let report = phivault_core::vault::verify_chain(&**self.vault.store())
            .await
            .map(|r| format!("{r:?}"))
            .unwrap_or_else(|e| format!("{e:?}"));
        eprintln!("  audit chain after the run: {}", truncate(&report, 200));
        Ok(out)
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
