//! `phivault audit …`: offline verification against published tree heads, tree heads,
//! inclusion and consistency proofs. The server's tree-head signer and SIEM sinks are
//! jobs of `serve` (`serve::jobs::audit`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use phivault_core::audit::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use phivault_core::audit::{LogBreakKind, SignedTreeHead};
use phivault_core::audit_log;
use serde_json::{Value, json};

use crate::config::Config;
use crate::datadir;

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

pub(crate) fn hex(b: &[u8]) -> String {
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

pub(crate) fn head_json(head: &SignedTreeHead, key: &[u8; 32]) -> Value {
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
