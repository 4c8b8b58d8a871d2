//! The group-commit write path: one thread owns the only write connection, takes every
//! queued closure (up to `max_batch`), runs each in its own SAVEPOINT inside one
//! `BEGIN IMMEDIATE` transaction, and commits once, so N writers share one fsync.
//!
//! A closure learns its outcome only after the COMMIT returned, so an `Ok` is durable.
//! With a point-in-time-recovery journal ([`crate::journal`]), the batch's changeset is
//! also appended to the journal segment before anyone is answered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use phivault_core::StoreError;
use phivault_core::store::WriteFn;
use rusqlite::Connection;
use rusqlite::session::Session;
use tokio::sync::oneshot;

use crate::error::{is_busy, map_err};
use crate::journal::{Journal, Segment, segment_path};
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
    /// Start a journal segment: pin a read transaction on a new connection at the current
    /// state (the base snapshot, read from it by the caller) and journal every later batch
    /// into the segment of `backup_id`.
    StartSegment {
        /// The base backup the segment continues.
        backup_id: String,
        /// Gets the connection whose open read transaction holds the base state.
        reply: oneshot::Sender<Result<Connection, StoreError>>,
    },
    /// End the journal segment and mark the journal as needing a new base.
    StopSegment(Reply),
}

/// Counters shared with [`crate::SqliteStore::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) writes: AtomicU64,
}

/// What the journal got of one batch.
enum Captured {
    /// No segment is being written.
    Off,
    /// The batch's changeset (empty when it changed nothing).
    Changes(Vec<u8>),
    /// A segment is being written but the changes could not be taken.
    Lost,
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) jobs: Receiver<Job>,
    pub(crate) max_batch: usize,
    pub(crate) counters: Arc<Counters>,
    /// The database file, for the connection that pins a base snapshot.
    pub(crate) path: PathBuf,
    /// The point-in-time-recovery journal, when the store keeps one.
    pub(crate) journal: Option<Arc<Journal>>,
    /// The segment being written; `None` while the journal needs a base.
    pub(crate) segment: Option<Segment>,
    /// `PRAGMA data_version` under the write lock at the last batch: it changes only when
    /// another connection commits, i.e. a write the journal did not see.
    pub(crate) data_version: i64,
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable(what.to_owned())
}

/// Sends an outcome; a caller that stopped waiting (dropped future) is not an error.
fn reply(to: Reply, outcome: Result<(), StoreError>) {
    let _ = to.send(outcome);
}

