//! Test fixture: a PostgreSQL database of its own for each test, created on the server named
//! by `BETWEEN_TEST_POSTGRES` (an admin URL, such as
//! `postgres://between@127.0.0.1:55432/postgres`) and dropped with its guard.
//!
//! Without that variable the PostgreSQL checks are skipped (one line on stderr says so), unless
//! `BETWEEN_REQUIRE_POSTGRES=1`, which makes a missing server a failure (CI sets it). Every
//! statement of the fixture runs on a thread of its own: the blocking `postgres` client must
//! not run on an async runtime's thread, and async tests use the fixture too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use postgres::{Client, NoTls};

use super::PostgresStore;

/// The variable naming the PostgreSQL server's admin URL.
pub(crate) const ADMIN_URL_VAR: &str = "BETWEEN_TEST_POSTGRES";

/// The variable that makes a missing server a failure rather than a skip.
pub(crate) const REQUIRE_VAR: &str = "BETWEEN_REQUIRE_POSTGRES";

/// A test database, dropped (connections and all) when this guard is dropped.
pub(crate) struct TestDatabase {
    /// The server's admin URL, to drop the database from.
    admin_url: String,
    /// The database's name, `between_test_<random hex>`.
    name: String,
    /// The URL of the test database itself.
    url: String,
}

impl TestDatabase {
    /// Creates a new, empty database; `None` when no server is configured and none is required
    /// (see the module documentation).
    pub(crate) fn create() -> Option<TestDatabase> {
        let admin_url = match std::env::var(ADMIN_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var(REQUIRE_VAR).is_ok_and(|value| value == "1") {
                    panic!(
                        "{REQUIRE_VAR}=1 but {ADMIN_URL_VAR} is not set: set {ADMIN_URL_VAR} to \
                         a PostgreSQL server's URL, or run scripts/test, which starts one"
                    );
                }
                let test = std::thread::current().name().unwrap_or("?").to_owned();
                eprintln!(
                    "skipped the PostgreSQL check {test}: {ADMIN_URL_VAR} is not set (set it to \
                     a PostgreSQL server's URL, or run scripts/test, which starts one)"
                );
                return None;
            }
        };
        let name = format!("between_test_{:016x}", rand::random::<u64>());
        admin(&admin_url, format!("CREATE DATABASE {name}"));
        let url = with_dbname(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The test database's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Opens a store on the test database (call from a plain thread, not an async task).
    pub(crate) fn open(&self) -> PostgresStore {
        PostgresStore::open(&self.url).unwrap()
    }

    /// A raw connection to the test database, to do what no relay does (call from a plain
    /// thread, not an async task).
    pub(crate) fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if std::thread::panicking() {
            // Never panic while unwinding: that would abort the whole test binary.
            let _ = run_admin(&self.admin_url, sql);
        } else {
            admin(&self.admin_url, sql);
        }
    }
}

/// Runs `sql` on the admin connection, on a thread of its own; panics if it fails.
fn admin(admin_url: &str, sql: String) {
    if let Err(err) = run_admin(admin_url, sql.clone()) {
        panic!("`{sql}` failed on the test PostgreSQL server: {err}");
    }
}

/// Runs `sql` on the admin connection, on a thread of its own.
fn run_admin(admin_url: &str, sql: String) -> Result<(), String> {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || {
        let mut client = Client::connect(&admin_url, NoTls).map_err(|err| format!("{err:?}"))?;
        client.batch_execute(&sql).map_err(|err| format!("{err:?}"))
    })
    .join()
    .unwrap_or_else(|_| Err("the admin thread panicked".to_owned()))
}

/// `url` pointed at database `name`: a later `dbname` overrides the URL's own, in both the URL
/// and the `key=value` form.
fn with_dbname(url: &str, name: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}dbname={name}")
    } else {
        format!("{url} dbname={name}")
    }
}
