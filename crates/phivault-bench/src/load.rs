//! The load loop: N concurrent clients run one operation back to back for T seconds;
//! latencies, throughput and CPU time (machine-wide and this process) are measured.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PhaseResult {
    /// Which system ran it (`phivault`, `phivault-inproc`, `postgres`).
    pub(crate) system: String,
    /// The operation.
    pub(crate) op: String,
    /// Concurrent clients.
    pub(crate) clients: usize,
    /// Operations that succeeded.
    pub(crate) ops: u64,
    /// Operations that failed.
    pub(crate) errors: u64,
    /// Measured wall time, seconds.
    pub(crate) seconds: f64,
    /// Successful operations per second.
    pub(crate) ops_per_sec: f64,
    /// Latency percentiles, milliseconds.
    pub(crate) p50_ms: f64,
    /// 95th percentile.
    pub(crate) p95_ms: f64,
    /// 99th percentile.
    pub(crate) p99_ms: f64,
    /// CPU time of the whole machine (all processes: server, clients, PostgreSQL) per
    /// operation, microseconds.
    pub(crate) cpu_us_per_op_machine: f64,
    /// CPU time of this process (the vault and every client) per operation, microseconds.
    pub(crate) cpu_us_per_op_process: f64,
    /// CPU time of this process plus every PostgreSQL server process per operation,
    /// microseconds: the work of the system under test, whatever else the machine runs.
    pub(crate) cpu_us_per_op: f64,
}

/// CPU counters, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    machine: u64,
    process: u64,
    postgres: u64,
}

/// The process id of the baseline cluster's postmaster, once it runs.
static POSTMASTER: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Counts the CPU time of `pid` (the throwaway cluster's postmaster) and its children
/// (the backends) as part of the system under test; other PostgreSQL servers on the
/// machine are not counted.
pub(crate) fn set_postmaster(pid: u32) {
    let _ = POSTMASTER.set(pid);
}

/// utime + stime of one `/proc/<pid>/stat` text, and the parent's pid.
fn proc_ticks(stat: &str) -> Option<(u32, u64)> {
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.get(1)?.parse::<u32>().ok()?,
        f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
    ))
}

/// CPU ticks of the baseline cluster's processes (postmaster and backends).
fn postgres_ticks() -> u64 {
    let Some(&root) = POSTMASTER.get() else {
        return 0;
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (ppid, ticks) = proc_ticks(&stat)?;
            (pid == root || ppid == root).then_some(ticks)
        })
        .sum()
}

fn ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

fn cpu_now() -> Cpu {
    // /proc/stat "cpu user nice system idle iowait irq softirq steal ..." (busy = all but idle, iowait)
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.to_owned();
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(
                v.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
                    .map(|(_, x)| *x)
                    .sum(),
            )
        })
        .unwrap_or(0);
    // /proc/self/stat: fields 14 and 15 (utime, stime), after the parenthesised name.
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| proc_ticks(&s))
        .map_or(0, |(_, t)| t);
    Cpu {
        machine,
        process,
        postgres: postgres_ticks(),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

/// Runs `op(client, n)` from `clients` concurrent tasks for `seconds`, after `warmup`
/// seconds whose operations are not counted.
pub(crate) async fn run<F, Fut>(
    system: &str,
    name: &str,
    clients: usize,
    warmup: f64,
    seconds: f64,
    op: F,
) -> PhaseResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let begin = Instant::now() + Duration::from_secs_f64(warmup);
    let end = begin + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            let mut first_error = None;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = op(c, n).await;
                n += 1;
                if t < begin {
                    continue;
                }
                match r {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(format!("{e:#}"));
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let sleep_for = begin.saturating_duration_since(Instant::now());
    tokio::time::sleep(sleep_for).await;
    let (c0, t0) = (cpu_now(), Instant::now());
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut c1 = None;
    for t in tasks {
        if let Ok((l, e, f)) = t.await {
            if c1.is_none() {
                // the first task ends within one operation of the deadline
                c1 = Some((cpu_now(), t0.elapsed()));
            }
            lat.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    let (c1, elapsed) = c1.unwrap_or_else(|| (cpu_now(), t0.elapsed()));
    if let Some(e) = first_error {
        eprintln!("  {system} {name}: {errors} errors, first: {e}");
    }
    lat.sort_unstable();
    let ops = lat.len() as u64;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let tick = 1e6 / ticks_per_sec();
    let per_op = |d: u64| {
        if ops == 0 {
            0.0
        } else {
            d as f64 * tick / ops as f64
        }
    };
    let r = PhaseResult {
        system: system.to_owned(),
        op: name.to_owned(),
        clients,
        ops,
        errors,
        seconds: secs,
        ops_per_sec: ops as f64 / secs,
        p50_ms: pct(&lat, 0.50),
        p95_ms: pct(&lat, 0.95),
        p99_ms: pct(&lat, 0.99),
        cpu_us_per_op_machine: per_op(c1.machine.saturating_sub(c0.machine)),
        cpu_us_per_op_process: per_op(c1.process.saturating_sub(c0.process)),
        cpu_us_per_op: per_op((c1.process + c1.postgres).saturating_sub(c0.process + c0.postgres)),
    };
    eprintln!(
        "  {:<16} {:<14} {:>9.0} ops/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        r.system, r.op, r.ops_per_sec, r.p50_ms, r.p99_ms
    );
    r
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One result per (system, operation), in first-seen order, each figure the median over
/// the rounds (ops and errors summed).
pub(crate) fn median(raw: &[PhaseResult]) -> Vec<PhaseResult> {
    let mut out: Vec<PhaseResult> = Vec::new();
    for r in raw {
        if out.iter().any(|o| o.system == r.system && o.op == r.op) {
            continue;
        }
        let same: Vec<&PhaseResult> = raw
            .iter()
            .filter(|x| x.system == r.system && x.op == r.op)
            .collect();
        let m = |f: fn(&PhaseResult) -> f64| median_of(same.iter().map(|x| f(x)).collect());
        out.push(PhaseResult {
            system: r.system.clone(),
            op: r.op.clone(),
            clients: r.clients,
            ops: same.iter().map(|x| x.ops).sum(),
            errors: same.iter().map(|x| x.errors).sum(),
            seconds: same.iter().map(|x| x.seconds).sum(),
            ops_per_sec: m(|x| x.ops_per_sec),
            p50_ms: m(|x| x.p50_ms),
            p95_ms: m(|x| x.p95_ms),
            p99_ms: m(|x| x.p99_ms),
            cpu_us_per_op_machine: m(|x| x.cpu_us_per_op_machine),
            cpu_us_per_op_process: m(|x| x.cpu_us_per_op_process),
            cpu_us_per_op: m(|x| x.cpu_us_per_op),
        });
    }
    out
}
