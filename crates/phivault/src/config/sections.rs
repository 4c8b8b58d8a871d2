//! The sections of `phivault.toml` for `serve`'s background jobs — `[audit]`,
//! `[audit_sink]`, `[backup]`, `[retention]` — each key overridable by
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

/// The job sections of the configuration, applied and checked together.
pub(crate) fn apply_env(c: &mut super::Config, get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    c.audit.apply_env(get)?;
    c.audit_sink.apply_env(get)?;
    c.backup.apply_env(get)?;
    c.retention.apply_env(get)
}

/// Refuses job settings that cannot work.
pub(crate) fn check(c: &super::Config) -> Result<()> {
    c.backup.check()
}
