//! The audit jobs of `serve`: the tree-head signer that publishes each signed head to the
//! witness file and the configured SIEM receivers, audit-log retention below a signed
//! checkpoint, and the SIEM sinks with the monitor that reports their lag in `/readyz`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use phivault_core::Vault;
use phivault_core::audit::SignedTreeHead;
use phivault_siem::TlsSettings;
use zeroize::Zeroizing;

use super::Supervisor;
use crate::audit_cmd::{head_json, hex};
use crate::config::{AuditSettings, AuditSinkSettings, env};

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

/// Prunes audit entries older than `days` below the newest signed head older than that,
/// at start and then hourly (HIPAA keeps documentation six years, 45 CFR 164.316(b)(2)).
/// A failed prune fails the run, so the supervisor reports it and retries after back-off.
pub(crate) fn retention(jobs: &Supervisor, vault: Arc<Vault>, days: u64) {
    // Whole seconds never overflow a `Duration`; the config check keeps `days` to a century.
    let retention = time::Duration::seconds(
        i64::try_from(days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400),
    );
    jobs.spawn("audit-retention", move || {
        let vault = vault.clone();
        async move {
            let mut tick = tokio::time::interval(StdDuration::from_secs(3600));
            loop {
                tick.tick().await;
                match vault.prune_audit(retention).await {
                    Ok(Some(through)) => {
                        tracing::info!(through, "audit log pruned below a signed checkpoint")
                    }
                    Ok(None) => {}
                    Err(e) => anyhow::bail!("audit retention prune failed: {}", e.code()),
                }
            }
        }
    });
}

/// Signs a tree head every `head_every` events or when the oldest unsigned event is
/// `head_seconds` old, and publishes each new head to the witness file and to the syslog
/// and webhook receivers of `sinks`. Failing to read the log, to sign or to write the
/// witness file fails the run (the supervisor reports it and restarts it after back-off);
/// a remote witness that fails is logged. Nothing here ever blocks requests.
pub(crate) fn tree_head_signer(
    jobs: &Supervisor,
    vault: Arc<Vault>,
    settings: &AuditSettings,
    sinks: Sinks,
) {
    let every = settings.head_every.max(1);
    let seconds = settings.head_seconds.max(1);
    let witness = sinks.data_dir.join(&settings.witness_file);
    let sinks = Arc::new(sinks);
    jobs.spawn("audit-tree-head-signer", move || {
        sign_heads(
            vault.clone(),
            every,
            seconds,
            witness.clone(),
            sinks.clone(),
        )
    });
}

/// One run of the tree-head signer (see [`tree_head_signer`]).
async fn sign_heads(
    vault: Arc<Vault>,
    every: u64,
    seconds: u64,
    witness: PathBuf,
    sinks: Arc<Sinks>,
) -> Result<()> {
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let (unsigned, last_ms) = vault.unsigned_tail().await.map_err(|e| {
            anyhow::anyhow!("audit tree head: reading the log failed: {}", e.code())
        })?;
        let now_ms =
            u64::try_from(vault.clock().now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let due = unsigned >= every
            || (unsigned > 0 && last_ms.is_none_or(|t| now_ms.saturating_sub(t) >= seconds * 1000));
        if !due {
            continue;
        }
        let signed = vault
            .sign_tree_head()
            .await
            .map_err(|e| anyhow::anyhow!("audit tree head: signing failed: {}", e.code()))?;
        if let Some((head, true)) = signed {
            let key = vault.audit_public_key();
            let (path, h) = (witness.clone(), head.clone());
            tokio::task::spawn_blocking(move || publish_to_file(&path, &h, &key))
                .await
                .context("audit witness task")?
                .context("audit witness file: publish failed")?;
            sinks.publish_to_witnesses(&head, &key).await;
            tracing::info!(
                tree_size = head.tree_size,
                root = %hex(&head.root_hash),
                "audit tree head signed and published"
            );
        }
    }
}

/// The SIEM receivers configured in `[audit_sink]`, with the webhook's HMAC key.
pub(crate) struct Sinks {
    /// The `[audit_sink]` settings.
    pub(crate) settings: AuditSinkSettings,
    /// `PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET`.
    pub(crate) webhook_secret: Option<Zeroizing<String>>,
    /// The data directory, against which relative paths resolve.
    pub(crate) data_dir: PathBuf,
}

