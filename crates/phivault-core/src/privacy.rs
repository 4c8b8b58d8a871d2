//! Individuals' rights under the HIPAA Privacy Rule, answered from the vault's own data:
//! access requests and the right-of-access export (45 CFR 164.524), amendments (164.526),
//! the accounting of disclosures (164.528), restrictions and confidential communications
//! (164.522), retention with legal holds and disposal, and erasure by crypto-shredding.
//!
//! Every item is stored with its PHI (requested changes, statements, recipients, reasons)
//! sealed under the subject's data key, so an erased subject's items become unreadable
//! with its records. Due dates come from the injected clock.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use phivault_audit::{AuditEvent, Outcome};
use phivault_crypto::{DataKey, Keyring};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit_log::{AuditQuery, scan};
use crate::error::VaultError;
use crate::ids::{CollectionName, RecordId, SubjectId};
use crate::policy::{Action, Principal, PurposeOfUse};
use crate::privacy_store::PrivacyItemRow;
use crate::seal::{Aad, RecordWriter, SubjectKeys, index_entries, open_data};
use crate::store::{ReadTx, RecordHead, WriteTx, read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

/// Days to act on a request for access (164.524(b)(2)(i)).
pub const ACCESS_DUE_DAYS: i64 = 30;
/// Days to act on a request for amendment (164.526(b)(2)(i)).
pub const AMENDMENT_DUE_DAYS: i64 = 60;
/// The one extension either kind of request may get (164.524(b)(2)(ii), 164.526(b)(2)(ii)).
pub const EXTENSION_DAYS: i64 = 30;
/// How far back an accounting of disclosures reaches (164.528(a)(1)).
pub const ACCOUNTING_YEARS: i64 = 6;
/// The longest free text (reasons, statements) an item takes.
pub const MAX_TEXT: usize = 10_000;
/// Record heads handled per transaction by exports, erasure and retention.
const PAGE: usize = 500;
/// The `meta` key prefix under which a collection's retention period (days) is kept.
const RETENTION_KEY: &str = "retention:";

/// What a privacy item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A request for access to the designated record set (164.524).
    AccessRequest,
    /// A request to amend a record (164.526).
    Amendment,
    /// A disclosure recorded by hand, e.g. a report to public health (164.528).
    Disclosure,
    /// An agreed restriction on uses and disclosures (164.522(a)).
    Restriction,
    /// A request for confidential communications (164.522(b)).
    ConfidentialCommunication,
    /// A legal hold: no disposal or erasure while it stands.
    LegalHold,
}

impl ItemKind {
    /// Every kind.
    pub const ALL: [ItemKind; 6] = [
        Self::AccessRequest,
        Self::Amendment,
        Self::Disclosure,
        Self::Restriction,
        Self::ConfidentialCommunication,
        Self::LegalHold,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessRequest => "access_request",
            Self::Amendment => "amendment",
            Self::Disclosure => "disclosure",
            Self::Restriction => "restriction",
            Self::ConfidentialCommunication => "confidential_communication",
            Self::LegalHold => "legal_hold",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Item states.
pub mod status {
    /// A request awaiting an answer.
    pub const OPEN: &str = "open";
    /// An access request answered.
    pub const COMPLETED: &str = "completed";
    /// An amendment made.
    pub const ACCEPTED: &str = "accepted";
    /// An amendment refused.
    pub const DENIED: &str = "denied";
    /// A restriction, confidential-communication request or hold in force.
    pub const ACTIVE: &str = "active";
    /// A restriction, confidential-communication request or hold lifted.
    pub const ENDED: &str = "ended";
    /// A recorded disclosure.
    pub const RECORDED: &str = "recorded";
}

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The state (see [`status`]).
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

/// A new request from an individual.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct NewRestriction {
    /// Collections covered, or `*`.
    pub collections: Vec<String>,
    /// Purposes denied (e.g. HPAYMT and HOPERAT: no disclosure to a health plan,
    /// 164.522(a)(1)(vi)).
    pub purposes: Vec<PurposeOfUse>,
    /// The reason, as the individual gave it.
    pub reason: Option<String>,
}

/// One entry of an accounting of disclosures (164.528(b)(2)).
#[derive(Debug, Clone, PartialEq)]
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

/// One version of a record in a right-of-access export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedVersion {
    /// The version number.
    pub version: u64,
    /// When it was written.
    pub created_at: OffsetDateTime,
    /// Whether it is a deletion marker.
    pub deleted: bool,
    /// The data (empty for a deletion marker).
    pub data: Map<String, Value>,
}

