//! The keyring watch of `serve`: `keys rotate` run beside a live server writes a new
//! keyring file, and the server reloads it within a second.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, SystemTime};

use zeroize::Zeroizing;

use crate::datadir;

/// The keyring file's modification time when it was last loaded.
type Seen = Arc<Mutex<Option<SystemTime>>>;

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reloads the keyring when its file changes (after `keys rotate`), so data keys re-wrapped
/// under a new key-encryption key stay readable without a restart. A changed file that
/// cannot be opened fails the run: the supervisor reports it in `/readyz` and the restarted
/// run tries the same change again, because the last loaded version is kept across runs.
pub(crate) fn keyring_watch(
    jobs: &super::Supervisor,
    path: PathBuf,
    pass: Zeroizing<String>,
    vault: Arc<phivault_core::Vault>,
) {
    let seen: Seen = Arc::new(Mutex::new(modified(&path)));
    jobs.spawn("keyring-watch", move || {
        watch(path.clone(), pass.clone(), vault.clone(), seen.clone())
    });
}

async fn watch(
    path: PathBuf,
    pass: Zeroizing<String>,
    vault: Arc<phivault_core::Vault>,
    seen: Seen,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let now = modified(&path);
        if now == *seen.lock().unwrap_or_else(|e| e.into_inner()) {
            continue;
        }
        let (p, pw) = (path.clone(), pass.clone());
        let keyring = tokio::task::spawn_blocking(move || {
            let bytes = datadir::read_private(&p)?;
            Ok::<_, anyhow::Error>(phivault_core::crypto::Keyring::open(&bytes, pw.as_bytes())?)
        })
        .await
        .map_err(|e| anyhow::anyhow!("keyring reload task failed: {e}"))?
        .map_err(|e| e.context("keyring changed but could not be opened"))?;
        let version = keyring.current_kek_version();
        vault.replace_keyring(keyring);
        *seen.lock().unwrap_or_else(|e| e.into_inner()) = now;
        tracing::info!(kek_version = version, "keyring reloaded");
    }
}
