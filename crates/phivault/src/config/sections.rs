//! The sections of `phivault.toml` for `serve`'s background jobs — `[audit]`,
//! `[audit_sink]`, `[backup]`, `[retention]` — and for its edge — `[limits]` (rate limits,
//! connection caps, timeouts) and `[tls]` (client certificates) — each key overridable by
//! `PHIVAULT_<SECTION>_<KEY>` (e.g. `[audit_sink] max_lag` by `PHIVAULT_AUDIT_SINK_MAX_LAG`).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

use super::env::{parse_into, text_into};

/// `[audit]`: signing tree heads and keeping the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuditSettings {
    /// Sign a tree head once this many events are unsigned.
    pub(crate) head_every: u64,
    /// Sign a tree head when the oldest unsigned event is this many seconds old.
    pub(crate) head_seconds: u64,
    /// The append-only witness file of signed heads, relative to the data directory.
    pub(crate) witness_file: String,
    /// Days audit entries are kept (below a signed checkpoint) before pruning.
    pub(crate) retention_days: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            head_every: 1000,
            head_seconds: 60,
            witness_file: "audit-heads.jsonl".to_owned(),
            // Six years (45 CFR 164.316(b)(2)(i)) plus leap days.
            retention_days: 6 * 365 + 2,
        }
    }
}

impl AuditSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        parse_into(get, "PHIVAULT_AUDIT_HEAD_EVERY", &mut self.head_every)?;
        parse_into(get, "PHIVAULT_AUDIT_HEAD_SECONDS", &mut self.head_seconds)?;
        parse_into(get, "PHIVAULT_AUDIT_WITNESS_FILE", &mut self.witness_file)?;
        parse_into(
            get,
            "PHIVAULT_AUDIT_RETENTION_DAYS",
            &mut self.retention_days,
        )
    }
}

/// `[audit_sink]`: streaming the audit log to SIEMs (each sink is off until named).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuditSinkSettings {
    /// OCSF JSONL file, relative to the data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) jsonl: Option<String>,
    /// Rotate the JSONL file at this size.
    pub(crate) jsonl_max_bytes: u64,
    /// Rotate the JSONL file at this age, in seconds.
    pub(crate) jsonl_max_age_secs: u64,
    /// Syslog receiver `HOST:PORT` (RFC 5424, octet-counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) syslog: Option<String>,
    /// PEM CA of the syslog receiver; set, the sink speaks TLS, else plain TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) syslog_ca: Option<String>,
    /// The name checked in the syslog receiver's certificate (default: its host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) syslog_server_name: Option<String>,
    /// HTTPS webhook receiver `https://host[:port]/path` (HMAC-signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<String>,
    /// PEM CA of the webhook receiver (required with `webhook`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) webhook_ca: Option<String>,
    /// A sink lagging by more events than this is reported in `/readyz`.
    pub(crate) max_lag: u64,
}

impl Default for AuditSinkSettings {
    fn default() -> Self {
        Self {
            jsonl: None,
            jsonl_max_bytes: 100 << 20,
            jsonl_max_age_secs: 86_400,
            syslog: None,
            syslog_ca: None,
            syslog_server_name: None,
            webhook: None,
            webhook_ca: None,
            max_lag: 10_000,
        }
    }
}

impl AuditSinkSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        text_into(get, "PHIVAULT_AUDIT_SINK_JSONL", &mut self.jsonl);
        parse_into(
            get,
            "PHIVAULT_AUDIT_SINK_JSONL_MAX_BYTES",
            &mut self.jsonl_max_bytes,
        )?;
        parse_into(
            get,
            "PHIVAULT_AUDIT_SINK_JSONL_MAX_AGE_SECS",
            &mut self.jsonl_max_age_secs,
        )?;
        text_into(get, "PHIVAULT_AUDIT_SINK_SYSLOG", &mut self.syslog);
        text_into(get, "PHIVAULT_AUDIT_SINK_SYSLOG_CA", &mut self.syslog_ca);
        text_into(
            get,
            "PHIVAULT_AUDIT_SINK_SYSLOG_SERVER_NAME",
            &mut self.syslog_server_name,
        );
        text_into(get, "PHIVAULT_AUDIT_SINK_WEBHOOK", &mut self.webhook);
        text_into(get, "PHIVAULT_AUDIT_SINK_WEBHOOK_CA", &mut self.webhook_ca);
        parse_into(get, "PHIVAULT_AUDIT_SINK_MAX_LAG", &mut self.max_lag)
    }
}

