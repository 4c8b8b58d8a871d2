//! `phivault`: the one binary. Serves the vault over HTTPS and runs the operator's offline
//! commands (init, tokens, audit verification, key rotation) against a data directory.
#![forbid(unsafe_code)]

mod alerts;
mod audit_cmd;
mod backup_cmd;
mod config;
mod datadir;
mod deid;
mod identity_cmd;
mod log_redact;
mod migrate;
mod qr;
mod serve;
mod subject_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use phivault_core::{Principal, RequestMeta};

use crate::config::Config;

/// A self-hosted vault for protected health information.
#[derive(Debug, Parser)]
#[command(name = "phivault", version, about)]
struct Cli {
    /// The data directory (config, keyring, database, certificate).
    /// [default: phivault-data, or .phivault-dev with `serve --dev`]
    #[arg(long, global = true, env = "PHIVAULT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new vault: config, sealed keyring, database, certificate, bootstrap token.
    Init {
        /// HTTPS listen address written to the config.
        #[arg(long, env = "PHIVAULT_LISTEN")]
        listen: Option<String>,
        /// A PEM certificate chain to serve instead of a generated self-signed one.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Storage URL written to the config: sqlite:PATH (default sqlite:phivault.db) or
        /// postgres://… (an empty database; further nodes copy this data directory).
        #[arg(long, env = "PHIVAULT_STORAGE")]
        storage: Option<String>,
    },
    /// Serve the vault over HTTPS.
    Serve {
        /// Override the configured listen address (ADDR:PORT).
        #[arg(long, env = "PHIVAULT_LISTEN")]
        listen: Option<String>,
        /// Development mode: create a throwaway vault in .phivault-dev if missing and print
        /// its passphrase and a fresh token. Never for real PHI.
        #[arg(long)]
        dev: bool,
    },
    /// Manage API tokens of service accounts.
    Token {
        #[command(subcommand)]
        command: identity_cmd::TokenCommand,
    },
    /// Manage people's accounts, their roles, sessions and care relationships.
    User {
        #[command(subcommand)]
        command: identity_cmd::UserCommand,
    },
    /// Manage service accounts (non-human identities holding API tokens).
    ServiceAccount {
        #[command(subcommand)]
        command: identity_cmd::ServiceAccountCommand,
    },
    /// List and define roles.
    Role {
        #[command(subcommand)]
        command: identity_cmd::RoleCommand,
    },
    /// Add data grants to custom roles.
    Grant {
        #[command(subcommand)]
        command: identity_cmd::GrantCommand,
    },
    /// Inspect the audit log.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// De-identify text (HIPAA Safe Harbor) and score the scrubber on a labelled corpus.
    Deid {
        #[command(subcommand)]
        command: deid::DeidCommand,
    },
    /// Back the vault up, verify backups and restore them.
    Backup {
        #[command(subcommand)]
        command: backup_cmd::BackupCommand,
    },
    /// Individuals' rights: export a subject's records, account for disclosures, erase.
    Subject {
        #[command(subcommand)]
        command: subject_cmd::SubjectCommand,
    },
    /// Manage encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Copy a SQLite vault into an empty PostgreSQL database and verify the copy (row
    /// counts, audit chain, records byte for byte, sample decrypts with the keyring of
    /// --data-dir). Exit 1 if verification fails.
    Migrate {
        /// The source: sqlite:PATH (relative to the current directory).
        #[arg(long)]
        from: String,
        /// The target: postgres://USER@HOST:PORT/DB[?schema=NAME&sslmode=…]; must hold no vault.
        #[arg(long)]
        to: String,
        /// How many record versions to decrypt as a check.
        #[arg(long, default_value_t = 100)]
        samples: usize,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a key-encryption key version and re-wrap every data key under it.
    Rotate,
    /// Write a copy of the keyring sealed under a separate passphrase
    /// (PHIVAULT_EXPORT_PASSPHRASE or the prompt), to keep apart from the backups.
    Export {
        /// The new file to write.
        #[arg(long)]
        to: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Request metadata for an operator command, so its audit events are recognisable.
pub(crate) fn local_meta(action: &str) -> RequestMeta {
    RequestMeta {
        request_id: format!("cli-{action}-{}", uuid::Uuid::new_v4()),
        source: Some("local".to_owned()),
    }
}

/// Parses `30d`, `12h`, `90m` or `3600s`. Any other input, including a non-ASCII unit or a
/// number too large to represent, is an error (never a panic).
pub(crate) fn parse_ttl(s: &str) -> Result<time::Duration> {
    let bad = || anyhow::anyhow!("bad duration {s:?}: use a number and d, h, m or s");
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s
        .strip_suffix(unit)
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    let seconds_per_unit: i64 = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(bad()),
    };
    let seconds = n.checked_mul(seconds_per_unit).ok_or_else(bad)?;
    Ok(time::Duration::seconds(seconds))
}

/// A time as RFC 3339 (`2026-01-02T03:04:05.123Z`), the form `--json` output promises
/// to scripts; `Display` of `OffsetDateTime` is neither standard nor stable.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Serve { listen, dev } = cli.command {
        return serve::run(cli.data_dir, listen, dev, cli.json).await;
    }
    if let Command::Deid {
        command:
            deid::DeidCommand::Export {
                collection,
                quasi,
                format,
                out,
            },
    } = cli.command
    {
        let data_dir = cli
            .data_dir
            .unwrap_or_else(|| PathBuf::from("phivault-data"));
        let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
        return deid::export(
            &opened,
            &collection,
            &quasi,
            format,
            out.as_deref(),
            cli.json,
        )
        .await;
    }
    if let Command::Deid { command } = cli.command {
        return deid::run(command, cli.json);
    }
    let data_dir = cli
        .data_dir
        .unwrap_or_else(|| PathBuf::from("phivault-data"));
    match cli.command {
        Command::Init {
            listen,
            tls_cert,
            tls_key,
            storage,
        } => {
            let mut config = Config::default();
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(s) = storage {
                config.storage = s;
            }
            let pass = datadir::passphrase(true)?;
            let tls = tls_cert.zip(tls_key);
            datadir::init(&data_dir, &config, &pass, tls).await?;
            let opened = datadir::open(&data_dir, &pass)?;
            let (info, secret) =
                bootstrap_token(&opened, "bootstrap-admin", &["admin".to_owned()], false).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"data_dir": data_dir, "listen": opened.config.listen,
                           "token_id": info.id.to_string(), "token": secret.expose_secret(),
                           "expires_at": rfc3339(info.expires_at)})
                );
            } else {
                println!("Initialised a vault in {}", data_dir.display());
                println!("Bootstrap admin token (shown once; store it safely):");
                println!("  {}", secret.expose_secret());
                println!("It expires at {}.", info.expires_at);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => Ok(ExitCode::SUCCESS),
        Command::Deid { .. } => Ok(ExitCode::SUCCESS),
        Command::Token { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            identity_cmd::token(&opened, command, cli.json).await
        }
        Command::User { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            identity_cmd::user(&opened, command, cli.json).await
        }
        Command::ServiceAccount { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            identity_cmd::service_account(&opened, command, cli.json).await
        }
        Command::Role { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            identity_cmd::role(&opened, command, cli.json).await
        }
        Command::Grant { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            identity_cmd::grant(&opened, command, cli.json).await
        }
        Command::Audit { command } => audit_cmd::run(command, &data_dir, cli.json).await,
        Command::Subject { command } => {
            let opened = datadir::open(&data_dir, &datadir::passphrase(false)?)?;
            subject_cmd::run(&opened, command, cli.json).await
        }
        Command::Migrate { from, to, samples } => {
            migrate::run(&data_dir, &from, &to, samples, cli.json).await
        }
        Command::Backup { command } => backup_cmd::run(command, &data_dir, cli.json).await,
        Command::Keys {
            command: KeysCommand::Export { to },
        } => backup_cmd::export_keys(&data_dir, &to, cli.json).await,
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let pass = datadir::passphrase(false)?;
            let opened = datadir::open(&data_dir, &pass)?;
            rotate_keys(&opened, &pass, cli.json).await
        }
    }
}

