//! A typed async client for the phivault HTTP API, built on the `phivault-api` wire types.
//! It speaks HTTPS only, trusting exactly the root certificate it is given (typically the
//! vault's self-signed certificate), with rustls and the ring provider; the bearer token
//! never appears in `Debug` output.
#![forbid(unsafe_code)]

mod audit;
mod privacy;
mod problem;
pub mod webhook;

pub use audit::AuditExportFormat;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use phivault_api::{
    BreakGlassEpisode, BreakGlassList, BreakGlassRequest, CareRelationship, CareRelationshipKey,
    Collection, CollectionList, ComplianceGapList, CreateRecordRequest,
    CreateServiceAccountRequest, CreateTokenRequest, CreateUserRequest, CreatedToken, CreatedUser,
    DeletedRecord, HealthStatus, LoginRequest, LoginResponse, PURPOSE_HEADER, Problem, Record,
    RecordList, ResetPasswordRequest, ReviewRequest, RevokedSessions, Role, RoleList,
    SearchRequest, SetRolesRequest, TokenList, UpdateRecordRequest, User, UserList,
};
use reqwest::header::{AUTHORIZATION, HeaderValue, IF_MATCH};
use reqwest::{Method, RequestBuilder, Url};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use phivault_api as api;

/// How long one request may take end to end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Failures of a client call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a problem document.
    #[error("the server refused the request: {} ({status})", problem.code)]
    Api {
        /// The HTTP status.
        status: u16,
        /// The RFC 9457 problem document (boxed to keep `Result`s small).
        problem: Box<Problem>,
    },
    /// The server answered with an error status but no problem document (e.g. a proxy).
    #[error("unexpected response status {status}")]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
    },
    /// The request could not be sent or the answer not read or decoded.
    #[error("transport failure: {0}")]
    Transport(#[from] reqwest::Error),
    /// The trusted root certificate PEM held no certificate or could not be used.
    #[error("invalid root certificate PEM")]
    InvalidCertificate,
    /// The base URL is not an `https://` URL.
    #[error("the base URL must be an https:// URL")]
    InvalidBaseUrl,
    /// The token or purpose of use cannot be sent as an HTTP header.
    #[error("a header value contains characters HTTP does not allow")]
    InvalidHeader,
    /// TLS set-up failed.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// A client of one vault.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<Zeroizing<String>>>,
    purpose: Option<String>,
}

// The token must never reach logs through `{:?}`.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// A rustls client configuration that trusts only the certificates in `ca_pem`: ring
/// provider, TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`.
pub(crate) fn tls_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|_| ClientError::InvalidCertificate)?;
        roots
            .add(cert)
            .map_err(|_| ClientError::InvalidCertificate)?;
    }
    if roots.is_empty() {
        return Err(ClientError::InvalidCertificate);
    }
    tls_config_with_roots(roots)
}

