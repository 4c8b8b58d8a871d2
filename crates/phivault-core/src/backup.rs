//! Backups as a domain concept: the signed manifest that describes one backup (vault id,
//! time, the hash of every part, the audit tree head and row counts at backup time), the
//! shred ledger that a restore replays, and the audited operator events for backup and
//! restore. How a snapshot is taken is the storage backend's business; this module knows
//! no SQL and no file layout beyond part names.
//!
//! A manifest is signed with the vault's Ed25519 audit key over a domain label and its
//! canonical JSON with an empty `signature`, so a changed part hash, count or tree head,
//! or a manifest made by anyone without the vault's keyring, fails to verify.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::VaultError;
use crate::error_code::Missing;
use crate::policy::Principal;
use crate::seal::SubjectKeys;
use crate::store::{Store, read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};
use phivault_audit::Outcome;
use phivault_crypto::Keyring;

/// The manifest layout this build writes; older layouts are read through converters.
pub const MANIFEST_FORMAT: u32 = 1;
/// The manifest's file name inside a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Domain label signed before the manifest bytes; `v1` versions the signed layout.
const MANIFEST_DOMAIN: &[u8] = b"phivault-backup-manifest-v1\n";
/// Default days a backup is kept before pruning (the upper end of HIPAA-typical 7-35 days).
pub const DEFAULT_RETENTION_DAYS: u32 = 35;

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPart {
    /// File name inside the backup directory (no path separators).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// The audit log as it stood in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditAtBackup {
    /// Entries in the log.
    pub tree_size: u64,
    /// RFC 9162 Merkle root over those entries, lowercase hex (empty for an empty log).
    pub root_hash: String,
    /// Hash of the last chain entry, lowercase hex (empty for an empty log).
    pub chain_head: String,
}

/// A subject whose data key was destroyed (crypto-shredding); a restore deletes its key
/// again so that erased data never comes back with an older backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShredEntry {
    /// The opaque subject id (for a user's own data key, `_user:<id>`).
    pub subject: String,
    /// When the key was destroyed.
    #[serde(with = "time::serde::rfc3339")]
    pub shredded_at: OffsetDateTime,
}

/// What a backup holds, signed by the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`MANIFEST_FORMAT`] of the writer.
    pub format: u32,
    /// The vault's id (`meta.vault_id`).
    pub vault_id: String,
    /// This backup's id.
    pub backup_id: String,
    /// When the snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The storage backend the snapshot comes from (`sqlite`).
    pub backend: String,
    /// The backend's schema version in the snapshot.
    pub schema_version: u32,
    /// Every file of the backup except the manifest.
    pub parts: Vec<BackupPart>,
    /// The audit tree head at backup time.
    pub audit: AuditAtBackup,
    /// Rows per table in the snapshot.
    pub counts: BTreeMap<String, u64>,
    /// Key-encryption key versions the keyring must hold to read the backup.
    pub kek_versions: Vec<u32>,
    /// The point-in-time-recovery journal segment that continues this backup, relative to
    /// the backup location (`journal/<backup_id>.pvj`); absent for a backup without one.
    /// Left out of the JSON when absent, so manifests without a journal sign as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// Ed25519 signature by the vault's audit key, lowercase hex; empty while unsigned.
    #[serde(default)]
    pub signature: String,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the manifest shape.
    #[error("the manifest is unreadable: {0}")]
    Malformed(String),
    /// Written by a newer build.
    #[error("manifest format {0} is newer than this build supports ({MANIFEST_FORMAT})")]
    TooNew(u32),
    /// A part name that could escape the backup directory.
    #[error("the manifest names an unsafe part {0:?}")]
    UnsafePart(String),
    /// The signature does not verify under the given keyring.
    #[error(
        "the manifest signature is invalid: it was changed after signing, or signed by another vault's key"
    )]
    BadSignature,
}

