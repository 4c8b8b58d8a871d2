//! The audit chain as the vault writes and checks it: appending one event (chain entry
//! and Merkle leaf together), and walking the chain for `audit verify`.

use phivault_audit::{AuditEntry, AuditEvent, ChainVerifier, GENESIS_HASH, Outcome};

use super::{RequestMeta, Vault};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::policy::{Action, Principal};
use crate::store::{Store, WriteTx, read_tx, write_tx};

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The last entry's hash (hex), if any.
    pub head_hash: Option<String>,
    /// The first broken entry, if any: its sequence number and what is wrong.
    pub first_break: Option<(u64, String)>,
}

/// Appends `event` to the chain and the Merkle tree. It does not audit anything itself:
/// only the vault's audited paths call it, inside the transaction they complete.
pub(crate) fn append_audit(tx: &mut dyn WriteTx, event: &AuditEvent) -> Result<(), VaultError> {
    let (seq, prev) = tx
        .audit_head()
        .map_err(|_| VaultError::AuditUnavailable)?
        .unwrap_or((0, GENESIS_HASH));
    let entry = AuditEntry::chain(seq + 1, prev, event);
    tx.append_audit(&entry)
        .map_err(|_| VaultError::AuditUnavailable)?;
    crate::audit_log::append_merkle(tx, &entry).map_err(|_| VaultError::AuditUnavailable)
}

impl Vault {
    /// Walks the whole audit chain and reports the first broken entry, if any.
    pub async fn verify_audit(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<AuditVerifyReport, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::AuditVerify);
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        // The chain, the Merkle leaves and every stored signed tree head.
        let report =
            crate::audit_log::verify_report(&*self.store, &self.audit_public_key()).await?;
        let mut ev = ev;
        ev.count = Some(report.entries);
        if report.first_break.is_some() {
            ev.outcome = Outcome::Error;
            ev.reason = Some("audit_chain_broken".to_owned());
        }
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(report)
    }
}

/// Walks the audit chain in the store from the first entry; used by the vault and by
/// offline tools that must not append to the log they check.
pub async fn verify_chain(store: &dyn Store) -> Result<AuditVerifyReport, VaultError> {
    const PAGE: usize = 2000;
    let mut verifier = ChainVerifier::new();
    let mut after = 0u64;
    loop {
        let page = read_tx(store, move |tx| Ok(tx.audit_entries(after, PAGE)?)).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            if let Err(b) = verifier.push(entry) {
                return Ok(AuditVerifyReport {
                    entries: verifier.verified(),
                    head_hash: None,
                    first_break: Some((b.seq, b.to_string())),
                });
            }
        }
    }
    let (seq, hash) = verifier.head();
    Ok(AuditVerifyReport {
        entries: verifier.verified(),
        head_hash: (seq > 0).then(|| hex_encode(&hash)),
        first_break: None,
    })
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