impl Sinks {
    /// The webhook receiver (`https://host[:port]/path`), with its HMAC key and CA.
    fn webhook(&self, url: &str) -> Result<phivault_siem::WebhookSettings> {
        let rest = url
            .strip_prefix("https://")
            .context("the webhook URL must be https://")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, addr) = match authority.rsplit_once(':') {
            Some((h, _)) => (h.to_owned(), authority.to_owned()),
            None => (authority.to_owned(), format!("{authority}:443")),
        };
        let secret = self
            .webhook_secret
            .as_ref()
            .context("PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET is required")?
            .as_bytes()
            .to_vec()
            .into();
        let ca = self
            .settings
            .webhook_ca
            .as_ref()
            .context("PHIVAULT_AUDIT_SINK_WEBHOOK_CA (the receiver's CA, PEM) is required")?;
        Ok(phivault_siem::WebhookSettings {
            addr,
            path: format!("/{path}"),
            tls: TlsSettings {
                ca_pem: std::fs::read(self.data_dir.join(ca))?,
                server_name: host,
            },
            secret,
        })
    }

    /// The syslog receiver's TLS settings when it has a CA (`Err` when that is unreadable).
    fn syslog_tls(&self, addr: &str) -> Result<Option<TlsSettings>, std::io::Error> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
        let Some(ca) = &self.settings.syslog_ca else {
            return Ok(None);
        };
        Ok(Some(TlsSettings {
            ca_pem: std::fs::read(self.data_dir.join(ca))?,
            server_name: self.settings.syslog_server_name.clone().unwrap_or(host),
        }))
    }

    /// Starts the configured sinks, and a monitor that logs and reports (in `/readyz`) any
    /// sink that fails or lags by more than `max_lag` events.
    pub(crate) fn start(
        &self,
        jobs: &Supervisor,
        vault: &Arc<Vault>,
        ready: &phivault_server::Readiness,
    ) {
        use phivault_siem::{SinkConfig, SinkKind, SinkStatus, run_sink};
        let s = &self.settings;
        let mut sinks: Vec<(String, SinkKind)> = Vec::new();
        if let Some(path) = &s.jsonl {
            sinks.push((
                "jsonl".to_owned(),
                SinkKind::JsonlFile {
                    path: self.data_dir.join(path),
                    max_bytes: s.jsonl_max_bytes,
                    max_age: StdDuration::from_secs(s.jsonl_max_age_secs),
                },
            ));
        }
        if let Some(addr) = &s.syslog {
            let tls = match self.syslog_tls(addr) {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::error!(error = %e, "audit syslog sink: cannot read its CA; not started");
                    ready.set_degraded(
                        "audit_sinks",
                        vec!["audit_sink:syslog ca_unreadable".to_owned()],
                    );
                    return;
                }
            };
            sinks.push((
                "syslog".to_owned(),
                SinkKind::Syslog {
                    addr: addr.clone(),
                    tls,
                    hostname: env::hostname(),
                },
            ));
        }
        if let Some(url) = &s.webhook {
            match self.webhook(url) {
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
        let max_lag = s.max_lag;
        let mut statuses: Statuses = Vec::new();
        for (name, kind) in sinks {
            let status = Arc::new(std::sync::Mutex::new(SinkStatus::default()));
            let config = SinkConfig {
                name: name.clone(),
                kind,
                batch: 500,
                idle: StdDuration::from_millis(250),
            };
            let (store, clock, run_status) =
                (vault.store().clone(), vault.clock().clone(), status.clone());
            // A sink keeps its cursor in the store, so a restarted run resumes where the
            // last one stopped (at-least-once).
            jobs.spawn(format!("audit-sink:{name}"), move || {
                let run = run_sink(
                    store.clone(),
                    clock.clone(),
                    config.clone(),
                    run_status.clone(),
                );
                async move {
                    run.await;
                    Ok(())
                }
            });
            tracing::info!(sink = %name, "audit sink started");
            statuses.push((name, status));
        }
        let ready = ready.clone();
        let statuses = Arc::new(statuses);
        jobs.spawn("audit-sink-monitor", move || {
            monitor_sinks(statuses.clone(), ready.clone(), max_lag)
        });
    }

    /// Publishes a new head to the syslog and webhook receivers (each a witness outside
    /// the database); failures are logged, the witness file already has it.
    async fn publish_to_witnesses(&self, head: &SignedTreeHead, key: &[u8; 32]) {
        let body = head_json(head, key).to_string();
        if let Some(addr) = &self.settings.syslog {
            let tls = self.syslog_tls(addr).ok().flatten();
            if let Err(e) = phivault_siem::publish_head_syslog(
                addr,
                tls.as_ref(),
                &env::hostname(),
                head.tree_size,
                &body,
            )
            .await
            {
                tracing::warn!(error = %e, "audit tree head: syslog witness failed");
            }
        }
        if let Some(url) = &self.settings.webhook {
            match self.webhook(url) {
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
}

/// The sinks' statuses by sink name, shared between each sink and the monitor.
type Statuses = Vec<(String, Arc<std::sync::Mutex<phivault_siem::SinkStatus>>)>;

/// One run of the sink monitor: every five seconds, exports each sink's lag and failures
/// and reports (in `/readyz`) any sink that fails or lags by more than `max_lag` events.
async fn monitor_sinks(
    statuses: Arc<Statuses>,
    ready: phivault_server::Readiness,
    max_lag: u64,
) -> Result<()> {
    let mut tick = tokio::time::interval(StdDuration::from_secs(5));
    loop {
        tick.tick().await;
        let mut degraded = Vec::new();
        for (name, status) in statuses.iter() {
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
}
