//! Identity: API tokens, users, sessions, login failures and recovery codes.

use std::sync::{Arc, Mutex};

use crate::support::*;

/// Tokens: insert (owner, roles and last use kept), get by secret hash, list newest
/// first, revoke once, duplicates refused, `touch_token` records the last use only.
pub async fn tokens_lifecycle(store: &dyn Store) {
    let t1 = token(1, 1, &["clinician", "records-writer"]);
    let mut t2 = token(2, 3, &["auditor"]);
    t2.owner = "svc-2".into();
    t2.last_used_at = Some(at(4));
    let mut t3 = token(3, 2, &[]);
    t3.revoked_at = Some(at(5));
    let rows = [t1.clone(), t2.clone(), t3.clone()];
    write_ok(store, "insert tokens", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_token(r))
    })
    .await;

    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(1))).await,
        Some(t1.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(3))).await,
        Some(t3.clone())
    );
    assert_eq!(read(store, |tx| tx.get_token_by_hash(&tag(9))).await, None);
    assert_eq!(
        read(store, |tx| tx.list_tokens()).await,
        vec![t2.clone(), t3.clone(), t1.clone()]
    );

    let mut same_hash = token(4, 4, &[]);
    same_hash.secret_hash = t1.secret_hash;
    assert_duplicate(
        write(store, move |tx| tx.insert_token(&same_hash)).await,
        "insert_token with a known secret hash",
    );
    let mut same_id = token(5, 4, &[]);
    same_id.id = t1.id;
    assert_duplicate(
        write(store, move |tx| tx.insert_token(&same_id)).await,
        "insert_token with a known id",
    );

    let revoked = Arc::new(Mutex::new(Vec::new()));
    let seen = revoked.clone();
    write_ok(store, "revoke tokens", move |tx| {
        let first = tx.revoke_token(&tid(1), at(10))?;
        let again = tx.revoke_token(&tid(1), at(11))?;
        let already = tx.revoke_token(&tid(3), at(12))?;
        let unknown = tx.revoke_token(&tid(99), at(13))?;
        seen.lock()
            .unwrap()
            .extend([first, again, already, unknown]);
        Ok(())
    })
    .await;
    assert_eq!(*revoked.lock().unwrap(), vec![true, false, false, false]);
    let after = read(store, |tx| tx.get_token_by_hash(&tag(1)))
        .await
        .unwrap();
    assert_eq!(
        after.revoked_at,
        Some(at(10)),
        "the first revocation time stays"
    );
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(3)))
            .await
            .unwrap()
            .revoked_at,
        Some(at(5))
    );
    // Revoking again in a later transaction is still refused.
    let again = Arc::new(Mutex::new(None));
    let seen = again.clone();
    write_ok(store, "revoke again", move |tx| {
        *seen.lock().unwrap() = Some(tx.revoke_token(&tid(1), at(20))?);
        Ok(())
    })
    .await;
    assert_eq!(*again.lock().unwrap(), Some(false));

    // touch_token sets last_used_at (and nothing else); the latest touch wins; an unknown
    // id is not an error.
    write_ok(store, "touch tokens", |tx| {
        tx.touch_token(&tid(2), at(30))?;
        tx.touch_token(&tid(2), at(31))?;
        tx.touch_token(&tid(3), at(32))?;
        tx.touch_token(&tid(99), at(33))
    })
    .await;
    let mut t2_touched = t2.clone();
    t2_touched.last_used_at = Some(at(31));
    assert_eq!(
        read(store, |tx| tx.get_token_by_hash(&tag(2))).await,
        Some(t2_touched)
    );
    let t3_touched = read(store, |tx| tx.get_token_by_hash(&tag(3)))
        .await
        .unwrap();
    assert_eq!(t3_touched.last_used_at, Some(at(32)));
    assert_eq!(t3_touched.revoked_at, Some(at(5)));
    let t1_after = read(store, |tx| tx.get_token_by_hash(&tag(1)))
        .await
        .unwrap();
    assert_eq!(
        t1_after.last_used_at, None,
        "touching other tokens leaves it"
    );
    assert_eq!(t1_after.owner, "svc-1");
    assert_eq!(t1_after.roles, t1.roles);
}

