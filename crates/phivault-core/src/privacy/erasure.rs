//! Erasure by crypto-shredding: `seal::SubjectKeys::shred` in one audited transaction,
//! refused under a legal hold, then freed pages pushed out of the store's log.

use time::OffsetDateTime;

use super::active_holds;
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, Missing};
use crate::ids::SubjectId;
use crate::policy::{Action, Principal};
use crate::seal::SubjectKeys;
use crate::vault::{RequestMeta, Vault};

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReport {
    /// The subject.
    pub subject: String,
    /// Records made unreadable (their ciphertext stays in place).
    pub records: u64,
    /// When.
    pub erased_at: OffsetDateTime,
    /// Whether freed pages were pushed out of the store's log too.
    pub scrubbed: bool,
}

impl Vault {
    /// Erases a subject by crypto-shredding: its data key is destroyed, so every copy of
    /// its records (database, replicas, backups) can no longer be opened; the ciphertext
    /// stays in place, its blind-index entries are dropped, and the subject enters the
    /// shred ledger so that no restore can bring the key back. Refused under a legal hold.
    /// Needs `privacy:manage` and a recent login.
    pub async fn erase_subject(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
    ) -> Result<ErasureReport, VaultError> {
        let ev = self.privacy_event(
            meta,
            principal,
            AuditAction::SubjectErase,
            Some(subject.as_str()),
        );
        self.authorize(principal, Action::EraseSubject, &ev).await?;
        let now = self.clock().now();
        let subj = subject.to_string();
        let records = self
            .audited(ev, move |tx, ev| {
                if tx.is_shredded(&subj)? {
                    return Err(VaultError::Erased);
                }
                if !active_holds(tx, Some(&subj))?.is_empty() {
                    return Err(VaultError::Conflict(ErrorCode::LegalHold.as_str()));
                }
                let shredded = SubjectKeys::shred(tx, &subj, now)?;
                let count = shredded.records;
                if !shredded.key_deleted && count == 0 {
                    // Nothing was ever stored: the transaction, ledger entry included, rolls back.
                    return Err(VaultError::NotFound(Missing::Subject.as_str()));
                }
                ev.count = Some(count);
                Ok(count)
            })
            .await?;
        let scrubbed = match self.store().scrub_freed().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "freed pages not scrubbed after an erasure");
                false
            }
        };
        Ok(ErasureReport {
            subject: subject.to_string(),
            records,
            erased_at: now,
            scrubbed,
        })
    }
}
