//! The storage contract for the Privacy Rule workflows: individuals' requests (access,
//! amendment), recorded disclosures, restrictions, confidential communications and legal
//! holds, plus the record queries that retention and the right of access need. `ReadTx`
//! and `WriteTx` extend these traits, so every backend implements them.

use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::RecordId;
use crate::store::RecordHead;

/// One privacy item. Columns other than `sealed` carry no PHI (ids, statuses, dates,
/// collection and field names, purposes); the individual's words, requested changes,
/// recipients and reasons are in `sealed`, under the subject's data key, so erasing the
/// subject makes them unreadable too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyItemRow {
    /// The item id (a UUID).
    pub id: String,
    /// `access_request`, `amendment`, `disclosure`, `restriction`,
    /// `confidential_communication` or `legal_hold`.
    pub kind: String,
    /// The subject it concerns.
    pub subject: String,
    /// The state: `open`, `completed`, `accepted`, `denied`, `active`, `ended`, `recorded`.
    pub status: String,
    /// When it was received or recorded.
    pub created_at: OffsetDateTime,
    /// When an answer is due, for requests.
    pub due_at: Option<OffsetDateTime>,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// Non-PHI details as JSON.
    pub meta_json: String,
    /// PHI details as JSON sealed under the subject's data key.
    pub sealed: Vec<u8>,
}

/// Privacy reads available inside any transaction.
pub trait PrivacyReadTx {
    /// One item by id.
    fn get_privacy_item(&mut self, id: &str) -> Result<Option<PrivacyItemRow>, StoreError>;
    /// Items of `kind` (all subjects, or one), oldest first.
    fn list_privacy_items(
        &mut self,
        kind: &str,
        subject: Option<&str>,
    ) -> Result<Vec<PrivacyItemRow>, StoreError>;
    /// Every record head of a subject, deleted ones included, ordered by (collection, id),
    /// after the cursor, at most `limit`.
    fn subject_record_heads(
        &mut self,
        subject: &str,
        after: Option<(&str, &RecordId)>,
        limit: usize,
    ) -> Result<Vec<RecordHead>, StoreError>;
    /// Record heads of `collection` last changed before `before`, ordered by id, after
    /// the cursor, at most `limit` (retention).
    fn records_updated_before(
        &mut self,
        collection: &str,
        before: OffsetDateTime,
        after: Option<&RecordId>,
        limit: usize,
    ) -> Result<Vec<RecordHead>, StoreError>;
    /// Whether the subject is in the shred ledger (its data key was destroyed).
    fn is_shredded(&mut self, subject: &str) -> Result<bool, StoreError>;
}

/// Privacy writes, available inside a write transaction.
pub trait PrivacyWriteTx {
    /// Inserts or replaces an item.
    fn put_privacy_item(&mut self, row: &PrivacyItemRow) -> Result<(), StoreError>;
    /// Deletes a record for good: its versions, index entries and head (disposal at the
    /// end of retention). False if it did not exist.
    fn dispose_record(&mut self, collection: &str, id: &RecordId) -> Result<bool, StoreError>;
}
