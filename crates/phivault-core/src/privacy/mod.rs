//! Individuals' rights under the HIPAA Privacy Rule, answered from the vault's own data:
//! access requests and the right-of-access export (45 CFR 164.524), amendments (164.526),
//! the accounting of disclosures (164.528), restrictions and confidential communications
//! (164.522), retention with legal holds and disposal, and erasure by crypto-shredding.
//!
//! Every item is stored with its PHI (requested changes, statements, recipients, reasons)
//! sealed under the subject's data key, so an erased subject's items become unreadable
//! with its records. Due dates come from the injected clock.

use std::collections::HashSet;

use phivault_audit::AuditEvent;
use phivault_crypto::{DataKey, Keyring};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault, Missing};
use crate::ids::{CollectionName, RecordId};
use crate::policy::{Action, Principal, PurposeOfUse};
use crate::privacy_store::PrivacyItemRow;
use crate::seal::{Aad, SubjectKeys};
use crate::store::{ReadTx, WriteTx};
use crate::vault::{RequestMeta, Vault};

mod accounting;
mod amendments;
mod erasure;
mod export;
mod items;
mod kinds;
mod requests;
mod retention;

pub use accounting::{Accounting, Disclosure, Exclusion, exclusion};
pub use erasure::ErasureReport;
pub use export::{EXPORT_STYLE, ExportedRecord, ExportedVersion, SubjectExport};
pub use kinds::{ItemKind, ItemStatus, status};
pub use retention::RetentionReport;

/// Days to act on a request for access (164.524(b)(2)(i)).
pub const ACCESS_DUE_DAYS: i64 = 30;
/// Days to act on a request for amendment (164.526(b)(2)(i)).
pub const AMENDMENT_DUE_DAYS: i64 = 60;
/// The one extension either kind of request may get (164.524(b)(2)(ii), 164.526(b)(2)(ii)).
pub const EXTENSION_DAYS: i64 = 30;
/// How far back an accounting of disclosures reaches (164.528(a)(1)).
pub const ACCOUNTING_YEARS: i64 = 6;
/// The longest retention period a collection takes, in days (100 years): longer than any
/// records-retention rule, and far enough inside the calendar that `now - period` is
/// always representable. The wire contract declares the same range (1..=36525).
pub const MAX_RETENTION_DAYS: u32 = 36_525;
/// The longest free text (reasons, statements) an item takes.
pub const MAX_TEXT: usize = 10_000;
/// Record heads handled per transaction by exports, erasure and retention.
const PAGE: usize = 500;
/// The `meta` key prefix under which a collection's retention period (days) is kept.
const RETENTION_KEY: &str = "retention:";

/// An item's details that are not PHI: stored in clear so that lists, due dates and
/// enforcement work without opening anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemMeta {
    /// The record an amendment concerns: collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The record an amendment concerns: id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<RecordId>,
    /// The version an accepted amendment created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<u64>,
    /// Field names: those an amendment changes, or those a disclosure released.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Collections a restriction covers (`*` for all) or a disclosure released.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<String>,
    /// Purposes a restriction denies, or the purpose of a disclosure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<PurposeOfUse>,
    /// When a disclosure happened.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub disclosed_at: Option<OffsetDateTime>,
    /// When the one extension was taken.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub extended_at: Option<OffsetDateTime>,
    /// When the request was answered or the item ended.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub closed_at: Option<OffsetDateTime>,
    /// Who acted last (principal id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// An item's PHI: what the individual asked or said, and the covered entity's answers.
