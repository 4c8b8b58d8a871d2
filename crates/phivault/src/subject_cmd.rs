//! `phivault subject export|accounting|erase`: individuals' rights at the command line
//! (45 CFR 164.524, 164.528) and erasure by crypto-shredding. The operator holds the
//! passphrase and acts with the `privacy_officer` role; every command is audited.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use phivault_core::policy::builtin_role;
use phivault_core::{Principal, SubjectId};
use phivault_server::convert::privacy::{accounting_to_api, erasure_to_api, subject_export_to_api};
use serde::Serialize;

use crate::datadir::Opened;

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SubjectFormat {
    /// Machine-readable JSON.
    Json,
    /// A readable HTML document.
    Html,
}

/// Subject commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SubjectCommand {
    /// Export everything held about a subject (right of access): records with every
    /// version, amendments with statements of disagreement, restrictions.
    Export {
        /// The subject id.
        subject: String,
        /// Write here (a new private file) instead of standard output.
        #[arg(long)]
        to: Option<PathBuf>,
        /// The format.
        #[arg(long, value_enum, default_value_t = SubjectFormat::Json)]
        format: SubjectFormat,
        /// The open access request this export answers (marked completed).
        #[arg(long)]
        request: Option<String>,
    },
    /// The accounting of disclosures for a subject over the last six years.
    Accounting {
        /// The subject id.
        subject: String,
    },
    /// Erase a subject by destroying its data key (irreversible).
    Erase {
        /// The subject id.
        subject: String,
        /// Repeat the subject id to confirm.
        #[arg(long)]
        confirm: String,
    },
}

/// The `--json` summary of an export written elsewhere.
#[derive(Debug, Serialize)]
struct ExportSummary {
    subject: String,
    records: usize,
    items: usize,
}

fn officer() -> Principal {
    let mut op = Principal::local_operator();
    op.roles = builtin_role("privacy_officer").into_iter().collect();
    op
}

fn subject_id(s: &str) -> Result<SubjectId> {
    SubjectId::parse(s).map_err(|e| anyhow::anyhow!("invalid subject id: {}", e.code()))
}

/// Runs a subject command.
pub(crate) async fn run(opened: &Opened, cmd: SubjectCommand, as_json: bool) -> Result<ExitCode> {
    let op = officer();
    match cmd {
        SubjectCommand::Export {
            subject,
            to,
            format,
            request,
        } => {
            let subject = subject_id(&subject)?;
            let bar = crate::backup_cmd::progress(as_json || to.is_none(), "subject export");
            let progress = |n: u64| bar.set_message(format!("{n} records"));
            let export = opened
                .vault
                .export_subject(
                    &crate::local_meta("subject-export"),
                    &op,
                    &subject,
                    request.as_deref(),
                    Some(&progress),
                )
                .await
                .map_err(|e| anyhow::anyhow!("export refused: {}", e.code()))?;
            let summary = ExportSummary {
                subject: export.subject.clone(),
                records: export.records.len(),
                items: export.items.len(),
            };
            let text = match format {
                SubjectFormat::Json => serde_json::to_string_pretty(&subject_export_to_api(export))
                    .context("encoding the export")?,
                SubjectFormat::Html => export.to_html(),
            };
            match &to {
                Some(path) => crate::datadir::write_private(path, text.as_bytes())?,
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes()).context("writing stdout")?;
                    out.flush().context("writing stdout")?;
                }
            }
            bar.finish_and_clear();
            if as_json {
                eprintln!(
                    "{}",
                    serde_json::to_string(&summary).context("encoding the summary")?
                );
            } else if to.is_some() {
                eprintln!(
                    "exported {} records and {} requests or statements of {}",
                    summary.records, summary.items, summary.subject
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SubjectCommand::Accounting { subject } => {
            let subject = subject_id(&subject)?;
            let a = opened
                .vault
                .accounting(
                    &crate::local_meta("subject-accounting"),
                    &op,
                    &subject,
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("accounting refused: {}", e.code()))?;
            let a = accounting_to_api(a);
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string(&a).context("encoding the accounting")?
                );
            } else {
                println!(
                    "Accounting of disclosures for {} from {} to {}",
                    a.subject,
                    crate::rfc3339(a.from),
                    crate::rfc3339(a.to)
                );
                for d in &a.disclosures {
                    println!(
                        "  {}  {:<7} {:<8} to {}  [{}] {}",
                        crate::rfc3339(d.at),
                        d.source,
                        d.purpose,
                        d.recipient,
                        d.collections.join(","),
                        d.fields.join(",")
                    );
                }
                for e in &a.exclusions {
                    println!(
                        "  excluded: {} access(es) for {} ({}: {})",
                        e.events, e.purpose, e.paragraph, e.explanation
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SubjectCommand::Erase { subject, confirm } => {
            if confirm != subject {
                bail!("--confirm must repeat the subject id");
            }
            let subject = subject_id(&subject)?;
            let r = opened
                .vault
                .erase_subject(&crate::local_meta("subject-erase"), &op, &subject)
                .await
                .map_err(|e| anyhow::anyhow!("erasure refused: {}", e.code()))?;
            let r = erasure_to_api(r);
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string(&r).context("encoding the erasure")?
                );
            } else {
                println!(
                    "erased {}: its data key is destroyed; {} records can no longer be opened",
                    r.subject, r.records
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
