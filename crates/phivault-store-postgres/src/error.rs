//! Translation of PostgreSQL failures into [`StoreError`]. Only this module decides which
//! server conditions mean "duplicate" or "unavailable".
//!
//! Every statement binds its values as parameters. Reports carry the SQLSTATE and the
//! server's primary message only, never its `DETAIL` line (which may quote a key value).

use phivault_core::StoreError;
use tokio_postgres::error::SqlState;

/// Maps a driver or server failure to the store error a caller can act on.
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::UNIQUE_VIOLATION {
            return StoreError::Duplicate;
        }
        return StoreError::Unavailable(format!(
            "postgres: {} ({})",
            db.message(),
            db.code().code()
        ));
    }
    if e.is_closed() {
        return StoreError::Unavailable("postgres: the connection is closed".into());
    }
    // Driver-side errors (I/O, protocol, type conversion) name no stored value.
    StoreError::Unavailable(format!("postgres: {e}"))
}

/// A pool failure (cannot connect, timed out, pool closed).
pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => map_err(e),
        other => StoreError::Unavailable(format!("postgres pool: {other}")),
    }
}

/// A value that does not fit PostgreSQL's signed 64-bit integers.
pub(crate) fn out_of_range(what: &'static str) -> StoreError {
    StoreError::Unavailable(format!("{what} does not fit in a postgres bigint"))
}

/// A store error for a condition described by static text.
pub(crate) fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable(what.to_owned())
}
