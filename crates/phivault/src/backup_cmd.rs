//! `phivault backup create|verify|restore|prune` and `phivault keys export`: argument
//! parsing, the keyring and passphrases, progress spinners and printing. The backups
//! themselves (layout, manifest, verification, restore, retention, the schedule) are
//! `phivault_backup`'s.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use phivault_backup::{
    DEFAULT_RETENTION_DAYS, Progress, RestorePlan, Restored, SharedProgress, Target, VerifyReport,
};
use phivault_core::crypto::Keyring;
use phivault_core::{Principal, SystemClock};

use crate::config::{CONFIG_FILE, Config, env};
use crate::datadir;

/// Backup subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Take a consistent, signed backup of the store (safe while the vault serves).
    Create {
        /// The backup location; the backup becomes a new directory inside it.
        #[arg(long)]
        to: PathBuf,
        /// Also prune backups in the location older than this many days (the newest is
        /// always kept).
        #[arg(long)]
        retention_days: Option<u32>,
    },
    /// Check a backup by restoring it into a temporary directory: manifest signature,
    /// part hashes, database integrity, row counts, the audit chain and tree head, and
    /// sample decrypts. Exit 1 on any problem.
    Verify {
        /// The backup directory (or its manifest.json).
        backup: PathBuf,
        /// A keyring exported with `keys export` (passphrase from
        /// PHIVAULT_KEYRING_PASSPHRASE or the prompt) instead of the data directory's.
        #[arg(long)]
        keyring: Option<PathBuf>,
        /// How many record versions to decrypt as a check.
        #[arg(long, default_value_t = 100)]
        samples: usize,
    },
    /// Restore a backup into a data directory and replay the shred ledger. Stop the
    /// server of that directory first.
    Restore {
        /// The backup directory (or its manifest.json), or the backup location: then the
        /// newest backup taken at or before --to-time (or the newest of all) is used.
        backup: PathBuf,
        /// The data directory to restore into (created if missing).
        #[arg(long)]
        to: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
        /// A keyring exported with `keys export`; copied into a target without a keyring.
        #[arg(long)]
        keyring: Option<PathBuf>,
        /// Recover the state as of this time (RFC 3339), replaying the backup's journal up
        /// to it. Without it, a backup with a journal is restored to the journal's end.
        #[arg(long, conflicts_with = "base_only")]
        to_time: Option<String>,
        /// Restore the backup's snapshot alone, ignoring its journal.
        #[arg(long)]
        base_only: bool,
    },
    /// Delete backups older than the retention period (the newest is always kept).
    Prune {
        /// The backup location.
        dir: PathBuf,
        /// Days to keep.
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
    },
}

