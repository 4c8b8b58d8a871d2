//! A typed async client for the phivault HTTP API, built on the `phivault-api` wire types.
//! It speaks HTTPS only, trusting exactly the root certificate it is given (typically the
//! vault's self-signed certificate), with rustls and the ring provider; the bearer token
//! never appears in `Debug` output.
#![forbid(unsafe_code)]

mod audit;
mod identity;
mod privacy;
mod problem;
mod records;
pub mod webhook;

pub use audit::AuditExportFormat;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use phivault_api::{ComplianceGapList, HealthStatus, PURPOSE_HEADER, Problem};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde_json::Value;
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

    // ----- compliance ----------------------------------------------------------------

    /// The compliance self-check's findings.
    pub async fn compliance_gaps(&self) -> Result<ComplianceGapList, ClientError> {
        self.get(&["v1", "compliance", "gaps"]).await
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
