//! `phivault serve --dev`: a reusable development vault that speaks HTTPS only.

use super::*;

/// The value after `label` on a banner line such as `  passphrase:     abc`.
fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{banner}"))
        .trim()
        .to_owned()
}

async fn start_dev(cwd: &Path, logs: &Path, label: &str) -> Server {
    let mut cmd = phivault();
    // The dev vault never needs the operator's passphrase.
    cmd.env_remove("PHIVAULT_PASSPHRASE")
        .current_dir(cwd)
        .args(["serve", "--dev"]);
    Server::spawn(
        cmd,
        cwd.join(".phivault-dev/tls/cert.pem"),
        logs,
        label,
        || true,
    )
    .await
}

#[tokio::test]
async fn serve_dev_creates_a_reusable_development_vault_and_serves_https_only() {
    let tmp = TempDir::new().unwrap();
    let cwd = tmp.path().join("project");
    fs::create_dir(&cwd).unwrap();
    let logs = tmp.path().join("logs");
    let dev_dir = cwd.join(".phivault-dev");

    let server = start_dev(&cwd, &logs, "dev1").await;
    let banner = server.output();
    assert!(banner.contains("DEVELOPMENT VAULT"), "{banner}");
    assert!(banner.contains("NOT FOR REAL PATIENT DATA"), "{banner}");
    let pass = banner_value(&banner, "passphrase:");
    let token = banner_value(&banner, "API token:");
    assert!(pass.len() >= 32, "{pass}");
    assert!(is_token(&token), "{token}");
    assert_eq!(
        fs::read_to_string(dev_dir.join("DEV-ONLY-PASSPHRASE"))
            .unwrap()
            .trim(),
        pass
    );
    assert_eq!(mode(&dev_dir.join("DEV-ONLY-PASSPHRASE")), 0o600);
    assert_eq!(mode(&dev_dir.join("keyring.json")), 0o600);

    // The printed token works over HTTPS: it administers the vault and, in development
    // only, also reads and writes every record (with a purpose of use, as always).
    let c = server.client(&token);
    c.create_collection(&notes_schema("notes")).await.unwrap();
    let rec = server
        .records(&token)
        .create_record(
            "notes",
            "dev-subject-1",
            json!({"full_name": "Rowan Haddad", "note": "kept"}),
        )
        .await
        .unwrap();
    // The printed passphrase opens the keyring for the offline commands.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", &pass);
    assert_success(&run_cmd(cmd, &dev_dir, &["token", "list"]));

    // Plain HTTP on the port gets no HTTP answer (there is no plaintext listener).
    plain_http_gets_no_http_response(server.addr(), "/healthz").await;
    assert!(
        c.healthz().await.is_ok(),
        "the server survives a plaintext request"
    );

    assert!(server.terminate().await.success());

    // A restart reuses the vault: same passphrase, a new token, the old data.
    let server = start_dev(&cwd, &logs, "dev2").await;
    let banner = server.output();
    assert!(banner.contains("DEVELOPMENT VAULT"), "{banner}");
    assert_eq!(banner_value(&banner, "passphrase:"), pass);
    let token2 = banner_value(&banner, "API token:");
    assert!(is_token(&token2));
    assert_ne!(token2, token, "a restart prints a fresh token");
    let again = server
        .records(&token2)
        .get_record("notes", rec.id)
        .await
        .unwrap();
    assert_eq!(again, rec);
    assert!(server.terminate().await.success());

    // `serve` without --dev refuses the development vault, even with its passphrase.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", &pass)
        .arg("--data-dir")
        .arg(&dev_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())]);
    let o = run_to_exit(cmd).await;
    let e = assert_clean_failure(&o);
    assert!(e.contains("development vault"), "{e}");
}