/// Sealed under the subject's data key; never logged or audited.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemDetail {
    /// The changes an amendment asks for (field to new value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// Why: the individual's reason for an amendment, or the reason for a restriction or hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The written reason for the extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_reason: Option<String>,
    /// The basis of a denial (164.526(d)(1)(i)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial_reason: Option<String>,
    /// The individual's statement of disagreement (164.526(d)(1)(ii)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
    /// The covered entity's rebuttal (164.526(d)(3)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuttal: Option<String>,
    /// Who received a disclosure (name and address, 164.528(b)(2)(ii)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// What a disclosure released and why (164.528(b)(2)(iii)-(iv)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How and where to reach the individual (confidential communications).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// A privacy item as the vault reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyItem {
    /// The id.
    pub id: String,
    /// The kind.
    pub kind: ItemKind,
    /// The subject.
    pub subject: String,
    /// The state (see [`ItemStatus`]).
    pub status: String,
    /// When it was received or recorded.
    pub created_at: OffsetDateTime,
    /// When an answer is due (requests).
    pub due_at: Option<OffsetDateTime>,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// Whether an open request is past its due date.
    pub overdue: bool,
    /// Non-PHI details.
    pub meta: ItemMeta,
    /// PHI details; `None` once the subject is erased.
    pub detail: Option<ItemDetail>,
}

impl PrivacyItem {
    /// The state, typed; `None` only for a state this build does not know.
    pub fn item_status(&self) -> Option<ItemStatus> {
        ItemStatus::parse(&self.status)
    }
}

/// A new request from an individual.
#[derive(Clone, PartialEq)]
pub enum NewRequest {
    /// A request for access.
    Access,
    /// A request to amend one record.
    Amendment {
        /// The record's collection.
        collection: CollectionName,
        /// The record.
        record_id: RecordId,
        /// The changes asked for.
        changes: Map<String, Value>,
        /// The individual's reason.
        reason: Option<String>,
    },
}

/// A disclosure recorded by hand.
#[derive(Clone, PartialEq)]
pub struct NewDisclosure {
    /// When it happened.
    pub disclosed_at: OffsetDateTime,
    /// Who received it.
    pub recipient: String,
    /// Why (must be a purpose the accounting covers).
    pub purpose: PurposeOfUse,
    /// Collections released.
    pub collections: Vec<String>,
    /// Field names released.
    pub fields: Vec<String>,
    /// A brief statement of what and why.
    pub description: String,
}

/// A restriction to agree to.
#[derive(Clone, PartialEq)]
pub struct NewRestriction {
    /// Collections covered, or `*`.
    pub collections: Vec<String>,
    /// Purposes denied (e.g. HPAYMT and HOPERAT: no disclosure to a health plan,
    /// 164.522(a)(1)(vi)).
    pub purposes: Vec<PurposeOfUse>,
    /// The reason, as the individual gave it.
    pub reason: Option<String>,
}

// ----- helpers shared by the privacy workflows ---------------------------------------

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn text(s: Option<String>, code: &'static str) -> Result<Option<String>, VaultError> {
    match s {
        Some(t) if t.trim().is_empty() || t.len() > MAX_TEXT => Err(VaultError::BadRequest(code)),
        other => Ok(other),
    }
}

fn required_text(s: String, code: &'static str) -> Result<String, VaultError> {
    text(Some(s), code)?.ok_or(VaultError::BadRequest(code))
}

fn seal_detail(
    dek: &DataKey,
    row: &mut PrivacyItemRow,
    detail: &ItemDetail,
) -> Result<(), VaultError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(detail)
            .map_err(|_| VaultError::Internal(InternalFault::Encode.as_str()))?,
    );
    row.sealed = Aad::privacy_item(&row.kind, &row.id, &row.subject).seal(dek, &plain)?;
    Ok(())
}

fn open_detail(dek: &DataKey, row: &PrivacyItemRow) -> Result<ItemDetail, VaultError> {
    let plain = Aad::privacy_item(&row.kind, &row.id, &row.subject).open(dek, &row.sealed)?;
    serde_json::from_slice(&plain).map_err(|_| VaultError::Integrity)
}

fn parse_meta(row: &PrivacyItemRow) -> Result<ItemMeta, VaultError> {
    serde_json::from_str(&row.meta_json).map_err(|_| VaultError::Integrity)
}

fn encode_meta(meta: &ItemMeta) -> Result<String, VaultError> {
    serde_json::to_string(meta).map_err(|_| VaultError::Internal(InternalFault::Encode.as_str()))
}

