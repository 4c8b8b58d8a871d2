//! Identity and access through the vault service: passwords and TOTP, replay, recovery
//! codes, sessions with idle and absolute timeouts (moved by a manual clock, never by
//! sleeping), logout, lockout, step-up, separation of admin and PHI access, break-glass,
//! and that auditors and admins never read a record.

use phivault_api::Collection;
use phivault_core::crypto::{TotpParams, TotpSecret, totp_code};
use phivault_core::{Principal, PurposeOfUse, RequestMeta, SubjectId, VaultError};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::{Synth, patient_schema};
use time::Duration;

const PASSWORD: &str = "correct horse battery staple 42";

fn meta() -> RequestMeta {
    RequestMeta::default()
}

struct Person {
    username: String,
    secret: TotpSecret,
    recovery: Vec<String>,
}

async fn person(tv: &TestVault, username: &str, roles: &[&str]) -> Person {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let (_, enrollment) = tv
        .vault
        .create_user(
            &meta(),
            &Principal::local_operator(),
            username,
            PASSWORD,
            &roles,
            false,
        )
        .await
        .unwrap();
    let uri = enrollment.otpauth_uri.as_str();
    assert!(uri.starts_with("otpauth://totp/"));
    let b32 = uri
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("secret="))
        .unwrap();
    assert_eq!(enrollment.recovery_codes.len(), 10);
    Person {
        username: username.to_owned(),
        secret: TotpSecret::from_base32(b32).unwrap(),
        recovery: enrollment
            .recovery_codes
            .iter()
            .map(|c| c.to_string())
            .collect(),
    }
}

fn code(tv: &TestVault, p: &Person) -> String {
    let now = tv.clock.now().unix_timestamp() as u64;
    totp_code(&p.secret, &TotpParams::default(), now)
}

async fn login(tv: &TestVault, p: &Person, code: Option<&str>) -> Result<String, VaultError> {
    tv.vault
        .login(&meta(), &p.username, PASSWORD, code)
        .await
        .map(|(_, s)| s.expose_secret().to_owned())
}

async fn auth(tv: &TestVault, session: &str) -> Result<Principal, VaultError> {
    tv.vault.authenticate(&meta(), Some(session)).await
}

async fn reasons(tv: &TestVault, action: &str) -> Vec<String> {
    tv.audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action == action)
        .map(|e| e.reason.unwrap_or_default())
        .collect()
}

use phivault_core::Clock as _;

