//! Research use: de-identified exports (Safe Harbor, 45 CFR 164.514(b)(2)) with stable
//! pseudonyms (164.514(c)), k-anonymity reports, small-cell-suppressed aggregates, who may
//! use them (researchers with a recent login; not clinicians, admins or API tokens) and
//! that each use leaves an audit event without values.

use crate::common::{self, https_client};

use phivault_api::Collection;
use phivault_core::audit::Outcome;
use phivault_core::research::{RESEARCH_ID, Suppression};
use phivault_core::{CollectionName, Principal, RequestMeta, VaultError};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::{Synth, patient_schema};
use serde_json::{Map, Value, json};
use time::Duration;

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn name(c: &str) -> CollectionName {
    CollectionName::parse(c).unwrap()
}

async fn patients(tv: &TestVault) -> Vec<(String, Value)> {
    let c: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
    tv.admin_client().create_collection(&c).await.unwrap();
    let app = tv.client();
    let mut out = Vec::new();
    for (i, subject) in ["subj-a", "subj-b", "subj-c"].into_iter().enumerate() {
        let p = Synth::new(40 + i as u64).patient();
        app.create_record("patients", subject, p.clone())
            .await
            .unwrap();
        out.push((subject.to_owned(), p));
    }
    // A second record of subj-a: the same subject, the same pseudonym.
    let p = Synth::new(99).patient();
    app.create_record("patients", "subj-a", p.clone())
        .await
        .unwrap();
    out.push(("subj-a".to_owned(), p));
    out
}

fn pseudonym(tv: &TestVault, subject: &str) -> String {
    phivault_deid::pseudonym(tv.vault.keyring().pseudonym_key().expose_secret(), subject)
}

