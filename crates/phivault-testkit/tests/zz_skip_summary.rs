//! The last test binary of `cargo test --workspace` (cargo runs packages in name order and
//! `phivault-testkit` sorts last, this file last within it): prints the one line that
//! counts every test of this run that skipped for want of a tool or server, and fails when
//! `PHIVAULT_REQUIRE_ALL=1` and anything skipped. Run alone, it sums up its own run only.

use phivault_testkit::testenv::skips::{REQUIRE_ALL, Summary};
use phivault_testkit::testenv::{Requirement, announce};

#[test]
fn skip_summary() {
    let summary = Summary::take_this_run();
    announce(&summary.line());
    let all_required = Requirement::ALL.iter().all(|r| r.is_required());
    assert!(
        summary.is_empty() || !all_required,
        "{REQUIRE_ALL}=1 and tests skipped: {}",
        summary.line()
    );
}
