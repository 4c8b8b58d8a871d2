//! The record retention job of `serve`: disposes of records past their collection's
//! retention period on a schedule, acting as the privacy officer; the vault audits each
//! disposal.

use std::time::Duration as StdDuration;

/// Disposes of records past their collection's retention period on a schedule, acting
/// as the privacy officer; each disposal is audited by the vault. A failed run fails the
/// job, so the supervisor reports it in `/readyz` and retries after back-off instead of
/// waiting a whole interval.
pub(crate) fn retention(
    jobs: &super::Supervisor,
    vault: std::sync::Arc<phivault_core::Vault>,
    every: Option<StdDuration>,
) {
    let Some(every) = every else {
        tracing::info!("retention scheduler off");
        return;
    };
    let mut op = phivault_core::Principal::local_operator();
    op.id = "retention-scheduler".to_owned();
    op.actor.id = Some("retention-scheduler".to_owned());
    op.roles = phivault_core::policy::builtin_role("privacy_officer")
        .into_iter()
        .collect();
    jobs.spawn("retention", move || {
        let (vault, op) = (vault.clone(), op.clone());
        async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match vault
                    .apply_retention(&crate::local_meta("retention"), &op)
                    .await
                {
                    Ok(r) if r.disposed > 0 || r.held > 0 => {
                        tracing::info!(disposed = r.disposed, held = r.held, "retention run")
                    }
                    Ok(_) => {}
                    Err(e) => anyhow::bail!("retention run failed: {}", e.code()),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use phivault_core::{Clock as _, CollectionName, Principal, RequestMeta};
    use phivault_testkit::TestVault;
    use phivault_testkit::synthetic::patient_schema;

    #[tokio::test]
    async fn the_retention_scheduler_disposes_of_expired_records_as_the_privacy_officer() {
        let tv = TestVault::start().await;
        let c: phivault_client::api::Collection =
            serde_json::from_value(patient_schema("patients")).unwrap();
        tv.admin_client().create_collection(&c).await.unwrap();
        let id = tv
            .client()
            .create_record(
                "patients",
                "pat-r",
                serde_json::json!({"full_name": "Ret Ention"}),
            )
            .await
            .unwrap()
            .id;
        let mut officer = Principal::local_operator();
        officer.roles = phivault_core::policy::builtin_role("privacy_officer")
            .into_iter()
            .collect();
        let name = CollectionName::parse("patients").unwrap();
        tv.vault
            .set_retention(&RequestMeta::default(), &officer, &name, Some(10))
            .await
            .unwrap();
        tv.clock.advance(time::Duration::days(11));
        let before = tv.clock.now();

        let jobs = crate::serve::jobs::Supervisor::new(phivault_server::Readiness::new());
        // Off: nothing runs.
        retention(&jobs, tv.vault.clone(), None);
        // On: the first run comes at once, then one per interval.
        retention(&jobs, tv.vault.clone(), Some(StdDuration::from_secs(3600)));
        let mut disposed = None;
        for _ in 0..100 {
            let entries = tv.audit_entries().await;
            disposed = entries
                .iter()
                .map(|e| e.event().unwrap())
                .find(|e| e.action == "record.dispose");
            if disposed.is_some() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        let ev = disposed.expect("the scheduler disposed of the expired record");
        assert_eq!(ev.record_id, Some(id.to_string()));
        assert_eq!(ev.actor.id.as_deref(), Some("retention-scheduler"));
        assert!(ev.time >= before);
        assert_eq!(
            crate::config::RetentionSettings::default().interval(),
            Some(StdDuration::from_secs(3600))
        );
    }
}
