//! `phivault serve`: opens the data directory, builds the HTTPS server and runs it until
//! SIGINT/SIGTERM. Also watches the keyring file so that `keys rotate` run beside a live
//! server takes effect without a restart.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use zeroize::Zeroizing;

use crate::config::{CONFIG_FILE, Config};
use crate::datadir::{self, DEV_DATA_DIR, DEV_PASSPHRASE_FILE};

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHIVAULT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a terminal: in a log file or journal they garble every line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        // No identifier-like text reaches the log output (45 CFR 164.514(b)(2)).
        .with_writer(crate::log_redact::Redacting(std::io::stdout));
    // A second initialisation (tests in one process) is harmless, so its error is ignored.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Creates the development vault if missing and returns its passphrase.
async fn dev_vault(dir: &Path) -> Result<Zeroizing<String>> {
    let pass_file = dir.join(DEV_PASSPHRASE_FILE);
    if dir.join(CONFIG_FILE).exists() {
        let bytes = datadir::read_private(&pass_file)
            .with_context(|| format!("{} is not a development vault", dir.display()))?;
        return Ok(Zeroizing::new(String::from_utf8(bytes)?.trim().to_owned()));
    }
    let random: [u8; 24] = phivault_core::crypto::random_bytes()?;
    let pass = Zeroizing::new(
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    datadir::init(dir, &Config::default(), &pass, None).await?;
    datadir::write_private(&pass_file, pass.as_bytes())?;
    Ok(pass)
}

fn dev_banner(dir: &Path, pass: &str, token: &str, listen: &str) {
    let line = "=".repeat(78);
    eprintln!("{line}");
    eprintln!("  DEVELOPMENT VAULT -- NOT FOR REAL PATIENT DATA");
    eprintln!("  Its passphrase is stored in plain text beside the keyring, and its");
    eprintln!("  certificate is self-signed. Use `phivault init` for anything real.");
    eprintln!("{line}");
    eprintln!("  data directory: {}", dir.display());
    eprintln!("  passphrase:     {pass}");
    eprintln!("  certificate:    {}", dir.join("tls/cert.pem").display());
    eprintln!("  API token:      {token}");
    eprintln!("  try:  curl --cacert {}/tls/cert.pem \\", dir.display());
    eprintln!("          -H 'Authorization: Bearer {token}' https://{listen}/v1/collections");
    eprintln!("{line}");
}

/// The development token: administration, the audit log, individuals' rights and every
/// record, which in production needs the explicit admin-and-PHI exception that compliance
/// reports flag.
async fn dev_token(
    opened: &crate::datadir::Opened,
) -> Result<(phivault_core::TokenInfo, phivault_core::crypto::TokenSecret)> {
    use phivault_core::{DataAction, Grant, Principal, PurposeOfUse, Role, SubjectScope};
    let role = Role {
        name: "dev-all-access".to_owned(),
        description: "Development only: every record, every purpose.".to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: DataAction::ALL.into_iter().collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: PurposeOfUse::ALL.into_iter().collect(),
        }],
    };
    opened
        .vault
        .put_role(
            &crate::local_meta("dev"),
            &Principal::local_operator(),
            role,
        )
        .await?;
    let roles = [
        "admin".to_owned(),
        "auditor".to_owned(),
        "privacy_officer".to_owned(),
        "dev-all-access".to_owned(),
    ];
    crate::bootstrap_token(opened, "dev", &roles, true).await
}

/// Installs the process-wide Prometheus recorder (once: a second `serve` in one test
/// process reuses none and serves empty metrics) and returns what `/metrics` renders.
fn metrics_renderer() -> phivault_server::MetricsRenderer {
    match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => phivault_server::MetricsRenderer::new(move || handle.render()),
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            phivault_server::MetricsRenderer::default()
        }
    }
}