impl BackupManifest {
    /// The bytes that are signed: the domain label, then the JSON with an empty signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        let mut out = MANIFEST_DOMAIN.to_vec();
        // Serialising a struct of strings, numbers and maps cannot fail; an empty body would
        // only make the signature fail to verify.
        out.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
        out
    }

    /// Signs the manifest with the vault's audit key.
    pub fn sign(&mut self, keyring: &Keyring) {
        let sig = keyring.audit_signing_key().sign(&self.signed_bytes());
        self.signature = hex(&sig.to_bytes());
    }

    /// Checks the signature under an audit verifying key (strict Ed25519).
    pub fn verify_signature(&self, public_key: &[u8; 32]) -> Result<(), ManifestError> {
        let vk = VerifyingKey::from_bytes(public_key).map_err(|_| ManifestError::BadSignature)?;
        let raw = unhex(&self.signature).ok_or(ManifestError::BadSignature)?;
        let raw: [u8; 64] = raw.try_into().map_err(|_| ManifestError::BadSignature)?;
        let sig = Signature::from_bytes(&raw);
        vk.verify_strict(&self.signed_bytes(), &sig)
            .map_err(|_| ManifestError::BadSignature)
    }

    /// The manifest as pretty JSON (the file format).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses a manifest file and checks its format and part names (not its signature).
    pub fn parse(bytes: &[u8]) -> Result<BackupManifest, ManifestError> {
        // The format is read first, so a newer layout is named as such, not as malformed.
        let probe: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        let format = probe
            .get("format")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ManifestError::Malformed("no format".to_owned()))?;
        let format = u32::try_from(format).unwrap_or(u32::MAX);
        if format > MANIFEST_FORMAT {
            return Err(ManifestError::TooNew(format));
        }
        let m: BackupManifest =
            serde_json::from_value(probe).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        for p in &m.parts {
            let safe = !p.name.is_empty()
                && p.name != MANIFEST_FILE
                && !p.name.starts_with('.')
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !safe {
                return Err(ManifestError::UnsafePart(p.name.clone()));
            }
        }
        Ok(m)
    }

    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&BackupPart> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The audit log's size, Merkle root and chain head in `store` (a snapshot, typically).
pub async fn audit_at(store: &dyn Store) -> Result<AuditAtBackup, VaultError> {
    let head = read_tx(store, |tx| Ok(tx.audit_head()?)).await?;
    let Some((size, chain_head)) = head else {
        return Ok(AuditAtBackup::default());
    };
    let proof = crate::audit_log::prove_consistency(store, size, Some(size)).await?;
    Ok(AuditAtBackup {
        tree_size: size,
        root_hash: hex(&proof.to_root),
        chain_head: hex(&chain_head),
    })
}

/// The vault id stored in `store`.
pub async fn vault_id(store: &dyn Store) -> Result<String, VaultError> {
    read_tx(store, |tx| Ok(tx.get_meta(crate::store::META_VAULT_ID)?))
        .await?
        .ok_or(VaultError::NotFound(Missing::VaultId.as_str()))
}

/// Every entry of the shred ledger in `store`, by subject.
pub async fn shred_ledger(store: &dyn Store) -> Result<Vec<ShredEntry>, VaultError> {
    read_tx(store, |tx| Ok(tx.list_shred_ledger()?)).await
}

/// What replaying a shred ledger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayOutcome {
    /// Ledger entries applied (each recorded in the store's own ledger).
    pub entries: u64,
    /// Data keys that were present and are now deleted.
    pub keys_deleted: u64,
}

/// Shreds every subject the ledger names in `store`, in one transaction: records it in the
/// store's own ledger, deletes its data key and drops its blind-index entries, exactly as
/// the erasure did, so a subject erased after a backup stays unreadable and unfindable after
/// restoring it (45 CFR 164.310(d)(2)(i)).
pub async fn replay_shred_ledger(
    store: &dyn Store,
    entries: Vec<ShredEntry>,
) -> Result<ReplayOutcome, VaultError> {
    write_tx(store, move |tx| {
        let mut out = ReplayOutcome::default();
        for e in &entries {
            if SubjectKeys::shred(tx, &e.subject, e.shredded_at)?.key_deleted {
                out.keys_deleted += 1;
            }
            out.entries += 1;
        }
        Ok(out)
    })
    .await
}

