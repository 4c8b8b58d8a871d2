//! Transactions: rollback of a failed closure alone, concurrency of writers, and what a
//! read sees (committed writes, one snapshot).

use std::sync::mpsc;
use std::time::Duration as StdDuration;

use crate::support::*;

/// A closure that writes and then fails leaves no trace, while closures submitted with
/// it (and so possibly in the same batch) commit and see their own outcome.
pub async fn failed_closure_is_rolled_back_alone(store: &dyn Store) {
    let futures: Vec<LocalFuture<'_, Result<(), StoreError>>> = vec![
        Box::pin(write(store, |tx| tx.set_meta("first", "1"))),
        Box::pin(write(store, |tx| {
            tx.set_meta("failed", "1")?;
            tx.insert_collection(&collection("failed_coll", 0))?;
            tx.set_meta("first", "overwritten by a failed closure")?;
            Err(StoreError::Aborted)
        })),
        Box::pin(write(store, |tx| tx.set_meta("last", "1"))),
    ];
    let outcomes = join_all(futures).await;
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(StoreError::Aborted)),
        "a closure's own error is returned as is: {:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);

    let state = read(store, |tx| {
        Ok((
            tx.get_meta("first")?,
            tx.get_meta("failed")?,
            tx.get_meta("last")?,
            tx.get_collection("failed_coll")?,
        ))
    })
    .await;
    assert_eq!(state.0.as_deref(), Some("1"));
    assert_eq!(
        state.1, None,
        "the failed closure's write must be rolled back"
    );
    assert_eq!(state.2.as_deref(), Some("1"));
    assert_eq!(
        state.3, None,
        "the failed closure's write must be rolled back"
    );
}

/// A store error inside a closure (here a duplicate) fails that closure and undoes its
/// earlier writes; the store stays usable.
pub async fn store_error_inside_closure_rolls_it_back(store: &dyn Store) {
    seed_collections(store, &["taken"]).await;
    let outcome = write(store, |tx| {
        tx.set_meta("before_duplicate", "1")?;
        tx.insert_collection(&collection("taken", 1))
    })
    .await;
    assert_duplicate(outcome, "closure hitting a duplicate");
    assert_eq!(
        read(store, |tx| tx.get_meta("before_duplicate")).await,
        None
    );
    write_ok(store, "write after a failed closure", |tx| {
        tx.set_meta("after", "1")
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_meta("after")).await.as_deref(),
        Some("1")
    );
}

/// 50 concurrent `write_tx` calls, every other one failing with a domain error after
/// writing: exactly the successful ones are visible, and each caller gets its own result.
pub async fn concurrent_mixed_outcomes_commit_exactly_the_successes(store: &dyn Store) {
    const N: usize = 50;
    let futures: Vec<LocalFuture<'_, Result<usize, VaultError>>> = (0..N)
        .map(|i| -> LocalFuture<'_, Result<usize, VaultError>> {
            Box::pin(write_tx(store, move |tx| {
                tx.set_meta(&format!("k{i:02}"), &i.to_string())?;
                tx.insert_subject_key(&subject_key(&format!("subj-{i:02}"), 1))?;
                if i % 2 == 1 {
                    return Err(VaultError::Conflict("conformance_abort"));
                }
                Ok(i)
            }))
        })
        .collect();
    let outcomes = join_all(futures).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i % 2 == 0 {
            assert!(
                matches!(outcome, Ok(v) if *v == i),
                "write {i}: {outcome:?}"
            );
        } else {
            assert!(
                matches!(outcome, Err(VaultError::Conflict("conformance_abort"))),
                "write {i}: {outcome:?}"
            );
        }
    }

    let (count, metas) = read_tx(store, |tx| {
        let count = tx.count_subject_keys()?;
        let metas = (0..N)
            .map(|i| tx.get_meta(&format!("k{i:02}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((count, metas))
    })
    .await
    .unwrap();
    assert_eq!(count, (N / 2) as u64);
    for (i, meta) in metas.into_iter().enumerate() {
        let expected = (i % 2 == 0).then(|| i.to_string());
        assert_eq!(meta, expected, "meta k{i:02}");
    }
}

/// 200 concurrent writers each appending one row: all succeed and all rows are there.
pub async fn concurrent_writers_all_commit(store: &dyn Store) {
    const N: usize = 200;
    let futures: Vec<LocalFuture<'_, Result<(), StoreError>>> = (0..N)
        .map(|i| -> LocalFuture<'_, Result<(), StoreError>> {
            Box::pin(write(store, move |tx| {
                tx.insert_subject_key(&subject_key(&format!("subj-{i:03}"), 2))
            }))
        })
        .collect();
    for (i, outcome) in join_all(futures).await.into_iter().enumerate() {
        assert!(outcome.is_ok(), "writer {i}: {outcome:?}");
    }
    assert_eq!(read(store, |tx| tx.count_subject_keys()).await, N as u64);
    let all = read(store, |tx| tx.list_subject_keys(None, 1_000)).await;
    let subjects: Vec<String> = all.into_iter().map(|r| r.subject).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("subj-{i:03}")).collect();
    assert_eq!(subjects, expected);
}

/// Once a write has resolved, every later read sees it.
pub async fn read_sees_committed_writes(store: &dyn Store) {
    for i in 0..20u32 {
        write_ok(store, "sequential write", move |tx| {
            tx.set_meta("counter", &i.to_string())
        })
        .await;
        assert_eq!(
            read(store, |tx| tx.get_meta("counter")).await,
            Some(i.to_string())
        );
    }
    let value = read_tx(store, |tx| Ok(tx.get_meta("counter")?))
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("19"));
}

/// A read transaction sees one snapshot: a write that commits while the read is open
/// stays invisible to it. A backend that instead makes the write wait for the read also
/// keeps this promise; then the check only confirms that the read finishes.
pub async fn read_sees_one_snapshot(store: &dyn Store) {
    write_ok(store, "seed", |tx| tx.set_meta("snap", "before")).await;
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<()>();
    let (written_tx, written_rx) = mpsc::channel::<()>();

    let reader: LocalFuture<'_, (Option<String>, Option<String>, bool)> =
        Box::pin(read(store, move |tx| {
            let first = tx.get_meta("snap")?;
            let _ = opened_tx.send(());
            // The closure runs on a blocking thread in most backends; a bounded wait keeps
            // a backend that runs it inline (and so blocks the writer) from hanging.
            let concurrent = written_rx.recv_timeout(StdDuration::from_secs(3)).is_ok();
            let second = tx.get_meta("snap")?;
            Ok((first, second, concurrent))
        }));
    let writer: LocalFuture<'_, (Option<String>, Option<String>, bool)> = Box::pin(async move {
        if opened_rx.await.is_ok() {
            write_ok(store, "concurrent write", |tx| tx.set_meta("snap", "after")).await;
            let _ = written_tx.send(());
        }
        (None, None, false)
    });
    let results = join_all(vec![reader, writer]).await;
    let (first, second, concurrent) = results[0].clone();
    assert_eq!(first.as_deref(), Some("before"));
    if concurrent {
        assert_eq!(
            second.as_deref(),
            Some("before"),
            "a write committed during a read must not be visible to it"
        );
    }
    assert_eq!(
        read(store, |tx| tx.get_meta("snap")).await.as_deref(),
        Some("after")
    );
}
