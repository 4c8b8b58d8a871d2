//! The PostgreSQL storage backend: [`PgStore`] implements core's [`Store`] on one
//! PostgreSQL database (self-run, replicated or managed), so that several stateless
//! phivault nodes can share it. Embedded versioned migrations, a connection pool,
//! optional TLS with certificate verification, and the same group-commit write path as
//! the SQLite backend.
//!
//! The database holds ids, names, times, ciphertext, wrapped keys, blind-index tags and
//! audit JSON only; plaintext PHI never reaches this crate.
//!
//! # Storage URL
//!
//! `postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAMS]` (or `postgresql://`), with the
//! usual libpq-style parameters understood by `tokio-postgres`, plus:
//! - `schema=NAME`: keep the vault's tables in schema `NAME` (created if missing) instead
//!   of the role's default `search_path`; one database can then hold several vaults.
//! - `sslmode=disable` (the default), or `sslmode=verify-full` / `require`: TLS, always
//!   with certificate and host-name verification, against the CA certificates of
//! - `sslrootcert=PATH`: a PEM file (required with TLS).
#![forbid(unsafe_code)]

mod error;
mod identity;
mod import;
mod privacy;
mod schema;
pub mod testing;
mod tx;
mod writer;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use phivault_core::StoreError;
use phivault_core::store::{BoxFuture, ReadFn, Store, WriteFn};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

use crate::error::{map_err, pool_err, unavailable};
use crate::tx::PgTx;
use crate::writer::{Counters, Reply, Writer};

pub use import::TableCount;
pub use schema::SCHEMA_VERSION;

/// Tuning for [`PgStore::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// The most write closures committed together in one transaction.
    pub max_batch: usize,
    /// How many connections the pool holds at most (one is the writer's).
    pub pool_size: usize,
    /// How long to wait for a connection to the server.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Write-path counters since the store was opened; `writes / commits` is the batching gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: u64,
    /// Write closures run (successful or not).
    pub writes: u64,
}

/// Whether and how the connection to the server is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    /// Plain TCP (or a Unix socket); for a server on the same host only.
    Disabled,
    /// TLS, verifying the server's certificate chain against these PEM roots and its
    /// name against the host in the URL.
    VerifyFull {
        /// A PEM file of trusted CA certificates.
        root_cert: PathBuf,
    },
}

/// A parsed storage URL: the driver's connection settings plus phivault's own parameters.
#[derive(Clone)]
pub struct PgUrl {
    config: tokio_postgres::Config,
    schema: Option<String>,
    tls: PgTls,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The driver's Config is not printed: it may hold a password.
        f.debug_struct("PgUrl")
            .field("hosts", &self.config.get_hosts().len())
            .field("dbname", &self.config.get_dbname())
            .field("schema", &self.schema)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl PgUrl {
    /// Parses a `postgres://` or `postgresql://` URL (see the crate documentation).
    pub fn parse(url: &str) -> Result<PgUrl, StoreError> {
        let bad = |why: &str| StoreError::Unavailable(format!("bad postgres URL: {why}"));
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(bad("it must start with postgres:// or postgresql://"));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut kept = Vec::new();
        let mut schema = None;
        let mut sslmode = None;
        let mut root_cert = None;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "schema" => schema = Some(v.to_owned()),
                "sslmode" => sslmode = Some(v.to_owned()),
                "sslrootcert" => root_cert = Some(PathBuf::from(v)),
                _ => kept.push(pair),
            }
        }
        if let Some(s) = &schema {
            let ok = !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !s.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad(
                    "schema must be 1-63 of a-z, 0-9 and _, not starting with a digit",
                ));
            }
        }
        let tls = match sslmode.as_deref() {
            None | Some("disable") => PgTls::Disabled,
            Some("require" | "verify-full" | "verify-ca") => PgTls::VerifyFull {
                root_cert: root_cert.ok_or_else(|| {
                    bad("TLS needs sslrootcert=PATH (a PEM file of CA certificates)")
                })?,
            },
            Some(_) => return Err(bad("sslmode must be disable, require or verify-full")),
        };
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        // The driver's own error text may quote the URL (and its password): not passed on.
        let config = tokio_postgres::Config::from_str(&rest)
            .map_err(|_| bad("the driver could not parse it"))?;
        Ok(PgUrl {
            config,
            schema,
            tls,
        })
    }

    /// The schema named by `schema=`, if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// How the connection is secured.
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// Whether PHI ciphertext and wrapped keys would cross a network unencrypted: TLS is
    /// off and some host is neither a Unix socket nor a loopback name.
    pub fn unencrypted_remote(&self) -> bool {
        self.tls == PgTls::Disabled
            && self.config.get_hosts().iter().any(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => {
                    !matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1")
                }
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(_) => false,
            })
    }
}