/// Merges ledgers: one entry per subject, the earliest erasure time kept.
pub fn merge_ledgers(ledgers: impl IntoIterator<Item = ShredEntry>) -> Vec<ShredEntry> {
    let mut by_subject: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    for e in ledgers {
        by_subject
            .entry(e.subject)
            .and_modify(|t| *t = (*t).min(e.shredded_at))
            .or_insert(e.shredded_at);
    }
    by_subject
        .into_iter()
        .map(|(subject, shredded_at)| ShredEntry {
            subject,
            shredded_at,
        })
        .collect()
}

/// Which backups fall outside a retention window: those created before `now - days`,
/// always keeping the newest one so that pruning never leaves no backup at all.
pub fn expired(created: &[(String, OffsetDateTime)], now: OffsetDateTime, days: u32) -> Vec<&str> {
    let cutoff = now - time::Duration::days(i64::from(days));
    let newest = created.iter().map(|(_, t)| *t).max();
    created
        .iter()
        .filter(|(_, t)| *t < cutoff && Some(*t) != newest)
        .map(|(name, _)| name.as_str())
        .collect()
}

impl Vault {
    /// Appends an operator event about backups (`backup.create`, `backup.restore`,
    /// `backup.verify`, `backup.prune`, `keys.export`) to this vault's audit log.
    pub async fn record_backup_event(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: crate::AuditAction,
        target: &str,
        count: Option<u64>,
        ok: bool,
    ) -> Result<(), VaultError> {
        let mut ev = self.event_named(meta, Some(principal), action.as_str());
        ev.target = Some(target.to_owned());
        ev.count = count;
        if !ok {
            ev.outcome = Outcome::Error;
        }
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> BackupManifest {
        BackupManifest {
            format: MANIFEST_FORMAT,
            vault_id: "v".into(),
            backup_id: "b".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            backend: "sqlite".into(),
            schema_version: 4,
            parts: vec![BackupPart {
                name: "phivault.db".into(),
                size: 3,
                sha256: "00".into(),
            }],
            audit: AuditAtBackup::default(),
            counts: BTreeMap::from([("audit_log".to_owned(), 3)]),
            kek_versions: vec![1],
            journal: None,
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_manifest_verifies_and_any_change_or_other_key_fails() {
        let keyring = Keyring::generate().unwrap();
        let mut m = manifest();
        m.sign(&keyring);
        let pk = keyring.audit_verifying_key();
        m.verify_signature(&pk).unwrap();
        let parsed = BackupManifest::parse(&m.to_json()).unwrap();
        parsed.verify_signature(&pk).unwrap();

        let mut changed = m.clone();
        changed.counts.insert("audit_log".into(), 4);
        assert_eq!(
            changed.verify_signature(&pk),
            Err(ManifestError::BadSignature)
        );
        let other = Keyring::generate().unwrap();
        assert_eq!(
            m.verify_signature(&other.audit_verifying_key()),
            Err(ManifestError::BadSignature)
        );
    }

    #[test]
    fn unsafe_part_names_and_newer_formats_are_refused() {
        let mut m = manifest();
        m.parts[0].name = "../x".into();
        assert!(matches!(
            BackupManifest::parse(&m.to_json()),
            Err(ManifestError::UnsafePart(_))
        ));
        let mut m = manifest();
        m.format = MANIFEST_FORMAT + 1;
        assert!(matches!(
            BackupManifest::parse(&m.to_json()),
            Err(ManifestError::TooNew(_))
        ));
    }

    #[test]
    fn retention_prunes_old_backups_but_keeps_the_newest() {
        let day = time::Duration::days(1);
        let now = OffsetDateTime::UNIX_EPOCH + day * 100;
        let created = vec![
            ("a".to_owned(), now - day * 40),
            ("b".to_owned(), now - day * 36),
            ("c".to_owned(), now - day * 2),
        ];
        assert_eq!(expired(&created, now, 35), vec!["a", "b"]);
        assert!(expired(&created[..1], now, 35).is_empty());
    }

    #[test]
    fn ledgers_merge_one_entry_per_subject_at_the_earliest_time() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let e = |s: &str, d: i64| ShredEntry {
            subject: s.into(),
            shredded_at: t + time::Duration::days(d),
        };
        let merged = merge_ledgers(vec![e("b", 2), e("a", 5), e("a", 3)]);
        assert_eq!(merged, vec![e("a", 3), e("b", 2)]);
    }
}