/// `[backup]`: scheduled backups inside `serve` and the point-in-time-recovery journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct BackupSettings {
    /// The backup location (relative to the data directory); set, backups are scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dir: Option<String>,
    /// Time between backups: `24h`, `6h`, `30m`, `1d`, `90s`.
    pub(crate) interval: String,
    /// Days a backup is kept (the newest always is).
    pub(crate) retention_days: u32,
    /// The point-in-time-recovery journal: `on` or `off`.
    pub(crate) journal: String,
    /// The longest an appended journal entry waits for its fsync, in milliseconds.
    pub(crate) journal_rpo_ms: u64,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            dir: None,
            interval: "24h".to_owned(),
            retention_days: phivault_backup::DEFAULT_RETENTION_DAYS,
            journal: "on".to_owned(),
            journal_rpo_ms: 1000,
        }
    }
}

impl BackupSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        text_into(get, "PHIVAULT_BACKUP_DIR", &mut self.dir);
        parse_into(get, "PHIVAULT_BACKUP_INTERVAL", &mut self.interval)?;
        parse_into(
            get,
            "PHIVAULT_BACKUP_RETENTION_DAYS",
            &mut self.retention_days,
        )?;
        parse_into(get, "PHIVAULT_BACKUP_JOURNAL", &mut self.journal)?;
        parse_into(
            get,
            "PHIVAULT_BACKUP_JOURNAL_RPO_MS",
            &mut self.journal_rpo_ms,
        )
    }

    fn interval(&self) -> Result<Duration> {
        let d = crate::parse_ttl(&self.interval)
            .context("backup interval (PHIVAULT_BACKUP_INTERVAL)")?;
        Duration::try_from(d)
            .ok()
            .filter(|d| !d.is_zero())
            .context("backup interval (PHIVAULT_BACKUP_INTERVAL) must be positive")
    }

    fn check(&self) -> Result<()> {
        self.interval()?;
        if !matches!(self.journal.as_str(), "on" | "off") {
            bail!(
                "backup journal (PHIVAULT_BACKUP_JOURNAL) must be on or off, not {:?}",
                self.journal
            );
        }
        Ok(())
    }

    /// The backup schedule of `serve` for the data directory `data_dir`, when backups are on.
    pub(crate) fn schedule(&self, data_dir: &Path) -> Result<Option<phivault_backup::Schedule>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        Ok(Some(phivault_backup::Schedule {
            dir: data_dir.join(dir),
            interval: self.interval()?,
            retention_days: self.retention_days,
            journal_rpo: (self.journal == "on").then(|| Duration::from_millis(self.journal_rpo_ms)),
        }))
    }
}

/// `[retention]`: the record retention scheduler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RetentionSettings {
    /// Seconds between runs; 0 turns it off (e.g. on all but one node of a PostgreSQL
    /// cluster).
    pub(crate) interval_secs: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
        }
    }
}

impl RetentionSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        parse_into(
            get,
            "PHIVAULT_RETENTION_INTERVAL_SECS",
            &mut self.interval_secs,
        )
    }

    /// Time between retention runs, `None` when the scheduler is off.
    pub(crate) fn interval(&self) -> Option<Duration> {
        (self.interval_secs > 0).then(|| Duration::from_secs(self.interval_secs))
    }
}

