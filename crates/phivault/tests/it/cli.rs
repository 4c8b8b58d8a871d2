//! End-to-end tests of the `phivault` binary: every test runs the real executable against a
//! throwaway data directory (`init`, `token`, `audit verify`, `keys rotate`) and, where a
//! server is needed, starts `phivault serve` on a free loopback port, talks to it over
//! HTTPS with `phivault_client` (trusting the vault's own certificate) and kills it when the
//! test ends. The canary test at the bottom is the one that matters most: distinctive PHI
//! values go in through every door, and must come out only through a successful read —
//! never in the database file, its WAL, the server's debug log or an error body.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use phivault_client::api::{Collection, Record};
use phivault_client::{Client, ClientError};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::common::{
    POLL, POLLS, PURPOSE, Server, app_token, free_port, grant, https_client, init, is_token,
    json_out, phivault, run, run_cmd, service_account,
};

// ----- running the binary ------------------------------------------------------------------

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        out(o),
        err(o)
    );
}

/// Asserts that a command failed the way an operator error should: a non-zero exit code
/// that is not a panic (101) or a signal, an `error:` line, no panic message. Returns
/// stderr.
#[track_caller]
fn assert_clean_failure(o: &Output) -> String {
    let stderr = err(o);
    let code = o.status.code();
    assert!(
        code.is_some_and(|c| c != 0 && c != 101),
        "expected a clean failure, got {} \nstdout:\n{}\nstderr:\n{stderr}",
        o.status,
        out(o)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    stderr
}

/// Every `pvt_…` token in `text`.
fn tokens_in(text: &str) -> Vec<String> {
    text.match_indices("pvt_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Runs a command that is expected to exit by itself (e.g. a `serve` that must refuse to
/// start); kills it and fails the test if it is still running after the bounded wait.
async fn run_to_exit(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..POLLS {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        tokio::time::sleep(POLL).await;
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    panic!(
        "the command was expected to exit but kept running\nstdout:\n{}\nstderr:\n{}",
        out(&o),
        err(&o)
    );
}

/// The HTTP status of a failed client call.
fn status_of<T: std::fmt::Debug>(r: Result<T, ClientError>) -> u16 {
    match r {
        Err(ClientError::Api { status, .. }) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn collection(v: Value) -> Collection {
    serde_json::from_value(v).unwrap()
}

/// A small collection: a searchable name, a date and a free-text note.
fn notes_schema(name: &str) -> Collection {
    collection(json!({
        "name": name,
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "note", "type": "text", "sensitivity": {"class": "health"}}
        ]
    }))
}

/// Every file below `dir` with its bytes, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = fs::metadata(&p).unwrap().permissions().mode();
                files.push((p.clone(), fs::read(&p).unwrap(), mode));
            }
        }
    }
    files.sort();
    files
}

/// The permission bits of `p`.
fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Sends a plaintext HTTP request to a TLS port and asserts that no HTTP response comes
/// back (the connection is closed, answered with a TLS alert, or left silent).
async fn plain_http_gets_no_http_response(addr: &str, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("HTTP/"),
        "plaintext HTTP got an HTTP answer: {text:?}"
    );
}

mod audit_verify;
mod canary;
mod init;
mod keys_rotate;
mod serve_dev;
mod settings;
mod tls_reload;
mod tokens;
