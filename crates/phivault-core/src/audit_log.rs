//! The verifiable audit log on top of the hash chain: the RFC 9162 Merkle tree kept
//! incrementally in the store, signed tree heads, inclusion and consistency proofs,
//! full-log verification against published heads, and auditor queries and exports.
//!
//! Appends stay inside the caller's write transaction (and so inside the group commit):
//! each append writes its leaf and the perfect subtrees it completes, about two node rows.

use std::fmt::Write as _;

use phivault_audit::merkle::{self, NodeSource};
use phivault_audit::{
    AuditEntry, AuditEvent, Frontier, Hash, LogBreak, LogVerifier, Outcome, ProofError,
    SignedTreeHead,
};
use time::OffsetDateTime;

use crate::action::AuditAction;
use crate::error::{StoreError, VaultError};
use crate::error_code::{ErrorCode, Missing};
use crate::policy::{Action, Principal};
use crate::store::{ReadTx, Store, WriteTx, read_tx, write_tx};
use crate::vault::{RequestMeta, Vault, append_audit};

/// Entries read per page when walking the log.
const PAGE: usize = 2000;
/// The most entries one query request scans before it returns a cursor.
const MAX_SCAN: u64 = 100_000;
/// The most events one export returns.
pub const MAX_EXPORT: usize = 100_000;

/// The `meta` key recording a retention prune: `"<through seq> <chain hash hex>"`.
pub const PRUNED_META: &str = "audit.pruned_through";
/// HIPAA keeps documentation six years (45 CFR 164.316(b)(2)); the default retention.
pub const DEFAULT_AUDIT_RETENTION: time::Duration = time::Duration::days(6 * 365 + 2);

fn parse_pruned(v: &str) -> Option<(u64, Hash)> {
    let (n, h) = v.split_once(' ')?;
    let mut hash = [0u8; 32];
    if h.len() != 64 {
        return None;
    }
    for (o, pair) in hash.iter_mut().zip(h.as_bytes().chunks(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some((n.parse().ok()?, hash))
}

/// Merkle nodes read through a transaction.
struct TxNodes<'a>(&'a mut dyn ReadTx);

impl NodeSource for TxNodes<'_> {
    type Error = StoreError;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        self.0
            .audit_node(level, index)?
            .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
    }
}

fn proof_err(e: ProofError<StoreError>) -> VaultError {
    match e {
        ProofError::OutOfRange => VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()),
        ProofError::Source(e) => e.into(),
    }
}

/// Adds `entry`'s Merkle leaf and the subtrees it completes. A log written before the tree
/// existed is back-filled the first time it is appended to.
pub(crate) fn append_merkle(tx: &mut dyn WriteTx, entry: &AuditEntry) -> Result<(), StoreError> {
    let index = entry.seq.saturating_sub(1);
    if index > 0 && tx.audit_node(0, index - 1)?.is_none() {
        backfill(tx, index)?;
    }
    let leaf = merkle::leaf_hash(entry.event_json.as_bytes());
    let nodes = merkle::append_nodes(index, leaf, |level, i| {
        tx.audit_node(level, i)?
            .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
    })?;
    tx.put_audit_nodes(&nodes)
}

/// Writes the missing nodes of the first `upto` leaves.
fn backfill(tx: &mut dyn WriteTx, upto: u64) -> Result<(), StoreError> {
    let mut after = 0u64;
    while after < upto {
        let page = tx.audit_entries(after, PAGE)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for e in page.iter().filter(|e| e.seq <= upto) {
            let i = e.seq - 1;
            if tx.audit_node(0, i)?.is_some() {
                continue;
            }
            let leaf = merkle::leaf_hash(e.event_json.as_bytes());
            let nodes = merkle::append_nodes(i, leaf, |level, j| {
                tx.audit_node(level, j)?
                    .ok_or_else(|| StoreError::Corrupt("audit merkle node missing".into()))
            })?;
            tx.put_audit_nodes(&nodes)?;
        }
        after = last;
    }
    Ok(())
}

