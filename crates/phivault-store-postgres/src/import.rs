//! Copying a SQLite vault into an empty PostgreSQL schema (`phivault migrate`).
//!
//! The copy is generic: every table of the PostgreSQL schema (except its own bookkeeping)
//! is filled from the SQLite table of the same name, column by column by name, with each
//! value converted to the PostgreSQL column's type. Both backends keep the same tables and
//! columns (times as integer nanoseconds, ciphertext as bytes), so the copy is exact; a
//! table or column present on one side only is refused rather than silently dropped.
//! Everything is written in one transaction under the write lock: a failed copy leaves
//! the target empty. Values are moved, never interpreted: ciphertext stays ciphertext.

use std::path::Path;

use deadpool_postgres::Object;
use phivault_core::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio_postgres::types::ToSql;

use crate::PgStore;
use crate::error::{map_err, pool_err, unavailable};

/// Tables of the PostgreSQL schema that are not vault data.
const BOOKKEEPING: &[&str] = &["write_lock", "phivault_schema_version"];
/// PostgreSQL accepts at most 65535 parameters per statement.
const MAX_PARAMS: usize = 60_000;
/// The most rows per INSERT statement.
const MAX_ROWS: usize = 500;

/// Rows per table: as read from the source and as found in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table name.
    pub table: String,
    /// Rows in the SQLite file.
    pub source: u64,
    /// Rows in the PostgreSQL schema.
    pub target: u64,
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite source: {e}"))
}

fn open_source(path: &Path) -> Result<Connection, StoreError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite_err)?;
    // One read transaction: the copy and its counts see one snapshot of the source.
    conn.execute_batch("BEGIN").map_err(sqlite_err)?;
    Ok(conn)
}

struct Column {
    name: String,
    pg_type: String,
}

/// The vault's data tables in the target schema and their columns, by table name.
async fn target_tables(client: &Object) -> Result<Vec<(String, Vec<Column>)>, StoreError> {
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await
        .map_err(map_err)?;
    let mut tables: Vec<(String, Vec<Column>)> = Vec::new();
    for r in rows {
        let (table, name, pg_type): (String, String, String) = (
            r.try_get(0).map_err(map_err)?,
            r.try_get(1).map_err(map_err)?,
            r.try_get(2).map_err(map_err)?,
        );
        if BOOKKEEPING.contains(&table.as_str()) {
            continue;
        }
        match tables.last_mut() {
            Some((t, cols)) if *t == table => cols.push(Column { name, pg_type }),
            _ => tables.push((table, vec![Column { name, pg_type }])),
        }
    }
    Ok(tables)
}

fn source_tables(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .map_err(sqlite_err)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sqlite_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_err)?;
    Ok(names)
}

fn source_columns(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" LIMIT 0"))
        .map_err(sqlite_err)?;
    Ok(stmt.column_names().into_iter().map(str::to_owned).collect())
}

fn source_count(conn: &Connection, table: &str) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .map_err(sqlite_err)?;
    u64::try_from(n).map_err(|_| unavailable("negative row count"))
}

async fn target_count(client: &Object, table: &str) -> Result<u64, StoreError> {
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .await
        .map_err(map_err)?
        .try_get(0)
        .map_err(map_err)?;
    u64::try_from(n).map_err(|_| unavailable("negative row count"))
}

/// Converts one SQLite value for a PostgreSQL column of type `pg_type`.
fn convert(
    v: ValueRef<'_>,
    pg_type: &str,
    table: &str,
    column: &str,
) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let mismatch = || {
        StoreError::Corrupt(format!(
            "{table}.{column}: the SQLite value does not fit the PostgreSQL type {pg_type}"
        ))
    };
    Ok(match (pg_type, v) {
        ("bigint", ValueRef::Integer(i)) => Box::new(i),
        ("bigint", ValueRef::Null) => Box::new(None::<i64>),
        ("integer", ValueRef::Integer(i)) => Box::new(i32::try_from(i).map_err(|_| mismatch())?),
        ("integer", ValueRef::Null) => Box::new(None::<i32>),
        ("boolean", ValueRef::Integer(0)) => Box::new(false),
        ("boolean", ValueRef::Integer(1)) => Box::new(true),
        ("boolean", ValueRef::Null) => Box::new(None::<bool>),
        ("text", ValueRef::Text(t)) => {
            Box::new(std::str::from_utf8(t).map_err(|_| mismatch())?.to_owned())
        }
        ("text", ValueRef::Null) => Box::new(None::<String>),
        ("bytea", ValueRef::Blob(b)) => Box::new(b.to_vec()),
        ("bytea", ValueRef::Null) => Box::new(None::<Vec<u8>>),
        _ => return Err(mismatch()),
    })
}

