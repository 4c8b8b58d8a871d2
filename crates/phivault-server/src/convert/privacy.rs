//! Individuals' rights on the wire: privacy items, the accounting of disclosures,
//! erasures, retention runs and the right-of-access export. The binary prints these
//! same wire types for `phivault subject …`, so each object has one JSON form.

use phivault_api as api;
use phivault_core::privacy::{
    Accounting, ErasureReport, ExportedRecord, ItemKind, PrivacyItem, RetentionReport,
    SubjectExport,
};
use serde_json::{Map, Value};

fn object<T: serde::Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn kind_to_api(k: ItemKind) -> api::PrivacyItemKind {
    match k {
        ItemKind::AccessRequest => api::PrivacyItemKind::AccessRequest,
        ItemKind::Amendment => api::PrivacyItemKind::Amendment,
        ItemKind::Disclosure => api::PrivacyItemKind::Disclosure,
        ItemKind::Restriction => api::PrivacyItemKind::Restriction,
        ItemKind::ConfidentialCommunication => api::PrivacyItemKind::ConfidentialCommunication,
        ItemKind::LegalHold => api::PrivacyItemKind::LegalHold,
    }
}

/// A privacy item on the wire.
pub fn item_to_api(i: PrivacyItem) -> api::PrivacyItem {
    api::PrivacyItem {
        id: i.id,
        kind: kind_to_api(i.kind),
        subject: i.subject,
        status: i.status.to_string(),
        created_at: i.created_at,
        due_at: i.due_at,
        updated_at: i.updated_at,
        overdue: i.overdue,
        meta: object(&i.meta),
        detail: i.detail.as_ref().map(object),
    }
}

/// An accounting of disclosures on the wire.
pub fn accounting_to_api(a: Accounting) -> api::Accounting {
    api::Accounting {
        subject: a.subject,
        from: a.from,
        to: a.to,
        disclosures: a
            .disclosures
            .into_iter()
            .map(|d| api::DisclosureEntry {
                at: d.at,
                source: d.source.to_string(),
                reference: d.reference,
                recipient: d.recipient,
                purpose: d.purpose,
                collections: d.collections,
                fields: d.fields,
                description: d.description,
            })
            .collect(),
        exclusions: a
            .exclusions
            .into_iter()
            .map(|e| api::AccountingExclusion {
                purpose: e.purpose,
                paragraph: e.paragraph.to_string(),
                explanation: e.explanation.to_string(),
                events: e.events,
            })
            .collect(),
    }
}

/// An erasure on the wire.
pub fn erasure_to_api(r: ErasureReport) -> api::Erasure {
    api::Erasure {
        subject: r.subject,
        records: r.records,
        erased_at: r.erased_at,
    }
}

/// A retention run on the wire.
pub(crate) fn retention_run_to_api(r: RetentionReport) -> api::RetentionRun {
    api::RetentionRun {
        policies: r.policies,
        disposed: r.disposed,
        held: r.held,
    }
}

/// Every retention period on the wire.
pub(crate) fn retention_list_to_api(list: Vec<(String, u32)>) -> api::RetentionList {
    api::RetentionList {
        policies: list
            .into_iter()
            .map(|(collection, days)| api::RetentionPolicy { collection, days })
            .collect(),
    }
}

fn exported_record_to_api(r: ExportedRecord) -> api::ExportedRecord {
    api::ExportedRecord {
        collection: r.collection,
        id: r.id.to_string(),
        deleted: r.deleted,
        versions: r
            .versions
            .into_iter()
            .map(|v| api::ExportedVersion {
                version: v.version,
                created_at: v.created_at,
                deleted: v.deleted,
                data: v.data,
            })
            .collect(),
    }
}

/// A right-of-access export on the wire (the JSON form; the HTML form is the core's).
pub fn subject_export_to_api(e: SubjectExport) -> api::SubjectExport {
    api::SubjectExport {
        format: api::SUBJECT_EXPORT_FORMAT.to_owned(),
        subject: e.subject,
        generated_at: e.generated_at,
        records: e.records.into_iter().map(exported_record_to_api).collect(),
        privacy: e.items.into_iter().map(item_to_api).collect(),
    }
}
