//! `phivault backup create|verify|restore|prune`, `phivault keys export` and the backup
//! scheduler that `serve` runs.
//!
//! A backup is a directory `backup-<UTC time>-<id>/` under the backup location holding:
//! - `phivault.db`: a consistent snapshot of the whole SQLite store (records as ciphertext,
//!   wrapped data keys, identity, the audit log and its tree heads), taken while the vault
//!   serves;
//! - `shred-ledger.json`: the subjects erased so far, so a restore of any older backup in
//!   the same location replays erasures that happened after it;
//! - `phivault.toml`: the configuration (no secrets);
//! - `manifest.json`: vault id, time, size and SHA-256 of every part, the audit tree head
//!   and row counts at backup time, signed with the vault's Ed25519 audit key.
//!
//! The keyring is never in a backup; `keys export` writes a separately sealed copy that
//! must be stored apart from the backups.
//!
//! Point-in-time recovery: a backup taken by `serve` with the journal on starts a journal
//! segment `journal/<backup id>.pvj` beside it (the store's writer appends every committed
//! batch; see `phivault_store_sqlite::journal`), so `restore --to-time T` rebuilds the state
//! as of T from the newest base before T plus its segment.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use phivault_core::backup::{
    self, BackupManifest, BackupPart, DEFAULT_RETENTION_DAYS, MANIFEST_FILE, MANIFEST_FORMAT,
    ShredEntry,
};
use phivault_core::crypto::{Keyring, RecordAad, WrappedKey, open_record, sha256};
use phivault_core::store::{RecordHead, Store, read_tx};
use phivault_core::{Principal, SystemClock, Vault, VaultConfig};
use phivault_store_sqlite::journal::{self, Journal, JournalConfig};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::{CONFIG_FILE, Config};
use crate::datadir;

/// The store part's file name.
const DB_PART: &str = "phivault.db";
/// The shred-ledger part's file name.
const LEDGER_PART: &str = "shred-ledger.json";
/// Backup directories start with this.
const BACKUP_PREFIX: &str = "backup-";
/// Subjects and records read per page.
const PAGE: usize = 500;

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