/// Users: insert, get by id and by name, list by name, duplicates (id or name) refused,
/// update by id (every field round-trips, a rename frees the old name), unknown id false.
pub async fn users_insert_get_update_list(store: &dyn Store) {
    assert_eq!(read(store, |tx| tx.get_user("u-1")).await, None);
    assert!(read(store, |tx| tx.list_users()).await.is_empty());

    let alice = user("u-1", "alice", "human", &["clinician"]);
    let mut etl = user("u-2", "etl-bot", "service", &[]);
    etl.created_at = at(2);
    etl.updated_at = at(2);
    let rows = [etl.clone(), alice.clone()];
    write_ok(store, "insert users", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_user(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(alice.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("etl-bot")).await,
        Some(etl.clone())
    );
    assert_eq!(read(store, |tx| tx.get_user_by_name("bob")).await, None);
    assert_eq!(
        read(store, |tx| tx.list_users()).await,
        vec![alice.clone(), etl.clone()]
    );

    let same_id = user("u-1", "mallory", "human", &["admin"]);
    assert_duplicate(
        write(store, move |tx| tx.insert_user(&same_id)).await,
        "insert_user with a known id",
    );
    let same_name = user("u-9", "alice", "human", &["admin"]);
    assert_duplicate(
        write(store, move |tx| tx.insert_user(&same_name)).await,
        "insert_user with a known username",
    );
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(alice.clone())
    );
    assert_eq!(read(store, |tx| tx.get_user("u-9")).await, None);

    // Every field changes and round-trips, including the largest TOTP step.
    let mut changed = alice.clone();
    changed.username = "alice.smith".into();
    changed.password_phc = Some("$argon2id$v=19$m=19456,t=2,p=1$bmV3$new".into());
    changed.totp_sealed = Some((0..=255u8).collect());
    changed.totp_last_step = Some(i64::MAX as u64);
    changed.roles = strings(&["clinician", "admin"]);
    changed.allow_admin_phi = true;
    changed.disabled = true;
    changed.updated_at = at(50);
    let mut ghost = user("u-404", "ghost", "human", &[]);
    ghost.updated_at = at(50);
    let (c, g) = (changed.clone(), ghost);
    let outcome = write_value(store, "update users", move |tx| {
        Ok((tx.update_user(&c)?, tx.update_user(&g)?))
    })
    .await;
    assert_eq!(outcome, (true, false));
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(changed.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("alice.smith")).await,
        Some(changed.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_user_by_name("alice")).await,
        None,
        "a rename frees the old name"
    );
    assert_eq!(read(store, |tx| tx.get_user("u-404")).await, None);

    // Back to no TOTP and no password: the optional columns clear.
    let mut cleared = changed.clone();
    cleared.password_phc = None;
    cleared.totp_sealed = None;
    cleared.totp_last_step = Some(0);
    let c = cleared.clone();
    assert!(write_value(store, "clear user fields", move |tx| tx.update_user(&c)).await);
    assert_eq!(
        read(store, |tx| tx.get_user("u-1")).await,
        Some(cleared.clone())
    );

    // Renaming onto another user's name is refused like an insert.
    let mut clash = etl.clone();
    clash.username = "alice.smith".into();
    assert_duplicate(
        write(store, move |tx| tx.update_user(&clash).map(drop)).await,
        "update_user onto a known username",
    );
    assert_eq!(
        read(store, |tx| tx.list_users()).await,
        vec![cleared, etl],
        "listed by username"
    );
}

