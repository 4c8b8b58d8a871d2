//! `phivault audit verify`: a healthy log passes and a tampered entry is named.

use super::*;

#[tokio::test]
async fn audit_verify_passes_a_healthy_log_and_names_a_tampered_entry() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);
    // Reading the audit log takes the auditor role, which neither admin nor app holds.
    service_account(&dir, "audit", &["auditor"]);
    let auditor = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "audit", "--name", "r", "--role", "auditor", "--json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Server traffic, allowed and refused, lands in the same chain.
    let server = Server::serve(&dir, &logs, "serve").await;
    let c = server.client(&admin);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    let a = server.records(&app);
    let rec = a
        .create_record("notes", "s-1", json!({"full_name": "Quinn Moreau"}))
        .await
        .unwrap();
    a.get_record("notes", rec.id).await.unwrap();
    let bad = a.create_record("notes", "s-1", json!({"nope": 1})).await;
    assert_eq!(status_of(bad), 422);
    assert_eq!(
        status_of(server.client("pvt_nonsense").list_collections().await),
        401
    );
    assert!(server.client(&auditor).verify_audit().await.unwrap().ok);
    assert!(server.terminate().await.success());

    let o = run(&dir, &["audit", "verify"]);
    assert_success(&o);
    assert!(out(&o).contains("audit log OK"), "{}", out(&o));
    let report = json_out(&run(&dir, &["audit", "verify", "--json"]));
    assert_eq!(report["ok"], true);
    assert!(report["first_break"].is_null());
    let entries = report["entries"].as_u64().unwrap();
    assert!(entries >= 8, "{report}");
    let head = report["head_hash"].as_str().unwrap().to_owned();
    assert_eq!(head.len(), 64);

    // Tamper with one entry in the middle: rewrite the source address it records, as an
    // insider covering their tracks might.
    let target = i64::try_from(entries / 2).unwrap();
    {
        let db = rusqlite::Connection::open(dir.join("phivault.db")).unwrap();
        let event: String = db
            .query_row(
                "SELECT event_json FROM audit_log WHERE seq = ?1",
                [target],
                |r| r.get(0),
            )
            .unwrap();
        let mut v: Value = serde_json::from_str(&event).unwrap();
        v["source"] = json!("203.0.113.66");
        let forged = serde_json::to_string(&v).unwrap();
        assert_ne!(forged, event);
        let n = db
            .execute(
                "UPDATE audit_log SET event_json = ?1 WHERE seq = ?2",
                rusqlite::params![forged, target],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    let o = run(&dir, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains(&format!("BROKEN at entry {target}")),
        "{}",
        out(&o)
    );
    let o = run(&dir, &["audit", "verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_break"]["seq"], target);
    assert_eq!(report["entries"], target - 1);
}
