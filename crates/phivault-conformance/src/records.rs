//! Records: meta values, collections, subject keys, record heads and versions, the blind
//! index, and a subject's live records.

use std::sync::{Arc, Mutex};

use crate::support::*;

/// Meta values: absent, set, overwritten, independent per key.
pub async fn meta_set_get(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_meta("vault_id")).await, None);
    write_ok(store, "set meta", |tx| tx.set_meta("vault_id", "v-1")).await;
    assert_eq!(
        read(store, |tx| tx.get_meta("vault_id")).await.as_deref(),
        Some("v-1")
    );
    write_ok(store, "overwrite meta", |tx| tx.set_meta("vault_id", "v-2")).await;
    assert_eq!(
        read(store, |tx| tx.get_meta("vault_id")).await.as_deref(),
        Some("v-2")
    );
    assert_eq!(read(store, |tx| tx.get_meta("other")).await, None);
}

/// Collections: insert, get, duplicate refused (original kept), listed by name.
pub async fn collections_insert_get_list(store: &dyn Store) {
    let (b, a) = (collection("beta", 1), collection("alpha", 2));
    let rows = [b.clone(), a.clone()];
    write_ok(store, "insert collections", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_collection(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_collection("alpha")).await,
        Some(a.clone())
    );
    assert_eq!(read(store, |tx| tx.get_collection("gamma")).await, None);

    let mut dup = collection("alpha", 9);
    dup.schema_json = r#"{"other":true}"#.into();
    assert_duplicate(
        write(store, move |tx| tx.insert_collection(&dup)).await,
        "insert_collection twice",
    );
    assert_eq!(
        read(store, |tx| tx.get_collection("alpha")).await,
        Some(a.clone()),
        "a refused duplicate must not change the stored collection"
    );
    assert_eq!(read(store, |tx| tx.list_collections()).await, vec![a, b]);
}

/// Subject keys: insert, duplicate refused, get, rotate, paginate by subject, count.
pub async fn subject_keys_insert_update_list_count(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 0);
    let (s1, s2, s3) = (
        subject_key("subj-1", 1),
        subject_key("subj-2", 2),
        subject_key("subj-3", 3),
    );
    let rows = [s2.clone(), s3.clone(), s1.clone()];
    write_ok(store, "insert subject keys", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_subject_key(r))
    })
    .await;
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 3);
    assert_eq!(
        read(store, |tx| tx.get_subject_key("subj-1")).await,
        Some(s1.clone())
    );
    assert_eq!(read(store, |tx| tx.get_subject_key("subj-9")).await, None);

    let dup = subject_key("subj-1", 7);
    assert_duplicate(
        write(store, move |tx| tx.insert_subject_key(&dup)).await,
        "insert_subject_key twice",
    );

    let updated = Arc::new(Mutex::new(Vec::new()));
    let seen = updated.clone();
    write_ok(store, "rotate subject keys", move |tx| {
        let known = tx.update_subject_key("subj-1", &[9; 72], 2)?;
        let unknown = tx.update_subject_key("subj-9", &[9; 72], 2)?;
        seen.lock().unwrap().extend([known, unknown]);
        Ok(())
    })
    .await;
    assert_eq!(*updated.lock().unwrap(), vec![true, false]);
    let rotated = read(store, |tx| tx.get_subject_key("subj-1"))
        .await
        .unwrap();
    assert_eq!(rotated.wrapped_key, vec![9; 72]);
    assert_eq!(rotated.kek_version, 2);
    assert_eq!(
        rotated.created_at, s1.created_at,
        "rotation keeps created_at"
    );
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, 3);

    let page1 = read(store, |tx| tx.list_subject_keys(None, 2)).await;
    assert_eq!(page1, vec![rotated.clone(), s2.clone()]);
    let page2 = read(store, |tx| tx.list_subject_keys(Some("subj-2"), 2)).await;
    assert_eq!(page2, vec![s3.clone()]);
    assert!(
        read(store, |tx| tx.list_subject_keys(Some("subj-3"), 2))
            .await
            .is_empty()
    );
    assert!(
        read(store, |tx| tx.list_subject_keys(None, 0))
            .await
            .is_empty()
    );
    // A cursor need not name an existing subject.
    assert_eq!(
        read(store, |tx| tx.list_subject_keys(Some("subj-10"), 10)).await,
        vec![s2, s3]
    );
}

