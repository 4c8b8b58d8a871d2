//! `phivault init`: an owner-only data directory, the bootstrap token printed once, no
//! re-initialisation, and the keyring sealed with the recommended Argon2id parameters.

use super::*;

#[tokio::test]
async fn init_creates_an_owner_only_vault_prints_its_token_once_and_never_reinitialises() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");

    let o = run(&dir, &["init", "--json"]);
    let v = json_out(&o);
    let token = v["token"].as_str().unwrap();
    assert!(is_token(token), "{token}");
    assert_eq!(
        tokens_in(&out(&o)),
        [token],
        "the token is printed exactly once"
    );
    assert!(tokens_in(&err(&o)).is_empty(), "{}", err(&o));
    Uuid::parse_str(v["token_id"].as_str().unwrap()).unwrap();

    for f in [
        "phivault.toml",
        "keyring.json",
        "phivault.db",
        "tls/cert.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(mode(&dir.join("keyring.json")), 0o600);
    assert_eq!(mode(&dir.join("phivault.toml")), 0o600);
    assert_eq!(mode(&dir.join("phivault.db")), 0o600);
    assert_eq!(mode(&dir.join("tls/key.pem")), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let cert = fs::read_to_string(dir.join("tls/cert.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    let config: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("phivault.toml")).unwrap()).unwrap();
    assert_eq!(config["storage"].as_str(), Some("sqlite:phivault.db"));

    // The bootstrap token belongs to a service account and carries the `admin` role
    // alone (administration, no PHI), and the offline commands can open the vault.
    let list = json_out(&run(&dir, &["token", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], v["token_id"]);
    assert_eq!(list[0]["roles"], json!(["admin"]));
    assert!(list[0]["last_used_at"].is_null(), "{}", list[0]);
    let users = json_out(&run(&dir, &["user", "list", "--json"]));
    let owner = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == list[0]["owner"])
        .unwrap_or_else(|| panic!("the token's owner is not listed: {users}"));
    assert_eq!(owner["kind"], "service");
    assert_eq!(owner["roles"], json!(["admin"]));

    // The text form prints the token once as well, and nothing secret on stderr.
    let dir2 = tmp.path().join("vault2");
    let o = run(&dir2, &["init"]);
    assert_success(&o);
    assert_eq!(tokens_in(&out(&o)).len(), 1, "{}", out(&o));
    assert!(is_token(&tokens_in(&out(&o))[0]));
    assert!(tokens_in(&err(&o)).is_empty());

    // A second init refuses, and touches nothing.
    let before = snapshot(&dir);
    for args in [&["init"][..], &["init", "--json"]] {
        let o = run(&dir, args);
        let e = assert_clean_failure(&o);
        assert!(e.contains("already holds a vault"), "{e}");
        assert!(tokens_in(&out(&o)).is_empty());
    }
    assert!(
        snapshot(&dir) == before,
        "a refused init changed the data directory"
    );

    // Even with its config gone (lost, or an init interrupted), a directory holding a
    // keyring and database is not re-initialised: a new keyring would orphan every key.
    let config_path = dir.join("phivault.toml");
    let config_bytes = fs::read(&config_path).unwrap();
    fs::remove_file(&config_path).unwrap();
    let before = snapshot(&dir);
    let o = run(&dir, &["init", "--json"]);
    let e = assert_clean_failure(&o);
    assert!(e.contains("already holds a vault"), "{e}");
    assert!(tokens_in(&out(&o)).is_empty());
    assert!(
        snapshot(&dir) == before,
        "init overwrote a vault whose config was missing"
    );
    fs::write(&config_path, config_bytes).unwrap();
    fs::set_permissions(&config_path, fs::Permissions::from_mode(0o600)).unwrap();

    // A keyring readable by others is refused, with the fix in the message.
    let keyring = dir.join("keyring.json");
    fs::set_permissions(&keyring, fs::Permissions::from_mode(0o644)).unwrap();
    let e = assert_clean_failure(&run(&dir, &["token", "list"]));
    assert!(e.contains("readable by other users"), "{e}");
    assert!(e.contains("chmod 600"), "{e}");
    let e = assert_clean_failure(&run(&dir, &["keys", "rotate"]));
    assert!(e.contains("readable by other users"), "{e}");
    fs::set_permissions(&keyring, fs::Permissions::from_mode(0o600)).unwrap();
    assert_success(&run(&dir, &["token", "list"]));

    // A wrong passphrase is named as such, not a panic and not a vague failure.
    let mut cmd = phivault();
    cmd.env("PHIVAULT_PASSPHRASE", "not the passphrase");
    let e = assert_clean_failure(&run_cmd(cmd, &dir, &["token", "list"]));
    assert!(e.contains("passphrase") && e.contains("keyring"), "{e}");
}

#[tokio::test]
async fn init_seals_the_keyring_with_the_recommended_argon2id_parameters_by_default() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let mut cmd = phivault();
    cmd.env_remove("PHIVAULT_INSECURE_FAST_KDF");
    assert_success(&run_cmd(cmd, &dir, &["init", "--json"]));
    let keyring: Value =
        serde_json::from_slice(&fs::read(dir.join("keyring.json")).unwrap()).unwrap();
    assert_eq!(
        keyring["kdf"]["alg"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("argon2id")
    );
    assert_eq!(keyring["kdf"]["m_cost_kib"], 64 * 1024);
    assert_eq!(keyring["kdf"]["t_cost"], 3);
    // The keyring opens again with the same passphrase (the parameters come from the header).
    assert_success(&run(&dir, &["token", "list"]));
}
