//! Access: custom roles, care relationships and break-glass episodes.

use crate::support::*;

/// Custom roles: upsert adds or replaces, listed by name, delete once.
pub async fn roles_upsert_list_delete(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_role("nurse")).await, None);
    assert!(read(store, |tx| tx.list_roles()).await.is_empty());
    let (nurse, billing) = (role("nurse", 1), role("billing", 2));
    let rows = [nurse.clone(), billing.clone()];
    write_ok(store, "add roles", move |tx| {
        rows.iter().try_for_each(|r| tx.upsert_role(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_role("nurse")).await,
        Some(nurse.clone())
    );
    assert_eq!(
        read(store, |tx| tx.list_roles()).await,
        vec![billing.clone(), nurse.clone()]
    );

    let mut nurse2 = role("nurse", 9);
    nurse2.definition_json = r#"{"name":"nurse","grants":["records:read"]}"#.into();
    let n = nurse2.clone();
    write_ok(store, "replace role", move |tx| tx.upsert_role(&n)).await;
    assert_eq!(
        read(store, |tx| tx.get_role("nurse")).await,
        Some(nurse2.clone())
    );
    assert_eq!(
        read(store, |tx| tx.list_roles()).await,
        vec![billing.clone(), nurse2]
    );

    let deleted = write_value(store, "delete roles", |tx| {
        Ok((
            tx.delete_role("nurse")?,
            tx.delete_role("nurse")?,
            tx.delete_role("unknown")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    assert_eq!(read(store, |tx| tx.get_role("nurse")).await, None);
    assert_eq!(read(store, |tx| tx.list_roles()).await, vec![billing]);
}

/// Care relationships: in force until `expires_at` (exclusive) or for ever, per
/// (principal, subject); upsert replaces; listed by subject; delete once.
pub async fn care_relationships_lifecycle(store: &dyn Store) {
    let active = |p: &'static str, s: &'static str, secs: i64| {
        read(store, move |tx| tx.care_relationship_active(p, s, at(secs)))
    };
    assert!(!active("p-1", "subj-1", 0).await);
    let forever = care("p-1", "subj-1", None);
    let ending = care("p-1", "subj-2", Some(100));
    let other = care("p-2", "subj-1", Some(50));
    let rows = [ending.clone(), other.clone(), forever.clone()];
    write_ok(store, "add care relationships", move |tx| {
        rows.iter().try_for_each(|r| tx.upsert_care_relationship(r))
    })
    .await;
    assert!(active("p-1", "subj-1", 1_000_000).await);
    assert!(active("p-1", "subj-2", 99).await);
    assert!(
        !active("p-1", "subj-2", 100).await,
        "expires_at is exclusive"
    );
    assert!(!active("p-1", "subj-2", 101).await);
    assert!(active("p-2", "subj-1", 10).await);
    assert!(!active("p-2", "subj-2", 10).await, "per subject");
    assert!(!active("p-3", "subj-1", 10).await, "per principal");

    assert_eq!(
        read(store, |tx| tx.list_care_relationships("p-1")).await,
        vec![forever.clone(), ending.clone()],
        "expired ones are listed too, by subject"
    );
    assert!(
        read(store, |tx| tx.list_care_relationships("p-9"))
            .await
            .is_empty()
    );

    // Upsert replaces: the ended relationship becomes permanent.
    let mut renewed = care("p-1", "subj-2", None);
    renewed.created_at = at(200);
    let r = renewed.clone();
    write_ok(store, "renew", move |tx| tx.upsert_care_relationship(&r)).await;
    assert!(active("p-1", "subj-2", 1_000).await);
    assert_eq!(
        read(store, |tx| tx.list_care_relationships("p-1")).await,
        vec![forever, renewed]
    );

    let deleted = write_value(store, "end care", |tx| {
        Ok((
            tx.delete_care_relationship("p-1", "subj-1")?,
            tx.delete_care_relationship("p-1", "subj-1")?,
            tx.delete_care_relationship("p-9", "subj-1")?,
        ))
    })
    .await;
    assert_eq!(deleted, (true, false, false));
    assert!(!active("p-1", "subj-1", 0).await);
    assert!(active("p-2", "subj-1", 10).await);
}

/// Break glass: the latest episode in force for (principal, subject) between opened_at
/// (inclusive) and expires_at (exclusive); listed newest first; reviewed once.
pub async fn break_glass_lifecycle(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.active_break_glass("p-1", "subj-1", at(0))).await,
        None
    );
    assert!(
        read(store, |tx| tx.list_break_glass(false))
            .await
            .is_empty()
    );
    let first = break_glass("bg-1", "p-1", "subj-1", 0, 100);
    let second = break_glass("bg-2", "p-1", "subj-1", 50, 200);
    let other = break_glass("bg-3", "p-2", "subj-2", 10, 20);
    let rows = [second.clone(), first.clone(), other.clone()];
    write_ok(store, "open break glass", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_break_glass(r))
    })
    .await;

    let active = |p: &'static str, s: &'static str, secs: i64| {
        read(store, move |tx| tx.active_break_glass(p, s, at(secs)))
    };
    assert_eq!(active("p-1", "subj-1", 0).await, Some(first.clone()));
    assert_eq!(active("p-1", "subj-1", 10).await, Some(first.clone()));
    assert_eq!(
        active("p-1", "subj-1", 60).await,
        Some(second.clone()),
        "the latest opened episode wins"
    );
    assert_eq!(active("p-1", "subj-1", 150).await, Some(second.clone()));
    assert_eq!(
        active("p-1", "subj-1", 200).await,
        None,
        "expires_at is exclusive"
    );
    assert_eq!(
        active("p-1", "subj-1", -1).await,
        None,
        "not before it opens"
    );
    assert_eq!(active("p-1", "subj-2", 60).await, None, "per subject");
    assert_eq!(active("p-2", "subj-1", 60).await, None, "per principal");
    assert_eq!(active("p-2", "subj-2", 15).await, Some(other.clone()));

    let mut dup = break_glass("bg-1", "p-9", "subj-9", 0, 1);
    dup.reason_sealed = vec![1];
    assert_duplicate(
        write(store, move |tx| tx.insert_break_glass(&dup)).await,
        "insert_break_glass with a known id",
    );
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-1")).await,
        Some(first.clone())
    );
    assert_eq!(read(store, |tx| tx.get_break_glass("bg-9")).await, None);
    let newest_first = vec![second.clone(), other.clone(), first.clone()];
    assert_eq!(
        read(store, |tx| tx.list_break_glass(false)).await,
        newest_first
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(true)).await,
        newest_first
    );

    let reviewed = write_value(store, "review", |tx| {
        Ok((
            tx.review_break_glass("bg-3", "auditor-1", &[7, 8, 9], at(300))?,
            tx.review_break_glass("bg-3", "auditor-2", &[1], at(301))?,
            tx.review_break_glass("bg-9", "auditor-1", &[1], at(302))?,
        ))
    })
    .await;
    assert_eq!(reviewed, (true, false, false));
    let mut other_reviewed = other.clone();
    other_reviewed.reviewed_at = Some(at(300));
    other_reviewed.reviewer = Some("auditor-1".into());
    other_reviewed.review_sealed = Some(vec![7, 8, 9]);
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-3")).await,
        Some(other_reviewed.clone()),
        "the first review stays"
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(true)).await,
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        read(store, |tx| tx.list_break_glass(false)).await,
        vec![second, other_reviewed.clone(), first]
    );
    // Reviewed in a later transaction: still refused, and nothing changes.
    let again = write_value(store, "review again", |tx| {
        tx.review_break_glass("bg-3", "auditor-3", &[], at(400))
    })
    .await;
    assert!(!again);
    assert_eq!(
        read(store, |tx| tx.get_break_glass("bg-3")).await,
        Some(other_reviewed)
    );
}
