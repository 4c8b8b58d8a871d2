//! `phivault keys rotate`: every data key rewrapped, offline and beside a running server
//! that reloads the keyring.

use super::*;

/// Reads every record back and compares it with what was written.
async fn read_all(c: &Client, records: &[Record]) -> Result<(), String> {
    for r in records {
        match c.get_record(&r.collection, r.id).await {
            Ok(got) if got == *r => {}
            Ok(got) => return Err(format!("record {} changed: {got:?}", r.id)),
            Err(e) => return Err(format!("record {}: {e}", r.id)),
        }
    }
    Ok(())
}

fn kek_versions(dir: &Path) -> Vec<u32> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("phivault.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT kek_version FROM subject_keys ORDER BY subject")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn keys_rotate_rewraps_every_data_key_offline_and_beside_a_running_server() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);

    let server = Server::serve(&dir, &logs, "serve1").await;
    server
        .client(&admin)
        .create_collection(&notes_schema("notes"))
        .await
        .unwrap();
    let c = server.records(&app);
    let mut records = Vec::new();
    for (i, subject) in ["subj-a", "subj-b", "subj-c", "subj-a"].iter().enumerate() {
        let data = json!({
            "full_name": format!("Person {i}"),
            "birth_date": format!("1970-01-{:02}", i + 1),
            "note": format!("note {i}"),
        });
        records.push(c.create_record("notes", subject, data).await.unwrap());
    }
    read_all(&c, &records).await.unwrap();
    assert!(server.terminate().await.success());
    assert_eq!(kek_versions(&dir), [1, 1, 1]);

    // Offline rotation: one re-wrap per subject, then everything reads back unchanged.
    let report = json_out(&run(&dir, &["keys", "rotate", "--json"]));
    assert_eq!(report, json!({"kek_version": 2, "rewrapped": 3}));
    assert_eq!(kek_versions(&dir), [2, 2, 2]);
    assert_eq!(mode(&dir.join("keyring.json")), 0o600);

    let server = Server::serve(&dir, &logs, "serve2").await;
    let c = server.records(&app);
    read_all(&c, &records).await.unwrap();
    // A subject created now gets a data key under the new version.
    records.push(
        c.create_record("notes", "subj-d", json!({"full_name": "Person 4"}))
            .await
            .unwrap(),
    );
    assert_eq!(kek_versions(&dir), [2, 2, 2, 2]);

    // Rotation beside the running server: the CLI re-wraps every data key under version 3,
    // and the server picks up the new keyring file by itself.
    let report = json_out(&run(&dir, &["keys", "rotate", "--json"]));
    assert_eq!(report, json!({"kek_version": 3, "rewrapped": 4}));
    assert_eq!(kek_versions(&dir), [3, 3, 3, 3]);
    let mut last = Err("not tried".to_owned());
    for _ in 0..50 {
        last = read_all(&c, &records).await;
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    last.unwrap();
    // And new subjects after the reload are wrapped under version 3.
    records.push(
        c.create_record("notes", "subj-e", json!({"full_name": "Person 5"}))
            .await
            .unwrap(),
    );
    assert_eq!(kek_versions(&dir), [3, 3, 3, 3, 3]);
    read_all(&c, &records).await.unwrap();
    assert!(
        server.output().contains("keyring reloaded"),
        "{}",
        server.output()
    );
    assert!(server.terminate().await.success());
    assert_success(&run(&dir, &["audit", "verify"]));
}
