//! `keys export`: the keyring sealed under a separate passphrase, to keep apart from the
//! backups (whoever holds both can read the records), written owner-only and audited.

use std::path::Path;

use phivault_core::crypto::KdfParams;
use phivault_core::{Principal, Vault};

use crate::BackupError;
use crate::files::write_new_private;

/// The shortest export passphrase accepted, in bytes of UTF-8.
pub const MIN_EXPORT_PASSPHRASE_CHARS: usize = 12;

/// Seals `vault`'s keyring under `passphrase` with `kdf` into the new file `to` (which must
/// not exist yet), and audits the export as `keys.export`.
pub async fn export_keyring(
    vault: &Vault,
    to: &Path,
    passphrase: &str,
    kdf: &KdfParams,
) -> Result<(), BackupError> {
    if passphrase.len() < MIN_EXPORT_PASSPHRASE_CHARS {
        return Err(BackupError::WeakPassphrase);
    }
    let sealed = vault.keyring().seal(passphrase.as_bytes(), kdf)?;
    write_new_private(to, &sealed).map_err(|e| match e {
        BackupError::Io { context, source } => BackupError::Io {
            context: format!("{} must not exist yet: {context}", to.display()),
            source,
        },
        other => other,
    })?;
    vault
        .record_backup_event(
            &crate::operator_meta("keys-export"),
            &Principal::local_operator(),
            phivault_core::AuditAction::KeysExport,
            "keyring",
            None,
            true,
        )
        .await?;
    Ok(())
}
