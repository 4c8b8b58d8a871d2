//! The [`Vault`] methods over the audit log: tree heads, audited proofs, auditor queries
//! and exports, retention pruning and verification.

use phivault_audit::{AuditEvent, Outcome, SignedTreeHead};

use super::query::{
    AuditPage, AuditQuery, ExportFormat, LogVerifyReport, encode_export, scan, verify_log,
};
use super::tree::{
    ConsistencyProof, InclusionProof, consistency_in_tx, inclusion_in_tx, sign_in_tx,
};
use super::{MAX_EXPORT, PAGE, PRUNED_META, parse_pruned};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::Missing;
use crate::policy::{Action, Principal};
use crate::store::{read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

impl Vault {
    /// The Ed25519 key that verifies signed tree heads.
    pub fn audit_public_key(&self) -> [u8; 32] {
        self.keyring().audit_verifying_key()
    }

    /// Signs a tree head over the whole log now, unless the latest head already covers it
    /// (system action: the periodic signer and witnesses call this). Returns the latest head
    /// and whether it is new; `None` while the log is empty.
    pub async fn sign_tree_head(&self) -> Result<Option<(SignedTreeHead, bool)>, VaultError> {
        let keyring = self.keyring();
        let now = self.clock().now();
        write_tx(&**self.store(), move |tx| sign_in_tx(tx, &keyring, now)).await
    }

    /// How many entries the log holds beyond its latest signed head, and that head's time.
    pub async fn unsigned_tail(&self) -> Result<(u64, Option<u64>), VaultError> {
        read_tx(&**self.store(), |tx| {
            let size = tx.audit_head()?.map_or(0, |(s, _)| s);
            let latest = tx.latest_tree_head()?;
            let signed = latest.as_ref().map_or(0, |h| h.tree_size);
            Ok((size.saturating_sub(signed), latest.map(|h| h.timestamp_ms)))
        })
        .await
    }

    /// The latest signed tree head; with `fresh`, one signed now over the whole log (the
    /// request's own event follows it). Audited; needs `audit:read`.
    pub async fn tree_head(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        fresh: bool,
    ) -> Result<SignedTreeHead, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::AuditTreeHead);
        ev.target = Some("audit_log".to_owned());
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        self.audited(ev, move |tx, ev| {
            let head = if fresh {
                sign_in_tx(tx, &keyring, now)?.map(|(h, _)| h)
            } else {
                tx.latest_tree_head()?
            };
            let head = head.ok_or(VaultError::NotFound(Missing::TreeHead.as_str()))?;
            ev.count = Some(head.tree_size);
            Ok(head)
        })
        .await
    }

    /// The inclusion proof of entry `seq` in the tree of `tree_size` entries (default: the
    /// latest signed head). Audited; needs `audit:read`.
    pub async fn inclusion_proof(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::AuditProofInclusion);
        ev.target = Some(format!("audit_seq:{seq}"));
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        self.audited(ev, move |tx, _ev| inclusion_in_tx(tx, seq, tree_size))
            .await
    }

    /// The consistency proof from the tree of `from` entries to the tree of `to` entries
    /// (default: the latest signed head). Audited; needs `audit:read`.
    pub async fn consistency_proof(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::AuditProofConsistency);
        ev.target = Some(format!("audit_tree:{from}"));
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        self.audited(ev, move |tx, _ev| consistency_in_tx(tx, from, to))
            .await
    }

    /// One page of events matching `query` after cursor `after` (a seq; 0 for the start).
    /// Audited (after the scan, before the answer); needs `audit:read`.
    pub async fn query_audit(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        query: &AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<AuditPage, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::AuditQuery);
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        let limit = limit.clamp(1, self.config().max_results.max(1000));
        let page = match scan(&**self.store(), query, after, limit).await {
            Ok(p) => p,
            Err(e) => return self.reject(ev, e).await,
        };
        let mut ev = ev;
        ev.count = Some(page.events.len() as u64);
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(page)
    }

    /// Every event matching `query` (up to [`MAX_EXPORT`]), encoded as `format`. The export
    /// is itself audited before it is returned; needs `audit:read`.
    pub async fn export_audit(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        query: &AuditQuery,
        format: ExportFormat,
    ) -> Result<String, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::AuditExport);
        ev.target = Some(
            match format {
                ExportFormat::Csv => "csv",
                ExportFormat::Jsonl => "jsonl",
            }
            .to_owned(),
        );
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        let mut events = Vec::new();
        let mut after = 0u64;
        loop {
            let page = match scan(&**self.store(), query, after, MAX_EXPORT - events.len()).await {
                Ok(p) => p,
                Err(e) => return self.reject(ev, e).await,
            };
            events.extend(page.events);
            match page.next {
                Some(n) if events.len() < MAX_EXPORT => after = n,
                _ => break,
            }
        }
        ev.count = Some(events.len() as u64);
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(encode_export(&events, format))
    }

    /// Retention: deletes the entries older than `retention` up to the largest signed tree
    /// head below that age, so the rest stays verifiable against that head (its root is
    /// rebuilt from the kept interior nodes, and the next entry links to its chain hash).
    /// Audited as `audit.prune` by the system. Returns the pruned-through seq, if any.
    pub async fn prune_audit(&self, retention: time::Duration) -> Result<Option<u64>, VaultError> {
        let now = self.clock().now();
        // A period reaching past the earliest representable time keeps everything.
        let Some(cutoff) = now.checked_sub(retention) else {
            return Ok(None);
        };
        let mut ev = AuditEvent::new(
            now,
            format!("system-prune-{}", now.unix_timestamp()),
            phivault_audit::Actor::system(),
            "none",
            AuditAction::AuditPrune.as_str(),
            Outcome::Success,
        );
        ev.target = Some("audit_log".to_owned());
        write_tx(&**self.store(), move |tx| {
            let done = tx
                .get_meta(PRUNED_META)?
                .as_deref()
                .and_then(parse_pruned)
                .map_or(0, |(n, _)| n);
            // The largest signed head whose last entry is older than the cutoff.
            let mut best: Option<u64> = None;
            let mut after = done;
            'scan: loop {
                let heads = tx.tree_heads(after, PAGE)?;
                let Some(last) = heads.last().map(|h| h.tree_size) else {
                    break;
                };
                for h in heads {
                    let entry = tx.audit_entries(h.tree_size - 1, 1)?;
                    let old = entry
                        .first()
                        .filter(|e| e.seq == h.tree_size)
                        .and_then(|e| e.event().ok())
                        .is_some_and(|e| e.time < cutoff);
                    if !old {
                        break 'scan;
                    }
                    best = Some(h.tree_size);
                }
                after = last;
            }
            let Some(through) = best.filter(|b| *b > done) else {
                return Ok(None);
            };
            let chain_hash = tx
                .audit_entries(through - 1, 1)?
                .into_iter()
                .find(|e| e.seq == through)
                .ok_or(VaultError::Integrity)?
                .hash;
            let n = tx.prune_audit(through)?;
            let hex: String = chain_hash.iter().map(|b| format!("{b:02x}")).collect();
            tx.set_meta(PRUNED_META, &format!("{through} {hex}"))?;
            ev.count = Some(n);
            ev.version = Some(through);
            append_audit(tx, &ev)?;
            Ok(Some(through))
        })
        .await
    }

    /// Verifies the whole log against its stored signed heads and `external` ones.
    /// Audited; needs `audit:read`.
    pub async fn verify_log(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        external: &[SignedTreeHead],
    ) -> Result<LogVerifyReport, VaultError> {
        let ev = self.event(meta, Some(principal), AuditAction::AuditVerify);
        self.authorize(principal, Action::ReadAudit, &ev).await?;
        let key = self.audit_public_key();
        let report = verify_log(&**self.store(), Some(&key), external).await?;
        let mut ev = ev;
        ev.count = Some(report.entries);
        if !report.ok() {
            ev.outcome = Outcome::Error;
            ev.reason = Some("audit_log_broken".to_owned());
        }
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(report)
    }
}
