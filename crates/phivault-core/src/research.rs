//! Research use of the vault: de-identified exports and small-cell-suppressed aggregates.
//!
//! * Records leave through the Safe Harbor method of 45 CFR 164.514(b)(2): every direct
//!   identifier tagged in the collection's schema is removed, dates are cut to the year,
//!   ages over 89 are folded, ZIP codes are cut to three digits (restricted prefixes become
//!   `000`), free text is scrubbed ([`phivault_deid::record::deidentify_record`]).
//! * The vault's subject id is replaced by a keyed pseudonym, the re-identification code
//!   of 45 CFR 164.514(c): stable across exports, not derived from PHI, and not reversible
//!   without the vault's pseudonym key, which never leaves the vault.
//! * An export comes with a k-anonymity report over the quasi-identifiers the researcher
//!   names, so a small equivalence class is visible before the data is shared.
//! * Aggregates hide every count under [`phivault_deid::cells::MIN_CELL`] (11) and, where
//!   needed, further cells, so the published total cannot recover a hidden one.
//!
//! Both are bulk disclosures: they need the `research:read` scope and a login within the
//! step-up window (the local operator is exempt). The audit event names the collection,
//! the exported field names and the row or cell count, never a value.
//!
//! Limits: one call reads the whole collection inside one store transaction (so the audit
//! event commits with the read) and holds the rows in memory; very large collections want a
//! streamed, paged export later.

use std::collections::BTreeMap;

use phivault_deid::Scrubber;
use phivault_deid::record::{FieldRule, Identifier, RecordOptions, deidentify_record};
use serde_json::{Map, Value};

use crate::action::AuditAction;
use crate::error::VaultError;
use crate::error_code::{ErrorCode, InternalFault, Missing};
use crate::ids::{CollectionName, RecordId};
use crate::policy::{Action, Principal};
use crate::schema::{CollectionSchema, FieldType, IdentifierKind, Sensitivity};
use crate::seal::{SubjectKeys, open_with};
use crate::store::WriteTx;
use crate::vault::{RequestMeta, Vault};

pub use phivault_deid::cells::{Cell, KReport as KAnonymityReport, MIN_CELL, Suppression};

/// The column holding the research pseudonym in every exported row.
pub const RESEARCH_ID: &str = "research_id";

/// The k an export's report is measured against (the same threshold as cell suppression).
pub const TARGET_K: u64 = MIN_CELL;

/// Subjects and records read per store call.
const PAGE: usize = 500;

/// One aggregate cell: the de-identified values of the group-by fields, in order.
pub type AggregateCell = Cell<Vec<Value>>;

fn identifier(kind: IdentifierKind) -> Identifier {
    use IdentifierKind as K;
    match kind {
        K::Name => Identifier::Name,
        K::Geographic => Identifier::Geographic,
        K::Date => Identifier::Date,
        K::Phone => Identifier::Phone,
        K::Fax => Identifier::Fax,
        K::Email => Identifier::Email,
        K::Ssn => Identifier::Ssn,
        K::MedicalRecordNumber => Identifier::MedicalRecordNumber,
        K::HealthPlanNumber => Identifier::HealthPlanNumber,
        K::AccountNumber => Identifier::AccountNumber,
        K::LicenseNumber => Identifier::LicenseNumber,
        K::VehicleId => Identifier::VehicleId,
        K::DeviceId => Identifier::DeviceId,
        K::Url => Identifier::Url,
        K::IpAddress => Identifier::IpAddress,
        K::Biometric => Identifier::Biometric,
        K::Photo => Identifier::Photo,
        K::OtherUniqueId => Identifier::OtherUniqueId,
    }
}

/// The de-identification rules of a schema: identifier tags map one to one; every `text`
/// field is scrubbed whatever its tag (free text can name anyone).
pub fn field_rules(schema: &CollectionSchema) -> Vec<FieldRule> {
    schema
        .fields
        .iter()
        .map(|f| FieldRule {
            name: f.name.to_string(),
            identifier: match f.sensitivity {
                Sensitivity::Phi(kind) => Some(identifier(kind)),
                Sensitivity::Health | Sensitivity::None => None,
            },
            free_text: f.field_type == FieldType::Text,
        })
        .collect()
}

/// Everything [`de_identified_rows`] needs, moved into the transaction.
struct Job {
    collection: String,
    keyring: std::sync::Arc<phivault_crypto::Keyring>,
    options: RecordOptions,
}