/// Stores a new item, its detail sealed under the subject's data key (created on first
/// use), and names it in the audit event: the one way an item comes into being.
#[allow(clippy::too_many_arguments)]
fn insert_item(
    tx: &mut dyn WriteTx,
    keyring: &Keyring,
    ev: &mut AuditEvent,
    kind: ItemKind,
    subject: &str,
    status: ItemStatus,
    (received, due_at, now): (OffsetDateTime, Option<OffsetDateTime>, OffsetDateTime),
    item_meta: &ItemMeta,
    detail: &ItemDetail,
) -> Result<PrivacyItem, VaultError> {
    let dek = SubjectKeys::new(keyring).get_or_create(tx, subject, now)?;
    let mut row = PrivacyItemRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.as_str().to_owned(),
        subject: subject.to_owned(),
        status: status.as_str().to_owned(),
        created_at: received,
        due_at,
        updated_at: now,
        meta_json: encode_meta(item_meta)?,
        sealed: Vec::new(),
    };
    seal_detail(&dek, &mut row, detail)?;
    tx.put_privacy_item(&row)?;
    ev.reason = Some(format!("item:{}", row.id));
    to_item(keyring, tx, &row, now)
}

/// Opens a stored item; the detail is `None` when the subject was erased.
fn to_item(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    row: &PrivacyItemRow,
    now: OffsetDateTime,
) -> Result<PrivacyItem, VaultError> {
    let kind = ItemKind::parse(&row.kind).ok_or(VaultError::Integrity)?;
    let detail = match SubjectKeys::new(keyring).unwrap(tx, &row.subject) {
        Ok(dek) => Some(open_detail(&dek, row)?),
        Err(VaultError::Erased) => None,
        Err(e) => return Err(e),
    };
    Ok(PrivacyItem {
        id: row.id.clone(),
        kind,
        subject: row.subject.clone(),
        status: row.status.clone(),
        created_at: row.created_at,
        due_at: row.due_at,
        updated_at: row.updated_at,
        overdue: row.status == status::OPEN && row.due_at.is_some_and(|d| now > d),
        meta: parse_meta(row)?,
        detail,
    })
}

/// The active restriction, if any, that forbids using the subject's records in
/// `collection` for `purpose` (164.522(a)(1)). Emergency treatment is never restricted
/// (164.522(a)(1)(iii)).
pub(crate) fn restricting(
    tx: &mut dyn ReadTx,
    subject: &str,
    collection: &str,
    purpose: PurposeOfUse,
) -> Result<Option<String>, VaultError> {
    if purpose == PurposeOfUse::Etreat {
        return Ok(None);
    }
    for row in tx.list_privacy_items(ItemKind::Restriction.as_str(), Some(subject))? {
        if row.status != status::ACTIVE {
            continue;
        }
        let meta = parse_meta(&row)?;
        let covers = meta.collections.iter().any(|c| c == "*" || c == collection);
        if covers && meta.purposes.contains(&purpose) {
            return Ok(Some(row.id));
        }
    }
    Ok(None)
}

fn active_holds(tx: &mut dyn ReadTx, subject: Option<&str>) -> Result<HashSet<String>, VaultError> {
    Ok(tx
        .list_privacy_items(ItemKind::LegalHold.as_str(), subject)?
        .into_iter()
        .filter(|r| r.status == status::ACTIVE)
        .map(|r| r.subject)
        .collect())
}

fn close(
    row: &mut PrivacyItemRow,
    state: ItemStatus,
    now: OffsetDateTime,
    by: &str,
) -> Result<(), VaultError> {
    let mut m = parse_meta(row)?;
    m.closed_at = Some(now);
    m.by = Some(by.to_owned());
    row.meta_json = encode_meta(&m)?;
    row.status = state.as_str().to_owned();
    row.updated_at = now;
    Ok(())
}

impl Vault {
    fn privacy_event(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: AuditAction,
        subject: Option<&str>,
    ) -> AuditEvent {
        let mut ev = self.event(meta, Some(principal), action);
        ev.subject = subject.map(str::to_owned);
        ev
    }

