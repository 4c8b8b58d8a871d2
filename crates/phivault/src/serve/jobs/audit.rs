//! The audit jobs of `serve`: the tree-head signer that publishes each signed head to the
//! witness file and the configured SIEM receivers, audit-log retention below a signed
//! checkpoint, and the SIEM sinks with the monitor that reports their lag in `/readyz`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use std::io::Write as _;

use anyhow::{Context, Result};
use phivault_core::Vault;
use phivault_core::audit::SignedTreeHead;

use crate::audit_cmd::{head_json, hex};

/// Default: sign a tree head once this many events are unsigned.
const DEFAULT_HEAD_EVERY: u64 = 1000;
/// Default: sign a tree head when unsigned events are this many seconds older than the last.
const DEFAULT_HEAD_SECONDS: u64 = 60;
/// The witness file, relative to the data directory unless absolute.
const DEFAULT_WITNESS_FILE: &str = "audit-heads.jsonl";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Appends one head to the witness file and syncs it.
fn publish_to_file(path: &Path, head: &SignedTreeHead, key: &[u8; 32]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening witness file {}", path.display()))?;
    writeln!(f, "{}", head_json(head, key))?;
    f.sync_data()?;
    Ok(())
}

/// Prunes audit entries older than `PHIVAULT_AUDIT_RETENTION_DAYS` (default six years)
/// below the newest signed head older than that, at start and then hourly.
pub(crate) fn retention(vault: Arc<Vault>) {
    let retention = time::Duration::days(
        i64::try_from(env_u64("PHIVAULT_AUDIT_RETENTION_DAYS", 6 * 365 + 2)).unwrap_or(i64::MAX),
    );
    super::spawn("audit-retention", async move {
        let mut tick = tokio::time::interval(StdDuration::from_secs(3600));
        loop {
            tick.tick().await;
            match vault.prune_audit(retention).await {
                Ok(Some(through)) => {
                    tracing::info!(through, "audit log pruned below a signed checkpoint")
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "audit retention prune failed"),
            }
        }
    });
}

/// Signs a tree head every `PHIVAULT_AUDIT_HEAD_EVERY` events (default 1000) or when the
/// oldest unsigned event is `PHIVAULT_AUDIT_HEAD_SECONDS` old (default 60), and publishes
/// each new head to the witness file (`PHIVAULT_AUDIT_WITNESS_FILE`, default
/// `audit-heads.jsonl` in the data directory). Failures are logged and retried; they never
/// block requests.
pub(crate) fn tree_head_signer(vault: Arc<Vault>, data_dir: &Path) {
    let every = env_u64("PHIVAULT_AUDIT_HEAD_EVERY", DEFAULT_HEAD_EVERY).max(1);
    let seconds = env_u64("PHIVAULT_AUDIT_HEAD_SECONDS", DEFAULT_HEAD_SECONDS).max(1);
    let witness = std::env::var("PHIVAULT_AUDIT_WITNESS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(DEFAULT_WITNESS_FILE));
    let witness = data_dir.join(witness);
    let data_dir_w = data_dir.to_path_buf();
    super::spawn("audit-tree-head-signer", async move {
        let mut tick = tokio::time::interval(StdDuration::from_secs(1));
        loop {
            tick.tick().await;
            let (unsigned, last_ms) = match vault.unsigned_tail().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "audit tree head: reading the log failed");
                    continue;
                }
            };
            let now_ms =
                u64::try_from(vault.clock().now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
            let due = unsigned >= every
                || (unsigned > 0
                    && last_ms.is_none_or(|t| now_ms.saturating_sub(t) >= seconds * 1000));
            if !due {
                continue;
            }
            match vault.sign_tree_head().await {
                Ok(Some((head, true))) => {
                    let key = vault.audit_public_key();
                    let path = witness.clone();
                    let h = head.clone();
                    let r =
                        tokio::task::spawn_blocking(move || publish_to_file(&path, &h, &key)).await;
                    match r {
                        Ok(Ok(())) => {
                            publish_to_witnesses(&head, &key, &data_dir_w).await;
                            tracing::info!(
                                tree_size = head.tree_size,
                                root = %hex(&head.root_hash),
                                "audit tree head signed and published"
                            )
                        }
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "audit witness file: publish failed")
                        }
                        Err(e) => tracing::error!(error = %e, "audit witness task failed"),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "audit tree head: signing failed"),
            }
        }
    });
}

