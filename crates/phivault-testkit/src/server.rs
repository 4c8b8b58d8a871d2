//! An in-process vault on a temporary SQLite database, served over TLS on a loopback port
//! with a self-signed certificate and a [`ManualClock`], so tests exercise the real request
//! path (TLS → token → policy → store → audit) and move time instead of sleeping.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use phivault_client::Client;
use phivault_core::audit::AuditEntry;
use phivault_core::crypto::Keyring;
use phivault_core::store::read_tx;
use phivault_core::{
    Alert, AlertSink, DataAction, Grant, ManualClock, Principal, PurposeOfUse, RequestMeta, Role,
    SubjectScope, Vault, VaultConfig,
};
use phivault_store_sqlite::{SqliteOptions, SqliteStore};
use time::{Duration, OffsetDateTime};
use tokio::sync::oneshot;

/// A running test vault. Dropping it stops the server.
pub struct TestVault {
    /// The vault service behind the server.
    pub vault: Arc<Vault>,
    /// The clock the vault reads; advance it to expire tokens.
    pub clock: Arc<ManualClock>,
    /// Every alert the vault raised.
    pub alerts: Arc<CapturedAlerts>,
    /// The store, for looking underneath the API (tamper tests).
    pub store: Arc<SqliteStore>,
    /// The server's address on loopback.
    pub addr: SocketAddr,
    /// The PEM certificate the server presents (trust it in clients).
    pub ca_pem: Vec<u8>,
    /// A token of the `test-admin` service account (role `admin`: no PHI).
    pub admin_token: String,
    /// A token of the `test-app` service account (role [`RECORDS_ALL`]: every record).
    pub app_token: String,
    /// The state the router serves; build more routers from it to drive requests without
    /// a socket (`phivault_server::router(tv.state.clone())`), or flip its readiness.
    pub state: phivault_server::AppState,
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for TestVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestVault")
            .field("addr", &self.addr)
            .finish()
    }
}

/// The start time of every test clock: fixed, so runs are repeatable.
pub fn test_epoch() -> OffsetDateTime {
    time::macros::datetime!(2026-01-15 09:00:00 UTC)
}

impl TestVault {
    /// Starts a vault with default settings.
    pub async fn start() -> TestVault {
        Self::start_with(VaultConfig::default(), 1024 * 1024).await
    }

    /// Starts a vault whose password hashing uses the fast test parameters, with the given
    /// body limit: for tests that create and log in many users.
    pub async fn start_fast(body_limit: usize) -> TestVault {
        Self::start_with(fast_config(), body_limit).await
    }

