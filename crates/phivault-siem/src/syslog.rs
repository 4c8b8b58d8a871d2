//! RFC 5424 messages, octet-counted framing (RFC 6587 §3.4.1, as RFC 5425 requires over
//! TLS), and the TCP/TLS connection.

use std::sync::Arc;

use phivault_core::audit::{AuditEvent, Outcome};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::SiemError;

/// The syslog facility: 13, "log audit".
const FACILITY: u8 = 13;
/// The structured-data id (the RFC 5424 example enterprise number; configurable later).
const SD_ID: &str = "phivault@32473";

/// TLS for a syslog sink: the CA that signs the receiver's certificate, and the name to
/// check it against.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificates to trust.
    pub ca_pem: Vec<u8>,
    /// The receiver's DNS name or IP address as in its certificate.
    pub server_name: String,
}

fn printable(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() { "-".to_owned() } else { t }
}

/// One RFC 5424 message: `<PRI>1 TIME HOST APP - MSGID [phivault@32473 seq="N"] MSG`,
/// with the OCSF JSON as MSG. Severity: 6 (info) for success, 4 (warning) for denied or
/// invalid, 3 (error) for errors.
pub fn rfc5424(hostname: &str, app: &str, seq: u64, ev: &AuditEvent, msg: &str) -> String {
    let severity = match ev.outcome {
        Outcome::Success => 6,
        Outcome::Denied | Outcome::Invalid => 4,
        Outcome::Error => 3,
    };
    let pri = u16::from(FACILITY) * 8 + severity;
    let ts = ev.time.format(&Rfc3339).unwrap_or_else(|_| "-".to_owned());
    format!(
        "<{pri}>1 {ts} {} {} - {} [{SD_ID} seq=\"{seq}\"] {msg}",
        printable(hostname, 255),
        printable(app, 48),
        printable(&ev.action, 32),
    )
}

/// A tree-head witness message: notice severity, MSGID `audit.tree_head`, the head JSON.
pub(crate) fn rfc5424_head(hostname: &str, tree_size: u64, head_json: &str) -> String {
    let pri = u16::from(FACILITY) * 8 + 5;
    format!(
        "<{pri}>1 - {} phivault - audit.tree_head [{SD_ID} tree_size=\"{tree_size}\"] {head_json}",
        printable(hostname, 255),
    )
}

/// Octet-counted framing: `LEN SP MSG`.
pub fn frame_octet_counted(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

/// A connected syslog transport.
pub(crate) type Conn = Box<dyn AsyncWrite + Unpin + Send>;

pub(crate) async fn connect(addr: &str, tls: Option<&TlsSettings>) -> Result<Conn, SiemError> {
    match tls {
        None => {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp))
        }
        Some(tls) => Ok(Box::new(connect_stream(addr, tls).await?)),
    }
}

/// A TLS stream to `addr`, checked against `tls`.
async fn connect_stream(
    addr: &str,
    tls: &TlsSettings,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SiemError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&tls.ca_pem) {
        let cert = cert.map_err(|e| SiemError::Tls(e.to_string()))?;
        roots.add(cert).map_err(|e| SiemError::Tls(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| SiemError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        ServerName::try_from(tls.server_name.clone()).map_err(|e| SiemError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// Writes frames and flushes them.
pub(crate) async fn send(conn: &mut Conn, frames: &[Vec<u8>]) -> Result<(), SiemError> {
    for f in frames {
        conn.write_all(f).await?;
    }
    conn.flush().await?;
    Ok(())
}