/// Sessions: insert, duplicates (id or secret hash) refused, get by hash, touch, revoke
/// once, and revoking a user's sessions touches only that user's live ones.
pub async fn sessions_lifecycle(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        None
    );
    let s1 = session("s-1", "u-1", 1, 0);
    let s2 = session("s-2", "u-1", 2, 1);
    let s3 = session("s-3", "u-2", 3, 2);
    let mut s4 = session("s-4", "u-1", 4, 3);
    s4.revoked_at = Some(at(4));
    let rows = [s1.clone(), s2.clone(), s3.clone(), s4.clone()];
    write_ok(store, "insert sessions", move |tx| {
        rows.iter().try_for_each(|r| tx.insert_session(r))
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(4))).await,
        Some(s4.clone()),
        "a revoked session is still found (callers check revoked_at)"
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(9))).await,
        None
    );

    let mut same_id = session("s-1", "u-2", 7, 5);
    same_id.expires_at = at(9_999);
    assert_duplicate(
        write(store, move |tx| tx.insert_session(&same_id)).await,
        "insert_session with a known id",
    );
    let same_hash = session("s-7", "u-2", 1, 5);
    assert_duplicate(
        write(store, move |tx| tx.insert_session(&same_hash)).await,
        "insert_session with a known secret hash",
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1.clone())
    );

    // touch_session moves last_seen_at only; an unknown id is not an error.
    write_ok(store, "touch sessions", |tx| {
        tx.touch_session("s-1", at(60))?;
        tx.touch_session("s-1", at(61))?;
        tx.touch_session("s-404", at(62))
    })
    .await;
    let mut s1_seen = s1.clone();
    s1_seen.last_seen_at = at(61);
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(1))).await,
        Some(s1_seen.clone())
    );
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(2))).await,
        Some(s2.clone())
    );

    let revoked = write_value(store, "revoke session", |tx| {
        Ok((
            tx.revoke_session("s-2", at(70))?,
            tx.revoke_session("s-2", at(71))?,
            tx.revoke_session("s-4", at(72))?,
            tx.revoke_session("s-404", at(73))?,
        ))
    })
    .await;
    assert_eq!(revoked, (true, false, false, false));
    let mut s2_revoked = s2.clone();
    s2_revoked.revoked_at = Some(at(70));
    assert_eq!(
        read(store, |tx| tx.get_session_by_hash(&tag(2))).await,
        Some(s2_revoked.clone()),
        "the first revocation time stays"
    );

    // Of u-1's sessions only s-1 is still live; s-2 and s-4 keep their revocation times.
    let counts = write_value(store, "revoke user sessions", |tx| {
        Ok((
            tx.revoke_user_sessions("u-1", at(80))?,
            tx.revoke_user_sessions("u-1", at(81))?,
            tx.revoke_user_sessions("u-404", at(82))?,
        ))
    })
    .await;
    assert_eq!(counts, (1, 0, 0));
    let mut s1_revoked = s1_seen;
    s1_revoked.revoked_at = Some(at(80));
    let now = read(store, |tx| {
        Ok((
            tx.get_session_by_hash(&tag(1))?,
            tx.get_session_by_hash(&tag(2))?,
            tx.get_session_by_hash(&tag(3))?,
            tx.get_session_by_hash(&tag(4))?,
        ))
    })
    .await;
    assert_eq!(now.0, Some(s1_revoked));
    assert_eq!(now.1, Some(s2_revoked));
    assert_eq!(now.2, Some(s3), "another user's session stays live");
    assert_eq!(now.3, Some(s4));
}

