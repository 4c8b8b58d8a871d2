//! The one reader of the process environment. `PHIVAULT_*` overrides of config keys reach
//! [`super::Config`] through [`get`]; secrets (passphrases, webhook keys) never live in the
//! config file and are read here only; so are the log filter and the host name.

use anyhow::{Result, anyhow, bail};
use std::fmt::Display;
use std::str::FromStr;
use zeroize::Zeroizing;

/// The keyring passphrase.
pub(crate) const PASSPHRASE: &str = "PHIVAULT_PASSPHRASE";
/// The passphrase of a keyring exported with `keys export`, when restoring with it.
pub(crate) const KEYRING_PASSPHRASE: &str = "PHIVAULT_KEYRING_PASSPHRASE";
/// The passphrase `keys export` seals the copy with.
pub(crate) const EXPORT_PASSPHRASE: &str = "PHIVAULT_EXPORT_PASSPHRASE";
/// The password of a person created by `user create`.
pub(crate) const NEW_PASSWORD: &str = "PHIVAULT_NEW_PASSWORD";
/// The HMAC key of the alert webhook.
pub(crate) const ALERT_WEBHOOK_SECRET: &str = "PHIVAULT_ALERT_WEBHOOK_SECRET";
/// The HMAC key of the SIEM webhook sink.
pub(crate) const AUDIT_SINK_WEBHOOK_SECRET: &str = "PHIVAULT_AUDIT_SINK_WEBHOOK_SECRET";

/// A variable of the process environment; unset and non-UTF-8 values are absent.
pub(crate) fn get(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A secret from the environment, zeroized when dropped.
pub(crate) fn secret(name: &str) -> Option<Zeroizing<String>> {
    get(name).map(Zeroizing::new)
}

/// `PHIVAULT_INSECURE_FAST_KDF`: `1` makes new keyrings use tiny Argon2id parameters (for
/// test suites that create many vaults); `0` or unset keeps the recommended ones.
pub(crate) fn insecure_fast_kdf() -> Result<bool> {
    match get("PHIVAULT_INSECURE_FAST_KDF").as_deref() {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => bail!("PHIVAULT_INSECURE_FAST_KDF must be 0 or 1, not {other:?}"),
    }
}

/// `PHIVAULT_LOG`: the log filter (`tracing` directives, e.g. `info,phivault=debug`).
pub(crate) fn log_filter() -> Option<String> {
    get("PHIVAULT_LOG")
}

/// The host name syslog lines carry (`HOSTNAME`, else `phivault`).
pub(crate) fn hostname() -> String {
    get("HOSTNAME").unwrap_or_else(|| "phivault".to_owned())
}

/// Sets `field` from the variable `name` read through `get` when it is set. A value that
/// does not parse is an error naming the variable, never a silent default.
pub(crate) fn parse_into<T>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
    field: &mut T,
) -> Result<()>
where
    T: FromStr,
    T::Err: Display,
{
    if let Some(v) = get(name) {
        *field = v
            .trim()
            .parse()
            .map_err(|e| anyhow!("{name}: {v:?} is not a valid value ({e})"))?;
    }
    Ok(())
}

/// Sets an optional text `field` from the variable `name` read through `get` when it is set.
pub(crate) fn text_into(
    get: &dyn Fn(&str) -> Option<String>,
    name: &str,
    field: &mut Option<String>,
) {
    if let Some(v) = get(name) {
        *field = Some(v);
    }
}
