//! Row decoders: columns back into core row types, a malformed column reported as
//! [`StoreError::Corrupt`] naming the column, never its content.

use phivault_core::audit::{AuditEntry, SignedTreeHead};
use phivault_core::store::{CollectionRow, RecordHead, RecordVersionRow, SubjectKeyRow, TokenRow};
use phivault_core::{RecordId, StoreError, TokenId};
use rusqlite::Row;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use super::{col, corrupt, get_blob, get_bool, get_hash, get_i64, get_text, get_time, get_u64};

pub(super) fn get_uuid(row: &Row<'_>, i: usize, what: &'static str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(&get_text(row, i, what)?).map_err(|_| corrupt(what))
}

pub(super) fn decode_collection(row: &Row<'_>) -> Result<CollectionRow, StoreError> {
    Ok(CollectionRow {
        name: get_text(row, 0, "collections.name")?,
        schema_json: get_text(row, 1, "collections.schema_json")?,
        created_at: get_time(row, 2, "collections.created_at")?,
    })
}

pub(super) fn decode_subject_key(row: &Row<'_>) -> Result<SubjectKeyRow, StoreError> {
    Ok(SubjectKeyRow {
        subject: get_text(row, 0, "subject_keys.subject")?,
        wrapped_key: get_blob(row, 1, "subject_keys.wrapped_key")?,
        kek_version: u32::try_from(get_i64(row, 2, "subject_keys.kek_version")?)
            .map_err(|_| corrupt("subject_keys.kek_version"))?,
        created_at: get_time(row, 3, "subject_keys.created_at")?,
    })
}

// Column lists are macros so that `concat!` builds each statement text at compile time:
// no allocation per call, and the decoders below read columns in this order.
macro_rules! head_columns {
    () => {
        "collection, id, subject, version, deleted, created_at, updated_at"
    };
}
pub(super) use head_columns;

pub(crate) fn decode_head(row: &Row<'_>) -> Result<RecordHead, StoreError> {
    Ok(RecordHead {
        collection: get_text(row, 0, "record_heads.collection")?,
        id: RecordId(get_uuid(row, 1, "record_heads.id")?),
        subject: get_text(row, 2, "record_heads.subject")?,
        version: get_u64(row, 3, "record_heads.version")?,
        deleted: get_bool(row, 4, "record_heads.deleted")?,
        created_at: get_time(row, 5, "record_heads.created_at")?,
        updated_at: get_time(row, 6, "record_heads.updated_at")?,
    })
}

macro_rules! version_columns {
    () => {
        "collection, id, version, subject, sealed, tombstone, created_at"
    };
}
pub(super) use version_columns;

pub(super) fn decode_version(row: &Row<'_>) -> Result<RecordVersionRow, StoreError> {
    Ok(RecordVersionRow {
        collection: get_text(row, 0, "record_versions.collection")?,
        id: RecordId(get_uuid(row, 1, "record_versions.id")?),
        version: get_u64(row, 2, "record_versions.version")?,
        subject: get_text(row, 3, "record_versions.subject")?,
        sealed: get_blob(row, 4, "record_versions.sealed")?,
        tombstone: get_bool(row, 5, "record_versions.tombstone")?,
        created_at: get_time(row, 6, "record_versions.created_at")?,
    })
}

macro_rules! token_columns {
    () => {
        "id, name, secret_hash, roles, created_at, expires_at, revoked_at, owner, last_used_at"
    };
}
pub(super) use token_columns;

pub(super) fn decode_token(row: &Row<'_>) -> Result<TokenRow, StoreError> {
    let roles = get_text(row, 3, "tokens.roles")?;
    let revoked_at = match col(row, 6)? {
        ValueRef::Null => None,
        _ => Some(get_time(row, 6, "tokens.revoked_at")?),
    };
    let last_used_at = match col(row, 8)? {
        ValueRef::Null => None,
        _ => Some(get_time(row, 8, "tokens.last_used_at")?),
    };
    Ok(TokenRow {
        id: TokenId(get_uuid(row, 0, "tokens.id")?),
        name: get_text(row, 1, "tokens.name")?,
        secret_hash: get_hash(row, 2, "tokens.secret_hash")?,
        owner: get_text(row, 7, "tokens.owner")?,
        roles: serde_json::from_str(&roles).map_err(|_| corrupt("tokens.roles"))?,
        created_at: get_time(row, 4, "tokens.created_at")?,
        expires_at: get_time(row, 5, "tokens.expires_at")?,
        revoked_at,
        last_used_at,
    })
}

pub(super) fn decode_audit(row: &Row<'_>) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: get_u64(row, 0, "audit_log.seq")?,
        prev_hash: get_hash(row, 1, "audit_log.prev_hash")?,
        event_json: get_text(row, 2, "audit_log.event_json")?,
        hash: get_hash(row, 3, "audit_log.hash")?,
    })
}

pub(super) fn decode_tree_head(row: &Row<'_>) -> Result<SignedTreeHead, StoreError> {
    let signature = match col(row, 3)? {
        ValueRef::Blob(b) => {
            <[u8; 64]>::try_from(b).map_err(|_| corrupt("audit_tree_heads.signature"))?
        }
        _ => return Err(corrupt("audit_tree_heads.signature")),
    };
    Ok(SignedTreeHead {
        tree_size: get_u64(row, 0, "audit_tree_heads.tree_size")?,
        timestamp_ms: get_u64(row, 1, "audit_tree_heads.timestamp_ms")?,
        root_hash: get_hash(row, 2, "audit_tree_heads.root_hash")?,
        signature,
    })
}