/// Record heads and versions: insert, get, update, list oldest first, duplicates refused,
/// sealed bytes (any bytes, large, empty for a tombstone) kept exactly.
pub async fn record_heads_and_versions(store: &dyn Store) {
    seed_collections(store, &["notes", "other"]).await;
    let id = rid(0x0190_0000_0000_7000_8000_0000_0000_0001);
    let h1 = head("notes", id, "subj-1", 1, false);
    let sealed: Vec<u8> = (0..=255u8).cycle().take(300 * 1024).collect();
    let v1 = version_row(&h1, 1, sealed);
    let (hw, vw) = (h1.clone(), v1.clone());
    write_ok(store, "create record", move |tx| {
        tx.insert_record_head(&hw)?;
        tx.insert_record_version(&vw)
    })
    .await;

    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h1.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 1)).await,
        Some(v1.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 2)).await,
        None
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_head("other", &id)).await,
        None
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &rid(7))).await,
        None
    );

    let dup_head = h1.clone();
    assert_duplicate(
        write(store, move |tx| tx.insert_record_head(&dup_head)).await,
        "insert_record_head twice",
    );
    let mut dup_version = v1.clone();
    dup_version.sealed = vec![1, 2, 3];
    assert_duplicate(
        write(store, move |tx| tx.insert_record_version(&dup_version)).await,
        "insert_record_version twice",
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 1)).await,
        Some(v1.clone()),
        "a refused duplicate version must not change the stored one"
    );

    // Update to version 2, then delete with a tombstone as version 3.
    let h2 = head("notes", id, "subj-1", 2, false);
    let v2 = version_row(&h2, 2, vec![0, 0, 0, 1]);
    let h3 = head("notes", id, "subj-1", 3, true);
    let v3 = version_row(&h3, 3, Vec::new());
    let (hw, vw) = (h2.clone(), v2.clone());
    write_ok(store, "update record", move |tx| {
        tx.insert_record_version(&vw)?;
        tx.update_record_head(&hw)
    })
    .await;
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h2)
    );
    let (hw, vw) = (h3.clone(), v3.clone());
    write_ok(store, "delete record", move |tx| {
        tx.insert_record_version(&vw)?;
        tx.update_record_head(&hw)
    })
    .await;
    assert_eq!(
        read(store, move |tx| tx.get_record_head("notes", &id)).await,
        Some(h3)
    );
    assert_eq!(
        read(store, move |tx| tx.get_record_version("notes", &id, 3)).await,
        Some(v3.clone())
    );
    assert_eq!(
        read(store, move |tx| tx.list_record_versions("notes", &id)).await,
        vec![v1, v2, v3]
    );
    assert!(
        read(store, move |tx| tx.list_record_versions("other", &id))
            .await
            .is_empty()
    );
}

