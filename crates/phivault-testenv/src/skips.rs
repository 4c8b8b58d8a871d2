//! The one rule for a test whose tool or server is missing: it fails when the requirement
//! is required (`PHIVAULT_REQUIRE_POSTGRES`, `_RSYSLOG`, `_OCSF`, or `PHIVAULT_REQUIRE_ALL`
//! for all of them), and otherwise says so on a line a person sees and records the skip, so
//! that the run ends with one summary line counting every skip (printed by
//! `phivault-testkit`'s last test, see [`Summary::line`]).
#![allow(
    clippy::panic,
    reason = "test support: a required tool that is missing must fail the test"
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The variable that makes every requirement required.
pub const REQUIRE_ALL: &str = "PHIVAULT_REQUIRE_ALL";

/// Something a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// A PostgreSQL server, or the binaries to start a throwaway one.
    Postgres,
    /// rsyslogd with its TLS (`ossl`) driver.
    Rsyslog,
    /// python3 with the `ocsf-json-schema` and `jsonschema` packages.
    Ocsf,
}

impl Requirement {
    /// Every requirement.
    pub const ALL: [Requirement; 3] = [
        Requirement::Postgres,
        Requirement::Rsyslog,
        Requirement::Ocsf,
    ];

    /// A short name (`postgres`).
    pub fn name(self) -> &'static str {
        match self {
            Requirement::Postgres => "postgres",
            Requirement::Rsyslog => "rsyslog",
            Requirement::Ocsf => "ocsf",
        }
    }

    /// The variable that makes it required (`PHIVAULT_REQUIRE_POSTGRES`).
    pub fn variable(self) -> &'static str {
        match self {
            Requirement::Postgres => "PHIVAULT_REQUIRE_POSTGRES",
            Requirement::Rsyslog => "PHIVAULT_REQUIRE_RSYSLOG",
            Requirement::Ocsf => "PHIVAULT_REQUIRE_OCSF",
        }
    }

    /// Whether a test missing it must fail: its variable or [`REQUIRE_ALL`] is `1`.
    pub fn is_required(self) -> bool {
        flag(self.variable()) || flag(REQUIRE_ALL)
    }
}

/// Whether the variable is set to `1` (or `true`/`yes`).
fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// The calling test cannot run because `requirement` is missing (`reason` says what; it
/// must hold no PHI): fails the test when the requirement is required, and otherwise
/// prints a `SKIP` line past the output capture and records the skip for the run's
/// summary, then returns so that the test can return.
#[track_caller]
pub fn skip_or_fail(requirement: Requirement, reason: &str) {
    let test = current_test();
    if requirement.is_required() {
        panic!(
            "{test}: {reason} ({} or {REQUIRE_ALL} is set, so a missing {} fails)",
            requirement.variable(),
            requirement.name()
        );
    }
    crate::announce(&format!(
        "SKIP {test} [{}]: {reason} (set {}=1 to make this a failure)",
        requirement.name(),
        requirement.variable()
    ));
    record(&run_file(), requirement, &test, reason);
}

/// The running test's name: the harness names each test's thread after the test.
fn current_test() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("a test")
        .to_owned()
}

/// One recorded skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The requirement's short name.
    pub requirement: String,
    /// The test.
    pub test: String,
    /// Why.
    pub reason: String,
}

/// Appends one skip to `file` (one line, tab-separated; one `write` with `O_APPEND`, so
/// test binaries running at once do not interleave).
fn record(file: &Path, requirement: Requirement, test: &str, reason: &str) {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let line = format!(
        "{}\t{}\t{}\n",
        requirement.name(),
        clean(test),
        clean(reason)
    );
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Where this run's skips are recorded: `target/phivault-test-skips/<run>.tsv`, where the
/// run is the process that started the test binaries (`cargo test` starts every binary of
/// one run), named by its id and start time so that a reused id starts afresh;
/// `PHIVAULT_TEST_SKIPS_FILE` names another file.
pub fn run_file() -> PathBuf {
    if let Some(file) = std::env::var_os("PHIVAULT_TEST_SKIPS_FILE") {
        return PathBuf::from(file);
    }
    let dir = target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("phivault-test-skips");
    dir.join(format!("{}.tsv", run_key()))
}

/// The `target` directory of the running test binary (`target/<profile>/deps/<binary>`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.parent()?.to_owned())
}

/// The parent process's id and start time (from `/proc`, when there is one).
fn run_key() -> String {
    let parent = std::os::unix::process::parent_id();
    let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|stat| {
            // Field 22 (`starttime`) counts from the first field after the command name.
            let rest = stat.rsplit_once(')')?.1.to_owned();
            rest.split_whitespace().nth(19).map(str::to_owned)
        })
        .unwrap_or_default();
    format!("{parent}-{started}")
}

/// The skips a run recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Each skip, in the order recorded.
    pub skips: Vec<Skip>,
}

