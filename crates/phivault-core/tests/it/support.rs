//! A vault over a fresh SQLite store in a temporary directory, a manual clock, and
//! principals built from roles, so tests reach the `Vault` API directly.

use std::sync::Arc;

use phivault_core::audit::{Actor, ActorKind};
use phivault_core::crypto::Keyring;
use phivault_core::{
    CollectionName, CollectionSchema, ManualClock, Principal, PurposeOfUse, RequestMeta, Role,
    Vault, VaultConfig,
};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;
use tempfile::TempDir;
use time::macros::datetime;

/// A vault and what keeps it alive.
pub(crate) struct Fixture {
    pub(crate) vault: Vault,
    pub(crate) store: Arc<SqliteStore>,
    _dir: TempDir,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("vault.db"), SqliteOptions::default()).unwrap(),
    );
    let clock = Arc::new(ManualClock::new(datetime!(2026-03-01 08:00 UTC)));
    let vault = Vault::new(
        store.clone(),
        Keyring::generate().unwrap(),
        clock,
        VaultConfig::default(),
    );
    Fixture {
        vault,
        store,
        _dir: dir,
    }
}

pub(crate) fn meta() -> RequestMeta {
    RequestMeta {
        request_id: "test".to_owned(),
        source: None,
    }
}

/// A principal acting with `roles` for `purpose`.
pub(crate) fn principal(id: &str, roles: Vec<Role>, purpose: PurposeOfUse) -> Principal {
    Principal {
        id: id.to_owned(),
        actor: Actor {
            kind: ActorKind::Token,
            id: Some(id.to_owned()),
        },
        auth_method: "api_token",
        roles,
        purpose: Some(purpose),
        authenticated_at: None,
        step_up_exempt: true,
    }
}

/// Reads and writes every collection for treatment, on every subject.
pub(crate) fn clinician(id: &str) -> Principal {
    principal(
        id,
        vec![
            serde_json::from_value(json!({
                "name": "test_clinician",
                "description": "test",
                "scopes": [],
                "grants": [{
                    "collections": ["*"],
                    "actions": ["create", "read", "update", "delete", "search", "history"],
                    "fields": ["*"],
                    "masked": {},
                    "subjects": "all",
                    "purposes": ["TREAT", "ETREAT"],
                }],
            }))
            .unwrap(),
        ],
        PurposeOfUse::Treat,
    )
}

/// Declares `notes` with a searchable `mrn` and a free-text `text`.
pub(crate) async fn notes(vault: &Vault) -> CollectionName {
    let schema: CollectionSchema = serde_json::from_value(json!({
        "name": "notes",
        "fields": [
            {"name": "mrn", "type": "string", "sensitivity": {"class": "phi", "identifier": "medical_record_number"}, "searchable": true},
            {"name": "text", "type": "text", "sensitivity": {"class": "health"}},
        ],
    }))
    .unwrap();
    vault
        .create_collection(&meta(), &Principal::local_operator(), schema)
        .await
        .unwrap();
    CollectionName::parse("notes").unwrap()
}

/// A principal holding one built-in role.
pub(crate) fn builtin(id: &str, role: &str) -> Principal {
    principal(
        id,
        vec![phivault_core::policy::builtin_role(role).unwrap()],
        PurposeOfUse::Treat,
    )
}