/// `PHIVAULT_AUDIT_SINK_WEBHOOK=https://host:port/path` with its HMAC key in
/// `PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET` and, for a private CA, `…_WEBHOOK_CA=PEM`.
fn webhook_settings(url: &str, data_dir: &Path) -> Result<phivault_siem::WebhookSettings> {
    let rest = url
        .strip_prefix("https://")
        .context("the webhook URL must be https://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, addr) = match authority.rsplit_once(':') {
        Some((h, _)) => (h.to_owned(), authority.to_owned()),
        None => (authority.to_owned(), format!("{authority}:443")),
    };
    let secret = std::env::var("PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET")
        .context("PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET is required")?
        .into_bytes();
    let ca = std::env::var("PHIVAULT_AUDIT_SINK_WEBHOOK_CA")
        .context("PHIVAULT_AUDIT_SINK_WEBHOOK_CA (the receiver's CA, PEM) is required")?;
    Ok(phivault_siem::WebhookSettings {
        addr,
        path: format!("/{path}"),
        tls: phivault_siem::TlsSettings {
            ca_pem: std::fs::read(data_dir.join(ca))?,
            server_name: host,
        },
        secret,
    })
}

/// Starts the SIEM sinks configured by environment, and a monitor that logs and reports
/// (in `/readyz`) any sink that fails or lags by more than `PHIVAULT_AUDIT_SINK_MAX_LAG`
/// events (default 10 000):
///
/// - `PHIVAULT_AUDIT_SINK_JSONL=PATH`: OCSF JSONL, rotated at
///   `PHIVAULT_AUDIT_SINK_JSONL_MAX_BYTES` (default 100 MiB) or
///   `PHIVAULT_AUDIT_SINK_JSONL_MAX_AGE_SECS` (default 86 400);
/// - `PHIVAULT_AUDIT_SINK_SYSLOG=HOST:PORT`: RFC 5424, octet-counted, over TLS when
///   `PHIVAULT_AUDIT_SINK_SYSLOG_CA=PEM` is set (name checked:
///   `PHIVAULT_AUDIT_SINK_SYSLOG_SERVER_NAME`, default HOST), else plain TCP.
pub(crate) fn sinks(vault: &Arc<Vault>, data_dir: &Path, ready: &phivault_server::Readiness) {
    use phivault_siem::{SinkConfig, SinkKind, SinkStatus, TlsSettings, run_sink};
    let mut sinks: Vec<(String, SinkKind)> = Vec::new();
    if let Ok(path) = std::env::var("PHIVAULT_AUDIT_SINK_JSONL") {
        sinks.push((
            "jsonl".to_owned(),
            SinkKind::JsonlFile {
                path: data_dir.join(path),
                max_bytes: env_u64("PHIVAULT_AUDIT_SINK_JSONL_MAX_BYTES", 100 << 20),
                max_age: StdDuration::from_secs(env_u64(
                    "PHIVAULT_AUDIT_SINK_JSONL_MAX_AGE_SECS",
                    86_400,
                )),
            },
        ));
    }
    if let Ok(addr) = std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG") {
        let host = addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .to_owned();
        let tls = match std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG_CA") {
            Ok(ca) => match std::fs::read(data_dir.join(&ca)) {
                Ok(ca_pem) => Some(TlsSettings {
                    ca_pem,
                    server_name: std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG_SERVER_NAME")
                        .unwrap_or(host),
                }),
                Err(e) => {
                    tracing::error!(error = %e, "audit syslog sink: cannot read its CA; not started");
                    ready.set_degraded(
                        "audit_sinks",
                        vec!["audit_sink:syslog ca_unreadable".to_owned()],
                    );
                    return;
                }
            },
            Err(_) => None,
        };
        let hostname = std::env::var("HOSTNAME").unwrap_or_else(|_| "phivault".to_owned());
        sinks.push((
            "syslog".to_owned(),
            SinkKind::Syslog {
                addr,
                tls,
                hostname,
            },
        ));
    }
    if let Ok(url) = std::env::var("PHIVAULT_AUDIT_SINK_WEBHOOK") {
        match webhook_settings(&url, data_dir) {
            Ok(w) => sinks.push(("webhook".to_owned(), SinkKind::Webhook(w))),
            Err(e) => {
                tracing::error!(error = %e, "audit webhook sink misconfigured; not started");
                ready.set_degraded(
                    "audit_sinks",
                    vec!["audit_sink:webhook misconfigured".to_owned()],
                );
            }
        }
    }
    if sinks.is_empty() {
        return;
    }
    let max_lag = env_u64("PHIVAULT_AUDIT_SINK_MAX_LAG", 10_000);
    let mut statuses = Vec::new();
    for (name, kind) in sinks {
        let status = Arc::new(std::sync::Mutex::new(SinkStatus::default()));
        let config = SinkConfig {
            name: name.clone(),
            kind,
            batch: 500,
            idle: StdDuration::from_millis(250),
        };
        super::spawn(
            "audit-sink",
            run_sink(
                vault.store().clone(),
                vault.clock().clone(),
                config,
                status.clone(),
            ),
        );
        tracing::info!(sink = %name, "audit sink started");
        statuses.push((name, status));
    }
    let ready = ready.clone();
    super::spawn("audit-sink-monitor", async move {
        let mut tick = tokio::time::interval(StdDuration::from_secs(5));
        loop {
            tick.tick().await;
            let mut degraded = Vec::new();
            for (name, status) in &statuses {
                let s = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
                metrics::gauge!("phivault_audit_sink_lag_events", "sink" => name.clone())
                    .set(s.lag() as f64);
                metrics::gauge!("phivault_audit_sink_failures", "sink" => name.clone())
                    .set(f64::from(s.failures));
                if s.failures > 0 || s.lag() > max_lag {
                    tracing::warn!(sink = %name, lag = s.lag(), failures = s.failures,
                        error = s.last_error.as_deref().unwrap_or(""), "audit sink lagging");
                    degraded.push(format!(
                        "audit_sink:{name} lag={} failures={}",
                        s.lag(),
                        s.failures
                    ));
                }
            }
            ready.set_degraded("audit_sinks", degraded);
        }
    });
}

