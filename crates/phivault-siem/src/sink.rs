//! The sink loop: read events after the persisted cursor, encode, deliver, then move the
//! cursor. Failures back off and retry; nothing is skipped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phivault_client::webhook::WebhookSender;
use phivault_core::Clock;
use phivault_core::audit::ocsf;
use phivault_core::store::{Store, read_tx, write_tx};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use crate::SiemError;
use crate::syslog::{self, Conn, TlsSettings};

/// Where a sink delivers.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// OCSF JSON, one event per line, appended to `path` and synced; the file is rotated
    /// to `path.N` when it reaches `max_bytes` or has been open `max_age`.
    JsonlFile {
        /// The current file.
        path: PathBuf,
        /// Rotate at this size.
        max_bytes: u64,
        /// Rotate after this long.
        max_age: Duration,
    },
    /// One HTTPS `POST` per batch (a JSON array of OCSF events), HMAC-signed, with the
    /// sender's bounded retries inside each delivery.
    Webhook(crate::webhook::WebhookSettings),
    /// RFC 5424 over TCP (or TLS when `tls` is set) with octet-counted framing.
    Syslog {
        /// `host:port` of the receiver.
        addr: String,
        /// TLS settings; `None` for plain TCP.
        tls: Option<TlsSettings>,
        /// The HOSTNAME field.
        hostname: String,
    },
}

/// One configured sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// A stable name; the cursor is kept under [`cursor_key`] of it.
    pub name: String,
    /// The destination.
    pub kind: SinkKind,
    /// Events per delivery.
    pub batch: usize,
    /// How long to wait when the sink has caught up.
    pub idle: Duration,
}

/// A sink's health, for `/readyz`, metrics and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStatus {
    /// The last delivered seq (the persisted cursor).
    pub delivered: u64,
    /// The last seq in the log when last looked at.
    pub log_head: u64,
    /// Consecutive failed deliveries.
    pub failures: u32,
    /// The last error, if the last delivery failed.
    pub last_error: Option<String>,
}

impl SinkStatus {
    /// Events in the log not yet delivered.
    pub fn lag(&self) -> u64 {
        self.log_head.saturating_sub(self.delivered)
    }
}

/// The `meta` key holding a sink's cursor.
pub fn cursor_key(name: &str) -> String {
    format!("siem.cursor.{name}")
}

/// What a sink keeps open between batches; dropped after a failure so the next attempt
/// reconnects (and re-resolves) from scratch.
struct Open {
    syslog: Option<Conn>,
    webhook: Option<WebhookSender>,
    file: FileState,
}

struct FileState {
    file: Option<tokio::fs::File>,
    size: u64,
    opened: OffsetDateTime,
}

async fn rotate_if_due(
    path: &PathBuf,
    max_bytes: u64,
    max_age: Duration,
    st: &mut FileState,
    now: OffsetDateTime,
) -> Result<(), SiemError> {
    let age = now - st.opened;
    let due = st.size >= max_bytes || age >= time::Duration::try_from(max_age).unwrap_or_default();
    if due && st.size > 0 {
        st.file = None;
        let mut n = 1u64;
        let rotated = loop {
            let candidate = PathBuf::from(format!("{}.{n}", path.display()));
            if tokio::fs::metadata(&candidate).await.is_err() {
                break candidate;
            }
            n += 1;
        };
        tokio::fs::rename(path, &rotated).await?;
        st.size = 0;
    }
    if st.file.is_none() {
        let f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        st.size = f.metadata().await?.len();
        st.opened = now;
        st.file = Some(f);
    }
    Ok(())
}