/// A spinner on standard error named `what`, hidden when `hidden` (JSON output, or output
/// on standard output).
pub(crate) fn progress(hidden: bool, what: &str) -> indicatif::ProgressBar {
    let bar = if hidden {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(StdDuration::from_millis(120));
    bar
}

/// A spinner through which backup work reports its steps.
struct Spinner(indicatif::ProgressBar);

impl Progress for Spinner {
    fn message(&self, text: &str) {
        self.0.set_message(text.to_owned());
    }
}

/// The spinner and its handle for `phivault_backup`.
fn spinner(hidden: bool, what: &str) -> (indicatif::ProgressBar, SharedProgress) {
    let bar = progress(hidden, what);
    (bar.clone(), Arc::new(Spinner(bar)))
}

/// Runs a backup subcommand.
pub(crate) async fn run(cmd: BackupCommand, data_dir: &Path, as_json: bool) -> Result<ExitCode> {
    match cmd {
        BackupCommand::Create { to, retention_days } => {
            create(data_dir, &to, retention_days, as_json).await
        }
        BackupCommand::Verify {
            backup,
            keyring,
            samples,
        } => verify(data_dir, &backup, keyring.as_deref(), samples, as_json).await,
        BackupCommand::Restore {
            backup,
            to,
            force,
            keyring,
            to_time,
            base_only,
        } => {
            let target = match (base_only, to_time) {
                (true, _) => Target::Base,
                (false, None) => Target::Latest,
                (false, Some(t)) => Target::Time(
                    OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .with_context(|| format!("--to-time {t:?} is not an RFC 3339 time"))?,
                ),
            };
            restore(
                &backup,
                &to,
                force,
                keyring.as_deref(),
                target,
                data_dir,
                as_json,
            )
            .await
        }
        BackupCommand::Prune {
            dir,
            retention_days,
        } => {
            let now = phivault_core::Clock::now(&SystemClock);
            let pruned = phivault_backup::prune(&dir, retention_days, now)?;
            if as_json {
                println!("{}", json!({"pruned": pruned}));
            } else {
                println!("{} backups pruned", pruned.len());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn create(
    data_dir: &Path,
    to: &Path,
    retention_days: Option<u32>,
    as_json: bool,
) -> Result<ExitCode> {
    let opened = datadir::open(data_dir, &datadir::passphrase(false)?)?;
    if opened.config.is_postgres() {
        bail!(
            "backup create supports the SQLite store only; back PostgreSQL up with its own tools"
        );
    }
    let db = opened.config.sqlite_path(data_dir);
    let config_text = fs::read(data_dir.join(CONFIG_FILE)).ok();
    let (bar, shown) = spinner(as_json, "backup");
    let created = phivault_backup::create(
        &opened.vault,
        &db,
        to,
        config_text.as_deref(),
        None,
        &*shown,
    )
    .await?;
    bar.finish_and_clear();
    tracing::info!(backup = %created.name, "backup written");
    let pruned = match retention_days {
        Some(days) => phivault_backup::prune(to, days, opened.vault.clock().now())?,
        None => Vec::new(),
    };
    let (path, manifest) = (created.path, created.manifest);
    if as_json {
        println!(
            "{}",
            json!({"path": path, "backup_id": manifest.backup_id,
                   "vault_id": manifest.vault_id,
                   "created_at": crate::rfc3339(manifest.created_at),
                   "audit_tree_size": manifest.audit.tree_size,
                   "audit_root": manifest.audit.root_hash,
                   "bytes": manifest.parts.iter().map(|p| p.size).sum::<u64>(),
                   "counts": manifest.counts, "pruned": pruned})
        );
    } else {
        println!("backup written to {}", path.display());
        println!(
            "  audit tree head: {} entries, root {}",
            manifest.audit.tree_size, manifest.audit.root_hash
        );
        for p in &pruned {
            println!("  pruned {p}");
        }
        println!(
            "The keyring is not in the backup: keep a `phivault keys export` copy apart from it."
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    data_dir: &Path,
    backup: &Path,
    keyring: Option<&Path>,
    samples: usize,
    as_json: bool,
) -> Result<ExitCode> {
    let keyring = load_keyring(data_dir, keyring, None)?;
    let (bar, shown) = spinner(as_json, "verify");
    let report = phivault_backup::verify(backup, &keyring, samples, &shown).await;
    bar.finish_and_clear();
    let ok = report.ok();
    if as_json {
        println!("{}", report_json(&report));
    } else {
        print_report(&report);
    }
    // Recorded in the data directory's vault when there is one to record it in.
    let opened = data_dir
        .join(CONFIG_FILE)
        .exists()
        .then(|| datadir::passphrase(false).and_then(|p| datadir::open(data_dir, &p)));
    if let Some(Ok(opened)) = opened {
        let target = report.backup_id.clone().unwrap_or_default();
        let _ = opened
            .vault
            .record_backup_event(
                &crate::local_meta("backup-verify"),
                &Principal::local_operator(),
                phivault_core::AuditAction::BackupVerify,
                &target,
                Some(report.decrypted),
                ok,
            )
            .await;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_json(r: &VerifyReport) -> serde_json::Value {
    json!({"ok": r.ok(), "backup_id": r.backup_id,
           "vault_id": r.vault_id,
           "created_at": r.created_at.map(crate::rfc3339),
           "signature_ok": r.signature_ok, "parts_ok": r.parts_ok,
           "counts_ok": r.counts_ok, "audit_ok": r.audit_ok,
           "audit_entries": r.audit_entries, "records": r.records,
           "decrypted": r.decrypted, "shredded_subjects": r.shredded_subjects,
           "journal_entries": r.journal_entries,
           "journal_last_commit": r.journal_last.map(crate::rfc3339),
           "journal_torn_tail_bytes": r.journal_torn_tail,
           "problems": r.problems})
}

fn print_report(r: &VerifyReport) {
    let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
    println!(
        "backup {} of vault {}",
        r.backup_id.as_deref().unwrap_or("?"),
        r.vault_id.as_deref().unwrap_or("?")
    );
    println!("  manifest signature: {}", mark(r.signature_ok));
    println!("  part hashes:        {}", mark(r.parts_ok));
    println!("  row counts:         {}", mark(r.counts_ok));
    println!(
        "  audit log:          {} ({} entries)",
        mark(r.audit_ok),
        r.audit_entries
    );
    println!(
        "  records:            {} live, {} versions decrypted, {} subjects shredded",
        r.records, r.decrypted, r.shredded_subjects
    );
    if let Some(n) = r.journal_entries {
        println!(
            "  journal:            {n} entries, last commit {}{}",
            r.journal_last
                .map_or_else(|| "-".to_owned(), crate::rfc3339),
            r.journal_torn_tail.map_or_else(String::new, |b| format!(
                " (incomplete final entry of {b} bytes left out)"
            ))
        );
    }
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    println!(
        "backup {}",
        if r.ok() { "verified" } else { "NOT verified" }
    );
}

/// The keyring: `--keyring FILE` (passphrase from PHIVAULT_KEYRING_PASSPHRASE or the
/// prompt), else the keyring of `target` if it holds one, else the data directory's.
fn load_keyring(data_dir: &Path, file: Option<&Path>, target: Option<&Path>) -> Result<Keyring> {
    if let Some(file) = file {
        let pass = match env::secret(env::KEYRING_PASSPHRASE) {
            Some(p) => p,
            None => datadir::passphrase(false)?,
        };
        let bytes = datadir::read_private(file)?;
        return Keyring::open(&bytes, pass.as_bytes()).context("opening the exported keyring");
    }
    let dir = match target {
        Some(t) if t.join(CONFIG_FILE).exists() => t,
        _ => data_dir,
    };
    let config = Config::load(dir)?;
    datadir::open_keyring(dir, &config, &datadir::passphrase(false)?)
}

async fn restore(
    path: &Path,
    to: &Path,
    force: bool,
    keyring_file: Option<&Path>,
    target: Target,
    data_dir: &Path,
    as_json: bool,
) -> Result<ExitCode> {
    let dir = phivault_backup::locate(path, target)?;
    let keyring = load_keyring(data_dir, keyring_file, Some(to))?;
    let (bar, shown) = spinner(as_json, "restore");
    let plan = RestorePlan::prepare(&dir, target, &keyring, &shown)?;
    // The target's own config decides where its database lives; a new directory gets the
    // backup's config.
    let has_config = to.join(CONFIG_FILE).exists();
    let config = if has_config {
        Config::load(to)?
    } else {
        let text = fs::read_to_string(dir.join(phivault_backup::CONFIG_PART)).unwrap_or_default();
        toml::from_str(&text).unwrap_or_default()
    };
    if config.is_postgres() {
        bail!("the target is configured for PostgreSQL; restore supports SQLite data directories");
    }
    let db = config.sqlite_path(to);
    let restored = plan.execute(to, &db, force, keyring, &shown).await?;
    for s in &restored.skipped_segments {
        tracing::warn!(segment = %s.path.display(), error = %s.error,
            "journal segment skipped while collecting erasures");
    }
    prepare_data_dir(to, &config, has_config, keyring_file)?;
    bar.finish_and_clear();
    print_restored(&restored, as_json);
    Ok(ExitCode::SUCCESS)
}

/// A fresh restore target becomes a servable data directory: config, keyring, certificate.
fn prepare_data_dir(
    to: &Path,
    config: &Config,
    has_config: bool,
    keyring_file: Option<&Path>,
) -> Result<()> {
    if !has_config {
        datadir::write_private(&to.join(CONFIG_FILE), toml::to_string(config)?.as_bytes())?;
    }
    let keyring_path = to.join(&config.keyring);
    if !keyring_path.exists()
        && let Some(file) = keyring_file
    {
        datadir::write_private(&keyring_path, &datadir::read_private(file)?)?;
    }
    let (cert, key) = (to.join(&config.tls_cert), to.join(&config.tls_key));
    if !cert.exists() || !key.exists() {
        let (c, k) = datadir::self_signed_cert()?;
        if let Some(parent) = cert.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&cert, c)?;
        datadir::write_private(&key, k.as_bytes())?;
    }
    Ok(())
}

fn print_restored(r: &Restored, as_json: bool) {
    let (m, recovered_to) = (&r.manifest, r.recovered_to());
    if let Some(bytes) = r.torn_tail {
        tracing::warn!(
            bytes,
            "the journal ends in an incomplete entry (a crash while appending); it was left out"
        );
    }
    if as_json {
        println!(
            "{}",
            json!({"restored_to": r.db, "backup_id": m.backup_id,
                   "vault_id": m.vault_id,
                   "created_at": crate::rfc3339(m.created_at),
                   "recovered_to": crate::rfc3339(recovered_to),
                   "journal_entries_applied": r.journal.map_or(0, |j| j.applied),
                   "journal_entries_skipped": r.journal.map_or(0, |j| j.skipped),
                   "journal_torn_tail_bytes": r.torn_tail,
                   "shred_ledger_entries": r.shredded.entries,
                   "keys_shredded": r.shredded.keys_deleted})
        );
        return;
    }
    println!(
        "restored backup {} (taken {}) into {}",
        m.backup_id,
        crate::rfc3339(m.created_at),
        r.db.display()
    );
    if let Some(j) = r.journal {
        println!(
            "journal replayed: {} entries applied, {} after the target left out; state as of {}",
            j.applied,
            j.skipped,
            crate::rfc3339(recovered_to)
        );
    }
    if let Some(bytes) = r.torn_tail {
        println!(
            "note: the journal ends in an incomplete entry ({bytes} bytes, a crash while \
             appending); it was never acknowledged and was left out"
        );
    }
    println!(
        "shred ledger replayed: {} entries, {} data keys deleted again",
        r.shredded.entries, r.shredded.keys_deleted
    );
}

/// `keys export --to FILE`: the keyring sealed under a separate passphrase
/// (PHIVAULT_EXPORT_PASSPHRASE or the prompt), written owner-only to a new file.
pub(crate) async fn export_keys(data_dir: &Path, to: &Path, as_json: bool) -> Result<ExitCode> {
    let opened = datadir::open(data_dir, &datadir::passphrase(false)?)?;
    let pass = match env::secret(env::EXPORT_PASSPHRASE) {
        Some(p) => p,
        None => {
            let p = Zeroizing::new(
                rpassword::prompt_password("Passphrase for the exported keyring: ")
                    .context("no PHIVAULT_EXPORT_PASSPHRASE and no terminal to ask for it")?,
            );
            let again = Zeroizing::new(rpassword::prompt_password("Repeat it: ")?);
            if *again != *p {
                bail!("the passphrases differ");
            }
            p
        }
    };
    phivault_backup::export_keyring(&opened.vault, to, &pass, &datadir::kdf_params()?).await?;
    if as_json {
        println!("{}", json!({"exported_to": to}));
    } else {
        println!(
            "keyring exported to {} (sealed with the export passphrase)",
            to.display()
        );
        println!("Store it apart from the backups: whoever holds both can read the records.");
    }
    Ok(ExitCode::SUCCESS)
}
