//! The shared harness: a `phivault-testkit` vault (fast password hashing, a 64 KiB body
//! limit) driven through its router without a socket, and the request helpers every
//! module uses.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use phivault_api::{self as api, Problem};
use phivault_core::Clock;
use phivault_core::audit::AuditEntry;
use phivault_core::crypto::{TotpParams, TotpSecret, totp_code};
use phivault_core::{Principal, RequestMeta};
use phivault_testkit::TestVault;
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) const BODY_LIMIT: usize = 64 * 1024;

pub(crate) struct Harness {
    pub(crate) tv: TestVault,
    pub(crate) router: Router,
    /// The `test-app` token (role `records-all`: every subject, TREAT and ETREAT).
    pub(crate) token: String,
    /// An administrator's token (roles `admin` and `auditor`; no PHI).
    pub(crate) admin: String,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn problem(&self) -> Problem {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{:?}",
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).expect("problem document")
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) async fn harness() -> Harness {
    let tv = TestVault::start_fast(BODY_LIMIT).await;
    let admin = tv
        .token(&["admin", "auditor"], time::Duration::seconds(86_400))
        .await;
    Harness {
        router: phivault_server::router(tv.state.clone()),
        token: tv.app_token.clone(),
        admin,
        tv,
    }
}

impl Harness {
    pub(crate) async fn audit(&self) -> Vec<AuditEntry> {
        self.tv.audit_entries().await
    }

    pub(crate) async fn audit_count(&self) -> usize {
        self.audit().await.len()
    }

    pub(crate) async fn raw(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request with the data token, stating the purpose of use TREAT.
    pub(crate) fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        self.request_as(&self.token, method, uri)
            .header("x-purpose-of-use", "TREAT")
    }

    /// A request with `token` and no purpose of use.
    pub(crate) fn request_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
    ) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    pub(crate) async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.send(self.request(method, uri), body).await
    }

    /// A call with `token` and no purpose of use.
    pub(crate) async fn call_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send(self.request_as(token, method, uri), body).await
    }

    pub(crate) async fn send(&self, b: axum::http::request::Builder, body: Option<Value>) -> Reply {
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&v).unwrap())),
            None => b.body(Body::empty()),
        };
        self.raw(req.unwrap()).await
    }

    pub(crate) async fn send_bytes(&self, method: Method, uri: &str, body: Vec<u8>) -> Reply {
        let req = self
            .request(method, uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        self.raw(req).await
    }

    pub(crate) async fn create_patients(&self) {
        let r = self
            .call_as(
                &self.admin,
                Method::POST,
                "/v1/collections",
                Some(json!({
                    "name": "patients",
                    "fields": [
                        {"name": "name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
                        {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
                        {"name": "age", "type": "integer", "sensitivity": {"class": "none"}},
                        {"name": "notes", "type": "array", "sensitivity": {"class": "health"}}
                    ]
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.headers[header::LOCATION], "/v1/collections/patients");
    }
}

pub(crate) fn assert_security_headers(r: &Reply) {
    assert_eq!(
        r.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(r.headers.contains_key("x-request-id"));
}

pub(crate) const ADMIN_PASSWORD: &str = "violet-harbour-lantern-93";

/// The current TOTP code of an enrollment's `otpauth://` URI, at the vault's clock.
pub(crate) fn totp_now(h: &Harness, uri: &str) -> String {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    let secret = TotpSecret::from_base32(b32).unwrap();
    let now = u64::try_from(h.tv.clock.now().unix_timestamp()).unwrap();
    totp_code(&secret, &TotpParams::default(), now)
}

pub(crate) async fn login(
    h: &Harness,
    username: &str,
    password: &str,
    code: Option<&str>,
) -> Reply {
    let mut body = json!({"username": username, "password": password});
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    h.raw(
        Request::builder()
            .method(Method::POST)
            .uri("/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    )
    .await
}

/// Creates the human administrator `alice.admin` and returns her enrollment's URI.
pub(crate) async fn create_admin_user(h: &Harness) -> String {
    let (_, enrollment) =
        h.tv.vault
            .create_user(
                &meta(),
                &op(),
                "alice.admin",
                ADMIN_PASSWORD,
                &["admin".to_owned()],
                false,
            )
            .await
            .unwrap();
    enrollment.otpauth_uri.as_str().to_owned()
}

/// A fresh session of `alice.admin` (who must exist).
pub(crate) async fn admin_session(h: &Harness, uri: &str) -> String {
    let r = login(h, "alice.admin", ADMIN_PASSWORD, Some(&totp_now(h, uri))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let s: api::LoginResponse = serde_json::from_slice(&r.body).unwrap();
    s.session_token
}

pub(crate) fn op() -> Principal {
    Principal::local_operator()
}

pub(crate) fn meta() -> RequestMeta {
    RequestMeta::default()
}
