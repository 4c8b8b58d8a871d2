//! Audit events as OCSF 1.3 events, for SIEMs.
//!
//! The mapping (documented here and in ARCHITECTURE.md):
//!
//! | phivault action | OCSF class | activity |
//! |---|---|---|
//! | `auth.*` (authenticate, login, logout, session refresh) | Authentication (3002, category 3; `service.name` = `phivault`) | `logout` → 2 Logoff; other → 1 Logon |
//! | `user.*`, `token.*`, `service_account.*`, `role.*`, `grant.*` | Account Change (3001, category 3) | create → 1, enable → 2, password → 3/4, disable/revoke → 5, delete → 6, other → 99 |
//! | everything else (`record.*`, `collection.*`, `audit.*`, `keys.*`, …) | API Activity (6003, category 6) | create → 1 Create, read/search/list/history/query/export/verify → 2 Read, update → 3 Update, delete → 4 Delete, other → 99 |
//!
//! Common attributes: `time` (ms), `metadata` (product `phivault`, OCSF version, `sequence`
//! = audit seq, `uid` = `audit-<seq>` so a SIEM can deduplicate redeliveries,
//! `correlation_uid` = request id, `event_code` = action), `severity_id` (1 success, 3
//! denied/invalid, 4 error), `status_id` (1 success, 2 failure) with `status_detail` = the
//! stable reason code, `actor.user.uid` (token or user id), `src_endpoint` (ip or name),
//! and the record as a `resources` entry. phivault-specific facts (purpose of use, subject
//! id, field names, counts) go in `unmapped`. Like the event itself, nothing carries a PHI
//! value.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::event::{ActorKind, AuditEvent, Outcome};

/// The OCSF schema version the encoding targets.
pub const OCSF_VERSION: &str = "1.3.0";

/// The OCSF class of an action, and its activity id within the class.
pub fn classify(action: &str) -> (u32, u32, u32) {
    let verb = action.rsplit('.').next().unwrap_or(action);
    let family = action.split('.').next().unwrap_or(action);
    match family {
        "auth" => {
            let activity = if verb.contains("logout") { 2 } else { 1 };
            (3002, 3, activity)
        }
        "user" | "token" | "service_account" | "role" | "grant" => {
            let activity = match verb {
                v if v.contains("create") || v.contains("put") || v.contains("add") => 1,
                v if v.contains("enable") => 2,
                v if v.contains("reset") => 4,
                v if v.contains("password") => 3,
                v if v.contains("disable") || v.contains("revoke") => 5,
                v if v.contains("delete") || v.contains("remove") => 6,
                _ => 99,
            };
            (3001, 3, activity)
        }
        _ => {
            let activity = match verb {
                v if v.contains("create") => 1,
                "read" | "search" | "list" | "list_records" | "history" | "query" | "export"
                | "verify" | "tree_head" | "inclusion" | "consistency" | "get" => 2,
                v if v.contains("update") || v.contains("rewrap") => 3,
                v if v.contains("delete") => 4,
                _ => 99,
            };
            (6003, 6, activity)
        }
    }
}

fn endpoint(source: Option<&str>) -> Value {
    match source {
        Some(s) if s.parse::<IpAddr>().is_ok() => json!({"ip": s}),
        Some(s) => {
            // "addr:port" from a socket address.
            if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
                json!({"ip": sa.ip().to_string(), "port": sa.port()})
            } else {
                json!({"name": s})
            }
        }
        None => json!({"name": "unknown"}),
    }
}

/// Encodes one audit entry (its seq and event) as an OCSF event object.
pub fn encode(seq: u64, ev: &AuditEvent) -> Value {
    let (class_uid, category_uid, activity_id) = classify(&ev.action);
    let time_ms = i64::try_from(ev.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let user = match (&ev.actor.id, ev.actor.kind) {
        (Some(id), _) => json!({"uid": id}),
        (None, ActorKind::System) => json!({"name": "phivault-system"}),
        (None, _) => json!({"name": "anonymous"}),
    };
    let (severity_id, status_id) = match ev.outcome {
        Outcome::Success => (1, 1),
        Outcome::Denied | Outcome::Invalid => (3, 2),
        Outcome::Error => (4, 2),
    };
    let mut o = Map::new();
    o.insert("class_uid".into(), json!(class_uid));
    o.insert("category_uid".into(), json!(category_uid));
    o.insert("activity_id".into(), json!(activity_id));
    o.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    o.insert("time".into(), json!(time_ms));
    o.insert("severity_id".into(), json!(severity_id));
    o.insert("status_id".into(), json!(status_id));
    o.insert(
        "status".into(),
        json!(if status_id == 1 { "Success" } else { "Failure" }),
    );
    if let Some(r) = &ev.reason {
        o.insert("status_detail".into(), json!(r));
    }
    o.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": {"name": "phivault", "vendor_name": "phivault", "version": env!("CARGO_PKG_VERSION")},
            "uid": format!("audit-{seq}"),
            "sequence": seq,
            "correlation_uid": ev.request_id,
            "event_code": ev.action,
            "log_name": "audit",
        }),
    );
    o.insert("actor".into(), json!({"user": user.clone()}));
    o.insert("src_endpoint".into(), endpoint(ev.source.as_deref()));
    match class_uid {
        3002 | 3001 => {
            let target = match &ev.target {
                Some(t) if class_uid == 3001 => json!({"uid": t}),
                _ => user,
            };
            o.insert("user".into(), target);
            if class_uid == 3002 {
                // The service authenticated to (Authentication needs a service or endpoint).
                o.insert("service".into(), json!({"name": "phivault"}));
            }
        }
        _ => {
            o.insert("api".into(), json!({"operation": ev.action}));
            if let Some(id) = &ev.record_id {
                let mut r = json!({"uid": id, "type": "record"});
                if let Some(c) = &ev.collection {
                    r["group"] = json!({"name": c});
                }
                o.insert("resources".into(), json!([r]));
            } else if let Some(c) = &ev.collection {
                o.insert(
                    "resources".into(),
                    json!([{"name": c, "type": "collection"}]),
                );
            }
        }
    }
    if let Some(c) = ev.count {
        o.insert("count".into(), json!(c));
    }
    o.insert(
        "unmapped".into(),
        json!({
            "auth_method": ev.auth_method,
            "outcome": ev.outcome.as_str(),
            "purpose_of_use": ev.purpose,
            "subject": ev.subject,
            "collection": ev.collection,
            "record_version": ev.version,
            "fields": ev.fields,
            "target": ev.target,
        }),
    );
    Value::Object(o)
}
