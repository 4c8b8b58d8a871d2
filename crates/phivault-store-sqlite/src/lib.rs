//! The SQLite storage backend: [`SqliteStore`] implements core's [`Store`] on one
//! database file in WAL mode, with embedded versioned migrations, a group-commit writer
//! thread and a small pool of read-only connections; optionally a point-in-time-recovery
//! journal of every committed batch ([`journal`]).
//!
//! The file holds ids, names, times, ciphertext, wrapped keys, blind-index tags and audit
//! JSON only; plaintext PHI never reaches this crate.
#![forbid(unsafe_code)]

pub mod backup;
mod error;
mod identity;
pub mod journal;
mod privacy;
mod schema;
mod tx;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use phivault_core::StoreError;
use phivault_core::store::{BoxFuture, ReadFn, Store, WriteFn};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::error::map_err;
use crate::journal::Journal;
use crate::tx::SqlTx;
use crate::writer::{Counters, Job, Writer};

pub use schema::SCHEMA_VERSION;

/// How long a connection waits for another one's lock before reporting busy. Another
/// process (the CLI, a backup) may hold the write lock for the length of one transaction.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Statements prepared once per connection and reused; the store uses about thirty.
const STATEMENT_CACHE: usize = 64;

/// The `PRAGMA synchronous` level of the write connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged write survives power loss. Group commit
    /// makes this affordable, since one fsync covers a whole batch of writes.
    #[default]
    Full,
    /// fsync only at WAL checkpoints: faster, never corrupts the file, but the last
    /// acknowledged commits may be lost on power loss or an OS crash.
    Normal,
}

/// Tuning for [`SqliteStore::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of each commit; see [`Synchronous`].
    pub synchronous: Synchronous,
    /// The most write closures committed together in one transaction.
    pub max_batch: usize,
    /// How many read-only connections serve reads concurrently.
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            max_batch: 256,
            readers: 4,
        }
    }
}

/// Write-path counters since the store was opened; `writes / commits` is the batching gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: u64,
    /// Write closures run (successful or not).
    pub writes: u64,
}

/// A [`Store`] on one SQLite database file.
pub struct SqliteStore {
    path: PathBuf,
    opts: SqliteOptions,
    /// `None` only while dropping, so the writer thread sees its queue close.
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    readers: Arc<ReaderPool>,
    journal: Option<Arc<Journal>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("opts", &self.opts)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable(what.to_owned())
}

fn writer_gone() -> StoreError {
    unavailable("sqlite writer thread is not running")
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies pending migrations and
    /// starts the writer thread. Refuses a database migrated by a newer build.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        Self::open_inner(path, opts, None)
    }

    /// [`SqliteStore::open`], journaling every committed batch into `journal` once a
    /// segment is started with [`Journal::start_segment`]. Only the serving process may
    /// journal a database: one writer appends to a segment.
    pub fn open_with_journal(
        path: &Path,
        opts: SqliteOptions,
        journal: Arc<Journal>,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_inner(path, opts, Some(journal))
    }

    fn open_inner(
        path: &Path,
        opts: SqliteOptions,
        journal: Option<Arc<Journal>>,
    ) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(map_err)?;
        configure_writer(&conn, opts.synchronous)?;
        schema::migrate(&conn)?;

        let readers = Arc::new(ReaderPool::open(path, opts.readers.max(1))?);
        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel();
        let writer = Writer {
            conn,
            jobs: queue,
            max_batch: opts.max_batch,
            counters: counters.clone(),
            path: path.to_owned(),
            journal: journal.clone(),
            segment: None,
            data_version: 0,
        };
        if let Some(j) = &journal {
            *j.jobs.lock().unwrap_or_else(|e| e.into_inner()) = Some(jobs.clone());
        }
        let handle = std::thread::Builder::new()
            .name("phivault-sqlite-writer".into())
            .spawn(move || writer.run())
            .map_err(|_| unavailable("could not start the sqlite writer thread"))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            opts,
            jobs: Some(jobs),
            writer: Some(handle),
            counters,
            readers,
            journal,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commit and write counters, for tests and metrics.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Copies the WAL into the database file and truncates the WAL (between write
    /// batches), so the main file alone is a complete copy, e.g. before a backup, and
    /// superseded pages no longer linger in the WAL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let (to, outcome) = oneshot::channel();
        self.send(Job::Checkpoint(to))?;
        outcome.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or_else(writer_gone)?;
        jobs.send(job).map_err(|_| writer_gone())
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer after the jobs already queued; joining it
        // closes the write connection before the caller reuses or removes the file.
        self.jobs = None;
        if let Some(j) = &self.journal {
            *j.jobs.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        if let Some(handle) = self.writer.take() {
            // The last reference may be dropped by a closure running on the writer itself.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

impl Store for SqliteStore {
    fn read(&self, f: ReadFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.readers.clone().run(f).await })
    }

    fn write(&self, f: WriteFn) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            // Sent on first poll, as futures are lazy: a future dropped unpolled writes nothing.
            let (to, outcome) = oneshot::channel();
            self.send(Job::Write(f, to))?;
            outcome.await.unwrap_or_else(|_| Err(writer_gone()))
        })
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn scrub_freed(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        // secure_delete zeroes freed pages in the database file; the WAL still holds the
        // old page images until a checkpoint copies the new ones back and truncates it.
        Box::pin(self.checkpoint())
    }
}

/// Creates a missing database file readable by its owner only: it holds ciphertext and
/// wrapped keys, and SQLite gives its WAL and shared-memory files the same mode.
pub(crate) fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it first: fine, SQLite opens it below.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create the database file: {}",
            e.kind()
        ))),
    }
}

/// Pragmas of the write connection; each is there for durability or confidentiality.
fn configure_writer(conn: &Connection, sync: Synchronous) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL: readers never block the writer nor each other, and a commit is one append.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(map_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unavailable("sqlite refused WAL journal mode"));
    }
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(map_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_err)?;
    // Freed pages are zeroed, so replaced ciphertext and rotated or shredded keys do not
    // linger in the file's free space.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(map_err)?;
    Ok(())
}

pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Read-only connections, at most one per permit in use; reads run on tokio's blocking
/// threads so a slow query never stalls an async worker.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReaderPool {
    fn open(path: &Path, size: usize) -> Result<Self, StoreError> {
        let idle = (0..size)
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            path: path.to_owned(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    async fn run(self: Arc<Self>, f: ReadFn) -> Result<(), StoreError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| unavailable("sqlite reads need a tokio runtime"))?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| unavailable("sqlite reader pool closed"))?;
        let task = runtime.spawn_blocking(move || {
            let _permit = permit;
            let conn = match self.take() {
                Some(conn) => conn,
                // A connection is lost when a read closure panics; replace it.
                None => open_reader(&self.path)?,
            };
            let outcome = read_in_snapshot(&conn, f);
            if conn.is_autocommit() {
                self.give_back(conn);
            }
            outcome
        });
        task.await
            .unwrap_or_else(|_| Err(unavailable("read closure panicked")))
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}

/// Runs `f` in a deferred transaction: its first read fixes the snapshot that every
/// later read in `f` sees, whatever commits meanwhile.
fn read_in_snapshot(conn: &Connection, f: ReadFn) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN").map_err(map_err)?;
    let outcome = f(&mut SqlTx::new(conn));
    // Nothing was written, so ending the transaction cannot lose anything; a failure here
    // leaves it open and the caller drops the connection.
    let _ = conn.execute_batch("ROLLBACK");
    outcome
}
