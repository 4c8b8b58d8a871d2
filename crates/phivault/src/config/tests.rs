//! Tests of the configuration: overrides, checks, the job sections and their errors.

use super::*;

#[test]
fn env_overrides_and_checks() {
    let mut c = Config::default();
    c.apply_env(|k| (k == "PHIVAULT_LISTEN").then(|| "0.0.0.0:9443".to_owned()))
        .unwrap();
    assert_eq!(c.listen, "0.0.0.0:9443");
    c.check().unwrap();
    c.apply_env(|k| (k == "PHIVAULT_BODY_LIMIT_BYTES").then(|| "12".to_owned()))
        .unwrap();
    assert!(c.check().is_err());
    let mut c = Config::default();
    assert!(
        c.apply_env(|k| (k == "PHIVAULT_MAX_TOKEN_TTL_DAYS").then(|| "x".to_owned()))
            .is_err()
    );
    let text = toml::to_string(&Config::default()).unwrap();
    assert_eq!(toml::from_str::<Config>(&text).unwrap(), Config::default());
    assert!(toml::from_str::<Config>("bogus = 1").is_err());
}

/// Overrides from a fixed list of variables.
fn vars(list: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        list.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn a_bad_job_setting_is_an_error_naming_its_variable_never_a_silent_default() {
    for (name, value) in [
        ("PHIVAULT_AUDIT_SINK_MAX_LAG", "abc"),
        ("PHIVAULT_AUDIT_HEAD_EVERY", "-1"),
        ("PHIVAULT_AUDIT_RETENTION_DAYS", "six years"),
        ("PHIVAULT_AUDIT_SINK_JSONL_MAX_BYTES", "100MiB"),
        ("PHIVAULT_BACKUP_RETENTION_DAYS", "x"),
        ("PHIVAULT_BACKUP_JOURNAL_RPO_MS", "1s"),
        ("PHIVAULT_RETENTION_INTERVAL_SECS", "hourly"),
        ("PHIVAULT_MFA_REQUIRED", "yes"),
    ] {
        let mut c = Config::default();
        let err = c
            .apply_env(move |k| (k == name).then(|| value.to_owned()))
            .expect_err(name);
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    // Values that parse but cannot work are refused by the check, naming the variable.
    for (name, value) in [
        ("PHIVAULT_BACKUP_INTERVAL", "0s"),
        ("PHIVAULT_BACKUP_INTERVAL", "daily"),
        ("PHIVAULT_BACKUP_JOURNAL", "maybe"),
    ] {
        let mut c = Config::default();
        c.apply_env(move |k| (k == name).then(|| value.to_owned()))
            .unwrap();
        let err = c.check().expect_err(name);
        assert!(format!("{err:#}").contains(name), "{name}: {err:#}");
    }
}

#[test]
fn job_sections_come_from_toml_and_environment_overrides_win() {
    let text = r#"
listen = "127.0.0.1:8443"
storage = "sqlite:phivault.db"
keyring = "keyring.json"
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
body_limit_bytes = 1048576
max_token_ttl_days = 90
sqlite_synchronous = "full"
log_format = "text"

[audit]
head_every = 10

[audit_sink]
jsonl = "audit.jsonl"
max_lag = 5

[backup]
dir = "backups"
interval = "6h"
journal = "off"

[retention]
interval_secs = 0
"#;
    let mut c: Config = toml::from_str(text).unwrap();
    assert_eq!(c.audit.head_every, 10);
    assert_eq!(c.audit.head_seconds, 60, "unset keys keep their defaults");
    assert_eq!(c.audit_sink.jsonl.as_deref(), Some("audit.jsonl"));
    assert_eq!(c.retention.interval(), None);
    c.apply_env(vars(&[
        ("PHIVAULT_AUDIT_SINK_MAX_LAG", "7"),
        ("PHIVAULT_BACKUP_INTERVAL", "30m"),
    ]))
    .unwrap();
    c.check().unwrap();
    assert_eq!(c.audit_sink.max_lag, 7);
    let s = c
        .backup
        .schedule(Path::new("/data"))
        .unwrap()
        .expect("backups are on");
    assert_eq!(s.dir, Path::new("/data/backups"));
    assert_eq!(s.interval, std::time::Duration::from_secs(1800));
    assert_eq!(s.journal_rpo, None);
    assert_eq!(s.retention_days, 35);
    // A written config round-trips, sections included; an unknown key in a section is refused.
    let again: Config = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(again, c);
    assert!(toml::from_str::<Config>(&text.replace("max_lag", "max_lagg")).is_err());
    // Without a backup dir there is no schedule; the defaults write no sections.
    assert_eq!(
        Config::default().backup.schedule(Path::new("/d")).unwrap(),
        None
    );
    assert!(!toml::to_string(&Config::default()).unwrap().contains('['));
}

mod properties {
    //! The config file is read from disk an operator may have mistyped: arbitrary text, and
    //! the default file with any value replaced, never panics the reader or the checks.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics_the_reader(text in any::<String>()) {
            if let Ok(c) = Config::parse(&text) {
                let _ = c.check();
            }
        }

        #[test]
        fn any_value_in_the_default_file_is_read_or_refused(
            line in 0usize..64,
            value in prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| n.to_string()),
                any::<String>().prop_map(|s| format!("{s:?}")),
                Just("true".to_owned()),
                Just("[]".to_owned()),
            ],
        ) {
            let text = toml::to_string(&Config::default()).unwrap_or_default();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let n = lines.len();
            if let Some(l) = lines.get_mut(line % n.max(1))
                && let Some((key, _)) = l.split_once(" = ")
            {
                *l = format!("{key} = {value}");
            }
            if let Ok(c) = Config::parse(&lines.join("\n")) {
                let _ = c.check();
            }
        }
    }
}

