//! `phivault deid`: de-identification commands that need no vault (text scrubbing and
//! scoring the scrubber against a labelled corpus).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use phivault_deid::eval::{Evaluation, parse_line};
use phivault_deid::{Group, ScrubOptions, Scrubber};

/// De-identification commands.
#[derive(Debug, Subcommand)]
pub(crate) enum DeidCommand {
    /// Scrub text from stdin to stdout (Safe Harbor identifiers become typed placeholders).
    Text {
        /// Read one JSON object with a `text` field per line and write the same shape back,
        /// one line per line, in order.
        #[arg(long)]
        jsonl: bool,
        /// Keep bare years (Safe Harbor permits them unless they reveal an age over 89).
        #[arg(long)]
        keep_years: bool,
        /// Keep state names (Safe Harbor permits them).
        #[arg(long)]
        keep_states: bool,
    },
    /// Score the scrubber on a labelled corpus (JSONL: text, spans with begin, end, label):
    /// recall, precision and F1 per category and overall, plus throughput.
    Eval {
        /// The corpus file.
        #[arg(long)]
        corpus: PathBuf,
        /// Also print every missed span and false detection (prints corpus text: use only on
        /// synthetic or otherwise shareable corpora).
        #[arg(long)]
        errors: bool,
    },
    /// Export a collection de-identified (Safe Harbor, 45 CFR 164.514(b)(2)), subject ids
    /// replaced by research pseudonyms (164.514(c)), as JSONL or CSV, with a k-anonymity
    /// report over the quasi-identifiers on stderr. Opens the vault as the local operator
    /// acting as a researcher; audited as `research.export`.
    Export {
        /// The collection.
        #[arg(long)]
        collection: String,
        /// A quasi-identifier field for the k-anonymity report (repeatable).
        #[arg(long = "quasi")]
        quasi: Vec<String>,
        /// The output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write here (created with owner-only permissions) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The format of `deid export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

pub(crate) fn run(command: DeidCommand, as_json: bool) -> Result<ExitCode> {
    match command {
        DeidCommand::Text {
            jsonl,
            keep_years,
            keep_states,
        } => {
            let scrubber = Scrubber::with_options(ScrubOptions {
                keep_years,
                keep_states,
                ..ScrubOptions::default()
            })?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            if jsonl {
                scrub_jsonl(&scrubber, stdin, stdout)?;
            } else {
                scrub_text(&scrubber, stdin, stdout)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DeidCommand::Eval { corpus, errors } => eval(&corpus, errors, as_json),
        DeidCommand::Export { .. } => bail!("deid export needs the vault: run it through main"),
    }
}

/// `phivault deid export`: the vault's research export, written to a file or stdout.
pub(crate) async fn export(
    opened: &crate::datadir::Opened,
    collection: &str,
    quasi: &[String],
    format: ExportFormat,
    out: Option<&std::path::Path>,
    as_json: bool,
) -> Result<ExitCode> {
    use phivault_core::research::{rows_to_csv, rows_to_jsonl};
    use phivault_core::{CollectionName, PurposeOfUse, policy::builtin_role};

    let name = CollectionName::parse(collection).map_err(|e| anyhow::anyhow!("{}", e.code()))?;
    // The local operator holds the passphrase and is exempt from step-up; for the export
    // it acts with the researcher role only, so the vault applies the research path.
    let mut op = phivault_core::Principal::local_operator();
    op.roles = builtin_role("researcher").into_iter().collect();
    op.purpose = Some(PurposeOfUse::Hresch);
    let bar = crate::backup_cmd::progress(as_json || out.is_none(), "deid export");
    bar.set_message(format!("de-identifying {name}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let (rows, report) = opened
        .vault
        .research_export(&crate::local_meta("deid-export"), &op, &name, quasi)
        .await
        .map_err(|e| anyhow::anyhow!("export refused: {}", e.code()))?;
    bar.set_message(format!("writing {} rows", rows.len()));
    let text = match format {
        ExportFormat::Jsonl => rows_to_jsonl(&rows),
        ExportFormat::Csv => rows_to_csv(&rows),
    };
    match out {
        Some(path) => crate::datadir::write_private(path, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .context("writing stdout")?;
            stdout.flush().context("writing stdout")?;
        }
    }
    bar.finish_and_clear();
    let summary = json!({"collection": name.to_string(), "rows": rows.len(),
                         "k_anonymity": report});
    if as_json {
        eprintln!("{summary}");
    } else {
        eprintln!(
            "exported {} rows of {name}; k-anonymity over [{}]: k={} ({} of {} rows in classes under {})",
            rows.len(),
            quasi.join(", "),
            report.k,
            report.rows_below_target,
            report.rows,
            report.target_k
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Streams plain text through the scrubber.
pub(crate) fn scrub_text(
    scrubber: &Scrubber,
    mut input: impl BufRead,
    output: impl Write,
) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let mut stream = scrubber.stream();
    let mut buf = Vec::with_capacity(1 << 16);
    loop {
        buf.clear();
        let n = input.read_until(b'\n', &mut buf).context("reading stdin")?;
        if n == 0 {
            break;
        }
        let line = std::str::from_utf8(&buf).context("input is not UTF-8")?;
        out.write_all(stream.push(line).as_bytes())?;
    }
    out.write_all(stream.finish().as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Scrubs the `text` field of each JSON line; other fields pass through unchanged.
pub(crate) fn scrub_jsonl(
    scrubber: &Scrubber,
    input: impl BufRead,
    output: impl Write,
) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", i + 1))?;
        if line.trim().is_empty() {
            out.write_all(b"\n")?;
            continue;
        }
        // The error names the line only: its content may be PHI.
        let mut v: Value = serde_json::from_str(&line)
            .map_err(|_| anyhow::anyhow!("line {}: not a JSON object", i + 1))?;
        let Some(obj) = v.as_object_mut() else {
            bail!("line {}: not a JSON object", i + 1);
        };
        match obj.get("text") {
            Some(Value::String(t)) => {
                let scrubbed = scrubber.scrub(t);
                obj.insert("text".to_owned(), Value::String(scrubbed));
            }
            Some(Value::Null) | None => {}
            Some(_) => bail!("line {}: `text` is not a string", i + 1),
        }
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn eval(corpus: &PathBuf, errors: bool, as_json: bool) -> Result<ExitCode> {
    let raw =
        std::fs::read_to_string(corpus).with_context(|| format!("reading {}", corpus.display()))?;
    let scrubber = Scrubber::new()?;
    let mut docs = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        docs.push(parse_line(line, i + 1)?);
    }
    // Score first; this pass also builds the matcher's lazy automaton states. Throughput is
    // then timed on a second pass, so it reflects the steady state of a long-running job.
    let mut ev = Evaluation::default();
    for d in &docs {
        let dets = scrubber.detect(&d.text);
        ev.add(d, &dets, errors);
    }
    let t = Instant::now();
    let mut found = 0usize;
    for d in &docs {
        found += scrubber.detect(&d.text).len();
    }
    let detect_secs = t.elapsed().as_secs_f64();
    debug_assert!(found as u64 == ev.overall.predicted_spans);
    let mbps = if detect_secs > 0.0 {
        ev.bytes as f64 / detect_secs / 1e6
    } else {
        0.0
    };
    // Printed through a fallible writer: a closed pipe (`| head`) is an error, not a panic.
    let mut out = String::new();
    macro_rules! outln {
        ($o:expr, $($arg:tt)*) => {{
            use std::fmt::Write as _;
            let _ = writeln!($o, $($arg)*);
        }};
    }
    if as_json {
        let groups: serde_json::Map<String, Value> = ev
            .groups
            .iter()
            .map(|(g, c)| {
                (
                    g.as_str().to_owned(),
                    json!({"counts": c, "scores": c.scores()}),
                )
            })
            .collect();
        outln!(
            out,
            "{}",
            json!({"documents": ev.documents, "bytes": ev.bytes,
                   "overall": {"counts": ev.overall, "scores": ev.overall.scores()},
                   "groups": groups, "unmapped_labels": ev.unmapped_labels,
                   "throughput_mb_per_s": mbps})
        );
    } else {
        outln!(
            out,
            "{:<15} {:>6} {:>6} {:>7} {:>7} {:>7}   {:>7} {:>7} {:>7}",
            "category",
            "gold",
            "found",
            "recall",
            "prec",
            "F1",
            "tok-R",
            "tok-P",
            "tok-F1"
        );
        let row = |out: &mut String, name: &str, c: &phivault_deid::eval::Counts| {
            let s = c.scores();
            outln!(
                out,
                "{:<15} {:>6} {:>6} {:>7.4} {:>7.4} {:>7.4}   {:>7.4} {:>7.4} {:>7.4}",
                name,
                c.gold_spans,
                c.predicted_spans,
                s.recall,
                s.precision,
                s.f1,
                s.token_recall,
                s.token_precision,
                s.token_f1
            );
        };
        for g in Group::ALL {
            if let Some(c) = ev.groups.get(&g) {
                row(&mut out, g.as_str(), c);
            }
        }
        row(&mut out, "OVERALL", &ev.overall);
        if !ev.unmapped_labels.is_empty() {
            let list: Vec<String> = ev
                .unmapped_labels
                .iter()
                .map(|(l, n)| format!("{l} ({n})"))
                .collect();
            outln!(
                out,
                "not scored (not Safe Harbor identifiers): {}",
                list.join(", ")
            );
        }
        outln!(
            out,
            "{} documents, {} bytes; detection {:.1} MB/s (one thread, warm)",
            ev.documents,
            ev.bytes,
            mbps
        );
        outln!(
            out,
            "span recall: a labelled span is caught when detections cover all its letters and \
             digits; span precision: a detection is correct when it overlaps a labelled span"
        );
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    if errors {
        for m in &ev.misses {
            eprintln!("missed    doc {:>5} {:<12} {:?}", m.doc, m.label, m.text);
        }
        for m in &ev.false_positives {
            eprintln!("spurious  doc {:>5} {:<12} {:?}", m.doc, m.label, m.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_keeps_shape_and_order() {
        let s = Scrubber::new().unwrap();
        let input = "{\"id\":1,\"text\":\"Dr. Tavares saw her on 03/14/2024.\"}\n\n{\"id\":2,\"text\":\"MRN 5583920\"}\n";
        let mut out = Vec::new();
        scrub_jsonl(&s, input.as_bytes(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            r#"{"id":1,"text":"Dr. [NAME] saw her on [DATE]."}"#
        );
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], r#"{"id":2,"text":"MRN [MRN]"}"#);
        let err = scrub_jsonl(&s, "{\"text\": 5}\n".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("line 1"));
        let err =
            scrub_jsonl(&s, "Jane Doe 402-19-8877\n".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(!err.to_string().contains("402"), "errors never echo input");
    }

    #[test]
    fn text_streams() {
        let s = Scrubber::new().unwrap();
        let mut out = Vec::new();
        scrub_text(
            &s,
            "Call 559-555-0142.\nSSN 402-19-8877\n".as_bytes(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Call [PHONE].\nSSN [SSN]\n"
        );
    }
}