/// Runs the server.
pub(crate) async fn run(
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    dev: bool,
    as_json: bool,
) -> Result<ExitCode> {
    let dir =
        data_dir.unwrap_or_else(|| PathBuf::from(if dev { DEV_DATA_DIR } else { "phivault-data" }));
    let pass = if dev {
        dev_vault(&dir).await?
    } else {
        if dir.join(DEV_PASSPHRASE_FILE).exists() {
            bail!(
                "{} is a development vault; serve it with --dev, never with real PHI",
                dir.display()
            );
        }
        datadir::passphrase(false)?
    };
    // The backup schedule is read first: with its journal on, the store journals commits.
    let schedule = crate::backup_cmd::schedule_from_env(&dir)?;
    let journal = schedule
        .as_ref()
        .and_then(|s| s.journal(Arc::new(phivault_core::SystemClock)));
    let mut opened = datadir::open_journaled(&dir, &pass, journal.clone())?;
    if let Some(l) = listen {
        opened.config.listen = l;
    }
    opened.config.check()?;
    init_logging(&opened.config.log_format);

    if dev {
        let (_, secret) = dev_token(&opened).await?;
        if as_json {
            println!(
                "{}",
                serde_json::json!({"data_dir": dir, "passphrase": pass.as_str(),
                    "token": secret.expose_secret(), "listen": opened.config.listen,
                    "ca_cert": dir.join(&opened.config.tls_cert)})
            );
        } else {
            dev_banner(&dir, &pass, secret.expose_secret(), &opened.config.listen);
        }
    }

    let cert = std::fs::read(dir.join(&opened.config.tls_cert)).context("reading tls_cert")?;
    let key = Zeroizing::new(datadir::read_private(&dir.join(&opened.config.tls_key))?);
    let tls = Arc::new(phivault_server::tls_config(&cert, &key)?);
    if let Some(url) = &opened.config.alert_webhook_url {
        let ca = match &opened.config.alert_webhook_ca {
            Some(path) => Some(std::fs::read(dir.join(path)).context("reading alert_webhook_ca")?),
            None => None,
        };
        let secret = std::env::var("PHIVAULT_ALERT_WEBHOOK_SECRET")
            .ok()
            .map(Zeroizing::new);
        let sender = phivault_client::webhook::WebhookSender::new(
            url,
            ca.as_deref(),
            secret.as_ref().map(|s| s.as_bytes()),
        )
        .context("alert_webhook_url")?;
        opened
            .vault
            .set_alerts(Arc::new(crate::alerts::WebhookAlerts::new(sender)));
    }
    if !opened.config.mfa_required && !dev {
        tracing::warn!(
            "mfa_required = false: people log in with passwords alone (compliance gap, 45 CFR 164.312(d))"
        );
    }
    let metrics = metrics_renderer();
    let state = phivault_server::AppState::new(opened.vault.clone())
        .with_body_limit(opened.config.body_limit_bytes)
        .with_metrics(metrics);
    let ready = state.ready.clone();
    crate::audit_cmd::spawn_sinks(&opened.vault, &dir, &state.ready);
    let router = phivault_server::router(state);
    let listener = tokio::net::TcpListener::bind(&opened.config.listen)
        .await
        .with_context(|| format!("binding {}", opened.config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = opened.vault.store().backend(), "phivault listening (HTTPS only)");
    if !as_json {
        eprintln!("phivault listening on https://{addr}");
    }

    crate::audit_cmd::spawn_tree_head_signer(opened.vault.clone(), &dir);
    if let Some(schedule) = schedule {
        if opened.config.is_postgres() {
            bail!("PHIVAULT_BACKUP_DIR: scheduled backups support the SQLite store only");
        }
        tracing::info!(dir = %schedule.dir.display(), every_s = schedule.interval.as_secs(),
            retention_days = schedule.retention_days,
            journal_rpo_ms = schedule.journal_rpo.map(|d| d.as_millis() as u64),
            "scheduled backups on");
        let scheduler = phivault_backup::Scheduler {
            vault: opened.vault.clone(),
            db: opened.config.sqlite_path(&dir),
            config_text: std::fs::read(dir.join(CONFIG_FILE)).ok(),
            schedule,
            journal,
        };
        crate::backup_cmd::spawn_scheduler(scheduler, ready);
    }
    spawn_retention(opened.vault.clone(), retention_interval()?);
    tokio::spawn(watch_keyring(
        dir.join(&opened.config.keyring),
        pass.clone(),
        opened.vault.clone(),
    ));
    phivault_server::serve(listener, tls, router, shutdown_signal()).await?;
    tracing::info!("phivault stopped");
    Ok(ExitCode::SUCCESS)
}

/// How often the retention scheduler runs: `PHIVAULT_RETENTION_INTERVAL_SECS` (default one
/// hour; 0 turns it off, e.g. on all but one node of a PostgreSQL cluster).
fn retention_interval() -> Result<Option<StdDuration>> {
    match std::env::var("PHIVAULT_RETENTION_INTERVAL_SECS") {
        Err(_) => Ok(Some(StdDuration::from_secs(3600))),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(StdDuration::from_secs(n))),
            Err(_) => bail!("PHIVAULT_RETENTION_INTERVAL_SECS must be a number of seconds"),
        },
    }
}