/// Runs a backup subcommand.
pub(crate) async fn run(cmd: BackupCommand, data_dir: &Path, as_json: bool) -> Result<ExitCode> {
    match cmd {
        BackupCommand::Create { to, retention_days } => {
            let opened = datadir::open(data_dir, &datadir::passphrase(false)?)?;
            if opened.config.is_postgres() {
                bail!(
                    "backup create supports the SQLite store only; back PostgreSQL up with its own tools"
                );
            }
            let db = opened.config.sqlite_path(data_dir);
            let config_text = fs::read(data_dir.join(CONFIG_FILE)).ok();
            let bar = progress(as_json, "backup");
            let (path, manifest) =
                create(&opened.vault, &db, &to, config_text.as_deref(), &bar, None).await?;
            bar.finish_and_clear();
            let pruned = match retention_days {
                Some(days) => prune(&to, days, opened.vault.clock().now())?,
                None => Vec::new(),
            };
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
        BackupCommand::Verify {
            backup,
            keyring,
            samples,
        } => {
            let keyring = load_keyring(data_dir, keyring.as_deref(), None)?;
            let bar = progress(as_json, "verify");
            let report = verify(&backup, &keyring, samples, &bar).await;
            bar.finish_and_clear();
            let ok = report.problems.is_empty();
            if as_json {
                println!("{}", report.to_json());
            } else {
                report.print();
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
                        "backup.verify",
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
            let options = RestoreOptions {
                force,
                keyring_file: keyring.as_deref(),
                target,
            };
            restore(&backup, &to, &options, data_dir, as_json).await
        }
        BackupCommand::Prune {
            dir,
            retention_days,
        } => {
            let now = phivault_core::Clock::now(&SystemClock);
            let pruned = prune(&dir, retention_days, now)?;
            if as_json {
                println!("{}", json!({"pruned": pruned}));
            } else {
                println!("{} backups pruned", pruned.len());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

// ----- create ------------------------------------------------------------------------------

fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn part_of(dir: &Path, name: &str) -> Result<BackupPart> {
    let bytes = fs::read(dir.join(name)).with_context(|| format!("reading {name}"))?;
    Ok(BackupPart {
        name: name.to_owned(),
        size: bytes.len() as u64,
        sha256: backup::hex(&sha256(&bytes)),
    })
}

/// Takes a backup of the SQLite database `db` of `vault` into a new directory under `root`,
/// audits it in the vault, and returns the directory and the signed manifest.
pub(crate) async fn create(
    vault: &Vault,
    db: &Path,
    root: &Path,
    config_text: Option<&[u8]>,
    bar: &indicatif::ProgressBar,
    journal: Option<&Journal>,
) -> Result<(PathBuf, BackupManifest)> {
    let created_at = vault.clock().now();
    let backup_id = uuid::Uuid::new_v4().to_string();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        created_at.year(),
        u8::from(created_at.month()),
        created_at.day(),
        created_at.hour(),
        created_at.minute(),
        created_at.second()
    );
    let name = format!("{BACKUP_PREFIX}{stamp}-{}", &backup_id[..8]);
    create_private_dir(root)?;
    let staging = root.join(format!(".partial-{backup_id}"));
    create_private_dir(&staging)?;
    let from = match journal {
        Some(j) => SnapshotFrom::Writer(j),
        None => SnapshotFrom::File(db),
    };
    let result = create_in(
        vault,
        from,
        &staging,
        config_text,
        bar,
        created_at,
        &backup_id,
    )
    .await;
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            if let Some(j) = journal {
                // A segment without its base is useless; the journal waits for a new base.
                let _ = j.stop_segment().await;
                let _ = fs::remove_file(journal::segment_path(root, &backup_id));
            }
            let _ = vault
                .record_backup_event(
                    &crate::local_meta("backup-create"),
                    &Principal::local_operator(),
                    "backup.create",
                    &name,
                    None,
                    false,
                )
                .await;
            return Err(e);
        }
    };
    let dest = root.join(&name);
    if let Err(e) = fs::rename(&staging, &dest) {
        if let Some(j) = journal {
            let _ = j.stop_segment().await;
        }
        return Err(e).with_context(|| format!("naming {}", dest.display()));
    }
    fs::File::open(root)?.sync_all()?;
    vault
        .record_backup_event(
            &crate::local_meta("backup-create"),
            &Principal::local_operator(),
            "backup.create",
            &name,
            Some(manifest.audit.tree_size),
            true,
        )
        .await?;
    tracing::info!(backup = %name, "backup written");
    Ok((dest, manifest))
}

/// Where a backup's snapshot comes from.
#[derive(Clone, Copy)]
enum SnapshotFrom<'a> {
    /// A copy of the database file from its own read connection (no journal).
    File(&'a Path),
    /// The journaled store's writer, which starts the backup's journal segment with it.
    Writer(&'a Journal),
}

async fn create_in(
    vault: &Vault,
    from: SnapshotFrom<'_>,
    staging: &Path,
    config_text: Option<&[u8]>,
    bar: &indicatif::ProgressBar,
    created_at: OffsetDateTime,
    backup_id: &str,
) -> Result<BackupManifest> {
    bar.set_message("snapshot of the store");
    let snap = staging.join(DB_PART);
    let journal = match from {
        SnapshotFrom::Writer(j) => Some(j),
        SnapshotFrom::File(_) => None,
    };
    let info = match from {
        // Taken by the store's writer, so the segment starts exactly at this state.
        SnapshotFrom::Writer(j) => j
            .start_segment(&snap, backup_id)
            .await
            .context("taking the snapshot and starting its journal segment")?,
        SnapshotFrom::File(db) => {
            let (db, snap) = (db.to_owned(), snap.clone());
            tokio::task::spawn_blocking(move || phivault_store_sqlite::backup::snapshot(&db, &snap))
                .await
                .context("the snapshot task failed")?
                .context("taking the snapshot")?
        }
    };
    bar.set_message("audit tree head");
    let (vault_id, audit, ledger) = {
        // Opened read-write only to read it; closing it removes its WAL again, and the
        // part hashes are taken after that.
        let store = SqliteStore::open(&snap, SqliteOptions::default())?;
        let vault_id = backup::vault_id(&store).await?;
        let audit = backup::audit_at(&store).await?;
        let ledger = backup::shred_ledger(&store).await?;
        store.checkpoint().await?;
        (vault_id, audit, ledger)
    };
    // Opening the copy left an (empty, checkpointed) WAL and shared-memory file beside it;
    // with every connection closed they are not part of the database.
    for suffix in ["-wal", "-shm"] {
        let mut p = snap.clone().into_os_string();
        p.push(suffix);
        let p = PathBuf::from(p);
        if suffix == "-wal" && fs::metadata(&p).is_ok_and(|m| m.len() > 0) {
            bail!("the snapshot's WAL was not checkpointed");
        }
        let _ = fs::remove_file(p);
    }
    write_new_private(
        &staging.join(LEDGER_PART),
        &serde_json::to_vec_pretty(&ledger)?,
    )?;
    let mut names = vec![DB_PART, LEDGER_PART];
    if let Some(text) = config_text {
        write_new_private(&staging.join(CONFIG_FILE), text)?;
        names.push(CONFIG_FILE);
    }
    bar.set_message("hashing parts");
    let parts = names
        .iter()
        .map(|n| part_of(staging, n))
        .collect::<Result<Vec<_>>>()?;
    let mut manifest = BackupManifest {
        format: MANIFEST_FORMAT,
        vault_id,
        backup_id: backup_id.to_owned(),
        created_at,
        backend: "sqlite".to_owned(),
        schema_version: info.schema_version,
        parts,
        audit,
        counts: info.counts,
        kek_versions: vault.keyring().kek_versions(),
        journal: journal.map(|_| {
            format!(
                "{}/{backup_id}.{}",
                journal::JOURNAL_DIR,
                journal::JOURNAL_EXT
            )
        }),
        signature: String::new(),
    };
    manifest.sign(&vault.keyring());
    write_new_private(&staging.join(MANIFEST_FILE), &manifest.to_json())?;
    fs::File::open(staging)?.sync_all()?;
    Ok(manifest)
}

// ----- verify ------------------------------------------------------------------------------

/// What `backup verify` found.
#[derive(Debug, Default)]
pub(crate) struct VerifyReport {
    pub(crate) backup_id: Option<String>,
    pub(crate) vault_id: Option<String>,
    pub(crate) created_at: Option<OffsetDateTime>,
    pub(crate) signature_ok: bool,
    pub(crate) parts_ok: bool,
    pub(crate) audit_entries: u64,
    pub(crate) audit_ok: bool,
    pub(crate) counts_ok: bool,
    pub(crate) records: u64,
    pub(crate) decrypted: u64,
    pub(crate) shredded_subjects: u64,
    /// Entries in the backup's journal segment, when it has one.
    pub(crate) journal_entries: Option<u64>,
    pub(crate) journal_last: Option<OffsetDateTime>,
    pub(crate) journal_torn_tail: Option<u64>,
    pub(crate) problems: Vec<String>,
}

impl VerifyReport {
    fn to_json(&self) -> serde_json::Value {
        json!({"ok": self.problems.is_empty(), "backup_id": self.backup_id,
               "vault_id": self.vault_id,
               "created_at": self.created_at.map(crate::rfc3339),
               "signature_ok": self.signature_ok, "parts_ok": self.parts_ok,
               "counts_ok": self.counts_ok, "audit_ok": self.audit_ok,
               "audit_entries": self.audit_entries, "records": self.records,
               "decrypted": self.decrypted, "shredded_subjects": self.shredded_subjects,
               "journal_entries": self.journal_entries,
               "journal_last_commit": self.journal_last.map(crate::rfc3339),
               "journal_torn_tail_bytes": self.journal_torn_tail,
               "problems": self.problems})
    }

    fn print(&self) {
        let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
        println!(
            "backup {} of vault {}",
            self.backup_id.as_deref().unwrap_or("?"),
            self.vault_id.as_deref().unwrap_or("?")
        );
        println!("  manifest signature: {}", mark(self.signature_ok));
        println!("  part hashes:        {}", mark(self.parts_ok));
        println!("  row counts:         {}", mark(self.counts_ok));
        println!(
            "  audit log:          {} ({} entries)",
            mark(self.audit_ok),
            self.audit_entries
        );
        println!(
            "  records:            {} live, {} versions decrypted, {} subjects shredded",
            self.records, self.decrypted, self.shredded_subjects
        );
        if let Some(n) = self.journal_entries {
            println!(
                "  journal:            {n} entries, last commit {}{}",
                self.journal_last
                    .map_or_else(|| "-".to_owned(), crate::rfc3339),
                self.journal_torn_tail.map_or_else(String::new, |b| format!(
                    " (incomplete final entry of {b} bytes left out)"
                ))
            );
        }
        for p in &self.problems {
            println!("PROBLEM: {p}");
        }
        println!(
            "backup {}",
            if self.problems.is_empty() {
                "verified"
            } else {
                "NOT verified"
            }
        );
    }
}

fn backup_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().map(Path::to_owned).unwrap_or_default()
    }
}

/// Reads the manifest and checks its signature and every part's size and hash.
fn check_manifest(
    dir: &Path,
    keyring: &Keyring,
    report: &mut VerifyReport,
) -> Option<BackupManifest> {
    let bytes = match fs::read(dir.join(MANIFEST_FILE)) {
        Ok(b) => b,
        Err(e) => {
            report.problems.push(format!(
                "the manifest {MANIFEST_FILE} is missing or unreadable: {e}"
            ));
            return None;
        }
    };
    let manifest = match BackupManifest::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(e.to_string());
            return None;
        }
    };
    report.backup_id = Some(manifest.backup_id.clone());
    report.vault_id = Some(manifest.vault_id.clone());
    report.created_at = Some(manifest.created_at);
    match manifest.verify_signature(&keyring.audit_verifying_key()) {
        Ok(()) => report.signature_ok = true,
        Err(e) => report.problems.push(e.to_string()),
    }
    let held = keyring.kek_versions();
    for v in manifest.kek_versions.iter().filter(|v| !held.contains(v)) {
        report.problems.push(format!(
            "the keyring lacks key-encryption key version {v}, which the backup needs"
        ));
    }
    report.parts_ok = true;
    for part in &manifest.parts {
        let path = dir.join(&part.name);
        let problem = match fs::read(&path) {
            Err(_) => Some(format!("part {} is missing", part.name)),
            Ok(b) if b.len() as u64 != part.size => Some(format!(
                "part {} is corrupt: {} bytes, the manifest says {}",
                part.name,
                b.len(),
                part.size
            )),
            Ok(b) if backup::hex(&sha256(&b)) != part.sha256 => Some(format!(
                "part {} is corrupt: its SHA-256 differs from the manifest's",
                part.name
            )),
            Ok(_) => None,
        };
        if let Some(p) = problem {
            report.parts_ok = false;
            report.problems.push(p);
        }
    }
    if manifest.part(DB_PART).is_none() {
        report.parts_ok = false;
        report
            .problems
            .push(format!("the manifest lists no {DB_PART} part"));
    }
    Some(manifest)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("phivault-verify-{}", uuid::Uuid::new_v4()));
        create_private_dir(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Verifies the backup at `path` with `keyring`; every problem lands in the report.
pub(crate) async fn verify(
    path: &Path,
    keyring: &Keyring,
    samples: usize,
    bar: &indicatif::ProgressBar,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    if let Err(e) = verify_into(path, keyring, samples, bar, &mut report).await {
        report.problems.push(format!("{e:#}"));
    }
    report
}

async fn verify_into(
    path: &Path,
    keyring: &Keyring,
    samples: usize,
    bar: &indicatif::ProgressBar,
    report: &mut VerifyReport,
) -> Result<()> {
    let dir = backup_dir(path);
    bar.set_message("manifest and part hashes");
    let Some(manifest) = check_manifest(&dir, keyring, report) else {
        return Ok(());
    };
    if !report.parts_ok {
        // A damaged store part would only add noise below.
        return Ok(());
    }
    bar.set_message("restoring into a temporary directory");
    let tmp = TempDir::new()?;
    let db = tmp.0.join(DB_PART);
    fs::copy(dir.join(DB_PART), &db)?;
    let findings = phivault_store_sqlite::backup::integrity_check(&db)?;
    for f in findings.iter().take(5) {
        report
            .problems
            .push(format!("database integrity check: {f}"));
    }
    let counts = phivault_store_sqlite::backup::table_counts(&db)?;
    report.counts_ok = true;
    for (table, want) in &manifest.counts {
        let got = counts.get(table).copied().unwrap_or(0);
        if got != *want {
            report.counts_ok = false;
            report.problems.push(format!(
                "table {table}: {got} rows, the manifest says {want}"
            ));
        }
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, SqliteOptions::default())?);
    let vault_id = backup::vault_id(&*store).await?;
    if vault_id != manifest.vault_id {
        report
            .problems
            .push("the store belongs to another vault than the manifest names".to_owned());
    }

    bar.set_message("audit chain and tree head");
    let pk = keyring.audit_verifying_key();
    let log = phivault_core::audit_log::verify_log(&*store, Some(&pk), &[]).await?;
    report.audit_entries = log.entries;
    report.audit_ok = log.ok();
    if let Some(b) = &log.first_break {
        report
            .problems
            .push(format!("audit chain broken at entry {}: {}", b.seq, b.kind));
    }
    for size in &log.rejected_heads {
        report.problems.push(format!(
            "stored audit tree head of size {size} has an invalid signature"
        ));
    }
    let audit = backup::audit_at(&*store).await?;
    if audit != manifest.audit {
        report.audit_ok = false;
        report.problems.push(format!(
            "the audit log ({} entries, root {}) differs from the manifest's tree head ({} entries, root {})",
            audit.tree_size, audit.root_hash, manifest.audit.tree_size, manifest.audit.root_hash
        ));
    }

    bar.set_message("sample decrypts");
    let ledger = backup::shred_ledger(&*store).await?;
    report.shredded_subjects = ledger.len() as u64;
    sample_decrypts(&*store, keyring, samples, report, bar).await?;
    drop(store);
    verify_journal(&dir, &manifest, &tmp.0, keyring, report, bar).await
}