/// Publishes a new head to the syslog and webhook sinks configured for events (each a
/// witness outside the database); failures are logged, the witness file already has it.
async fn publish_to_witnesses(head: &SignedTreeHead, key: &[u8; 32], data_dir: &Path) {
    let body = head_json(head, key).to_string();
    if let Ok(addr) = std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG") {
        let host = addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .to_owned();
        let tls = std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG_CA")
            .ok()
            .and_then(|ca| std::fs::read(data_dir.join(ca)).ok())
            .map(|ca_pem| phivault_siem::TlsSettings {
                ca_pem,
                server_name: std::env::var("PHIVAULT_AUDIT_SINK_SYSLOG_SERVER_NAME")
                    .unwrap_or(host),
            });
        let hostname = std::env::var("HOSTNAME").unwrap_or_else(|_| "phivault".to_owned());
        if let Err(e) = phivault_siem::publish_head_syslog(
            &addr,
            tls.as_ref(),
            &hostname,
            head.tree_size,
            &body,
        )
        .await
        {
            tracing::warn!(error = %e, "audit tree head: syslog witness failed");
        }
    }
    if let Ok(url) = std::env::var("PHIVAULT_AUDIT_SINK_WEBHOOK") {
        match webhook_settings(&url, data_dir) {
            Ok(w) => {
                let now = i64::try_from(head.timestamp_ms / 1000).unwrap_or(0);
                if let Err(e) = phivault_siem::publish_head_webhook(&w, now, &body).await {
                    tracing::warn!(error = %e, "audit tree head: webhook witness failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "audit tree head: webhook misconfigured"),
        }
    }
}