/// One record in a right-of-access export, with its whole history.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedRecord {
    /// The collection.
    pub collection: String,
    /// The id.
    pub id: RecordId,
    /// Whether it is deleted.
    pub deleted: bool,
    /// Every version, oldest first.
    pub versions: Vec<ExportedVersion>,
}

/// Everything the vault holds about a subject (164.524(a)): records with their history,
/// amendment requests with statements of disagreement, restrictions and confidential
/// communication requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectExport {
    /// The subject.
    pub subject: String,
    /// When it was produced.
    pub generated_at: OffsetDateTime,
    /// Records, by collection and id.
    pub records: Vec<ExportedRecord>,
    /// Privacy items other than recorded disclosures, oldest first.
    pub items: Vec<PrivacyItem>,
}

// ----- helpers ------------------------------------------------------------------------

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
        serde_json::to_vec(detail).map_err(|_| VaultError::Internal("encode"))?,
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
    serde_json::to_string(meta).map_err(|_| VaultError::Internal("encode"))
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
const DISCLOSING_ACTIONS: [&str; 5] = [
    "record.read",
    "record.read_version",
    "record.history",
    "subject.list_records",
    "subject.export",
];

impl Vault {
    fn privacy_event(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: &str,
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
        state: &str,
        ev: &mut AuditEvent,
    ) -> Result<PrivacyItemRow, VaultError> {
        let row = tx
            .get_privacy_item(id)?
            .ok_or(VaultError::NotFound("privacy item"))?;
        ev.subject = Some(row.subject.clone());
        let kind = ItemKind::parse(&row.kind).ok_or(VaultError::Integrity)?;
        if !kinds.contains(&kind) {
            return Err(VaultError::Conflict("wrong_item_kind"));
        }
        if row.status != state {
            return Err(VaultError::Conflict("item_not_in_that_state"));
        }
        Ok(row)
    }

    // ----- requests -------------------------------------------------------------------