#[tokio::test]
async fn totp_login_refuses_replays_and_honours_recovery_codes_once() {
    let tv = TestVault::start().await;
    let ada = person(&tv, "dr.ada", &["clinician"]).await;
    let c = code(&tv, &ada);
    let s = login(&tv, &ada, Some(&c)).await.unwrap();
    let p = auth(&tv, &s).await.unwrap();
    assert_eq!(p.auth_method, "session");
    assert!(p.authenticated_at.is_some());

    // The same code again, inside its window: a replay.
    assert!(matches!(
        login(&tv, &ada, Some(&c)).await,
        Err(VaultError::Unauthenticated)
    ));
    // The next step's code works.
    tv.clock.advance(Duration::seconds(30));
    login(&tv, &ada, Some(&code(&tv, &ada))).await.unwrap();
    // No code, or a wrong one, is refused.
    assert!(login(&tv, &ada, None).await.is_err());
    assert!(login(&tv, &ada, Some("000000")).await.is_err() || code(&tv, &ada) == "000000");
    // A recovery code works exactly once.
    let rc = ada.recovery[3].clone();
    login(&tv, &ada, Some(&rc)).await.unwrap();
    assert!(login(&tv, &ada, Some(&rc)).await.is_err());

    let logins = reasons(&tv, "auth.login").await;
    assert_eq!(
        logins,
        [
            "mfa:totp",
            "mfa_code_invalid",
            "mfa:totp",
            "mfa_code_missing",
            "mfa_code_invalid",
            "mfa:recovery_code",
            "mfa_code_invalid"
        ]
    );
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_absolute_limit_and_on_logout() {
    let tv = TestVault::start().await;
    let bo = person(&tv, "nurse.bo", &["clinician"]).await;

    let idle = login(&tv, &bo, Some(&code(&tv, &bo))).await.unwrap();
    tv.clock.advance(Duration::minutes(14));
    auth(&tv, &idle).await.unwrap();
    tv.clock.advance(Duration::minutes(16));
    assert!(auth(&tv, &idle).await.is_err(), "idle for 16 minutes");
    // Automatic logoff is final: coming back is not enough.
    assert!(auth(&tv, &idle).await.is_err());

    tv.clock.advance(Duration::seconds(30));
    let busy = login(&tv, &bo, Some(&code(&tv, &bo))).await.unwrap();
    for _ in 0..(12 * 6 - 1) {
        tv.clock.advance(Duration::minutes(10));
        auth(&tv, &busy).await.unwrap();
    }
    tv.clock.advance(Duration::minutes(10));
    assert!(auth(&tv, &busy).await.is_err(), "past the 12-hour lifetime");

    tv.clock.advance(Duration::seconds(30));
    let s = login(&tv, &bo, Some(&code(&tv, &bo))).await.unwrap();
    tv.vault.logout(&meta(), &s).await.unwrap();
    assert!(auth(&tv, &s).await.is_err(), "logged out");

    tv.clock.advance(Duration::seconds(30));
    let a = login(&tv, &bo, Some(&code(&tv, &bo))).await.unwrap();
    tv.clock.advance(Duration::seconds(30));
    let b = login(&tv, &bo, Some(&code(&tv, &bo))).await.unwrap();
    let n = tv
        .vault
        .revoke_sessions(&meta(), &Principal::local_operator(), "nurse.bo")
        .await
        .unwrap();
    // The two open sessions, and the one that had run out its lifetime unrevoked.
    assert_eq!(n, 3);
    assert!(auth(&tv, &a).await.is_err() && auth(&tv, &b).await.is_err());

    let denied = reasons(&tv, "auth.authenticate").await;
    assert_eq!(
        denied,
        [
            "session_idle_timeout",
            "session_revoked",
            "session_expired",
            "session_revoked",
            "session_revoked",
            "session_revoked"
        ]
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_back_off() {
    let tv = TestVault::start().await;
    let cy = person(&tv, "cy.lock", &["clinician"]).await;
    for _ in 0..5 {
        assert!(
            tv.vault
                .login(&meta(), "cy.lock", "wrong password!!", None)
                .await
                .is_err()
        );
    }
    // The right password and code are refused while locked.
    assert!(login(&tv, &cy, Some(&code(&tv, &cy))).await.is_err());
    assert_eq!(
        reasons(&tv, "auth.login").await.last().unwrap(),
        "account_locked"
    );
    // Unknown names lock the same way, so lockout says nothing about which accounts exist.
    for _ in 0..6 {
        assert!(
            tv.vault
                .login(&meta(), "nobody", "wrong password!!", None)
                .await
                .is_err()
        );
    }
    assert_eq!(
        reasons(&tv, "auth.login").await.last().unwrap(),
        "account_locked"
    );
    // The lock lifts once the back-off has passed.
    tv.clock.advance(Duration::hours(25));
    login(&tv, &cy, Some(&code(&tv, &cy))).await.unwrap();
}

#[tokio::test]
async fn user_management_needs_a_recent_login_and_separates_admin_from_phi() {
    let tv = TestVault::start().await;
    let root = person(&tv, "root.admin", &["admin"]).await;
    let s = login(&tv, &root, Some(&code(&tv, &root))).await.unwrap();
    let admin = auth(&tv, &s).await.unwrap();
    tv.vault
        .create_user(
            &meta(),
            &admin,
            "dr.lee",
            PASSWORD,
            &["clinician".into()],
            false,
        )
        .await
        .unwrap();
    tv.clock.advance(Duration::minutes(6));
    let admin = auth(&tv, &s).await.unwrap();
    let err = tv
        .vault
        .create_user(
            &meta(),
            &admin,
            "dr.kim",
            PASSWORD,
            &["clinician".into()],
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Forbidden { rule } if rule == "deny:step_up_required"),
        "{err:?}"
    );

    let op = Principal::local_operator();
    for (pw, code) in [
        ("short pw", "password_too_short"),
        ("password1234", "password_common"),
        ("dr.weakdr.weak!", "password_contains_username"),
    ] {
        let err = tv
            .vault
            .create_user(&meta(), &op, "dr.weak", pw, &["clinician".into()], false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{pw}");
    }
    let both = ["admin".to_owned(), "clinician".to_owned()];
    let err = tv
        .vault
        .create_user(&meta(), &op, "super", PASSWORD, &both, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VaultError::Forbidden { rule } if rule == "deny:admin_phi_needs_exception")
    );
    tv.vault
        .create_user(&meta(), &op, "super", PASSWORD, &both, true)
        .await
        .unwrap();
    let gaps = tv.vault.compliance_gaps(&meta(), &op).await.unwrap();
    assert!(gaps.iter().any(|g| g.code == "admin_with_phi_access"));
    assert!(!gaps.iter().any(|g| g.code == "mfa_disabled"));

    // Disabling ends sessions at once.
    tv.clock.advance(Duration::seconds(30));
    let s2 = login(&tv, &root, Some(&code(&tv, &root))).await.unwrap();
    tv.vault
        .disable_user(&meta(), &op, "root.admin")
        .await
        .unwrap();
    assert!(auth(&tv, &s2).await.is_err());
}

async fn patients(tv: &TestVault) -> (uuid::Uuid, uuid::Uuid) {
    let c: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
    tv.admin_client().create_collection(&c).await.unwrap();
    let app = tv.client();
    let a = app
        .create_record("patients", "subj-a", Synth::new(1).patient())
        .await
        .unwrap();
    let b = app
        .create_record("patients", "subj-b", Synth::new(2).patient())
        .await
        .unwrap();
    (a.id, b.id)
}

async fn read(
    tv: &TestVault,
    p: &Principal,
    purpose: PurposeOfUse,
    id: uuid::Uuid,
) -> Result<phivault_core::RecordView, VaultError> {
    let mut p = p.clone();
    p.purpose = Some(purpose);
    tv.vault
        .get_record(
            &meta(),
            &p,
            &phivault_core::CollectionName::parse("patients").unwrap(),
            phivault_core::RecordId(id),
        )
        .await
}

#[tokio::test]
async fn break_glass_opens_one_subject_for_a_bounded_time_and_is_reviewed() {
    let tv = TestVault::start().await;
    let (rec_a, rec_b) = patients(&tv).await;
    let plain = person(&tv, "dr.plain", &["clinician"]).await;
    let er = person(&tv, "dr.er", &["clinician", "breakglass"]).await;
    let op = Principal::local_operator();
    let subj_a = SubjectId::parse("subj-a").unwrap();
    let reason = "Unconscious patient in the ED, no chart access";

    let p = auth(
        &tv,
        &login(&tv, &plain, Some(&code(&tv, &plain))).await.unwrap(),
    )
    .await
    .unwrap();
    let err = tv
        .vault
        .open_break_glass(&meta(), &p, &subj_a, reason, Duration::hours(1))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Forbidden { .. }));

    let e = auth(&tv, &login(&tv, &er, Some(&code(&tv, &er))).await.unwrap())
        .await
        .unwrap();
    assert!(
        read(&tv, &e, PurposeOfUse::Treat, rec_a).await.is_err(),
        "not assigned"
    );
    for (why, dur) in [
        ("too short", Duration::hours(1)),
        (reason, Duration::hours(5)),
    ] {
        assert!(
            tv.vault
                .open_break_glass(&meta(), &e, &subj_a, why, dur)
                .await
                .is_err()
        );
    }
    let episode = tv
        .vault
        .open_break_glass(&meta(), &e, &subj_a, reason, Duration::hours(1))
        .await
        .unwrap();
    let alerts = tv.alerts.all();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, "breakglass.opened");
    assert_eq!(alerts[0].subject.as_deref(), Some("subj-a"));

    let view = read(&tv, &e, PurposeOfUse::Etreat, rec_a).await.unwrap();
    assert!(
        view.data.contains_key("ssn"),
        "emergency access sees the whole record"
    );
    assert!(
        read(&tv, &e, PurposeOfUse::Treat, rec_a).await.is_err(),
        "only under ETREAT"
    );
    assert!(
        read(&tv, &e, PurposeOfUse::Etreat, rec_b).await.is_err(),
        "only that subject"
    );
    let last = tv.audit_entries().await.pop().unwrap().event().unwrap();
    let events: Vec<_> = tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .collect();
    let opened = events
        .iter()
        .find(|e| {
            e.action == "breakglass.open" && e.outcome == phivault_core::audit::Outcome::Success
        })
        .unwrap();
    assert_eq!(opened.reason.as_deref(), Some("severity:high"));
    assert!(
        !serde_json::to_string(opened)
            .unwrap()
            .contains("Unconscious"),
        "no free text in the audit log"
    );
    assert_eq!(last.action, "record.read");
    let granted = events
        .iter()
        .find(|e| e.reason.as_deref() == Some(&format!("breakglass:{}", episode.id)))
        .unwrap();
    assert_eq!(granted.purpose.as_deref(), Some("ETREAT"));

    tv.clock.advance(Duration::minutes(61));
    let e = auth(&tv, &login(&tv, &er, Some(&code(&tv, &er))).await.unwrap())
        .await
        .unwrap();
    assert!(
        read(&tv, &e, PurposeOfUse::Etreat, rec_a).await.is_err(),
        "expired"
    );

    let aud = person(&tv, "auditor.ann", &["auditor"]).await;
    let a = auth(
        &tv,
        &login(&tv, &aud, Some(&code(&tv, &aud))).await.unwrap(),
    )
    .await
    .unwrap();
    let queue = tv.vault.list_break_glass(&meta(), &a, true).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].reason, reason);
    tv.vault
        .review_break_glass(
            &meta(),
            &a,
            &episode.id,
            "Justified: ED admission confirmed.",
        )
        .await
        .unwrap();
    assert!(
        tv.vault
            .list_break_glass(&meta(), &a, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        tv.vault.list_break_glass(&meta(), &op, true).await.is_err(),
        "admins do not review"
    );
}

