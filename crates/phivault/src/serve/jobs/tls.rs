//! The certificate watch of `serve`: a renewed server certificate and key (written by an
//! ACME client or an operator) are served within a second, without a restart and without
//! dropping open connections (they keep the session they negotiated).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, SystemTime};

use zeroize::Zeroizing;

use crate::datadir;

/// Replaces the served certificate when `cert` or `key` changes on disk. The last stamps
/// seen are kept across runs, so a restarted watch does not reload an unchanged pair.
pub(crate) fn certificate_watch(
    jobs: &super::Supervisor,
    cert: PathBuf,
    key: PathBuf,
    swap: phivault_server::CertificateSwap,
) {
    let seen = Arc::new(Mutex::new(stamps(&cert, &key)));
    jobs.spawn("tls-certificate-watch", move || {
        watch(cert.clone(), key.clone(), swap.clone(), seen.clone())
    });
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

/// The modification times of the pair, to notice a change.
fn stamps(cert: &Path, key: &Path) -> Stamps {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

async fn watch(
    cert: PathBuf,
    key: PathBuf,
    swap: phivault_server::CertificateSwap,
    seen: Arc<Mutex<Stamps>>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    loop {
        tick.tick().await;
        let now = stamps(&cert, &key);
        {
            let mut last = seen.lock().unwrap_or_else(|e| e.into_inner());
            if now == *last {
                continue;
            }
            *last = now;
        }
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
