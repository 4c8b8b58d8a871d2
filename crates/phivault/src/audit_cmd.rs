//! `phivault audit …`: offline verification against published tree heads, tree heads,
//! inclusion and consistency proofs; and the server's periodic tree-head signer with its
//! append-only witness file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use phivault_core::Vault;
use phivault_core::audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use phivault_core::audit::{LogBreakKind, SignedTreeHead};
use phivault_core::audit_log;
use serde_json::{Value, json};

use crate::config::Config;
use crate::datadir;

/// Default: sign a tree head once this many events are unsigned.
const DEFAULT_HEAD_EVERY: u64 = 1000;
/// Default: sign a tree head when unsigned events are this many seconds older than the last.
const DEFAULT_HEAD_SECONDS: u64 = 60;
/// The witness file, relative to the data directory unless absolute.
const DEFAULT_WITNESS_FILE: &str = "audit-heads.jsonl";

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain, the Merkle tree and every signed tree head; with `--against`,
    /// also a published head, which detects truncation and rollback. Names the first bad
    /// entry and exits 1 if there is one.
    Verify {
        /// A published tree head (`tree-head` output, or a line of the witness file).
        /// Repeatable.
        #[arg(long = "against", value_name = "HEAD.json")]
        against: Vec<PathBuf>,
        /// The audit verifying key (64 hex digits); default: from HEAD.json, else from the
        /// keyring (needs the passphrase).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the latest signed tree head as JSON (publishable as HEAD.json).
    TreeHead {
        /// Sign a new head over the whole log first (needs the passphrase).
        #[arg(long)]
        fresh: bool,
    },
    /// Print and check an RFC 9162 proof.
    Proof {
        #[command(subcommand)]
        command: ProofCommand,
    },
}

/// Proof commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ProofCommand {
    /// The inclusion proof of one entry.
    Inclusion {
        /// The entry's sequence number.
        #[arg(long)]
        seq: u64,
        /// The tree size (default: the latest signed head's).
        #[arg(long)]
        tree_size: Option<u64>,
    },
    /// The consistency proof between two tree sizes.
    Consistency {
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size (default: the latest signed head's).
        #[arg(long)]
        to: Option<u64>,
    },
}