impl Summary {
    /// Reads the skips recorded in `file` (none when it does not exist).
    pub fn read(file: &Path) -> Summary {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let skips = text
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                Some(Skip {
                    requirement: parts.next()?.to_owned(),
                    test: parts.next()?.to_owned(),
                    reason: parts.next()?.to_owned(),
                })
            })
            .collect();
        Summary { skips }
    }

    /// Reads and removes this run's record (see [`run_file`]).
    pub fn take_this_run() -> Summary {
        let file = run_file();
        let summary = Summary::read(&file);
        let _ = std::fs::remove_file(&file);
        summary
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.skips.is_empty()
    }

    /// The one line that ends a run: how many tests skipped, per requirement, which ones
    /// (the first few), and how to make a skip fail.
    pub fn line(&self) -> String {
        if self.skips.is_empty() {
            return "phivault tests: no test skipped".to_owned();
        }
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.skips {
            *per.entry(s.requirement.as_str()).or_default() += 1;
        }
        let per: Vec<String> = per.iter().map(|(r, n)| format!("{r} {n}")).collect();
        const SHOWN: usize = 5;
        let mut names: Vec<&str> = self.skips.iter().map(|s| s.test.as_str()).collect();
        let more = names.len().saturating_sub(SHOWN);
        names.truncate(SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(
            "phivault tests: {} SKIPPED for want of {} ({}{more}); they passed without running. \
             Install what is missing, or set {REQUIRE_ALL}=1 to make every skip a failure",
            self.skips.len(),
            per.join(", "),
            names.join(", "),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn skips_are_recorded_and_summed_up_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.tsv");
        assert_eq!(
            Summary::read(&file).line(),
            "phivault tests: no test skipped"
        );
        record(
            &file,
            Requirement::Rsyslog,
            "siem::delivers",
            "no\trsyslogd\n",
        );
        record(&file, Requirement::Ocsf, "ocsf::validates", "no schema");
        record(&file, Requirement::Rsyslog, "it::audit_log", "no rsyslogd");
        let summary = Summary::read(&file);
        assert_eq!(summary.skips.len(), 3);
        assert_eq!(summary.skips[0].reason, "no rsyslogd ");
        let line = summary.line();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("phivault tests: 3 SKIPPED for want of ocsf 1, rsyslog 2"),
            "{line}"
        );
        assert!(line.contains("siem::delivers, ocsf::validates, it::audit_log"));
        assert!(line.contains("PHIVAULT_REQUIRE_ALL=1"));
    }

    #[test]
    fn the_run_file_is_keyed_by_the_parent_process() {
        let file = run_file();
        let parent = std::os::unix::process::parent_id().to_string();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{parent}-")), "{name}");
        assert!(file.parent().unwrap().ends_with("phivault-test-skips"));
    }

    /// Runs `child_calls_skip_or_fail` in a child process with `vars` set (and no other
    /// requirement variable) and returns whether it passed and its standard error.
    fn child(vars: &[(&str, &str)], skips: &Path) -> (bool, String) {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "skips::tests::child_calls_skip_or_fail",
            "--nocapture",
        ])
        .env("PHIVAULT_TESTENV_CHILD", "1")
        .env("PHIVAULT_TEST_SKIPS_FILE", skips);
        for r in Requirement::ALL {
            cmd.env_remove(r.variable());
        }
        cmd.env_remove(REQUIRE_ALL);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    }

    /// Only in a child started by `a_skip_passes_unless_required`.
    #[test]
    fn child_calls_skip_or_fail() {
        if std::env::var_os("PHIVAULT_TESTENV_CHILD").is_some() {
            skip_or_fail(Requirement::Ocsf, "deliberately missing");
        }
    }

    #[test]
    fn a_skip_passes_unless_required() {
        let dir = tempfile::tempdir().unwrap();
        let skips = dir.path().join("skips.tsv");
        let (passed, out) = child(&[], &skips);
        assert!(passed, "{out}");
        assert!(
            out.contains(
                "SKIP skips::tests::child_calls_skip_or_fail [ocsf]: deliberately missing"
            ),
            "{out}"
        );
        assert_eq!(Summary::read(&skips).skips.len(), 1);
        for var in ["PHIVAULT_REQUIRE_OCSF", REQUIRE_ALL] {
            let (passed, out) = child(&[(var, "1")], &skips);
            assert!(!passed, "{var}=1 makes the skip a failure: {out}");
            assert!(out.contains("deliberately missing"), "{out}");
        }
        // Another requirement's variable does not make this one required.
        let (passed, out) = child(&[("PHIVAULT_REQUIRE_POSTGRES", "1")], &skips);
        assert!(passed, "{out}");
        assert_eq!(
            Summary::read(&skips).skips.len(),
            2,
            "failures are not skips"
        );
    }

    #[test]
    fn each_requirement_has_its_own_variable() {
        let vars: Vec<&str> = Requirement::ALL.iter().map(|r| r.variable()).collect();
        assert_eq!(
            vars,
            [
                "PHIVAULT_REQUIRE_POSTGRES",
                "PHIVAULT_REQUIRE_RSYSLOG",
                "PHIVAULT_REQUIRE_OCSF"
            ]
        );
    }
}
