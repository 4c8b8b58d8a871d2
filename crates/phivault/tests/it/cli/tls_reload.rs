//! `serve` reloads its certificate when the files change: new connections get the renewed
//! certificate, no restart, and a connection opened before keeps working.

use super::*;

/// Writes `bytes` to `path` through a temporary file and a rename (as certificate tools
/// do), owner-only.
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("new");
    fs::write(&tmp, bytes).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn serve_reloads_a_renewed_certificate_without_dropping_connections() {
    let tmp = TempDir::new().unwrap();
    let cwd = tmp.path().join("project");
    fs::create_dir(&cwd).unwrap();
    let logs = tmp.path().join("logs");
    let tls_dir = cwd.join(".phivault-dev/tls");
    let mut cmd = phivault();
    cmd.env_remove("PHIVAULT_PASSPHRASE")
        .current_dir(&cwd)
        .args(["serve", "--dev"]);
    let server = Server::spawn(cmd, tls_dir.join("cert.pem"), &logs, "tls-reload", || true).await;
    let old_pem = fs::read(tls_dir.join("cert.pem")).unwrap();
    let open = Client::new(&server.url(), None, &old_pem).unwrap();
    open.healthz().await.unwrap();

    let renewed =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let new_pem = renewed.cert.pem();
    replace_file(
        &tls_dir.join("key.pem"),
        renewed.signing_key.serialize_pem().as_bytes(),
    );
    replace_file(&tls_dir.join("cert.pem"), new_pem.as_bytes());

    let mut served = false;
    for _ in 0..POLLS {
        let fresh = Client::new(&server.url(), None, new_pem.as_bytes()).unwrap();
        if fresh.healthz().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        served,
        "the renewed certificate was not served:\n{}",
        server.output()
    );
    // A new client trusting only the old certificate is refused now ...
    let stale = Client::new(&server.url(), None, &old_pem).unwrap();
    assert!(stale.healthz().await.is_err());
    // ... while the client connected before keeps its connection and is answered.
    open.healthz().await.unwrap();
    assert!(
        server.output().contains("TLS certificate reloaded"),
        "{}",
        server.output()
    );
}
