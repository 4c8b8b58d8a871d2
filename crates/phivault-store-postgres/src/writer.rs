//! The group-commit write path: one thread takes every queued closure (up to
//! `max_batch`), runs each in its own SAVEPOINT inside one transaction and commits once.
//!
//! Every write transaction first locks the single `write_lock` row, so the write
//! transactions of all nodes sharing the database run one after another: a closure that
//! reads the audit head and appends after it cannot race another node's append (no fork,
//! no duplicate sequence number), exactly as with SQLite's single writer. In READ COMMITTED
//! each statement after the lock sees every commit made before it was granted.
//!
//! A closure learns its outcome only after COMMIT returned (`synchronous_commit` is the
//! server's durability setting; the default, `on`, flushes the WAL first), so `Ok` is durable.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use deadpool_postgres::{Object, Pool};
use phivault_core::StoreError;
use phivault_core::store::WriteFn;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::error::{map_err, pool_err, unavailable};
use crate::tx::PgTx;

/// Where a finished job's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;

/// Counters shared with [`crate::PgStore::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) writes: AtomicU64,
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) pool: Pool,
    pub(crate) rt: Handle,
    pub(crate) jobs: Receiver<(WriteFn, Reply)>,
    pub(crate) max_batch: usize,
    pub(crate) counters: Arc<Counters>,
}

fn reply(to: Reply, outcome: Result<(), StoreError>) {
    let _ = to.send(outcome);
}

fn copy_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl Writer {
    /// Serves jobs until every sender is gone (the store was dropped).
    pub(crate) fn run(self) {
        let max_batch = self.max_batch.max(1);
        let mut conn: Option<Object> = None;
        while let Ok(first) = self.jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.counters
                .writes
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            let client = match conn.take() {
                Some(c) if !c.is_closed() => c,
                _ => match self.rt.block_on(self.pool.get()) {
                    Ok(c) => c,
                    Err(e) => {
                        let e = pool_err(e);
                        tracing::error!(error = %e, "postgres writer cannot connect");
                        for (_, to) in batch {
                            reply(to, Err(copy_err(&e)));
                        }
                        continue;
                    }
                },
            };
            if self.commit_batch(&client, batch) {
                conn = Some(client);
            } else {
                // Its state is unknown (maybe still in a transaction): never pooled again.
                let _ = Object::take(client);
            }
        }
    }

    fn sql(&self, client: &Object, sql: &str) -> Result<(), StoreError> {
        self.rt.block_on(client.batch_execute(sql)).map_err(map_err)
    }

    /// Runs one batch in one transaction and answers every closure. Returns whether the
    /// connection is still in a clean state for the next batch.
    fn commit_batch(&self, client: &Object, batch: Vec<(WriteFn, Reply)>) -> bool {
        if let Err(e) = self.sql(
            client,
            "BEGIN ISOLATION LEVEL READ COMMITTED; \
             SELECT id FROM write_lock WHERE id = 1 FOR UPDATE",
        ) {
            tracing::error!(error = %e, "postgres write transaction could not start");
            let _ = self.sql(client, "ROLLBACK");
            for (_, to) in batch {
                reply(to, Err(copy_err(&e)));
            }
            return false;
        }
        let mut succeeded: Vec<Reply> = Vec::with_capacity(batch.len());
        let mut jobs = batch.into_iter();
        while let Some((f, to)) = jobs.next() {
            match self.run_one(client, f) {
                Ok(Ok(())) => succeeded.push(to),
                Ok(Err(e)) => reply(to, Err(e)),
                Err(fatal) => {
                    tracing::error!(error = %fatal, "postgres write batch abandoned");
                    let _ = self.sql(client, "ROLLBACK");
                    reply(to, Err(copy_err(&fatal)));
                    for to in succeeded.into_iter().chain(jobs.map(|(_, to)| to)) {
                        reply(to, Err(copy_err(&fatal)));
                    }
                    return false;
                }
            }
        }
        if succeeded.is_empty() {
            return self.sql(client, "ROLLBACK").is_ok();
        }
        match self.sql(client, "COMMIT") {
            Ok(()) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                for to in succeeded {
                    reply(to, Ok(()));
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "postgres commit failed");
                let _ = self.sql(client, "ROLLBACK");
                for to in succeeded {
                    reply(to, Err(copy_err(&e)));
                }
                false
            }
        }
    }

    /// Runs one closure inside `SAVEPOINT job`, even when it is alone in its transaction:
    /// COMMIT of a transaction that a swallowed statement failure aborted silently rolls
    /// back, so only `RELEASE SAVEPOINT` reliably tells a closure's success. The outer `Err` means the whole transaction is lost; the inner one is the closure's
    /// own, already rolled back, error.
    fn run_one(&self, client: &Object, f: WriteFn) -> Result<Result<(), StoreError>, StoreError> {
        self.sql(client, "SAVEPOINT job")?;
        let mut tx = PgTx::new(client, &self.rt);
        // A panicking closure must not take the writer (and so the vault) down with it.
        let outcome = match catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
            Ok(r) => r,
            Err(_) => Err(unavailable("write closure panicked")),
        };
        match outcome {
            Ok(()) => match self.sql(client, "RELEASE SAVEPOINT job") {
                Ok(()) => Ok(Ok(())),
                // A statement failed inside a closure that swallowed the error: the server
                // aborted the transaction up to the savepoint. Undo the closure alone.
                Err(e) => {
                    self.sql(client, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")?;
                    Ok(Err(e))
                }
            },
            Err(e) => {
                self.sql(client, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")?;
                Ok(Err(e))
            }
        }
    }
}
