//! The PostgreSQL backend of [`RelayStore`](super::RelayStore): the relay's storage in one
//! PostgreSQL database, which several relay processes (and admin commands) may share.
//!
//! The store is synchronous, like the trait: it owns one blocking [`postgres::Client`] and runs on
//! the storage thread of a [`StoreHandle`](super::handle::StoreHandle), never on the async
//! runtime.
//!
//! # How it keeps the contract
//!
//! - **One transaction per method** (clause 1). Every mutating method is one `READ COMMITTED`
//!   transaction whose first statement takes one transaction-level advisory lock,
//!   `pg_advisory_xact_lock(`[`WRITE_LOCK_KEY`]`)`: the PostgreSQL counterpart of SQLite's
//!   `BEGIN IMMEDIATE`. Every writer of every relay process on the database takes it first, so
//!   writers run one at a time (clause 5): per-document sequence numbers are consecutive in
//!   commit order (clause 8), the audit trail stays one hash chain, the "is this id free?"
//!   checks before each insert cannot race, and two writers never deadlock. The lock is held
//!   until the transaction ends. Writes must be `READ COMMITTED`, not `REPEATABLE READ`: each
//!   statement after the lock then sees everything the previous lock holder committed, whereas a
//!   repeatable-read snapshot would be taken by the locking statement itself, before the wait.
//! - **Waiting** (clause 5). The session's `lock_timeout` (5 s, as SQLite's busy timeout)
//!   bounds the wait for the write lock; a lock timeout (SQLSTATE 55P03), a deadlock (40P01) or
//!   a serialization failure (40001) is [`StoreError::Busy`], and the transaction is rolled
//!   back.
//! - **Durable on `Ok`** (clause 2). The session sets `synchronous_commit = on` itself, so a
//!   server or role configured with `off` or `local` cannot silently weaken the contract: a
//!   commit returns once its WAL record is flushed (and, with synchronous replication configured,
//!   acknowledged by the standbys the server names).
//! - **Nothing on `Err`** (clause 3). An error drops the transaction, which rolls it back. One
//!   case no client-server database can rule out: the connection breaks while `COMMIT` is on its
//!   way; the method reports an error though the server may have committed.
//! - **Consistent reads** (clause 4). A read of several rows runs in one `REPEATABLE READ READ
//!   ONLY` transaction; a read of one statement runs on its own (a statement is its own snapshot).
//! - **Group commit** (clause 10). [`write_batch`](super::RelayStore::write_batch) is one
//!   transaction with one commit; each write runs under its own `SAVEPOINT`, rolled back alone
//!   when refused or failing.
//! - **Bounded memory** (clause 7). Bundles are selected with a running total of their sizes in
//!   SQL, so no more than a page's budget (or one oversized bundle) crosses the wire; the audit
//!   trail is verified while its rows stream in.
//! - **Deleting for good** (clause 9).
//!   [`delete_document`](super::RelayStore::delete_document) deletes every row of the document,
//!   as SQLite does, and after the commit runs `VACUUM` on the tables that held its blobs (and so
//!   on their TOAST tables). What PostgreSQL does **not**
//!   guarantee, unlike SQLite's `secure_delete`:
//!   - `VACUUM` marks the dead tuples' space free for reuse; it does not overwrite it. The old
//!     bytes stay in the free space of heap and TOAST pages until new rows reuse it, or in file
//!     system blocks when `VACUUM` truncates a table's file.
//!   - `VACUUM` cannot remove tuples that a transaction still open elsewhere may see (a long
//!     read, an admin's session); those are reclaimed by a later `VACUUM` or autovacuum.
//!   - The blobs were written to the WAL when stored. WAL segments are recycled after
//!     checkpoints, not wiped; archived WAL, base backups and streaming replicas keep their
//!     copies for as long as they are kept.
//!
//!   What protects a deleted document is therefore that its blobs are end-to-end encrypted and
//!   the relay never holds the keys; the operator decides how long WAL archives and backups live.
//!   `VACUUM FULL` would rewrite the tables, but takes an exclusive lock that stops every relay
//!   on the database meanwhile, so the relay does not run it.
//! - **Schema versions.** The table `between_relay_schema` holds the version; see [`schema`].
//!
//! The connection URL may hold a password: errors and logs name the database by
//! [`redacted_location`] only (user, hosts, ports, database name), never by the URL.

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Statement};
use tokio_postgres::config::Host;

