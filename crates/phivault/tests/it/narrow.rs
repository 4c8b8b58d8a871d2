//! Minimum necessary under narrow roles, over HTTPS: an update by a role that does not see
//! (or sees masked) some fields keeps those fields; `PATCH` applies a JSON Merge Patch; the
//! audit event names the fields that changed; and a record the caller may not see answers
//! exactly like one that does not exist, on every record path.

use std::collections::BTreeMap;

use phivault_api::{Collection, Problem};
use phivault_client::{Client, ClientError};
use phivault_core::{
    DataAction, Grant, Mask, Principal, PurposeOfUse, RequestMeta, Role, SubjectScope,
};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::{Synth, patient_schema};
use serde_json::{Value, json};
use time::Duration;

/// Sees and edits demographics; sees the SSN masked; never sees the clinical fields.
const REGISTRAR: &str = "registrar";
/// Every field, but only for the subjects assigned to the holder.
const ASSIGNED_ONLY: &str = "assigned-only";

fn roles() -> Vec<Role> {
    let acts = |v: &[DataAction]| v.iter().copied().collect();
    let treat = || [PurposeOfUse::Treat].into_iter().collect();
    vec![
        Role {
            name: REGISTRAR.into(),
            description: "Registration desk: demographics, SSN masked.".into(),
            scopes: Default::default(),
            grants: vec![Grant {
                collections: vec!["patients".into()],
                actions: acts(&[DataAction::Read, DataAction::Update]),
                fields: vec![
                    "full_name".into(),
                    "phone".into(),
                    "age".into(),
                    "ssn".into(),
                ],
                masked: BTreeMap::from([("ssn".to_owned(), Mask::Last4)]),
                subjects: SubjectScope::All,
                purposes: treat(),
            }],
        },
        Role {
            name: ASSIGNED_ONLY.into(),
            description: "Assigned patients only.".into(),
            scopes: Default::default(),
            grants: vec![Grant {
                collections: vec!["patients".into()],
                actions: acts(&[
                    DataAction::Read,
                    DataAction::Update,
                    DataAction::Delete,
                    DataAction::History,
                ]),
                fields: vec!["*".into()],
                masked: BTreeMap::new(),
                subjects: SubjectScope::Assigned,
                purposes: treat(),
            }],
        },
    ]
}

struct Fixture {
    tv: TestVault,
    /// The test application: every field of every record.
    app: Client,
    id: uuid::Uuid,
    stored: Value,
}

async fn fixture() -> Fixture {
    let tv = TestVault::start().await;
    let c: Collection = serde_json::from_value(patient_schema("patients")).unwrap();
    tv.admin_client().create_collection(&c).await.unwrap();
    for role in roles() {
        tv.vault
            .put_role(&RequestMeta::default(), &Principal::local_operator(), role)
            .await
            .unwrap();
    }
    let app = tv.client().with_purpose("TREAT");
    let stored = Synth::new(7).patient();
    let rec = app
        .create_record("patients", "subj-narrow", stored.clone())
        .await
        .unwrap();
    Fixture {
        app,
        id: rec.id,
        stored,
        tv,
    }
}

async fn client(tv: &TestVault, role: &str) -> Client {
    let token = tv.token(&[role], Duration::hours(1)).await;
    tv.client_with(Some(&token)).with_purpose("TREAT")
}

