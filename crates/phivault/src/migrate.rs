//! `phivault migrate --from sqlite:PATH --to postgres://…`: copies a SQLite vault into an
//! empty PostgreSQL database (or schema), then verifies the copy: row counts of every
//! table, the audit chain (intact, same length, same head), every live record's head and
//! versions byte for byte, and a sample of versions decrypted with the vault's keyring.
//!
//! The source is first opened with the SQLite backend, so its own migrations bring it to
//! this build's schema; the copy itself is one PostgreSQL transaction (all or nothing).

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use phivault_backup::sample::{PAGE, open_sample, subject_records};
use phivault_core::crypto::Keyring;
use phivault_core::store::{RecordHead, RecordVersionRow, Store, read_tx};
use phivault_store_postgres::PgStore;
use phivault_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::Config;
use crate::datadir;

/// What the verification pass found.
#[derive(Debug, Default)]
struct Verification {
    tables_ok: bool,
    chain_ok: bool,
    audit_entries: u64,
    records_compared: u64,
    versions_compared: u64,
    decrypted: u64,
    problems: Vec<String>,
}

/// Runs the command.
pub(crate) async fn run(
    data_dir: &Path,
    from: &str,
    to: &str,
    samples: usize,
    as_json: bool,
) -> Result<ExitCode> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        bail!("--from must be a sqlite:PATH URL");
    };
    let path = PathBuf::from(path);
    if !path.exists() {
        bail!("no SQLite vault at {}", path.display());
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL");
    }
    // The keyring (for the sample decrypts) comes from the vault's data directory.
    let config = Config::load(data_dir)?;
    let pass = datadir::passphrase(false)?;
    let keyring = datadir::open_keyring(data_dir, &config, &pass)?;

    let source = Arc::new(
        SqliteStore::open(&path, SqliteOptions::default())
            .with_context(|| format!("opening {}", path.display()))?,
    );
    let target = Arc::new(datadir::connect_postgres(to)?);

    let bar = if as_json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("copying {msg:<20} {bar:40} {pos}/{len} rows")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(StdDuration::from_millis(200));
    let copied = {
        let (target, path, bar) = (target.clone(), path.clone(), bar.clone());
        tokio::task::spawn_blocking(move || {
            target.import_sqlite(&path, &mut |table, done, total| {
                bar.set_message(table.to_owned());
                bar.set_length(total);
                bar.set_position(done);
            })
        })
        .await
        .context("the copy task failed")??
    };
    bar.finish_and_clear();
    let rows: u64 = copied.iter().map(|c| c.target).sum();
    if !as_json {
        eprintln!("copied {rows} rows in {} tables; verifying", copied.len());
    }

    let report = verify(&source, &target, &path, &keyring, samples).await?;
    let ok = report.problems.is_empty();
    if as_json {
        println!(
            "{}",
            json!({"ok": ok, "rows": rows,
                   "tables": copied.iter().map(|c| json!({"table": c.table, "rows": c.target}))
                       .collect::<Vec<_>>(),
                   "audit_entries": report.audit_entries, "chain_ok": report.chain_ok,
                   "tables_ok": report.tables_ok,
                   "records_compared": report.records_compared,
                   "versions_compared": report.versions_compared,
                   "decrypted": report.decrypted, "problems": report.problems})
        );
    } else {
        for c in &copied {
            println!("  {:<22} {:>10} rows", c.table, c.target);
        }
        println!(
            "audit chain: {} ({} entries)",
            if report.chain_ok { "intact" } else { "BROKEN" },
            report.audit_entries
        );
        println!(
            "records: {} live records and {} versions identical; {} versions decrypted",
            report.records_compared, report.versions_compared, report.decrypted
        );
        for p in &report.problems {
            println!("PROBLEM: {p}");
        }
        if ok {
            println!("migration verified. Point the vault at it: storage = \"postgres://…\" in");
            println!("phivault.toml (or PHIVAULT_STORAGE), then start the nodes.");
        } else {
            println!("migration NOT verified");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn verify(
    source: &Arc<SqliteStore>,
    target: &Arc<PgStore>,
    path: &Path,
    keyring: &Keyring,
    samples: usize,
) -> Result<Verification> {
    let mut v = Verification::default();

    // 1. Row counts of every table.
    let counts = {
        let (target, path) = (target.clone(), path.to_owned());
        tokio::task::spawn_blocking(move || target.compare_counts(&path)).await??
    };
    v.tables_ok = true;
    for c in counts {
        if c.source != c.target {
            v.tables_ok = false;
            v.problems.push(format!(
                "table {}: {} rows in SQLite, {} in PostgreSQL",
                c.table, c.source, c.target
            ));
        }
    }

    // 2. The audit chain: intact on the target, and the same chain as the source's.
    let (src_chain, dst_chain) = (
        phivault_core::vault::verify_chain(&**source).await?,
        phivault_core::vault::verify_chain(&**target).await?,
    );
    v.audit_entries = dst_chain.entries;
    v.chain_ok = dst_chain.first_break.is_none()
        && src_chain.entries == dst_chain.entries
        && src_chain.head_hash == dst_chain.head_hash;
    if let Some((seq, problem)) = &dst_chain.first_break {
        v.problems
            .push(format!("audit chain broken at entry {seq}: {problem}"));
    } else if !v.chain_ok {
        v.problems
            .push("the audit chain differs from the source's".to_owned());
    }

    // 3. Every live record: head and versions identical; a sample decrypted.
    let mut after: Option<String> = None;
    loop {
        let a = after.clone();
        let keys = read_tx(&**source, move |tx| {
            Ok(tx.list_subject_keys(a.as_deref(), PAGE)?)
        })
        .await?;
        let Some(last) = keys.last() else { break };
        after = Some(last.subject.clone());
        for key in keys {
            let src_heads = subject_records(&**source, &key.subject).await?;
            let dst_heads = subject_records(&**target, &key.subject).await?;
            if src_heads != dst_heads {
                v.problems
                    .push("the records of a subject differ".to_owned());
                continue;
            }
            let dst_key = {
                let s = key.subject.clone();
                read_tx(&**target, move |tx| Ok(tx.get_subject_key(&s)?)).await?
            };
            if dst_key.as_ref() != Some(&key) {
                v.problems.push("a subject key differs".to_owned());
                continue;
            }
            for head in src_heads {
                v.records_compared += 1;
                let src_versions = versions(&**source, &head).await?;
                let dst_versions = versions(&**target, &head).await?;
                if src_versions != dst_versions {
                    v.problems
                        .push(format!("versions of record {} differ", head.id));
                    continue;
                }
                for row in &dst_versions {
                    v.versions_compared += 1;
                    if row.tombstone || v.decrypted as usize >= samples {
                        continue;
                    }
                    match open_sample(keyring, &key.wrapped_key, row) {
                        Ok(()) => v.decrypted += 1,
                        Err(e) => v.problems.push(format!(
                            "record {} version {} does not decrypt: {e}",
                            row.id, row.version
                        )),
                    }
                }
            }
        }
    }
    Ok(v)
}

async fn versions(store: &dyn Store, head: &RecordHead) -> Result<Vec<RecordVersionRow>> {
    let (c, id) = (head.collection.clone(), head.id);
    Ok(read_tx(store, move |tx| Ok(tx.list_record_versions(&c, &id)?)).await?)
}
