//! `backup verify`: a backup is checked by restoring it into a temporary directory —
//! manifest signature, part sizes and hashes, SQLite integrity, row counts, the audit
//! chain and tree head, the journal segment (its chain, and that it replays into a vault
//! whose audit log still verifies), and sample decrypts with the given keyring.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use phivault_core::backup::{self, BackupManifest, MANIFEST_FILE};
use phivault_core::crypto::{Keyring, sha256};
use phivault_core::store::{Store, read_tx};
use phivault_store_sqlite::journal;
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

use crate::files::{TempDir, backup_dir};
use crate::restore::segment_for;
use crate::sample::{PAGE, open_sample, subject_records};
use crate::{BackupError, DB_PART, Progress, SharedProgress, Target};

/// What `backup verify` found; the backup is verified when `problems` is empty.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    /// The backup's id, once its manifest was read.
    pub backup_id: Option<String>,
    /// The vault the manifest names.
    pub vault_id: Option<String>,
    /// When the backup was taken.
    pub created_at: Option<OffsetDateTime>,
    /// The manifest's signature verifies under the keyring's audit key.
    pub signature_ok: bool,
    /// Every part is present with the size and hash the manifest gives.
    pub parts_ok: bool,
    /// Entries in the snapshot's audit log.
    pub audit_entries: u64,
    /// The audit chain, Merkle tree and tree heads verify, and match the manifest.
    pub audit_ok: bool,
    /// Row counts per table match the manifest.
    pub counts_ok: bool,
    /// Live record versions seen.
    pub records: u64,
    /// Record versions decrypted as a check.
    pub decrypted: u64,
    /// Subjects in the snapshot's shred ledger.
    pub shredded_subjects: u64,
    /// Entries in the backup's journal segment, when it has one.
    pub journal_entries: Option<u64>,
    /// Commit time of the segment's last entry.
    pub journal_last: Option<OffsetDateTime>,
    /// Bytes of an incomplete final journal entry, left out.
    pub journal_torn_tail: Option<u64>,
    /// Every problem found, in words.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether the backup verified.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads the manifest in `dir` and checks its signature, the key versions it needs and
/// every part's size and hash; problems land in `report`. `None` when it is unreadable.
pub(crate) fn check_manifest(
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
        let problem = match fs::read(dir.join(&part.name)) {
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

/// Verifies the backup at `path` (its directory or manifest) with `keyring`, decrypting up
/// to `samples` record versions; every problem lands in the report.
pub async fn verify(
    path: &Path,
    keyring: &Keyring,
    samples: usize,
    progress: &SharedProgress,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    if let Err(e) = verify_into(path, keyring, samples, progress, &mut report).await {
        report.problems.push(e.to_string());
    }
    report
}

async fn verify_into(
    path: &Path,
    keyring: &Keyring,
    samples: usize,
    progress: &SharedProgress,
    report: &mut VerifyReport,
) -> Result<(), BackupError> {
    let dir = backup_dir(path);
    progress.message("manifest and part hashes");
    let Some(manifest) = check_manifest(&dir, keyring, report) else {
        return Ok(());
    };
    if !report.parts_ok {
        // A damaged store part would only add noise below.
        return Ok(());
    }
    progress.message("restoring into a temporary directory");
    let tmp = TempDir::new("phivault-verify")?;
    let db = tmp.0.join(DB_PART);
    fs::copy(dir.join(DB_PART), &db).map_err(BackupError::io(format!("copying {DB_PART}")))?;
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
    if backup::vault_id(&*store).await? != manifest.vault_id {
        report
            .problems
            .push("the store belongs to another vault than the manifest names".to_owned());
    }

    progress.message("audit chain and tree head");
    check_audit(&*store, keyring, &manifest, report).await?;

    progress.message("sample decrypts");
    report.shredded_subjects = backup::shred_ledger(&*store).await?.len() as u64;
    sample_decrypts(&*store, keyring, samples, report, &**progress).await?;
    drop(store);
    verify_journal(&dir, &manifest, &tmp.0, keyring, report, progress).await
}

/// The snapshot's audit log verifies (chain, Merkle tree, signed heads) and is the one
/// the manifest signed.
async fn check_audit(
    store: &dyn Store,
    keyring: &Keyring,
    manifest: &BackupManifest,
    report: &mut VerifyReport,
) -> Result<(), BackupError> {
    let pk = keyring.audit_verifying_key();
    let log = phivault_core::audit_log::verify_log(store, Some(&pk), &[]).await?;
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
    let audit = backup::audit_at(store).await?;
    if audit != manifest.audit {
        report.audit_ok = false;
        report.problems.push(format!(
            "the audit log ({} entries, root {}) differs from the manifest's tree head ({} entries, root {})",
            audit.tree_size, audit.root_hash, manifest.audit.tree_size, manifest.audit.root_hash
        ));
    }
    Ok(())
}

/// Checks the backup's journal segment: its chain, and that it replays onto the snapshot
/// into a vault whose audit log still verifies.
async fn verify_journal(
    dir: &Path,
    manifest: &BackupManifest,
    tmp: &Path,
    keyring: &Keyring,
    report: &mut VerifyReport,
    progress: &SharedProgress,
) -> Result<(), BackupError> {
    progress.message("journal chain");
    let seg = match segment_for(dir, manifest, Target::Latest) {
        Ok(Some(seg)) => seg,
        Ok(None) => return Ok(()),
        Err(e) => {
            report.journal_entries = Some(0);
            report.problems.push(e.to_string());
            return Ok(());
        }
    };
    report.journal_entries = Some(seg.entries.len() as u64);
    report.journal_last = seg.last_committed_at();
    report.journal_torn_tail = seg.torn_tail;
    progress.message(&format!("replaying {} journal entries", seg.entries.len()));
    let replayed = tmp.join("journal-replay.db");
    fs::copy(dir.join(DB_PART), &replayed)
        .map_err(BackupError::io(format!("copying {DB_PART}")))?;
    let outcome = {
        let (db, seg) = (replayed.clone(), seg.clone());
        tokio::task::spawn_blocking(move || journal::replay(&db, &seg, None, &|_, _| {}))
            .await
            .map_err(|_| BackupError::Task("journal replay"))?
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

/// Counts every live record and decrypts up to `samples` of their current versions.
async fn sample_decrypts(
    store: &dyn Store,
    keyring: &Keyring,
    samples: usize,
    report: &mut VerifyReport,
    progress: &dyn Progress,
) -> Result<(), BackupError> {
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
            for head in subject_records(store, &key.subject).await? {
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
                match open_sample(keyring, &key.wrapped_key, &row) {
                    Ok(()) => report.decrypted += 1,
                    Err(e) => report.problems.push(format!(
                        "record {} version {} does not decrypt with the given keyring: {e}",
                        row.id, row.version
                    )),
                }
            }
            progress.message(&format!("{} records checked", report.records));
        }
    }
    Ok(())
}
