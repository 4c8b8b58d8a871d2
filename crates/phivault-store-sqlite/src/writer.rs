//! The group-commit write path: one thread owns the only write connection, takes every
//! queued closure (up to `max_batch`), runs each in its own SAVEPOINT inside one
//! `BEGIN IMMEDIATE` transaction, and commits once, so N writers share one fsync.
//!
//! A closure learns its outcome only after the COMMIT returned, so an `Ok` is durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use phivault_core::StoreError;
use phivault_core::store::WriteFn;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{is_busy, map_err};
use crate::tx::SqlTx;

/// How often a busy BEGIN/COMMIT/checkpoint is retried after SQLite's own busy timeout.
const BUSY_RETRIES: u32 = 5;
/// The first pause between retries; it doubles each time.
const BUSY_BACKOFF: Duration = Duration::from_millis(20);

/// Where a finished job's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;

/// Work for the writer thread.
pub(crate) enum Job {
    /// A write closure.
    Write(WriteFn, Reply),
    /// A `wal_checkpoint(TRUNCATE)`, run between batches.
    Checkpoint(Reply),
}

/// Counters shared with [`crate::SqliteStore::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) writes: AtomicU64,
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) jobs: Receiver<Job>,
    pub(crate) max_batch: usize,
    pub(crate) counters: Arc<Counters>,
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable(what.to_owned())
}

/// Sends an outcome; a caller that stopped waiting (dropped future) is not an error.
fn reply(to: Reply, outcome: Result<(), StoreError>) {
    let _ = to.send(outcome);
}

impl Writer {
    /// Serves jobs until every sender is gone (the store was dropped).
    pub(crate) fn run(self) {
        let max_batch = self.max_batch.max(1);
        while let Ok(first) = self.jobs.recv() {
            let mut batch = Vec::new();
            let mut checkpoints = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Write(f, to) => batch.push((f, to)),
                    Job::Checkpoint(to) => checkpoints.push(to),
                }
                if batch.len() >= max_batch {
                    break;
                }
                // Only what is already queued joins the batch: waiting for more would
                // add latency to a lone writer.
                next = self.jobs.try_recv().ok();
            }
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
            for to in checkpoints {
                reply(to, self.checkpoint());
            }
        }
    }

    /// Runs one batch in one transaction and answers every closure.
    fn commit_batch(&self, batch: Vec<(WriteFn, Reply)>) {
        let n = batch.len() as u64;
        self.counters.writes.fetch_add(n, Ordering::Relaxed);
        if !self.conn.is_autocommit() {
            // Defensive: a transaction left open by an earlier failure would make every
            // later BEGIN fail and so stop all writes.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = self.retry_busy("BEGIN IMMEDIATE") {
            for (_, to) in batch {
                reply(to, Err(e.clone_unavailable()));
            }
            return;
        }
        let mut succeeded: Vec<Reply> = Vec::with_capacity(batch.len());
        let mut jobs = batch.into_iter();
        while let Some((f, to)) = jobs.next() {
            match self.run_in_savepoint(f) {
                Ok(Ok(())) => succeeded.push(to),
                // Rolled back to its savepoint: nothing of it will commit, so it can be
                // answered now, and the rest of the batch continues.
                Ok(Err(e)) => reply(to, Err(e)),
                Err(fatal) => {
                    // The transaction can no longer be trusted (SQLite rolled it back, or a
                    // savepoint could not be undone): abandon the whole batch.
                    tracing::error!(error = %fatal, "sqlite write batch abandoned");
                    let _ = self.conn.execute_batch("ROLLBACK");
                    reply(to, Err(fatal.clone_unavailable()));
                    for to in succeeded.into_iter().chain(jobs.map(|(_, to)| to)) {
                        reply(to, Err(fatal.clone_unavailable()));
                    }
                    return;
                }
            }
        }
        if succeeded.is_empty() {
            let _ = self.conn.execute_batch("ROLLBACK");
            return;
        }
        match self.retry_busy("COMMIT") {
            Ok(()) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                for to in succeeded {
                    reply(to, Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "sqlite commit failed");
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                for to in succeeded {
                    reply(to, Err(e.clone_unavailable()));
                }
            }
        }
    }

    /// Runs one closure inside `SAVEPOINT job`. The outer `Err` means the whole
    /// transaction is lost; the inner one is the closure's own (already rolled back) error.
    fn run_in_savepoint(&self, f: WriteFn) -> Result<Result<(), StoreError>, StoreError> {
        self.conn.execute_batch("SAVEPOINT job").map_err(map_err)?;
        let mut tx = SqlTx::new(&self.conn);
        // A panicking closure must not take the only writer (and so the vault) down with it.
        let outcome = match catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
            Ok(r) => r,
            Err(_) => Err(unavailable("write closure panicked")),
        };
        if self.conn.is_autocommit() {
            // Some errors (disk full, I/O) make SQLite roll back the whole transaction.
            return Err(unavailable("sqlite rolled back the write transaction"));
        }
        match outcome {
            Ok(()) => {
                self.conn.execute_batch("RELEASE job").map_err(map_err)?;
                Ok(Ok(()))
            }
            Err(e) => {
                self.conn
                    .execute_batch("ROLLBACK TO job; RELEASE job")
                    .map_err(map_err)?;
                Ok(Err(e))
            }
        }
    }

    /// Checkpoints the WAL into the database file and truncates it.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let mut pause = BUSY_BACKOFF;
        for attempt in 0..=BUSY_RETRIES {
            // Returns (busy, wal frames, checkpointed frames); busy = 1 means a reader
            // still needed old frames and the WAL could not be truncated.
            let busy: i64 = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .map_err(map_err)?;
            if busy == 0 {
                return Ok(());
            }
            if attempt < BUSY_RETRIES {
                backoff(&mut pause);
            }
        }
        Err(unavailable("wal checkpoint blocked by active readers"))
    }

    /// Runs a statement, retrying with growing pauses while another connection holds the
    /// lock beyond SQLite's own busy timeout (another process, e.g. the CLI).
    fn retry_busy(&self, sql: &str) -> Result<(), StoreError> {
        let mut pause = BUSY_BACKOFF;
        let mut attempt = 0;
        loop {
            match self.conn.execute_batch(sql) {
                Ok(()) => return Ok(()),
                Err(e) if is_busy(&e) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tracing::warn!(attempt, "sqlite busy; retrying");
                    backoff(&mut pause);
                }
                Err(e) => return Err(map_err(e)),
            }
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "a pause on the dedicated writer thread between lock retries; no logic reads time"
)]
fn backoff(pause: &mut Duration) {
    std::thread::sleep(*pause);
    *pause = pause.saturating_mul(2);
}

/// `StoreError` is not `Clone`; one batch failure is reported to every member.
trait CloneUnavailable {
    fn clone_unavailable(&self) -> StoreError;
}

impl CloneUnavailable for StoreError {
    fn clone_unavailable(&self) -> StoreError {
        match self {
            // The whole batch failed to commit, whatever the cause: to each closure this
            // is "storage unavailable", never "duplicate" or its own abort.
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}
