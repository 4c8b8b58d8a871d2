//! The keyring watch of `serve`: `keys rotate` run beside a live server writes a new
//! keyring file, and the server reloads it within a second.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use zeroize::Zeroizing;

use crate::datadir;

/// Reloads the keyring when its file changes (after `keys rotate`), so data keys re-wrapped
/// under a new key-encryption key stay readable without a restart.
pub(crate) fn keyring_watch(
    path: PathBuf,
    pass: Zeroizing<String>,
    vault: Arc<phivault_core::Vault>,
) {
    super::spawn("keyring-watch", watch(path, pass, vault));
}

async fn watch(path: PathBuf, pass: Zeroizing<String>, vault: Arc<phivault_core::Vault>) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = modified(&path);
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let now = modified(&path);
        if now == last {
            continue;
        }
        last = now;
        let (p, pw) = (path.clone(), pass.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let bytes = datadir::read_private(&p)?;
            Ok::<_, anyhow::Error>(phivault_core::crypto::Keyring::open(&bytes, pw.as_bytes())?)
        })
        .await;
        match opened {
            Ok(Ok(keyring)) => {
                let version = keyring.current_kek_version();
                vault.replace_keyring(keyring);
                tracing::info!(kek_version = version, "keyring reloaded");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "keyring changed but could not be opened"),
            Err(e) => tracing::error!(error = %e, "keyring reload task failed"),
        }
    }
}