/// A [`Store`] on a PostgreSQL database, shareable by several phivault processes.
pub struct PgStore {
    url: PgUrl,
    opts: PgOptions,
    pool: Pool,
    /// `None` only while dropping, so the writer thread sees its queue close.
    jobs: Option<mpsc::Sender<(WriteFn, Reply)>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// The runtime that drives every connection of this store, independent of the
    /// caller's runtime (so closures can block on it from non-runtime threads).
    _rt: OwnedRuntime,
    handle: Handle,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.url)
            .field("opts", &self.opts)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The store's own runtime; dropping it never blocks, so it may be dropped anywhere
/// (including inside the caller's async context, e.g. when connecting fails).
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn tls_connector(tls: &PgTls) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let PgTls::VerifyFull { root_cert } = tls else {
        return Err(unavailable("TLS is disabled"));
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(root_cert)
        .map_err(|_| unavailable("cannot read sslrootcert"))?;
    for cert in certs {
        let cert = cert.map_err(|_| unavailable("sslrootcert holds a malformed certificate"))?;
        roots
            .add(cert)
            .map_err(|_| unavailable("sslrootcert holds an unusable certificate"))?;
    }
    if roots.is_empty() {
        return Err(unavailable("sslrootcert holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| unavailable("no usable TLS protocol version"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connects to the database at `url`, creates the schema if needed, applies pending
    /// migrations and starts the writer thread. Refuses a schema migrated by a newer build.
    /// Blocks the calling thread while connecting (safe inside an async context too).
    pub fn connect(url: &str, opts: PgOptions) -> Result<PgStore, StoreError> {
        let url = PgUrl::parse(url)?;
        if url.unencrypted_remote() {
            tracing::warn!(
                "connecting to a remote PostgreSQL server without TLS; \
                 set sslmode=verify-full and sslrootcert in the storage URL"
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("phivault-pg-io")
            .enable_all()
            .build()
            .map_err(|_| unavailable("could not start the postgres runtime"))?;
        let handle = rt.handle().clone();
        let rt = OwnedRuntime(Some(rt));
        let mut config = url.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        if let Some(schema) = &url.schema {
            config.options(format!("-c search_path={schema}"));
        }
        // The driver's default ("prefer") would fall back to plaintext when the server
        // offers no TLS: with TLS asked for, it is required, and never attempted otherwise.
        config.ssl_mode(match url.tls {
            PgTls::Disabled => tokio_postgres::config::SslMode::Disable,
            PgTls::VerifyFull { .. } => tokio_postgres::config::SslMode::Require,
        });
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &url.tls {
            PgTls::Disabled => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
            tls => Manager::from_config(config, tls_connector(tls)?, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout.saturating_mul(3)))
            .create_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|_| unavailable("could not build the postgres pool"))?;

        // Connect and migrate on a helper thread: `block_on` may not run on a thread that
        // is already inside a runtime (the caller's).
        let (p, h, schema) = (pool.clone(), handle.clone(), url.schema.clone());
        std::thread::scope(|s| {
            s.spawn(move || {
                h.block_on(async move {
                    let mut client = p.get().await.map_err(pool_err)?;
                    schema::migrate(&mut client, schema.as_deref()).await
                })
            })
            .join()
            .unwrap_or_else(|_| Err(unavailable("postgres set-up panicked")))
        })?;

        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel();
        let writer = Writer {
            pool: pool.clone(),
            rt: handle.clone(),
            jobs: queue,
            max_batch: opts.max_batch,
            counters: counters.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("phivault-pg-writer".into())
            .spawn(move || writer.run())
            .map_err(|_| unavailable("could not start the postgres writer thread"))?;
        Ok(PgStore {
            url,
            opts,
            pool,
            jobs: Some(jobs),
            writer: Some(thread),
            counters,
            _rt: rt,
            handle,
        })
    }

    /// The parsed URL (no password is printed by its `Debug`).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Commit and write counters, for tests and metrics.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer after the jobs already queued.
        self.jobs = None;
        if let Some(handle) = self.writer.take() {
            // The last reference may be dropped by a closure running on the writer itself.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
        self.pool.close();
        // The runtime (and with it every connection task) stops when `rt` is dropped.
    }
}

fn writer_gone() -> StoreError {
    unavailable("postgres writer thread is not running")
}

impl Store for PgStore {
    fn read(&self, f: ReadFn) -> BoxFuture<'_, Result<(), StoreError>> {
        let (pool, rt) = (self.pool.clone(), self.handle.clone());
        Box::pin(async move {
            let task = self.handle.spawn_blocking(move || {
                let client = rt.block_on(pool.get()).map_err(pool_err)?;
                rt.block_on(
                    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                )
                .map_err(map_err)?;
                // The snapshot is taken by the first statement and holds for the closure.
                // A panicking closure must not return its connection to the pool while
                // its transaction is still open.
                let mut tx = PgTx::new(&client, &rt);
                let outcome = match catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
                    Ok(r) => r,
                    Err(_) => Err(unavailable("read closure panicked")),
                };
                if rt.block_on(client.batch_execute("ROLLBACK")).is_err() {
                    // Not reusable in an unknown transaction state: dropped, not pooled.
                    let _ = deadpool_postgres::Object::take(client);
                }
                outcome
            });
            task.await
                .unwrap_or_else(|_| Err(unavailable("read closure panicked")))
        })
    }

    fn write(&self, f: WriteFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // Sent on first poll, as futures are lazy: a future dropped unpolled writes nothing.
            let (to, outcome) = oneshot::channel();
            let jobs = self.jobs.as_ref().ok_or_else(writer_gone)?;
            jobs.send((f, to)).map_err(|_| writer_gone())?;
            outcome.await.unwrap_or_else(|_| Err(writer_gone()))
        })
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters() {
        let u = PgUrl::parse("postgres://postgres@127.0.0.1:5432/test?schema=v_1").unwrap();
        assert_eq!(u.schema(), Some("v_1"));
        assert_eq!(u.tls(), &PgTls::Disabled);
        let u = PgUrl::parse(
            "postgresql://u:secret@db.example:5432/vault?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            u.tls(),
            &PgTls::VerifyFull {
                root_cert: "/ca.pem".into()
            }
        );
        assert!(!format!("{u:?}").contains("secret"));
        assert!(!u.unencrypted_remote());
        assert!(
            PgUrl::parse("postgres://u@db.example/v")
                .unwrap()
                .unencrypted_remote()
        );
        assert!(
            !PgUrl::parse("postgres://u@localhost/v")
                .unwrap()
                .unencrypted_remote()
        );
        assert!(PgUrl::parse("postgres://h/db?sslmode=require").is_err());
        assert!(PgUrl::parse("postgres://h/db?sslmode=allow").is_err());
        assert!(PgUrl::parse("postgres://h/db?schema=Bad-Name").is_err());
        assert!(PgUrl::parse("sqlite:x.db").is_err());
        let e = PgUrl::parse("postgres://u:hunter2@h:notaport/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
