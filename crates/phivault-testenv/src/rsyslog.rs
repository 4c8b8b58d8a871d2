//! Finds an rsyslogd able to receive syslog over TLS (its `ossl` network stream driver),
//! for the tests that deliver audit events to a real receiver.

use std::path::{Path, PathBuf};

/// The `rsyslogd` binary, when it and its `ossl` driver (Debian's `rsyslog-openssl`) are
/// installed; `None` otherwise.
pub fn rsyslogd() -> Option<PathBuf> {
    let bin = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let ossl = ["x86_64-linux-gnu/", "aarch64-linux-gnu/", ""]
        .iter()
        .any(|arch| Path::new(&format!("/usr/lib/{arch}rsyslog/lmnsd_ossl.so")).exists());
    ossl.then(|| bin.to_owned())
}

/// Why [`rsyslogd`] found nothing, for the skip line.
pub const MISSING: &str =
    "rsyslogd with the ossl driver is not installed (apt-get install rsyslog rsyslog-openssl)";
