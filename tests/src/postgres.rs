//! A PostgreSQL database of a test's own, for relays serving over PostgreSQL.
//!
//! The server is the one `scripts/test` starts (or any other): its URL, with a database the
//! test may connect to and a user allowed to create databases, is in `BETWEEN_TEST_POSTGRES`.
//! Each [`TestDatabase`] is a new database on it, dropped when the test ends. Without a server
//! a test is skipped, saying so — unless `BETWEEN_REQUIRE_POSTGRES=1` (set by `scripts/test`
//! and so by CI), where it fails instead, so the suite can never pass by skipping it.

use ::postgres::{Client, NoTls};

/// The variable naming the test server.
const SERVER_VARIABLE: &str = "BETWEEN_TEST_POSTGRES";

/// A database created for one test on the test server; dropped (with its connections) on drop.
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A new, empty database for `test`, or `None` (after saying so on stderr) when no server
    /// is configured and none is required.
    pub fn create(test: &str) -> Option<TestDatabase> {
        let Ok(server) = std::env::var(SERVER_VARIABLE) else {
            assert!(
                std::env::var("BETWEEN_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "{test} needs PostgreSQL: set {SERVER_VARIABLE} to a server's URL, or run scripts/test, which starts one"
            );
            eprintln!(
                "{test}: skipped, no PostgreSQL server ({SERVER_VARIABLE} is not set; scripts/test starts one)"
            );
            return None;
        };
        Some(TestDatabase::create_on(&server))
    }

    /// A new, empty database on the server at `server` (a URL naming a database its user may
    /// connect to, with the right to create databases); panics, saying why, if it cannot be made.
    pub fn create_on(server: &str) -> TestDatabase {
        let name = format!("between_e2e_{:016x}", rand::random::<u64>());
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

    /// A connection to the database, to look at what the relay stored (not from an async
    /// test's thread: see [`on_own_thread`]).
    pub fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // `WITH (FORCE)` ends the connections of relays still running (a failed test).
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = on_own_thread(&self.server, &drop);
    }
}

/// Runs `statement` on the server at `url`, on a thread of its own: the blocking client starts a
/// runtime of its own, which cannot happen on an async test's thread.
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

/// `url` (`postgres://user@host:port/database?options`) naming the database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let authority = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{authority}/{name}?{query}"),
        None => format!("{authority}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_url_names_another_database() {
        assert_eq!(
            with_database("postgres://between@127.0.0.1:5432/postgres", "t1"),
            "postgres://between@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/postgres?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "t3"),
            "postgres://u@h:1/t3"
        );
    }
}
