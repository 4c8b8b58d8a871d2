//! The SQL behind [`ReadTx`] and [`WriteTx`]: one statement per method, always with bound
//! parameters and per-connection prepared statements, plus the decoders that turn columns
//! back into core row types and report a malformed column as [`StoreError::Corrupt`].
//!
//! The trait is synchronous; each method drives the asynchronous driver to completion on
//! the store's own runtime (`Handle::block_on`), from a thread that is not a runtime worker
//! (the writer thread or a blocking-pool thread).

use deadpool_postgres::ClientWrapper;
use phivault_core::StoreError;
use phivault_core::audit::Hash;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};
use uuid::Uuid;

use crate::error::{map_err, out_of_range};

mod decode;
mod read;
mod write;

pub(crate) use decode::decode_head;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A transaction already opened on `client` by the writer thread or a reader.
pub(crate) struct PgTx<'c> {
    client: &'c ClientWrapper,
    rt: &'c Handle,
}

impl<'c> PgTx<'c> {
    pub(crate) fn new(client: &'c ClientWrapper, rt: &'c Handle) -> Self {
        Self { client, rt }
    }

    /// Runs a query and decodes every row.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        decode: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.rt.block_on(async {
            let stmt = self.client.prepare_cached(sql).await.map_err(map_err)?;
            self.client.query(&stmt, params).await.map_err(map_err)
        })?;
        rows.iter().map(decode).collect()
    }

    /// Runs a query expected to return at most one row.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        decode: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = self.rt.block_on(async {
            let stmt = self.client.prepare_cached(sql).await.map_err(map_err)?;
            self.client.query_opt(&stmt, params).await.map_err(map_err)
        })?;
        row.as_ref().map(decode).transpose()
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) fn exec(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        self.rt.block_on(async {
            let stmt = self.client.prepare_cached(sql).await.map_err(map_err)?;
            self.client.execute(&stmt, params).await.map_err(map_err)
        })
    }

    /// Runs an `INSERT ... ON CONFLICT DO NOTHING`: no row inserted means a key existed.
    /// (A unique violation would abort the whole PostgreSQL transaction, where SQLite
    /// fails the statement alone; this keeps the two backends' semantics equal.)
    pub(crate) fn insert(&self, sql: &str, params: Params<'_>) -> Result<(), StoreError> {
        match self.exec(sql, params)? {
            0 => Err(StoreError::Duplicate),
            _ => Ok(()),
        }
    }
}

// ---- encoding ----

pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| out_of_range("timestamp"))
}

pub(crate) fn int(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| out_of_range(what))
}

pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn uuid_text(u: &Uuid) -> String {
    // Lowercase hyphenated text sorts (bytewise, "C" collation) like the UUID's bytes.
    u.hyphenated().to_string()
}

// ---- decoding: each failure names the column, never its content ----

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub(crate) fn get<'r, T: FromSql<'r>>(
    row: &'r Row,
    i: usize,
    what: &'static str,
) -> Result<T, StoreError> {
    row.try_get(i).map_err(|_| corrupt(what))
}

pub(crate) fn get_u64(row: &Row, i: usize, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(get::<i64>(row, i, what)?).map_err(|_| corrupt(what))
}

pub(crate) fn get_hash(row: &Row, i: usize, what: &'static str) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(get::<&[u8]>(row, i, what)?).map_err(|_| corrupt(what))
}

pub(crate) fn get_time(
    row: &Row,
    i: usize,
    what: &'static str,
) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(get::<i64>(row, i, what)?))
        .map_err(|_| corrupt(what))
}
