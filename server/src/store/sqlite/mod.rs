//! The SQLite backend of [`RelayStore`]: one database file for the whole relay.
//!
//! # How it keeps the contract
//!
//! - **Durability.** The connection runs in WAL mode with `synchronous=FULL`, so a committed
//!   transaction is on disk before the method returns. Every mutating method is exactly one
//!   `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two writers never
//!   deadlock upgrading a read lock); any error drops the transaction, which rolls it back.
//! - **Deleting for good.** `secure_delete=ON` makes SQLite overwrite deleted content with
//!   zeros, and [`SqliteStore::delete_document`](DocumentStore::delete_document) then runs a
//!   `wal_checkpoint(TRUNCATE)` so the old page images leave the write-ahead log too.
//! - **Opening.** [`SqliteStore::open`] first inspects the file through a *read-only* connection
//!   (`application_id`, `user_version`, `PRAGMA quick_check`), so a damaged file, another
//!   program's database or one from a newer relay is refused with a clear error and never written
//!   to. A missing file is created complete under a temporary name and moved into place, so a
//!   crash during creation never leaves a half-made database at the configured path. `serve`
//!   opens with [`SqliteStore::open_for_serving`] instead, which skips `quick_check` (it reads
//!   the whole file, about a second per half gigabyte) and leaves it to an [`IntegrityCheck`] run
//!   in the background while the relay already serves.
//! - **Schema versions.** `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] lists
//!   the SQL that brings a database from version `n` to `n + 1`, applied in one transaction.
//! - **Backups** go through SQLite's online backup API from a separate read-only connection in a
//!   single step, i.e. one consistent read transaction: with WAL, the relay keeps committing
//!   while a backup runs ([`backup_database`]).
//! - **Memory.** Blobs are read only when returned and never cached; reads that return blobs are
//!   bounded by their `limit` and `max_bytes` arguments.
//!
//! # Schema (version 4)
//!
//! See [`SCHEMA_V1`]: `accounts`, `devices`, `invites` (hashes only), `documents` (owner and
//! head), `deleted_documents` (ids that are never reused), `members`, `bundles` (keyed by
//! `(doc, seq)`), `snapshots`, `key_envelopes`, `pairings`, and the hash-chained `audit` trail
//! with its `audit_head`. Ids are 16-byte (keys, hashes and mailboxes 32-byte) BLOBs checked by
//! length; every table is `STRICT`. [`SCHEMA_V2`] adds staff labels to `accounts` and `invites`
//! (refused on client rows by a `CHECK`) and an index of the audit trail by account.
//! [`SCHEMA_V3`] adds `accounts.invited_by` and `memberships` (each document's latest signed
//! membership list and its serial). [`SCHEMA_V4`] adds snapshots in parts: `snapshot_parts`
//! (a stored snapshot's parts after the first, which stays in `snapshots.data`) and
//! `snapshot_uploads` (parts staged until an upload's last part arrives).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use between_sqlite_file::{
    self as sqlite_file, build_in_place, check_integrity, checkpoint_truncate, exists, Format,
    Integrity, OpenCheck,
};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::config::DbConfig;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, ToSql, Transaction, TransactionBehavior,
};

use super::{
    account_from_invite, audit_hash, check_action, check_label, check_pairing_expiry, AccountId,
    AccountRecord, AccountRole, AccountStore, AccountSummary, AuditEntry, AuditError, AuditHead,
    AuditProblem, AuditRecord, AuditStore, BatchWrite, Bundle, Conflict, DeviceEntry, DeviceId,
    DeviceRecord, DeviceSummary, DocId, DocStats, DocumentStore, InviteError, InviteHash,
    InviteRecord, KeyEnvelope, LogPage, LogStore, Mailbox, MemberOf, Missing, PairingStore, Purged,
    Push, PushOutcome, PushRefusal, Registration, RelayStore, Seq, Snapshot, SnapshotProgress,
    SnapshotUpload, StoreError, StoredMembership, Written,
};

mod accounts;
mod audit;
mod batch;
mod documents;
mod log;
mod pairing;
mod schema;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use audit::*;
use schema::*;

/// `PRAGMA application_id` of a relay database ("BTRL"), so an unrelated SQLite file (or a
/// client's local store, "BTWN") is never mistaken for one.
pub(crate) const APPLICATION_ID: i32 = 0x4254_524C;

/// The schema version this build writes and understands (the length of [`MIGRATIONS`]); the
/// file format's own check uses [`FORMAT`], tests compare against this.
#[cfg(test)]
pub(crate) const SCHEMA_VERSION: i64 = FORMAT.schema_version();

/// How long a write waits for another connection (an admin command) holding the write lock.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The write-ahead log is truncated back to this size after a checkpoint.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Pages the write-ahead log may hold before a commit checkpoints it into the database file
/// (SQLite's default is 1,000, about 4 MiB). A group commit of pushes to many documents touches an
/// index page per document, so at the default nearly every commit also ran a checkpoint (more
/// writes and another `fsync`, on the commit's critical path); with a larger log, a page rewritten
/// by many commits is copied back once. This stays below [`JOURNAL_SIZE_LIMIT`] (4 KiB pages).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8 * 1024;

