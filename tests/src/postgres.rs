//! A PostgreSQL database of a test's own: for relays serving over PostgreSQL (the end-to-end
//! tests and the benchmark harness) and for the relay store's own tests.
//!
//! The server is the one `scripts/test` starts (or any other): its URL, naming a database the
//! user may connect to and a user allowed to create databases, is in `BETWEEN_TEST_POSTGRES`.
//! Each [`TestDatabase`] is a new database on it, dropped when the test ends. Without a server a
//! test is skipped, saying so — unless `BETWEEN_REQUIRE_POSTGRES=1` (set by `scripts/test` and so
//! by CI), where it fails instead, so the suite can never pass by skipping it.
//!
//! Every statement of the fixture runs on a thread of its own: the blocking client starts a
//! runtime of its own, which must not happen on an async test's thread.

use ::postgres::{Client, NoTls};

/// The variable naming the test server.
const SERVER_VARIABLE: &str = "BETWEEN_TEST_POSTGRES";

/// The variable that makes a missing server a failure rather than a skip.
const REQUIRE_VARIABLE: &str = "BETWEEN_REQUIRE_POSTGRES";

/// The variable naming the PEM file of the CA that signed the test server's TLS certificate.
const CA_VARIABLE: &str = "BETWEEN_TEST_POSTGRES_CA";

/// The variable that makes a missing CA a failure rather than a plain-text run.
const REQUIRE_TLS_VARIABLE: &str = "BETWEEN_REQUIRE_POSTGRES_TLS";

/// The CA certificate file the test server's TLS certificate chains to, or `None` (after saying
/// so on stderr) when the server speaks no TLS the tests know of and none is required
/// (`scripts/test` gives its throwaway server TLS and requires it).
pub fn test_server_ca() -> Option<std::path::PathBuf> {
    configured(
        CA_VARIABLE,
        REQUIRE_TLS_VARIABLE,
        "needs PostgreSQL with TLS: set it to the file of the CA that signed the server's certificate, or run scripts/test",
        "PostgreSQL in plain text, no TLS (scripts/test sets it)",
    )
    .map(Into::into)
}

/// The test server's URL, or `None` (after saying so on stderr) when none is configured and
/// none is required.
pub fn test_server() -> Option<String> {
    configured(
        SERVER_VARIABLE,
        REQUIRE_VARIABLE,
        "needs PostgreSQL: set it to a server's URL, or run scripts/test, which starts one",
        "skipped, no PostgreSQL server (scripts/test starts one)",
    )
}

/// The value of `variable`; when it is unset, a failure saying what the test `needs` if
/// `require` is `1`, and otherwise `None` after saying on stderr what happens `instead`.
fn configured(variable: &str, require: &str, needs: &str, instead: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            let test = std::thread::current().name().unwrap_or("?").to_owned();
            assert!(
                std::env::var(require).as_deref() != Ok("1"),
                "{test} {needs} ({variable} is not set)"
            );
            eprintln!("{test}: {instead} ({variable} is not set)");
            None
        }
    }
}

/// A database created for one test; dropped (with its connections) on drop.
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new, empty database on the test server, or `None` (after saying so on stderr) when no
    /// server is configured and none is required.
    pub fn create() -> Option<TestDatabase> {
        test_server().map(|server| TestDatabase::create_on(&server))
    }

    /// A new, empty database on the server at `server` (a URL naming a database its user may
    /// connect to, with the right to create databases); panics, saying why, if it cannot be made.
    pub fn create_on(server: &str) -> TestDatabase {
        let name = format!("between_test_{:016x}", rand::random::<u64>());
        on_own_thread(server, &format!("CREATE DATABASE {name}")).unwrap_or_else(|err| {
            panic!("create the database {name} on the PostgreSQL server: {err}")
        });
        let url = with_database(server, &name);
        TestDatabase {
            server: server.to_owned(),
            name,
            url,
        }
    }

    /// The database's URL, as `between-relay --db` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's URL asking for TLS with the server's certificate verified against `ca`
    /// (see [`test_server_ca`]).
    pub fn tls_url(&self, ca: &std::path::Path) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}sslmode=verify-full&sslrootcert={}",
            self.url,
            ca.display()
        )
    }

    /// A connection to the database, to look at what the relay stored or do what no relay does
    /// (not from an async test's thread: see the module documentation).
    pub fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // `WITH (FORCE)` ends the connections of relays still running (a failed test). A failure
        // is only reported: panicking while a failed test unwinds would abort the whole binary.
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = on_own_thread(&self.server, &drop) {
            eprintln!("could not drop the test database {}: {err}", self.name);
        }
    }
}

/// Runs `statement` on the server at `url`, on a thread of its own.
fn on_own_thread(url: &str, statement: &str) -> Result<(), String> {
    let (url, statement) = (url.to_owned(), statement.to_owned());
    std::thread::spawn(move || {
        let mut admin = Client::connect(&url, NoTls).map_err(|err| err.to_string())?;
        admin
            .batch_execute(&statement)
            .map_err(|err| err.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the thread panicked".to_owned()))
}

/// `url` pointed at the database `name`: a later `dbname` overrides the URL's own, in the URL
/// form and the `key=value` form alike.
fn with_database(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}dbname={name}")
    } else {
        format!("{url} dbname={name}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;
    use std::str::FromStr;

    #[test]
    fn a_url_names_another_database() {
        for (url, expected) in [
            ("postgres://between@127.0.0.1:5432/postgres", "t1"),
            ("postgresql://u:p@h/postgres?sslmode=disable", "t1"),
            ("host=127.0.0.1 user=between dbname=postgres", "t1"),
        ] {
            let config = ::postgres::Config::from_str(&with_database(url, expected)).unwrap();
            assert_eq!(config.get_dbname(), Some(expected), "{url}");
        }
    }
}