/// Disposes of records past their collection's retention period on a schedule, acting
/// as the privacy officer; each disposal is audited by the vault.
fn spawn_retention(vault: std::sync::Arc<phivault_core::Vault>, every: Option<StdDuration>) {
    let Some(every) = every else {
        tracing::info!("retention scheduler off");
        return;
    };
    let mut op = phivault_core::Principal::local_operator();
    op.id = "retention-scheduler".to_owned();
    op.actor.id = Some("retention-scheduler".to_owned());
    op.roles = phivault_core::policy::builtin_role("privacy_officer")
        .into_iter()
        .collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match vault
                .apply_retention(&crate::local_meta("retention"), &op)
                .await
            {
                Ok(r) if r.disposed > 0 || r.held > 0 => {
                    tracing::info!(disposed = r.disposed, held = r.held, "retention run")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = e.code(), "retention run failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Reloads the keyring when its file changes (after `keys rotate`), so data keys re-wrapped
/// under a new key-encryption key stay readable without a restart.
async fn watch_keyring(path: PathBuf, pass: Zeroizing<String>, vault: Arc<phivault_core::Vault>) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = modified(&path);
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let now = modified(&path);
        if now == last {
            continue;
        }
        last = now;
        let (p, pw) = (path.clone(), pass.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let bytes = datadir::read_private(&p)?;
            Ok::<_, anyhow::Error>(phivault_core::crypto::Keyring::open(&bytes, pw.as_bytes())?)
        })
        .await;
        match opened {
            Ok(Ok(keyring)) => {
                let version = keyring.current_kek_version();
                vault.replace_keyring(keyring);
                tracing::info!(kek_version = version, "keyring reloaded");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "keyring changed but could not be opened"),
            Err(e) => tracing::error!(error = %e, "keyring reload task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_core::{Clock as _, CollectionName, Principal, RequestMeta};
    use phivault_testkit::TestVault;
    use phivault_testkit::synthetic::patient_schema;

    #[tokio::test]
    async fn the_retention_scheduler_disposes_of_expired_records_as_the_privacy_officer() {
        let tv = TestVault::start().await;
        let c: phivault_client::api::Collection =
            serde_json::from_value(patient_schema("patients")).unwrap();
        tv.admin_client().create_collection(&c).await.unwrap();
        let id = tv
            .client()
            .create_record(
                "patients",
                "pat-r",
                serde_json::json!({"full_name": "Ret Ention"}),
            )
            .await
            .unwrap()
            .id;
        let mut officer = Principal::local_operator();
        officer.roles = phivault_core::policy::builtin_role("privacy_officer")
            .into_iter()
            .collect();
        let name = CollectionName::parse("patients").unwrap();
        tv.vault
            .set_retention(&RequestMeta::default(), &officer, &name, Some(10))
            .await
            .unwrap();
        tv.clock.advance(time::Duration::days(11));
        let before = tv.clock.now();

        // Off: nothing runs.
        spawn_retention(tv.vault.clone(), None);
        // On: the first run comes at once, then one per interval.
        spawn_retention(tv.vault.clone(), Some(StdDuration::from_secs(3600)));
        let mut disposed = None;
        for _ in 0..100 {
            let entries = tv.audit_entries().await;
            disposed = entries
                .iter()
                .map(|e| e.event().unwrap())
                .find(|e| e.action == "record.dispose");
            if disposed.is_some() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let ev = disposed.expect("the scheduler disposed of the expired record");
        assert_eq!(ev.record_id, Some(id.to_string()));
        assert_eq!(ev.actor.id.as_deref(), Some("retention-scheduler"));
        assert!(ev.time >= before);
        assert_eq!(
            retention_interval().unwrap(),
            Some(StdDuration::from_secs(3600))
        );
    }
}