    /// Logs an individual's request (access or amendment) with its due date: 30 days for
    /// access (164.524(b)(2)), 60 for amendment (164.526(b)(2)), counted from `received_at`
    /// (now when not given; never in the future).
    pub async fn open_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        received_at: Option<OffsetDateTime>,
        request: NewRequest,
    ) -> Result<PrivacyItem, VaultError> {
        let kind = match request {
            NewRequest::Access => ItemKind::AccessRequest,
            NewRequest::Amendment { .. } => ItemKind::Amendment,
        };
        let mut ev = self.privacy_event(
            meta,
            principal,
            &format!("privacy.{}.open", kind.as_str()),
            Some(subject.as_str()),
        );
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let now = self.clock().now();
        let received = received_at.unwrap_or(now);
        if received > now {
            return self
                .reject(ev, VaultError::BadRequest("received_in_future"))
                .await;
        }
        let mut item_meta = ItemMeta::default();
        let mut detail = ItemDetail::default();
        let due_days = match request {
            NewRequest::Access => ACCESS_DUE_DAYS,
            NewRequest::Amendment {
                collection,
                record_id,
                changes,
                reason,
            } => {
                ev.collection = Some(collection.to_string());
                ev.record_id = Some(record_id.to_string());
                let schema = self.schema_or_reject(&collection, &ev).await?;
                if changes.is_empty() || changes.keys().any(|k| schema.field(k).is_none()) {
                    return self
                        .reject(ev, VaultError::BadRequest("invalid_amendment_fields"))
                        .await;
                }
                let reason = match text(reason, "invalid_reason") {
                    Ok(r) => r,
                    Err(e) => return self.reject(ev, e).await,
                };
                item_meta.fields = changes.keys().cloned().collect();
                ev.fields = item_meta.fields.clone();
                item_meta.collection = Some(collection.to_string());
                item_meta.record_id = Some(record_id);
                detail.changes = Some(changes);
                detail.reason = reason;
                AMENDMENT_DUE_DAYS
            }
        };
        let keyring = self.keyring();
        let subject = subject.to_string();
        let pid = principal.id.clone();
        self.audited(ev, move |tx, ev| {
            if let (Some(c), Some(id)) = (&item_meta.collection, &item_meta.record_id) {
                let head = tx
                    .get_record_head(c, id)?
                    .ok_or(VaultError::NotFound("record"))?;
                if head.subject != subject {
                    return Err(VaultError::NotFound("record"));
                }
                if head.deleted {
                    return Err(VaultError::Gone);
                }
            }
            let dek = SubjectKeys::new(&keyring).get_or_create(tx, &subject, now)?;
            item_meta.by = Some(pid);
            let mut row = PrivacyItemRow {
                id: Uuid::new_v4().to_string(),
                kind: kind.as_str().to_owned(),
                subject: subject.clone(),
                status: status::OPEN.to_owned(),
                created_at: received,
                due_at: Some(received + Duration::days(due_days)),
                updated_at: now,
                meta_json: encode_meta(&item_meta)?,
                sealed: Vec::new(),
            };
            seal_detail(&dek, &mut row, &detail)?;
            tx.put_privacy_item(&row)?;
            ev.reason = Some(format!("item:{}", row.id));
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Changes an item's sealed detail in one audited step: `checked` is the validated
    /// input (a failure is audited as a bad request), `change` edits the row and detail.
    #[allow(clippy::too_many_arguments)] // one shared path for three operations
    async fn change_detail<V, F>(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: &str,
        id: &str,
        kind: &'static [ItemKind],
        state: &'static str,
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

    /// Takes the one 30-day extension of an open request, with the written reason the
    /// individual must be given before the first due date (164.524(b)(2)(ii),
    /// 164.526(b)(2)(ii)).
    pub async fn extend_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        reason: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason");
        let change = |row: &mut PrivacyItemRow, detail: &mut ItemDetail, reason, now| {
            let mut m = parse_meta(row)?;
            if m.extended_at.is_some() {
                return Err(VaultError::Conflict("already_extended"));
            }
            let due = row.due_at.ok_or(VaultError::Integrity)?;
            if now > due {
                return Err(VaultError::Conflict("request_overdue"));
            }
            detail.extension_reason = Some(reason);
            m.extended_at = Some(now);
            row.due_at = Some(due + Duration::days(EXTENSION_DAYS));
            row.updated_at = now;
            row.meta_json = encode_meta(&m)?;
            Ok(())
        };
        self.change_detail(
            meta,
            principal,
            "privacy.request.extend",
            id,
            &[ItemKind::AccessRequest, ItemKind::Amendment],
            status::OPEN,
            checked,
            change,
        )
        .await
    }

    /// Moves an item of one of `kinds` from state `from` to the final state `to`.
    #[allow(clippy::too_many_arguments)] // one shared path for closing any item
    async fn close_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        action: &str,
        id: &str,
        kinds: &'static [ItemKind],
        from: &'static str,
        to: &'static str,
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

    /// Marks an access request answered (the export was delivered).
    pub async fn complete_access_request(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let action = "privacy.access_request.complete";
        let kinds = &[ItemKind::AccessRequest];
        self.close_item(
            meta,
            principal,
            action,
            id,
            kinds,
            status::OPEN,
            status::COMPLETED,
        )
        .await
    }

    /// Accepts an amendment: the requested changes become a new version of the record,
    /// linked from the request (164.526(c)). The merged record must satisfy its schema.
    pub async fn accept_amendment(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let ev = self.privacy_event(meta, principal, "privacy.amendment.accept", None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        // The schema is needed outside the transaction: look the request up first.
        let key = id.to_owned();
        let found = read_tx(&**self.store(), move |tx| Ok(tx.get_privacy_item(&key)?)).await;
        let collection = match found {
            Ok(Some(row)) => parse_meta(&row).ok().and_then(|m| m.collection),
            Ok(None) => None,
            Err(e) => return self.reject(ev, e).await,
        };
        let Some(collection) = collection.and_then(|c| CollectionName::parse(&c).ok()) else {
            return self.reject(ev, VaultError::NotFound("privacy item")).await;
        };
        let schema = self.schema_or_reject(&collection, &ev).await?;
        let keyring = self.keyring();
        let indexer = keyring.blind_indexer();
        let now = self.clock().now();
        let (id, pid) = (id.to_owned(), principal.id.clone());
        self.audited(ev, move |tx, ev| {
            let mut row = Self::item_for_change(tx, &id, &[ItemKind::Amendment], status::OPEN, ev)?;
            let mut m = parse_meta(&row)?;
            let (coll, rid) = match (&m.collection, m.record_id) {
                (Some(c), Some(r)) => (c.clone(), r),
                _ => return Err(VaultError::Integrity),
            };
            ev.collection = Some(coll.clone());
            ev.record_id = Some(rid.to_string());
            let mut head = tx
                .get_record_head(&coll, &rid)?
                .ok_or(VaultError::NotFound("record"))?;
            if head.deleted {
                return Err(VaultError::Gone);
            }
            let dek = SubjectKeys::new(&keyring).unwrap(tx, &head.subject)?;
            let detail = open_detail(&dek, &row)?;
            let current = tx
                .get_record_version(&coll, &rid, head.version)?
                .ok_or(VaultError::Integrity)?;
            if current.subject != head.subject {
                return Err(VaultError::Integrity);
            }
            let mut data = open_data(&keyring, tx, &current)?;
            data.extend(detail.changes.clone().unwrap_or_default());
            let record = crate::validate::validate_record(&schema, Value::Object(data))?;
            let entries = index_entries(&indexer, &coll, &record);
            let version = RecordWriter::new(tx, now).append(&dek, &mut head, &record, &entries)?;
            ev.version = Some(version);
            ev.fields = m.fields.clone();
            m.applied_version = Some(version);
            row.meta_json = encode_meta(&m)?;
            close(&mut row, status::ACCEPTED, now, &pid)?;
            tx.put_privacy_item(&row)?;
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Denies an amendment with its basis (164.526(d)(1)); the individual's statement of
    /// disagreement may come now or later, and goes with every later export.
    pub async fn deny_amendment(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        reason: String,
        disagreement: Option<String>,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason")
            .and_then(|r| Ok((r, text(disagreement, "invalid_statement")?)));
        let pid = principal.id.clone();
        let change = move |row: &mut PrivacyItemRow,
                           detail: &mut ItemDetail,
                           (reason, disagreement): (String, Option<String>),
                           now| {
            detail.denial_reason = Some(reason);
            detail.disagreement = disagreement;
            close(row, status::DENIED, now, &pid)
        };
        self.change_detail(
            meta,
            principal,
            "privacy.amendment.deny",
            id,
            &[ItemKind::Amendment],
            status::OPEN,
            checked,
            change,
        )
        .await
    }

    /// Files the individual's statement of disagreement with a denied amendment, and the
    /// covered entity's rebuttal if any (164.526(d)(1)(iii), (d)(3)).
    pub async fn file_disagreement(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
        statement: String,
        rebuttal: Option<String>,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(statement, "invalid_statement")
            .and_then(|s| Ok((s, text(rebuttal, "invalid_statement")?)));
        let change = |row: &mut PrivacyItemRow,
                      detail: &mut ItemDetail,
                      (statement, rebuttal): (String, Option<String>),
                      now| {
            detail.disagreement = Some(statement);
            if rebuttal.is_some() {
                detail.rebuttal = rebuttal;
            }
            row.updated_at = now;
            Ok(())
        };
        self.change_detail(
            meta,
            principal,
            "privacy.amendment.disagreement",
            id,
            &[ItemKind::Amendment],
            status::DENIED,
            checked,
            change,
        )
        .await
    }

    // ----- restrictions, confidential communications, holds, disclosures -------------

    /// Adds an item of `kind` for the subject from `checked` (validated details, or the
    /// bad-request error to audit).
    async fn add_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        kind: ItemKind,
        checked: Result<(ItemMeta, ItemDetail), VaultError>,
    ) -> Result<PrivacyItem, VaultError> {
        let mut ev = self.privacy_event(
            meta,
            principal,
            &format!("privacy.{}.add", kind.as_str()),
            Some(subject.as_str()),
        );
        if let Ok((m, _)) = &checked {
            ev.collection = m.collections.first().cloned();
            ev.fields = m.fields.clone();
            if kind == ItemKind::Disclosure {
                ev.purpose = m.purposes.first().map(|p| p.as_str().to_owned());
            }
        }
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let (item_meta, detail) = match checked {
            Ok(v) => v,
            Err(e) => return self.reject(ev, e).await,
        };
        let keyring = self.keyring();
        let now = self.clock().now();
        let subject = subject.to_string();
        let pid = principal.id.clone();
        let initial = if kind == ItemKind::Disclosure {
            status::RECORDED
        } else {
            status::ACTIVE
        };
        self.audited(ev, move |tx, ev| {
            let dek = SubjectKeys::new(&keyring).get_or_create(tx, &subject, now)?;
            let mut item_meta = item_meta;
            item_meta.by = Some(pid);
            let mut row = PrivacyItemRow {
                id: Uuid::new_v4().to_string(),
                kind: kind.as_str().to_owned(),
                subject,
                status: initial.to_owned(),
                created_at: now,
                due_at: None,
                updated_at: now,
                meta_json: encode_meta(&item_meta)?,
                sealed: Vec::new(),
            };
            seal_detail(&dek, &mut row, &detail)?;
            tx.put_privacy_item(&row)?;
            ev.reason = Some(format!("item:{}", row.id));
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Agrees to a restriction (164.522(a)): from now on the policy engine denies the
    /// covered collections for the listed purposes (emergency treatment excepted), and
    /// audits each denial with the restriction's id.
    pub async fn add_restriction(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        restriction: NewRestriction,
    ) -> Result<PrivacyItem, VaultError> {
        let valid_collections = !restriction.collections.is_empty()
            && restriction
                .collections
                .iter()
                .all(|c| c == "*" || CollectionName::parse(c).is_ok());
        let checked = if !valid_collections || restriction.purposes.is_empty() {
            Err(VaultError::BadRequest("invalid_restriction"))
        } else {
            text(restriction.reason, "invalid_reason").map(|reason| {
                let mut purposes = restriction.purposes;
                purposes.sort();
                purposes.dedup();
                let m = ItemMeta {
                    collections: restriction.collections,
                    purposes,
                    ..ItemMeta::default()
                };
                let d = ItemDetail {
                    reason,
                    ..ItemDetail::default()
                };
                (m, d)
            })
        };
        self.add_item(meta, principal, subject, ItemKind::Restriction, checked)
            .await
    }

    /// Records a request for confidential communications (164.522(b)): how and where the
    /// individual wants to be reached. Sealed; shown to privacy staff and in exports.
    pub async fn add_confidential_communication(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        instructions: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(instructions, "invalid_instructions").map(|i| {
            let d = ItemDetail {
                instructions: Some(i),
                ..ItemDetail::default()
            };
            (ItemMeta::default(), d)
        });
        let kind = ItemKind::ConfidentialCommunication;
        self.add_item(meta, principal, subject, kind, checked).await
    }

    /// Places a legal hold: the subject's records are neither disposed of by retention nor
    /// erased while it stands.
    pub async fn place_legal_hold(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        reason: String,
    ) -> Result<PrivacyItem, VaultError> {
        let checked = required_text(reason, "invalid_reason").map(|r| {
            let d = ItemDetail {
                reason: Some(r),
                ..ItemDetail::default()
            };
            (ItemMeta::default(), d)
        });
        self.add_item(meta, principal, subject, ItemKind::LegalHold, checked)
            .await
    }

    /// Records a disclosure made outside the vault (e.g. a report to public health) for
    /// the accounting (164.528(b)). Purposes the accounting excludes are refused: such a
    /// disclosure need not be accounted for.
    pub async fn record_disclosure(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        d: NewDisclosure,
    ) -> Result<PrivacyItem, VaultError> {
        let now = self.clock().now();
        let lookback = Duration::days(365 * ACCOUNTING_YEARS + 2);
        let checked = if exclusion(d.purpose.as_str()).is_some() {
            Err(VaultError::BadRequest("purpose_not_accountable"))
        } else if d.disclosed_at > now || now - d.disclosed_at > lookback {
            Err(VaultError::BadRequest("invalid_disclosure_time"))
        } else if d
            .collections
            .iter()
            .any(|c| CollectionName::parse(c).is_err())
            || d.fields
                .iter()
                .any(|f| crate::ids::FieldName::parse(f).is_err())
        {
            Err(VaultError::BadRequest("invalid_disclosure_scope"))
        } else {
            required_text(d.recipient, "invalid_recipient").and_then(|recipient| {
                let description = required_text(d.description, "invalid_description")?;
                let m = ItemMeta {
                    collections: d.collections,
                    fields: d.fields,
                    purposes: vec![d.purpose],
                    disclosed_at: Some(d.disclosed_at),
                    ..ItemMeta::default()
                };
                let detail = ItemDetail {
                    recipient: Some(recipient),
                    description: Some(description),
                    ..ItemDetail::default()
                };
                Ok((m, detail))
            })
        };
        self.add_item(meta, principal, subject, ItemKind::Disclosure, checked)
            .await
    }

    /// Ends a restriction (164.522(a)(2)), a confidential-communication request or a
    /// legal hold.
    pub async fn end_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let kinds = &[
            ItemKind::Restriction,
            ItemKind::ConfidentialCommunication,
            ItemKind::LegalHold,
        ];
        let action = "privacy.item.end";
        self.close_item(
            meta,
            principal,
            action,
            id,
            kinds,
            status::ACTIVE,
            status::ENDED,
        )
        .await
    }

    /// One item.
    pub async fn privacy_item(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        id: &str,
    ) -> Result<PrivacyItem, VaultError> {
        let ev = self.privacy_event(meta, principal, "privacy.item.read", None);
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let id = id.to_owned();
        self.audited(ev, move |tx, ev| {
            let row = tx
                .get_privacy_item(&id)?
                .ok_or(VaultError::NotFound("privacy item"))?;
            ev.subject = Some(row.subject.clone());
            to_item(&keyring, tx, &row, now)
        })
        .await
    }

    /// Items of a kind, for one subject or all, optionally only open requests past due.
    pub async fn list_privacy_items(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        kind: ItemKind,
        subject: Option<&SubjectId>,
        overdue_only: bool,
    ) -> Result<Vec<PrivacyItem>, VaultError> {
        let ev = self.privacy_event(
            meta,
            principal,
            "privacy.item.list",
            subject.map(SubjectId::as_str),
        );
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let subject = subject.map(SubjectId::to_string);
        self.audited(ev, move |tx, ev| {
            let rows = tx.list_privacy_items(kind.as_str(), subject.as_deref())?;
            let mut items = Vec::new();
            for row in &rows {
                let item = to_item(&keyring, tx, row, now)?;
                if !overdue_only || item.overdue {
                    items.push(item);
                }
            }
            ev.count = Some(items.len() as u64);
            Ok(items)
        })
        .await
    }

    // ----- accounting of disclosures ---------------------------------------------------

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
            "privacy.accounting",
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
                if !DISCLOSING_ACTIONS.contains(&e.action.as_str()) {
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

    // ----- right of access -------------------------------------------------------------

    /// Everything held about a subject (164.524): every record with every version, and
    /// the subject's privacy items (amendments with statements of disagreement,
    /// restrictions, confidential communications). Recorded in the audit log as a
    /// disclosure to the individual (purpose PATRQT). `progress` hears the records done.
    /// With `request`, that open access request is marked completed in the same step.
    pub async fn export_subject(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        subject: &SubjectId,
        request: Option<&str>,
        progress: Option<&(dyn Fn(u64) + Sync)>,
    ) -> Result<SubjectExport, VaultError> {
        let mut ev = self.privacy_event(meta, principal, "subject.export", Some(subject.as_str()));
        ev.purpose = Some(PurposeOfUse::Patrqt.as_str().to_owned());
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        let keyring = self.keyring();
        let now = self.clock().now();
        let mut records = Vec::new();
        let mut cursor: Option<(String, RecordId)> = None;
        loop {
            let (subj, keyring, after) = (subject.to_string(), keyring.clone(), cursor.clone());
            let page = read_tx(&**self.store(), move |tx| {
                let after = after.as_ref().map(|(c, id)| (c.as_str(), id));
                let heads = tx.subject_record_heads(&subj, after, PAGE)?;
                let mut out = Vec::with_capacity(heads.len());
                for head in &heads {
                    out.push(export_record(&keyring, tx, head)?);
                }
                Ok(out)
            })
            .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => return self.reject(ev, e).await,
            };
            let Some(last) = page.last() else { break };
            cursor = Some((last.collection.clone(), last.id));
            let full = page.len() == PAGE;
            records.extend(page);
            if let Some(p) = progress {
                p(records.len() as u64);
            }
            if !full {
                break;
            }
        }
        let subj = subject.to_string();
        let items = read_tx(&**self.store(), {
            let keyring = keyring.clone();
            move |tx| {
                // Erased subjects end here even when they have no records.
                if tx.is_shredded(&subj)? {
                    return Err(VaultError::Erased);
                }
                let mut items = Vec::new();
                for kind in ItemKind::ALL {
                    if kind == ItemKind::Disclosure {
                        continue;
                    }
                    for row in tx.list_privacy_items(kind.as_str(), Some(&subj))? {
                        items.push(to_item(&keyring, tx, &row, now)?);
                    }
                }
                items.sort_by_key(|i| i.created_at);
                Ok(items)
            }
        })
        .await;
        let items = match items {
            Ok(i) => i,
            Err(e) => return self.reject(ev, e).await,
        };
        ev.count = Some(records.len() as u64);
        let fields: BTreeSet<String> = records
            .iter()
            .flat_map(|r| r.versions.iter().flat_map(|v| v.data.keys().cloned()))
            .collect();
        ev.fields = fields.into_iter().collect();
        let request = request.map(str::to_owned);
        let pid = principal.id.clone();
        let subj = subject.to_string();
        self.audited(ev, move |tx, ev| {
            if let Some(id) = request {
                let mut row =
                    Self::item_for_change(tx, &id, &[ItemKind::AccessRequest], status::OPEN, ev)?;
                if row.subject != subj {
                    return Err(VaultError::Conflict("request_for_another_subject"));
                }
                ev.reason = Some(format!("item:{}", row.id));
                close(&mut row, status::COMPLETED, now, &pid)?;
                tx.put_privacy_item(&row)?;
            }
            Ok(())
        })
        .await?;
        Ok(SubjectExport {
            subject: subject.to_string(),
            generated_at: now,
            records,
            items,
        })
    }

    // ----- erasure ---------------------------------------------------------------------

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
        let ev = self.privacy_event(meta, principal, "subject.erase", Some(subject.as_str()));
        self.authorize(principal, Action::EraseSubject, &ev).await?;
        let now = self.clock().now();
        let subj = subject.to_string();
        let records = self
            .audited(ev, move |tx, ev| {
                if tx.is_shredded(&subj)? {
                    return Err(VaultError::Erased);
                }
                if !active_holds(tx, Some(&subj))?.is_empty() {
                    return Err(VaultError::Conflict("legal_hold"));
                }
                let shredded = SubjectKeys::shred(tx, &subj, now)?;
                let count = shredded.records;
                if !shredded.key_deleted && count == 0 {
                    // Nothing was ever stored: the transaction, ledger entry included, rolls back.
                    return Err(VaultError::NotFound("subject"));
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

    // ----- retention -------------------------------------------------------------------

    /// Sets a collection's retention period: records unchanged for `days` are disposed of
    /// by [`Vault::apply_retention`]. `None` removes the period (keep for ever).
    pub async fn set_retention(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        days: Option<u32>,
    ) -> Result<(), VaultError> {
        let mut ev = self.privacy_event(meta, principal, "privacy.retention.set", None);
        ev.collection = Some(collection.to_string());
        ev.reason = Some(days.map_or("none".to_owned(), |d| format!("days:{d}")));
        self.authorize(principal, Action::ManagePrivacy, &ev)
            .await?;
        self.schema_or_reject(collection, &ev).await?;
        if days == Some(0) {
            return self
                .reject(ev, VaultError::BadRequest("invalid_retention"))
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
        let ev = self.privacy_event(meta, principal, "privacy.retention.list", None);
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
        let ev = self.privacy_event(meta, principal, "privacy.retention.run", None);
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
            let before = now - Duration::days(i64::from(days));
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
                        let mut e = self.event(meta, Some(principal), "record.dispose");
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

fn close(
    row: &mut PrivacyItemRow,
    state: &str,
    now: OffsetDateTime,
    by: &str,
) -> Result<(), VaultError> {
    let mut m = parse_meta(row)?;
    m.closed_at = Some(now);
    m.by = Some(by.to_owned());
    row.meta_json = encode_meta(&m)?;
    row.status = state.to_owned();
    row.updated_at = now;
    Ok(())
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

fn export_record(
    keyring: &Keyring,
    tx: &mut dyn ReadTx,
    head: &RecordHead,
) -> Result<ExportedRecord, VaultError> {
    let mut versions = Vec::new();
    for row in tx.list_record_versions(&head.collection, &head.id)? {
        if row.subject != head.subject {
            return Err(VaultError::Integrity);
        }
        versions.push(ExportedVersion {
            version: row.version,
            created_at: row.created_at,
            deleted: row.tombstone,
            data: open_data(keyring, tx, &row)?,
        });
    }
    Ok(ExportedRecord {
        collection: head.collection.clone(),
        id: head.id,
        deleted: head.deleted,
        versions,
    })
}

// ----- rendering ------------------------------------------------------------------------

/// An item as JSON (shared by the export and the API).
pub fn item_json(item: &PrivacyItem) -> Value {
    json!({
        "id": item.id,
        "kind": item.kind.as_str(),
        "subject": item.subject,
        "status": item.status,
        "created_at": rfc3339(item.created_at),
        "due_at": item.due_at.map(rfc3339),
        "updated_at": rfc3339(item.updated_at),
        "overdue": item.overdue,
        "meta": serde_json::to_value(&item.meta).unwrap_or(Value::Null),
        "detail": item.detail.as_ref().map(|d| serde_json::to_value(d).unwrap_or(Value::Null)),
    })
}

impl SubjectExport {
    /// The machine-readable export.
    pub fn to_json(&self) -> Value {
        json!({
            "format": "phivault-subject-export/1",
            "subject": self.subject,
            "generated_at": rfc3339(self.generated_at),
            "records": self.records.iter().map(|r| json!({
                "collection": r.collection,
                "id": r.id.to_string(),
                "deleted": r.deleted,
                "versions": r.versions.iter().map(|v| json!({
                    "version": v.version,
                    "created_at": rfc3339(v.created_at),
                    "deleted": v.deleted,
                    "data": v.data,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "privacy": self.items.iter().map(item_json).collect::<Vec<_>>(),
        })
    }

    /// A readable, self-contained HTML document (no scripts, no external resources).
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(4096);
        h.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>Health record export</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}\
             table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}\
             .deleted{color:#777}</style></head><body>\n",
        );
        h.push_str(&format!(
            "<h1>Health record export</h1>\n<p>Subject <code>{}</code>, produced {}. \
             This document holds every record kept about you, with every earlier version, \
             and your requests and statements.</p>\n",
            esc(&self.subject),
            esc(&rfc3339(self.generated_at))
        ));
        h.push_str(&format!("<h2>Records ({})</h2>\n", self.records.len()));
        for r in &self.records {
            h.push_str(&format!(
                "<section><h3>{} <code>{}</code>{}</h3>\n",
                esc(&r.collection),
                esc(&r.id.to_string()),
                if r.deleted { " (deleted)" } else { "" }
            ));
            for v in r.versions.iter().rev() {
                h.push_str(&format!(
                    "<h4>Version {} of {}{}</h4>\n",
                    v.version,
                    esc(&rfc3339(v.created_at)),
                    if v.deleted { ": deleted" } else { "" }
                ));
                if !v.data.is_empty() {
                    h.push_str("<table>\n");
                    for (k, val) in &v.data {
                        h.push_str(&format!(
                            "<tr><th>{}</th><td>{}</td></tr>\n",
                            esc(k),
                            esc(&value_text(val))
                        ));
                    }
                    h.push_str("</table>\n");
                }
            }
            h.push_str("</section>\n");
        }
        h.push_str(&format!(
            "<h2>Requests and statements ({})</h2>\n",
            self.items.len()
        ));
        for i in &self.items {
            h.push_str(&format!(
                "<section><h3>{} <code>{}</code>: {}</h3>\n<table>\n<tr><th>received</th><td>{}</td></tr>\n",
                esc(&i.kind.as_str().replace('_', " ")),
                esc(&i.id),
                esc(&i.status),
                esc(&rfc3339(i.created_at))
            ));
            let meta = serde_json::to_value(&i.meta).unwrap_or(Value::Null);
            let detail = i
                .detail
                .as_ref()
                .map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            for obj in [meta, detail] {
                if let Value::Object(m) = obj {
                    for (k, v) in m {
                        h.push_str(&format!(
                            "<tr><th>{}</th><td>{}</td></tr>\n",
                            esc(&k.replace('_', " ")),
                            esc(&value_text(&v))
                        ));
                    }
                }
            }
            h.push_str("</table></section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything_it_is_given() {
        assert_eq!(esc("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn exclusions_follow_164_528_a_1() {
        for p in ["TREAT", "ETREAT", "HPAYMT", "HOPERAT", "SYSADMIN", "PATRQT"] {
            assert!(exclusion(p).is_some(), "{p}");
        }
        for p in ["PUBHLTH", "HLEGAL", "HRESCH", ""] {
            assert!(exclusion(p).is_none(), "{p}");
        }
    }

    #[test]
    fn item_kinds_round_trip() {
        for k in ItemKind::ALL {
            assert_eq!(ItemKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ItemKind::parse("nope"), None);
    }
}
