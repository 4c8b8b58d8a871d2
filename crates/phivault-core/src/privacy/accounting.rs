//! The accounting of disclosures (164.528), derived from the audit log (filtered by the
//! exclusions of (a)(1)) and merged with the disclosures recorded by hand.

use std::collections::BTreeMap;

use phivault_audit::Outcome;
use time::{Duration, OffsetDateTime};

use super::{ACCOUNTING_YEARS, ItemKind, open_detail, parse_meta};
use crate::action::AuditAction;
use crate::audit_log::{AuditQuery, scan};
use crate::error::VaultError;
use crate::ids::SubjectId;
use crate::policy::{Action, Principal};
use crate::seal::SubjectKeys;
use crate::store::{read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

/// One entry of an accounting of disclosures (164.528(b)(2)).
#[derive(Clone, PartialEq)]
pub struct Disclosure {
    /// When.
    pub at: OffsetDateTime,
    /// `audit` (found in the audit log) or `manual` (recorded by hand).
    pub source: &'static str,
    /// The audit sequence number or the item id.
    pub reference: String,
    /// Who received it: the recorded recipient, or the accessing principal's id.
    pub recipient: String,
    /// The purpose of use.
    pub purpose: String,
    /// Collections released.
    pub collections: Vec<String>,
    /// Field names released.
    pub fields: Vec<String>,
    /// The recorded statement, for manual entries.
    pub description: Option<String>,
}

/// One exclusion of 164.528(a)(1) the accounting applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The purpose of use excluded.
    pub purpose: String,
    /// The paragraph that excludes it.
    pub paragraph: &'static str,
    /// Why, in words.
    pub explanation: &'static str,
    /// How many accesses it left out.
    pub events: u64,
}

/// An accounting of disclosures for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Accounting {
    /// The subject.
    pub subject: String,
    /// The start of the period.
    pub from: OffsetDateTime,
    /// The end of the period (now).
    pub to: OffsetDateTime,
    /// The disclosures, oldest first.
    pub disclosures: Vec<Disclosure>,
    /// What was left out and why.
    pub exclusions: Vec<Exclusion>,
}

/// Why an access under `purpose` is left out of an accounting, if it is (164.528(a)(1)).
pub fn exclusion(purpose: &str) -> Option<(&'static str, &'static str)> {
    match purpose {
        "TREAT" | "ETREAT" | "HPAYMT" | "HOPERAT" => Some((
            "164.528(a)(1)(i)",
            "to carry out treatment, payment or health care operations",
        )),
        "SYSADMIN" => Some((
            "164.528(a)(1)(i)",
            "system administration is a health care operation",
        )),
        "PATRQT" => Some(("164.528(a)(1)(ii)", "to the individual, at their request")),
        _ => None,
    }
}

/// Audit actions that release a subject's record data.
const DISCLOSING_ACTIONS: [AuditAction; 5] = [
    AuditAction::RecordRead,
    AuditAction::RecordReadVersion,
    AuditAction::RecordHistory,
    AuditAction::SubjectListRecords,
    AuditAction::SubjectExport,
];

impl Vault {
    /// The accounting of disclosures for a subject over the last six years (164.528):
    /// accesses in the audit log under purposes the rule does not exclude, plus disclosures
    /// recorded by hand. The exclusions applied are listed with their paragraph.
    pub async fn accounting(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        since: Option<OffsetDateTime>,
    ) -> Result<Accounting, VaultError> {
        let ev = self.privacy_event(
            meta,
            principal,
            AuditAction::PrivacyAccounting,
            Some(subject.as_str()),
        );
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let now = self.clock().now();
        let floor = now - Duration::days(365 * ACCOUNTING_YEARS + ACCOUNTING_YEARS / 4 + 1);
        let from = since.map_or(floor, |s| s.max(floor));
        let query = AuditQuery {
            subject: Some(subject.to_string()),
            outcome: Some(Outcome::Success),
            since: Some(from),
            ..AuditQuery::default()
        };
        let mut disclosures = Vec::new();
        let mut excluded: BTreeMap<String, u64> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = match scan(&**self.store(), &query, after, 10_000).await {
                Ok(p) => p,
                Err(e) => return self.reject(ev, e).await,
            };
            for (seq, e) in page.events {
                if !DISCLOSING_ACTIONS.iter().any(|a| a.as_str() == e.action) {
                    continue;
                }
                let purpose = e.purpose.clone().unwrap_or_default();
                if exclusion(&purpose).is_some() {
                    *excluded.entry(purpose).or_default() += 1;
                    continue;
                }
                disclosures.push(Disclosure {
                    at: e.time,
                    source: "audit",
                    reference: seq.to_string(),
                    recipient: e.actor.id.clone().unwrap_or_default(),
                    purpose,
                    collections: e.collection.clone().into_iter().collect(),
                    fields: e.fields.clone(),
                    description: None,
                });
            }
            match page.next {
                Some(n) => after = n,
                None => break,
            }
        }
        let keyring = self.keyring();
        let subj = subject.to_string();
        let manual = read_tx(&**self.store(), move |tx| {
            if tx.get_subject_key(&subj)?.is_none() && !tx.is_shredded(&subj)? {
                return Ok(Vec::new()); // nothing was ever stored about the subject
            }
            // An erased subject's accounting cannot be produced: its entries are sealed.
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &subj)?;
            let mut out = Vec::new();
            for row in tx.list_privacy_items(ItemKind::Disclosure.as_str(), Some(&subj))? {
                let m = parse_meta(&row)?;
                let d = open_detail(&dek, &row)?;
                out.push(Disclosure {
                    at: m.disclosed_at.unwrap_or(row.created_at),
                    source: "manual",
                    reference: row.id.clone(),
                    recipient: d.recipient.unwrap_or_default(),
                    purpose: m
                        .purposes
                        .first()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                    collections: m.collections,
                    fields: m.fields,
                    description: d.description,
                });
            }
            Ok(out)
        })
        .await;
        let manual = match manual {
            Ok(m) => m,
            Err(e) => return self.reject(ev, e).await,
        };
        disclosures.extend(manual.into_iter().filter(|d| d.at >= from));
        disclosures.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.reference.cmp(&b.reference)));
        let exclusions = excluded
            .into_iter()
            .filter_map(|(purpose, events)| {
                exclusion(&purpose).map(|(paragraph, explanation)| Exclusion {
                    purpose,
                    paragraph,
                    explanation,
                    events,
                })
            })
            .collect();
        let mut ev = ev;
        ev.count = Some(disclosures.len() as u64);
        write_tx(&**self.store(), move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(Accounting {
            subject: subject.to_string(),
            from,
            to: now,
            disclosures,
            exclusions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_follow_164_528_a_1() {
        for p in ["TREAT", "ETREAT", "HPAYMT", "HOPERAT", "SYSADMIN", "PATRQT"] {
            assert!(exclusion(p).is_some(), "{p}");
        }
        for p in ["PUBHLTH", "HLEGAL", "HRESCH", ""] {
            assert!(exclusion(p).is_none(), "{p}");
        }
    }
}

crate::phi::redacted_debug!(Disclosure {
    at, source, reference, purpose, collections, fields
} hide { recipient, description });
