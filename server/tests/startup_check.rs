//! The real `between-relay serve` process and its start-up integrity check: a damaged database
//! makes it stop on its own, saying what to do, with a non-zero exit; a healthy one keeps
//! serving after the check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use between_sqlite_file::testing::scramble;

/// How long the relay gets to start, check and stop.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `between-relay --db DB` with no configuration leaking in from the environment.
fn relay(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_between-relay"));
    command
        .arg("--db")
        .arg(db)
        .env_remove("BETWEEN_RELAY_DB")
        .env_remove("BETWEEN_RELAY_CONFIG")
        .env_remove("BETWEEN_RELAY_LISTEN")
        .env_remove("BETWEEN_RELAY_ORIGIN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// A relay database with a few thousand invites in it (many pages beyond the schema's).
fn populated(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("relay.sqlite3");
    let init = relay(&db).arg("init").output().unwrap();
    assert!(init.status.success(), "{init:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Expiring far in the future, so the relay's purge leaves them alone.
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO invites (hash, kind, created_at_ms, expires_at_ms)
         SELECT randomblob(32), 'client', 0, 9000000000000000 FROM n;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
    drop(conn);
    db
}

/// A running `serve`: the process, its stderr lines as they come, and its port.
struct Serving {
    child: Child,
    stderr: mpsc::Receiver<String>,
    port: u16,
}

/// Starts `serve` on a free port and waits for its `listening on` line.
fn serve(db: &Path) -> Serving {
    let mut child = relay(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (err_tx, stderr) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if err_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ws://127.0.0.1:")
        .unwrap_or_else(|| panic!("not the listening line: {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stdout so the relay never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
    });
    Serving {
        child,
        stderr,
        port,
    }
}

impl Serving {
    /// Collects stderr lines until one contains `needle` (returns them all), or panics.
    fn wait_for_log(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(err) => panic!("no log line with {needle:?} ({err}); the log: {lines:#?}"),
            }
        }
    }

    /// Waits for the process to exit on its own, or panics (after killing it).
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the relay did not stop on its own");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /healthz` over plain HTTP; the status line.
    fn health(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.lines().next().unwrap_or_default().to_owned()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_relay_started_on_a_damaged_database_stops_on_its_own_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    // The last pages (invites and their index), not the header or the schema: the cheap checks
    // at open pass, and only the full check finds it.
    let len = usize::try_from(std::fs::metadata(&db).unwrap().len()).unwrap();
    scramble(&db, len - 16 * 4096..len, 5);

    let mut relay = serve(&db);
    let status = relay.wait_for_exit();
    assert!(!status.success(), "{status:?}");
    assert_eq!(status.code(), Some(1));
    let log: Vec<String> = relay.stderr.try_iter().collect();
    let log = log.join("\n");
    for needle in [
        "DATABASE DAMAGED",
        "is damaged",
        "restore the database from your latest backup",
        "between-relay check",
        "error: the start-up integrity check failed",
    ] {
        assert!(log.contains(needle), "no {needle:?} in the log:\n{log}");
    }

    // The check command agrees, and so does every other opener.
    let check = relay_output(&db, &["check"]);
    assert!(!check.status.success());
    assert!(
        String::from_utf8_lossy(&check.stderr).contains("is damaged"),
        "{check:?}"
    );
}

#[test]
fn a_healthy_database_passes_the_check_and_the_relay_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let mut relay = serve(&db);
    let log = relay.wait_for_log("start-up integrity check passed");
    assert!(
        log.iter().any(|line| line.contains("took_ms")),
        "the check's duration is not logged: {log:#?}"
    );
    assert!(relay.health().contains("200"), "{}", relay.health());
    assert!(relay.child.try_wait().unwrap().is_none());

    let check = relay_output(&db, &["check"]);
    assert!(check.status.success(), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("OK"));
}

/// Runs an admin command to completion.
fn relay_output(db: &Path, args: &[&str]) -> std::process::Output {
    relay(db).args(args).output().unwrap()
}
