//! The SQL behind [`ReadTx`] and [`WriteTx`]: one statement per method, always with bound
//! parameters and cached preparation, plus the decoders that turn columns back into core
//! row types and report a malformed column as [`StoreError::Corrupt`].

use phivault_core::StoreError;
use phivault_core::audit::Hash;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{map_err, out_of_range};

mod decode;
mod read;
mod write;

pub(crate) use decode::decode_head;

/// A transaction already opened on `conn` by the writer thread or a reader.
pub(crate) struct SqlTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqlTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }

    /// Runs a query and decodes every row.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = stmt.query(params).map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            out.push(decode(row)?);
        }
        Ok(out)
    }

    /// Runs a query expected to return at most one row.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let mut rows = stmt.query(params).map_err(map_err)?;
        match rows.next().map_err(map_err)? {
            Some(row) => decode(row).map(Some),
            None => Ok(None),
        }
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn exec(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        stmt.execute(params).map_err(map_err)
    }
}

// ---- encoding ----

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    // i64 nanoseconds cover 1677..2262, far beyond any record or token lifetime.
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| out_of_range("timestamp"))
}

pub(crate) fn int(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| out_of_range(what))
}

pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn uuid_text(u: &Uuid) -> String {
    // Lowercase hyphenated text sorts like the UUID's bytes, so SQL order = RecordId order.
    u.hyphenated().to_string()
}

// ---- decoding: each failure names the column, never its content ----

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub(crate) fn col<'r>(row: &'r Row<'_>, i: usize) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(i).map_err(map_err)
}

pub(crate) fn get_i64(row: &Row<'_>, i: usize, what: &'static str) -> Result<i64, StoreError> {
    match col(row, i)? {
        ValueRef::Integer(v) => Ok(v),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_u64(row: &Row<'_>, i: usize, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(get_i64(row, i, what)?).map_err(|_| corrupt(what))
}

pub(crate) fn get_bool(row: &Row<'_>, i: usize, what: &'static str) -> Result<bool, StoreError> {
    match get_i64(row, i, what)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_text(row: &Row<'_>, i: usize, what: &'static str) -> Result<String, StoreError> {
    match col(row, i)? {
        ValueRef::Text(b) => std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_blob(row: &Row<'_>, i: usize, what: &'static str) -> Result<Vec<u8>, StoreError> {
    match col(row, i)? {
        ValueRef::Blob(b) => Ok(b.to_vec()),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_hash(row: &Row<'_>, i: usize, what: &'static str) -> Result<Hash, StoreError> {
    match col(row, i)? {
        ValueRef::Blob(b) => <[u8; 32]>::try_from(b).map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    }
}

pub(crate) fn get_time(
    row: &Row<'_>,
    i: usize,
    what: &'static str,
) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(get_i64(row, i, what)?))
        .map_err(|_| corrupt(what))
}
