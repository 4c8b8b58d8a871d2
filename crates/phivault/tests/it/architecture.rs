//! The layering invariants of ARCHITECTURE.md, checked from the crates' manifests and
//! sources: lower layers never import upper ones, only the edge crates know HTTP (the SIEM
//! sink reaches it only through the client's outbound webhook), only the store crates know
//! SQL, the store crates' tests link no HTTP stack, `anyhow` lives in the binary alone, and
//! no crate allows `unsafe`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The names in one dependency table (`dependencies`, `dev-dependencies`) of a crate.
fn table(krate: &str, section: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest
        .get(section)
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

fn deps(krate: &str) -> BTreeSet<String> {
    table(krate, "dependencies")
}

fn members() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crates_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const HTTP: [&str; 7] = [
    "axum",
    "hyper",
    "hyper-util",
    "tower",
    "tower-http",
    "reqwest",
    "tokio-rustls",
];
const SQL: [&str; 5] = [
    "rusqlite",
    "tokio-postgres",
    "deadpool-postgres",
    "postgres",
    "sqlx",
];

fn assert_none_of(krate: &str, banned: &[&str], why: &str) {
    let d = deps(krate);
    let found: Vec<_> = banned.iter().filter(|b| d.contains(**b)).collect();
    assert!(found.is_empty(), "{krate} depends on {found:?}: {why}");
}

/// The phivault crates that link an HTTP stack: a crate that only tests a lower layer must
/// not pull them in.
const HTTP_PHIVAULT: [&str; 5] = [
    "phivault-server",
    "phivault-client",
    "phivault-api",
    "phivault-testkit",
    "phivault",
];

#[test]
fn the_domain_knows_neither_http_nor_sql() {
    assert_none_of(
        "phivault-core",
        &HTTP,
        "core is the domain, only the server knows HTTP",
    );
    assert_none_of(
        "phivault-core",
        &SQL,
        "core is the domain, only stores know SQL",
    );
}

#[test]
fn pure_crates_stay_pure() {
    for krate in ["phivault-crypto", "phivault-audit", "phivault-deid"] {
        assert_none_of(krate, &HTTP, "pure crates do no I/O");
        assert_none_of(krate, &SQL, "pure crates do no I/O");
        assert_none_of(krate, &["tokio"], "pure crates do no I/O");
        let internal: Vec<_> = deps(krate)
            .into_iter()
            .filter(|d| d.starts_with("phivault"))
            .collect();
        assert!(internal.is_empty(), "{krate} imports {internal:?}");
    }
}

#[test]
fn lower_layers_never_import_upper_ones() {
    let upper = [
        "phivault-server",
        "phivault-client",
        "phivault-testkit",
        "phivault",
    ];
    for krate in [
        "phivault-core",
        "phivault-crypto",
        "phivault-audit",
        "phivault-api",
    ] {
        assert_none_of(krate, &upper, "lower layers never import upper ones");
    }
    for store in ["phivault-store-sqlite", "phivault-store-postgres"] {
        assert_none_of(
            store,
            &["phivault-server", "phivault-api", "phivault-client"],
            "stores sit below the edge",
        );
    }
    // Backups are domain work on the SQLite store: no edge crate, no binary; the command
    // line and the server drive them from above.
    assert_none_of(
        "phivault-backup",
        &upper,
        "backups sit below the edge and the binary",
    );
    assert_none_of(
        "phivault-backup",
        &["phivault-api", "clap", "indicatif"],
        "backups report progress through a trait, never a terminal",
    );
    assert_none_of(
        "phivault-api",
        &["phivault-core"],
        "the wire contract does not leak domain types",
    );
    assert_none_of(
        "phivault-client",
        &["phivault-core", "phivault-server"],
        "clients speak only the wire contract",
    );
}

/// The HTTP crates (third-party or phivault's own) among `deps`.
fn http_among(deps: &BTreeSet<String>) -> Vec<&String> {
    deps.iter()
        .filter(|d| HTTP.contains(&d.as_str()) || HTTP_PHIVAULT.contains(&d.as_str()))
        .collect()
}

#[test]
fn the_store_conformance_suite_and_store_tests_link_no_http() {
    let conformance = deps("phivault-conformance");
    assert!(
        conformance.contains("phivault-core"),
        "the conformance suite checks core's Store trait: {conformance:?}"
    );
    let found = http_among(&conformance);
    assert!(
        found.is_empty(),
        "phivault-conformance depends on {found:?}: it depends on core only"
    );
    for store in ["phivault-store-sqlite", "phivault-store-postgres"] {
        let dev = table(store, "dev-dependencies");
        assert!(
            dev.contains("phivault-conformance"),
            "{store} runs the conformance suite"
        );
        let found = http_among(&dev);
        assert!(
            found.is_empty(),
            "{store} dev-depends on {found:?}: a store's tests link no HTTP stack"
        );
    }
}

#[test]
fn the_siem_speaks_http_only_through_the_client_webhook() {
    // The SIEM webhook sink posts through `phivault_client::webhook` (the one outbound
    // webhook), which depends on the wire contract only; the SIEM crate itself names no
    // HTTP stack and nothing above it.
    assert_none_of(
        "phivault-siem",
        &[
            "phivault-server",
            "phivault-api",
            "phivault-testkit",
            "phivault",
        ],
        "the SIEM sits below the edge",
    );
    assert_none_of(
        "phivault-client",
        &["phivault-siem"],
        "the client knows nothing of the SIEM",
    );
}

#[test]
fn only_edge_crates_know_http_and_only_stores_know_sql() {
    for krate in members() {
        if !matches!(
            krate.as_str(),
            // phivault-bench: the benchmark harness drives the vault over HTTPS and the
            // PostgreSQL baseline over SQL; it is a tool, never linked into the vault.
            "phivault-server" | "phivault-client" | "phivault-testkit" | "phivault-bench"
        ) {
            assert_none_of(
                &krate,
                &["axum", "hyper", "hyper-util", "tower-http", "reqwest"],
                "only the server and client speak HTTP (others, like the SIEM webhook, go \
                 through the client)",
            );
        }
        if !krate.starts_with("phivault-store-") && krate != "phivault-bench" {
            assert_none_of(&krate, &SQL, "only store crates speak SQL");
        }
        if krate != "phivault" && krate != "phivault-bench" {
            assert_none_of(&krate, &["anyhow"], "anyhow lives only in the binary");
        }
    }
}

#[test]
fn every_crate_forbids_unsafe_code() {
    for krate in members() {
        let src = crates_dir().join(&krate).join("src");
        let root = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.exists())
            .unwrap();
        let text = std::fs::read_to_string(&root).unwrap();
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{krate} does not forbid unsafe code"
        );
    }
    let root: toml::Table =
        toml::from_str(&std::fs::read_to_string(crates_dir().join("../Cargo.toml")).unwrap())
            .unwrap();
    assert_eq!(
        root["workspace"]["lints"]["rust"]["unsafe_code"].as_str(),
        Some("forbid")
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

/// Every setting is read once, by the binary's config module (`src/config.rs` or
/// `src/config/`): the rest of the binary receives typed settings and never reads the
/// process environment. Scope: the vault binary's sources. Not covered, on purpose:
/// `phivault-bench` (a tool with its own knobs), test support such as
/// `phivault-store-postgres/src/testing.rs` and the test files, and clap's `env =`
/// attributes in `main.rs`, which parse arguments rather than settings.
#[test]
fn only_the_config_module_reads_the_environment() {
    let src = crates_dir().join("phivault/src");
    let banned = [
        "std::env::var",
        "env::var(",
        "env::vars(",
        "var_os(",
        "from_env(",
    ];
    let (mut config_reads, mut offenders) = (0, Vec::new());
    for path in rust_files(&src) {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let hits = banned.iter().filter(|b| text.contains(**b)).count();
        if rel == "config.rs" || rel.starts_with("config/") {
            config_reads += hits;
        } else if hits > 0 {
            offenders.push(rel);
        }
    }
    assert!(
        offenders.is_empty(),
        "read the environment only in src/config/ (add a Config field or a config::env \
         function): {offenders:?}"
    );
    assert!(
        config_reads > 0,
        "the scan no longer sees the config module's reads"
    );
}

/// Associated data binds a ciphertext to its row; if any crate other than crypto (which
/// defines the primitives) and core's `seal` module built it, two encodings of the same
/// binding could drift apart and a ciphertext could open in the wrong place.
#[test]
fn associated_data_and_key_wrapping_live_in_the_seal_module() {
    let banned = [
        "RecordAad {",
        "seal_record(",
        "open_record(",
        "wrap_data_key(",
        "unwrap_data_key(",
    ];
    let (mut seal_uses, mut offenders) = (0, Vec::new());
    for krate in members() {
        if krate == "phivault-crypto" {
            continue;
        }
        let src = crates_dir().join(&krate).join("src");
        for path in rust_files(&src) {
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let hits = banned.iter().filter(|b| text.contains(**b)).count();
            if krate == "phivault-core" && rel.starts_with("seal/") {
                seal_uses += hits;
            } else if hits > 0 {
                offenders.push(format!("{krate}/src/{rel}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "build associated data and wrap keys only in phivault-core/src/seal/: {offenders:?}"
    );
    assert!(seal_uses > 0, "the scan no longer sees the seal module");
}
