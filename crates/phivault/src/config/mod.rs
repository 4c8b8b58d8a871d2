//! The vault's configuration: one TOML file in the data directory, every key overridable by
//! a `PHIVAULT_*` environment variable (e.g. `PHIVAULT_LISTEN`, or
//! `PHIVAULT_BACKUP_INTERVAL` for `[backup] interval`), paths relative to the data
//! directory. This module is the only reader of the environment (see [`env`]); every
//! setting is parsed here once, and a bad value is an error naming it. README.md
//! documents every setting in one table.

pub(crate) mod env;
mod sections;

pub(crate) use sections::{
    AuditSettings, AuditSinkSettings, BackupSettings, LimitSettings, RetentionSettings, TlsSettings,
};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use env::{parse_into, text_into};

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
    /// Whether people must log in with a second factor. Turning it off is reported as a
    /// compliance gap (45 CFR 164.312(d)).
    #[serde(default = "yes")]
    pub(crate) mfa_required: bool,
    /// Minutes without use after which a session ends (automatic logoff).
    #[serde(default = "default_idle")]
    pub(crate) session_idle_minutes: u32,
    /// Hours after login at which a session ends regardless of use.
    #[serde(default = "default_lifetime")]
    pub(crate) session_lifetime_hours: u32,
    /// HTTPS endpoint that receives alerts (break-glass) as JSON; the body is signed with
    /// HMAC-SHA-256 when `PHIVAULT_ALERT_WEBHOOK_SECRET` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) alert_webhook_url: Option<String>,
    /// PEM root certificate to trust for the alert webhook instead of the public web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) alert_webhook_ca: Option<String>,
    /// `[audit]`: tree heads and audit retention.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) audit: AuditSettings,
    /// `[audit_sink]`: SIEM sinks.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) audit_sink: AuditSinkSettings,
    /// `[backup]`: scheduled backups and the point-in-time-recovery journal.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) backup: BackupSettings,
    /// `[retention]`: the record retention scheduler.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) retention: RetentionSettings,
    /// `[limits]`: rate limits, connection caps and timeouts of the listener.
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) limits: LimitSettings,
    /// `[tls]`: client certificates (mTLS).
    #[serde(default, skip_serializing_if = "is_default")]
    pub(crate) tls: TlsSettings,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn yes() -> bool {
    true
}

fn default_idle() -> u32 {
    15
}

fn default_lifetime() -> u32 {
    12
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
            mfa_required: true,
            session_idle_minutes: default_idle(),
            session_lifetime_hours: default_lifetime(),
            alert_webhook_url: None,
            alert_webhook_ca: None,
            audit: AuditSettings::default(),
            audit_sink: AuditSinkSettings::default(),
            backup: BackupSettings::default(),
            retention: RetentionSettings::default(),
            limits: LimitSettings::default(),
            tls: TlsSettings::default(),
        }
    }
}

impl Config {
    /// Reads the data directory's config file, then applies `PHIVAULT_*` overrides.
    pub(crate) fn load(data_dir: &Path) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut cfg =
            Config::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
        cfg.apply_env(env::get)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Parses the text of a config file (no overrides, not yet checked).
    pub(crate) fn parse(text: &str) -> Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Applies `PHIVAULT_<KEY>` overrides read through `get`; a value that does not parse
    /// is an error naming the variable.
    pub(crate) fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get: &dyn Fn(&str) -> Option<String> = &get;
        parse_into(get, "PHIVAULT_LISTEN", &mut self.listen)?;
        parse_into(get, "PHIVAULT_STORAGE", &mut self.storage)?;
        parse_into(get, "PHIVAULT_KEYRING", &mut self.keyring)?;
        parse_into(get, "PHIVAULT_TLS_CERT", &mut self.tls_cert)?;
        parse_into(get, "PHIVAULT_TLS_KEY", &mut self.tls_key)?;
        parse_into(
            get,
            "PHIVAULT_SQLITE_SYNCHRONOUS",
            &mut self.sqlite_synchronous,
        )?;
        parse_into(get, "PHIVAULT_LOG_FORMAT", &mut self.log_format)?;
        parse_into(get, "PHIVAULT_BODY_LIMIT_BYTES", &mut self.body_limit_bytes)?;
        text_into(
            get,
            "PHIVAULT_ALERT_WEBHOOK_URL",
            &mut self.alert_webhook_url,
        );
        text_into(get, "PHIVAULT_ALERT_WEBHOOK_CA", &mut self.alert_webhook_ca);
        parse_into(get, "PHIVAULT_MFA_REQUIRED", &mut self.mfa_required)?;
        parse_into(
            get,
            "PHIVAULT_SESSION_IDLE_MINUTES",
            &mut self.session_idle_minutes,
        )?;
        parse_into(
            get,
            "PHIVAULT_SESSION_LIFETIME_HOURS",
            &mut self.session_lifetime_hours,
        )?;
        parse_into(
            get,
            "PHIVAULT_MAX_TOKEN_TTL_DAYS",
            &mut self.max_token_ttl_days,
        )?;
        sections::apply_env(self, get)
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
        if !(1..=36_525).contains(&self.audit.retention_days) {
            bail!(
                "PHIVAULT_AUDIT_RETENTION_DAYS (audit.retention_days) must be between 1 and 36525"
            );
        }
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            bail!("session_idle_minutes must be between 1 and 1440");
        }
        if !(1..=168).contains(&self.session_lifetime_hours) {
            bail!("session_lifetime_hours must be between 1 and 168");
        }
        if self
            .alert_webhook_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("https://"))
        {
            bail!("alert_webhook_url must be an https:// URL");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be text or json");
        }
        sections::check(self)
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
mod tests;