#[test]
fn edge_sections_have_safe_defaults_and_bad_values_are_refused_by_name() {
    let c = Config::default();
    let limits = c.limits.rate_limits();
    assert!(limits.per_token.is_some() && limits.per_address.is_some());
    assert!(limits.login_per_address.is_some());
    assert_eq!(c.tls.client_auth, "off");
    let mut c = Config::default();
    c.apply_env(vars(&[
        ("PHIVAULT_LIMITS_PER_ADDRESS_PER_SECOND", "0"),
        ("PHIVAULT_LIMITS_MAX_CONNECTIONS", "10"),
        ("PHIVAULT_TLS_CLIENT_AUTH", "required"),
        ("PHIVAULT_TLS_CLIENT_CA", "tls/clients.pem"),
    ]))
    .unwrap();
    c.check().unwrap();
    assert!(c.limits.rate_limits().per_address.is_none());
    assert_eq!(c.limits.serve_options().max_connections, 10);
    for (name, value) in [
        ("PHIVAULT_TLS_CLIENT_AUTH", "sometimes"),
        ("PHIVAULT_TLS_CLIENT_AUTH", "required"),
        ("PHIVAULT_LIMITS_MAX_CONNECTIONS", "0"),
        ("PHIVAULT_LIMITS_HEADER_READ_TIMEOUT_SECS", "0"),
        ("PHIVAULT_LIMITS_MAX_HEADER_BYTES", "100"),
        ("PHIVAULT_LIMITS_PER_TOKEN_BURST", "0"),
    ] {
        let mut c = Config::default();
        c.apply_env(move |k| (k == name).then(|| value.to_owned()))
            .unwrap();
        let err = c.check().expect_err(name);
        assert!(format!("{err:#}").contains(name), "{name}: {err:#}");
    }
    let mut c = Config::default();
    let err = c
        .apply_env(|k| (k == "PHIVAULT_LIMITS_PER_TOKEN_BURST").then(|| "lots".to_owned()))
        .unwrap_err();
    assert!(err.to_string().contains("PHIVAULT_LIMITS_PER_TOKEN_BURST"));
}

#[test]
fn an_audit_retention_beyond_a_century_is_refused_by_name() {
    for (value, ok) in [
        ("2192", true),
        ("36525", true),
        ("0", false),
        ("36526", false),
        ("18446744073709551615", false),
    ] {
        let mut c = Config::default();
        c.apply_env(move |k| (k == "PHIVAULT_AUDIT_RETENTION_DAYS").then(|| value.to_owned()))
            .unwrap();
        match c.check() {
            Ok(()) => assert!(ok, "{value} accepted"),
            Err(e) => {
                assert!(!ok, "{value} refused");
                assert!(format!("{e:#}").contains("PHIVAULT_AUDIT_RETENTION_DAYS"));
            }
        }
    }
}
