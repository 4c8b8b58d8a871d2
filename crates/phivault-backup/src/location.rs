//! A backup location as a whole: the backups in it (known by their manifests), choosing the
//! base a restore starts from, the newest backup's age, and pruning by retention.

use std::fs;
use std::path::{Path, PathBuf};

use phivault_core::backup::{self, BackupManifest, MANIFEST_FILE};
use phivault_store_sqlite::journal;
use time::OffsetDateTime;

use crate::files::backup_dir;
use crate::{BACKUP_PREFIX, BackupError, Target};

/// Every backup directory under `root` with a readable manifest: (directory name, path,
/// manifest). Directories without one are not backups (an interrupted one, or not ours).
fn backups_in(root: &Path) -> Result<Vec<(String, PathBuf, BackupManifest)>, std::io::Error> {
    Ok(fs::read_dir(root)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(BACKUP_PREFIX) {
                return None;
            }
            let bytes = fs::read(e.path().join(MANIFEST_FILE)).ok()?;
            let m = BackupManifest::parse(&bytes).ok()?;
            Some((name, e.path(), m))
        })
        .collect())
}

/// The backup directory to restore from. `path` is a backup directory or its manifest;
/// or a backup location, and then the newest backup taken at or before the target time
/// (the newest of all otherwise). Its signature is checked afterwards like that of a
/// backup named directly.
pub fn locate(path: &Path, target: Target) -> Result<PathBuf, BackupError> {
    if !path.is_dir() || path.join(MANIFEST_FILE).exists() {
        return Ok(backup_dir(path));
    }
    let all = backups_in(path).map_err(BackupError::io(format!("reading {}", path.display())))?;
    let before = match target {
        Target::Time(t) => Some(t),
        Target::Base | Target::Latest => None,
    };
    all.into_iter()
        .filter(|(_, _, m)| before.is_none_or(|t| m.created_at <= t))
        .max_by_key(|(_, _, m)| m.created_at)
        .map(|(_, p, _)| p)
        .ok_or_else(|| BackupError::NoBackup {
            location: path.to_owned(),
            before,
        })
}

/// When the newest backup under `root` was taken.
pub fn newest(root: &Path) -> Option<OffsetDateTime> {
    backups_in(root)
        .ok()?
        .into_iter()
        .map(|(_, _, m)| m.created_at)
        .max()
}

/// Deletes backups under `root` older than `days` (by their signed creation time; the
/// newest always stays), and the journal segments of the backups deleted. Returns the
/// names removed.
pub fn prune(root: &Path, days: u32, now: OffsetDateTime) -> Result<Vec<String>, BackupError> {
    let io = |what: &str, p: &Path| BackupError::io(format!("{what} {}", p.display()));
    let all = backups_in(root).map_err(io("reading", root))?;
    let created: Vec<(String, OffsetDateTime)> = all
        .iter()
        .map(|(name, _, m)| (name.clone(), m.created_at))
        .collect();
    let mut removed = Vec::new();
    for name in backup::expired(&created, now, days) {
        let dir = root.join(name);
        fs::remove_dir_all(&dir).map_err(io("removing", &dir))?;
        removed.push(name.to_owned());
    }
    // A segment only continues its base: once the base is gone, so is the segment.
    let gone: Vec<&str> = all
        .iter()
        .filter(|(name, _, _)| removed.contains(name))
        .map(|(_, _, m)| m.backup_id.as_str())
        .collect();
    if let Ok(entries) = fs::read_dir(root.join(journal::JOURNAL_DIR)) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(&format!(".{}", journal::JOURNAL_EXT)) else {
                continue;
            };
            if gone.contains(&id) {
                fs::remove_file(e.path()).map_err(io("removing", &e.path()))?;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use phivault_core::backup::{AuditAtBackup, MANIFEST_FORMAT};

    fn backup(root: &Path, name: &str, id: &str, created_at: OffsetDateTime) {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        let m = BackupManifest {
            format: MANIFEST_FORMAT,
            vault_id: "v".into(),
            backup_id: id.into(),
            created_at,
            backend: "sqlite".into(),
            schema_version: 1,
            parts: vec![],
            audit: AuditAtBackup::default(),
            counts: Default::default(),
            kek_versions: vec![1],
            journal: None,
            signature: String::new(),
        };
        fs::write(dir.join(MANIFEST_FILE), m.to_json()).unwrap();
        let seg = journal::segment_path(root, id);
        fs::create_dir_all(seg.parent().unwrap()).unwrap();
        fs::write(seg, b"segment").unwrap();
    }

    #[test]
    fn prune_removes_expired_backups_with_their_segments_and_locate_picks_by_time() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let day = time::Duration::days(1);
        let now = OffsetDateTime::UNIX_EPOCH + day * 100;
        backup(root, "backup-old", "id-old", now - day * 40);
        backup(root, "backup-new", "id-new", now - day);
        // Not a backup: no manifest. Never touched.
        fs::create_dir_all(root.join("backup-stray")).unwrap();

        assert_eq!(
            locate(root, Target::Latest).unwrap(),
            root.join("backup-new")
        );
        assert_eq!(
            locate(root, Target::Time(now - day * 10)).unwrap(),
            root.join("backup-old")
        );
        assert_eq!(
            locate(root, Target::Time(now - day * 50))
                .unwrap_err()
                .code(),
            "backup_not_found"
        );
        assert_eq!(newest(root), Some(now - day));

        assert_eq!(prune(root, 35, now).unwrap(), vec!["backup-old".to_owned()]);
        assert!(!root.join("backup-old").exists());
        assert!(!journal::segment_path(root, "id-old").exists());
        assert!(journal::segment_path(root, "id-new").exists());
        assert!(root.join("backup-stray").exists());
    }
}
