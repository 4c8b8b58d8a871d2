//! `backup restore`: a checked backup's snapshot copied into place, its journal segment
//! replayed up to the target time, then every erasure known anywhere replayed so no
//! erased subject comes back (disaster recovery, 45 CFR 164.308(a)(7)(ii)(B); disposal by
//! destroying keys, 164.310(d)(2)(i)). Choosing where the database lives and preparing the
//! rest of the data directory is the caller's business.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use phivault_core::backup::{self, BackupManifest, ReplayOutcome};
use phivault_core::crypto::Keyring;
use phivault_core::store::Store;
use phivault_core::{Principal, SystemClock, Vault, VaultConfig};
use phivault_store_sqlite::journal::{self, ReplayReport, Segmented};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

use crate::files::{create_private_dir, sidecars};
use crate::ledger::{SkippedSegment, collect_ledgers};
use crate::verify::{VerifyReport, check_manifest};
use crate::{BackupError, DB_PART, SharedProgress, rfc3339};

/// How far a restore goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The snapshot alone.
    Base,
    /// The snapshot plus its whole journal segment (the snapshot alone without one).
    Latest,
    /// The snapshot plus the journal entries committed at or before this time.
    Time(OffsetDateTime),
}

impl Target {
    fn until(self) -> Option<OffsetDateTime> {
        match self {
            Target::Time(t) => Some(t),
            Target::Base | Target::Latest => None,
        }
    }
}

/// The checked journal segment of the backup in `dir`, when a restore to `target`
/// replays one.
pub(crate) fn segment_for(
    dir: &Path,
    manifest: &BackupManifest,
    target: Target,
) -> Result<Option<Segmented>, BackupError> {
    if target == Target::Base {
        return Ok(None);
    }
    let root = dir.parent().ok_or(BackupError::NoLocation)?;
    let segment = journal::segment_path(root, &manifest.backup_id);
    if let Target::Time(t) = target
        && t < manifest.created_at
    {
        return Err(BackupError::BeforeBackup {
            target: t,
            taken: manifest.created_at,
        });
    }
    if !segment.exists() {
        if manifest.journal.is_some() {
            return Err(BackupError::SegmentMissing(segment));
        }
        if matches!(target, Target::Time(_)) {
            return Err(BackupError::NoJournal(manifest.created_at));
        }
        return Ok(None);
    }
    let seg = journal::read_segment(&segment).map_err(BackupError::Segment)?;
    if seg.backup_id != manifest.backup_id {
        return Err(BackupError::ForeignSegment);
    }
    Ok(Some(seg))
}

/// A backup checked and ready to restore.
#[derive(Debug)]
pub struct RestorePlan {
    /// The backup directory.
    pub dir: PathBuf,
    /// Its manifest, signature checked.
    pub manifest: BackupManifest,
    /// The journal segment to replay, if any.
    pub segment: Option<Segmented>,
    /// How far the restore goes.
    pub target: Target,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The database written.
    pub db: PathBuf,
    /// The restored backup's manifest.
    pub manifest: BackupManifest,
    /// The journal replay, when there was one.
    pub journal: Option<ReplayReport>,
    /// Bytes of an incomplete final journal entry, never acknowledged and left out.
    pub torn_tail: Option<u64>,
    /// The shred-ledger replay.
    pub shredded: ReplayOutcome,
    /// Damaged journal segments whose erasures could not be collected.
    pub skipped_segments: Vec<SkippedSegment>,
}

impl Restored {
    /// The time the restored state is as of: the last replayed commit, else the backup's.
    pub fn recovered_to(&self) -> OffsetDateTime {
        self.journal
            .and_then(|r| r.recovered_to)
            .unwrap_or(self.manifest.created_at)
    }
}

