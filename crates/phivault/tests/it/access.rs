//! Identity and access, end to end: the declarative access matrix in
//! `data/access-matrix.csv` (role × action × collection × subject × purpose → status and
//! exact projection) checked row by row against a running server.

use std::collections::BTreeMap;

use phivault_api::Collection;
use phivault_client::{Client, ClientError};
use phivault_core::{
    DataAction, Grant, Mask, Principal, PurposeOfUse, RequestMeta, Role, SubjectId, SubjectScope,
};
use phivault_testkit::TestVault;
use phivault_testkit::synthetic::{Synth, patient_schema};
use serde_json::{Map, Value, json};
use time::Duration;

const ROLES: [&str; 7] = [
    "admin",
    "auditor",
    "researcher",
    "clinician",
    "billing",
    "front-desk",
    "lab-tech",
];

fn labs_schema() -> Value {
    json!({"name": "labs", "fields": [
        {"name": "test", "type": "string", "sensitivity": {"class": "health"}, "searchable": true, "required": true},
        {"name": "value", "type": "decimal", "sensitivity": {"class": "health"}},
        {"name": "unit", "type": "string", "sensitivity": {"class": "none"}},
        {"name": "notes", "type": "text", "sensitivity": {"class": "health"}}
    ]})
}

fn custom_roles() -> Vec<Role> {
    let set = |v: &[PurposeOfUse]| v.iter().copied().collect();
    let acts = |v: &[DataAction]| v.iter().copied().collect();
    vec![
        Role {
            name: "front-desk".into(),
            description: "Registration: demographics only.".into(),
            scopes: Default::default(),
            grants: vec![Grant {
                collections: vec!["patients".into()],
                actions: acts(&[DataAction::Read, DataAction::Search, DataAction::Create]),
                fields: vec!["full_name".into(), "phone".into(), "birth_date".into()],
                masked: BTreeMap::new(),
                subjects: SubjectScope::All,
                purposes: set(&[PurposeOfUse::Hoperat]),
            }],
        },
        Role {
            name: "lab-tech".into(),
            description: "Lab results of assigned patients; notes redacted.".into(),
            scopes: Default::default(),
            grants: vec![Grant {
                collections: vec!["labs".into()],
                actions: acts(&[
                    DataAction::Read,
                    DataAction::Create,
                    DataAction::Update,
                    DataAction::History,
                ]),
                fields: vec!["*".into()],
                masked: [("notes".to_owned(), Mask::Redact)].into_iter().collect(),
                subjects: SubjectScope::Assigned,
                purposes: set(&[PurposeOfUse::Treat]),
            }],
        },
    ]
}

struct Fixture {
    tv: TestVault,
    clients: BTreeMap<&'static str, String>,
    /// (collection, subject) → (record id, the stored data) of the record reads look at.
    target: BTreeMap<(String, String), (uuid::Uuid, Map<String, Value>)>,
}

fn subject_id(s: &str) -> &'static str {
    if s == "assigned" {
        "subj-assigned"
    } else {
        "subj-other"
    }
}

fn record_for(collection: &str, subject: &str, marker: &str) -> Value {
    if collection == "patients" {
        let mut p = Synth::new(if subject == "assigned" { 11 } else { 12 }).patient();
        p["full_name"] = json!(format!("{marker} {subject}"));
        p
    } else {
        json!({"test": format!("{marker}-{subject}"), "value": 5.4, "unit": "mmol/L",
               "notes": "Fasting sample, repeat in a week."})
    }
}

async fn fixture() -> Fixture {
    let tv = TestVault::start().await;
    let admin = tv.admin_client();
    for schema in [patient_schema("patients"), labs_schema()] {
        let c: Collection = serde_json::from_value(schema).unwrap();
        admin.create_collection(&c).await.unwrap();
    }
    let op = Principal::local_operator();
    let meta = RequestMeta::default();
    for role in custom_roles() {
        tv.vault.put_role(&meta, &op, role).await.unwrap();
    }
    let mut clients = BTreeMap::new();
    for role in ROLES {
        let account = format!("acct-{role}");
        tv.vault
            .create_service_account(&meta, &op, &account, &[role.to_owned()], false)
            .await
            .unwrap();
        let (_, secret) = tv
            .vault
            .create_token(
                &meta,
                &op,
                &account,
                "m",
                &[role.to_owned()],
                Duration::days(1),
            )
            .await
            .unwrap();
        tv.vault
            .assign_subject(
                &meta,
                &op,
                &account,
                &SubjectId::parse("subj-assigned").unwrap(),
                None,
            )
            .await
            .unwrap();
        clients.insert(role, secret.expose_secret().to_owned());
    }
    let mut target = BTreeMap::new();
    let app = tv.client();
    for coll in ["patients", "labs"] {
        for subj in ["assigned", "other"] {
            let data = record_for(coll, subj, "Target");
            let rec = app
                .create_record(coll, subject_id(subj), data)
                .await
                .unwrap();
            target.insert((coll.to_owned(), subj.to_owned()), (rec.id, rec.data));
        }
    }
    Fixture {
        tv,
        clients,
        target,
    }
}

