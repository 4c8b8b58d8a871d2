//! Privacy: privacy items, the retention scan and disposal, the shred ledger.

use phivault_core::privacy_store::PrivacyItemRow;

use crate::support::*;

fn privacy_item(id: &str, kind: &str, subject: &str, secs: i64) -> PrivacyItemRow {
    PrivacyItemRow {
        id: id.to_owned(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        status: "open".to_owned(),
        created_at: at(secs),
        due_at: Some(at(secs + 30)),
        updated_at: at(secs),
        meta_json: "{}".to_owned(),
        sealed: vec![u8::try_from(secs).unwrap(); 48],
    }
}

/// Privacy items: insert, replace by id, get, and list by kind (all subjects or one),
/// oldest first.
pub async fn privacy_items_upsert_get_list(store: &dyn Store) {
    write_ok(store, "items", |tx| {
        tx.put_privacy_item(&privacy_item("i-3", "amendment", "s-a", 3))?;
        tx.put_privacy_item(&privacy_item("i-1", "access_request", "s-a", 1))?;
        tx.put_privacy_item(&privacy_item("i-2", "access_request", "s-b", 2))?;
        let mut no_due = privacy_item("i-4", "restriction", "s-a", 4);
        no_due.due_at = None;
        tx.put_privacy_item(&no_due)?;
        Ok(())
    })
    .await;
    let mut changed = privacy_item("i-1", "access_request", "s-a", 1);
    changed.status = "completed".to_owned();
    changed.due_at = Some(at(90));
    changed.updated_at = at(50);
    changed.meta_json = r#"{"closed_at":"x"}"#.to_owned();
    changed.sealed = vec![9; 20];
    let c = changed.clone();
    write_ok(store, "replace", move |tx| tx.put_privacy_item(&c)).await;
    assert_eq!(
        read(store, |tx| tx.get_privacy_item("i-1")).await,
        Some(changed)
    );
    assert_eq!(read(store, |tx| tx.get_privacy_item("nope")).await, None);
    let ids = |rows: Vec<PrivacyItemRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = read(store, |tx| tx.list_privacy_items("access_request", None)).await;
    assert_eq!(ids(all), ["i-1", "i-2"]);
    let one = read(store, |tx| {
        tx.list_privacy_items("access_request", Some("s-b"))
    })
    .await;
    assert_eq!(ids(one), ["i-2"]);
    let r = read(store, |tx| {
        tx.list_privacy_items("restriction", Some("s-a"))
    })
    .await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].due_at, None);
    assert!(
        read(store, |tx| tx
            .list_privacy_items("restriction", Some("s-b")))
        .await
        .is_empty()
    );
}

/// A subject's heads including deleted ones, the retention scan by last change, disposal
/// of a record with its versions and index entries, and the shred-ledger lookup.
pub async fn subject_heads_retention_scan_and_disposal(store: &dyn Store) {
    write_ok(store, "seed", |tx| {
        tx.insert_collection(&collection("notes", 0))?;
        tx.insert_collection(&collection("labs", 0))?;
        for (c, n, subject, version, deleted) in [
            ("notes", 1, "s-a", 1, false),
            ("notes", 2, "s-a", 5, true),
            ("labs", 3, "s-a", 2, false),
            ("notes", 4, "s-b", 3, false),
        ] {
            let h = head(c, rid(n), subject, version, deleted);
            tx.insert_record_head(&h)?;
            tx.insert_record_version(&version_row(&h, version, vec![1; 8]))?;
            tx.replace_index_entries(
                c,
                &rid(n),
                &[IndexEntry {
                    field: "f".to_owned(),
                    tag: tag(1),
                }],
            )?;
        }
        tx.record_shred("s-z", at(1))?;
        Ok(())
    })
    .await;
    let heads = read(store, |tx| tx.subject_record_heads("s-a", None, 10)).await;
    let keys: Vec<(String, RecordId)> =
        heads.iter().map(|h| (h.collection.clone(), h.id)).collect();
    assert_eq!(
        keys,
        [
            ("labs".to_owned(), rid(3)),
            ("notes".to_owned(), rid(1)),
            ("notes".to_owned(), rid(2))
        ]
    );
    let page = read(store, |tx| {
        tx.subject_record_heads("s-a", Some(("labs", &rid(3))), 1)
    })
    .await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, rid(1));
    // updated_at is at(version): before at(4) are versions 1 and 3 of "notes".
    let old = read(store, |tx| {
        tx.records_updated_before("notes", at(4), None, 10)
    })
    .await;
    assert_eq!(
        old.iter().map(|h| h.id).collect::<Vec<_>>(),
        [rid(1), rid(4)]
    );
    let after = read(store, |tx| {
        tx.records_updated_before("notes", at(4), Some(&rid(1)), 10)
    })
    .await;
    assert_eq!(after.iter().map(|h| h.id).collect::<Vec<_>>(), [rid(4)]);
    let disposed = write_value(store, "dispose", |tx| {
        Ok((
            tx.dispose_record("notes", &rid(1))?,
            tx.dispose_record("notes", &rid(1))?,
        ))
    })
    .await;
    assert_eq!(disposed, (true, false));
    assert_eq!(
        read(store, |tx| tx.get_record_head("notes", &rid(1))).await,
        None
    );
    assert!(
        read(store, |tx| tx.list_record_versions("notes", &rid(1)))
            .await
            .is_empty()
    );
    assert!(
        read(store, |tx| tx.find_by_index("notes", "f", &tag(1), 10))
            .await
            .iter()
            .all(|id| *id != rid(1))
    );
    assert!(read(store, |tx| tx.is_shredded("s-z")).await);
    assert!(!read(store, |tx| tx.is_shredded("s-a")).await);
}

/// The shred ledger keeps one entry per subject with its first erasure time, and deleting
/// a subject's data key works once (a restore replays both; see `phivault_core::backup`).
pub async fn shred_ledger_and_subject_key_deletion(store: &dyn Store) {
    write_ok(store, "seed keys", |tx| {
        for s in ["s-a", "s-b"] {
            tx.insert_subject_key(&SubjectKeyRow {
                subject: s.to_owned(),
                wrapped_key: vec![7; 40],
                kek_version: 1,
                created_at: at(0),
            })?;
        }
        Ok(())
    })
    .await;
    assert!(read(store, |tx| tx.list_shred_ledger()).await.is_empty());
    let deleted = write_value(store, "shred", |tx| {
        tx.record_shred("s-a", at(20))?;
        tx.record_shred("s-a", at(30))?;
        tx.record_shred("s-a", at(10))?;
        tx.record_shred("s-z", at(5))?;
        Ok((
            tx.delete_subject_key("s-a")?,
            tx.delete_subject_key("s-a")?,
            tx.delete_subject_key("s-z")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    let ledger: Vec<(String, OffsetDateTime)> = read(store, |tx| tx.list_shred_ledger())
        .await
        .into_iter()
        .map(|e| (e.subject, e.shredded_at))
        .collect();
    assert_eq!(
        ledger,
        vec![("s-a".to_owned(), at(10)), ("s-z".to_owned(), at(5))]
    );
    assert_eq!(read(store, |tx| tx.get_subject_key("s-a")).await, None);
    assert!(read(store, |tx| tx.get_subject_key("s-b")).await.is_some());
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 1);
}