fn hex32(s: &str) -> Result<[u8; 32]> {
    let s = s.trim().as_bytes();
    if s.len() != 64 {
        bail!("expected 64 hex digits");
    }
    let digit = |c: u8| (c as char).to_digit(16).context("expected 64 hex digits");
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
        if let [hi, lo] = pair {
            *o = u8::try_from(digit(*hi)? * 16 + digit(*lo)?)?;
        }
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a published head: `{"head": {…}, "public_key": "…"}` (the `tree-head` output) or a
/// bare signed head.
fn read_head(path: &Path) -> Result<(SignedTreeHead, Option<[u8; 32]>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let key = v
        .get("public_key")
        .and_then(Value::as_str)
        .map(hex32)
        .transpose()?;
    let head = serde_json::from_value(v.get("head").cloned().unwrap_or(v))
        .with_context(|| format!("{} is not a signed tree head", path.display()))?;
    Ok((head, key))
}

fn head_json(head: &SignedTreeHead, key: &[u8; 32]) -> Value {
    json!({"head": head, "public_key": hex(key)})
}

/// Runs an `audit` subcommand.
pub(crate) async fn run(command: AuditCommand, data_dir: &Path, as_json: bool) -> Result<ExitCode> {
    let config = Config::load(data_dir)?;
    match command {
        AuditCommand::Verify {
            against,
            public_key,
        } => verify(data_dir, &config, &against, public_key.as_deref(), as_json).await,
        AuditCommand::TreeHead { fresh } => {
            let pass = datadir::passphrase(false)?;
            let keyring = Arc::new(datadir::open_keyring(data_dir, &config, &pass)?);
            let store = datadir::open_store(data_dir, &config)?;
            let head = if fresh {
                let now = phivault_core::Clock::now(&phivault_core::SystemClock);
                audit_log::sign_tree_head(&*store, keyring.clone(), now)
                    .await?
                    .map(|(h, _)| h)
            } else {
                audit_log::latest_tree_head(&*store).await?
            };
            let Some(head) = head else {
                bail!("no signed tree head yet (the log is empty or was never signed)");
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&head_json(&head, &keyring.audit_verifying_key()))?
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Proof { command } => {
            let store = datadir::open_store(data_dir, &config)?;
            let (out, ok) = match command {
                ProofCommand::Inclusion { seq, tree_size } => {
                    let p = audit_log::prove_inclusion(&*store, seq, tree_size).await?;
                    let leaf = leaf_hash(p.event_json.as_bytes());
                    let ok = leaf == p.leaf_hash
                        && verify_inclusion(&leaf, seq - 1, p.tree_size, &p.path, &p.root_hash);
                    let out = json!({
                        "seq": p.seq, "leaf_index": p.seq - 1, "tree_size": p.tree_size,
                        "leaf_hash": hex(&p.leaf_hash), "event_json": p.event_json,
                        "path": p.path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                        "root_hash": hex(&p.root_hash), "signed_head": p.signed_head,
                        "verified": ok,
                    });
                    (out, ok)
                }
                ProofCommand::Consistency { from, to } => {
                    let p = audit_log::prove_consistency(&*store, from, to).await?;
                    let ok = verify_consistency(p.from, p.to, &p.from_root, &p.to_root, &p.path);
                    let out = json!({
                        "from": p.from, "to": p.to, "from_root": hex(&p.from_root),
                        "to_root": hex(&p.to_root),
                        "path": p.path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                        "signed_head": p.signed_head, "verified": ok,
                    });
                    (out, ok)
                }
            };
            if as_json {
                println!("{out}");
            } else {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn verify(
    data_dir: &Path,
    config: &Config,
    against: &[PathBuf],
    public_key: Option<&str>,
    as_json: bool,
) -> Result<ExitCode> {
    let mut heads = Vec::new();
    let mut key = public_key.map(hex32).transpose()?;
    for path in against {
        let (head, k) = read_head(path)?;
        if let (Some(given), Some(k)) = (key, k)
            && given != k
        {
            bail!("{} names another verifying key", path.display());
        }
        key = key.or(k);
        heads.push(head);
    }
    let key = match key {
        Some(k) => Some(k),
        None => match datadir::passphrase(false) {
            Ok(pass) => Some(datadir::open_keyring(data_dir, config, &pass)?.audit_verifying_key()),
            Err(_) => {
                eprintln!(
                    "warning: no verifying key (pass --public-key or --against, or set \
                     PHIVAULT_PASSPHRASE): checking the chain and Merkle leaves, not tree heads"
                );
                None
            }
        },
    };
    let store = datadir::open_store(data_dir, config)?;
    let report = audit_log::verify_log(&*store, key.as_ref(), &heads).await?;
    // A published head that does not verify under the key is itself a failure: it cannot
    // vouch for anything, and the operator asked to check against it.
    let bad_published: Vec<u64> = heads
        .iter()
        .filter(|h| key.is_none_or(|k| !h.verify(&k)))
        .map(|h| h.tree_size)
        .collect();
    let ok = report.ok() && bad_published.is_empty();
    let first = report.first_break.map(|b| {
        let kind = match b.kind {
            LogBreakKind::Chain(_) => "chain",
            LogBreakKind::Missing => "missing",
            LogBreakKind::LeafMismatch => "leaf_mismatch",
            LogBreakKind::Truncated { .. } => "truncated",
            LogBreakKind::RootMismatch { .. } => "root_mismatch",
        };
        json!({"seq": b.seq, "kind": kind, "problem": b.kind.to_string()})
    });
    if as_json {
        println!(
            "{}",
            json!({"ok": ok, "entries": report.entries, "root_hash": hex(&report.root_hash),
                   "head_hash": report.chain_head.map(|h| hex(&h)),
                   "heads_checked": report.heads_checked,
                   "rejected_heads": report.rejected_heads,
                   "bad_published_heads": bad_published, "first_break": first})
        );
    } else {
        if let Some(b) = &report.first_break {
            println!("audit log BROKEN at entry {}: {}", b.seq, b.kind);
        }
        for size in &report.rejected_heads {
            println!("stored tree head of size {size} has an invalid signature (forged?)");
        }
        for size in &bad_published {
            println!("published tree head of size {size} does not verify under the key");
        }
        if ok {
            println!(
                "audit log OK: {} entries, root {}, {} signed heads checked",
                report.entries,
                hex(&report.root_hash),
                report.heads_checked
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

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

/// Signs a tree head every `PHIVAULT_AUDIT_HEAD_EVERY` events (default 1000) or when the
/// oldest unsigned event is `PHIVAULT_AUDIT_HEAD_SECONDS` old (default 60), prunes entries
/// older than `PHIVAULT_AUDIT_RETENTION_DAYS` (default six years) below a signed head, and publishes
/// each new head to the witness file (`PHIVAULT_AUDIT_WITNESS_FILE`, default
/// `audit-heads.jsonl` in the data directory). Failures are logged and retried; they never
/// block requests.
pub(crate) fn spawn_tree_head_signer(vault: Arc<Vault>, data_dir: &Path) {
    let every = env_u64("PHIVAULT_AUDIT_HEAD_EVERY", DEFAULT_HEAD_EVERY).max(1);
    let seconds = env_u64("PHIVAULT_AUDIT_HEAD_SECONDS", DEFAULT_HEAD_SECONDS).max(1);
    let witness = std::env::var("PHIVAULT_AUDIT_WITNESS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(DEFAULT_WITNESS_FILE));
    let witness = data_dir.join(witness);
    let data_dir_w = data_dir.to_path_buf();
    let retention = time::Duration::days(
        i64::try_from(env_u64("PHIVAULT_AUDIT_RETENTION_DAYS", 6 * 365 + 2)).unwrap_or(i64::MAX),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(StdDuration::from_secs(1));
        let mut ticks = 0u64;
        loop {
            tick.tick().await;
            ticks += 1;
            // Retention, hourly: prune below the newest signed head older than the window.
            if ticks % 3600 == 1 {
                match vault.prune_audit(retention).await {
                    Ok(Some(through)) => {
                        tracing::info!(through, "audit log pruned below a signed checkpoint")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "audit retention prune failed"),
                }
            }
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
        .into();
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
pub(crate) fn spawn_sinks(vault: &Arc<Vault>, data_dir: &Path, ready: &phivault_server::Readiness) {
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
        tokio::spawn(run_sink(
            vault.store().clone(),
            vault.clock().clone(),
            config,
            status.clone(),
        ));
        tracing::info!(sink = %name, "audit sink started");
        statuses.push((name, status));
    }
    let ready = ready.clone();
    tokio::spawn(async move {
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