    /// Starts a vault with the given service config and body limit.
    #[allow(clippy::expect_used)] // a harness that cannot start has nothing to report but the panic
    pub async fn start_with(config: VaultConfig, body_limit: usize) -> TestVault {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("vault.db"), SqliteOptions::default())
                .expect("open store"),
        );
        let clock = Arc::new(ManualClock::new(test_epoch()));
        let alerts = Arc::new(CapturedAlerts::default());
        let vault = Arc::new(
            Vault::new(
                store.clone(),
                Keyring::generate().expect("keyring"),
                clock.clone(),
                config,
            )
            .with_alerts(alerts.clone()),
        );
        let op = Principal::local_operator();
        let meta = RequestMeta::default();
        vault
            .put_role(&meta, &op, records_all_role())
            .await
            .expect("records-all role");
        let mut tokens = Vec::new();
        for (account, role) in [("test-admin", "admin"), ("test-app", RECORDS_ALL)] {
            vault
                .create_service_account(&meta, &op, account, &[role.to_owned()], false)
                .await
                .expect("service account");
            let (_, secret) = vault
                .create_token(
                    &meta,
                    &op,
                    account,
                    "test",
                    &[role.to_owned()],
                    Duration::days(30),
                )
                .await
                .expect("token");
            tokens.push(secret.expose_secret().to_owned());
        }
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("certificate");
        let ca_pem = cert.cert.pem().into_bytes();
        let key_pem = cert.signing_key.serialize_pem();
        let tls = Arc::new(phivault_server::tls_config(&ca_pem, key_pem.as_bytes()).expect("tls"));
        let state = phivault_server::AppState::new(vault.clone()).with_body_limit(body_limit);
        let router = phivault_server::router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // Many clients of one test share one address: no per-address connection cap
            // (the caps have tests of their own).
            let options = phivault_server::ServeOptions {
                max_connections_per_address: 0,
                ..phivault_server::ServeOptions::default()
            };
            let _ = phivault_server::serve_with(listener, tls, router, options, async {
                let _ = rx.await;
            })
            .await;
        });
        TestVault {
            vault,
            clock,
            alerts,
            store,
            addr,
            ca_pem,
            admin_token: tokens[0].clone(),
            app_token: tokens[1].clone(),
            state,
            dir,
            shutdown: Some(tx),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A client of the `test-app` service account, stating purpose TREAT.
    #[allow(clippy::expect_used)]
    pub fn client(&self) -> Client {
        self.client_with(Some(&self.app_token))
            .with_purpose("TREAT")
    }

    /// A client of the `test-admin` service account.
    pub fn admin_client(&self) -> Client {
        self.client_with(Some(&self.admin_token))
    }

    /// A client holding `token` (or none), stating no purpose.
    #[allow(clippy::expect_used)]
    pub fn client_with(&self, token: Option<&str>) -> Client {
        Client::new(&self.base_url(), token.map(str::to_owned), &self.ca_pem).expect("client")
    }

    /// Creates a service account holding `roles` and issues it a token valid for `ttl`.
    pub async fn token(&self, roles: &[&str], ttl: Duration) -> String {
        let account = format!("svc-{}", uuid::Uuid::new_v4().simple());
        self.named_token(&account, roles, ttl).await
    }

    /// Creates the service account `account` holding `roles` and issues it a token valid
    /// for `ttl`.
    #[allow(clippy::expect_used)]
    pub async fn named_token(&self, account: &str, roles: &[&str], ttl: Duration) -> String {
        let op = Principal::local_operator();
        let meta = RequestMeta::default();
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.vault
            .create_service_account(&meta, &op, account, &roles, false)
            .await
            .expect("service account");
        let (_, secret) = self
            .vault
            .create_token(&meta, &op, account, "test", &roles, ttl)
            .await
            .expect("token");
        secret.expose_secret().to_owned()
    }

    /// A person holding `roles` with a password and enrolled TOTP, logged in just now (so
    /// within the step-up window): their principal and session token.
    #[allow(clippy::expect_used)]
    pub async fn logged_in(&self, username: &str, roles: &[&str]) -> (Principal, String) {
        use phivault_core::Clock as _;
        use phivault_core::crypto::{TotpParams, TotpSecret, totp_code};
        const PASSWORD: &str = "correct horse battery staple 42";
        let meta = RequestMeta::default();
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let (_, enrollment) = self
            .vault
            .create_user(
                &meta,
                &Principal::local_operator(),
                username,
                PASSWORD,
                &roles,
                false,
            )
            .await
            .expect("user");
        let b32 = enrollment
            .otpauth_uri
            .as_str()
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("secret="))
            .expect("otpauth secret")
            .to_owned();
        let secret = TotpSecret::from_base32(&b32).expect("base32 secret");
        let now = self.clock.now().unix_timestamp() as u64;
        let code = totp_code(&secret, &TotpParams::default(), now);
        let (_, session) = self
            .vault
            .login(&meta, username, PASSWORD, Some(&code))
            .await
            .expect("login");
        let session = session.expose_secret().to_owned();
        let p = self
            .vault
            .authenticate(&meta, Some(&session))
            .await
            .expect("authenticate");
        (p, session)
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("vault.db")
    }

    /// Every audit entry, in order.
    #[allow(clippy::expect_used)]
    pub async fn audit_entries(&self) -> Vec<AuditEntry> {
        read_tx(&*self.store, |tx| Ok(tx.audit_entries(0, usize::MAX >> 1)?))
            .await
            .expect("audit entries")
    }
}

impl Drop for TestVault {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The default service config with fast (insecure) password hashing, for tests only.
pub fn fast_config() -> VaultConfig {
    VaultConfig {
        password_params: phivault_core::crypto::PasswordHashParams::insecure_fast_for_tests(),
        ..VaultConfig::default()
    }
}

/// The custom role the `test-app` account holds.
pub const RECORDS_ALL: &str = "records-all";

/// Every action on every record of every subject, for treatment and emergencies.
pub fn records_all_role() -> Role {
    Role {
        name: RECORDS_ALL.to_owned(),
        description: "Every record, for tests.".to_owned(),
        scopes: Default::default(),
        grants: vec![Grant {
            collections: vec!["*".to_owned()],
            actions: DataAction::ALL.into_iter().collect(),
            fields: vec!["*".to_owned()],
            masked: Default::default(),
            subjects: SubjectScope::All,
            purposes: [PurposeOfUse::Treat, PurposeOfUse::Etreat]
                .into_iter()
                .collect(),
        }],
    }
}

/// An alert sink that keeps what it receives, for assertions.
#[derive(Debug, Default)]
pub struct CapturedAlerts {
    seen: std::sync::Mutex<Vec<Alert>>,
}

impl CapturedAlerts {
    /// The alerts raised so far.
    pub fn all(&self) -> Vec<Alert> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl AlertSink for CapturedAlerts {
    fn alert(&self, alert: &Alert) {
        if let Ok(mut v) = self.seen.lock() {
            v.push(alert.clone());
        }
    }
}
