//! `phivault serve`: opens the data directory, builds the HTTPS server and runs it until
//! SIGINT/SIGTERM, with its background jobs (SIEM sinks, tree heads, backups, retention,
//! keyring and certificate watches) started from [`jobs`], under the `[limits]` and
//! `[tls]` settings.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use zeroize::Zeroizing;

mod jobs;

use crate::config::{self, CONFIG_FILE, Config};
use crate::datadir::{self, DEV_DATA_DIR, DEV_PASSPHRASE_FILE};

fn init_logging(format: &str) -> Result<()> {
    let filter = match config::env::log_filter() {
        Some(f) => tracing_subscriber::EnvFilter::try_new(&f)
            .with_context(|| format!("PHIVAULT_LOG: {f:?} is not a valid log filter"))?,
        None => tracing_subscriber::EnvFilter::new("info"),
    };
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
    Ok(())
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
    let config = Config::load(&dir)?;
    let schedule = config.backup.schedule(&dir)?;
    let journal = schedule
        .as_ref()
        .and_then(|s| s.journal(Arc::new(phivault_core::SystemClock)));
    let mut opened = datadir::open_journaled(&dir, config, &pass, journal.clone())?;
    if let Some(l) = listen {
        opened.config.listen = l;
    }
    opened.config.check()?;
    init_logging(&opened.config.log_format)?;

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
    let client_auth = opened.config.tls.client_auth(&dir)?;
    let (tls, certificate) = phivault_server::tls_server(&cert, &key, &client_auth)?;
    let tls = Arc::new(tls);
    if let Some(url) = &opened.config.alert_webhook_url {
        let ca = match &opened.config.alert_webhook_ca {
            Some(path) => Some(std::fs::read(dir.join(path)).context("reading alert_webhook_ca")?),
            None => None,
        };
        let secret = config::env::secret(config::env::ALERT_WEBHOOK_SECRET);
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
        .with_rate_limits(&opened.config.limits.rate_limits())
        .with_metrics(metrics);
    let ready = state.ready.clone();
    let sinks = jobs::audit::Sinks {
        settings: opened.config.audit_sink.clone(),
        webhook_secret: config::env::secret(config::env::AUDIT_SINK_WEBHOOK_SECRET),
        data_dir: dir.clone(),
    };
    // Every background job runs under one supervisor that reports failing jobs in /readyz.
    let supervisor = jobs::Supervisor::new(ready.clone());
    sinks.start(&supervisor, &opened.vault, &state.ready);
    let router = phivault_server::router(state);
    let listener = tokio::net::TcpListener::bind(&opened.config.listen)
        .await
        .with_context(|| format!("binding {}", opened.config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = opened.vault.store().backend(), "phivault listening (HTTPS only)");
    if !as_json {
        eprintln!("phivault listening on https://{addr}");
    }

    jobs::audit::tree_head_signer(
        &supervisor,
        opened.vault.clone(),
        &opened.config.audit,
        sinks,
    );
    jobs::audit::retention(
        &supervisor,
        opened.vault.clone(),
        opened.config.audit.retention_days,
    );
    if let Some(schedule) = schedule {
        if opened.config.is_postgres() {
            bail!(
                "backup dir (PHIVAULT_BACKUP_DIR): scheduled backups support the SQLite store only"
            );
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
        jobs::backups::scheduler(&supervisor, scheduler, ready);
    }
    jobs::retention::retention(
        &supervisor,
        opened.vault.clone(),
        opened.config.retention.interval(),
    );
    jobs::keyring::keyring_watch(
        &supervisor,
        dir.join(&opened.config.keyring),
        pass.clone(),
        opened.vault.clone(),
    );
    jobs::tls::certificate_watch(
        &supervisor,
        dir.join(&opened.config.tls_cert),
        dir.join(&opened.config.tls_key),
        certificate,
    );
    let options = opened.config.limits.serve_options();
    phivault_server::serve_with(listener, tls, router, options, shutdown_signal()).await?;
    tracing::info!("phivault stopped");
    Ok(ExitCode::SUCCESS)
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
