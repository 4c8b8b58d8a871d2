//! The backup job of `serve`: runs `phivault_backup`'s schedule and turns each round into
//! log lines, metrics and the `backups` entry of `/readyz`.

/// Logs each scheduled round, exports its metrics and reports overdue backups in `/readyz`.
struct ScheduleLog(phivault_server::Readiness);

impl phivault_backup::ScheduleObserver for ScheduleLog {
    fn round(&self, s: &phivault_backup::Schedule, round: &phivault_backup::Round) {
        use phivault_backup::BackupHealth;
        match &round.created {
            Ok(c) => tracing::info!(
                backup = %c.path.display(), audit_tree_size = c.manifest.audit.tree_size,
                "scheduled backup written"
            ),
            Err(e) => tracing::error!(error = %e, code = e.code(), "scheduled backup failed"),
        }
        match &round.pruned {
            Ok(removed) if !removed.is_empty() => tracing::info!(
                pruned = removed.len(),
                retention_days = s.retention_days,
                "old backups pruned"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "pruning backups failed"),
        }
        if let Some(a) = round.health.age_seconds() {
            metrics::gauge!("phivault_backup_last_good_age_seconds").set(a as f64);
        }
        match round.health {
            BackupHealth::Fresh { age_seconds } => {
                tracing::info!(last_good_backup_age_seconds = age_seconds, "backup status")
            }
            BackupHealth::Overdue { age_seconds } => tracing::warn!(
                last_good_backup_age_seconds = age_seconds,
                "the last good backup is overdue"
            ),
            BackupHealth::Missing => tracing::warn!("no good backup exists"),
        }
        if let Some(n) = round.journal_entries {
            metrics::gauge!("phivault_backup_journal_entries").set(n as f64);
        }
        self.0.set_degraded("backups", round.degraded());
    }
}

/// Starts the backup scheduler of `serve` (see [`phivault_backup::Scheduler`]); a restart
/// after a panic begins a fresh schedule (a round at once, then one per interval).
pub(crate) fn scheduler(
    jobs: &super::Supervisor,
    scheduler: phivault_backup::Scheduler,
    ready: phivault_server::Readiness,
) {
    jobs.spawn("backups", move || {
        let (scheduler, ready) = (scheduler.clone(), ready.clone());
        async move {
            scheduler.run(&ScheduleLog(ready)).await;
            Ok(())
        }
    });
}