impl ToSql for AccountRole {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for AccountRole {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let token = value.as_str()?;
        AccountRole::parse(token)
            .ok_or_else(|| FromSqlError::Other(format!("unknown role {token:?}").into()))
    }
}

// The store's ids are the protocol's types, for which this crate cannot implement rusqlite's
// traits: they are bound as their bytes (`doc.as_bytes()`, a BLOB) and read back as `[u8; N]`,
// which checks the length (`DocId(row.get(0)?)`). Sequence numbers are bound with `seq_to_sql`
// and read with `seq_at`.

/// A sequence number as SQLite stores it. Numbers past `i64::MAX` are never assigned, so
/// clamping keeps every comparison with a stored number right.
fn seq_to_sql(seq: Seq) -> i64 {
    i64::try_from(seq.0).unwrap_or(i64::MAX)
}

/// A sequence number read from SQLite: an `INTEGER`, never negative.
struct StoredSeq(Seq);

impl FromSql for StoredSeq {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = i64::column_result(value)?;
        u64::try_from(raw)
            .map(|n| StoredSeq(Seq(n)))
            .map_err(|_| FromSqlError::OutOfRange(raw))
    }
}

/// Column `idx` of `row`: a sequence number.
fn seq_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Seq> {
    row.get(idx).map(|StoredSeq(seq)| seq)
}

/// Column `idx` of `row`: a sequence number, or `NULL`.
fn optional_seq_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Seq>> {
    Ok(row
        .get::<_, Option<StoredSeq>>(idx)?
        .map(|StoredSeq(seq)| seq))
}

/// A count or size as SQLite's `LIMIT` takes it.
fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Converts a count or length read from SQLite (never negative) to `u64`.
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// How the relay database's file is recognised, set up and migrated. The relay refuses a file
/// system without WAL support, overwrites deleted content (`secure_delete`) and keeps the
/// write-ahead log from growing without bound.
const FORMAT: Format = Format {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
    busy_timeout: DEFAULT_BUSY_TIMEOUT,
    require_wal: true,
    pragmas: &[
        ("secure_delete", 1),
        ("journal_size_limit", JOURNAL_SIZE_LIMIT),
        ("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES),
    ],
    file_pragmas: &[],
    noun: "database",
};

// What went wrong with the database file, in the words of the relay's messages.
sqlite_file::impl_from_error!(StoreError, E => {
    E::NotFound { path, source } | E::AlreadyExists { path, source } => {
        StoreError::Io { path, source }
    }
    E::ReadOnly { path, source: None } => StoreError::Io {
        path,
        source: io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the database is read-only; check the permissions of the file and of its folder",
        ),
    },
    E::ReadOnly {
        path,
        source: Some(source),
    }
    | E::Vanished { path, source } => StoreError::Database { path, source },
    E::Database { path, source }
        if matches!(
            source,
            rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..)
        ) =>
    {
        StoreError::Corrupt {
            path,
            detail: format!("it holds a value this relay cannot read: {source}"),
        }
    }
});

/// Attaches the database path to a SQLite error, as a [`StoreError`] (which the invite and audit
/// errors wrap, so `?` reaches them too).
trait AtPath<T> {
    /// Converts the error into a [`StoreError`] about the database at `path`.
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        sqlite_file::AtPath::at(self, path).map_err(StoreError::from)
    }
}

/// Copies the database at `source` to a new file `dest` through SQLite's online backup API,
/// while other connections keep reading and writing it. The copy is made in one step from a
/// read-only connection, i.e. from one consistent snapshot (writers are not blocked in WAL
/// mode), written under a temporary name, checked (`quick_check`), and only then moved to
/// `dest`, which must not exist.
pub(crate) fn backup_database(source: &Path, dest: &Path) -> Result<(), StoreError> {
    if exists(dest)? {
        return Err(StoreError::Io {
            path: dest.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file already exists there; choose a new name for the backup",
            ),
        });
    }
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .at(source)?;
    src.busy_timeout(DEFAULT_BUSY_TIMEOUT).at(source)?;
    build_in_place(dest, "backup", |tmp| {
        copy_into(&src, source, tmp, dest)?;
        FORMAT.inspect(tmp, dest)?;
        Ok(())
    })
}

/// Runs the backup from `src` into a new database at `tmp` (errors name `dest`).
fn copy_into(src: &Connection, source: &Path, tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    let mut dst = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .at(dest)?;
    dst.pragma_update(None, "synchronous", "FULL").at(dest)?;
    {
        let backup = Backup::new(src, &mut dst).at(dest)?;
        let deadline = Instant::now() + DEFAULT_BUSY_TIMEOUT * 4;
        loop {
            match backup.step(-1).at(source)? {
                StepResult::Done => break,
                StepResult::More => {}
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    return Err(StoreError::Busy {
                        path: source.to_path_buf(),
                    })
                }
            }
        }
    }
    dst.close().map_err(|(_, err)| err).at(dest)
}