/// Blind-index entries: lookup by (collection, field, tag), live records only, by id,
/// limited; a replace drops the old tags; repeated entries in one replace are harmless.
pub async fn index_replace_and_find(store: &dyn Store) {
    seed_collections(store, &["patients", "visits"]).await;
    let (a, b, c, v) = (rid(1), rid(2), rid(3), rid(4));
    seed_records(
        store,
        vec![
            head("patients", a, "subj-1", 1, false),
            head("patients", b, "subj-2", 1, false),
            head("patients", c, "subj-3", 1, false),
            head("visits", v, "subj-1", 1, false),
        ],
    )
    .await;
    let entry = |field: &str, t: u8| IndexEntry {
        field: field.to_owned(),
        tag: tag(t),
    };
    let entries = vec![
        (("patients", b), vec![entry("mrn", 1)]),
        (
            ("patients", a),
            vec![entry("mrn", 1), entry("last_name", 2)],
        ),
        (("patients", c), vec![entry("mrn", 3)]),
        (("visits", v), vec![entry("mrn", 1)]),
    ];
    write_ok(store, "index records", move |tx| {
        for ((coll, id), es) in &entries {
            tx.replace_index_entries(coll, id, es)?;
        }
        Ok(())
    })
    .await;

    let find = |coll: &'static str, field: &'static str, t: u8, limit: usize| {
        read(store, move |tx| {
            tx.find_by_index(coll, field, &tag(t), limit)
        })
    };
    assert_eq!(find("patients", "mrn", 1, 10).await, vec![a, b]);
    assert_eq!(find("patients", "mrn", 1, 1).await, vec![a]);
    assert_eq!(find("patients", "last_name", 2, 10).await, vec![a]);
    assert!(
        find("patients", "last_name", 1, 10).await.is_empty(),
        "field matters"
    );
    assert_eq!(
        find("visits", "mrn", 1, 10).await,
        vec![v],
        "collection matters"
    );
    assert!(find("patients", "mrn", 9, 10).await.is_empty());

    // Replacing a's entries drops its old tags, including those of other fields.
    let new = vec![entry("mrn", 3), entry("mrn", 3)];
    write_ok(store, "reindex a", move |tx| {
        tx.replace_index_entries("patients", &a, &new)
    })
    .await;
    assert_eq!(find("patients", "mrn", 1, 10).await, vec![b]);
    assert!(find("patients", "last_name", 2, 10).await.is_empty());
    assert_eq!(find("patients", "mrn", 3, 10).await, vec![a, c]);

    // A deleted record is not found even though its entries remain.
    let deleted = head("patients", c, "subj-3", 2, true);
    write_ok(store, "delete c", move |tx| tx.update_record_head(&deleted)).await;
    assert_eq!(find("patients", "mrn", 3, 10).await, vec![a]);

    // An empty replace removes every entry.
    write_ok(store, "unindex a", move |tx| {
        tx.replace_index_entries("patients", &a, &[])
    })
    .await;
    assert!(find("patients", "mrn", 3, 10).await.is_empty());
}

/// A subject's live records in (collection, id) order, paginated by cursor.
pub async fn subject_records_live_and_paginated(store: &dyn Store) {
    seed_collections(store, &["a_coll", "b_coll"]).await;
    let heads = vec![
        head("a_coll", rid(3), "subj-1", 1, false),
        head("b_coll", rid(1), "subj-1", 1, false),
        head("a_coll", rid(1), "subj-1", 1, false),
        head("a_coll", rid(4), "subj-1", 1, true),
        head("a_coll", rid(2), "subj-1", 1, false),
        head("a_coll", rid(5), "subj-2", 1, false),
    ];
    seed_records(store, heads.clone()).await;
    let expected = vec![
        heads[2].clone(),
        heads[4].clone(),
        heads[0].clone(),
        heads[1].clone(),
    ];

    assert_eq!(
        read(store, |tx| tx.list_subject_records("subj-1", None, 100)).await,
        expected
    );
    let page1 = read(store, |tx| tx.list_subject_records("subj-1", None, 2)).await;
    assert_eq!(page1, expected[..2]);
    let page2 = read(store, |tx| {
        tx.list_subject_records("subj-1", Some(("a_coll", &rid(2))), 2)
    })
    .await;
    assert_eq!(page2, expected[2..]);
    assert!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("b_coll", &rid(1))), 2)
        })
        .await
        .is_empty()
    );
    // A cursor on a deleted record, or between collections, still continues in order.
    assert_eq!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("a_coll", &rid(4))), 10)
        })
        .await,
        expected[3..]
    );
    assert_eq!(
        read(store, |tx| {
            tx.list_subject_records("subj-1", Some(("a_zzz", &rid(0))), 10)
        })
        .await,
        expected[3..]
    );
    assert!(
        read(store, |tx| tx.list_subject_records("subj-9", None, 10))
            .await
            .is_empty()
    );
}