fn problem(r: Result<impl std::fmt::Debug, ClientError>) -> (u16, Problem) {
    match r {
        Err(ClientError::Api { status, problem }) => (status, *problem),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn last_update_fields(tv: &TestVault) -> Vec<String> {
    tv.audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .rfind(|e| e.action == "record.update")
        .map(|e| e.fields)
        .unwrap()
}

#[tokio::test]
async fn a_replace_by_a_narrow_role_keeps_the_fields_it_cannot_see() {
    let fx = fixture().await;
    let registrar = client(&fx.tv, REGISTRAR).await;
    let seen = registrar.get_record("patients", fx.id).await.unwrap();
    assert!(!seen.data.contains_key("diagnosis"), "hidden field shown");
    assert_ne!(
        seen.data["ssn"], fx.stored["ssn"],
        "masked field shown in clear"
    );

    // What the registrar sees, with a new name and without the masked SSN.
    let mut body = seen.data.clone();
    body.remove("ssn");
    body.insert("full_name".into(), json!("Renamed Synthetic"));
    let updated = registrar
        .update_record("patients", fx.id, 1, Value::Object(body))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);

    let now = fx.app.get_record("patients", fx.id).await.unwrap().data;
    assert_eq!(now["full_name"], json!("Renamed Synthetic"));
    for kept in [
        "ssn",
        "mrn",
        "birth_date",
        "weight_kg",
        "diagnosis",
        "smoker",
        "vitals",
        "allergies",
        "phone",
        "age",
    ] {
        assert_eq!(now[kept], fx.stored[kept], "{kept} was not kept");
    }
    assert_eq!(last_update_fields(&fx.tv).await, ["full_name"]);

    // Sending back the masked value it was shown is refused, and changes nothing.
    let mut masked_back = seen.data.clone();
    masked_back.insert("full_name".into(), json!("Another Name"));
    let (status, p) = problem(
        registrar
            .update_record("patients", fx.id, 2, Value::Object(masked_back))
            .await,
    );
    assert_eq!((status, p.code.as_str()), (403, "forbidden"));
    let after = fx.app.get_record("patients", fx.id).await.unwrap();
    assert_eq!((after.version, &after.data), (2, &now));
}

#[tokio::test]
async fn a_merge_patch_changes_only_what_it_names() {
    let fx = fixture().await;
    let registrar = client(&fx.tv, REGISTRAR).await;
    let rec = registrar
        .patch_record("patients", fx.id, 1, json!({"phone": null, "age": 51}))
        .await
        .unwrap();
    assert_eq!(rec.version, 2);
    let now = fx.app.get_record("patients", fx.id).await.unwrap().data;
    assert!(!now.contains_key("phone"), "null must remove the field");
    assert_eq!(now["age"], json!(51));
    for kept in ["full_name", "ssn", "diagnosis", "vitals", "allergies"] {
        assert_eq!(now[kept], fx.stored[kept], "{kept} was not kept");
    }
    let mut fields = last_update_fields(&fx.tv).await;
    fields.sort();
    assert_eq!(fields, ["age", "phone"]);

    // Nested objects merge member by member (RFC 7396).
    let rec = fx
        .app
        .patch_record("patients", fx.id, 2, json!({"vitals": {"hr": 61}}))
        .await
        .unwrap();
    let mut vitals = fx.stored["vitals"].clone();
    vitals["hr"] = json!(61);
    assert_eq!(rec.data["vitals"], vitals);

    // Refusals, each leaving the record as it was.
    let refusals: Vec<(Value, u64, u16, &str)> = vec![
        (json!({"diagnosis": "x"}), 3, 403, "forbidden"),
        (json!({"ssn": null}), 3, 403, "forbidden"),
        (json!({"age": "old"}), 3, 422, "validation_failed"),
        (json!({"full_name": null}), 3, 422, "validation_failed"),
        (json!([1, 2]), 3, 400, "invalid_request_shape"),
        (json!({"age": 52}), 2, 412, "version_mismatch"),
    ];
    for (patch, version, status, code) in refusals {
        let (s, p) = problem(
            registrar
                .patch_record("patients", fx.id, version, patch.clone())
                .await,
        );
        assert_eq!((s, p.code.as_str()), (status, code), "{patch}");
    }
    let after = fx.app.get_record("patients", fx.id).await.unwrap();
    assert_eq!(after.version, 3);
}

/// The status and body of a refusal, without the request id that differs per request.
fn answer(r: Result<impl std::fmt::Debug, ClientError>) -> (u16, Problem) {
    let (status, mut p) = problem(r);
    p.request_id.clear();
    (status, p)
}

#[tokio::test]
async fn a_record_out_of_reach_answers_exactly_like_a_missing_one() {
    let fx = fixture().await;
    let scoped = client(&fx.tv, ASSIGNED_ONLY).await;
    let missing = uuid::Uuid::now_v7();
    let patch = json!({"age": 1});
    for id in [fx.id, missing] {
        let got = [
            answer(scoped.get_record("patients", id).await),
            answer(scoped.get_record_version("patients", id, 1).await),
            answer(scoped.history("patients", id).await),
            answer(
                scoped
                    .update_record("patients", id, 1, fx.stored.clone())
                    .await,
            ),
            answer(scoped.patch_record("patients", id, 1, patch.clone()).await),
            answer(scoped.delete_record("patients", id, Some(1)).await),
        ];
        let want = answer(
            fx.app
                .get_record("patients", missing)
                .await
                .map(|r| r.version),
        );
        assert_eq!(want.0, 404);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g, &want, "path {i} for {id}");
        }
    }
    // Nothing changed, and each concealed attempt is audited as the denial it is.
    let rec = fx.app.get_record("patients", fx.id).await.unwrap();
    assert_eq!(rec.version, 1);
    let denied = fx
        .tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.record_id.as_deref() == Some(&fx.id.to_string()))
        .filter(|e| e.outcome == phivault_core::audit::Outcome::Denied)
        .count();
    assert_eq!(denied, 6);
}