/// `[limits]`: what one client may take from the server. The defaults suit a vault facing
/// many clients directly; behind a TCP (layer 4) proxy every client shares the proxy's
/// address, so raise or turn off (`0`) the per-address limits there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LimitSettings {
    /// Requests per second per bearer token, on average (0: off).
    pub(crate) per_token_per_second: u32,
    /// Requests per bearer token at once.
    pub(crate) per_token_burst: u32,
    /// Requests per second per source address, on average (0: off).
    pub(crate) per_address_per_second: u32,
    /// Requests per source address at once.
    pub(crate) per_address_burst: u32,
    /// Login attempts per minute per source address (0: off).
    pub(crate) login_per_address_per_minute: u32,
    /// Login attempts per source address at once.
    pub(crate) login_per_address_burst: u32,
    /// At most one audit event per limited token or address in this many seconds.
    pub(crate) rate_limit_audit_secs: u64,
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Connections open at once from one source address (0: no cap).
    pub(crate) max_connections_per_address: usize,
    /// Concurrent requests (HTTP/2 streams) per connection.
    pub(crate) max_streams_per_connection: u32,
    /// Largest request header section or HTTP/2 header list, in bytes.
    pub(crate) max_header_bytes: u32,
    /// Seconds to send the request headers (and a first request at all).
    pub(crate) header_read_timeout_secs: u64,
    /// Seconds, from the headers, to send the whole request body.
    pub(crate) body_read_timeout_secs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let serve = phivault_server::ServeOptions::default();
        Self {
            per_token_per_second: 50,
            per_token_burst: 100,
            per_address_per_second: 100,
            per_address_burst: 200,
            login_per_address_per_minute: 10,
            login_per_address_burst: 10,
            rate_limit_audit_secs: 60,
            max_connections: serve.max_connections,
            max_connections_per_address: serve.max_connections_per_address,
            max_streams_per_connection: serve.max_streams_per_connection,
            max_header_bytes: serve.max_header_bytes,
            header_read_timeout_secs: serve.header_read_timeout.as_secs(),
            body_read_timeout_secs: serve.body_read_timeout.as_secs(),
        }
    }
}

impl LimitSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        parse_into(
            get,
            "PHIVAULT_LIMITS_PER_TOKEN_PER_SECOND",
            &mut self.per_token_per_second,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_PER_TOKEN_BURST",
            &mut self.per_token_burst,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_PER_ADDRESS_PER_SECOND",
            &mut self.per_address_per_second,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_PER_ADDRESS_BURST",
            &mut self.per_address_burst,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_LOGIN_PER_ADDRESS_PER_MINUTE",
            &mut self.login_per_address_per_minute,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_LOGIN_PER_ADDRESS_BURST",
            &mut self.login_per_address_burst,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_RATE_LIMIT_AUDIT_SECS",
            &mut self.rate_limit_audit_secs,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_MAX_CONNECTIONS",
            &mut self.max_connections,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_MAX_CONNECTIONS_PER_ADDRESS",
            &mut self.max_connections_per_address,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_MAX_STREAMS_PER_CONNECTION",
            &mut self.max_streams_per_connection,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_MAX_HEADER_BYTES",
            &mut self.max_header_bytes,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_HEADER_READ_TIMEOUT_SECS",
            &mut self.header_read_timeout_secs,
        )?;
        parse_into(
            get,
            "PHIVAULT_LIMITS_BODY_READ_TIMEOUT_SECS",
            &mut self.body_read_timeout_secs,
        )
    }

    fn check(&self) -> Result<()> {
        for (rate, burst, name) in [
            (
                self.per_token_per_second,
                self.per_token_burst,
                "per_token_burst (PHIVAULT_LIMITS_PER_TOKEN_BURST)",
            ),
            (
                self.per_address_per_second,
                self.per_address_burst,
                "per_address_burst (PHIVAULT_LIMITS_PER_ADDRESS_BURST)",
            ),
            (
                self.login_per_address_per_minute,
                self.login_per_address_burst,
                "login_per_address_burst (PHIVAULT_LIMITS_LOGIN_PER_ADDRESS_BURST)",
            ),
        ] {
            if rate > 0 && burst == 0 {
                bail!("limits {name} must be at least 1 while its rate is on");
            }
        }
        if !(1..=86_400).contains(&self.rate_limit_audit_secs) {
            bail!(
                "limits rate_limit_audit_secs (PHIVAULT_LIMITS_RATE_LIMIT_AUDIT_SECS) must be between 1 and 86400"
            );
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            bail!(
                "limits max_connections (PHIVAULT_LIMITS_MAX_CONNECTIONS) must be between 1 and 1000000"
            );
        }
        if !(1..=10_000).contains(&self.max_streams_per_connection) {
            bail!(
                "limits max_streams_per_connection (PHIVAULT_LIMITS_MAX_STREAMS_PER_CONNECTION) must be between 1 and 10000"
            );
        }
        if !(4096..=1024 * 1024).contains(&self.max_header_bytes) {
            bail!(
                "limits max_header_bytes (PHIVAULT_LIMITS_MAX_HEADER_BYTES) must be between 4 KiB and 1 MiB"
            );
        }
        for (name, secs) in [
            (
                "header_read_timeout_secs (PHIVAULT_LIMITS_HEADER_READ_TIMEOUT_SECS)",
                self.header_read_timeout_secs,
            ),
            (
                "body_read_timeout_secs (PHIVAULT_LIMITS_BODY_READ_TIMEOUT_SECS)",
                self.body_read_timeout_secs,
            ),
        ] {
            if !(1..=3600).contains(&secs) {
                bail!("limits {name} must be between 1 and 3600");
            }
        }
        Ok(())
    }

    /// The rate limits of the router.
    pub(crate) fn rate_limits(&self) -> phivault_server::RateLimits {
        use phivault_server::Rate;
        phivault_server::RateLimits {
            per_token: Rate::per_second(self.per_token_per_second, self.per_token_burst),
            per_address: Rate::per_second(self.per_address_per_second, self.per_address_burst),
            login_per_address: Rate::per_minute(
                self.login_per_address_per_minute,
                self.login_per_address_burst,
            ),
            audit_window: Duration::from_secs(self.rate_limit_audit_secs),
        }
    }

    /// The connection limits of the accept loop.
    pub(crate) fn serve_options(&self) -> phivault_server::ServeOptions {
        phivault_server::ServeOptions {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            max_streams_per_connection: self.max_streams_per_connection,
            max_header_bytes: self.max_header_bytes,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_secs),
            ..phivault_server::ServeOptions::default()
        }
    }
}