fn now_ms(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Signs the current tree unless the latest head already covers it; returns the latest head
/// (new or not) and whether it is new. `None` for an empty log.
fn sign_in_tx(
    tx: &mut dyn WriteTx,
    key: &phivault_crypto::Keyring,
    now: OffsetDateTime,
) -> Result<Option<(SignedTreeHead, bool)>, VaultError> {
    let size = tx.audit_head()?.map_or(0, |(s, _)| s);
    let latest = tx.latest_tree_head()?;
    if let Some(l) = latest.filter(|l| l.tree_size >= size) {
        return Ok(Some((l, false)));
    }
    if size == 0 {
        return Ok(None);
    }
    let root = merkle::root(&mut TxNodes(tx), size).map_err(proof_err)?;
    let head = SignedTreeHead::sign(&key.audit_signing_key(), size, now_ms(now), root);
    tx.insert_tree_head(&head)?;
    Ok(Some((head, true)))
}

fn head_of_size(tx: &mut dyn ReadTx, size: u64) -> Result<Option<SignedTreeHead>, StoreError> {
    Ok(tx
        .tree_heads(size.saturating_sub(1), 1)?
        .into_iter()
        .find(|h| h.tree_size == size))
}

fn size_or_latest(tx: &mut dyn ReadTx, size: Option<u64>) -> Result<u64, VaultError> {
    match size {
        Some(s) => Ok(s),
        None => Ok(tx
            .latest_tree_head()?
            .ok_or(VaultError::NotFound(Missing::TreeHead.as_str()))?
            .tree_size),
    }
}

fn inclusion_in_tx(
    tx: &mut dyn ReadTx,
    seq: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof, VaultError> {
    let size = size_or_latest(tx, tree_size)?;
    let log_size = tx.audit_head()?.map_or(0, |(s, _)| s);
    if seq == 0 || seq > size || size > log_size {
        return Err(VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()));
    }
    let entry = tx
        .audit_entries(seq - 1, 1)?
        .into_iter()
        .next()
        .filter(|e| e.seq == seq)
        .ok_or(VaultError::NotFound(Missing::AuditEntry.as_str()))?;
    let mut src = TxNodes(&mut *tx);
    let path = merkle::inclusion_proof(&mut src, seq - 1, size).map_err(proof_err)?;
    let root_hash = merkle::root(&mut src, size).map_err(proof_err)?;
    let leaf_hash = src.node(0, seq - 1)?;
    let signed_head = head_of_size(tx, size)?;
    Ok(InclusionProof {
        seq,
        tree_size: size,
        leaf_hash,
        event_json: entry.event_json,
        path,
        root_hash,
        signed_head,
    })
}

fn consistency_in_tx(
    tx: &mut dyn ReadTx,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyProof, VaultError> {
    let to = size_or_latest(tx, to)?;
    let log_size = tx.audit_head()?.map_or(0, |(s, _)| s);
    if from > to || to > log_size {
        return Err(VaultError::BadRequest(ErrorCode::ProofOutOfRange.as_str()));
    }
    let mut src = TxNodes(&mut *tx);
    let path = merkle::consistency_proof(&mut src, from, to).map_err(proof_err)?;
    let from_root = merkle::root(&mut src, from).map_err(proof_err)?;
    let to_root = merkle::root(&mut src, to).map_err(proof_err)?;
    let signed_head = head_of_size(tx, to)?;
    Ok(ConsistencyProof {
        from,
        to,
        from_root,
        to_root,
        path,
        signed_head,
    })
}

/// An inclusion proof read straight from the store, for offline operator tools (not
/// audited: like [`crate::vault::verify_chain`], it must not append to the log it reads).
pub async fn prove_inclusion(
    store: &dyn Store,
    seq: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof, VaultError> {
    read_tx(store, move |tx| inclusion_in_tx(tx, seq, tree_size)).await
}

/// A consistency proof read straight from the store, for offline operator tools.
pub async fn prove_consistency(
    store: &dyn Store,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyProof, VaultError> {
    read_tx(store, move |tx| consistency_in_tx(tx, from, to)).await
}

/// The latest signed tree head in the store, for offline tools.
pub async fn latest_tree_head(store: &dyn Store) -> Result<Option<SignedTreeHead>, VaultError> {
    read_tx(store, |tx| Ok(tx.latest_tree_head()?)).await
}

/// Signs a tree head over the whole log with `keyring`'s audit key (unless the latest head
/// covers it), for offline tools; see [`Vault::sign_tree_head`].
pub async fn sign_tree_head(
    store: &dyn Store,
    keyring: std::sync::Arc<phivault_crypto::Keyring>,
    now: OffsetDateTime,
) -> Result<Option<(SignedTreeHead, bool)>, VaultError> {
    write_tx(store, move |tx| sign_in_tx(tx, &keyring, now)).await
}

/// An inclusion proof for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's sequence number (its leaf index is `seq - 1`).
    pub seq: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// `SHA-256(0x00 || event bytes)`.
    pub leaf_hash: Hash,
    /// The entry's canonical event bytes, so the verifier can recompute the leaf.
    pub event_json: String,
    /// The audit path, innermost sibling first.
    pub path: Vec<Hash>,
    /// The root the path leads to.
    pub root_hash: Hash,
    /// The signed head of `tree_size`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}

/// A consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root of the older tree.
    pub from_root: Hash,
    /// The root of the newer tree.
    pub to_root: Hash,
    /// The proof nodes.
    pub path: Vec<Hash>,
    /// The signed head of `to`, when one was signed.
    pub signed_head: Option<SignedTreeHead>,
}

/// Filters of an auditor query; every set filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The actor id (token or user id).
    pub actor: Option<String>,
    /// The subject id.
    pub subject: Option<String>,
    /// The action, exactly (`record.read`), or a prefix ending in `.` (`record.`).
    pub action: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// The declared purpose of use.
    pub purpose: Option<String>,
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events before this time.
    pub until: Option<OffsetDateTime>,
}

impl AuditQuery {
    /// Whether `ev` passes every filter.
    pub fn matches(&self, ev: &AuditEvent) -> bool {
        let opt = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        opt(&self.actor, ev.actor.id.as_deref())
            && opt(&self.subject, ev.subject.as_deref())
            && opt(&self.purpose, ev.purpose.as_deref())
            && self.action.as_deref().is_none_or(|a| {
                if a.ends_with('.') {
                    ev.action.starts_with(a)
                } else {
                    ev.action == a
                }
            })
            && self.outcome.is_none_or(|o| o == ev.outcome)
            && self.since.is_none_or(|t| ev.time >= t)
            && self.until.is_none_or(|t| ev.time < t)
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// Matching events with their sequence numbers, in log order.
    pub events: Vec<(u64, AuditEvent)>,
    /// The cursor for the next page (the last seq scanned), if the log goes on.
    pub next: Option<u64>,
}

/// Export encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line: `{"seq":…,"event":{…}}`.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// The outcome of verifying the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifyReport {
    /// Entries verified before the first break (all of them if none).
    pub entries: u64,
    /// The Merkle root over the verified entries.
    pub root_hash: Hash,
    /// The hash-chain hash of the last verified entry (`None` for an empty log).
    pub chain_head: Option<Hash>,
    /// Trusted signed heads checked.
    pub heads_checked: usize,
    /// Sizes of stored heads whose signature is invalid (forged or corrupted).
    pub rejected_heads: Vec<u64>,
    /// The first bad entry.
    pub first_break: Option<LogBreak>,
}

impl LogVerifyReport {
    /// Whether everything verified.
    pub fn ok(&self) -> bool {
        self.first_break.is_none() && self.rejected_heads.is_empty()
    }
}

/// Verifies the stored log: the chain, every stored Merkle leaf, every stored signed head
/// (a head with a bad signature is reported, not trusted) and the `external` heads (e.g. a
/// published `HEAD.json`, which catches truncation and rollback of the database as a
/// whole). `public_key` is the audit verifying key; without it (an operator without the
/// passphrase) only the chain and the Merkle leaves are checked, no head.
pub async fn verify_log(
    store: &dyn Store,
    public_key: Option<&[u8; 32]>,
    external: &[SignedTreeHead],
) -> Result<LogVerifyReport, VaultError> {
    let mut heads: Vec<SignedTreeHead> = external.to_vec();
    let mut after = 0u64;
    while public_key.is_some() {
        let page = read_tx(store, move |tx| Ok(tx.tree_heads(after, PAGE)?)).await?;
        let Some(last) = page.last().map(|h| h.tree_size) else {
            break;
        };
        heads.extend(page);
        after = last;
    }
    let heads = if public_key.is_some() {
        heads
    } else {
        Vec::new()
    };
    let key = public_key.copied().unwrap_or([0u8; 32]);
    // Above a pruned prefix, resume from the kept frontier nodes and the pruned head's hash.
    let pruned = read_tx(store, |tx| Ok(tx.get_meta(PRUNED_META)?)).await?;
    let (mut v, mut after) = match pruned.as_deref().and_then(parse_pruned) {
        None => (LogVerifier::new(heads, &key), 0u64),
        Some((through, chain_hash)) => {
            let frontier = read_tx(store, move |tx| {
                Ok(Frontier::from_nodes(through, |level, index| {
                    TxNodes(&mut *tx).node(level, index)
                })?)
            })
            .await?;
            (
                LogVerifier::resume(heads, &key, frontier, chain_hash),
                through,
            )
        }
    };
    let mut first_break = None;
    'walk: loop {
        let (entries, leaves) = read_tx(store, move |tx| {
            let entries = tx.audit_entries(after, PAGE)?;
            let leaves = tx.audit_nodes(0, after, PAGE)?;
            Ok((entries, leaves))
        })
        .await?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            break;
        };
        // Align the stored leaves with the entries (a missing leaf is simply not compared).
        let mut leaves = leaves.into_iter().peekable();
        let stored: Vec<Option<Hash>> = entries
            .iter()
            .map(|e| {
                let index = e.seq.saturating_sub(1);
                while leaves.next_if(|(i, _)| *i < index).is_some() {}
                leaves.next_if(|(i, _)| *i == index).map(|(_, h)| h)
            })
            .collect();
        if let Err(b) = v.push_all(&entries, &stored) {
            first_break = Some(b);
            break 'walk;
        }
        after = last;
    }
    if first_break.is_none() {
        first_break = v.finish().err();
    }
    Ok(LogVerifyReport {
        entries: v.verified(),
        root_hash: v.root(),
        chain_head: (v.verified() > 0).then(|| v.chain_head().1),
        heads_checked: v.matched_heads(),
        rejected_heads: v.rejected_heads().to_vec(),
        first_break,
    })
}