    /// Loads an item for a change, checking its kind and state.
    fn item_for_change(
        tx: &mut dyn WriteTx,
        id: &str,
        kinds: &[ItemKind],
        state: ItemStatus,
        ev: &mut AuditEvent,
    ) -> Result<PrivacyItemRow, VaultError> {
        let row = tx
            .get_privacy_item(id)?
            .ok_or(VaultError::NotFound(Missing::PrivacyItem.as_str()))?;
        ev.subject = Some(row.subject.clone());
        let kind = ItemKind::parse(&row.kind).ok_or(VaultError::Integrity)?;
        if !kinds.contains(&kind) {
            return Err(VaultError::Conflict(ErrorCode::WrongItemKind.as_str()));
        }
        if row.status != state.as_str() {
            return Err(VaultError::Conflict(ErrorCode::ItemNotInThatState.as_str()));
        }
        Ok(row)
    }

    /// Changes an item's sealed detail in one audited step: `checked` is the validated
    /// input (a failure is audited as a bad request), `change` edits the row and detail.
    #[allow(clippy::too_many_arguments)] // one shared path for three operations
    async fn change_detail<V, F>(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: AuditAction,
        id: &str,
        kind: &'static [ItemKind],
        state: ItemStatus,
        checked: Result<V, VaultError>,
        change: F,
    ) -> Result<PrivacyItem, VaultError>
    where
        V: Send + 'static,
        F: FnOnce(
                &mut PrivacyItemRow,
                &mut ItemDetail,
                V,
                OffsetDateTime,
            ) -> Result<(), VaultError>
            + Send
            + 'static,
    {
        let ev = self.privacy_event(meta, principal, action, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let input = match checked {
            Ok(v) => v,
            Err(e) => return self.reject(ev, e).await,
        };
        let keyring = self.keyring();
        let now = self.clock().now();
        let id = id.to_owned();
        self.audited(ev, move |tx, ev| {
            let mut row = Self::item_for_change(tx, &id, kind, state, ev)?;
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &row.subject)?;
            let mut detail = open_detail(&dek, &row)?;
            change(&mut row, &mut detail, input, now)?;
            seal_detail(&dek, &mut row, &detail)?;
            tx.put_privacy_item(&row)?;
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Moves an item of one of `kinds` from state `from` to the final state `to`.
    #[allow(clippy::too_many_arguments)] // one shared path for closing any item
    async fn close_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: AuditAction,
        id: &str,
        kinds: &'static [ItemKind],
        from: ItemStatus,
        to: ItemStatus,
    ) -> Result<PrivacyItem, VaultError> {
        let ev = self.privacy_event(meta, principal, action, None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let (id, pid) = (id.to_owned(), principal.id.clone());
        self.audited(ev, move |tx, ev| {
            let mut row = Self::item_for_change(tx, &id, kinds, from, ev)?;
            ev.reason = Some(format!("{}:{}", row.kind, row.id));
            close(&mut row, to, now, &pid)?;
            tx.put_privacy_item(&row)?;
            to_item(&keyring, tx, &row, now)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_statuses_round_trip_with_their_stored_names() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(s.as_str()), Some(s));
            assert!(seen.insert(s.as_str()));
        }
        assert_eq!(status::OPEN, "open");
        assert_eq!(status::RECORDED, "recorded");
        assert_eq!(ItemStatus::parse("nope"), None);
    }

    #[test]
    fn item_kinds_round_trip() {
        for k in ItemKind::ALL {
            assert_eq!(ItemKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ItemKind::parse("nope"), None);
    }
}

crate::phi::redacted_debug!(ItemDetail {} hide {
    changes, reason, extension_reason, denial_reason, disagreement, rebuttal, recipient,
    description, instructions
});

crate::phi::redacted_debug!(NewDisclosure {
    disclosed_at, purpose, collections, fields
} hide { recipient, description });

crate::phi::redacted_debug!(NewRestriction { collections, purposes } hide { reason });

impl std::fmt::Debug for NewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Access => f.write_str("Access"),
            Self::Amendment {
                collection,
                record_id,
                changes: _,
                reason: _,
            } => f
                .debug_struct("Amendment")
                .field("collection", collection)
                .field("record_id", record_id)
                .field("changes", &crate::phi::Redacted)
                .field("reason", &crate::phi::Redacted)
                .finish(),
        }
    }
}