impl Writer {
    /// The next job; while journal entries wait for their fsync, waits at most until they
    /// are due and syncs them, so an idle vault also keeps its recovery point.
    fn next_job(&mut self) -> Option<Job> {
        loop {
            let due = match (&self.segment, &self.journal) {
                (Some(seg), Some(j)) => seg.sync_due_in(j.config.rpo),
                _ => None,
            };
            let Some(due) = due else {
                return self.jobs.recv().ok();
            };
            match self.jobs.recv_timeout(due) {
                Ok(job) => return Some(job),
                Err(RecvTimeoutError::Timeout) => self.sync_segment(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Serves jobs until every sender is gone (the store was dropped).
    pub(crate) fn run(mut self) {
        let max_batch = self.max_batch.max(1);
        while let Some(first) = self.next_job() {
            let mut batch = Vec::new();
            let mut checkpoints = Vec::new();
            let mut segment_jobs = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Write(f, to) => batch.push((f, to)),
                    Job::Checkpoint(to) => checkpoints.push(to),
                    job => segment_jobs.push(job),
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
            for job in segment_jobs {
                match job {
                    Job::StartSegment { backup_id, reply } => {
                        let _ = reply.send(self.start_segment(&backup_id));
                    }
                    Job::StopSegment(to) => {
                        self.end_segment("a base backup was abandoned");
                        reply(to, Ok(()));
                    }
                    Job::Write(..) | Job::Checkpoint(_) => {}
                }
            }
        }
        self.sync_segment();
    }

    /// Fsyncs the segment; a failure ends it (the entries may not be durable).
    fn sync_segment(&mut self) {
        if let Some(seg) = self.segment.as_mut()
            && let Err(e) = seg.sync()
        {
            tracing::error!(error = %e, "journal fsync failed");
            self.end_segment("the journal could not be synced");
        }
    }

    /// Ends the segment (synced) and reports that a new base backup is needed.
    fn end_segment(&mut self, why: &str) {
        if let Some(mut seg) = self.segment.take() {
            let _ = seg.sync();
            tracing::warn!(
                reason = why,
                "journal segment ended; a new base backup is needed"
            );
        }
        if let Some(j) = &self.journal {
            j.needs_base.store(true, Ordering::Relaxed);
            *j.segment.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    fn data_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(map_err)
    }

    /// Starts the segment of `backup_id` at the current state; see [`Job::StartSegment`].
    fn start_segment(&mut self, backup_id: &str) -> Result<Connection, StoreError> {
        let journal = self
            .journal
            .clone()
            .ok_or_else(|| unavailable("this store keeps no journal"))?;
        self.end_segment("a new base backup starts");
        // Under the write lock no other connection can commit, so the pinned state, the
        // data version and the segment start all describe the same moment.
        self.retry_busy("BEGIN IMMEDIATE")?;
        let pinned = (|| {
            let version = self.data_version()?;
            let schema: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(map_err)?;
            let reader = crate::open_reader(&self.path)?;
            reader.execute_batch("BEGIN").map_err(map_err)?;
            reader
                .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(map_err)?;
            Ok::<_, StoreError>((version, u32::try_from(schema).unwrap_or(0), reader))
        })();
        let _ = self.conn.execute_batch("ROLLBACK");
        let (version, schema, reader) = pinned?;
        let path = segment_path(&journal.config.dir, backup_id);
        let segment = Segment::create(&path, backup_id, schema, journal.config.clock.now())?;
        self.segment = Some(segment);
        self.data_version = version;
        journal.needs_base.store(false, Ordering::Relaxed);
        *journal.segment.lock().unwrap_or_else(|e| e.into_inner()) = Some(backup_id.to_owned());
        tracing::info!(segment = %path.display(), "journal segment started");
        Ok(reader)
    }

    /// Under the batch's write lock: ends the segment if another connection committed
    /// since the last batch (its changes are not in the journal).
    fn check_foreign_writes(&mut self) {
        if self.segment.is_none() {
            return;
        }
        match self.data_version() {
            Ok(v) if v == self.data_version => {}
            Ok(v) => {
                self.data_version = v;
                self.end_segment("another process wrote to the database");
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the data version failed");
                self.end_segment("the data version is unreadable");
            }
        }
    }

    /// A session recording the batch's changes, when a segment is being written.
    fn open_session(&self) -> Result<Option<Session<'_>>, StoreError> {
        if self.segment.is_none() {
            return Ok(None);
        }
        let mut session = Session::new(&self.conn).map_err(map_err)?;
        session.attach(None::<&str>).map_err(map_err)?;
        Ok(Some(session))
    }

    /// Appends a committed batch's changeset; a failure ends the segment (the batch itself
    /// is committed and is answered as such).
    fn journal_append(&mut self, changeset: &[u8]) {
        let (Some(seg), Some(j)) = (self.segment.as_mut(), self.journal.as_ref()) else {
            return;
        };
        let rpo = j.config.rpo;
        let outcome = seg
            .append(j.config.clock.now(), changeset)
            .and_then(|()| seg.sync_if_due(rpo));
        match outcome {
            Ok(()) => {
                j.entries.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "journal append failed");
                self.end_segment("the journal could not be appended to");
            }
        }
    }

    /// Runs one batch in one transaction and answers every closure.
    fn commit_batch(&mut self, batch: Vec<(WriteFn, Reply)>) {
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
        self.check_foreign_writes();
        let Some((succeeded, captured)) = self.run_batch(batch) else {
            return;
        };
        match self.retry_busy("COMMIT") {
            Ok(()) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                match captured {
                    Captured::Changes(c) if !c.is_empty() => self.journal_append(&c),
                    Captured::Changes(_) | Captured::Off => {}
                    // A committed batch missing from the segment would be a silent hole.
                    Captured::Lost => self.end_segment("a batch's changes could not be captured"),
                }
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

    /// Runs the batch's closures inside the open transaction. `None` when nothing is left
    /// to commit (every closure failed, or the transaction was lost; all answered);
    /// otherwise the callers to answer after the COMMIT and, when journaling, the batch's
    /// changeset, taken before the COMMIT so it holds exactly this transaction's changes.
    fn run_batch(&self, batch: Vec<(WriteFn, Reply)>) -> Option<(Vec<Reply>, Captured)> {
        let mut session = match self.open_session() {
            Ok(s) => s,
            Err(e) => {
                // Journaling must not stop the vault; the segment ends after this batch.
                tracing::error!(error = %e, "journal session could not start");
                None
            }
        };
        let journaling = self.segment.is_some();
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
                    return None;
                }
            }
        }
        if succeeded.is_empty() {
            let _ = self.conn.execute_batch("ROLLBACK");
            return None;
        }
        let captured = match session.as_mut() {
            Some(s) => {
                let mut bytes = Vec::new();
                match s.changeset_strm(&mut bytes) {
                    Ok(()) => Captured::Changes(bytes),
                    Err(e) => {
                        tracing::error!(error = %e, "journal changeset failed");
                        Captured::Lost
                    }
                }
            }
            None if journaling => Captured::Lost,
            None => Captured::Off,
        };
        Some((succeeded, captured))
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
