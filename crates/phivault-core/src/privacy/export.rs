//! The right of access (164.524): everything the vault holds about a subject, and its
//! renderings as JSON and as a self-contained HTML page.

use std::collections::BTreeSet;

use phivault_crypto::Keyring;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{ItemKind, ItemStatus, PAGE, PrivacyItem, close, rfc3339, to_item};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::ErrorCode;
use crate::ids::{RecordId, SubjectId};
use crate::policy::{Action, Principal, PurposeOfUse};
use crate::seal::open_data;
use crate::store::{ReadTx, RecordHead, read_tx};
use crate::vault::{RequestMeta, Vault};

/// One version of a record in a right-of-access export.
#[derive(Clone, PartialEq)]
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

impl Vault {
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
        let mut ev = self.privacy_event(
            meta,
            principal,
            AuditAction::SubjectExport,
            Some(subject.as_str()),
        );
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
                let mut row = Self::item_for_change(
                    tx,
                    &id,
                    &[ItemKind::AccessRequest],
                    ItemStatus::Open,
                    ev,
                )?;
                if row.subject != subj {
                    return Err(VaultError::Conflict(
                        ErrorCode::RequestForAnotherSubject.as_str(),
                    ));
                }
                ev.reason = Some(format!("item:{}", row.id));
                close(&mut row, ItemStatus::Completed, now, &pid)?;
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

/// The one inline stylesheet of [`SubjectExport::to_html`]. It is a constant so that the
/// HTTP edge can allow exactly it (by hash) in its `Content-Security-Policy` header.
pub const EXPORT_STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto}\
    table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}\
    .deleted{color:#777}";

impl SubjectExport {
    /// A readable, self-contained HTML document (no scripts, no external resources).
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(4096);
        h.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>Health record export</title><style>",
        );
        h.push_str(EXPORT_STYLE);
        h.push_str("</style></head><body>\n");
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
}

crate::phi::redacted_debug!(ExportedVersion { version, created_at, deleted } hide { data });