async fn post(
    tv: &TestVault,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let res = https_client(&tv.ca_pem)
        .post(format!("{}{path}", tv.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

fn direct_identifiers(p: &Value) -> Vec<String> {
    let mut v: Vec<String> = ["full_name", "ssn", "mrn", "phone", "birth_date"]
        .iter()
        .map(|f| p[*f].as_str().unwrap().to_owned())
        .collect();
    // The family name alone must not survive either.
    v.extend(
        p["full_name"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(str::to_owned),
    );
    v
}

#[tokio::test]
async fn exports_carry_no_direct_identifiers_and_stable_pseudonyms() {
    let tv = TestVault::start().await;
    let written = patients(&tv).await;
    let (researcher, session) = tv.logged_in("rita.research", &["researcher"]).await;

    let (rows, report) = tv
        .vault
        .research_export(&meta(), &researcher, &name("patients"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(report.rows, 4);
    let text = serde_json::to_string(&rows).unwrap();
    for (subject, p) in &written {
        assert!(!text.contains(subject.as_str()), "subject id leaked");
        for value in direct_identifiers(p) {
            assert!(!text.contains(&value), "identifier leaked: {value}");
        }
    }
    for row in &rows {
        for f in ["full_name", "ssn", "mrn", "phone"] {
            assert!(!row.contains_key(f), "{f} exported");
        }
        // Dates are cut to the year (or folded to "90 or older").
        let b = &row["birth_date"];
        assert!(b.is_i64() || b == "90 or older", "{b}");
        assert!(row.contains_key("diagnosis") && row.contains_key("weight_kg"));
    }

    // Pseudonyms: stable per subject, distinct between subjects, never the subject id.
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r[RESEARCH_ID].as_str().unwrap().to_owned())
        .collect();
    let expected: std::collections::BTreeSet<String> = ["subj-a", "subj-b", "subj-c"]
        .iter()
        .map(|s| pseudonym(&tv, s))
        .collect();
    let got: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(got, expected, "three subjects, three distinct pseudonyms");
    assert_eq!(
        ids.iter()
            .filter(|i| **i == pseudonym(&tv, "subj-a"))
            .count(),
        2,
        "both records of subj-a carry the same pseudonym"
    );
    let (again, _) = tv
        .vault
        .research_export(&meta(), &researcher, &name("patients"), &[])
        .await
        .unwrap();
    let again_ids: Vec<String> = again
        .iter()
        .map(|r| r[RESEARCH_ID].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, again_ids, "a second export repeats the pseudonyms");

    // Over HTTP with the fresh session: JSONL and CSV, the report in the header.
    let (status, headers, body) = post(
        &tv,
        &session,
        "/v1/research/patients/export",
        json!({"quasi_identifiers": ["birth_date"], "format": "jsonl"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 4);
    let k = headers
        .get(phivault_api::K_ANONYMITY_HEADER)
        .unwrap()
        .to_str()
        .unwrap();
    let report = phivault_api::KAnonymityReport::parse_header(k).unwrap();
    assert_eq!(report.rows, 4);
    for line in body.lines() {
        let row: Map<String, Value> = serde_json::from_str(line).unwrap();
        assert!(expected.contains(row[RESEARCH_ID].as_str().unwrap()));
    }
    let (status, headers, csv) = post(
        &tv,
        &session,
        "/v1/research/patients/export",
        json!({"format": "csv"}),
    )
    .await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.starts_with(RESEARCH_ID));
    assert_eq!(csv.lines().count(), 5, "a header and four rows");
    for (subject, p) in &written {
        assert!(!csv.contains(subject.as_str()) && !body.contains(subject.as_str()));
        for value in direct_identifiers(p) {
            assert!(!csv.contains(&value) && !body.contains(&value), "{value}");
        }
    }
}

/// A small crafted cohort: sex (not sensitive), ZIP (geographic), birth date, a score.
async fn cohort(tv: &TestVault, rows: &[(&str, &str, &str, i64)]) {
    let c: Collection = serde_json::from_value(json!({
        "name": "cohort",
        "fields": [
            {"name": "sex", "type": "string", "sensitivity": {"class": "none"}},
            {"name": "zip", "type": "string", "sensitivity": {"class": "phi", "identifier": "geographic"}},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "score", "type": "integer", "sensitivity": {"class": "health"}},
            {"name": "label", "type": "string", "sensitivity": {"class": "none"}}
        ]
    }))
    .unwrap();
    tv.admin_client().create_collection(&c).await.unwrap();
    let app = tv.client();
    for (i, (sex, zip, birth, score)) in rows.iter().enumerate() {
        app.create_record(
            "cohort",
            &format!("c-{i:03}"),
            json!({"sex": sex, "zip": zip, "birth_date": birth, "score": score, "label": "x"}),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_k_anonymity_report_counts_equivalence_classes() {
    let tv = TestVault::start().await;
    cohort(
        &tv,
        &[
            ("F", "12345", "1980-01-02", 1),
            ("F", "12301", "1980-05-06", 2),
            ("F", "12399", "1980-12-31", 3),
            ("M", "12345", "1980-03-04", 4),
            ("M", "12302", "1981-03-04", 5),
        ],
    )
    .await;
    let (r, _) = tv.logged_in("rita.research", &["researcher"]).await;
    let export = |q: &[&str]| {
        let q: Vec<String> = q.iter().map(|s| (*s).to_owned()).collect();
        let vault = tv.vault.clone();
        let r = r.clone();
        async move {
            vault
                .research_export(&meta(), &r, &name("cohort"), &q)
                .await
                .unwrap()
        }
    };
    // ZIP3 "123" for everyone: one class of five.
    let (rows, k) = export(&["zip"]).await;
    assert!(rows.iter().all(|r| r["zip"] == "123"));
    assert_eq!((k.rows, k.classes, k.k), (5, 1, 5));
    assert_eq!(
        (k.target_k, k.rows_below_target, k.classes_below_target),
        (11, 5, 1)
    );
    // By sex: F×3, M×2.
    let (_, k) = export(&["sex", "zip"]).await;
    assert_eq!((k.rows, k.classes, k.k), (5, 2, 2));
    // By sex and birth year: F/1980×3, M/1980×1, M/1981×1.
    let (rows, k) = export(&["sex", "birth_date"]).await;
    assert!(rows.iter().all(|r| r["birth_date"].is_i64()));
    assert_eq!((k.rows, k.classes, k.k), (5, 3, 1));
    // An unknown quasi-identifier is refused.
    let e = tv
        .vault
        .research_export(&meta(), &r, &name("cohort"), &["nope".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::BadRequest(_)), "{e:?}");
}

#[tokio::test]
async fn aggregates_hide_small_cells_so_totals_cannot_recover_them() {
    let tv = TestVault::start().await;
    let mut rows = Vec::new();
    rows.extend(std::iter::repeat_n(("A", "12345", "1970-01-01", 2), 20));
    rows.extend(std::iter::repeat_n(("B", "12345", "1970-01-01", 3), 15));
    rows.extend(std::iter::repeat_n(("C", "12345", "1970-01-01", 5), 3));
    cohort(&tv, &rows).await;
    let (r, session) = tv.logged_in("rita.research", &["researcher"]).await;
    let cells = tv
        .vault
        .research_aggregate(
            &meta(),
            &r,
            &name("cohort"),
            &["sex".to_owned()],
            Some("score".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(cells.len(), 3);
    let cell = |k: &str| cells.iter().find(|c| c.key == vec![json!(k)]).unwrap();
    assert_eq!(cell("A").count, Some(20));
    assert_eq!(cell("A").sum, Some(40.0));
    assert_eq!(cell("C").count, None);
    assert_eq!(cell("C").sum, None);
    assert_eq!(cell("C").suppressed, Some(Suppression::Primary));
    assert_eq!(cell("B").suppressed, Some(Suppression::Complementary));
    // Whatever total is known (38 rows, from an export's report), total minus the shown
    // cells is the sum of at least two hidden cells and at least 11: no hidden cell
    // follows from it.
    let total = 38u64;
    let shown: u64 = cells.iter().filter_map(|c| c.count).sum();
    let hidden = cells.iter().filter(|c| c.suppressed.is_some()).count();
    assert!(hidden >= 2 && total - shown >= 11);
    for c in &cells {
        if let Some(n) = c.count {
            assert!(n >= 11, "a shown cell under 11");
        }
    }

    // Over HTTP.
    let (status, _, body) = post(
        &tv,
        &session,
        "/v1/research/cohort/aggregate",
        json!({"group_by": ["sex"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["min_cell"], 11);
    let c = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == json!(["C"]))
        .unwrap();
    assert_eq!(c["count"], Value::Null);
    assert_eq!(c["suppressed"], "primary");

    // Summing a non-numeric field is refused.
    let e = tv
        .vault
        .research_aggregate(
            &meta(),
            &r,
            &name("cohort"),
            &["sex".to_owned()],
            Some("label".to_owned()),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::BadRequest(_)), "{e:?}");
}

fn forbidden<T>(r: Result<T, VaultError>) -> String {
    match r {
        Err(VaultError::Forbidden { rule }) => rule,
        Err(e) => panic!("expected forbidden, got {e:?}"),
        Ok(_) => panic!("expected forbidden, got a result"),
    }
}

#[tokio::test]
async fn only_researchers_with_a_recent_login_may_export() {
    let tv = TestVault::start().await;
    patients(&tv).await;
    let coll = name("patients");

    // The admin (local operator) and a clinician hold no research scope.
    let rule = forbidden(
        tv.vault
            .research_export(&meta(), &Principal::local_operator(), &coll, &[])
            .await,
    );
    assert_eq!(rule, "deny:missing_scope:research:read");
    let (clinician, _) = tv.logged_in("cal.clinician", &["clinician"]).await;
    let rule = forbidden(
        tv.vault
            .research_aggregate(&meta(), &clinician, &coll, &["age".to_owned()], None)
            .await,
    );
    assert_eq!(rule, "deny:missing_scope:research:read");

    // Over HTTP: the admin token and a researcher's API token (no step-up) are refused.
    let (status, _, _) = post(
        &tv,
        &tv.admin_token,
        "/v1/research/patients/export",
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let token = tv.token(&["researcher"], Duration::days(1)).await;
    let (status, _, body) = post(&tv, &token, "/v1/research/patients/export", json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = post(
        &tv,
        &token,
        "/v1/research/patients/aggregate",
        json!({"group_by": ["smoker"]}),
    )
    .await;
    assert_eq!(status, 403);

    // A researcher whose login is older than the step-up window is refused too.
    let (researcher, _) = tv.logged_in("rita.research", &["researcher"]).await;
    tv.clock.advance(Duration::minutes(6));
    let rule = forbidden(
        tv.vault
            .research_export(&meta(), &researcher, &coll, &[])
            .await,
    );
    assert_eq!(rule, "deny:step_up_required");

    let entries = tv.audit_entries().await;
    let denied: Vec<_> = entries
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action.starts_with("research.") && e.outcome != Outcome::Success)
        .collect();
    assert!(denied.len() >= 6, "{}", denied.len());
    assert!(
        denied
            .iter()
            .any(|e| e.reason.as_deref() == Some("deny:step_up_required"))
    );
}

#[tokio::test]
async fn every_export_and_aggregate_is_audited_without_values() {
    let tv = TestVault::start().await;
    let written = patients(&tv).await;
    let (r, _) = tv.logged_in("rita.research", &["researcher"]).await;
    tv.vault
        .research_export(&meta(), &r, &name("patients"), &["age".to_owned()])
        .await
        .unwrap();
    tv.vault
        .research_aggregate(
            &meta(),
            &r,
            &name("patients"),
            &["smoker".to_owned()],
            Some("weight_kg".to_owned()),
        )
        .await
        .unwrap();
    let events: Vec<_> = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action.starts_with("research."))
        .collect();
    assert_eq!(events.len(), 2);
    let export = &events[0];
    assert_eq!(export.action, "research.export");
    assert_eq!(export.outcome, Outcome::Success);
    assert_eq!(export.collection.as_deref(), Some("patients"));
    assert_eq!(export.count, Some(4));
    assert!(export.fields.contains(&RESEARCH_ID.to_owned()));
    assert!(!export.fields.contains(&"ssn".to_owned()));
    assert_eq!(export.subject, None);
    let agg = &events[1];
    assert_eq!(agg.action, "research.aggregate");
    assert_eq!(
        agg.fields,
        vec!["smoker".to_owned(), "weight_kg".to_owned()]
    );
    assert!(agg.count.is_some());
    for ev in &events {
        let text = serde_json::to_string(ev).unwrap();
        for (subject, p) in &written {
            assert!(!text.contains(subject.as_str()));
            for value in direct_identifiers(p) {
                assert!(!text.contains(&value), "{value} in the audit log");
            }
        }
    }
}

// ----- the command line -------------------------------------------------------------------

#[tokio::test]
async fn deid_export_on_the_command_line_writes_a_de_identified_file_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault");
    let o = common::run(&dir, &["init", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut written = Vec::new();
    {
        let vault = common::open_dir(&dir);
        let schema: phivault_core::CollectionSchema =
            serde_json::from_value(patient_schema("patients")).unwrap();
        vault
            .create_collection(&meta(), &Principal::local_operator(), schema)
            .await
            .unwrap();
        let mut writer = Principal::local_operator();
        writer.roles = vec![phivault_testkit::server::records_all_role()];
        writer.purpose = Some(phivault_core::PurposeOfUse::Treat);
        for (i, s) in ["cli-a", "cli-b"].into_iter().enumerate() {
            let p = Synth::new(7 + i as u64).patient();
            vault
                .create_record(
                    &meta(),
                    &writer,
                    &name("patients"),
                    &phivault_core::SubjectId::parse(s).unwrap(),
                    p.clone(),
                )
                .await
                .unwrap();
            written.push((s.to_owned(), p));
        }
    }

    let out = tmp.path().join("export.csv");
    let o = common::run(
        &dir,
        &[
            "deid",
            "export",
            "--collection",
            "patients",
            "--quasi",
            "smoker",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("exported 2 rows") && stderr.contains("k="),
        "{stderr}"
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with(RESEARCH_ID), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    for (subject, p) in &written {
        assert!(!csv.contains(subject.as_str()));
        for value in direct_identifiers(p) {
            assert!(!csv.contains(&value), "{value}");
        }
    }

    // JSONL to stdout, with --json the summary on stderr.
    let o = common::run(
        &dir,
        &["--json", "deid", "export", "--collection", "patients"],
    );
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    let summary: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(summary["rows"], 2);

    // A missing collection fails cleanly.
    let o = common::run(&dir, &["deid", "export", "--collection", "nope"]);
    assert!(!o.status.success());

    let vault = common::open_dir(&dir);
    let ok: Vec<_> =
        phivault_core::store::read_tx(&**vault.store(), |tx| Ok(tx.audit_entries(0, 10_000)?))
            .await
            .unwrap()
            .iter()
            .map(|e| e.event().unwrap())
            .filter(|e| e.action == "research.export")
            .collect();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[0].auth_method, "local_cli");
    assert_eq!(ok[0].count, Some(2));
    assert_ne!(ok[2].outcome, Outcome::Success);
}