/// [`verify_log`] against the stored heads, as the foundation's report (for
/// `POST /v1/audit/verify`).
pub(crate) async fn verify_report(
    store: &dyn Store,
    public_key: &[u8; 32],
) -> Result<crate::vault::AuditVerifyReport, VaultError> {
    let r = verify_log(store, Some(public_key), &[]).await?;
    let first_break = match (&r.first_break, r.rejected_heads.first()) {
        (Some(b), _) => Some((b.seq, b.kind.to_string())),
        (None, Some(size)) => Some((
            *size,
            format!("stored tree head of size {size} has an invalid signature"),
        )),
        (None, None) => None,
    };
    Ok(crate::vault::AuditVerifyReport {
        entries: r.entries,
        head_hash: r
            .chain_head
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect()),
        first_break,
    })
}

/// Scans the log from `after` for matches, at most `limit` of them and `MAX_SCAN` entries.
pub(crate) async fn scan(
    store: &dyn Store,
    query: &AuditQuery,
    mut after: u64,
    limit: usize,
) -> Result<AuditPage, VaultError> {
    let mut events = Vec::new();
    let mut scanned = 0u64;
    loop {
        let page = read_tx(store, move |tx| Ok(tx.audit_entries(after, PAGE)?)).await?;
        if page.is_empty() {
            return Ok(AuditPage { events, next: None });
        }
        for e in page {
            after = e.seq;
            scanned += 1;
            let ev = e.event().map_err(|_| VaultError::Integrity)?;
            if query.matches(&ev) {
                events.push((e.seq, ev));
                if events.len() >= limit {
                    return Ok(AuditPage {
                        events,
                        next: Some(after),
                    });
                }
            }
            if scanned >= MAX_SCAN {
                return Ok(AuditPage {
                    events,
                    next: Some(after),
                });
            }
        }
    }
}

