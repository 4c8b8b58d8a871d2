//! Test support: a throwaway schema on the test server, shared by this crate's tests and
//! the binary's multi-node tests.
//!
//! The test server is the one `PHIVAULT_TEST_POSTGRES_URL` names when it answers;
//! otherwise (unset, or nothing answering there) a throwaway cluster this process starts
//! from the system's PostgreSQL binaries (`phivault_testenv::postgres::shared`). Only when
//! PostgreSQL is not installed at all does [`TestSchema::create`] skip (see
//! `phivault_testenv::skip_or_fail`: a failure under `PHIVAULT_REQUIRE_POSTGRES=1`).

use std::sync::OnceLock;
use std::time::Duration;

use phivault_testenv::Requirement;
use tokio_postgres::NoTls;

/// The variable naming an existing test server.
pub const URL_VARIABLE: &str = "PHIVAULT_TEST_POSTGRES_URL";

/// The URL with any password replaced, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if s < at => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Runs `f` to completion on a private runtime on a private thread (callers may be inside
/// a runtime of their own, where blocking on another is not allowed).
fn on_private_runtime<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        Some(rt.block_on(f))
    })
    .join()
    .ok()
    .flatten()
}

/// The base URL of this process's test server (decided once per process), or why there is
/// none.
pub fn server_url() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var(URL_VARIABLE) {
                let probe = url.clone();
                match on_private_runtime(async move { connect(&probe).await.map(drop) }) {
                    Some(Ok(())) => return Ok(url),
                    Some(Err(e)) => phivault_testenv::announce(&format!(
                        "note: PostgreSQL at {} does not answer ({e}); using a throwaway cluster",
                        redacted(&url)
                    )),
                    None => {}
                }
            }
            let url = phivault_testenv::postgres::shared()?.url("test");
            // Creates the test database once, before tests race to create it.
            let probe = url.clone();
            on_private_runtime(async move { connect(&probe).await.map(drop) })
                .ok_or("the throwaway cluster's probe failed")??;
            Ok(url)
        })
        .clone()
}

/// A fresh schema `test_<what>_<random>`, dropped (with everything in it) on drop.
#[derive(Debug)]
pub struct TestSchema {
    base: String,
    name: String,
}

async fn connect_config(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Connects to the test database, creating it first (from the `postgres` database) if
/// the server answers that it does not exist, as on a fresh CI server.
async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(5));
    match connect_config(&config).await {
        Ok(client) => Ok(client),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
            let name = config.get_dbname().unwrap_or("test").replace('"', "");
            let mut admin = config.clone();
            admin.dbname("postgres");
            let client = connect_config(&admin).await.map_err(|e| format!("{e}"))?;
            if let Err(e) = client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                && e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
            {
                return Err(format!("creating database {name}: {e}"));
            }
            connect_config(&config).await.map_err(|e| format!("{e}"))
        }
        Err(e) => Err(format!("{e}")),
    }
}

impl TestSchema {
    /// Creates the schema on the test server (see the module documentation), or skips:
    /// `None` after a `SKIP` line, or a failure when PostgreSQL is required.
    pub async fn create(what: &str) -> Option<TestSchema> {
        let name = format!(
            "test_{}_{}",
            what.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(24)
                .collect::<String>()
                .to_ascii_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let made = async {
            let base = server_url()?;
            let client = connect(&base)
                .await
                .map_err(|e| format!("PostgreSQL at {}: {e}", redacted(&base)))?;
            client
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .await
                .map_err(|e| format!("creating a schema: {e}"))?;
            Ok::<_, String>(base)
        }
        .await;
        match made {
            Ok(base) => Some(TestSchema { base, name }),
            Err(e) => {
                phivault_testenv::skip_or_fail(Requirement::Postgres, &e);
                None
            }
        }
    }

    /// The URL of the server the schema is on (without the schema).
    pub fn server_url(&self) -> &str {
        &self.base
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A storage URL that selects this schema.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.base, self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = on_private_runtime(async move {
            let client = connect(&base).await.ok()?;
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await
                .ok()
        });
    }
}
