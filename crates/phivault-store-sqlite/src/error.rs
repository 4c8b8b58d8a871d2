//! Translation of SQLite failures into [`StoreError`]. Only this module decides which
//! SQLite conditions mean "duplicate", "retry" or "unavailable".
//!
//! Every statement binds its values as parameters, so SQLite's messages name tables,
//! columns and error kinds but never a stored value; they are safe to pass on.

use phivault_core::StoreError;
use rusqlite::ffi;

/// Maps a SQLite failure to the store error a caller can act on.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, msg) => {
            if is_duplicate(err) {
                return StoreError::Duplicate;
            }
            if err.code == ffi::ErrorCode::DatabaseCorrupt
                || err.code == ffi::ErrorCode::NotADatabase
            {
                return StoreError::Corrupt("sqlite reports a malformed database file".into());
            }
            match msg {
                Some(m) => StoreError::Unavailable(format!("sqlite: {err}: {m}")),
                None => StoreError::Unavailable(format!("sqlite: {err}")),
            }
        }
        // Decoding failures are handled by the row decoders with their own descriptions;
        // these variants can still surface from rusqlite itself on a damaged file.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => {
            StoreError::Corrupt("a stored column has an unexpected type".into())
        }
        // Anything else is a fault of this crate or of the environment. Its Display names
        // no stored value (rusqlite formats parameter names and indices, not values).
        other => StoreError::Unavailable(format!("sqlite: {other}")),
    }
}

fn is_duplicate(err: &ffi::Error) -> bool {
    err.code == ffi::ErrorCode::ConstraintViolation
        && (err.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
            || err.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// Whether retrying the same operation later may succeed (another connection holds a lock).
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked)
    )
}

/// A value that does not fit SQLite's signed 64-bit integers.
pub(crate) fn out_of_range(what: &'static str) -> StoreError {
    StoreError::Unavailable(format!("{what} does not fit in a sqlite integer"))
}
