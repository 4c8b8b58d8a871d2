//! What phivault's tests need from the machine, and what a test does when it is missing:
//! the one skip-or-fail rule (`PHIVAULT_REQUIRE_*`, in [`skips`]) with the record of skips
//! that the run's summary line counts, a throwaway PostgreSQL cluster started from the
//! system's binaries ([`postgres`]), and the rsyslog finder ([`rsyslog`]). It uses the
//! standard library only, so every crate's tests can depend on it (the stores' and the pure
//! crates' included); `phivault-testkit` re-exports it. Used only by tests and benchmarks.
#![forbid(unsafe_code)]

pub mod postgres;
pub mod rsyslog;
pub mod skips;

pub use skips::{Requirement, skip_or_fail};

/// Writes one line straight to the process's standard error, past the test harness's
/// output capture, so that a person running `cargo test` sees it.
pub fn announce(line: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}