/// `[tls]`: client certificates (mTLS). The server certificate and key are the top-level
/// `tls_cert` and `tls_key`; `serve` reloads them when their files change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TlsSettings {
    /// `off`, `optional` (verified when sent) or `required`.
    pub(crate) client_auth: String,
    /// PEM bundle of the CAs that issue client certificates (relative to the data
    /// directory); required unless `client_auth` is `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_ca: Option<String>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            client_auth: "off".to_owned(),
            client_ca: None,
        }
    }
}

impl TlsSettings {
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        parse_into(get, "PHIVAULT_TLS_CLIENT_AUTH", &mut self.client_auth)?;
        text_into(get, "PHIVAULT_TLS_CLIENT_CA", &mut self.client_ca);
        Ok(())
    }

    fn check(&self) -> Result<()> {
        match (self.client_auth.as_str(), &self.client_ca) {
            ("off", _) | ("optional" | "required", Some(_)) => Ok(()),
            ("optional" | "required", None) => bail!(
                "tls client_auth (PHIVAULT_TLS_CLIENT_AUTH) = {:?} needs tls client_ca (PHIVAULT_TLS_CLIENT_CA)",
                self.client_auth
            ),
            (other, _) => bail!(
                "tls client_auth (PHIVAULT_TLS_CLIENT_AUTH) must be off, optional or required, not {other:?}"
            ),
        }
    }

    /// The client-certificate setting of the listener, reading the CA bundle.
    pub(crate) fn client_auth(&self, data_dir: &Path) -> Result<phivault_server::ClientAuth> {
        use phivault_server::ClientAuth;
        let ca = |path: &String| {
            std::fs::read(data_dir.join(path))
                .with_context(|| format!("reading tls client_ca {path}"))
        };
        Ok(match (self.client_auth.as_str(), &self.client_ca) {
            ("optional", Some(p)) => ClientAuth::Optional { ca_pem: ca(p)? },
            ("required", Some(p)) => ClientAuth::Required { ca_pem: ca(p)? },
            _ => ClientAuth::Off,
        })
    }
}

/// The job sections of the configuration, applied and checked together.
pub(crate) fn apply_env(c: &mut super::Config, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    c.audit.apply_env(get)?;
    c.audit_sink.apply_env(get)?;
    c.backup.apply_env(get)?;
    c.retention.apply_env(get)?;
    c.limits.apply_env(get)?;
    c.tls.apply_env(get)
}

/// Refuses section settings that cannot work.
pub(crate) fn check(c: &super::Config) -> Result<()> {
    c.backup.check()?;
    c.limits.check()?;
    c.tls.check()
}