/// Login failures: counted per key from `since` (inclusive) with the latest time; the
/// same instant twice counts twice; clearing one key leaves the others.
pub async fn login_failures_count_and_clear(store: &dyn Store) {
    assert_eq!(
        read(store, |tx| tx.login_failures_since("alice", at(0))).await,
        (0, None)
    );
    write_ok(store, "record failures", |tx| {
        tx.insert_login_failure("alice", at(1))?;
        tx.insert_login_failure("alice", at(5))?;
        tx.insert_login_failure("alice", at(5))?;
        tx.insert_login_failure("alice", at(3))?;
        tx.insert_login_failure("nobody-known", at(10))
    })
    .await;
    let since = |key: &'static str, secs: i64| {
        read(store, move |tx| tx.login_failures_since(key, at(secs)))
    };
    assert_eq!(since("alice", -100).await, (4, Some(at(5))));
    assert_eq!(
        since("alice", 3).await,
        (3, Some(at(5))),
        "since is inclusive"
    );
    assert_eq!(since("alice", 4).await, (2, Some(at(5))));
    assert_eq!(since("alice", 6).await, (0, None));
    assert_eq!(since("nobody-known", 0).await, (1, Some(at(10))));
    assert_eq!(since("bob", 0).await, (0, None));

    write_ok(store, "clear failures", |tx| {
        tx.clear_login_failures("alice")?;
        tx.clear_login_failures("never-failed")
    })
    .await;
    assert_eq!(since("alice", -100).await, (0, None));
    assert_eq!(since("nobody-known", 0).await, (1, Some(at(10))));
    write_ok(store, "fail again", |tx| {
        tx.insert_login_failure("alice", at(20))
    })
    .await;
    assert_eq!(since("alice", -100).await, (1, Some(at(20))));
}

/// Recovery codes: a replace sets a user's whole set, each code works once, per user.
pub async fn recovery_codes_replace_and_use(store: &dyn Store) {
    assert!(!read(store, |tx| tx.has_recovery_code("u-1", &tag(1))).await);
    write_ok(store, "set codes", |tx| {
        tx.replace_recovery_codes("u-1", &[tag(1), tag(2), tag(3)])?;
        tx.replace_recovery_codes("u-2", &[tag(1)])
    })
    .await;
    let has =
        |user: &'static str, t: u8| read(store, move |tx| tx.has_recovery_code(user, &tag(t)));
    assert!(has("u-1", 1).await);
    assert!(has("u-1", 3).await);
    assert!(!has("u-1", 9).await);
    assert!(!has("u-3", 1).await);

    let used = write_value(store, "use codes", |tx| {
        Ok((
            tx.use_recovery_code("u-1", &tag(1), at(10))?,
            tx.use_recovery_code("u-1", &tag(1), at(11))?,
            tx.use_recovery_code("u-1", &tag(9), at(12))?,
            tx.use_recovery_code("u-3", &tag(1), at(13))?,
        ))
    })
    .await;
    assert_eq!(used, (true, false, false, false));
    assert!(!has("u-1", 1).await, "a used code is gone");
    assert!(has("u-1", 2).await);
    assert!(has("u-2", 1).await, "codes are per user");
    // Used in a later transaction: still refused.
    let again = write_value(store, "reuse code", |tx| {
        tx.use_recovery_code("u-1", &tag(1), at(20))
    })
    .await;
    assert!(!again);

    // A replace drops the old set (used or not); a repeated hash is one code.
    write_ok(store, "regenerate codes", |tx| {
        tx.replace_recovery_codes("u-1", &[tag(1), tag(4), tag(4)])
    })
    .await;
    assert!(has("u-1", 1).await, "a regenerated code is unused");
    assert!(!has("u-1", 2).await);
    assert!(!has("u-1", 3).await);
    assert!(has("u-1", 4).await);
    let used = write_value(store, "use regenerated", |tx| {
        Ok((
            tx.use_recovery_code("u-1", &tag(4), at(30))?,
            tx.use_recovery_code("u-1", &tag(4), at(31))?,
        ))
    })
    .await;
    assert_eq!(used, (true, false));

    write_ok(store, "drop codes", |tx| {
        tx.replace_recovery_codes("u-1", &[])
    })
    .await;
    assert!(!has("u-1", 1).await);
    assert!(has("u-2", 1).await);
}