/// The same configuration over an arbitrary root store (e.g. the public web roots).
pub(crate) fn tls_config_with_roots(
    roots: RootCertStore,
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest leaves a preconfigured ClientConfig as it is, so ALPN is set here.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl Client {
    /// A client of the vault at `base_url` (`https://host:port`), sending `token` as a
    /// bearer token, trusting the root certificate(s) in `ca_pem`.
    pub fn new(
        base_url: &str,
        token: Option<String>,
        ca_pem: &[u8],
    ) -> Result<Client, ClientError> {
        let base = Url::parse(base_url).map_err(|_| ClientError::InvalidBaseUrl)?;
        if base.scheme() != "https" || base.cannot_be_a_base() {
            return Err(ClientError::InvalidBaseUrl);
        }
        if let Some(t) = &token {
            HeaderValue::from_str(t).map_err(|_| ClientError::InvalidHeader)?;
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(ca_pem)?)
            .https_only(true)
            .user_agent(concat!("phivault-client/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Client {
            http,
            base,
            token: token.map(|t| Arc::new(Zeroizing::new(t))),
            purpose: None,
        })
    }

    /// The same client, sending `token` as its bearer token instead (e.g. the session
    /// token from [`Client::login`]).
    pub fn with_token(mut self, token: &str) -> Result<Client, ClientError> {
        HeaderValue::from_str(token).map_err(|_| ClientError::InvalidHeader)?;
        self.token = Some(Arc::new(Zeroizing::new(token.to_owned())));
        Ok(self)
    }

    /// The same client, stating the HL7 purpose of use (e.g. `TREAT`) on every request.
    pub fn with_purpose(mut self, code: &str) -> Client {
        self.purpose = Some(code.to_owned());
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The URL of `segments` below the base; each segment is percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| ClientError::InvalidBaseUrl)?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> Result<RequestBuilder, ClientError> {
        let mut req = self.http.request(method, url);
        if let Some(token) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", token.as_str()))
                .map_err(|_| ClientError::InvalidHeader)?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        if let Some(p) = &self.purpose {
            let v = HeaderValue::from_str(p).map_err(|_| ClientError::InvalidHeader)?;
            req = req.header(PURPOSE_HEADER, v);
        }
        Ok(req)
    }

    /// Sends a request and returns the raw response if it succeeded, else the problem.
    async fn send(&self, req: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let res = req.send().await?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body = res.bytes().await?;
        match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Api {
                status: status.as_u16(),
                problem: Box::new(problem),
            }),
            Err(_) => Err(ClientError::UnexpectedResponse {
                status: status.as_u16(),
            }),
        }
    }

    async fn json<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        Ok(self.send(req).await?.json::<T>().await?)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        let req = self.request(Method::GET, self.url(segments)?)?;
        self.json(req).await
    }

    // ----- probes ----------------------------------------------------------------------

    /// `GET /healthz`: the server process is alive.
    pub async fn healthz(&self) -> Result<HealthStatus, ClientError> {
        self.get(&["healthz"]).await
    }

    /// `GET /readyz`: the server is ready and its store reachable.
    pub async fn readyz(&self) -> Result<HealthStatus, ClientError> {
        self.get(&["readyz"]).await
    }

    /// `GET /v1/openapi.json`: the API description.
    pub async fn openapi(&self) -> Result<Value, ClientError> {
        self.get(&["v1", "openapi.json"]).await
    }

    // ----- collections -----------------------------------------------------------------

    /// Declares a collection.
    pub async fn create_collection(
        &self,
        collection: &Collection,
    ) -> Result<Collection, ClientError> {
        let req = self
            .request(Method::POST, self.url(&["v1", "collections"])?)?
            .json(collection);
        self.json(req).await
    }

    /// One collection's schema.
    pub async fn get_collection(&self, name: &str) -> Result<Collection, ClientError> {
        self.get(&["v1", "collections", name]).await
    }

    /// Every collection.
    pub async fn list_collections(&self) -> Result<CollectionList, ClientError> {
        self.get(&["v1", "collections"]).await
    }

    // ----- records ---------------------------------------------------------------------

    /// Stores a new record about `subject` in `collection`.
    pub async fn create_record(
        &self,
        collection: &str,
        subject: &str,
        data: Value,
    ) -> Result<Record, ClientError> {
        let body = CreateRecordRequest {
            subject: subject.to_owned(),
            data,
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "collections", collection, "records"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    /// The current version of a record.
    pub async fn get_record(&self, collection: &str, id: Uuid) -> Result<Record, ClientError> {
        let id = id.to_string();
        self.get(&["v1", "collections", collection, "records", &id])
            .await
    }

    /// One version of a record.
    pub async fn get_record_version(
        &self,
        collection: &str,
        id: Uuid,
        version: u64,
    ) -> Result<Record, ClientError> {
        let (id, version) = (id.to_string(), version.to_string());
        self.get(&[
            "v1",
            "collections",
            collection,
            "records",
            &id,
            "versions",
            &version,
        ])
        .await
    }

    /// Every version of a record, oldest first.
    pub async fn history(&self, collection: &str, id: Uuid) -> Result<RecordList, ClientError> {
        let id = id.to_string();
        self.get(&["v1", "collections", collection, "records", &id, "versions"])
            .await
    }

    /// Replaces a record's data; `expected_version` must be its current version, or the
    /// server answers 412.
    pub async fn update_record(
        &self,
        collection: &str,
        id: Uuid,
        expected_version: u64,
        data: Value,
    ) -> Result<Record, ClientError> {
        let id = id.to_string();
        let req = self
            .request(
                Method::PUT,
                self.url(&["v1", "collections", collection, "records", &id])?,
            )?
            .header(IF_MATCH, format!("\"{expected_version}\""))
            .json(&UpdateRecordRequest { data });
        self.json(req).await
    }

    /// Soft-deletes a record; with `expected_version`, only if it is still current.
    pub async fn delete_record(
        &self,
        collection: &str,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<DeletedRecord, ClientError> {
        let id = id.to_string();
        let mut req = self.request(
            Method::DELETE,
            self.url(&["v1", "collections", collection, "records", &id])?,
        )?;
        if let Some(v) = expected_version {
            req = req.header(IF_MATCH, format!("\"{v}\""));
        }
        self.json(req).await
    }

    /// Records of `collection` whose searchable `field` equals `value`. The value travels
    /// in the body, never in the URL.
    pub async fn search(
        &self,
        collection: &str,
        field: &str,
        value: Value,
    ) -> Result<RecordList, ClientError> {
        let body = SearchRequest {
            field: field.to_owned(),
            value,
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "collections", collection, "search"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    /// One page of a subject's live records; pass the previous page's `next_cursor`.
    pub async fn list_subject_records(
        &self,
        subject: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<RecordList, ClientError> {
        let mut url = self.url(&["v1", "subjects", subject, "records"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            if let Some(l) = limit {
                q.append_pair("limit", &l.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    // ----- login and sessions ----------------------------------------------------------

    /// `POST /v1/auth/login`: logs a human user in with password and second factor (a TOTP
    /// code or a recovery code). The answer's `session_token` is the bearer token of the
    /// session: pass it to [`Client::with_token`]. No bearer token is sent.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            code: code.map(str::to_owned),
        };
        let req = self
            .http
            .post(self.url(&["v1", "auth", "login"])?)
            .json(&body);
        let res = self.json(req).await;
        // the request body held the password; clear our copy
        let LoginRequest { password, code, .. } = body;
        drop((Zeroizing::new(password), code.map(Zeroizing::new)));
        res
    }

    /// `POST /v1/auth/logout`: ends the session whose token this client sends.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let req = self.request(Method::POST, self.url(&["v1", "auth", "logout"])?)?;
        self.send(req).await?;
        Ok(())
    }

    // ----- users and service accounts --------------------------------------------------

    /// Every user and service account.
    pub async fn list_users(&self) -> Result<UserList, ClientError> {
        self.get(&["v1", "users"]).await
    }

    /// Creates a human user; the answer holds their second-factor enrollment (shown once).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<CreatedUser, ClientError> {
        let body = CreateUserRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "users"])?)?
            .json(&body);
        let res = self.json(req).await;
        drop(Zeroizing::new(body.password));
        res
    }

    /// Creates a service account, the owner of API tokens.
    pub async fn create_service_account(
        &self,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<User, ClientError> {
        let body = CreateServiceAccountRequest {
            username: username.to_owned(),
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "service-accounts"])?)?
            .json(&body);
        self.json(req).await
    }

    async fn user_action<T: DeserializeOwned>(
        &self,
        username: &str,
        action: &str,
    ) -> Result<T, ClientError> {
        let req = self.request(Method::POST, self.url(&["v1", "users", username, action])?)?;
        self.json(req).await
    }

    /// Disables an account and ends its sessions.
    pub async fn disable_user(&self, username: &str) -> Result<User, ClientError> {
        self.user_action(username, "disable").await
    }

    /// Enables a disabled account.
    pub async fn enable_user(&self, username: &str) -> Result<User, ClientError> {
        self.user_action(username, "enable").await
    }

    /// Ends every session of a user; returns how many ended.
    pub async fn revoke_sessions(&self, username: &str) -> Result<u64, ClientError> {
        let r: RevokedSessions = self.user_action(username, "revoke-sessions").await?;
        Ok(r.revoked)
    }

    /// Sets a new password for a user (ends their sessions).
    pub async fn reset_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<User, ClientError> {
        let body = ResetPasswordRequest {
            password: password.to_owned(),
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "users", username, "reset-password"])?,
            )?
            .json(&body);
        let res = self.json(req).await;
        drop(Zeroizing::new(body.password));
        res
    }

    /// Replaces a user's roles.
    pub async fn set_user_roles(
        &self,
        username: &str,
        roles: &[String],
        allow_admin_phi: bool,
    ) -> Result<User, ClientError> {
        let body = SetRolesRequest {
            roles: roles.to_vec(),
            allow_admin_phi,
        };
        let req = self
            .request(Method::PUT, self.url(&["v1", "users", username, "roles"])?)?
            .json(&body);
        self.json(req).await
    }

    // ----- roles -----------------------------------------------------------------------

    /// Every role, built-in ones first.
    pub async fn list_roles(&self) -> Result<RoleList, ClientError> {
        self.get(&["v1", "roles"]).await
    }

    /// Defines or replaces a custom role.
    pub async fn put_role(&self, role: &Role) -> Result<Role, ClientError> {
        let req = self
            .request(Method::PUT, self.url(&["v1", "roles", &role.name])?)?
            .json(role);
        self.json(req).await
    }

    // ----- care relationships ----------------------------------------------------------

    /// Links a user or service account to a subject (until `expires_at`, if given).
    pub async fn assign_subject(
        &self,
        username: &str,
        subject: &str,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<CareRelationship, ClientError> {
        let body = CareRelationship {
            username: username.to_owned(),
            subject: subject.to_owned(),
            expires_at,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "care-relationships"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Ends a care relationship.
    pub async fn unassign_subject(&self, username: &str, subject: &str) -> Result<(), ClientError> {
        let body = CareRelationshipKey {
            username: username.to_owned(),
            subject: subject.to_owned(),
        };
        let req = self
            .request(Method::DELETE, self.url(&["v1", "care-relationships"])?)?
            .json(&body);
        self.send(req).await?;
        Ok(())
    }

    // ----- break-glass and compliance --------------------------------------------------

    /// Opens emergency access to one subject for `duration_minutes`, with a reason; read
    /// its records with the purpose of use `ETREAT`.
    pub async fn open_break_glass(
        &self,
        subject: &str,
        reason: &str,
        duration_minutes: i64,
    ) -> Result<BreakGlassEpisode, ClientError> {
        let body = BreakGlassRequest {
            subject: subject.to_owned(),
            reason: reason.to_owned(),
            duration_minutes,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "break-glass"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Break-glass episodes: only those awaiting review with `open_only`, else all.
    pub async fn list_break_glass(&self, open_only: bool) -> Result<BreakGlassList, ClientError> {
        let mut url = self.url(&["v1", "break-glass"])?;
        if open_only {
            url.query_pairs_mut().append_pair("open", "true");
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    /// Closes the review of a break-glass episode with a note.
    pub async fn review_break_glass(
        &self,
        id: &str,
        note: &str,
    ) -> Result<BreakGlassEpisode, ClientError> {
        let body = ReviewRequest {
            note: note.to_owned(),
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "break-glass", id, "review"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    /// The compliance self-check's findings.
    pub async fn compliance_gaps(&self) -> Result<ComplianceGapList, ClientError> {
        self.get(&["v1", "compliance", "gaps"]).await
    }

    // ----- tokens -------------------------------------------------------------------

    /// Issues an API token for the service account `owner`, carrying `roles` (a subset of
    /// the account's) for `ttl_seconds`; the answer holds its secret.
    pub async fn create_token(
        &self,
        owner: &str,
        name: &str,
        roles: &[String],
        ttl_seconds: i64,
    ) -> Result<CreatedToken, ClientError> {
        let body = CreateTokenRequest {
            owner: owner.to_owned(),
            name: name.to_owned(),
            roles: roles.to_vec(),
            ttl_seconds,
        };
        let req = self
            .request(Method::POST, self.url(&["v1", "tokens"])?)?
            .json(&body);
        self.json(req).await
    }

    /// Replaces a token with a new secret (same owner, roles and lifetime) and revokes the
    /// old one; the answer holds the new secret.
    pub async fn rotate_token(&self, id: Uuid) -> Result<CreatedToken, ClientError> {
        let id = id.to_string();
        let req = self.request(Method::POST, self.url(&["v1", "tokens", &id, "rotate"])?)?;
        self.json(req).await
    }

    /// Every token's public description.
    pub async fn list_tokens(&self) -> Result<TokenList, ClientError> {
        self.get(&["v1", "tokens"]).await
    }

    /// Revokes a token at once.
    pub async fn revoke_token(&self, id: Uuid) -> Result<(), ClientError> {
        let id = id.to_string();
        let req = self.request(Method::DELETE, self.url(&["v1", "tokens", &id])?)?;
        self.send(req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_A_CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    #[test]
    fn only_https_base_urls_and_real_certificates_are_accepted() {
        assert!(matches!(
            Client::new("http://localhost:1", None, b""),
            Err(ClientError::InvalidBaseUrl)
        ));
        assert!(matches!(
            Client::new("not a url", None, b""),
            Err(ClientError::InvalidBaseUrl)
        ));
        assert!(matches!(
            Client::new("https://localhost:1", None, b"no pem here"),
            Err(ClientError::InvalidCertificate)
        ));
        assert!(matches!(
            Client::new("https://localhost:1", None, NOT_A_CERT),
            Err(ClientError::InvalidCertificate)
        ));
    }

    #[test]
    fn urls_percent_encode_segments() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let c = Client::new("https://localhost:8443", None, cert.cert.pem().as_bytes()).unwrap();
        let u = c.url(&["v1", "collections", "a/b c"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://localhost:8443/v1/collections/a%2Fb%20c"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let c = Client::new(
            "https://localhost:8443",
            Some("pvt_CANARY_SECRET".to_owned()),
            cert.cert.pem().as_bytes(),
        )
        .unwrap()
        .with_purpose("TREAT");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("CANARY"), "{dbg}");
        assert!(dbg.contains("[REDACTED]") && dbg.contains("TREAT"));
    }
}