#[tokio::test]
async fn auditors_read_the_log_and_admins_manage_users_but_neither_reads_a_record() {
    let tv = TestVault::start().await;
    let (rec_a, _) = patients(&tv).await;
    let aud = person(&tv, "auditor.ann", &["auditor"]).await;
    let adm = person(&tv, "admin.al", &["admin"]).await;
    let a = auth(
        &tv,
        &login(&tv, &aud, Some(&code(&tv, &aud))).await.unwrap(),
    )
    .await
    .unwrap();
    let m = auth(
        &tv,
        &login(&tv, &adm, Some(&code(&tv, &adm))).await.unwrap(),
    )
    .await
    .unwrap();
    let report = tv.vault.verify_audit(&meta(), &a).await.unwrap();
    assert!(report.first_break.is_none() && report.entries > 0);
    assert!(
        tv.vault.verify_audit(&meta(), &m).await.is_err(),
        "admins do not read the audit log"
    );
    // The compliance report: auditors review it, admins act on it, nobody else reads it.
    tv.vault.compliance_gaps(&meta(), &a).await.unwrap();
    tv.vault.compliance_gaps(&meta(), &m).await.unwrap();
    let mut clinician = a.clone();
    clinician.roles = vec![phivault_core::policy::builtin_role("clinician").unwrap()];
    assert!(tv.vault.compliance_gaps(&meta(), &clinician).await.is_err());
    tv.vault
        .create_user(
            &meta(),
            &m,
            "dr.new",
            PASSWORD,
            &["clinician".into()],
            false,
        )
        .await
        .unwrap();
    assert!(
        tv.vault
            .create_user(&meta(), &a, "dr.x", PASSWORD, &["clinician".into()], false)
            .await
            .is_err()
    );
    for p in [&a, &m] {
        for purpose in PurposeOfUse::ALL {
            assert!(
                read(&tv, p, purpose, rec_a).await.is_err(),
                "{} read a record",
                p.role_names().join(",")
            );
        }
    }
}