/// Checks the backup's journal segment: its chain, and that it replays onto the snapshot
/// into a vault whose audit log still verifies.
async fn verify_journal(
    dir: &Path,
    manifest: &BackupManifest,
    tmp: &Path,
    keyring: &Keyring,
    report: &mut VerifyReport,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    bar.set_message("journal chain");
    let seg = match segment_for(dir, manifest, Target::Latest) {
        Ok(Some(seg)) => seg,
        Ok(None) => return Ok(()),
        Err(e) => {
            report.journal_entries = Some(0);
            report.problems.push(format!("{e:#}"));
            return Ok(());
        }
    };
    report.journal_entries = Some(seg.entries.len() as u64);
    report.journal_last = seg.last_committed_at();
    report.journal_torn_tail = seg.torn_tail;
    bar.set_message(format!("replaying {} journal entries", seg.entries.len()));
    let replayed = tmp.join("journal-replay.db");
    fs::copy(dir.join(DB_PART), &replayed)?;
    let outcome = {
        let (db, seg) = (replayed.clone(), seg.clone());
        tokio::task::spawn_blocking(move || journal::replay(&db, &seg, None, &|_, _| {}))
            .await
            .context("the journal replay task failed")?
    };
    if let Err(e) = outcome {
        report.problems.push(format!("journal replay: {e}"));
        return Ok(());
    }
    let store = SqliteStore::open(&replayed, SqliteOptions::default())?;
    let log =
        phivault_core::audit_log::verify_log(&store, Some(&keyring.audit_verifying_key()), &[])
            .await?;
    if let Some(b) = &log.first_break {
        report.problems.push(format!(
            "after the journal replay, the audit chain is broken at entry {}: {}",
            b.seq, b.kind
        ));
    }
    Ok(())
}