fn csv_cell(out: &mut String, v: &str) {
    // A leading formula character is neutralised so spreadsheets do not evaluate it.
    let guarded = matches!(v.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'));
    if guarded || v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The CSV header of an export.
pub const CSV_HEADER: &str = "seq,time,request_id,actor_kind,actor_id,auth_method,source,action,\
outcome,reason,purpose,collection,record_id,version,subject,fields,count,target";

/// Encodes events for export.
pub fn encode_export(events: &[(u64, AuditEvent)], format: ExportFormat) -> String {
    let mut out = String::new();
    match format {
        ExportFormat::Jsonl => {
            for (seq, ev) in events {
                let body = String::from_utf8(ev.canonical_bytes()).unwrap_or_default();
                let _ = writeln!(out, "{{\"seq\":{seq},\"event\":{body}}}");
            }
        }
        ExportFormat::Csv => {
            out.push_str(CSV_HEADER);
            out.push('\n');
            for (seq, ev) in events {
                let time = ev
                    .time
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let cells: [String; 18] = [
                    seq.to_string(),
                    time,
                    ev.request_id.clone(),
                    ev.actor.kind.as_str().to_owned(),
                    ev.actor.id.clone().unwrap_or_default(),
                    ev.auth_method.clone(),
                    ev.source.clone().unwrap_or_default(),
                    ev.action.clone(),
                    ev.outcome.as_str().to_owned(),
                    ev.reason.clone().unwrap_or_default(),
                    ev.purpose.clone().unwrap_or_default(),
                    ev.collection.clone().unwrap_or_default(),
                    ev.record_id.clone().unwrap_or_default(),
                    ev.version.map(|v| v.to_string()).unwrap_or_default(),
                    ev.subject.clone().unwrap_or_default(),
                    ev.fields.join(";"),
                    ev.count.map(|v| v.to_string()).unwrap_or_default(),
                    ev.target.clone().unwrap_or_default(),
                ];
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_cell(&mut out, c);
                }
                out.push('\n');
            }
        }
    }
    out
}

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
        let cutoff = self.clock().now() - retention;
        let now = self.clock().now();
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
