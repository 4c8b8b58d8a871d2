//! A throwaway PostgreSQL cluster from the system's binaries: `initdb` on a temporary
//! directory, a free loopback port, `pg_ctl start`; stopped and removed when dropped. As
//! root (initdb refuses root) the cluster runs as the `postgres` user through `runuser`.
//! [`shared`] starts one per test process, on first use, and a watchdog stops it when the
//! process exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The settings of the per-process test cluster: speed over durability (it is thrown away).
const TEST_CONF: &str = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";

/// A running throwaway cluster; dropping it stops the server and removes its directory.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where the PostgreSQL server binaries are: `PHIVAULT_TEST_PG_BIN`, else the directory of
/// an `initdb` on `PATH`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian keeps
/// them off `PATH`). `None` when PostgreSQL is not installed.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PHIVAULT_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (initdb refuses to).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `tool` from `bin`, run as `postgres` when `as_postgres`.
fn command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    let exe = bin.join(tool);
    let mut c = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    // The caller's directory may be closed to the postgres user.
    c.current_dir("/");
    c
}

fn run_ok(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

impl Cluster {
    /// `initdb` into a new temporary directory, `extra_conf` appended to
    /// `postgresql.conf` (after the port, loopback address and socket directory), then
    /// `pg_ctl start`.
    pub fn start(bin: &Path, extra_conf: &str) -> Result<Cluster, String> {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("phivault-test-pg")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?
            .keep();
        let cluster = Cluster {
            bin: bin.to_owned(),
            dir,
            port: 0,
            as_postgres,
        };
        cluster.init(extra_conf)
    }

    fn init(mut self, extra_conf: &str) -> Result<Cluster, String> {
        if self.as_postgres {
            let mut c = Command::new("chown");
            c.arg("postgres:postgres").arg(&self.dir);
            run_ok(c, "chown postgres (as root, the cluster runs as postgres)")?;
        }
        let data = self.data_dir();
        let mut c = self.command("initdb");
        c.args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
            "-D",
        ])
        .arg(&data);
        run_ok(c, "initdb")?;
        self.port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let conf = format!(
            "\n# a throwaway cluster\nport = {}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nmax_connections = 300\n{extra_conf}\n",
            self.port,
            self.dir.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).map_err(|e| format!("{e}"))?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text).map_err(|e| format!("postgresql.conf: {e}"))?;
        let mut c = self.command("pg_ctl");
        c.args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(self.log_path())
            .arg("start");
        run_ok(c, "pg_ctl start")?;
        Ok(self)
    }

    fn command(&self, tool: &str) -> Command {
        command(&self.bin, tool, self.as_postgres)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` (user `postgres`, trust authentication).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The temporary directory holding the data directory and the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server log.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir().join("server.log")
    }

    /// Whether the server runs as the `postgres` user (this process is root).
    pub fn runs_as_postgres(&self) -> bool {
        self.as_postgres
    }

    /// The postmaster's process id (the first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// `pg_ctl stop` as a command (for the watchdog).
    fn stop_command(&self) -> Command {
        let mut c = self.command("pg_ctl");
        c.args(["-w", "-D"])
            .arg(self.data_dir())
            .args(["-m", "fast", "stop"]);
        c
    }

    /// Stops the server and removes the directory once this process has exited: a detached
    /// shell polls for the process and then runs `pg_ctl stop` (a static is never dropped).
    fn stop_at_exit(&self) -> Result<(), String> {
        let stop = self.stop_command();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(
                "pid=$1; dir=$2; shift 2; \
                 while kill -0 \"$pid\" 2>/dev/null; do sleep 1; done; \
                 \"$@\" >/dev/null 2>&1; rm -rf \"$dir\"",
            )
            .arg("phivault-test-pg-watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.dir)
            .arg(stop.get_program())
            .args(stop.get_args())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().map(drop).map_err(|e| format!("watchdog: {e}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop_command().output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cluster this test process shares: started on first use from [`bin_dir`]'s binaries,
/// stopped by a watchdog when the process exits. `Err` says why there is none (PostgreSQL
/// not installed, or it would not start).
pub fn shared() -> Result<&'static Cluster, String> {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let bin = bin_dir().ok_or_else(|| {
                "PostgreSQL is not installed (no initdb; apt-get install postgresql)".to_owned()
            })?;
            let cluster = Cluster::start(&bin, TEST_CONF)?;
            cluster.stop_at_exit()?;
            crate::announce(&format!(
                "note: tests in this binary use a throwaway PostgreSQL cluster on 127.0.0.1:{} ({})",
                cluster.port(),
                bin.display()
            ));
            Ok(cluster)
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// Starts and stops a cluster when PostgreSQL is installed (the store tests use it
    /// through [`shared`]); accepting connections is what `pg_ctl -w start` waited for.
    #[test]
    fn a_cluster_starts_listens_and_stops() {
        let Some(bin) = bin_dir() else {
            crate::skip_or_fail(crate::Requirement::Postgres, "PostgreSQL is not installed");
            return;
        };
        let cluster = Cluster::start(&bin, "").unwrap();
        let addr = format!("127.0.0.1:{}", cluster.port());
        assert!(
            std::net::TcpStream::connect(&addr).is_ok(),
            "listening on {addr}"
        );
        let pid = cluster.postmaster_pid().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        let dir = cluster.dir().to_owned();
        drop(cluster);
        assert!(std::net::TcpStream::connect(&addr).is_err(), "stopped");
        assert!(!dir.exists(), "removed");
    }
}
