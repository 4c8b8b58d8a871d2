//! The client against a real server: TLS on a loopback port with a self-signed
//! certificate, a vault on a temporary SQLite store, every client method once.

// clippy's allow-*-in-tests settings cover `#[test]` functions only, not the helpers here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use phivault_client::api::{self, Scope};
use phivault_client::{Client, ClientError};
use phivault_core::crypto::Keyring;
use phivault_core::{ManualClock, Principal, RequestMeta, Vault, VaultConfig};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;

struct Server {
    base: String,
    ca_pem: Vec<u8>,
    token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("v.db"), SqliteOptions::default()).unwrap();
        let vault = Arc::new(Vault::new(
            Arc::new(store),
            Keyring::generate().unwrap(),
            Arc::new(ManualClock::new(
                time::macros::datetime!(2026-01-15 09:00:00 UTC),
            )),
            VaultConfig::default(),
        ));
        let (_, secret) = vault
            .create_token(
                &RequestMeta::default(),
                &Principal::local_operator(),
                "admin",
                &phivault_core::Scope::ALL,
                time::Duration::days(1),
            )
            .await
            .unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        let ca_pem = cert.cert.pem().into_bytes();
        let key_pem = cert.signing_key.serialize_pem();
        let tls = Arc::new(phivault_server::tls_config(&ca_pem, key_pem.as_bytes()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = phivault_server::router(phivault_server::AppState::new(vault));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            phivault_server::serve(listener, tls, router, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server {
            base: format!("https://{addr}"),
            ca_pem,
            token: secret.expose_secret().to_owned(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.base, token.map(str::to_owned), &self.ca_pem).unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).unwrap();
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

fn api_error(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, problem } => {
            assert_eq!(problem.status, status);
            (status, problem.code)
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[tokio::test]
async fn every_endpoint_through_the_client() {
    let server = Server::start().await;
    let c = server.client(Some(&server.token)).with_purpose("TREAT");

    assert_eq!(c.healthz().await.unwrap().status, "ok");
    assert_eq!(c.readyz().await.unwrap().status, "ok");
    assert_eq!(c.openapi().await.unwrap()["openapi"], "3.1.0");

    let schema: api::Collection = serde_json::from_value(json!({
        "name": "labs",
        "fields": [
            {"name": "mrn", "type": "string", "sensitivity": {"class": "phi", "identifier": "medical_record_number"}, "searchable": true, "required": true},
            {"name": "result", "type": "decimal", "sensitivity": {"class": "health"}}
        ]
    }))
    .unwrap();
    assert_eq!(c.create_collection(&schema).await.unwrap(), schema);
    assert_eq!(c.get_collection("labs").await.unwrap(), schema);
    assert_eq!(
        c.list_collections().await.unwrap().items,
        vec![schema.clone()]
    );
    let (status, code) = api_error(c.create_collection(&schema).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "collection_exists"));

    let r = c
        .create_record("labs", "subj-9", json!({"mrn": "MRN-0001", "result": 5.5}))
        .await
        .unwrap();
    assert_eq!(r.version, 1);
    assert_eq!(
        c.get_record("labs", r.id).await.unwrap().data["mrn"],
        "MRN-0001"
    );
    let (status, code) = api_error(
        c.create_record("labs", "subj-9", json!({"result": "high"}))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (422, "validation_failed"));

    let (status, _) = api_error(
        c.update_record("labs", r.id, 7, json!({"mrn": "MRN-0001"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 412);
    let r2 = c
        .update_record("labs", r.id, 1, json!({"mrn": "MRN-0001", "result": 6.0}))
        .await
        .unwrap();
    assert_eq!(r2.version, 2);
    assert_eq!(c.history("labs", r.id).await.unwrap().items.len(), 2);
    assert_eq!(
        c.get_record_version("labs", r.id, 1).await.unwrap().data["result"],
        5.5
    );
    let found = c.search("labs", "mrn", json!("MRN-0001")).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].id, r.id);

    c.create_record("labs", "subj-9", json!({"mrn": "MRN-0002"}))
        .await
        .unwrap();
    let page1 = c
        .list_subject_records("subj-9", None, Some(1))
        .await
        .unwrap();
    assert_eq!(page1.items.len(), 1);
    let cursor = page1.next_cursor.expect("a second page");
    let page2 = c
        .list_subject_records("subj-9", Some(&cursor), Some(1))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert_ne!(page1.items[0].id, page2.items[0].id);
    let all = c.list_subject_records("subj-9", None, None).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(all.next_cursor.is_none());

    let del = c.delete_record("labs", r.id, Some(2)).await.unwrap();
    assert_eq!(del.version, 3);
    let (status, code) = api_error(c.get_record("labs", r.id).await.unwrap_err());
    assert_eq!((status, code.as_str()), (410, "record_deleted"));

    let created = c
        .create_token("reader", &[Scope::RecordsRead], 3600)
        .await
        .unwrap();
    assert!(!format!("{created:?}").contains(&created.secret));
    let reader = server.client(Some(&created.secret));
    assert_eq!(reader.list_collections().await.unwrap().items.len(), 1);
    let (status, code) = api_error(reader.list_tokens().await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    assert_eq!(c.list_tokens().await.unwrap().items.len(), 2);
    c.revoke_token(created.token.id).await.unwrap();
    let (status, code) = api_error(reader.list_collections().await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));

    let report = c.verify_audit().await.unwrap();
    assert!(report.ok && report.entries > 10 && report.first_break.is_none());

    let anonymous = server.client(None);
    let (status, _) = api_error(anonymous.list_collections().await.unwrap_err());
    assert_eq!(status, 401);
    let (status, code) = api_error(
        server
            .client(Some(&server.token))
            .with_purpose("NOT-A-CODE")
            .list_collections()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (400, "invalid_purpose_of_use"));

    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let server = Server::start().await;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let c = Client::new(&server.base, None, other.cert.pem().as_bytes()).unwrap();
    assert!(matches!(c.healthz().await, Err(ClientError::Transport(_))));
    server.stop().await;
}
