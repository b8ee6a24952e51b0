//! Which database the relay keeps its data in, as `--db` (or `BETWEEN_RELAY_DB`, or `db` in the
//! config file) names it, and opening it.
//!
//! - A path, or `sqlite:PATH`: one SQLite file, the embedded default, for a practice on one
//!   machine.
//! - `postgres://…` or `postgresql://…`: a PostgreSQL server, which several relay processes
//!   may share (docs/self-hosting.md, "Several relays on PostgreSQL").
//!
//! A PostgreSQL URL may carry a password; [`Database`]'s `Display` never shows it, so logs and
//! error messages can name the database safely.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result};

use crate::store::handle::StoreHandle;
use crate::store::postgres::target::read_config;
use crate::store::postgres::{redacted_location, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::RelayStore;

/// Where the relay's data lives.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by connection URL (which may hold a password: see [`Database`]'s
    /// `Display`).
    Postgres(String),
}

impl FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Database::Postgres(text.to_owned()));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

/// How a PostgreSQL URL is shown: without its password (see [`redacted_location`]).
fn shown(url: &str) -> String {
    match read_config(url) {
        Ok(config) => redacted_location(&config),
        Err(_) => "a postgres:// URL that could not be read".to_owned(),
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&shown(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Database::Postgres(url) => write!(f, "Postgres({})", shown(url)),
        }
    }
}

impl Database {
    /// Opens the store for an admin command, creating or migrating the schema as needed. A
    /// SQLite file gets its full check first (see [`SqliteStore::open`]).
    pub(crate) fn open(&self) -> Result<Box<dyn RelayStore>> {
        let store: Box<dyn RelayStore> = match self {
            Database::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            Database::Postgres(url) => {
                Box::new(PostgresStore::open(url).with_context(|| self.could_not_open())?)
            }
        };
        Ok(store)
    }

    /// Opens the store on its own thread for `serve`. SQLite skips the full-file check, which
    /// `serve` runs in the background (see `integrity`): start-up time must not grow with the
    /// database.
    pub(crate) async fn open_for_serving(&self) -> Result<StoreHandle> {
        let handle = match self {
            Database::Sqlite(path) => StoreHandle::open_sqlite_for_serving(path.clone()).await,
            Database::Postgres(url) => StoreHandle::open_postgres(url.clone()).await,
        };
        handle.with_context(|| self.could_not_open())
    }

    /// The headline of a failure to open: what to check.
    fn could_not_open(&self) -> String {
        match self {
            Database::Sqlite(_) => format!("could not open the relay database {self}"),
            Database::Postgres(_) => format!(
                "could not open the relay database {self}: check that PostgreSQL runs there and that --db (BETWEEN_RELAY_DB, or db in the config file) names the right server, database and user"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Database {
        match text.parse() {
            Ok(db) => db,
            Err(never) => match never {},
        }
    }

    #[test]
    fn paths_and_urls_name_their_backend() {
        assert_eq!(
            parse("relay.sqlite3"),
            Database::Sqlite(PathBuf::from("relay.sqlite3"))
        );
        assert_eq!(
            parse("sqlite:/var/lib/between/relay.sqlite3"),
            Database::Sqlite(PathBuf::from("/var/lib/between/relay.sqlite3"))
        );
        assert_eq!(
            parse("postgres://relay@db.internal/between"),
            Database::Postgres("postgres://relay@db.internal/between".to_owned())
        );
        assert!(matches!(
            parse("postgresql://db.internal/between"),
            Database::Postgres(_)
        ));
    }

    #[test]
    fn a_password_is_never_shown() {
        for url in [
            "postgres://relay:s3cr%40t@db.internal:5432/between?sslmode=disable",
            "postgres://relay@db.internal:5432/between?sslmode=disable&password=s3cr%40t",
        ] {
            let db = parse(url);
            let shown = format!("{db} {db:?}");
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("relay@db.internal:5432/between"), "{shown}");
        }
        let unreadable = parse("postgres://relay:s3cr3t@db.internal:port/between");
        assert!(!unreadable.to_string().contains("s3cr3t"), "{unreadable}");
    }
}
