//! Settings parsed once through the config: a bad value stops `serve` and the offline
//! commands with an error naming the variable.

use super::*;

/// Every setting is parsed once, through the config: a bad value of a background job's
/// setting stops `serve` before it listens, naming the variable, instead of running with a
/// silent default; the same holds for the offline commands, which load the same config.
#[tokio::test]
async fn a_bad_setting_value_stops_serve_with_an_error_naming_the_variable() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    init(&dir);
    for (name, value) in [
        ("PHIVAULT_AUDIT_SINK_MAX_LAG", "abc"),
        ("PHIVAULT_AUDIT_HEAD_EVERY", "often"),
        ("PHIVAULT_BACKUP_JOURNAL", "maybe"),
        ("PHIVAULT_RETENTION_INTERVAL_SECS", "-5"),
    ] {
        let mut cmd = phivault();
        cmd.env(name, value)
            .env("PHIVAULT_LISTEN", format!("127.0.0.1:{}", free_port()))
            .arg("--data-dir")
            .arg(&dir)
            .arg("serve");
        let o = run_to_exit(cmd).await;
        let stderr = assert_clean_failure(&o);
        assert!(stderr.contains(name), "{name}: {stderr}");
        let mut cmd = phivault();
        cmd.env(name, value);
        let o = run_cmd(cmd, &dir, &["role", "list"]);
        let stderr = assert_clean_failure(&o);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}
