//! `phivault-bench`: the benchmark harness.
//!
//! One run starts an in-process vault (the real router and TLS accept loop, on a temporary
//! SQLite database, or PostgreSQL with `--vault-pg-url`), drives it over HTTPS on loopback
//! with N concurrent clients for T seconds per operation (create a ~1 KB record, read by
//! id, search by a blind-indexed field, update), runs the same operations against a
//! throwaway PostgreSQL 15 cluster with pgcrypto and pgaudit, measures the same create
//! without encryption, audit and policy (the safeguards tax), and prints a table, the
//! ratios and a JSON document.
//!
//! `cargo run --release -p phivault-bench -- --clients 4 --seconds 10`
#![forbid(unsafe_code)]

mod load;
mod pg;
mod vault_side;

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use serde::Serialize;

use crate::load::PhaseResult;
use crate::vault_side::{Backend, BenchVault};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "phivault-bench", about = "phivault benchmark harness")]
struct Args {
    /// Concurrent clients (each has its own connection).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Measured seconds per operation.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Repeat the whole suite this many times, alternating vault and baseline, and report
    /// the median of each figure (spreads other load on the machine over both systems).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Unmeasured warm-up seconds before each operation.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Approximate record size in bytes (JSON).
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Run the vault on this PostgreSQL database instead of a temporary SQLite file.
    #[arg(long)]
    vault_pg_url: Option<String>,
    /// Run the vault on the throwaway baseline cluster (PostgreSQL store).
    #[arg(long, conflicts_with = "vault_pg_url")]
    vault_on_baseline_cluster: bool,
    /// Skip the PostgreSQL baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Where the PostgreSQL 15 binaries live.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin: PathBuf,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The ratios the project targets.
#[derive(Debug, Serialize)]
struct Ratios {
    /// phivault create ops/s ÷ baseline (pgcrypto + pgaudit) create ops/s; goal ≥ 3.
    create_vs_baseline: Option<f64>,
    /// The same for read, search and update.
    read_vs_baseline: Option<f64>,
    /// Search.
    search_vs_baseline: Option<f64>,
    /// Update.
    update_vs_baseline: Option<f64>,
    /// Safeguards tax over HTTPS: plaintext-create ops/s ÷ safeguarded-create ops/s − 1
    /// (extra time per create that encryption, audit and policy cost); goal ≤ 0.25.
    safeguards_tax_https: Option<f64>,
    /// The same in-process (no HTTP, no TLS): the store-level cost of the safeguards.
    safeguards_tax_inproc: Option<f64>,
    /// Baseline plain insert ops/s ÷ baseline encrypted+audited insert ops/s − 1.
    baseline_pgcrypto_tax: Option<f64>,
    /// CPU efficiency, robust to other load on the machine: baseline CPU per create
    /// (this process + PostgreSQL) ÷ phivault CPU per create (this process: vault + clients).
    create_vs_baseline_cpu: Option<f64>,
    /// Safeguards tax in CPU time over HTTPS: safeguarded ÷ plaintext CPU per create − 1.
    safeguards_tax_https_cpu: Option<f64>,
    /// The same in-process.
    safeguards_tax_inproc_cpu: Option<f64>,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    clients: usize,
    seconds_per_op: f64,
    record_bytes: usize,
    vault_backend: String,
    durability: String,
    rounds: usize,
    /// The median over rounds of each figure of each phase.
    phases: Vec<PhaseResult>,
    ratios: Ratios,
    /// Every round's phases, in the order they ran.
    rounds_raw: Vec<PhaseResult>,
    pgaudit_log_lines: Option<usize>,
}

fn find<'a>(phases: &'a [PhaseResult], system_prefix: &str, op: &str) -> Option<&'a PhaseResult> {
    phases
        .iter()
        .find(|p| p.system.starts_with(system_prefix) && p.op == op && p.ops > 0)
}