use super::StoreError;

mod accounts;
mod audit;
mod batch;
mod documents;
mod log;
pub(crate) mod notice;
mod pairing;
mod relay_store;
mod schema;
mod sql;
pub(crate) mod target;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;

use sql::{Conn, Sql};
use target::Target;

/// The key of the advisory lock every write transaction takes first ("BTRL", the relay's
/// SQLite application id). Another application using the same key on the same database would
/// only make the relay's writes wait for it.
pub(crate) const WRITE_LOCK_KEY: i64 = 0x4254_524C;

/// How long a write waits for the write lock held by another connection.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables that hold a document's blobs: vacuumed after a document is deleted.
const BLOB_TABLES: &str =
    "bundles, snapshots, snapshot_parts, snapshot_uploads, key_envelopes, memberships";

/// Names the database in messages without its password: `postgresql://user@host:port/dbname`.
pub(crate) fn redacted_location(config: &tokio_postgres::Config) -> String {
    let user = config.get_user().unwrap_or("");
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let dbname = config.get_dbname().unwrap_or(user);
    format!("postgresql://{user}@{}/{dbname}", hosts.join(","))
}

/// The database as errors name it (see [`redacted_location`]), and the translation of PostgreSQL's
/// errors into [`StoreError`]s.
#[derive(Debug, Clone)]
pub(crate) struct Location(String);

impl Location {
    /// Turns a PostgreSQL error into a [`StoreError`]: waiting too long for a lock, a deadlock
    /// and a serialization failure are [`StoreError::Busy`] (try again); anything else is
    /// [`StoreError::Postgres`].
    pub(crate) fn fail(&self, error: postgres::Error) -> StoreError {
        let busy = [
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ];
        if error.code().is_some_and(|code| busy.contains(code)) {
            return StoreError::Busy {
                path: PathBuf::from(&self.0),
            };
        }
        StoreError::Postgres {
            database: self.0.clone(),
            detail: describe(&error),
            error,
        }
    }
}

/// What went wrong, in a few words: the server's message and SQLSTATE, or the client's error
/// and its cause. The server's `DETAIL` (which may quote key values) is left out.
pub(crate) fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!(
            "{} {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let what = match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    };
    match target::certificate_hint(error) {
        Some(hint) => format!("{what}; {hint}"),
        None => what,
    }
}

/// The connection and the statements prepared on it.
struct Session {
    /// The blocking client.
    client: Client,
    /// Statements prepared on this connection, by their SQL: each is parsed and planned once
    /// per connection instead of once per call.
    statements: HashMap<String, Statement>,
}

impl Session {
    /// Connects and sets up the session (see [`session_settings`]).
    fn connect(
        target: &Target,
        location: &Location,
        lock_timeout: Duration,
    ) -> Result<Session, StoreError> {
        let mut client = target.connect().map_err(|err| location.fail(err))?;
        client
            .batch_execute(&session_settings(lock_timeout))
            .map_err(|err| location.fail(err))?;
        Ok(Session {
            client,
            statements: HashMap::new(),
        })
    }
}

/// The settings every session of the relay runs with, whatever the server's defaults.
fn session_settings(lock_timeout: Duration) -> String {
    format!(
        "SET synchronous_commit = on; SET lock_timeout = {}",
        lock_timeout.as_millis().max(1)
    )
}

