//! Taking a backup: the snapshot (from the store's file, or from the journaled store's
//! writer so the journal segment starts at exactly that state), the shred ledger, the
//! signed manifest, all staged in a hidden directory and renamed into place at the end.

use std::fs;
use std::path::{Path, PathBuf};

use phivault_core::backup::{self, BackupManifest, MANIFEST_FILE, MANIFEST_FORMAT};
use phivault_core::{Principal, Vault};
use phivault_store_sqlite::journal::{self, Journal};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

use crate::files::{create_private_dir, part_of, sidecars, sync_dir, write_new_private};
use crate::{BACKUP_PREFIX, BackupError, CONFIG_PART, DB_PART, LEDGER_PART, Progress};

/// A backup just written.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its directory.
    pub path: PathBuf,
    /// The directory's name inside the location.
    pub name: String,
    /// Its signed manifest.
    pub manifest: BackupManifest,
}

/// Takes a backup of the SQLite database `db` of `vault` into a new directory under
/// `root`, audits it (success and failure) in the vault, and returns it. With `journal`,
/// the journaled store's writer takes the snapshot and starts the backup's segment.
pub async fn create(
    vault: &Vault,
    db: &Path,
    root: &Path,
    config_text: Option<&[u8]>,
    journal: Option<&Journal>,
    progress: &dyn Progress,
) -> Result<Created, BackupError> {
    let created_at = vault.clock().now();
    let backup_id = uuid::Uuid::new_v4().to_string();
    let name = format!(
        "{BACKUP_PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        created_at.year(),
        u8::from(created_at.month()),
        created_at.day(),
        created_at.hour(),
        created_at.minute(),
        created_at.second(),
        &backup_id[..8]
    );
    create_private_dir(root)?;
    let staging = root.join(format!(".partial-{backup_id}"));
    create_private_dir(&staging)?;
    let from = match journal {
        Some(j) => SnapshotFrom::Writer(j),
        None => SnapshotFrom::File(db),
    };
    let staged = Staged {
        vault,
        dir: &staging,
        created_at,
        backup_id: &backup_id,
    };
    let manifest = match staged.fill(from, config_text, progress).await {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            if let Some(j) = journal {
                // A segment without its base is useless; the journal waits for a new base.
                let _ = j.stop_segment().await;
                let _ = fs::remove_file(journal::segment_path(root, &backup_id));
            }
            let _ = audit(vault, &name, None, false).await;
            return Err(e);
        }
    };
    let dest = root.join(&name);
    if let Err(e) = fs::rename(&staging, &dest) {
        if let Some(j) = journal {
            let _ = j.stop_segment().await;
        }
        return Err(BackupError::io(format!("naming {}", dest.display()))(e));
    }
    sync_dir(root)?;
    audit(vault, &name, Some(manifest.audit.tree_size), true).await?;
    Ok(Created {
        path: dest,
        name,
        manifest,
    })
}

async fn audit(
    vault: &Vault,
    name: &str,
    tree_size: Option<u64>,
    ok: bool,
) -> Result<(), BackupError> {
    vault
        .record_backup_event(
            &crate::operator_meta("backup-create"),
            &Principal::local_operator(),
            phivault_core::AuditAction::BackupCreate,
            name,
            tree_size,
            ok,
        )
        .await?;
    Ok(())
}

/// Where a backup's snapshot comes from.
#[derive(Clone, Copy)]
enum SnapshotFrom<'a> {
    /// A copy of the database file from its own read connection (no journal).
    File(&'a Path),
    /// The journaled store's writer, which starts the backup's journal segment with it.
    Writer(&'a Journal),
}

/// A backup being written into its staging directory.
struct Staged<'a> {
    vault: &'a Vault,
    dir: &'a Path,
    created_at: OffsetDateTime,
    backup_id: &'a str,
}

impl Staged<'_> {
    /// Writes every part and the signed manifest into the staging directory.
    async fn fill(
        &self,
        from: SnapshotFrom<'_>,
        config_text: Option<&[u8]>,
        progress: &dyn Progress,
    ) -> Result<BackupManifest, BackupError> {
        progress.message("snapshot of the store");
        let snap = self.dir.join(DB_PART);
        let info = match from {
            // Taken by the store's writer, so the segment starts exactly at this state.
            SnapshotFrom::Writer(j) => j
                .start_segment(&snap, self.backup_id)
                .await
                .map_err(BackupError::Snapshot)?,
            SnapshotFrom::File(db) => {
                let (db, snap) = (db.to_owned(), snap.clone());
                tokio::task::spawn_blocking(move || {
                    phivault_store_sqlite::backup::snapshot(&db, &snap)
                })
                .await
                .map_err(|_| BackupError::Task("snapshot"))?
                .map_err(BackupError::Snapshot)?
            }
        };
        progress.message("audit tree head");
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
        // Opening the copy left an (empty, checkpointed) WAL and shared-memory file beside
        // it; with every connection closed they are not part of the database.
        let [wal, shm] = sidecars(&snap);
        if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return Err(BackupError::SnapshotWal);
        }
        let _ = fs::remove_file(wal);
        let _ = fs::remove_file(shm);
        let ledger_json = serde_json::to_vec_pretty(&ledger).map_err(|e| BackupError::Ledger {
            path: self.dir.join(LEDGER_PART),
            reason: e.to_string(),
        })?;
        write_new_private(&self.dir.join(LEDGER_PART), &ledger_json)?;
        let mut names = vec![DB_PART, LEDGER_PART];
        if let Some(text) = config_text {
            write_new_private(&self.dir.join(CONFIG_PART), text)?;
            names.push(CONFIG_PART);
        }
        progress.message("hashing parts");
        let parts = names
            .iter()
            .map(|n| part_of(self.dir, n))
            .collect::<Result<Vec<_>, _>>()?;
        let backup_id = self.backup_id;
        let mut manifest = BackupManifest {
            format: MANIFEST_FORMAT,
            vault_id,
            backup_id: backup_id.to_owned(),
            created_at: self.created_at,
            backend: "sqlite".to_owned(),
            schema_version: info.schema_version,
            parts,
            audit,
            counts: info.counts,
            kek_versions: self.vault.keyring().kek_versions(),
            journal: matches!(from, SnapshotFrom::Writer(_)).then(|| {
                format!(
                    "{}/{backup_id}.{}",
                    journal::JOURNAL_DIR,
                    journal::JOURNAL_EXT
                )
            }),
            signature: String::new(),
        };
        manifest.sign(&self.vault.keyring());
        write_new_private(&self.dir.join(MANIFEST_FILE), &manifest.to_json())?;
        sync_dir(self.dir)?;
        Ok(manifest)
    }
}
