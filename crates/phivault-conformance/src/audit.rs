//! The audit log: appends and reads, Merkle nodes and signed tree heads, retention pruning.

use crate::support::*;

/// The audit log: empty head, appends, head, ordered ranges, duplicate sequence refused.
pub async fn audit_append_and_read(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.audit_head()).await, None);
    assert!(read(store, |tx| tx.audit_entries(0, 10)).await.is_empty());

    let chain = audit_chain(6);
    // One append per transaction, then three in one transaction.
    for e in &chain[..3] {
        let e = e.clone();
        write_ok(store, "append audit", move |tx| tx.append_audit(&e)).await;
    }
    let rest = chain[3..].to_vec();
    write_ok(store, "append audit batch", move |tx| {
        rest.iter().try_for_each(|e| tx.append_audit(e))
    })
    .await;

    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
    assert_eq!(read(store, |tx| tx.audit_entries(0, 100)).await, chain);
    assert_eq!(read(store, |tx| tx.audit_entries(2, 2)).await, chain[2..4]);
    assert_eq!(read(store, |tx| tx.audit_entries(4, 100)).await, chain[4..]);
    assert!(read(store, |tx| tx.audit_entries(6, 100)).await.is_empty());
    assert!(read(store, |tx| tx.audit_entries(0, 0)).await.is_empty());

    let forged = audit_entry(3, [7; 32]);
    assert_duplicate(
        write(store, move |tx| tx.append_audit(&forged)).await,
        "append_audit with a used sequence number",
    );
    assert_eq!(read(store, |tx| tx.audit_entries(2, 1)).await, chain[2..3]);
    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
}

/// The audit Merkle nodes and signed tree heads: point and range reads, duplicates
/// refused, heads ordered by size, and a failed closure leaving no node behind.
pub async fn audit_merkle_nodes_and_tree_heads(store: &dyn Store) {
    use phivault_core::audit::SignedTreeHead;
    assert_eq!(read(store, |tx| tx.audit_node(0, 0)).await, None);
    assert_eq!(read(store, |tx| tx.latest_tree_head()).await, None);
    assert!(read(store, |tx| tx.tree_heads(0, 10)).await.is_empty());

    let nodes: Vec<(u32, u64, Hash)> = vec![
        (0, 0, [1; 32]),
        (0, 1, [2; 32]),
        (1, 0, [3; 32]),
        (0, 2, [4; 32]),
        (0, u64::from(u32::MAX) + 5, [5; 32]),
    ];
    let n = nodes.clone();
    write_ok(store, "put nodes", move |tx| tx.put_audit_nodes(&n)).await;
    assert_eq!(read(store, |tx| tx.audit_node(1, 0)).await, Some([3; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(0, 2)).await, Some([4; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(2, 0)).await, None);
    assert_eq!(
        read(store, |tx| tx.audit_node(0, u64::from(u32::MAX) + 5)).await,
        Some([5; 32])
    );
    assert_eq!(
        read(store, |tx| tx.audit_nodes(0, 1, 2)).await,
        vec![(1, [2; 32]), (2, [4; 32])]
    );
    assert_eq!(
        read(store, |tx| tx.audit_nodes(0, 0, 100)).await.len(),
        4,
        "level 0 only"
    );
    assert!(read(store, |tx| tx.audit_nodes(1, 1, 100)).await.is_empty());
    assert_duplicate(
        write(store, |tx| tx.put_audit_nodes(&[(0, 1, [9; 32])])).await,
        "put_audit_nodes over an existing node",
    );
    assert_eq!(read(store, |tx| tx.audit_node(0, 1)).await, Some([2; 32]));
    // A failing closure takes its nodes with it.
    let r = write(store, |tx| {
        tx.put_audit_nodes(&[(0, 3, [6; 32])])?;
        Err(StoreError::Aborted)
    })
    .await;
    assert!(r.is_err());
    assert_eq!(read(store, |tx| tx.audit_node(0, 3)).await, None);

    let head = |size: u64, b: u8| SignedTreeHead {
        tree_size: size,
        timestamp_ms: 1_700_000_000_000 + size,
        root_hash: [b; 32],
        signature: [b; 64],
    };
    for h in [head(8, 1), head(2, 2), head(16, 3)] {
        write_ok(store, "insert head", move |tx| tx.insert_tree_head(&h)).await;
    }
    assert_eq!(
        read(store, |tx| tx.latest_tree_head()).await,
        Some(head(16, 3))
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(0, 10)).await,
        vec![head(2, 2), head(8, 1), head(16, 3)]
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(2, 1)).await,
        vec![head(8, 1)]
    );
    assert_duplicate(
        write(store, move |tx| tx.insert_tree_head(&head(8, 9))).await,
        "insert_tree_head with a used size",
    );
    assert_eq!(
        read(store, |tx| tx.tree_heads(7, 1)).await,
        vec![head(8, 1)]
    );
}

/// Retention: pruning through seq 3 deletes entries 1..=3 and leaves 0..=1, keeps leaf 2
/// (a possible sibling of the first kept leaf), every interior node and the rest.
pub async fn audit_prune_keeps_the_tail(store: &dyn Store) {
    let chain = audit_chain(6);
    let entries = chain.clone();
    write_ok(store, "append audit", move |tx| {
        entries.iter().try_for_each(|e| tx.append_audit(e))?;
        let mut nodes: Vec<(u32, u64, Hash)> = (0..6).map(|i| (0, i, [i as u8; 32])).collect();
        nodes.extend([
            (1, 0, [10; 32]),
            (1, 1, [11; 32]),
            (1, 2, [12; 32]),
            (2, 0, [20; 32]),
        ]);
        tx.put_audit_nodes(&nodes)
    })
    .await;
    let n = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let out = n.clone();
    write_ok(store, "prune", move |tx| {
        *out.lock().unwrap_or_else(|e| e.into_inner()) = tx.prune_audit(3)?;
        Ok(())
    })
    .await;
    assert_eq!(*n.lock().unwrap_or_else(|e| e.into_inner()), 3);
    assert_eq!(read(store, |tx| tx.audit_entries(0, 100)).await, chain[3..]);
    assert_eq!(
        read(store, |tx| tx.audit_head()).await,
        Some((6, chain[5].hash))
    );
    let leaves: Vec<u64> = read(store, |tx| tx.audit_nodes(0, 0, 100))
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(leaves, vec![2, 3, 4, 5]);
    assert_eq!(read(store, |tx| tx.audit_node(1, 0)).await, Some([10; 32]));
    assert_eq!(read(store, |tx| tx.audit_node(2, 0)).await, Some([20; 32]));
}