async fn insert_rows(
    client: &Object,
    table: &str,
    cols: &[Column],
    rows: &[Vec<Box<dyn ToSql + Sync + Send>>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let mut sql = format!("INSERT INTO \"{table}\" ({}) VALUES ", names.join(", "));
    let mut n = 0;
    for (i, _) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let marks: Vec<String> = (0..cols.len())
            .map(|_| {
                n += 1;
                format!("${n}")
            })
            .collect();
        sql.push('(');
        sql.push_str(&marks.join(", "));
        sql.push(')');
    }
    let params: Vec<&(dyn ToSql + Sync)> = rows
        .iter()
        .flatten()
        .map(|b| &**b as &(dyn ToSql + Sync))
        .collect();
    client.execute(&sql, &params).await.map_err(map_err)?;
    Ok(())
}

impl PgStore {
    /// Copies every row of the SQLite vault at `source` (already migrated to the current
    /// schema, e.g. by opening it with the SQLite backend) into this store's schema, which
    /// must hold no vault data. `progress(table, rows_done, rows_total)` is called as rows
    /// are copied. Blocking: call it from a thread outside any async runtime worker (e.g.
    /// `spawn_blocking`). Returns the per-table counts found after the copy.
    pub fn import_sqlite(
        &self,
        source: &Path,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<Vec<TableCount>, StoreError> {
        let src = open_source(source)?;
        let client = self.handle.block_on(self.pool.get()).map_err(pool_err)?;
        let rt = &self.handle;
        rt.block_on(client.batch_execute(
            "BEGIN ISOLATION LEVEL READ COMMITTED; \
             SELECT id FROM write_lock WHERE id = 1 FOR UPDATE",
        ))
        .map_err(map_err)?;
        let outcome = self.copy_all(&src, &client, progress);
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = rt.block_on(client.batch_execute(end)).map_err(map_err);
        let counts = outcome?;
        ended?;
        Ok(counts)
    }

    fn copy_all(
        &self,
        src: &Connection,
        client: &Object,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<Vec<TableCount>, StoreError> {
        let rt = &self.handle;
        let tables = rt.block_on(target_tables(client))?;
        let in_source = source_tables(src)?;
        for t in &in_source {
            if !tables.iter().any(|(name, _)| name == t) {
                return Err(unavailable(&format!(
                    "the SQLite vault has a table `{t}` that this PostgreSQL schema lacks; \
                     use the same phivault version on both sides"
                )));
            }
        }
        for (table, cols) in &tables {
            if !in_source.contains(table) {
                return Err(unavailable(&format!(
                    "the SQLite vault lacks table `{table}`; open it once with this \
                     phivault version so that its migrations run"
                )));
            }
            let src_cols = source_columns(src, table)?;
            for c in &src_cols {
                if !cols.iter().any(|pc| &pc.name == c) {
                    return Err(unavailable(&format!(
                        "column {table}.{c} exists in SQLite only; refusing to drop it"
                    )));
                }
            }
            if rt.block_on(target_count(client, table))? != 0 {
                return Err(unavailable(&format!(
                    "the target already holds data (table `{table}`); migrate into an \
                     empty database or schema"
                )));
            }
        }
        let mut counts = Vec::new();
        for (table, cols) in &tables {
            let total = source_count(src, table)?;
            progress(table, 0, total);
            let names: Vec<String> = cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
            let mut stmt = src
                .prepare(&format!("SELECT {} FROM \"{table}\"", names.join(", ")))
                .map_err(sqlite_err)?;
            let mut rows = stmt.query([]).map_err(sqlite_err)?;
            let per_batch = (MAX_PARAMS / cols.len().max(1)).clamp(1, MAX_ROWS);
            let mut batch = Vec::with_capacity(per_batch);
            let mut done = 0u64;
            while let Some(row) = rows.next().map_err(sqlite_err)? {
                let mut values = Vec::with_capacity(cols.len());
                for (i, c) in cols.iter().enumerate() {
                    let v = row.get_ref(i).map_err(sqlite_err)?;
                    values.push(convert(v, &c.pg_type, table, &c.name)?);
                }
                batch.push(values);
                if batch.len() == per_batch {
                    rt.block_on(insert_rows(client, table, cols, &batch))?;
                    done += batch.len() as u64;
                    batch.clear();
                    progress(table, done, total);
                }
            }
            rt.block_on(insert_rows(client, table, cols, &batch))?;
            done += batch.len() as u64;
            progress(table, done, total);
            let target = rt.block_on(target_count(client, table))?;
            counts.push(TableCount {
                table: table.clone(),
                source: total,
                target,
            });
        }
        Ok(counts)
    }

    /// Row counts per vault table in the SQLite file and in this schema (for verification
    /// after a copy). Blocking, like [`PgStore::import_sqlite`].
    pub fn compare_counts(&self, source: &Path) -> Result<Vec<TableCount>, StoreError> {
        let src = open_source(source)?;
        let client = self.handle.block_on(self.pool.get()).map_err(pool_err)?;
        let tables = self.handle.block_on(target_tables(&client))?;
        let mut counts = Vec::new();
        for (table, _) in tables {
            let source = source_count(&src, &table)?;
            let target = self.handle.block_on(target_count(&client, &table))?;
            counts.push(TableCount {
                table,
                source,
                target,
            });
        }
        Ok(counts)
    }
}