fn exact<'a>(phases: &'a [PhaseResult], system: &str, op: &str) -> Option<&'a PhaseResult> {
    phases
        .iter()
        .find(|p| p.system == system && p.op == op && p.ops > 0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let need_cluster = !args.no_baseline || args.vault_on_baseline_cluster;
    let cluster = if need_cluster {
        eprintln!("starting the baseline PostgreSQL cluster ...");
        Some(pg::Cluster::start(&args.pg_bin)?)
    } else {
        None
    };
    let backend = match (&args.vault_pg_url, &cluster) {
        (Some(url), _) => Backend::Postgres(url.clone()),
        (None, Some(c)) if args.vault_on_baseline_cluster => {
            c.create_database("phivault").await?;
            Backend::Postgres(c.url("phivault"))
        }
        _ => Backend::Sqlite,
    };
    let mut raw = Vec::new();
    let mut audit_lines = None;
    eprintln!("starting the vault ...");
    let v = BenchVault::start(&backend).await?;
    for round in 0..args.rounds.max(1) {
        eprintln!(
            "round {}: phivault ({}) over HTTPS on loopback:",
            round + 1,
            v.backend()
        );
        raw.extend(
            v.run_all(
                args.clients,
                args.warmup,
                args.seconds,
                args.record_bytes,
                round,
            )
            .await?,
        );
        if let (Some(c), false) = (&cluster, args.no_baseline) {
            eprintln!(
                "round {}: baseline PostgreSQL 15 + pgcrypto + pgaudit:",
                round + 1
            );
            raw.extend(
                pg::run_all(
                    c,
                    args.clients,
                    args.warmup,
                    args.seconds,
                    args.record_bytes,
                )
                .await?,
            );
            audit_lines = Some(pg::audit_lines(c));
        }
    }
    drop(v);
    let phases = load::median(&raw);
    let ratio = |a: Option<&PhaseResult>, b: Option<&PhaseResult>| match (a, b) {
        (Some(a), Some(b)) if b.ops_per_sec > 0.0 => Some(a.ops_per_sec / b.ops_per_sec),
        _ => None,
    };
    let cpu_ratio = |a: Option<&PhaseResult>, b: Option<&PhaseResult>| match (a, b) {
        (Some(a), Some(b)) if b.cpu_us_per_op > 0.0 => Some(a.cpu_us_per_op / b.cpu_us_per_op),
        _ => None,
    };
    let pv = |op| find(&phases, "phivault-", op).filter(|p| !p.system.ends_with("-inproc"));
    let base = |op| exact(&phases, "postgres+pgcrypto+pgaudit", op);
    let inproc = |op| {
        phases
            .iter()
            .find(|p| p.system.ends_with("-inproc") && p.op == op && p.ops > 0)
    };
    let ratios = Ratios {
        create_vs_baseline: ratio(pv("create"), base("create")),
        read_vs_baseline: ratio(pv("read"), base("read")),
        search_vs_baseline: ratio(pv("search"), base("search")),
        update_vs_baseline: ratio(pv("update"), base("update")),
        safeguards_tax_https: ratio(pv("create-plain"), pv("create")).map(|r| r - 1.0),
        safeguards_tax_inproc: ratio(inproc("create-plain"), inproc("create")).map(|r| r - 1.0),
        baseline_pgcrypto_tax: ratio(base("create-plain"), base("create")).map(|r| r - 1.0),
        create_vs_baseline_cpu: cpu_ratio(base("create"), pv("create")),
        safeguards_tax_https_cpu: cpu_ratio(pv("create"), pv("create-plain")).map(|r| r - 1.0),
        safeguards_tax_inproc_cpu: cpu_ratio(inproc("create"), inproc("create-plain"))
            .map(|r| r - 1.0),
    };
    let vault_backend = match &backend {
        Backend::Sqlite => "sqlite".to_owned(),
        Backend::Postgres(_) => "postgres".to_owned(),
    };
    let durability = match &backend {
        Backend::Sqlite => "vault: SQLite WAL, synchronous=FULL (fsync per group commit); baseline: fsync=on, synchronous_commit=on",
        Backend::Postgres(_) => "vault: PostgreSQL store (server settings apply); baseline: fsync=on, synchronous_commit=on",
    }
    .to_owned();
    let report = Report {
        clients: args.clients,
        seconds_per_op: args.seconds,
        record_bytes: args.record_bytes,
        vault_backend,
        durability,
        rounds: args.rounds.max(1),
        phases,
        ratios,
        rounds_raw: raw,
        pgaudit_log_lines: audit_lines,
    };
    print_table(&report);
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.json {
        std::fs::write(path, &json)?;
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "\nclients={} seconds/op={} record≈{} B rounds={} (medians)  durability: {}",
        r.clients, r.seconds_per_op, r.record_bytes, r.rounds, r.durability
    );
    println!(
        "{:<28} {:<13} {:>9} {:>8} {:>8} {:>8} {:>10} {:>13} {:>6}",
        "system",
        "op",
        "ops/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "cpu µs/op",
        "machine µs/op",
        "errors"
    );
    for p in &r.phases {
        println!(
            "{:<28} {:<13} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>10.0} {:>13.0} {:>6}",
            p.system,
            p.op,
            p.ops_per_sec,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.cpu_us_per_op,
            p.cpu_us_per_op_machine,
            p.errors
        );
    }
    let f = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
    let pcent =
        |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let a = &r.ratios;
    println!(
        "\nphivault/baseline create: {}×  (goal ≥ 3×)",
        f(a.create_vs_baseline)
    );
    println!(
        "phivault/baseline read: {}×  search: {}×  update: {}×",
        f(a.read_vs_baseline),
        f(a.search_vs_baseline),
        f(a.update_vs_baseline)
    );
    println!(
        "safeguards tax (create, over HTTPS): {}  (goal ≤ 25%);  in-process: {}",
        pcent(a.safeguards_tax_https),
        pcent(a.safeguards_tax_inproc)
    );
    println!(
        "per create in CPU time (robust to other load): baseline/phivault {}×;  safeguards tax over HTTPS {}, in-process {}",
        f(a.create_vs_baseline_cpu),
        pcent(a.safeguards_tax_https_cpu),
        pcent(a.safeguards_tax_inproc_cpu)
    );
    println!(
        "baseline pgcrypto tax (plain vs encrypted insert): {}",
        pcent(a.baseline_pgcrypto_tax)
    );
    if let Some(n) = r.pgaudit_log_lines {
        println!("pgaudit lines in the baseline server log: {n}");
    }
    println!();
}
