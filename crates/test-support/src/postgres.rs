//! A throwaway PostgreSQL + pgvector server for tests: a cluster in a temp folder, started on a
//! free loopback port from the binaries `scripts/pg-test-server.sh bindir` finds, stopped when
//! dropped (also when a check fails). Where none is installed the test is skipped with a message,
//! except on CI (`CI=true`), which installs one (`scripts/ci-deps.sh`) and so must run it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster, run as `postgres` when the tests run as root (initdb refuses root).
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// A fresh server, or `None` (after saying why) where PostgreSQL + pgvector is not installed;
    /// on CI a missing server is a failure.
    pub fn start() -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-server.sh");
        let found = Command::new("bash").arg(&script).arg("bindir").output().expect("bash runs");
        if !found.status.success() {
            assert!(
                !crate::on_ci(),
                "CI=true but PostgreSQL with pgvector is not installed: run `scripts/pg-test-server.sh install` (called by scripts/ci-deps.sh) as root"
            );
            crate::skip("PostgreSQL server binaries with pgvector not found (install them with scripts/ci-deps.sh)");
            return None;
        }
        let bin = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let dir = tempfile::tempdir().expect("temp dir");
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let server = Self { bin, dir, port, as_postgres };
        let data = server.dir.path().join("data");
        run(server.cmd("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]));
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", server.dir.path().display());
        let log = server.dir.path().join("log");
        run(server
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &opts, "start"]));
        Some(server)
    }

    /// The connection string of the server's `postgres` database (no password: trust on loopback).
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.cmd("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