/// The PostgreSQL [`RelayStore`](super::RelayStore). See the module documentation.
pub(crate) struct PostgresStore {
    /// The connection. Read methods take `&self` but the client needs `&mut`; the store is used
    /// from one thread at a time, so a `RefCell` (which keeps the store `Send`) is enough.
    session: RefCell<Session>,
    /// How to connect again after the connection was lost.
    target: Target,
    /// The database, as messages name it.
    location: Location,
    /// The session's `lock_timeout`, kept for reconnecting.
    lock_timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location.0)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgresql://user:password@host:port/dbname`, or
    /// the `key=value` form) and brings its schema up to date in one transaction. A database
    /// from a newer relay is refused, untouched ([`StoreError::TooNew`]). Opening a database that
    /// another relay is opening at the same time is safe: migrations take the write lock.
    pub(crate) fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let target = Target::parse(url)?;
        let location = Location(target.location());
        let mut session = Session::connect(&target, &location, DEFAULT_BUSY_TIMEOUT)?;
        schema::migrate(&mut session.client, &location)?;
        Ok(PostgresStore {
            session: RefCell::new(session),
            target,
            location,
            lock_timeout: DEFAULT_BUSY_TIMEOUT,
        })
    }

    /// Changes how long a write waits for another connection holding the write lock (tests
    /// shorten it to see `Busy` quickly; serving keeps the default).
    #[cfg(test)]
    pub(crate) fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        let mut session = self.session()?;
        session
            .client
            .batch_execute(&session_settings(timeout))
            .map_err(|err| self.location.fail(err))?;
        drop(session);
        self.lock_timeout = timeout;
        Ok(())
    }

    /// The session, connected again first if the connection was lost (a server restart): the
    /// store then serves on instead of failing every request until the relay restarts.
    fn session(&self) -> Result<RefMut<'_, Session>, StoreError> {
        let mut session = self.session.borrow_mut();
        if session.client.is_closed() {
            *session = Session::connect(&self.target, &self.location, self.lock_timeout)?;
        }
        Ok(session)
    }

    /// Runs `work` as one write transaction: `READ COMMITTED`, the write lock taken first,
    /// committed if `work` succeeds and rolled back otherwise.
    fn write<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Sql<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(IsolationLevel::ReadCommitted, false, |sql| {
            sql.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])?;
            work(sql)
        })
    }

    /// Runs `work` as one `REPEATABLE READ READ ONLY` transaction: every statement sees the same
    /// snapshot.
    fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Sql<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(IsolationLevel::RepeatableRead, true, work)
    }

    /// Runs `work` in one transaction of `isolation`, committed if it succeeds.
    fn transaction<T, E: From<StoreError>>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        work: impl FnOnce(&mut Sql<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let tx = client
            .build_transaction()
            .isolation_level(isolation)
            .read_only(read_only)
            .start()
            .map_err(|err| self.location.fail(err))?;
        let mut sql = Sql::new(Conn::Transaction(tx), statements, &self.location);
        let value = work(&mut sql)?;
        sql.commit()?;
        Ok(value)
    }

    /// Runs `work`, a read of a single statement, without a transaction of its own.
    fn read_one<T>(
        &self,
        work: impl FnOnce(&mut Sql<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut session = self.session()?;
        let Session { client, statements } = &mut *session;
        let mut sql = Sql::new(Conn::Direct(client), statements, &self.location);
        work(&mut sql)
    }

    /// Reclaims the space of the rows a deletion left dead in the blob tables (see the module
    /// documentation for what this does not guarantee). The deletion is committed whatever
    /// happens here, so a failure is only logged.
    fn vacuum_blob_tables(&self) {
        let outcome = self.session().and_then(|mut session| {
            session
                .client
                .batch_execute(&format!("VACUUM {BLOB_TABLES}"))
                .map_err(|err| self.location.fail(err))
        });
        if let Err(err) = outcome {
            tracing::warn!("after deleting a document, VACUUM failed: {err}");
        }
    }

    /// Gives tests the raw client (to plant rows and inspect the schema behind the store's back).
    #[cfg(test)]
    pub(crate) fn raw_client(&self) -> RefMut<'_, Client> {
        RefMut::map(self.session.borrow_mut(), |session| &mut session.client)
    }
}