async fn sample_decrypts(
    store: &dyn Store,
    keyring: &Keyring,
    samples: usize,
    report: &mut VerifyReport,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let mut after: Option<String> = None;
    loop {
        let a = after.clone();
        let keys = read_tx(store, move |tx| {
            Ok(tx.list_subject_keys(a.as_deref(), PAGE)?)
        })
        .await?;
        let Some(last) = keys.last() else { break };
        after = Some(last.subject.clone());
        for key in keys {
            let heads = subject_records(store, &key.subject).await?;
            for head in heads {
                report.records += 1;
                if report.decrypted as usize >= samples {
                    continue;
                }
                let (c, id, v) = (head.collection.clone(), head.id, head.version);
                let Some(row) =
                    read_tx(store, move |tx| Ok(tx.get_record_version(&c, &id, v)?)).await?
                else {
                    report
                        .problems
                        .push(format!("record {} has no current version", head.id));
                    continue;
                };
                if row.tombstone {
                    continue;
                }
                match decrypt(keyring, &key.wrapped_key, &row) {
                    Ok(()) => report.decrypted += 1,
                    Err(e) => report.problems.push(format!(
                        "record {} version {} does not decrypt with the given keyring: {e:#}",
                        row.id, row.version
                    )),
                }
            }
            bar.set_message(format!("{} records checked", report.records));
        }
    }
    Ok(())
}

