//! The certificate watch of `serve`: a renewed server certificate and key (written by an
//! ACME client or an operator) are served within a second, without a restart and without
//! dropping open connections (they keep the session they negotiated).

use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, SystemTime};

use zeroize::Zeroizing;

use crate::datadir;

/// Replaces the served certificate when `cert` or `key` changes on disk.
pub(crate) fn certificate_watch(
    cert: PathBuf,
    key: PathBuf,
    swap: phivault_server::CertificateSwap,
) {
    super::spawn("tls-certificate-watch", watch(cert, key, swap));
}

/// The modification times of the pair, to notice a change.
fn stamps(cert: &Path, key: &Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

async fn watch(cert: PathBuf, key: PathBuf, swap: phivault_server::CertificateSwap) {
    let mut last = stamps(&cert, &key);
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let now = stamps(&cert, &key);
        if now == last {
            continue;
        }
        last = now;
        // A pair caught half-written (new certificate, old key) fails to load and the old
        // pair stays; the second file's own change brings the next attempt.
        match reload(&cert, &key, &swap) {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate changed but could not be loaded; still serving the previous one")
            }
        }
    }
}

/// Reads the pair and serves it.
pub(crate) fn reload(
    cert: &Path,
    key: &Path,
    swap: &phivault_server::CertificateSwap,
) -> anyhow::Result<()> {
    let cert_pem = std::fs::read(cert)?;
    let key_pem = Zeroizing::new(datadir::read_private(key)?);
    swap.replace(&cert_pem, &key_pem)?;
    Ok(())
}
