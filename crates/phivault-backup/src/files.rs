//! Owner-only files and directories for backups, and the small path rules shared by
//! create, verify and restore (which directory a path names, SQLite's side files).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use phivault_core::backup::{self, BackupPart};
use phivault_core::crypto::sha256;

use crate::BackupError;

/// Creates `dir` (and its parents) and makes it owner-only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    fs::create_dir_all(dir).map_err(BackupError::io(format!("creating {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(BackupError::io(format!("restricting {}", dir.display())))
}

/// Writes `bytes` to a new owner-only file, synced; an existing file is an error.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let context = || format!("creating {}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(BackupError::io(context()))?;
    f.write_all(bytes).map_err(BackupError::io(context()))?;
    f.sync_all().map_err(BackupError::io(context()))
}

/// Fsyncs a directory, so the names created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io(format!("syncing {}", dir.display())))
}

/// The size and SHA-256 of the part `name` of the backup in `dir`.
pub(crate) fn part_of(dir: &Path, name: &str) -> Result<BackupPart, BackupError> {
    let bytes = fs::read(dir.join(name)).map_err(BackupError::io(format!("reading {name}")))?;
    Ok(BackupPart {
        name: name.to_owned(),
        size: bytes.len() as u64,
        sha256: backup::hex(&sha256(&bytes)),
    })
}

/// The backup directory a path names: the directory itself, or the one holding the
/// manifest file given.
pub(crate) fn backup_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_owned()
    } else {
        path.parent().map(Path::to_owned).unwrap_or_default()
    }
}

/// SQLite's write-ahead log and shared-memory files beside `db`.
pub(crate) fn sidecars(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut p = db.to_owned().into_os_string();
        p.push(suffix);
        PathBuf::from(p)
    })
}

/// A directory removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// A new owner-only directory under the system's temporary directory.
    pub(crate) fn new(prefix: &str) -> Result<TempDir, BackupError> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        create_private_dir(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