/// Runs a sink until its task is aborted. Never returns an error: failures are recorded in
/// `status`, logged, and retried with back-off (1 s doubling to 30 s).
pub async fn run_sink(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: SinkConfig,
    status: Arc<Mutex<SinkStatus>>,
) {
    let mut open = Open {
        syslog: None,
        webhook: None,
        file: FileState {
            file: None,
            size: 0,
            opened: clock.now(),
        },
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        match step(&*store, &*clock, &config, &mut open, &status).await {
            Ok(true) => backoff = Duration::from_secs(1),
            Ok(false) => tokio::time::sleep(config.idle).await,
            Err(e) => {
                open.syslog = None;
                open.webhook = None;
                open.file.file = None;
                {
                    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                    s.failures += 1;
                    s.last_error = Some(e.to_string());
                    tracing::warn!(sink = %config.name, error = %e, lag = s.lag(),
                        "audit sink delivery failed; retrying");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Delivers one batch; `Ok(false)` when there was nothing to deliver.
async fn step(
    store: &dyn Store,
    clock: &dyn Clock,
    config: &SinkConfig,
    open: &mut Open,
    status: &Mutex<SinkStatus>,
) -> Result<bool, SiemError> {
    let key = cursor_key(&config.name);
    let batch = config.batch.max(1);
    let (cursor, entries, head) = read_tx(store, move |tx| {
        let cursor = tx
            .get_meta(&key)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let entries = tx.audit_entries(cursor, batch)?;
        let head = tx.audit_head()?.map_or(0, |(s, _)| s);
        Ok((cursor, entries, head))
    })
    .await?;
    {
        let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
        s.delivered = cursor;
        s.log_head = head;
    }
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let mut encoded = Vec::with_capacity(entries.len());
    for e in &entries {
        // A malformed stored event is delivered as a marker rather than blocking the sink;
        // `audit verify` names it.
        match e.event() {
            Ok(ev) => encoded.push((e.seq, Some(ev))),
            Err(_) => encoded.push((e.seq, None)),
        }
    }
    match &config.kind {
        SinkKind::JsonlFile {
            path,
            max_bytes,
            max_age,
        } => {
            let file = &mut open.file;
            rotate_if_due(path, *max_bytes, *max_age, file, clock.now()).await?;
            let mut buf = String::new();
            for (seq, ev) in &encoded {
                let line = match ev {
                    Some(ev) => ocsf::encode(*seq, ev).to_string(),
                    None => format!("{{\"malformed_audit_entry\":{seq}}}"),
                };
                buf.push_str(&line);
                buf.push('\n');
            }
            if let Some(f) = file.file.as_mut() {
                f.write_all(buf.as_bytes()).await?;
                f.sync_data().await?;
                file.size += buf.len() as u64;
            }
        }
        SinkKind::Webhook(w) => {
            let events: Vec<serde_json::Value> = encoded
                .iter()
                .filter_map(|(seq, ev)| ev.as_ref().map(|ev| ocsf::encode(*seq, ev)))
                .collect();
            let body = serde_json::Value::Array(events).to_string();
            if open.webhook.is_none() {
                open.webhook = Some(w.sender().await?);
            }
            if let Some(sender) = &open.webhook {
                sender
                    .post(clock.now().unix_timestamp(), body.as_bytes())
                    .await?;
            }
        }
        SinkKind::Syslog {
            addr,
            tls,
            hostname,
        } => {
            if open.syslog.is_none() {
                open.syslog = Some(syslog::connect(addr, tls.as_ref()).await?);
            }
            let frames: Vec<Vec<u8>> = encoded
                .iter()
                .filter_map(|(seq, ev)| {
                    ev.as_ref().map(|ev| {
                        let msg = ocsf::encode(*seq, ev).to_string();
                        syslog::frame_octet_counted(&syslog::rfc5424(
                            hostname, "phivault", *seq, ev, &msg,
                        ))
                    })
                })
                .collect();
            if let Some(c) = open.syslog.as_mut() {
                syslog::send(c, &frames).await?;
            }
        }
    }
    let key = cursor_key(&config.name);
    write_tx(store, move |tx| Ok(tx.set_meta(&key, &last.to_string())?)).await?;
    let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
    s.delivered = last;
    s.failures = 0;
    s.last_error = None;
    Ok(true)
}
