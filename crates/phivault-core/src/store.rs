//! The storage contract. A backend implements [`Store`]: closures run inside read or write
//! transactions through [`ReadTx`] / [`WriteTx`]. Write closures may be batched into one
//! commit (group commit); each closure is isolated (a failing one is rolled back alone),
//! and its future resolves only once its commit is durable.
//!
//! Rows hold ciphertext, wrapped keys, blind-index tags, ids, names and times only.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use phivault_audit::{AuditEntry, Hash, SignedTreeHead};
use time::OffsetDateTime;

use crate::error::{StoreError, VaultError};
use crate::error_code::InternalFault;
use crate::ids::{RecordId, TokenId};

/// The `meta` key holding the vault's id (written at `init`, named in backup manifests).
pub const META_VAULT_ID: &str = "vault_id";

/// A boxed, sendable future, so that [`Store`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A closure run in a read transaction.
pub type ReadFn = Box<dyn FnOnce(&mut dyn ReadTx) -> Result<(), StoreError> + Send>;
/// A closure run in a write transaction.
pub type WriteFn = Box<dyn FnOnce(&mut dyn WriteTx) -> Result<(), StoreError> + Send>;

/// A stored collection: its name and schema (JSON); schemas are metadata, not PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRow {
    /// The collection name.
    pub name: String,
    /// The schema as JSON text.
    pub schema_json: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A subject's data key, wrapped by a key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKeyRow {
    /// The opaque subject id.
    pub subject: String,
    /// `WrappedKey::to_bytes()`.
    pub wrapped_key: Vec<u8>,
    /// The KEK version that wraps it (also inside `wrapped_key`; kept as a column for rotation).
    pub kek_version: u32,
    /// When the key was created.
    pub created_at: OffsetDateTime,
}

/// The current state of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: RecordId,
    /// The owning subject.
    pub subject: String,
    /// The current version (1 on create).
    pub version: u64,
    /// Whether the record is soft-deleted.
    pub deleted: bool,
    /// When version 1 was written.
    pub created_at: OffsetDateTime,
    /// When the current version was written.
    pub updated_at: OffsetDateTime,
}

/// One version of a record: sealed data, or a deletion tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersionRow {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: RecordId,
    /// This version's number.
    pub version: u64,
    /// The owning subject.
    pub subject: String,
    /// The sealed JSON (`seal_record` output); empty for a tombstone.
    pub sealed: Vec<u8>,
    /// Whether this version deletes the record.
    pub tombstone: bool,
    /// When this version was written.
    pub created_at: OffsetDateTime,
}

/// One blind-index entry: `tag = HMAC(field key, normalised value)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The indexed field's name.
    pub field: String,
    /// The HMAC tag.
    pub tag: [u8; 32],
}

/// A stored API token; only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The public id.
    pub id: TokenId,
    /// A label chosen by its creator.
    pub name: String,
    /// `token_hash(secret)`.
    pub secret_hash: [u8; 32],
    /// The service account (a user id) the token acts for.
    pub owner: String,
    /// Role names the token carries (a subset of its owner's).
    pub roles: Vec<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working (mandatory).
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used, if ever.
    pub last_used_at: Option<OffsetDateTime>,
}