/// The SQLite [`RelayStore`]. See the module documentation.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// The read-write connection.
    conn: Connection,
    /// The database file.
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the relay database at `path`, creating it if nothing is there. An existing file is
    /// first inspected read-only and refused, untouched, if it is damaged
    /// ([`StoreError::Corrupt`]), not a relay database or from a newer relay
    /// ([`StoreError::TooNew`]); an older one is migrated in one transaction.
    pub(crate) fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, OpenCheck::Full)
    }

    /// Opens like [`SqliteStore::open`] but without the full-file `quick_check` of an existing
    /// file (the cheap checks stay, and a file to migrate is still checked in full first): the
    /// caller runs an [`IntegrityCheck`] itself, and stops serving if it finds damage. Only
    /// `serve` opens this way, so that start-up time does not grow with the database.
    pub(crate) fn open_for_serving(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, OpenCheck::Deferred)
    }

    fn open_with(path: &Path, check: OpenCheck) -> Result<SqliteStore, StoreError> {
        if !exists(path)? {
            match FORMAT.create(path, |_| Ok(())) {
                // Another process created it meanwhile: open theirs.
                Ok(()) | Err(sqlite_file::Error::AlreadyExists { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let conn = FORMAT.open_with(path, check)?;
        // Query plans that do not depend on bound values. Without this, SQLite marked the
        // push's device-and-account lookup to be re-prepared (parsed and planned again) after
        // every rebinding of its parameter: about a third of the storage thread's time per push.
        // The relay never runs ANALYZE, so no plan could gain from looking at the values.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .at(path)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Changes how long a write waits for another process holding the write lock (tests shorten
    /// it to see `Busy` quickly; serving keeps the default).
    #[cfg(test)]
    pub(crate) fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(timeout).at(&self.path)
    }

    /// Runs the full `PRAGMA integrity_check` (slower than the `quick_check` at open; for an
    /// admin's check command).
    pub(crate) fn verify_integrity(&self) -> Result<(), StoreError> {
        Ok(check_integrity(&self.conn, &self.path, Integrity::Full)?)
    }

    /// Copies everything from the write-ahead log into the database file and truncates the log.
    /// Returns false if readers kept it from completing. (For tests that read the file itself.)
    #[cfg(test)]
    pub(crate) fn checkpoint(&mut self) -> Result<bool, StoreError> {
        Ok(checkpoint_truncate(&self.conn, &self.path)?)
    }

    /// Gives tests the raw connection (to tamper with the file as an attacker would).
    #[cfg(test)]
    pub(crate) fn raw_connection(&self) -> &Connection {
        &self.conn
    }
}

/// `PRAGMA quick_check` of the relay database on a read-only connection of its own, for the
/// check a serving relay runs in the background after [`SqliteStore::open_for_serving`]. It can
/// be interrupted from another thread ([`IntegrityCheck::interrupt_handle`]), so a relay told to
/// stop does not wait for it.
pub(crate) struct IntegrityCheck {
    /// Read-only: the check can never write to the file, whatever state it is in.
    conn: Connection,
    /// The database file.
    path: PathBuf,
}

impl IntegrityCheck {
    /// Opens the read-only connection (this reads nothing yet).
    pub(crate) fn new(path: &Path) -> Result<IntegrityCheck, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .at(path)?;
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).at(path)?;
        Ok(IntegrityCheck {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// What stops [`IntegrityCheck::run`] from another thread (it then fails).
    pub(crate) fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// Runs `quick_check` over the whole file, as committed when it starts (the write-ahead
    /// log included). Damage is [`StoreError::Corrupt`].
    pub(crate) fn run(&self) -> Result<(), StoreError> {
        Ok(check_integrity(&self.conn, &self.path, Integrity::Quick)?)
    }
}

/// Starts a write transaction, taking the write lock at once.
fn begin_write<'c>(conn: &'c mut Connection, path: &Path) -> Result<Transaction<'c>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .at(path)
}

/// Whether `sql` (with `params`) returns a row.
fn row_exists<P: rusqlite::Params>(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: P,
) -> Result<bool, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.exists(params))
        .at(path)
}

/// Fails with [`Missing::Document`] unless `doc` exists; returns its head.
fn require_document(conn: &Connection, path: &Path, doc: DocId) -> Result<Seq, StoreError> {
    conn.prepare_cached("SELECT head FROM documents WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([doc.as_bytes()], |row| seq_at(row, 0))
                .optional()
        })
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Document(doc)))
}

/// Fails with [`Missing::Account`] unless `account` exists; returns whether it is disabled.
fn require_account(conn: &Connection, path: &Path, account: AccountId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT disabled_at_ms IS NOT NULL FROM accounts WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([account.as_bytes()], |row| row.get(0))
                .optional()
        })
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Account(account)))
}
