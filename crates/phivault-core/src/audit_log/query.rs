//! Reading the log as an auditor: query filters and pages, full-log verification
//! against published heads, and CSV / JSON Lines export encoding.

use std::fmt::Write as _;

use phivault_audit::merkle::NodeSource;
use phivault_audit::{AuditEvent, Frontier, Hash, LogBreak, LogVerifier, Outcome, SignedTreeHead};
use time::OffsetDateTime;

use super::tree::TxNodes;
use super::{MAX_SCAN, PAGE, PRUNED_META, parse_pruned};
use crate::error::VaultError;
use crate::store::{Store, read_tx};

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

pub(super) fn csv_cell(out: &mut String, v: &str) {
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