/// Reads available inside any transaction.
pub trait ReadTx:
    crate::identity_store::IdentityReadTx + crate::privacy_store::PrivacyReadTx
{
    /// A vault-wide setting (e.g. the vault id).
    fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// One collection.
    fn get_collection(&mut self, name: &str) -> Result<Option<CollectionRow>, StoreError>;
    /// All collections, by name.
    fn list_collections(&mut self) -> Result<Vec<CollectionRow>, StoreError>;
    /// One subject's wrapped data key.
    fn get_subject_key(&mut self, subject: &str) -> Result<Option<SubjectKeyRow>, StoreError>;
    /// Subject keys ordered by subject id, after `after`, at most `limit`.
    fn list_subject_keys(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SubjectKeyRow>, StoreError>;
    /// How many subject keys exist.
    fn count_subject_keys(&mut self) -> Result<u64, StoreError>;
    /// A record's current state.
    fn get_record_head(
        &mut self,
        collection: &str,
        id: &RecordId,
    ) -> Result<Option<RecordHead>, StoreError>;
    /// One version of a record.
    fn get_record_version(
        &mut self,
        collection: &str,
        id: &RecordId,
        version: u64,
    ) -> Result<Option<RecordVersionRow>, StoreError>;
    /// Every version of a record, oldest first.
    fn list_record_versions(
        &mut self,
        collection: &str,
        id: &RecordId,
    ) -> Result<Vec<RecordVersionRow>, StoreError>;
    /// Live (not deleted) records whose `field` carries `tag`, by id, at most `limit`.
    fn find_by_index(
        &mut self,
        collection: &str,
        field: &str,
        tag: &[u8; 32],
        limit: usize,
    ) -> Result<Vec<RecordId>, StoreError>;
    /// Live records of a subject ordered by (collection, id), after the cursor, at most `limit`.
    fn list_subject_records(
        &mut self,
        subject: &str,
        after: Option<(&str, &RecordId)>,
        limit: usize,
    ) -> Result<Vec<RecordHead>, StoreError>;
    /// A token by the hash of its secret.
    fn get_token_by_hash(&mut self, hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError>;
    /// Every token, newest first.
    fn list_tokens(&mut self) -> Result<Vec<TokenRow>, StoreError>;
    /// The last audit entry's sequence number and hash.
    fn audit_head(&mut self) -> Result<Option<(u64, Hash)>, StoreError>;
    /// Audit entries with `seq > after`, in order, at most `limit`.
    fn audit_entries(&mut self, after: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// One stored Merkle node: the perfect subtree hash at `(level, index)` (level 0 holds
    /// the leaf of the entry with seq `index + 1`); see `phivault_audit::merkle`.
    fn audit_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError>;
    /// Stored Merkle nodes of one level with `index >= from`, by index, at most `limit`.
    fn audit_nodes(
        &mut self,
        level: u32,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, StoreError>;
    /// The signed tree head with the largest tree size.
    fn latest_tree_head(&mut self) -> Result<Option<SignedTreeHead>, StoreError>;
    /// Signed tree heads with `tree_size > after`, by size, at most `limit`.
    fn tree_heads(&mut self, after: u64, limit: usize) -> Result<Vec<SignedTreeHead>, StoreError>;
    /// The shred ledger: every subject whose data key was destroyed, by subject. Backends
    /// without a ledger report `Unavailable`.
    fn list_shred_ledger(&mut self) -> Result<Vec<crate::backup::ShredEntry>, StoreError> {
        Err(StoreError::Unavailable(
            "this store has no shred ledger".to_owned(),
        ))
    }
}

/// Writes, available inside a write transaction.
pub trait WriteTx:
    ReadTx + crate::identity_store::IdentityWriteTx + crate::privacy_store::PrivacyWriteTx
{
    /// Sets a vault-wide setting.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Adds a collection; `Duplicate` if the name exists.
    fn insert_collection(&mut self, row: &CollectionRow) -> Result<(), StoreError>;
    /// Adds a subject key; `Duplicate` if the subject has one.
    fn insert_subject_key(&mut self, row: &SubjectKeyRow) -> Result<(), StoreError>;
    /// Replaces a subject's wrapped key (key rotation); false if the subject is unknown.
    fn update_subject_key(
        &mut self,
        subject: &str,
        wrapped_key: &[u8],
        kek_version: u32,
    ) -> Result<bool, StoreError>;
    /// Adds a record head; `Duplicate` if the id exists.
    fn insert_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError>;
    /// Replaces a record head.
    fn update_record_head(&mut self, head: &RecordHead) -> Result<(), StoreError>;
    /// Adds a version; `Duplicate` if that version exists.
    fn insert_record_version(&mut self, row: &RecordVersionRow) -> Result<(), StoreError>;
    /// Replaces every index entry of a record.
    fn replace_index_entries(
        &mut self,
        collection: &str,
        id: &RecordId,
        entries: &[IndexEntry],
    ) -> Result<(), StoreError>;
    /// Adds a token.
    fn insert_token(&mut self, row: &TokenRow) -> Result<(), StoreError>;
    /// Marks a token revoked; false if unknown or already revoked.
    fn revoke_token(&mut self, id: &TokenId, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Appends an audit entry; `Duplicate` if its sequence number exists.
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Stores Merkle nodes `(level, index, hash)`; `Duplicate` if one exists.
    fn put_audit_nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), StoreError>;
    /// Stores a signed tree head; `Duplicate` if a head of that size exists.
    fn insert_tree_head(&mut self, head: &SignedTreeHead) -> Result<(), StoreError>;
    /// Retention: deletes audit entries with `seq <= through` and the Merkle leaves (level
    /// 0) with `index + 1 < through` (the leaf of entry `through` stays: it can be the
    /// sibling of the first kept leaf); interior nodes stay, so roots and proofs for the
    /// kept entries still work. Returns how many entries were deleted.
    fn prune_audit(&mut self, through: u64) -> Result<u64, StoreError>;
    /// Adds a subject to the shred ledger (kept if already listed, with its first time).
    fn record_shred(&mut self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let _ = (subject, at);
        Err(StoreError::Unavailable(
            "this store has no shred ledger".to_owned(),
        ))
    }
    /// Deletes a subject's wrapped data key (crypto-shredding); false if it had none.
    fn delete_subject_key(&mut self, subject: &str) -> Result<bool, StoreError> {
        let _ = subject;
        Err(StoreError::Unavailable(
            "this store cannot delete subject keys".to_owned(),
        ))
    }
}

/// A storage backend.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Runs `f` in a read transaction on a consistent snapshot.
    fn read(&self, f: ReadFn) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Runs `f` in a write transaction and resolves once the commit is durable. If `f`
    /// fails, its changes are rolled back and the error returned; other batched closures
    /// are unaffected.
    fn write(&self, f: WriteFn) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;
    /// Pushes out what deleted rows leave behind on disk (e.g. old page images in a
    /// write-ahead log), so that a destroyed data key does not linger; a no-op by default.
    fn scrub_freed(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

type Slot<T> = Arc<Mutex<Option<Result<T, VaultError>>>>;

fn take<T>(slot: &Slot<T>) -> Option<Result<T, VaultError>> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

fn finish<T>(outcome: Result<(), StoreError>, slot: &Slot<T>) -> Result<T, VaultError> {
    match (outcome, take(slot)) {
        (Ok(()), Some(Ok(v))) => Ok(v),
        (Err(StoreError::Aborted), Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(()), _) => Err(VaultError::Internal(
            InternalFault::TransactionResultMissing.as_str(),
        )),
    }
}

/// Keeps a closure's typed result in `slot` and tells the backend whether to commit.
fn keep<T>(slot: &Slot<T>, r: Result<T, VaultError>) -> Result<(), StoreError> {
    let failed = r.is_err();
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    if failed {
        Err(StoreError::Aborted)
    } else {
        Ok(())
    }
}

/// Runs a typed closure in a write transaction; a domain error inside it rolls it back.
pub async fn write_tx<T, F>(store: &dyn Store, f: F) -> Result<T, VaultError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTx) -> Result<T, VaultError> + Send + 'static,
{
    let slot: Slot<T> = Arc::new(Mutex::new(None));
    let inner = slot.clone();
    let outcome = store.write(Box::new(move |tx| keep(&inner, f(tx)))).await;
    finish(outcome, &slot)
}

/// Runs a typed closure in a read transaction.
pub async fn read_tx<T, F>(store: &dyn Store, f: F) -> Result<T, VaultError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn ReadTx) -> Result<T, VaultError> + Send + 'static,
{
    let slot: Slot<T> = Arc::new(Mutex::new(None));
    let inner = slot.clone();
    let outcome = store.read(Box::new(move |tx| keep(&inner, f(tx)))).await;
    finish(outcome, &slot)
}