/// Reads and de-identifies every live record of the collection, subject by subject.
fn de_identified_rows(
    tx: &mut dyn WriteTx,
    job: &Job,
) -> Result<(CollectionSchema, Vec<Map<String, Value>>), VaultError> {
    let row = tx
        .get_collection(&job.collection)?
        .ok_or(VaultError::NotFound(Missing::Collection.as_str()))?;
    let schema: CollectionSchema =
        serde_json::from_str(&row.schema_json).map_err(|_| VaultError::Integrity)?;
    let rules = field_rules(&schema);
    let scrubber =
        Scrubber::new().map_err(|_| VaultError::Internal(InternalFault::DeidScrubber.as_str()))?;
    let pseudonym_key = job.keyring.pseudonym_key().expose_secret();
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let keys = tx.list_subject_keys(after.as_deref(), PAGE)?;
        let Some(last) = keys.last() else { break };
        after = Some(last.subject.clone());
        for key in &keys {
            let subject = key.subject.as_str();
            if subject.starts_with('_') {
                continue;
            }
            let mut dek = None;
            let mut cursor: Option<(String, RecordId)> = None;
            loop {
                let heads = tx.list_subject_records(
                    subject,
                    cursor.as_ref().map(|(c, id)| (c.as_str(), id)),
                    PAGE,
                )?;
                let Some(last) = heads.last() else { break };
                cursor = Some((last.collection.clone(), last.id));
                let full = heads.len() == PAGE;
                for head in heads
                    .iter()
                    .filter(|h| h.collection == job.collection && !h.deleted)
                {
                    let version = tx
                        .get_record_version(&head.collection, &head.id, head.version)?
                        .ok_or(VaultError::Integrity)?;
                    if version.tombstone {
                        continue;
                    }
                    if version.subject != head.subject {
                        return Err(VaultError::Integrity);
                    }
                    if dek.is_none() {
                        dek = Some(SubjectKeys::new(&job.keyring).unwrap(tx, subject)?);
                    }
                    let Some(dek) = dek.as_ref() else {
                        return Err(VaultError::Integrity);
                    };
                    let data = Value::Object(open_with(dek, &version)?);
                    let (fields, _method) =
                        deidentify_record(&data, subject, &rules, &job.options, &scrubber)
                            .map_err(|_| VaultError::Integrity)?;
                    let mut out = Map::new();
                    out.insert(
                        RESEARCH_ID.to_owned(),
                        Value::String(phivault_deid::pseudonym(pseudonym_key, subject)),
                    );
                    out.extend(fields);
                    rows.push(out);
                }
                if !full {
                    break;
                }
            }
        }
        if keys.len() < PAGE {
            break;
        }
    }
    Ok((schema, rows))
}

/// A stable, ordered key for a JSON value (used to form equivalence classes and groups).
fn class_key(row: &Map<String, Value>, fields: &[String]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            row.get(f)
                .map_or_else(|| "null".to_owned(), Value::to_string)
        })
        .collect()
}

fn check_fields(schema: &CollectionSchema, fields: &[String]) -> Result<(), VaultError> {
    if fields
        .iter()
        .all(|f| schema.fields.iter().any(|d| d.name.as_str() == f))
    {
        Ok(())
    } else {
        Err(VaultError::BadRequest(ErrorCode::UnknownField.as_str()))
    }
}

impl Vault {
    fn research_job(&self, collection: &CollectionName) -> Job {
        let year = self.clock().now().year();
        Job {
            collection: collection.to_string(),
            keyring: self.keyring(),
            options: RecordOptions::safe_harbor(year),
        }
    }

