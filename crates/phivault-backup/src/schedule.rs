//! Scheduled backups inside `serve`: one every interval, and with the journal on, one as
//! soon as the journal needs a new base (at start, or after another process wrote to the
//! database); then pruning by retention and the age of the last good backup. What a round
//! did goes to a [`ScheduleObserver`] (the server logs it, sets metrics and readiness).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phivault_core::{Clock, Vault};
use phivault_store_sqlite::journal::{Journal, JournalConfig};

use crate::{BackupError, Created, Silent, create, newest, prune};

/// Pause between attempts at the new base backup a journal that lost its segment needs.
const REBASE_RETRY: Duration = Duration::from_secs(10);

/// The settings of scheduled backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The backup location.
    pub dir: PathBuf,
    /// Time between backups.
    pub interval: Duration,
    /// Days a backup is kept (the newest always is).
    pub retention_days: u32,
    /// The journal's recovery point (longest wait of an entry for its fsync); `None` when
    /// the point-in-time-recovery journal is off.
    pub journal_rpo: Option<Duration>,
}

impl Schedule {
    /// The journal this schedule keeps, if it keeps one, stamped by `clock` (the vault's).
    pub fn journal(&self, clock: Arc<dyn Clock>) -> Option<Arc<Journal>> {
        self.journal_rpo.map(|rpo| {
            Journal::new(JournalConfig {
                dir: self.dir.clone(),
                rpo,
                clock,
            })
        })
    }
}

/// How old the last good backup is, judged against the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupHealth {
    /// At most two intervals old.
    Fresh {
        /// Its age in seconds.
        age_seconds: i64,
    },
    /// Older than two intervals.
    Overdue {
        /// Its age in seconds.
        age_seconds: i64,
    },
    /// No good backup exists in the location.
    Missing,
}

impl BackupHealth {
    /// The last good backup's age, when there is one.
    pub fn age_seconds(self) -> Option<i64> {
        match self {
            BackupHealth::Fresh { age_seconds } | BackupHealth::Overdue { age_seconds } => {
                Some(age_seconds)
            }
            BackupHealth::Missing => None,
        }
    }
}

/// One scheduled round.
#[derive(Debug)]
pub struct Round {
    /// The backup taken.
    pub created: Result<Created, BackupError>,
    /// The backups pruned.
    pub pruned: Result<Vec<String>, BackupError>,
    /// The last good backup's age afterwards.
    pub health: BackupHealth,
    /// Entries the journal has appended, when it is on.
    pub journal_entries: Option<u64>,
    /// The journal waits for a new base backup (its segment was lost).
    pub journal_needs_base: bool,
}

impl Round {
    /// Why backups are degraded after this round (empty when they are not), as `/readyz`
    /// lists them.
    pub fn degraded(&self) -> Vec<String> {
        let mut out = match self.health {
            BackupHealth::Fresh { .. } => vec![],
            BackupHealth::Overdue { age_seconds } => {
                vec![format!("backup:last_good_age_seconds={age_seconds}")]
            }
            BackupHealth::Missing => vec!["backup:none".to_owned()],
        };
        if self.journal_needs_base {
            out.push("backup:journal_needs_base".to_owned());
        }
        out
    }
}

/// Told what every scheduled round did.
pub trait ScheduleObserver: Send + Sync {
    /// A round finished.
    fn round(&self, schedule: &Schedule, round: &Round);
}

/// Scheduled backups of one vault (cloned to restart it under a supervisor).
#[derive(Clone)]
pub struct Scheduler {
    /// The vault backed up.
    pub vault: Arc<Vault>,
    /// Its SQLite database.
    pub db: PathBuf,
    /// The configuration file's bytes, stored with every backup.
    pub config_text: Option<Vec<u8>>,
    /// The settings.
    pub schedule: Schedule,
    /// The journal the store appends to, when it is on.
    pub journal: Option<Arc<Journal>>,
}

impl Scheduler {
    /// Runs forever: a round every interval, or when the journal needs a new base.
    pub async fn run(self, observer: &dyn ScheduleObserver) {
        let mut tick = tokio::time::interval(self.schedule.interval);
        let mut check = tokio::time::interval(Duration::from_secs(1));
        let mut last_attempt: Option<Instant> = None;
        loop {
            let due = tokio::select! {
                _ = tick.tick() => true,
                _ = check.tick() => {
                    self.journal.as_ref().is_some_and(|j| j.needs_base())
                        && last_attempt.is_none_or(|t| t.elapsed() >= REBASE_RETRY)
                }
            };
            if !due {
                continue;
            }
            last_attempt = Some(Instant::now());
            // Any backup, a journal's new base included, restarts the interval.
            tick.reset();
            let round = self.round().await;
            observer.round(&self.schedule, &round);
        }
    }

    /// One backup, prune and health check.
    pub async fn round(&self) -> Round {
        let s = &self.schedule;
        let created = create(
            &self.vault,
            &self.db,
            &s.dir,
            self.config_text.as_deref(),
            self.journal.as_deref(),
            &Silent,
        )
        .await;
        let pruned = prune(&s.dir, s.retention_days, self.vault.clock().now());
        let age = newest(&s.dir).map(|t| (self.vault.clock().now() - t).whole_seconds());
        let limit = i64::try_from(s.interval.as_secs().saturating_mul(2)).unwrap_or(i64::MAX);
        let health = match age {
            Some(a) if a <= limit => BackupHealth::Fresh { age_seconds: a },
            Some(a) => BackupHealth::Overdue { age_seconds: a },
            None => BackupHealth::Missing,
        };
        Round {
            created,
            pruned,
            health,
            journal_entries: self.journal.as_ref().map(|j| j.entries()),
            journal_needs_base: self.journal.as_ref().is_some_and(|j| j.needs_base()),
        }
    }
}
