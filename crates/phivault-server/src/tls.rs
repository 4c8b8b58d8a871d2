//! TLS configuration. The rustls configuration is built with the ring provider explicitly,
//! TLS 1.3 and 1.2 only, AEAD cipher suites only. The server certificate sits behind a
//! [`CertificateSwap`], so a renewed certificate is served to new handshakes without a
//! restart and without touching open connections; client certificates (mTLS) are off,
//! optional or required, verified against a configured CA bundle.

use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{self, cipher_suite};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;

/// The ring provider restricted to AEAD suites with forward secrecy. rustls offers no
/// CBC or static-RSA suites anyway; listing them explicitly makes the policy reviewable
/// and keeps it fixed if a future rustls adds defaults.
pub fn crypto_provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..ring::default_provider()
    }
}

/// Client certificates (mTLS): whether they are asked for, and which CA vouches for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// Not asked for.
    #[default]
    Off,
    /// Asked for and verified when sent; a client without one still connects (and
    /// authenticates by bearer token as always).
    Optional {
        /// PEM bundle of the CA certificates that issue client certificates.
        ca_pem: Vec<u8>,
    },
    /// Required: a handshake without a certificate from the CA fails (45 CFR
    /// 164.312(d): the client machine authenticates as well as the caller).
    Required {
        /// PEM bundle of the CA certificates that issue client certificates.
        ca_pem: Vec<u8>,
    },
}

/// The server certificate and key in use, replaceable while the server runs: handshakes
/// after [`CertificateSwap::replace`] present the new certificate, connections already
/// open keep the session they negotiated.
#[derive(Debug, Clone)]
pub struct CertificateSwap(Arc<RwLock<Arc<CertifiedKey>>>);

impl CertificateSwap {
    /// Parses and checks a new certificate chain and key, then serves them. On error the
    /// current pair stays in use.
    pub fn replace(&self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<(), ServerError> {
        let key = certified_key(cert_chain_pem, key_pem)?;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Resolves every handshake to the current pair of a [`CertificateSwap`].
#[derive(Debug)]
struct SwapResolver(CertificateSwap);

impl ResolvesServerCert for SwapResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

/// A certificate chain and private key, parsed and checked to belong together.
fn certified_key(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, ServerError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ServerError::InvalidCertificate)?;
    if certs.is_empty() {
        return Err(ServerError::InvalidCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| ServerError::InvalidKey)?;
    let ck = CertifiedKey::from_der(certs, key, &crypto_provider())?;
    // `from_der` lets a key whose consistency it cannot judge through; refuse that too.
    ck.keys_match()?;
    Ok(Arc::new(ck))
}

/// A rustls server configuration for the given PEM certificate chain and private key:
/// TLS 1.3 and 1.2 only, AEAD suites only, ALPN `h2` then `http/1.1`, no client
/// certificates.
pub fn tls_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, ServerError> {
    tls_server(cert_chain_pem, key_pem, &ClientAuth::Off).map(|(config, _)| config)
}

/// Like [`tls_config`], with client certificates as `client_auth` says, and the handle that
/// replaces the certificate while the server runs.
pub fn tls_server(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_auth: &ClientAuth,
) -> Result<(ServerConfig, CertificateSwap), ServerError> {
    let provider = Arc::new(crypto_provider());
    let swap = CertificateSwap(Arc::new(RwLock::new(certified_key(
        cert_chain_pem,
        key_pem,
    )?)));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_auth {
        ClientAuth::Off => builder.with_no_client_auth(),
        ClientAuth::Optional { ca_pem } | ClientAuth::Required { ca_pem } => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem) {
                let cert = cert.map_err(|_| ServerError::InvalidClientCa)?;
                roots.add(cert).map_err(|_| ServerError::InvalidClientCa)?;
            }
            if roots.is_empty() {
                return Err(ServerError::InvalidClientCa);
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match client_auth {
                ClientAuth::Optional { .. } => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|_| ServerError::InvalidClientCa)?,
            )
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SwapResolver(swap.clone())));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, swap))
}

/// The longest client-certificate subject kept; a longer one is cut (it is recorded in
/// every audit event of the connection).
const MAX_SUBJECT_LEN: usize = 256;

/// The subject of a verified client certificate, as an RFC 4514 string
/// (`CN=clinic-app,O=Example Clinic`); `None` if it does not parse (rustls verified the
/// chain already, so that does not happen for a certificate it accepted).
pub(crate) fn certificate_subject(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let mut subject = parsed.tbs_certificate.subject.to_string();
    if subject.len() > MAX_SUBJECT_LEN {
        let end = (0..=MAX_SUBJECT_LEN)
            .rev()
            .find(|&i| subject.is_char_boundary(i))
            .unwrap_or(0);
        subject.truncate(end);
    }
    Some(subject)
}
