//! `phivault`: the one binary. Serves the vault over HTTPS and runs the operator's offline
//! commands (init, tokens, audit verification, key rotation) against a data directory.
#![forbid(unsafe_code)]

mod config;
mod datadir;
mod serve;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use phivault_core::{Principal, RequestMeta, Scope, TokenId};

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
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Inspect the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token; its secret is printed once.
    Create {
        /// A label for the token.
        #[arg(long)]
        name: String,
        /// A scope to grant (repeatable): collections:manage, records:read, records:write,
        /// tokens:manage, audit:read.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime, e.g. 30d, 12h, 90m (at most the configured maximum).
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and name the first broken entry; exit 1 if there is one.
    Verify,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a key-encryption key version and re-wrap every data key under it.
    Rotate,
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

fn local_meta(action: &str) -> RequestMeta {
    RequestMeta {
        request_id: format!("cli-{action}-{}", uuid::Uuid::new_v4()),
        source: Some("local".to_owned()),
    }
}

/// Parses `30d`, `12h`, `90m` or `3600s`.
fn parse_ttl(s: &str) -> Result<time::Duration> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().with_context(|| format!("bad duration {s:?}"))?;
    Ok(match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        "s" => time::Duration::seconds(n),
        _ => bail!("bad duration {s:?}: use a number and d, h, m or s"),
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Serve { listen, dev } = cli.command {
        return serve::run(cli.data_dir, listen, dev, cli.json).await;
    }
    let data_dir = cli
        .data_dir
        .unwrap_or_else(|| PathBuf::from("phivault-data"));
    match cli.command {
        Command::Init {
            listen,
            tls_cert,
            tls_key,
        } => {
            let mut config = Config::default();
            if let Some(l) = listen {
                config.listen = l;
            }
            let pass = datadir::passphrase(true)?;
            let tls = tls_cert.zip(tls_key);
            datadir::init(&data_dir, &config, &pass, tls).await?;
            let opened = datadir::open(&data_dir, &pass)?;
            let (info, secret) = bootstrap_token(&opened, "bootstrap-admin").await?;
            if cli.json {
                println!(
                    "{}",
                    json!({"data_dir": data_dir, "listen": opened.config.listen,
                           "token_id": info.id.to_string(), "token": secret.expose_secret(),
                           "expires_at": info.expires_at.to_string()})
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
        Command::Token { command } => {
            let pass = datadir::passphrase(false)?;
            let opened = datadir::open(&data_dir, &pass)?;
            token_command(&opened, command, cli.json).await
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let config = Config::load(&data_dir)?;
            let store = datadir::open_store(&data_dir, &config)?;
            let report = phivault_core::vault::verify_chain(&*store).await?;
            let ok = report.first_break.is_none();
            if cli.json {
                println!(
                    "{}",
                    json!({"ok": ok, "entries": report.entries, "head_hash": report.head_hash,
                           "first_break": report.first_break.as_ref().map(|(seq, problem)|
                               json!({"seq": seq, "problem": problem}))})
                );
            } else if let Some((seq, problem)) = &report.first_break {
                println!("audit log BROKEN at entry {seq}: {problem}");
                println!("{} entries before it verified", report.entries);
            } else {
                println!("audit log OK: {} entries verified", report.entries);
                if let Some(h) = &report.head_hash {
                    println!("head hash {h}");
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let pass = datadir::passphrase(false)?;
            let opened = datadir::open(&data_dir, &pass)?;
            rotate_keys(&opened, &pass, cli.json).await
        }
    }
}

/// Issues a token with every scope, for the operator's first steps, valid for the
/// configured maximum token lifetime.
pub(crate) async fn bootstrap_token(
    opened: &datadir::Opened,
    name: &str,
) -> Result<(phivault_core::TokenInfo, phivault_core::crypto::TokenSecret)> {
    let ttl = time::Duration::days(i64::from(opened.config.max_token_ttl_days));
    Ok(opened
        .vault
        .create_token(
            &local_meta("bootstrap"),
            &Principal::local_operator(),
            name,
            &Scope::ALL,
            ttl,
        )
        .await?)
}

async fn token_command(
    opened: &datadir::Opened,
    command: TokenCommand,
    as_json: bool,
) -> Result<ExitCode> {
    let op = Principal::local_operator();
    match command {
        TokenCommand::Create { name, scopes, ttl } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s).with_context(|| format!("unknown scope {s:?}")))
                .collect::<Result<Vec<_>>>()?;
            let ttl = parse_ttl(&ttl)?;
            let (info, secret) = opened
                .vault
                .create_token(&local_meta("token-create"), &op, &name, &scopes, ttl)
                .await?;
            if as_json {
                println!(
                    "{}",
                    json!({"id": info.id.to_string(), "name": info.name, "scopes": info.scopes,
                           "expires_at": info.expires_at.to_string(),
                           "token": secret.expose_secret()})
                );
            } else {
                println!("{}", secret.expose_secret());
                eprintln!(
                    "token {} expires at {} (shown once)",
                    info.id, info.expires_at
                );
            }
        }
        TokenCommand::List => {
            let tokens = opened
                .vault
                .list_tokens(&local_meta("token-list"), &op)
                .await?;
            if as_json {
                let items: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        json!({"id": t.id.to_string(), "name": t.name, "scopes": t.scopes,
                               "created_at": t.created_at.to_string(),
                               "expires_at": t.expires_at.to_string(),
                               "revoked_at": t.revoked_at.map(|r| r.to_string())})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                for t in tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {:<20} {:<8} expires {}  {}",
                        t.id,
                        t.name,
                        state,
                        t.expires_at,
                        t.scopes.join(",")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let id = TokenId::parse(&id)?;
            opened
                .vault
                .revoke_token(&local_meta("token-revoke"), &op, id)
                .await?;
            if as_json {
                println!("{}", json!({"revoked": id.to_string()}));
            } else {
                println!("revoked {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_keys(opened: &datadir::Opened, pass: &str, as_json: bool) -> Result<ExitCode> {
    let mut keyring = (*opened.vault.keyring()).clone();
    let version = keyring.rotate()?;
    // The new keyring file is written first: a crash afterwards leaves data keys wrapped
    // under older versions, which the new file still holds, so nothing becomes unreadable.
    let sealed = keyring.seal(pass.as_bytes(), &datadir::kdf_params())?;
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