/// Creates the service account `name` holding `roles` and issues it a token valid for the
/// configured maximum token lifetime.
pub(crate) async fn bootstrap_token(
    opened: &datadir::Opened,
    name: &str,
    roles: &[String],
    allow_admin_phi: bool,
) -> Result<(phivault_core::TokenInfo, phivault_core::crypto::TokenSecret)> {
    let ttl = time::Duration::days(i64::from(opened.config.max_token_ttl_days));
    let op = Principal::local_operator();
    let meta = local_meta("bootstrap");
    let exists = opened
        .vault
        .list_users(&meta, &op)
        .await?
        .iter()
        .any(|u| u.username == name);
    if !exists {
        opened
            .vault
            .create_service_account(&meta, &op, name, roles, allow_admin_phi)
            .await?;
    }
    Ok(opened
        .vault
        .create_token(&meta, &op, name, name, roles, ttl)
        .await?)
}

async fn rotate_keys(opened: &datadir::Opened, pass: &str, as_json: bool) -> Result<ExitCode> {
    let mut keyring = (*opened.vault.keyring()).clone();
    let version = keyring.rotate()?;
    // The new keyring file is written first: a crash afterwards leaves data keys wrapped
    // under older versions, which the new file still holds, so nothing becomes unreadable.
    let sealed = keyring.seal(pass.as_bytes(), &datadir::kdf_params()?)?;
    datadir::write_private(&opened.dir.join(&opened.config.keyring), &sealed)?;
    opened.vault.replace_keyring(keyring);
    let bar = if as_json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("re-wrapping data keys {bar:40} {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(StdDuration::from_millis(200));
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let n = opened
        .vault
        .rewrap_data_keys(
            &local_meta("keys-rotate"),
            &Principal::local_operator(),
            &progress,
        )
        .await?;
    bar.finish_and_clear();
    if as_json {
        println!("{}", json!({"kek_version": version, "rewrapped": n}));
    } else {
        println!("key-encryption key version {version} is current; {n} data keys re-wrapped");
    }
    Ok(ExitCode::SUCCESS)
}