async fn subject_records(store: &dyn Store, subject: &str) -> Result<Vec<RecordHead>> {
    let mut out: Vec<RecordHead> = Vec::new();
    loop {
        let (s, cursor) = (
            subject.to_owned(),
            out.last().map(|h| (h.collection.clone(), h.id)),
        );
        let page = read_tx(store, move |tx| {
            Ok(tx.list_subject_records(
                &s,
                cursor.as_ref().map(|(c, id)| (c.as_str(), id)),
                PAGE,
            )?)
        })
        .await?;
        let full = page.len() == PAGE;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

fn decrypt(
    keyring: &Keyring,
    wrapped: &[u8],
    row: &phivault_core::store::RecordVersionRow,
) -> Result<()> {
    let wrapped = WrappedKey::from_bytes(wrapped)?;
    let dek = keyring.unwrap_data_key(&wrapped, &row.subject)?;
    let id = row.id.to_string();
    let aad = RecordAad {
        collection: &row.collection,
        record_id: &id,
        version: row.version,
        subject: &row.subject,
    };
    let plain = open_record(&dek, &aad, &row.sealed)?;
    // Parsed to prove it is the record's JSON; the value is dropped unread.
    serde_json::from_slice::<serde_json::Value>(&plain).context("not JSON")?;
    Ok(())
}

// ----- restore -----------------------------------------------------------------------------

/// The keyring: `--keyring FILE` (passphrase from PHIVAULT_KEYRING_PASSPHRASE or the
/// prompt), else the keyring of `target` if it holds one, else the data directory's.
fn load_keyring(data_dir: &Path, file: Option<&Path>, target: Option<&Path>) -> Result<Keyring> {
    if let Some(file) = file {
        let pass = match std::env::var("PHIVAULT_KEYRING_PASSPHRASE") {
            Ok(p) => Zeroizing::new(p),
            Err(_) => datadir::passphrase(false)?,
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

/// Every shred ledger that may know of erasures after this backup: the backup's own, those
/// of every other backup in the same location, every erasure in the location's journal
/// segments (after a restore's target time too), and the target database's.
fn collect_ledgers(dir: &Path, existing_db: Option<&Path>) -> Result<Vec<ShredEntry>> {
    let mut all: Vec<ShredEntry> = Vec::new();
    let mut files = vec![dir.join(LEDGER_PART)];
    if let Some(root) = dir.parent()
        && let Ok(entries) = fs::read_dir(root)
    {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX) {
                files.push(e.path().join(LEDGER_PART));
            }
        }
    }
    for f in files {
        if let Ok(bytes) = fs::read(&f) {
            let entries: Vec<ShredEntry> = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the shred ledger {}", f.display()))?;
            all.extend(entries);
        }
    }
    if let Some(root) = dir.parent()
        && let Ok(entries) = fs::read_dir(root.join(journal::JOURNAL_DIR))
    {
        for e in entries.flatten() {
            // A damaged segment still yields the erasures of its sound prefix elsewhere;
            // here only whole, checked segments count, and a damaged one is named.
            match journal::read_segment(&e.path()) {
                Ok(seg) => all.extend(journal::shred_entries(&seg)?),
                Err(err) => tracing::warn!(segment = %e.path().display(), error = %err,
                    "journal segment skipped while collecting erasures"),
            }
        }
    }
    if let Some(db) = existing_db
        && db.exists()
    {
        all.extend(
            phivault_store_sqlite::backup::read_shred_ledger(db)
                .context("reading the shred ledger of the database being replaced")?,
        );
    }
    Ok(backup::merge_ledgers(all))
}

/// How far a restore goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The snapshot alone.
    Base,
    /// The snapshot plus its whole journal segment (the snapshot alone without one).
    Latest,
    /// The snapshot plus the journal entries committed at or before this time.
    Time(OffsetDateTime),
}

/// `backup restore` options.
struct RestoreOptions<'a> {
    force: bool,
    keyring_file: Option<&'a Path>,
    target: Target,
}

/// Given a backup location rather than one backup, the base to restore from: the newest
/// backup taken at or before the target time (the newest of all for the latest state).
/// Its signature is checked afterwards like that of a backup named directly.
fn base_in_location(path: &Path, target: Target) -> Result<Option<PathBuf>> {
    if !path.is_dir() || path.join(MANIFEST_FILE).exists() {
        return Ok(None);
    }
    let chosen = fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX))
        .filter_map(|e| {
            let m = BackupManifest::parse(&fs::read(e.path().join(MANIFEST_FILE)).ok()?).ok()?;
            Some((m.created_at, e.path()))
        })
        .filter(|(created, _)| match target {
            Target::Time(t) => *created <= t,
            Target::Base | Target::Latest => true,
        })
        .max_by_key(|(created, _)| *created)
        .map(|(_, p)| p);
    match (chosen, target) {
        (Some(p), _) => Ok(Some(p)),
        (None, Target::Time(t)) => bail!(
            "refusing to restore: no backup in {} was taken at or before {}",
            path.display(),
            crate::rfc3339(t)
        ),
        (None, _) => bail!("refusing to restore: no backup in {}", path.display()),
    }
}

