//! The vault's configuration: one TOML file in the data directory, every key overridable by
//! a `PHIVAULT_*` environment variable (e.g. `PHIVAULT_LISTEN`), paths relative to the data
//! directory.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The configuration file's name inside the data directory.
pub(crate) const CONFIG_FILE: &str = "phivault.toml";

/// Everything `serve` and the offline commands need to find and run the vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Address and port of the HTTPS listener (there is no plaintext listener).
    pub(crate) listen: String,
    /// Storage URL: `sqlite:PATH` (relative to the data directory) or
    /// `postgres://USER@HOST:PORT/DB[?schema=NAME&sslmode=verify-full&sslrootcert=PATH]`
    /// (several nodes may share one PostgreSQL database).
    pub(crate) storage: String,
    /// The passphrase-sealed keyring file.
    pub(crate) keyring: String,
    /// PEM certificate chain served by the listener.
    pub(crate) tls_cert: String,
    /// PEM private key of the certificate.
    pub(crate) tls_key: String,
    /// Largest accepted request body, in bytes.
    pub(crate) body_limit_bytes: usize,
    /// Longest lifetime of an API token, in days.
    pub(crate) max_token_ttl_days: u32,
    /// SQLite durability: `full` (default: an acknowledged write survives power loss) or `normal`.
    pub(crate) sqlite_synchronous: String,
    /// `text` or `json` log lines.
    pub(crate) log_format: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".to_owned(),
            storage: "sqlite:phivault.db".to_owned(),
            keyring: "keyring.json".to_owned(),
            tls_cert: "tls/cert.pem".to_owned(),
            tls_key: "tls/key.pem".to_owned(),
            body_limit_bytes: 1024 * 1024,
            max_token_ttl_days: 90,
            sqlite_synchronous: "full".to_owned(),
            log_format: "text".to_owned(),
        }
    }
}

impl Config {
    /// Reads the data directory's config file, then applies `PHIVAULT_*` overrides.
    pub(crate) fn load(data_dir: &Path) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Applies `PHIVAULT_<KEY>` overrides read through `get`.
    pub(crate) fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        let set = |field: &mut String, key: &str| {
            if let Some(v) = get(key) {
                *field = v;
            }
        };
        set(&mut self.listen, "PHIVAULT_LISTEN");
        set(&mut self.storage, "PHIVAULT_STORAGE");
        set(&mut self.keyring, "PHIVAULT_KEYRING");
        set(&mut self.tls_cert, "PHIVAULT_TLS_CERT");
        set(&mut self.tls_key, "PHIVAULT_TLS_KEY");
        set(&mut self.sqlite_synchronous, "PHIVAULT_SQLITE_SYNCHRONOUS");
        set(&mut self.log_format, "PHIVAULT_LOG_FORMAT");
        if let Some(v) = get("PHIVAULT_BODY_LIMIT_BYTES") {
            self.body_limit_bytes = v.parse().context("PHIVAULT_BODY_LIMIT_BYTES")?;
        }
        if let Some(v) = get("PHIVAULT_MAX_TOKEN_TTL_DAYS") {
            self.max_token_ttl_days = v.parse().context("PHIVAULT_MAX_TOKEN_TTL_DAYS")?;
        }
        Ok(())
    }

    /// Refuses settings that cannot work or are unsafe.
    pub(crate) fn check(&self) -> Result<()> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!("listen must be ADDR:PORT");
        }
        if !self.storage.starts_with("sqlite:") && !self.is_postgres() {
            bail!("storage must be a sqlite:PATH or postgres:// URL");
        }
        if self.is_postgres() {
            phivault_store_postgres::PgUrl::parse(&self.storage)
                .map_err(|e| anyhow::anyhow!("storage: {e}"))?;
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.body_limit_bytes) {
            bail!("body_limit_bytes must be between 1 KiB and 64 MiB");
        }
        if !(1..=366).contains(&self.max_token_ttl_days) {
            bail!("max_token_ttl_days must be between 1 and 366");
        }
        if !matches!(self.sqlite_synchronous.as_str(), "full" | "normal") {
            bail!("sqlite_synchronous must be full or normal");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json");
        }
        Ok(())
    }

    /// Whether the storage URL names a PostgreSQL database.
    pub(crate) fn is_postgres(&self) -> bool {
        self.storage.starts_with("postgres://") || self.storage.starts_with("postgresql://")
    }

    /// The SQLite database path.
    pub(crate) fn sqlite_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.storage.trim_start_matches("sqlite:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_checks() {
        let mut c = Config::default();
        c.apply_env(|k| (k == "PHIVAULT_LISTEN").then(|| "0.0.0.0:9443".to_owned()))
            .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9443");
        c.check().unwrap();
        c.apply_env(|k| (k == "PHIVAULT_BODY_LIMIT_BYTES").then(|| "12".to_owned()))
            .unwrap();
        assert!(c.check().is_err());
        let mut c = Config::default();
        assert!(
            c.apply_env(|k| (k == "PHIVAULT_MAX_TOKEN_TTL_DAYS").then(|| "x".to_owned()))
                .is_err()
        );
        let text = toml::to_string(&Config::default()).unwrap();
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), Config::default());
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
    }
}