impl RestorePlan {
    /// Checks the backup in `dir` (manifest signature, key versions, parts) and its journal
    /// segment for `target`; a backup that fails any check is refused.
    pub fn prepare(
        dir: &Path,
        target: Target,
        keyring: &Keyring,
        progress: &SharedProgress,
    ) -> Result<RestorePlan, BackupError> {
        progress.message("checking the manifest and parts");
        let mut report = VerifyReport::default();
        let manifest = check_manifest(dir, keyring, &mut report);
        let manifest = match manifest {
            Some(m) if report.ok() => m,
            _ => return Err(BackupError::Refused(report.problems.join("; "))),
        };
        progress.message("checking the journal");
        let segment =
            segment_for(dir, &manifest, target).map_err(|e| BackupError::Refused(e.to_string()))?;
        Ok(RestorePlan {
            dir: dir.to_owned(),
            manifest,
            segment,
            target,
        })
    }

    /// Restores into the database file `db` inside the data directory `to` (created
    /// owner-only if missing), replacing an existing database only with `force`, then
    /// audits the restore in the restored vault.
    pub async fn execute(
        self,
        to: &Path,
        db: &Path,
        force: bool,
        keyring: Keyring,
        progress: &SharedProgress,
    ) -> Result<Restored, BackupError> {
        if db.exists() && !force {
            return Err(BackupError::TargetExists(db.to_owned()));
        }
        progress.message("collecting shred ledgers");
        let ledgers = collect_ledgers(&self.dir, Some(db))?;
        create_private_dir(to)?;
        if let Some(parent) = db.parent() {
            fs::create_dir_all(parent)
                .map_err(BackupError::io(format!("creating {}", parent.display())))?;
        }
        progress.message("copying the store");
        let staged = db.with_extension("restoring");
        let _ = fs::remove_file(&staged);
        let copy_err = BackupError::io(format!("copying the store to {}", staged.display()));
        fs::copy(self.dir.join(DB_PART), &staged)
            .and_then(|_| fs::set_permissions(&staged, fs::Permissions::from_mode(0o600)))
            .map_err(copy_err)?;
        let replayed = match &self.segment {
            Some(seg) => match replay(&staged, seg, self.target, progress).await {
                Ok(r) => Some(r),
                Err(e) => {
                    let _ = fs::remove_file(&staged);
                    return Err(e);
                }
            },
            None => None,
        };
        for side in sidecars(db) {
            let _ = fs::remove_file(side);
        }
        fs::rename(&staged, db).map_err(BackupError::io(format!("replacing {}", db.display())))?;

        progress.message("replaying the shred ledger");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db, SqliteOptions::default())?);
        let shredded = backup::replay_shred_ledger(&*store, ledgers.entries).await?;

        let described = match (&replayed, self.target) {
            (Some(_), Target::Time(t)) => format!("{} to {}", self.manifest.backup_id, rfc3339(t)),
            (Some(_), _) => format!("{} to the journal's end", self.manifest.backup_id),
            (None, _) => self.manifest.backup_id.clone(),
        };
        let vault = Vault::new(
            store,
            keyring,
            Arc::new(SystemClock),
            VaultConfig::default(),
        );
        vault
            .record_backup_event(
                &crate::operator_meta("backup-restore"),
                &Principal::local_operator(),
                phivault_core::AuditAction::BackupRestore,
                &described,
                Some(shredded.keys_deleted),
                true,
            )
            .await?;
        Ok(Restored {
            db: db.to_owned(),
            torn_tail: self.segment.as_ref().and_then(|s| s.torn_tail),
            manifest: self.manifest,
            journal: replayed,
            shredded,
            skipped_segments: ledgers.skipped,
        })
    }
}

/// Replays `seg` onto the staged copy `file` up to the target, on a blocking thread.
async fn replay(
    file: &Path,
    seg: &Segmented,
    target: Target,
    progress: &SharedProgress,
) -> Result<ReplayReport, BackupError> {
    progress.message(&format!("replaying {} journal entries", seg.entries.len()));
    let (file, seg, progress) = (file.to_owned(), seg.clone(), progress.clone());
    let until = target.until();
    tokio::task::spawn_blocking(move || {
        journal::replay(&file, &seg, until, &|done, total| {
            progress.message(&format!("journal entries replayed: {done} of {total}"));
        })
    })
    .await
    .map_err(|_| BackupError::Task("journal replay"))?
    .map_err(|e| BackupError::Refused(e.to_string()))
}
