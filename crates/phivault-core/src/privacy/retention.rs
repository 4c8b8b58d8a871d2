//! Retention: per-collection periods kept in `meta`, and disposal of expired records
//! (versions, index entries and head together) except under a legal hold.

use phivault_audit::AuditEvent;
use time::Duration;

use super::{MAX_RETENTION_DAYS, PAGE, RETENTION_KEY, active_holds};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::ErrorCode;
use crate::ids::{CollectionName, RecordId};
use crate::policy::{Action, Principal};
use crate::store::{ReadTx, RecordHead, read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

/// What a retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Collections with a retention period.
    pub policies: u64,
    /// Records disposed of.
    pub disposed: u64,
    /// Expired records kept because their subject is under a legal hold.
    pub held: u64,
}

impl Vault {
    /// Sets a collection's retention period: records unchanged for `days` (1 to
    /// [`MAX_RETENTION_DAYS`]) are disposed of by [`Vault::apply_retention`]. `None` removes
    /// the period (keep for ever).
    pub async fn set_retention(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        days: Option<u32>,
    ) -> Result<(), VaultError> {
        let mut ev = self.privacy_event(meta, principal, AuditAction::PrivacyRetentionSet, None);
        ev.collection = Some(collection.to_string());
        ev.reason = Some(days.map_or("none".to_owned(), |d| format!("days:{d}")));
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        self.schema_or_reject(collection, &ev).await?;
        // A period of zero would dispose of every record at the next run, and one past the
        // maximum is a typo or an attempt to reach the calendar's edge.
        if days.is_some_and(|d| d == 0 || d > MAX_RETENTION_DAYS) {
            return self
                .reject(
                    ev,
                    VaultError::BadRequest(ErrorCode::InvalidRetention.as_str()),
                )
                .await;
        }
        let key = format!("{RETENTION_KEY}{collection}");
        self.audited(ev, move |tx, _| {
            tx.set_meta(&key, &days.map_or(String::new(), |d| d.to_string()))?;
            Ok(())
        })
        .await
    }

    /// Every collection's retention period in days (collections without one are left out).
    pub async fn retention_policies(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<Vec<(String, u32)>, VaultError> {
        let ev = self.privacy_event(meta, principal, AuditAction::PrivacyRetentionList, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        self.audited(ev, |tx, _| policies(tx)).await
    }

    /// Disposes of every record past its collection's retention period, except those of
    /// subjects under a legal hold: versions, index entries and head are deleted for good
    /// (secure deletion zeroes the freed pages). One audit event per record disposed.
    pub async fn apply_retention(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
    ) -> Result<RetentionReport, VaultError> {
        let ev = self.privacy_event(meta, principal, AuditAction::PrivacyRetentionRun, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let now = self.clock().now();
        let setup = read_tx(&**self.store(), |tx| {
            Ok((policies(tx)?, active_holds(tx, None)?))
        })
        .await;
        let (policies, holds) = match setup {
            Ok(v) => v,
            Err(e) => return self.reject(ev, e).await,
        };
        let mut report = RetentionReport {
            policies: policies.len() as u64,
            ..RetentionReport::default()
        };
        for (collection, days) in policies {
            // A period reaching past the earliest representable time expires nothing; plain
            // subtraction would panic there and stop retention for every collection.
            let Some(before) = now.checked_sub(Duration::days(i64::from(days))) else {
                continue;
            };
            let mut cursor: Option<RecordId> = None;
            loop {
                let (c, after) = (collection.clone(), cursor);
                let heads = read_tx(&**self.store(), move |tx| {
                    Ok(tx.records_updated_before(&c, before, after.as_ref(), PAGE)?)
                })
                .await?;
                let Some(last) = heads.last() else { break };
                cursor = Some(last.id);
                let full = heads.len() == PAGE;
                let (due, held): (Vec<RecordHead>, Vec<RecordHead>) =
                    heads.into_iter().partition(|h| !holds.contains(&h.subject));
                report.held += held.len() as u64;
                let events: Vec<AuditEvent> = due
                    .iter()
                    .map(|h| {
                        let mut e = self.event(meta, Some(principal), AuditAction::RecordDispose);
                        e.collection = Some(h.collection.clone());
                        e.record_id = Some(h.id.to_string());
                        e.subject = Some(h.subject.clone());
                        e.version = Some(h.version);
                        e.reason = Some(format!("retention:{days}d"));
                        e
                    })
                    .collect();
                let disposed = write_tx(&**self.store(), move |tx| {
                    let mut n = 0u64;
                    for (h, e) in due.iter().zip(&events) {
                        // Re-checked in the write: a record changed since the scan stays.
                        match tx.get_record_head(&h.collection, &h.id)? {
                            Some(cur) if cur.updated_at < before => {}
                            _ => continue,
                        }
                        if tx.dispose_record(&h.collection, &h.id)? {
                            append_audit(tx, e)?;
                            n += 1;
                        }
                    }
                    Ok(n)
                })
                .await?;
                report.disposed += disposed;
                if !full {
                    break;
                }
            }
        }
        let mut ev = ev;
        ev.count = Some(report.disposed);
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(report)
    }
}

fn policies(tx: &mut dyn ReadTx) -> Result<Vec<(String, u32)>, VaultError> {
    let mut out = Vec::new();
    for c in tx.list_collections()? {
        if let Some(v) = tx.get_meta(&format!("{RETENTION_KEY}{}", c.name))?
            && let Ok(days) = v.parse::<u32>()
        {
            out.push((c.name, days));
        }
    }
    Ok(out)
}