    /// A de-identified export of every live record of `collection` (Safe Harbor, 45 CFR
    /// 164.514(b)(2)), each row keyed by the subject's research pseudonym (the
    /// re-identification code of 164.514(c)) in [`RESEARCH_ID`], with a k-anonymity report
    /// over `quasi_identifiers` (field names of the collection) against [`TARGET_K`].
    ///
    /// Needs `research:read` and step-up. Audited as `research.export` with the exported
    /// field names and the row count.
    pub async fn research_export(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        quasi_identifiers: &[String],
    ) -> Result<(Vec<Map<String, Value>>, KAnonymityReport), VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::ResearchExport);
        ev.collection = Some(collection.to_string());
        self.authorize(principal, Action::Research, &ev).await?;
        let job = self.research_job(collection);
        let quasi = quasi_identifiers.to_vec();
        self.audited(ev, move |tx, ev| {
            let (schema, rows) = de_identified_rows(tx, &job)?;
            check_fields(&schema, &quasi)?;
            let report = phivault_deid::cells::k_anonymity(
                rows.iter().map(|r| class_key(r, &quasi)),
                TARGET_K,
            );
            let names: std::collections::BTreeSet<&String> =
                rows.iter().flat_map(|r| r.keys()).collect();
            ev.fields = names.into_iter().cloned().collect();
            ev.count = Some(rows.len() as u64);
            Ok((rows, report))
        })
        .await
    }

    /// Counts, and optionally sums of the numeric field `sum`, of the de-identified records
    /// of `collection` grouped by the de-identified values of `group_by`. Cells under
    /// [`MIN_CELL`] are hidden (primary suppression) and further cells are hidden when the
    /// total would otherwise reveal them (complementary suppression), see
    /// [`phivault_deid::cells::suppress`]. A statistical disclosure control in the spirit of
    /// 45 CFR 164.514(b)(1); the rows themselves never leave the vault.
    ///
    /// Needs `research:read` and step-up. Audited as `research.aggregate` with the group-by
    /// and sum field names and the number of cells.
    pub async fn research_aggregate(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        collection: &CollectionName,
        group_by: &[String],
        sum: Option<String>,
    ) -> Result<Vec<AggregateCell>, VaultError> {
        let mut ev = self.event(meta, Some(principal), AuditAction::ResearchAggregate);
        ev.collection = Some(collection.to_string());
        ev.fields = group_by.iter().chain(sum.iter()).cloned().collect();
        self.authorize(principal, Action::Research, &ev).await?;
        let job = self.research_job(collection);
        let group_by = group_by.to_vec();
        self.audited(ev, move |tx, ev| {
            let (schema, rows) = de_identified_rows(tx, &job)?;
            check_fields(&schema, &group_by)?;
            if group_by.is_empty() {
                return Err(VaultError::BadRequest(ErrorCode::GroupByRequired.as_str()));
            }
            if let Some(s) = &sum {
                let numeric = schema.fields.iter().any(|d| {
                    d.name.as_str() == s
                        && matches!(d.field_type, FieldType::Integer | FieldType::Decimal)
                });
                if !numeric {
                    return Err(VaultError::BadRequest(
                        ErrorCode::SumFieldNotNumeric.as_str(),
                    ));
                }
            }
            let mut groups: BTreeMap<Vec<String>, (Vec<Value>, u64, f64)> = BTreeMap::new();
            for row in &rows {
                let g = groups.entry(class_key(row, &group_by)).or_insert_with(|| {
                    let key = group_by
                        .iter()
                        .map(|f| row.get(f).cloned().unwrap_or(Value::Null))
                        .collect();
                    (key, 0, 0.0)
                });
                g.1 += 1;
                if let Some(v) = sum
                    .as_ref()
                    .and_then(|s| row.get(s))
                    .and_then(Value::as_f64)
                {
                    g.2 += v;
                }
            }
            let cells = phivault_deid::cells::suppress(
                groups
                    .into_values()
                    .map(|(key, n, total)| (key, n, sum.as_ref().map(|_| total)))
                    .collect(),
                MIN_CELL,
            );
            ev.count = Some(cells.len() as u64);
            Ok(cells)
        })
        .await
    }
}

/// The columns of an export: [`RESEARCH_ID`] first, then every other field name in order.
pub fn export_columns(rows: &[Map<String, Value>]) -> Vec<String> {
    let rest: std::collections::BTreeSet<&String> = rows
        .iter()
        .flat_map(|r| r.keys())
        .filter(|k| k.as_str() != RESEARCH_ID)
        .collect();
    std::iter::once(RESEARCH_ID.to_owned())
        .chain(rest.into_iter().cloned())
        .collect()
}

/// One JSON object per line.
pub fn rows_to_jsonl(rows: &[Map<String, Value>]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&Value::Object(r.clone()).to_string());
        out.push('\n');
    }
    out
}

fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// RFC 4180 CSV with a header row of [`export_columns`]; absent values are empty, nested
/// values are written as JSON.
pub fn rows_to_csv(rows: &[Map<String, Value>]) -> String {
    let columns = export_columns(rows);
    let mut out = String::new();
    let header: Vec<String> = columns
        .iter()
        .map(|c| csv_cell(Some(&Value::String(c.clone()))))
        .collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> = columns.iter().map(|c| csv_cell(r.get(c))).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}
