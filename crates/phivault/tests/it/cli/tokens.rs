//! `phivault token`: tokens created, listed without their secrets, revoked, and refused by
//! a running server once revoked.

use super::*;

fn rfc3339(v: &Value) -> OffsetDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

#[tokio::test]
async fn tokens_are_created_listed_without_secrets_revoked_and_refused_by_the_server() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    // Tokens belong to a service account and carry roles it holds: here a custom read-only
    // role and the built-in auditor role.
    grant(&dir, "reader", &["read", "search"]);
    let app_id = service_account(&dir, "app", &["reader", "auditor"]);

    let created = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "reader", "--role", "reader", "--ttl",
            "1d", "--json",
        ],
    ));
    let reader = created["token"].as_str().unwrap().to_owned();
    let reader_id = created["id"].as_str().unwrap().to_owned();
    assert!(is_token(&reader));
    assert_eq!(created["roles"], json!(["reader"]));
    assert_eq!(created["owner"], app_id.as_str());

    let doomed = json_out(&run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "doomed", "--role", "reader", "--json",
        ],
    ));
    let doomed_secret = doomed["token"].as_str().unwrap().to_owned();
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();

    // The text form prints the secret alone on stdout (for `$(…)`), the rest on stderr.
    let o = run(
        &dir,
        &[
            "token", "create", "--owner", "app", "--name", "texty", "--role", "auditor",
        ],
    );
    assert_success(&o);
    assert!(is_token(out(&o).trim()), "{}", out(&o));
    assert!(tokens_in(&err(&o)).is_empty());
    let texty = out(&o).trim().to_owned();

    let o = run(&dir, &["token", "list", "--json"]);
    let list = json_out(&o);
    for secret in [&admin, &reader, &doomed_secret, &texty] {
        assert!(
            !out(&o).contains(secret.as_str()),
            "token list printed a secret"
        );
    }
    assert!(tokens_in(&out(&o)).is_empty(), "{}", out(&o));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    let entry = list.iter().find(|t| t["id"] == reader_id.as_str()).unwrap();
    assert_eq!(entry["name"], "reader");
    assert_eq!(entry["roles"], json!(["reader"]));
    assert_eq!(entry["owner"], app_id.as_str());
    assert!(entry["revoked_at"].is_null());
    assert!(entry["last_used_at"].is_null(), "{entry}");
    let texty_entry = list.iter().find(|t| t["name"] == "texty").unwrap();
    assert_eq!(texty_entry["roles"], json!(["auditor"]));
    let texty_id = texty_entry["id"].as_str().unwrap().to_owned();
    // Times are RFC 3339, and --ttl 1d means one day.
    let lifetime = rfc3339(&entry["expires_at"]) - rfc3339(&entry["created_at"]);
    assert_eq!(lifetime, time::Duration::days(1));
    assert_eq!(
        rfc3339(&created["expires_at"]),
        rfc3339(&entry["expires_at"])
    );
    let text = out(&run(&dir, &["token", "list"]));
    assert!(tokens_in(&text).is_empty(), "{text}");
    assert!(text.contains(&reader_id), "{text}");

    let o = run(&dir, &["token", "revoke", &doomed_id, "--json"]);
    assert_eq!(json_out(&o)["revoked"], doomed_id.as_str());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == doomed_id.as_str())
        .unwrap()
        .clone();
    rfc3339(&entry["revoked_at"]);

    // Operator errors fail cleanly and issue nothing: an unknown role, a role the account
    // does not hold (no escalation through a token), an unknown account, bad lifetimes.
    let bad: &[&[&str]] = &[
        &["--owner", "app", "--role", "nosuchrole"],
        &["--owner", "app", "--role", "admin"],
        &["--owner", "app", "--role", "reader", "--role", "admin"],
        &["--owner", "nosuchaccount", "--role", "reader"],
        &["--owner", "app", "--role", "reader", "--ttl", "400d"],
        &["--owner", "app", "--role", "reader", "--ttl", "0d"],
        &["--owner", "app", "--role", "reader", "--ttl", "-1d"],
        &["--owner", "app", "--role", "reader", "--ttl", "10x"],
        &["--owner", "app", "--role", "reader", "--ttl", "5µ"],
        &[
            "--owner",
            "app",
            "--role",
            "reader",
            "--ttl",
            "99999999999999999d",
        ],
        &[
            "--owner",
            "app",
            "--role",
            "reader",
            "--ttl",
            "999999999999999d",
        ],
        &["--owner", "app", "--role", "reader", "--ttl", ""],
    ];
    for extra in bad {
        let mut args = vec!["token", "create", "--name", "bad"];
        args.extend_from_slice(extra);
        let o = run(&dir, &args);
        let e = assert_clean_failure(&o);
        assert!(tokens_in(&out(&o)).is_empty(), "{extra:?} printed a token");
        if extra.contains(&"nosuchrole") {
            // A name that is no role at all is reported as such, not as an escalation.
            assert!(e.contains("unknown_role"), "{e}");
        }
        if extra.contains(&"admin") {
            assert!(e.contains("deny:role_escalation"), "{e}");
        }
        if extra.contains(&"400d") {
            assert!(e.contains("ttl"), "{e}");
        }
    }
    // Roles are resolved where an account is given them: an unknown one is named.
    let e = assert_clean_failure(&run(
        &dir,
        &["service-account", "create", "ghost", "--role", "nosuchrole"],
    ));
    assert!(e.contains("unknown_role"), "{e}");
    let users = out(&run(&dir, &["user", "list", "--json"]));
    assert!(!users.contains("ghost"), "{users}");
    let e = assert_clean_failure(&run(&dir, &["token", "revoke", "not-a-uuid"]));
    assert!(!e.is_empty());
    // A revoked token cannot be rotated back to life.
    let o = run(&dir, &["token", "rotate", &doomed_id]);
    assert_clean_failure(&o);
    assert!(tokens_in(&out(&o)).is_empty());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    assert_eq!(
        list.as_array().unwrap().len(),
        4,
        "a refused create issued a token"
    );

    // Rotation issues a new secret with the same owner and roles and revokes the old one.
    let o = run(&dir, &["token", "rotate", &texty_id, "--json"]);
    let rotated = json_out(&o);
    assert_eq!(tokens_in(&out(&o)).len(), 1, "{}", out(&o));
    let texty2 = rotated["token"].as_str().unwrap().to_owned();
    assert!(is_token(&texty2));
    assert_ne!(texty2, texty);
    assert_ne!(rotated["id"], texty_id.as_str());
    assert_eq!(rotated["roles"], json!(["auditor"]));
    assert_eq!(rotated["owner"], app_id.as_str());
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5);
    let old = list.iter().find(|t| t["id"] == texty_id.as_str()).unwrap();
    rfc3339(&old["revoked_at"]);

    // The server honours all of it: a live token works, a revoked one gets 401, and a
    // revocation by the CLI takes effect on the running server at once.
    let server = Server::serve(&dir, &logs, "serve").await;
    let c = server.client(&admin);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    assert_eq!(
        server
            .records(&reader)
            .list_collections()
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        server
            .records(&reader)
            .search("notes", "full_name", json!("A B"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        status_of(server.records(&doomed_secret).list_collections().await),
        401
    );
    // The rotated-out secret is dead; its successor carries the auditor role.
    assert_eq!(status_of(server.client(&texty).verify_audit().await), 401);
    assert!(server.client(&texty2).verify_audit().await.unwrap().ok);
    // A read-only token may not write.
    let r = server
        .records(&reader)
        .create_record("notes", "s-1", json!({"full_name": "A B"}))
        .await;
    assert_eq!(status_of(r), 403);
    // Nor may an administrator hand a token a role its account does not hold.
    let r = c
        .create_token("app", "escalate", &["admin".to_owned()], 3600)
        .await;
    assert_eq!(status_of(r), 403);
    // The CLI sees the server's use of a token.
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == reader_id.as_str())
        .unwrap()
        .clone();
    rfc3339(&entry["last_used_at"]);

    assert_success(&run(&dir, &["token", "revoke", &reader_id]));
    assert_eq!(
        status_of(server.records(&reader).list_collections().await),
        401
    );
    assert!(c.list_collections().await.is_ok());
    assert!(server.terminate().await.success());
}
