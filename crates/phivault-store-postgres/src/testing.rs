//! Test support: a throwaway schema on the test server, shared by this crate's tests and
//! the binary's multi-node tests.
//!
//! The server is named by `PHIVAULT_TEST_POSTGRES_URL` (default [`DEFAULT_TEST_URL`]).
//! When it cannot be reached, [`TestSchema::create`] prints a `SKIP` line and returns
//! `None`, unless `PHIVAULT_REQUIRE_POSTGRES=1` (as in CI), when it panics instead.
#![allow(
    clippy::panic,
    reason = "test support shipped in the library: a required server that is absent must fail the test"
)]

use std::time::Duration;

use tokio_postgres::NoTls;

/// The test server used when `PHIVAULT_TEST_POSTGRES_URL` is unset.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test server's URL.
pub fn test_url() -> String {
    std::env::var("PHIVAULT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_owned())
}

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

/// Whether tests must fail rather than skip without PostgreSQL.
pub fn required() -> bool {
    std::env::var("PHIVAULT_REQUIRE_POSTGRES").as_deref() == Ok("1")
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
    /// Creates the schema, or says why not (see the module documentation).
    pub async fn create(what: &str) -> Option<TestSchema> {
        let base = test_url();
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
            let client = connect(&base).await?;
            client
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .await
                .map_err(|e| format!("{e}"))
        }
        .await;
        match made {
            Ok(()) => Some(TestSchema { base, name }),
            Err(e) if required() => {
                let base = redacted(&base);
                panic!("PostgreSQL at {base} is required (PHIVAULT_REQUIRE_POSTGRES=1): {e}")
            }
            Err(e) => {
                let base = redacted(&base);
                eprintln!(
                    "SKIP {what}: PostgreSQL at {base} is unavailable ({e}); set \
                     PHIVAULT_TEST_POSTGRES_URL, or PHIVAULT_REQUIRE_POSTGRES=1 to fail instead"
                );
                None
            }
        }
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
        // A private runtime on a private thread: drop may run inside the caller's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = connect(&base).await.ok()?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