#[tokio::test]
async fn login_over_https_does_not_reveal_which_accounts_exist() {
    let tv = TestVault::start().await;
    let dee = person(&tv, "dr.dee", &["clinician"]).await;
    let anon = tv.client_with(None);
    let problem = |r: Result<phivault_api::LoginResponse, phivault_client::ClientError>| match r {
        Err(phivault_client::ClientError::Api { status, problem }) => {
            let mut p = serde_json::to_value(&*problem).unwrap();
            p.as_object_mut().unwrap().remove("request_id");
            (status, p)
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    let unknown = problem(anon.login("dr.nobody", PASSWORD, Some("123456")).await);
    let wrong_pw = problem(
        anon.login("dr.dee", "not the password at all", Some("123456"))
            .await,
    );
    let no_code = problem(anon.login("dr.dee", PASSWORD, None).await);
    assert_eq!(unknown.0, 401);
    assert_eq!(unknown, wrong_pw);
    assert_eq!(unknown, no_code);
    let text = unknown.1.to_string();
    assert!(
        !text.contains("dr.") && !text.contains("not the password"),
        "{text}"
    );

    // The real thing works and its session token authenticates API calls.
    let ok = anon
        .login("dr.dee", PASSWORD, Some(&code(&tv, &dee)))
        .await
        .unwrap();
    assert!(ok.session_token.starts_with("pvs_"));
    let me = tv.client_with(Some(&ok.session_token));
    me.list_collections().await.unwrap();
    me.logout().await.unwrap();
    assert!(me.list_collections().await.is_err());
}

/// A token holds at most what its account holds now: demoting the account demotes the
/// tokens it already has, on the next request.
#[tokio::test]
async fn demoting_an_account_demotes_the_tokens_it_already_holds() {
    let tv = TestVault::start().await;
    let (rec_a, _) = patients(&tv).await;
    let op = Principal::local_operator();
    let both = tv
        .named_token(
            "svc.demoted",
            &[phivault_testkit::server::RECORDS_ALL, "clinician"],
            Duration::hours(1),
        )
        .await;
    let only = tv
        .named_token(
            "svc.withdrawn",
            &[phivault_testkit::server::RECORDS_ALL],
            Duration::hours(1),
        )
        .await;
    for token in [&both, &only] {
        let p = tv.vault.authenticate(&meta(), Some(token)).await.unwrap();
        read(&tv, &p, PurposeOfUse::Treat, rec_a).await.unwrap();
    }

    for (account, roles) in [("svc.demoted", &["clinician"][..]), ("svc.withdrawn", &[])] {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        tv.vault
            .set_user_roles(&meta(), &op, account, &roles, false)
            .await
            .unwrap();
    }
    // The clinician role alone reaches only assigned subjects: the record is now out of reach.
    let p = tv.vault.authenticate(&meta(), Some(&both)).await.unwrap();
    let names: Vec<&str> = p.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["clinician"]);
    let err = read(&tv, &p, PurposeOfUse::Treat, rec_a).await.unwrap_err();
    assert!(matches!(err, VaultError::Concealed { .. }), "{err:?}");
    // A token left with no role of its account is not a credential any more.
    let err = tv
        .vault
        .authenticate(&meta(), Some(&only))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Unauthenticated), "{err:?}");
    assert!(
        reasons(&tv, "auth.authenticate")
            .await
            .contains(&"token_roles_withdrawn".to_owned())
    );
}
