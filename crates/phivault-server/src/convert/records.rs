//! Record views on the wire.

use phivault_api as api;
use phivault_core::RecordView;

/// A record view on the wire.
pub(crate) fn record_to_api(v: RecordView) -> api::Record {
    api::Record {
        collection: v.collection,
        id: v.id.0,
        subject: v.subject,
        version: v.version,
        current_version: v.current_version,
        data: v.data,
        deleted: v.deleted,
        created_at: v.created_at,
        updated_at: v.updated_at,
    }
}