/// The checked journal segment of a backup, when the restore replays one.
fn segment_for(
    dir: &Path,
    manifest: &BackupManifest,
    target: Target,
) -> Result<Option<journal::Segmented>> {
    let segment = dir
        .parent()
        .map(|root| journal::segment_path(root, &manifest.backup_id));
    let (named, segment) = match (target, manifest.journal.is_some(), segment) {
        (Target::Base, _, _) => return Ok(None),
        (_, named, Some(s)) => (named, s),
        (_, _, None) => bail!("the backup directory has no parent location"),
    };
    if let Target::Time(t) = target
        && t < manifest.created_at
    {
        bail!(
            "--to-time {} is before this backup was taken ({}); restore an older backup",
            crate::rfc3339(t),
            crate::rfc3339(manifest.created_at)
        );
    }
    if !segment.exists() {
        if named {
            bail!(
                "the journal segment {} of this backup is missing; restore with --base-only                  to recover the backup's own state",
                segment.display()
            );
        }
        if matches!(target, Target::Time(_)) {
            bail!(
                "this backup has no journal, so it restores only to its own time ({});                  drop --to-time",
                crate::rfc3339(manifest.created_at)
            );
        }
        return Ok(None);
    }
    let seg = journal::read_segment(&segment).context("checking the journal segment")?;
    if seg.backup_id != manifest.backup_id {
        bail!("the journal segment belongs to another backup");
    }
    Ok(Some(seg))
}

async fn restore(
    path: &Path,
    to: &Path,
    options: &RestoreOptions<'_>,
    data_dir: &Path,
    as_json: bool,
) -> Result<ExitCode> {
    let (force, keyring_file) = (options.force, options.keyring_file);
    let dir = match base_in_location(path, options.target)? {
        Some(chosen) => chosen,
        None => backup_dir(path),
    };
    let keyring = load_keyring(data_dir, keyring_file, Some(to))?;
    let bar = progress(as_json, "restore");
    bar.set_message("checking the manifest and parts");
    let mut report = VerifyReport::default();
    let Some(manifest) = check_manifest(&dir, &keyring, &mut report) else {
        bail!("refusing to restore: {}", report.problems.join("; "));
    };
    if !report.problems.is_empty() {
        bail!("refusing to restore: {}", report.problems.join("; "));
    }
    bar.set_message("checking the journal");
    let segment = segment_for(&dir, &manifest, options.target)
        .map_err(|e| anyhow::anyhow!("refusing to restore: {e:#}"))?;
    // The target's own config decides where its database lives; a new directory gets the
    // backup's config.
    let has_config = to.join(CONFIG_FILE).exists();
    let config = if has_config {
        Config::load(to)?
    } else {
        let text = fs::read_to_string(dir.join(CONFIG_FILE)).unwrap_or_default();
        toml::from_str(&text).unwrap_or_default()
    };
    if config.is_postgres() {
        bail!("the target is configured for PostgreSQL; restore supports SQLite data directories");
    }
    let db = config.sqlite_path(to);
    if db.exists() && !force {
        bail!(
            "{} already holds a vault database; refusing to overwrite it without --force",
            db.display()
        );
    }
    bar.set_message("collecting shred ledgers");
    let ledger = collect_ledgers(&dir, Some(&db))?;
    create_private_dir(to)?;
    if let Some(parent) = db.parent() {
        fs::create_dir_all(parent)?;
    }
    bar.set_message("copying the store");
    let staged = db.with_extension("restoring");
    let _ = fs::remove_file(&staged);
    fs::copy(dir.join(DB_PART), &staged)?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
    let replayed = match &segment {
        Some(seg) => {
            bar.set_message(format!("replaying {} journal entries", seg.entries.len()));
            let until = match options.target {
                Target::Time(t) => Some(t),
                Target::Base | Target::Latest => None,
            };
            let (file, seg, progress) = (staged.clone(), seg.clone(), bar.clone());
            let replayed = tokio::task::spawn_blocking(move || {
                journal::replay(&file, &seg, until, &|done, total| {
                    progress.set_message(format!("journal entries replayed: {done} of {total}"));
                })
            })
            .await
            .context("the journal replay task failed")?;
            match replayed {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = fs::remove_file(&staged);
                    bail!("refusing to restore: {e}");
                }
            }
        }
        None => None,
    };
    for suffix in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
    fs::rename(&staged, &db).with_context(|| format!("replacing {}", db.display()))?;

    bar.set_message("replaying the shred ledger");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, SqliteOptions::default())?);
    let replay = backup::replay_shred_ledger(&*store, ledger).await?;

    // A fresh target becomes a servable data directory: config, keyring, certificate.
    if !has_config {
        datadir::write_private(&to.join(CONFIG_FILE), toml::to_string(&config)?.as_bytes())?;
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

    let vault = Vault::new(
        store,
        keyring,
        Arc::new(SystemClock),
        VaultConfig::default(),
    );
    vault
        .record_backup_event(
            &crate::local_meta("backup-restore"),
            &Principal::local_operator(),
            "backup.restore",
            &match (&replayed, options.target) {
                (Some(_), Target::Time(t)) => {
                    format!("{} to {}", manifest.backup_id, crate::rfc3339(t))
                }
                (Some(_), _) => format!("{} to the journal's end", manifest.backup_id),
                (None, _) => manifest.backup_id.clone(),
            },
            Some(replay.keys_deleted),
            true,
        )
        .await?;
    bar.finish_and_clear();
    let recovered_to = replayed
        .and_then(|r| r.recovered_to)
        .unwrap_or(manifest.created_at);
    let torn_tail = segment.as_ref().and_then(|s| s.torn_tail);
    if let Some(bytes) = torn_tail {
        tracing::warn!(
            bytes,
            "the journal ends in an incomplete entry (a crash while appending); it was left out"
        );
    }
    if as_json {
        println!(
            "{}",
            json!({"restored_to": db, "backup_id": manifest.backup_id,
                   "vault_id": manifest.vault_id,
                   "created_at": crate::rfc3339(manifest.created_at),
                   "recovered_to": crate::rfc3339(recovered_to),
                   "journal_entries_applied": replayed.map_or(0, |r| r.applied),
                   "journal_entries_skipped": replayed.map_or(0, |r| r.skipped),
                   "journal_torn_tail_bytes": torn_tail,
                   "shred_ledger_entries": replay.entries,
                   "keys_shredded": replay.keys_deleted})
        );
    } else {
        println!(
            "restored backup {} (taken {}) into {}",
            manifest.backup_id,
            crate::rfc3339(manifest.created_at),
            db.display()
        );
        if let Some(r) = replayed {
            println!(
                "journal replayed: {} entries applied, {} after the target left out; state as of {}",
                r.applied,
                r.skipped,
                crate::rfc3339(recovered_to)
            );
        }
        if let Some(bytes) = torn_tail {
            println!(
                "note: the journal ends in an incomplete entry ({bytes} bytes, a crash while                  appending); it was never acknowledged and was left out"
            );
        }
        println!(
            "shred ledger replayed: {} entries, {} data keys deleted again",
            replay.entries, replay.keys_deleted
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ----- retention ---------------------------------------------------------------------------

/// Deletes backups under `root` older than `days` (by their signed creation time; the
/// newest always stays), and leftovers of interrupted backups. Returns the names removed.
pub(crate) fn prune(root: &Path, days: u32, now: OffsetDateTime) -> Result<Vec<String>> {
    let mut created = Vec::new();
    let mut ids = Vec::new();
    for e in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(BACKUP_PREFIX) {
            continue;
        }
        // Only the manifest's time counts; a directory without one is not ours to delete.
        let Ok(bytes) = fs::read(e.path().join(MANIFEST_FILE)) else {
            continue;
        };
        if let Ok(m) = BackupManifest::parse(&bytes) {
            created.push((name, m.created_at));
            ids.push(m.backup_id);
        }
    }
    let mut removed = Vec::new();
    for name in backup::expired(&created, now, days) {
        fs::remove_dir_all(root.join(name))?;
        removed.push(name.to_owned());
    }
    // A segment only continues its base: once the base is gone, so is the segment.
    if let Ok(entries) = fs::read_dir(root.join(journal::JOURNAL_DIR)) {
        let kept: Vec<String> = fs::read_dir(root)?
            .flatten()
            .filter_map(|e| fs::read(e.path().join(MANIFEST_FILE)).ok())
            .filter_map(|b| BackupManifest::parse(&b).ok())
            .map(|m| m.backup_id)
            .collect();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(&format!(".{}", journal::JOURNAL_EXT)) else {
                continue;
            };
            if !kept.iter().any(|k| k == id) && ids.iter().any(|k| k == id) {
                fs::remove_file(e.path())?;
            }
        }
    }
    Ok(removed)
}

/// The newest backup under `root` and its creation time.
fn newest(root: &Path) -> Option<OffsetDateTime> {
    fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(BACKUP_PREFIX))
        .filter_map(|e| fs::read(e.path().join(MANIFEST_FILE)).ok())
        .filter_map(|b| BackupManifest::parse(&b).ok())
        .map(|m| m.created_at)
        .max()
}

