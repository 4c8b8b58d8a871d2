//! OCSF encoding: the class mapping, and every encoded event validated against the OCSF
//! 1.3.0 JSON schema of its class (PyPI `ocsf-json-schema` + `jsonschema`, run by
//! `tests/ocsf/validate.py`). Without those packages the validation is skipped with a
//! reason, unless `PHIVAULT_REQUIRE_OCSF=1` (or `PHIVAULT_REQUIRE_ALL=1`), where it fails.

use std::io::Write as _;
use std::process::{Command, Stdio};

use phivault_testenv::{Requirement, skip_or_fail};

use phivault_audit::ocsf::{classify, encode};
use phivault_audit::{Actor, AuditEvent, Outcome};
use time::macros::datetime;

fn events() -> Vec<AuditEvent> {
    let actions = [
        ("auth.authenticate", Outcome::Denied),
        ("auth.login", Outcome::Success),
        ("auth.logout", Outcome::Success),
        ("token.create", Outcome::Success),
        ("token.revoke", Outcome::Success),
        ("user.create", Outcome::Success),
        ("user.disable", Outcome::Success),
        ("user.reset_password", Outcome::Error),
        ("record.create", Outcome::Success),
        ("record.read", Outcome::Success),
        ("record.update", Outcome::Invalid),
        ("record.delete", Outcome::Denied),
        ("record.search", Outcome::Success),
        ("collection.create", Outcome::Success),
        ("audit.export", Outcome::Success),
        ("keys.rewrap", Outcome::Success),
        ("http.unmatched", Outcome::Invalid),
    ];
    actions
        .iter()
        .enumerate()
        .map(|(i, (action, outcome))| {
            let actor = match i % 3 {
                0 => Actor::token(format!("tok-{i}")),
                1 => Actor::anonymous(),
                _ => Actor::system(),
            };
            let mut e = AuditEvent::new(
                datetime!(2026-03-04 05:06:07.890 UTC),
                format!("req-{i}"),
                actor,
                "api_token",
                *action,
                *outcome,
            );
            e.source = match i % 4 {
                0 => Some("10.1.2.3".into()),
                1 => Some("[::1]:8443".into()),
                2 => Some("local".into()),
                _ => None,
            };
            if *outcome != Outcome::Success {
                e.reason = Some("validation_failed".into());
            }
            if action.starts_with("record.") {
                e.collection = Some("patients".into());
                e.record_id = Some(format!("0193b1c2-1111-7000-8000-{i:012x}"));
                e.subject = Some("subj-1".into());
                e.fields = vec!["diagnosis".into()];
                e.purpose = Some("TREAT".into());
                e.version = Some(2);
            }
            if action.starts_with("collection.") {
                e.collection = Some("patients".into());
            }
            if action.starts_with("token.") || action.starts_with("user.") {
                e.target = Some(format!("id-{i}"));
            }
            e.count = (i % 2 == 0).then_some(i as u64);
            e
        })
        .collect()
}

#[test]
fn actions_map_to_ocsf_classes() {
    assert_eq!(classify("auth.authenticate"), (3002, 3, 1));
    assert_eq!(classify("auth.logout"), (3002, 3, 2));
    assert_eq!(classify("token.create"), (3001, 3, 1));
    assert_eq!(classify("user.disable"), (3001, 3, 5));
    assert_eq!(classify("record.read"), (6003, 6, 2));
    assert_eq!(classify("record.create"), (6003, 6, 1));
    assert_eq!(classify("record.update"), (6003, 6, 3));
    assert_eq!(classify("record.delete"), (6003, 6, 4));
    assert_eq!(classify("http.unmatched"), (6003, 6, 99));
    let v = encode(42, &events()[9]);
    assert_eq!(v["type_uid"], 600302);
    assert_eq!(v["metadata"]["uid"], "audit-42");
    assert_eq!(v["metadata"]["sequence"], 42);
    assert_eq!(v["time"], 1_772_600_767_890i64);
}

#[test]
fn encoded_events_validate_against_the_ocsf_schema() {
    let lines: String = events()
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}\n", encode(i as u64 + 1, e)))
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ocsf/validate.py");
    let child = Command::new("python3")
        .arg(script)
        .arg("1.3.0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            skip_or_fail(Requirement::Ocsf, &format!("python3 not runnable ({e})"));
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        skip_or_fail(
            Requirement::Ocsf,
            &format!("{}; pip install ocsf-json-schema jsonschema", stderr.trim()),
        );
        return;
    }
    assert!(
        out.status.success(),
        "OCSF validation failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
