//! The one supervisor of `serve`'s background jobs. A job is a factory that can start it
//! again; a panic or an error return is caught, logged, counted in `/metrics`, reported in
//! `/readyz` as degraded under the job's name, and the job is restarted with capped
//! exponential back-off until it has run healthily for a while.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `/readyz` source under which failing jobs are reported.
pub(crate) const READY_SOURCE: &str = "jobs";

/// How long to wait before restarting a failed job, and when it counts as healthy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The wait after the first failure in a row; each further failure doubles it.
    pub(crate) first: Duration,
    /// The longest wait.
    pub(crate) max: Duration,
    /// A job that has run this long since its last start without failing is healthy again:
    /// its degraded reason clears and the next failure waits `first` again.
    pub(crate) healthy_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            healthy_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before restarting after `failures` failures in a row (at least one).
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Why one run of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Panic,
    Error,
}

impl Failure {
    fn label(self) -> &'static str {
        match self {
            Failure::Panic => "panic",
            Failure::Error => "error",
        }
    }
}

/// Starts background jobs and keeps them running; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Supervisor {
    ready: phivault_server::Readiness,
    backoff: Backoff,
    /// The degraded reason of every job that is failing now, by job name.
    failing: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Supervisor {
    /// A supervisor reporting failing jobs in `ready`, with the default back-off.
    pub(crate) fn new(ready: phivault_server::Readiness) -> Self {
        Self {
            ready,
            backoff: Backoff::default(),
            failing: Arc::default(),
        }
    }

    /// The same supervisor with another back-off (tests use short ones).
    #[cfg(test)]
    pub(crate) fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Starts the job `name`: `start` is called for the first run and again for every
    /// restart. A run that returns `Ok(())` has finished and is not restarted; a run that
    /// panics or returns an error is restarted after the back-off.
    pub(crate) fn spawn<F, Fut>(&self, name: impl Into<String>, start: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.into();
        tracing::debug!(job = %name, "background job started");
        tokio::spawn(self.clone().supervise(name, start));
    }

    async fn supervise<F, Fut>(self, name: String, start: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut failures: u32 = 0;
        loop {
            // Its own task, so that a panic unwinds that task alone and reaches us as a
            // `JoinError` instead of ending the supervisor.
            let mut run = tokio::spawn(start());
            let outcome = match tokio::time::timeout(self.backoff.healthy_after, &mut run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    if failures > 0 {
                        failures = 0;
                        self.recovered(&name);
                    }
                    run.await
                }
            };
            let failure = match outcome {
                Ok(Ok(())) => {
                    tracing::info!(job = %name, "background job finished");
                    self.recovered(&name);
                    return;
                }
                // The message is the job's own (codes and paths, never record content);
                // the log writer still redacts identifier shapes.
                Ok(Err(e)) => {
                    tracing::error!(job = %name, error = %e, "background job failed");
                    Failure::Error
                }
                // The panic payload is not logged: it may quote whatever the code held.
                Err(e) if e.is_panic() => {
                    tracing::error!(job = %name, "background job panicked");
                    Failure::Panic
                }
                // Cancelled: the runtime is shutting down.
                Err(_) => return,
            };
            failures = failures.saturating_add(1);
            let delay = self.backoff.delay(failures);
            self.failed(&name, failure, failures, delay);
            tokio::time::sleep(delay).await;
            metrics::counter!("phivault_job_restarts_total", "job" => name.clone()).increment(1);
            tracing::info!(job = %name, failures, "restarting background job");
        }
    }

    /// Counts a failure and reports the job as degraded.
    fn failed(&self, name: &str, failure: Failure, failures: u32, delay: Duration) {
        metrics::counter!("phivault_job_failures_total",
            "job" => name.to_owned(), "kind" => failure.label())
        .increment(1);
        metrics::gauge!("phivault_job_consecutive_failures", "job" => name.to_owned())
            .set(f64::from(failures));
        tracing::warn!(job = %name, kind = failure.label(), failures,
            restart_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "background job restarting after back-off");
        // Only the name, the kind and the count: never the error text.
        let reason = format!(
            "job:{name} {} failures={failures} restart_in={}s",
            failure.label(),
            delay.as_secs()
        );
        self.publish(|failing| {
            failing.insert(name.to_owned(), reason);
        });
    }

    /// Clears the job's degraded reason once it runs healthily again (or has finished).
    fn recovered(&self, name: &str) {
        metrics::gauge!("phivault_job_consecutive_failures", "job" => name.to_owned()).set(0.0);
        let mut was_failing = false;
        self.publish(|failing| was_failing = failing.remove(name).is_some());
        if was_failing {
            tracing::info!(job = %name, "background job healthy again");
        }
    }

    /// Applies `change` to the failing jobs and reports the result in `/readyz`.
    fn publish(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut failing);
        self.ready
            .set_degraded(READY_SOURCE, failing.values().cloned().collect());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The process-wide recorder these tests read `/metrics` text from.
    fn metrics_text() -> String {
        static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
        HANDLE
            .get_or_init(|| {
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .install_recorder()
                    .expect("no other recorder in the unit tests")
            })
            .render()
    }

    /// The value of the sample `name{labels}` in the exposition text.
    fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
    }

    async fn until(what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}");
    }

    fn quick() -> Backoff {
        Backoff {
            first: Duration::from_millis(20),
            max: Duration::from_millis(40),
            healthy_after: Duration::from_secs(2),
        }
    }

    #[test]
    fn the_back_off_doubles_up_to_its_cap() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=12).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.delay(u32::MAX), b.max);
        assert_eq!(b.delay(0), b.first);
    }

    /// A job that panics on its first run and returns an error on its second is restarted
    /// each time, counted per kind, reported in `/readyz` by name (never with its error
    /// text), and cleared once its third run has been healthy for `healthy_after`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_is_restarted_counted_reported_and_cleared() {
        let _ = metrics_text();
        let ready = phivault_server::Readiness::new();
        let jobs = Supervisor::new(ready.clone()).with_backoff(quick());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        jobs.spawn("flaky-test-job", move || {
            let run = r.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match run {
                    1 => panic!("deliberate panic"),
                    2 => anyhow::bail!("deliberate failure naming subject pat-0042"),
                    _ => std::future::pending().await,
                }
            }
        });
        until("the third run started", || runs.load(Ordering::SeqCst) == 3).await;
        let degraded = ready.degraded();
        assert_eq!(degraded.len(), 1, "{degraded:?}");
        assert!(
            degraded[0].starts_with("job:flaky-test-job error failures=2"),
            "{degraded:?}"
        );
        assert!(
            !degraded[0].contains("pat-0042"),
            "no error text in /readyz"
        );

        let text = metrics_text();
        let failures = |kind: &str| {
            sample(
                &text,
                &format!("phivault_job_failures_total{{job=\"flaky-test-job\",kind=\"{kind}\"}}"),
            )
        };
        assert_eq!(failures("panic"), Some(1.0), "{text}");
        assert_eq!(failures("error"), Some(1.0), "{text}");
        until("the second restart is counted", || {
            sample(
                &metrics_text(),
                "phivault_job_restarts_total{job=\"flaky-test-job\"}",
            ) == Some(2.0)
        })
        .await;

        // Healthy for `healthy_after`: the reason clears and the gauge returns to 0.
        until("the job is healthy again", || ready.degraded().is_empty()).await;
        assert_eq!(
            sample(
                &metrics_text(),
                "phivault_job_consecutive_failures{job=\"flaky-test-job\"}"
            ),
            Some(0.0)
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "no restart of a healthy job"
        );
    }

    /// A job that keeps failing waits longer each time (up to the cap) and stays degraded;
    /// a job that finishes is not restarted and leaves nothing degraded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_keeps_failing_stays_degraded_and_a_finished_job_is_not_restarted() {
        let ready = phivault_server::Readiness::new();
        let jobs = Supervisor::new(ready.clone()).with_backoff(quick());
        let failing_runs = Arc::new(AtomicU32::new(0));
        let f = failing_runs.clone();
        jobs.spawn("always-failing-test-job", move || {
            f.fetch_add(1, Ordering::SeqCst);
            async { anyhow::bail!("deliberate") }
        });
        let done_runs = Arc::new(AtomicU32::new(0));
        let d = done_runs.clone();
        jobs.spawn("finishing-test-job", move || {
            d.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        });
        until("four failed runs", || {
            failing_runs.load(Ordering::SeqCst) >= 4
        })
        .await;
        let degraded = ready.degraded();
        assert_eq!(degraded.len(), 1, "{degraded:?}");
        assert!(
            degraded[0].starts_with("job:always-failing-test-job error"),
            "{degraded:?}"
        );
        assert_eq!(done_runs.load(Ordering::SeqCst), 1);
    }
}