// ----- keys export -------------------------------------------------------------------------

/// `keys export --to FILE`: the keyring sealed under a separate passphrase
/// (PHIVAULT_EXPORT_PASSPHRASE or the prompt), written owner-only to a new file.
pub(crate) async fn export_keys(data_dir: &Path, to: &Path, as_json: bool) -> Result<ExitCode> {
    let opened = datadir::open(data_dir, &datadir::passphrase(false)?)?;
    let pass = match std::env::var("PHIVAULT_EXPORT_PASSPHRASE") {
        Ok(p) => Zeroizing::new(p),
        Err(_) => {
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
    if pass.len() < 12 {
        bail!("the export passphrase must have at least 12 characters");
    }
    let sealed = opened
        .vault
        .keyring()
        .seal(pass.as_bytes(), &datadir::kdf_params())?;
    write_new_private(to, &sealed)
        .with_context(|| format!("{} must not exist yet", to.display()))?;
    opened
        .vault
        .record_backup_event(
            &crate::local_meta("keys-export"),
            &Principal::local_operator(),
            "keys.export",
            "keyring",
            None,
            true,
        )
        .await?;
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

// ----- scheduler ---------------------------------------------------------------------------

/// Scheduled backups inside `serve`, configured by environment:
/// `PHIVAULT_BACKUP_DIR` (enables them), `PHIVAULT_BACKUP_INTERVAL` (`6h`, `30m`, …; default
/// `24h`), `PHIVAULT_BACKUP_RETENTION_DAYS` (default 35), and the point-in-time-recovery
/// journal: `PHIVAULT_BACKUP_JOURNAL` (`on`, the default, or `off`) and
/// `PHIVAULT_BACKUP_JOURNAL_RPO_MS` (the longest an appended entry waits for its fsync;
/// default 1000).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) dir: PathBuf,
    pub(crate) interval: StdDuration,
    pub(crate) retention_days: u32,
    /// The journal's recovery point; `None` when the journal is off.
    pub(crate) journal_rpo: Option<StdDuration>,
}

/// Pause between attempts at the new base backup a journal that lost its segment needs.
const REBASE_RETRY: StdDuration = StdDuration::from_secs(10);

impl Schedule {
    /// The schedule from the environment, if backups are enabled.
    pub(crate) fn from_env(data_dir: &Path) -> Result<Option<Schedule>> {
        let Ok(dir) = std::env::var("PHIVAULT_BACKUP_DIR") else {
            return Ok(None);
        };
        let interval = match std::env::var("PHIVAULT_BACKUP_INTERVAL") {
            Ok(s) => crate::parse_ttl(&s)?,
            Err(_) => time::Duration::hours(24),
        };
        let interval = StdDuration::try_from(interval)
            .ok()
            .filter(|d| !d.is_zero())
            .context("PHIVAULT_BACKUP_INTERVAL must be positive")?;
        let retention_days = match std::env::var("PHIVAULT_BACKUP_RETENTION_DAYS") {
            Ok(s) => s.parse().context("PHIVAULT_BACKUP_RETENTION_DAYS")?,
            Err(_) => DEFAULT_RETENTION_DAYS,
        };
        let dir = PathBuf::from(dir);
        let dir = if dir.is_relative() {
            data_dir.join(dir)
        } else {
            dir
        };
        let journal_rpo =
            match std::env::var("PHIVAULT_BACKUP_JOURNAL").as_deref() {
                Ok("off") => None,
                Ok("on") | Err(_) => Some(match std::env::var("PHIVAULT_BACKUP_JOURNAL_RPO_MS") {
                    Ok(ms) => StdDuration::from_millis(ms.parse().context(
                        "PHIVAULT_BACKUP_JOURNAL_RPO_MS must be a number of milliseconds",
                    )?),
                    Err(_) => journal::DEFAULT_RPO,
                }),
                Ok(other) => bail!("PHIVAULT_BACKUP_JOURNAL must be on or off, not {other:?}"),
            };
        Ok(Some(Schedule {
            dir,
            interval,
            retention_days,
            journal_rpo,
        }))
    }

    /// The journal this schedule keeps, if it keeps one, stamped by `clock`.
    pub(crate) fn journal(&self, clock: Arc<dyn phivault_core::Clock>) -> Option<Arc<Journal>> {
        self.journal_rpo.map(|rpo| {
            Journal::new(JournalConfig {
                dir: self.dir.clone(),
                rpo,
                clock,
            })
        })
    }
}

/// Takes a backup every interval (and, with the journal on, as soon as the journal needs a
/// new base: at start, or after another process wrote to the database), prunes by
/// retention, and logs the age of the last good backup (a warning when it is older than
/// two intervals).
pub(crate) fn spawn_scheduler(
    vault: Arc<Vault>,
    db: PathBuf,
    config_text: Option<Vec<u8>>,
    s: Schedule,
    ready: phivault_server::Readiness,
    journal: Option<Arc<Journal>>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(s.interval);
        let mut check = tokio::time::interval(StdDuration::from_secs(1));
        let mut last_attempt: Option<std::time::Instant> = None;
        loop {
            let due = tokio::select! {
                _ = tick.tick() => true,
                _ = check.tick() => {
                    journal.as_ref().is_some_and(|j| j.needs_base())
                        && last_attempt.is_none_or(|t| t.elapsed() >= REBASE_RETRY)
                }
            };
            if !due {
                continue;
            }
            last_attempt = Some(std::time::Instant::now());
            // Any backup, a journal's new base included, restarts the interval.
            tick.reset();
            let bar = indicatif::ProgressBar::hidden();
            match create(
                &vault,
                &db,
                &s.dir,
                config_text.as_deref(),
                &bar,
                journal.as_deref(),
            )
            .await
            {
                Ok((path, m)) => tracing::info!(
                    backup = %path.display(), audit_tree_size = m.audit.tree_size,
                    "scheduled backup written"
                ),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "scheduled backup failed"),
            }
            match prune(&s.dir, s.retention_days, vault.clock().now()) {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(
                        pruned = removed.len(),
                        retention_days = s.retention_days,
                        "old backups pruned"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %format!("{e:#}"), "pruning backups failed"),
            }
            let age = newest(&s.dir).map(|t| (vault.clock().now() - t).whole_seconds());
            if let Some(a) = age {
                metrics::gauge!("phivault_backup_last_good_age_seconds").set(a as f64);
            }
            let mut overdue = match age {
                Some(a) if a <= 2 * s.interval.as_secs() as i64 => {
                    tracing::info!(last_good_backup_age_seconds = a, "backup status");
                    vec![]
                }
                Some(a) => {
                    tracing::warn!(
                        last_good_backup_age_seconds = a,
                        "the last good backup is overdue"
                    );
                    vec![format!("backup:last_good_age_seconds={a}")]
                }
                None => {
                    tracing::warn!("no good backup exists");
                    vec!["backup:none".to_owned()]
                }
            };
            if let Some(j) = &journal {
                metrics::gauge!("phivault_backup_journal_entries").set(j.entries() as f64);
                if j.needs_base() {
                    overdue.push("backup:journal_needs_base".to_owned());
                }
            }
            ready.set_degraded("backups", overdue);
        }
    });
}