fn expected_projection(spec: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for item in spec.split('|') {
        let (field, mask) = match item.split_once(':') {
            Some((f, "last4")) => (f, Some(Mask::Last4)),
            Some((f, "redact")) => (f, Some(Mask::Redact)),
            Some((_, other)) => panic!("unknown mask {other}"),
            None => (item, None),
        };
        if let Some(v) = stored.get(field) {
            out.insert(field.to_owned(), mask.map_or(v.clone(), |m| m.apply(v)));
        }
    }
    out
}

fn outcome(
    r: Result<Vec<Map<String, Value>>, ClientError>,
    created: bool,
) -> (String, Vec<Map<String, Value>>) {
    match r {
        Ok(items) if items.is_empty() => ("200:empty".to_owned(), items),
        Ok(items) => (
            (if created { "201:created" } else { "200:ok" }).to_owned(),
            items,
        ),
        Err(ClientError::Api { status, problem }) => (format!("{status}:{}", problem.code), vec![]),
        Err(e) => panic!("transport failure: {e}"),
    }
}

#[tokio::test]
async fn the_access_matrix_holds_row_by_row() {
    let fx = fixture().await;
    let text = include_str!("data/access-matrix.csv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split(',').collect();
        let [
            role,
            action,
            coll,
            subj,
            purpose,
            written,
            expect,
            projection,
        ] = cols[..]
        else {
            panic!("bad row {line}");
        };
        let mut client: Client = fx.tv.client_with(Some(&fx.clients[role]));
        if purpose != "none" {
            client = client.with_purpose(purpose);
        }
        let subject = subject_id(subj);
        let key = (coll.to_owned(), subj.to_owned());
        let (target_id, stored) = fx.target[&key].clone();
        let only = |data: Value| -> Value {
            let keep: Vec<&str> = written.split('|').collect();
            let mut m = data.as_object().unwrap().clone();
            m.retain(|k, _| keep.contains(&k.as_str()));
            Value::Object(m)
        };
        let (got, items, compare_to) = match action {
            "read" => {
                let (g, i) = outcome(
                    client
                        .get_record(coll, target_id)
                        .await
                        .map(|r| vec![r.data]),
                    false,
                );
                (g, i, stored.clone())
            }
            "history" => {
                let r = client.history(coll, target_id).await.map(|l| {
                    l.items
                        .into_iter()
                        .map(|r| r.data)
                        .take(1)
                        .collect::<Vec<_>>()
                });
                let (g, i) = outcome(r, false);
                (g, i, stored.clone())
            }
            "search" => {
                let (field, value) = if coll == "patients" {
                    ("full_name", stored["full_name"].clone())
                } else {
                    ("test", stored["test"].clone())
                };
                let r = client
                    .search(coll, field, value)
                    .await
                    .map(|l| l.items.into_iter().map(|r| r.data).collect());
                let (g, i) = outcome(r, false);
                (g, i, stored.clone())
            }
            "create" => {
                let data = only(record_for(coll, subj, "Created"));
                let r = client
                    .create_record(coll, subject, data.clone())
                    .await
                    .map(|r| vec![r.data]);
                let (g, i) = outcome(r, true);
                (g, i, data.as_object().unwrap().clone())
            }
            "update" => {
                let fresh = fx
                    .tv
                    .client()
                    .create_record(coll, subject, record_for(coll, subj, "Updatable"))
                    .await
                    .unwrap();
                let data = only(record_for(coll, subj, "Updated"));
                let r = client
                    .update_record(coll, fresh.id, 1, data.clone())
                    .await
                    .map(|r| vec![r.data]);
                let (g, i) = outcome(r, false);
                // Fields the writer may not write keep their stored values.
                let mut merged = fresh.data.clone();
                merged.extend(data.as_object().unwrap().clone());
                (g, i, merged)
            }
            "delete" => {
                let fresh = fx
                    .tv
                    .client()
                    .create_record(coll, subject, record_for(coll, subj, "Deletable"))
                    .await
                    .unwrap();
                let r = client
                    .delete_record(coll, fresh.id, None)
                    .await
                    .map(|_| vec![Map::new()]);
                let (g, _) = outcome(r, false);
                (g, vec![], Map::new())
            }
            other => panic!("unknown action {other}"),
        };
        checked += 1;
        if got != expect {
            failures.push(format!("{line}\n   got {got}"));
            continue;
        }
        if projection != "-" && action != "delete" {
            let want = expected_projection(projection, &compare_to);
            for item in &items {
                if item != &want {
                    failures.push(format!(
                        "{line}\n   projection {item:?}\n   wanted     {want:?}"
                    ));
                }
            }
        }
    }
    assert!(checked >= 150, "only {checked} rows");
    assert!(
        failures.is_empty(),
        "{} of {checked} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every decision, allowed or not, left an audit event naming the rule that decided.
    let events: Vec<_> = fx
        .tv
        .audit_entries()
        .await
        .iter()
        .map(|e| e.event().unwrap())
        .filter(|e| e.action.starts_with("record."))
        .collect();
    assert!(events.len() >= checked);
    assert!(
        events.iter().all(|e| e.reason.is_some()),
        "an event without its rule"
    );
}
