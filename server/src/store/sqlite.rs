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

/// `PRAGMA application_id` of a relay database ("BTRL"), so an unrelated SQLite file (or a
/// client's local store, "BTWN") is never mistaken for one.
pub(crate) const APPLICATION_ID: i32 = 0x4254_524C;

/// Schema migrations: entry `n` brings a database from version `n` to `n + 1`. Never edit an
/// entry once released; append a new one.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

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

/// Version 1 of the schema.
const SCHEMA_V1: &str = "
CREATE TABLE accounts (
    id             BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    identity_pub   BLOB    NOT NULL UNIQUE CHECK (length(identity_pub) = 32),
    role           TEXT    NOT NULL CHECK (role IN ('client', 'therapist', 'admin')),
    created_at_ms  INTEGER NOT NULL,
    disabled_at_ms INTEGER
) STRICT;

CREATE TABLE devices (
    id               BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    account          BLOB    NOT NULL REFERENCES accounts (id),
    signing_pub      BLOB    NOT NULL UNIQUE CHECK (length(signing_pub) = 32),
    certificate      BLOB    NOT NULL,
    registered_at_ms INTEGER NOT NULL,
    disabled_at_ms   INTEGER
) STRICT;

CREATE INDEX devices_by_account ON devices (account);

CREATE TABLE invites (
    hash          BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    kind          TEXT    NOT NULL CHECK (kind IN ('client', 'therapist', 'admin')),
    created_by    BLOB    REFERENCES accounts (id),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER
) STRICT;

CREATE INDEX invites_by_expiry ON invites (expires_at_ms);

CREATE TABLE documents (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    owner         BLOB    NOT NULL REFERENCES accounts (id),
    created_at_ms INTEGER NOT NULL,
    head          INTEGER NOT NULL DEFAULT 0 CHECK (head >= 0)
) STRICT;

CREATE TABLE deleted_documents (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    deleted_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    doc     BLOB NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    account BLOB NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (doc, account)
) STRICT, WITHOUT ROWID;

CREATE INDEX members_by_account ON members (account);

CREATE TABLE bundles (
    doc            BLOB    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    appended_at_ms INTEGER NOT NULL,
    data           BLOB    NOT NULL,
    PRIMARY KEY (doc, seq)
) STRICT;

CREATE TABLE snapshots (
    doc    BLOB    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    covers INTEGER NOT NULL CHECK (covers >= 0),
    data   BLOB    NOT NULL
) STRICT;

CREATE TABLE key_envelopes (
    doc       BLOB    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    recipient BLOB    NOT NULL REFERENCES devices (id),
    epoch     INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    data      BLOB    NOT NULL,
    PRIMARY KEY (doc, recipient, epoch)
) STRICT;

CREATE TABLE pairings (
    mailbox       BLOB    NOT NULL PRIMARY KEY CHECK (length(mailbox) = 32),
    expires_at_ms INTEGER NOT NULL,
    payload       BLOB    NOT NULL
) STRICT;

CREATE INDEX pairings_by_expiry ON pairings (expires_at_ms);

CREATE TABLE audit (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id >= 1),
    at_ms   INTEGER NOT NULL,
    account BLOB    CHECK (account IS NULL OR length(account) = 16),
    device  BLOB    CHECK (device IS NULL OR length(device) = 16),
    doc     BLOB    CHECK (doc IS NULL OR length(doc) = 16),
    action  TEXT    NOT NULL,
    hash    BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE INDEX audit_by_doc ON audit (doc, id);

CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TABLE audit_head (
    one  INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    rows INTEGER NOT NULL CHECK (rows >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

INSERT INTO audit_head (one, rows, hash) VALUES (1, 0, zeroblob(32));
";

/// Version 2: the label the practice admin gives a staff account (never a client's), carried by
/// its invite until redeemed; the audit trail by account, for a device reading its account's
/// sign-ins.
const SCHEMA_V2: &str = "
ALTER TABLE accounts ADD COLUMN label TEXT CHECK (label IS NULL OR role <> 'client');
ALTER TABLE invites ADD COLUMN label TEXT CHECK (label IS NULL OR kind <> 'client');
CREATE INDEX audit_by_account ON audit (account, id);
";

/// Version 3: sharing. Which account's invite registered an account (a client's therapist), and
/// per document the latest membership list its owner signed, with its serial (`INTEGER` holds
/// serials up to `i64::MAX`; larger ones are refused before they get here).
const SCHEMA_V3: &str = "
ALTER TABLE accounts ADD COLUMN invited_by BLOB REFERENCES accounts (id)
    CHECK (invited_by IS NULL OR length(invited_by) = 16);

CREATE TABLE memberships (
    doc    BLOB    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    serial INTEGER NOT NULL CHECK (serial >= 0),
    data   BLOB    NOT NULL
) STRICT;
";

/// Version 4: snapshots in parts. A snapshot larger than one frame is uploaded part by part;
/// the parts wait in `snapshot_uploads` (per document and uploading device) until the last one
/// arrives, and a stored snapshot keeps its first part in `snapshots.data` (so a snapshot of
/// one part is stored as before) and the others in `snapshot_parts`.
const SCHEMA_V4: &str = "
CREATE TABLE snapshot_parts (
    doc  BLOB    NOT NULL REFERENCES snapshots (doc) ON DELETE CASCADE,
    part INTEGER NOT NULL CHECK (part >= 1),
    data BLOB    NOT NULL,
    PRIMARY KEY (doc, part)
) STRICT;

CREATE TABLE snapshot_uploads (
    doc      BLOB    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    uploader BLOB    NOT NULL CHECK (length(uploader) = 16),
    part     INTEGER NOT NULL CHECK (part >= 0),
    covers   INTEGER NOT NULL CHECK (covers >= 1),
    parts    INTEGER NOT NULL CHECK (part < parts),
    data     BLOB    NOT NULL,
    PRIMARY KEY (doc, uploader, part)
) STRICT;
";

macro_rules! sql_bytes {
    ($name:ident) => {
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Blob(self.as_bytes())))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                FromSql::column_result(value).map($name::from_bytes)
            }
        }
    };
}

sql_bytes!(DocId);
sql_bytes!(DeviceId);
sql_bytes!(AccountId);
sql_bytes!(Mailbox);
sql_bytes!(InviteHash);

impl ToSql for Seq {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(seq_to_sql(*self)))
    }
}

impl FromSql for Seq {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = i64::column_result(value)?;
        u64::try_from(raw)
            .map(Seq)
            .map_err(|_| FromSqlError::OutOfRange(raw))
    }
}

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

/// A sequence number as SQLite stores it. Numbers past `i64::MAX` are never assigned, so
/// clamping keeps every comparison with a stored number right.
fn seq_to_sql(seq: Seq) -> i64 {
    i64::try_from(seq.0).unwrap_or(i64::MAX)
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

/// The end of the audit chain while a batch is written: the last row number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chain {
    /// Rows so far.
    rows: u64,
    /// The hash of the last row (zeros for none).
    hash: [u8; 32],
}

/// Reads the recorded end of the audit chain. The chain continues from the recorded head, not
/// from whatever row is last, so rows removed from the tail leave a gap that verification
/// reports.
fn read_chain(conn: &Connection, path: &Path) -> Result<Chain, StoreError> {
    let (rows, hash): (i64, [u8; 32]) = conn
        .prepare_cached("SELECT rows, hash FROM audit_head WHERE one = 1")
        .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
        .at(path)?;
    Ok(Chain {
        rows: non_negative(rows),
        hash,
    })
}

/// Records `chain` as the end of the audit trail (once per batch, not once per row).
fn write_chain(conn: &Connection, path: &Path, chain: &Chain) -> Result<(), StoreError> {
    let rows = i64::try_from(chain.rows).unwrap_or(i64::MAX);
    conn.prepare_cached("UPDATE audit_head SET rows = ?1, hash = ?2 WHERE one = 1")
        .and_then(|mut stmt| stmt.execute(params![rows, chain.hash]))
        .at(path)?;
    Ok(())
}

/// Inserts `record` as the next audit row after `chain` and advances `chain` to it (the caller
/// checked the action token). The recorded head is written by the caller at the end.
fn insert_audit(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    record: &AuditRecord,
) -> Result<u64, StoreError> {
    let id = chain.rows.saturating_add(1);
    let hash = audit_hash(&chain.hash, id, record);
    let id_sql = i64::try_from(id).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO audit (id, at_ms, account, device, doc, action, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id_sql,
            record.at_ms,
            record.account,
            record.device,
            record.doc,
            record.action,
            hash
        ])
    })
    .at(path)?;
    *chain = Chain { rows: id, hash };
    Ok(id)
}

/// A push's device, whether it is disabled and whether its account is.
const PUSH_DEVICE_SQL: &str =
    "SELECT d.account, d.disabled_at_ms IS NOT NULL, a.disabled_at_ms IS NOT NULL
   FROM devices d JOIN accounts a ON a.id = d.account WHERE d.id = ?1";

/// The checks of a push, read in the batch's transaction: the device is registered and
/// enabled, the document exists and the device's account is a member. Returns that account.
fn check_push(
    conn: &Connection,
    path: &Path,
    push: &Push,
) -> Result<Result<AccountId, PushRefusal>, StoreError> {
    let device: Option<(AccountId, bool, bool)> = conn
        .prepare_cached(PUSH_DEVICE_SQL)
        .and_then(|mut stmt| {
            stmt.query_row([push.device], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .at(path)?;
    let account = match device {
        None => return Ok(Err(PushRefusal::UnknownDevice)),
        Some((_, device_disabled, account_disabled)) if device_disabled || account_disabled => {
            return Ok(Err(PushRefusal::Disabled { account_disabled }))
        }
        Some((account, _, _)) => account,
    };
    if !row_exists(
        conn,
        path,
        "SELECT 1 FROM documents WHERE id = ?1",
        [push.doc],
    )? {
        let deleted = row_exists(
            conn,
            path,
            "SELECT 1 FROM deleted_documents WHERE id = ?1",
            [push.doc],
        )?;
        return Ok(Err(PushRefusal::NoDocument { deleted }));
    }
    if !row_exists(
        conn,
        path,
        "SELECT 1 FROM members WHERE doc = ?1 AND account = ?2",
        params![push.doc, account],
    )? {
        return Ok(Err(PushRefusal::NotMember));
    }
    Ok(Ok(account))
}

/// Appends a checked push: the bundle with the document's next sequence number and its audit
/// row.
fn append_push(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    push: &Push,
    account: AccountId,
) -> Result<PushOutcome, StoreError> {
    let seq = append_to_log(conn, path, push.doc, &push.bundle, push.at_ms)?;
    let audit_row = insert_audit(
        conn,
        path,
        chain,
        &AuditRecord {
            at_ms: push.at_ms,
            account: Some(account),
            device: Some(push.device),
            doc: Some(push.doc),
            action: push.action.to_owned(),
        },
    )?;
    Ok(PushOutcome::Appended { seq, audit_row })
}

/// Appends `bundle` to `doc`'s log with the next sequence number (inside the caller's write
/// transaction).
fn append_to_log(
    conn: &Connection,
    path: &Path,
    doc: DocId,
    bundle: &[u8],
    now_ms: i64,
) -> Result<Seq, StoreError> {
    let seq: Seq = conn
        .prepare_cached("UPDATE documents SET head = head + 1 WHERE id = ?1 RETURNING head")
        .and_then(|mut stmt| stmt.query_row([doc], |row| row.get(0)).optional())
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
    conn.prepare_cached(
        "INSERT INTO bundles (doc, seq, appended_at_ms, data) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| stmt.execute(params![doc, seq, now_ms, bundle]))
    .at(path)?;
    Ok(seq)
}

/// One write of a batch (see [`RelayStore::write_batch`]). The outer `Err` fails the batch; the
/// inner one is this write's own refusal or failure, after which nothing of it remains.
fn write_one(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    write: &BatchWrite<'_>,
) -> Result<Result<Written, StoreError>, StoreError> {
    match write {
        BatchWrite::Push(push) => {
            if let Err(err) = check_action(push.action) {
                return Ok(Err(err));
            }
            match check_push(conn, path, push)? {
                Err(refusal) => Ok(Ok(Written::Push(PushOutcome::Refused(refusal)))),
                Ok(account) => {
                    Ok(
                        in_savepoint(conn, path, || append_push(conn, path, chain, push, account))?
                            .map(Written::Push),
                    )
                }
            }
        }
        BatchWrite::Audit(record) => {
            if let Err(err) = check_action(&record.action) {
                return Ok(Err(err));
            }
            Ok(
                in_savepoint(conn, path, || insert_audit(conn, path, chain, record))?
                    .map(Written::Audit),
            )
        }
    }
}

/// Runs `write` under a savepoint of the caller's transaction, so that a write failing half-way
/// is undone on its own and the batch's other writes stand. The outer `Err` is for the batch:
/// the savepoint itself could not be taken, released or rolled back to.
fn in_savepoint<T>(
    conn: &Connection,
    path: &Path,
    write: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .at(path)
    };
    run("SAVEPOINT batch_write")?;
    let result = write();
    if result.is_err() {
        run("ROLLBACK TO batch_write")?;
    }
    run("RELEASE batch_write")?;
    Ok(result)
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
        .and_then(|mut stmt| stmt.query_row([doc], |row| row.get(0)).optional())
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Document(doc)))
}

/// Fails with [`Missing::Account`] unless `account` exists; returns whether it is disabled.
fn require_account(conn: &Connection, path: &Path, account: AccountId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT disabled_at_ms IS NOT NULL FROM accounts WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([account], |row| row.get(0)).optional())
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Account(account)))
}

/// Inserts a new account after checking that its id and identity key are free.
fn insert_account(
    conn: &Connection,
    path: &Path,
    record: &AccountRecord,
) -> Result<(), StoreError> {
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM accounts WHERE id = ?1",
        [record.account],
    )? {
        return Err(StoreError::Conflict(Conflict::AccountExists(
            record.account,
        )));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM accounts WHERE identity_pub = ?1",
        [record.identity_pub],
    )? {
        return Err(StoreError::Conflict(Conflict::IdentityKeyInUse));
    }
    check_label(record.role, record.label.as_deref())?;
    conn.execute(
        "INSERT INTO accounts (id, identity_pub, role, created_at_ms, disabled_at_ms, label)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            record.account,
            record.identity_pub,
            record.role,
            record.created_at_ms,
            record.disabled_at_ms,
            record.label
        ],
    )
    .at(path)?;
    Ok(())
}

/// Inserts a new device after checking its account and that its id and key are free.
fn insert_device(conn: &Connection, path: &Path, device: &DeviceRecord) -> Result<(), StoreError> {
    if require_account(conn, path, device.account)? {
        return Err(StoreError::Conflict(Conflict::AccountDisabled(
            device.account,
        )));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM devices WHERE id = ?1",
        [device.device],
    )? {
        return Err(StoreError::Conflict(Conflict::DeviceExists(device.device)));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM devices WHERE signing_pub = ?1",
        [device.signing_pub],
    )? {
        return Err(StoreError::Conflict(Conflict::SigningKeyInUse));
    }
    conn.execute(
        "INSERT INTO devices (id, account, signing_pub, certificate, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device.device,
            device.account,
            device.signing_pub,
            device.certificate,
            device.registered_at_ms
        ],
    )
    .at(path)?;
    Ok(())
}

/// Checks an invite and marks it used (inside the caller's write transaction).
fn redeem(
    conn: &Connection,
    path: &Path,
    hash: &InviteHash,
    now_ms: i64,
) -> Result<InviteRecord, InviteError> {
    let found = conn
        .prepare_cached(
            "SELECT kind, created_by, created_at_ms, expires_at_ms, used_at_ms, label
               FROM invites WHERE hash = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([hash], |row| {
                Ok((
                    InviteRecord {
                        hash: *hash,
                        kind: row.get(0)?,
                        created_by: row.get(1)?,
                        created_at_ms: row.get(2)?,
                        expires_at_ms: row.get(3)?,
                        label: row.get(5)?,
                    },
                    row.get::<_, Option<i64>>(4)?,
                ))
            })
            .optional()
        })
        .at(path)?;
    let Some((invite, used_at_ms)) = found else {
        return Err(InviteError::Unknown);
    };
    if used_at_ms.is_some() {
        return Err(InviteError::Used);
    }
    if now_ms >= invite.expires_at_ms {
        return Err(InviteError::Expired);
    }
    conn.execute(
        "UPDATE invites SET used_at_ms = ?2 WHERE hash = ?1",
        params![hash, now_ms],
    )
    .at(path)?;
    Ok(invite)
}

/// The columns [`account_from_row`] reads.
const ACCOUNT_COLUMNS: &str = "id, identity_pub, role, created_at_ms, disabled_at_ms, label";

/// Reads a row of [`ACCOUNT_COLUMNS`].
fn account_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord {
        account: row.get(0)?,
        identity_pub: row.get(1)?,
        role: row.get(2)?,
        created_at_ms: row.get(3)?,
        disabled_at_ms: row.get(4)?,
        label: row.get(5)?,
    })
}

/// The columns [`device_from_row`] reads, from `devices d JOIN accounts a`.
const DEVICE_COLUMNS: &str =
    "d.id, d.account, d.signing_pub, d.certificate, d.registered_at_ms, a.role,
     (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL),
     a.disabled_at_ms IS NOT NULL";

/// Reads a row of [`DEVICE_COLUMNS`].
fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceEntry> {
    Ok(DeviceEntry {
        record: DeviceRecord {
            device: row.get(0)?,
            account: row.get(1)?,
            signing_pub: row.get(2)?,
            certificate: row.get(3)?,
            registered_at_ms: row.get(4)?,
        },
        role: row.get(5)?,
        disabled: row.get(6)?,
        account_disabled: row.get(7)?,
    })
}

/// The columns [`audit_entry_from_row`] reads.
const AUDIT_COLUMNS: &str = "id, at_ms, account, device, doc, action";

/// Reads a row of [`AUDIT_COLUMNS`].
fn audit_entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    let id: i64 = row.get(0)?;
    Ok(AuditEntry {
        id: non_negative(id),
        record: AuditRecord {
            at_ms: row.get(1)?,
            account: row.get(2)?,
            device: row.get(3)?,
            doc: row.get(4)?,
            action: row.get(5)?,
        },
    })
}

/// Reads the audit rows `sql` selects (its `?1` is bound to `key`, `?2` to `after`, `?3` to
/// `limit`).
fn read_audit<K: ToSql>(
    conn: &Connection,
    path: &Path,
    sql: &str,
    key: K,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).at(path)?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(
            params![key, after, limit_to_sql(limit)],
            audit_entry_from_row,
        )
        .at(path)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
}

/// The query behind [`DocStats`]; callers append a `WHERE` and an `ORDER BY`.
/// A document's bytes count its snapshot, all its parts, and parts staged for the next one.
const DOC_STATS_SQL: &str = "
SELECT d.id, d.owner, d.created_at_ms, d.head, s.covers,
       coalesce(length(s.data), 0)
         + (SELECT coalesce(sum(length(p.data)), 0) FROM snapshot_parts p WHERE p.doc = d.id)
         + (SELECT coalesce(sum(length(u.data)), 0) FROM snapshot_uploads u WHERE u.doc = d.id),
       (SELECT count(*) FROM bundles b WHERE b.doc = d.id),
       (SELECT coalesce(sum(length(b.data)), 0) FROM bundles b WHERE b.doc = d.id)
  FROM documents d LEFT JOIN snapshots s ON s.doc = d.id";

/// Reads a row of [`DOC_STATS_SQL`].
fn doc_stats_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DocStats> {
    let snapshot_bytes: i64 = row.get(5)?;
    let bundles: i64 = row.get(6)?;
    let bundle_bytes: i64 = row.get(7)?;
    Ok(DocStats {
        doc: row.get(0)?,
        owner: row.get(1)?,
        created_at_ms: row.get(2)?,
        head: row.get(3)?,
        snapshot_covers: row.get(4)?,
        bundles: non_negative(bundles),
        bytes: non_negative(snapshot_bytes).saturating_add(non_negative(bundle_bytes)),
    })
}

/// Reads bundles of `doc` after `after`, at most `limit`, within `budget` bytes. With
/// `first_free`, the first bundle is returned whatever its size.
fn read_bundles(
    conn: &Connection,
    path: &Path,
    doc: DocId,
    after: Seq,
    limit: usize,
    budget: usize,
    first_free: bool,
) -> Result<Vec<Bundle>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, length(data), data FROM bundles
              WHERE doc = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .at(path)?;
    let mut rows = stmt
        .query(params![doc, after, limit_to_sql(limit)])
        .at(path)?;
    let mut used: usize = 0;
    while let Some(row) = rows.next().at(path)? {
        let len: i64 = row.get(1).at(path)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let fits = used.checked_add(len).is_some_and(|total| total <= budget);
        let oversized_first = first_free && out.is_empty();
        if !(fits || oversized_first) {
            break;
        }
        // Only now is the blob itself read.
        out.push(Bundle {
            seq: row.get(0).at(path)?,
            bytes: row.get(2).at(path)?,
        });
        used = used.saturating_add(len);
    }
    Ok(out)
}

/// Reads the snapshot of `doc` (which must exist), if any.
fn read_snapshot(
    conn: &Connection,
    path: &Path,
    doc: DocId,
) -> Result<Option<Snapshot>, StoreError> {
    let Some((covers, first)) = conn
        .prepare_cached("SELECT covers, data FROM snapshots WHERE doc = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([doc], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .at(path)?
    else {
        return Ok(None);
    };
    let mut parts = vec![first];
    let mut stmt = conn
        .prepare_cached("SELECT data FROM snapshot_parts WHERE doc = ?1 ORDER BY part")
        .at(path)?;
    let rest = stmt.query_map([doc], |row| row.get(0)).at(path)?;
    for part in rest {
        parts.push(part.at(path)?);
    }
    Ok(Some(Snapshot { covers, parts }))
}

/// The parts `upload.uploader` staged for `doc`, in order, if they are exactly parts
/// `0..part` of the same upload; otherwise the part does not continue it.
fn staged_parts(
    tx: &Transaction<'_>,
    path: &Path,
    doc: DocId,
    upload: SnapshotUpload,
    part: u32,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT part, covers, parts, data FROM snapshot_uploads
              WHERE doc = ?1 AND uploader = ?2 ORDER BY part",
        )
        .at(path)?;
    let rows = stmt
        .query_map(params![doc, upload.uploader], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                row.get::<_, Seq>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })
        .at(path)?;
    let mut staged = Vec::new();
    let mut same_upload = true;
    for row in rows {
        let (number, covers, parts, data) = row.at(path)?;
        same_upload &= usize::try_from(number).is_ok_and(|n| n == staged.len())
            && covers == upload.covers
            && parts == upload.parts;
        staged.push(data);
    }
    let next = u32::try_from(staged.len()).ok();
    if same_upload && next == Some(part) {
        return Ok(staged);
    }
    Err(StoreError::SnapshotPartOutOfOrder {
        doc,
        part,
        expected: next.filter(|_| same_upload && !staged.is_empty()),
    })
}

/// Makes `parts` the snapshot of `doc` covering `covers`: replaces the stored one, drops every
/// upload staged for the document and the bundles the snapshot covers.
fn store_snapshot(
    tx: &Transaction<'_>,
    path: &Path,
    doc: DocId,
    covers: Seq,
    parts: &[Vec<u8>],
) -> Result<(), StoreError> {
    let Some((first, rest)) = parts.split_first() else {
        return Err(StoreError::Invalid("a snapshot has at least one part"));
    };
    for sql in [
        "DELETE FROM snapshot_parts WHERE doc = ?1",
        "DELETE FROM snapshot_uploads WHERE doc = ?1",
    ] {
        tx.execute(sql, [doc]).at(path)?;
    }
    tx.execute(
        "INSERT INTO snapshots (doc, covers, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (doc) DO UPDATE SET covers = excluded.covers, data = excluded.data",
        params![doc, covers, first],
    )
    .at(path)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO snapshot_parts (doc, part, data) VALUES (?1, ?2, ?3)")
        .at(path)?;
    for (part, data) in (1_u32..).zip(rest) {
        insert.execute(params![doc, part, data]).at(path)?;
    }
    tx.execute(
        "DELETE FROM bundles WHERE doc = ?1 AND seq <= ?2",
        params![doc, covers],
    )
    .at(path)?;
    Ok(())
}

/// Reads what the snapshot of `doc` covers and its size, without reading the snapshot.
fn snapshot_position(
    conn: &Connection,
    path: &Path,
    doc: DocId,
) -> Result<Option<(Seq, usize)>, StoreError> {
    conn.prepare_cached(
        "SELECT covers, length(data)
                + (SELECT coalesce(sum(length(p.data)), 0) FROM snapshot_parts p WHERE p.doc = ?1)
           FROM snapshots WHERE doc = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([doc], |row| {
            let len: i64 = row.get(1)?;
            Ok((row.get(0)?, usize::try_from(len).unwrap_or(usize::MAX)))
        })
        .optional()
    })
    .at(path)
}

impl AccountStore for SqliteStore {
    fn create_account(
        &mut self,
        account: AccountId,
        identity_pub: [u8; 32],
        role: AccountRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        insert_account(
            &tx,
            path,
            &AccountRecord {
                account,
                identity_pub,
                role,
                created_at_ms: now_ms,
                disabled_at_ms: None,
                label: None,
            },
        )?;
        tx.commit().at(path)
    }

    fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([account], account_from_row).optional())
            .at(&self.path)
    }

    fn account_by_identity(
        &self,
        identity_pub: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identity_pub = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([identity_pub], account_from_row).optional())
            .at(&self.path)
    }

    fn disable_account(&mut self, account: AccountId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let changed = tx
            .execute(
                "UPDATE accounts SET disabled_at_ms = coalesce(disabled_at_ms, ?2) WHERE id = ?1",
                params![account, now_ms],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::NotFound(Missing::Account(account)));
        }
        tx.commit().at(path)
    }

    fn enable_account(&mut self, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if !require_account(&tx, path, account)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE accounts SET disabled_at_ms = NULL WHERE id = ?1",
            [account],
        )
        .at(path)?;
        tx.commit().at(path)?;
        Ok(true)
    }

    fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<AccountSummary>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.role, a.label, a.created_at_ms, a.disabled_at_ms,
                        (SELECT count(*) FROM devices d WHERE d.account = a.id)
                   FROM accounts a
                  WHERE ?1 IS NULL OR a.role = ?1
                  ORDER BY a.created_at_ms, a.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([role], |row| {
                let devices: i64 = row.get(5)?;
                Ok(AccountSummary {
                    account: row.get(0)?,
                    role: row.get(1)?,
                    label: row.get(2)?,
                    created_at_ms: row.get(3)?,
                    disabled_at_ms: row.get(4)?,
                    devices: non_negative(devices),
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn register_device(&mut self, device: &DeviceRecord) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        insert_device(&tx, path, device)?;
        tx.commit().at(path)
    }

    fn device(&self, device: DeviceId) -> Result<Option<DeviceEntry>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
                  WHERE d.id = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([device], device_from_row).optional())
            .at(&self.path)
    }

    fn devices_of(&self, account: AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
                  WHERE d.account = ?1 ORDER BY d.registered_at_ms, d.id"
            ))
            .at(path)?;
        let rows = stmt.query_map([account], device_from_row).at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn disable_device(&mut self, device: DeviceId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let changed = tx
            .execute(
                "UPDATE devices SET disabled_at_ms = coalesce(disabled_at_ms, ?2) WHERE id = ?1",
                params![device, now_ms],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::NotFound(Missing::Device(device)));
        }
        tx.commit().at(path)
    }

    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.id, d.account, a.role, d.registered_at_ms,
                        (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL)
                   FROM devices d JOIN accounts a ON a.id = d.account
                  ORDER BY d.registered_at_ms, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(DeviceSummary {
                    device: row.get(0)?,
                    account: row.get(1)?,
                    role: row.get(2)?,
                    registered_at_ms: row.get(3)?,
                    disabled: row.get(4)?,
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn create_invite(&mut self, invite: &InviteRecord) -> Result<(), StoreError> {
        check_label(invite.kind, invite.label.as_deref())?;
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if row_exists(
            &tx,
            path,
            "SELECT 1 FROM invites WHERE hash = ?1",
            [invite.hash],
        )? {
            return Err(StoreError::Conflict(Conflict::InviteExists));
        }
        if let Some(creator) = invite.created_by {
            require_account(&tx, path, creator)?;
        }
        tx.execute(
            "INSERT INTO invites (hash, kind, created_by, created_at_ms, expires_at_ms, label)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                invite.hash,
                invite.kind,
                invite.created_by,
                invite.created_at_ms,
                invite.expires_at_ms,
                invite.label
            ],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    #[cfg(test)]
    fn redeem_invite(
        &mut self,
        hash: &InviteHash,
        now_ms: i64,
    ) -> Result<InviteRecord, InviteError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let invite = redeem(&tx, path, hash, now_ms)?;
        tx.commit().at(path)?;
        Ok(invite)
    }

    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError> {
        let path = &self.path;
        if registration.device.account != registration.account {
            return Err(StoreError::Conflict(Conflict::DeviceAccountMismatch).into());
        }
        let tx = begin_write(&mut self.conn, path)?;
        let invite = redeem(&tx, path, &registration.invite, now_ms)?;
        // A wrong role drops the transaction, which rolls the redemption back: the invite stays
        // usable.
        let account = account_from_invite(&invite, registration, now_ms)?;
        insert_account(&tx, path, &account)?;
        if let Some(inviter) = invite.created_by {
            tx.execute(
                "UPDATE accounts SET invited_by = ?2 WHERE id = ?1",
                params![account.account, inviter],
            )
            .at(path)?;
        }
        insert_device(&tx, path, &registration.device)?;
        tx.commit().at(path)?;
        Ok(account)
    }

    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError> {
        self.conn
            .prepare_cached("SELECT invited_by FROM accounts WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([account], |row| row.get::<_, Option<AccountId>>(0))
                    .optional()
            })
            .at(&self.path)?
            .ok_or(StoreError::NotFound(Missing::Account(account)))
    }
}

impl DocumentStore for SqliteStore {
    fn create_document(
        &mut self,
        doc: DocId,
        owner: AccountId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if row_exists(
            &tx,
            path,
            "SELECT 1 FROM deleted_documents WHERE id = ?1",
            [doc],
        )? {
            return Err(StoreError::Conflict(Conflict::DocumentDeleted(doc)));
        }
        if row_exists(&tx, path, "SELECT 1 FROM documents WHERE id = ?1", [doc])? {
            return Err(StoreError::Conflict(Conflict::DocumentExists(doc)));
        }
        require_account(&tx, path, owner)?;
        tx.execute(
            "INSERT INTO documents (id, owner, created_at_ms, head) VALUES (?1, ?2, ?3, 0)",
            params![doc, owner, now_ms],
        )
        .at(path)?;
        tx.execute(
            "INSERT INTO members (doc, account) VALUES (?1, ?2)",
            params![doc, owner],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    #[cfg(test)]
    fn add_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        require_account(&tx, path, account)?;
        let added = tx
            .execute(
                "INSERT OR IGNORE INTO members (doc, account) VALUES (?1, ?2)",
                params![doc, account],
            )
            .at(path)?;
        tx.commit().at(path)?;
        Ok(added > 0)
    }

    fn remove_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let owner: AccountId = tx
            .query_row("SELECT owner FROM documents WHERE id = ?1", [doc], |row| {
                row.get(0)
            })
            .optional()
            .at(path)?
            .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
        if owner == account {
            return Err(StoreError::Conflict(Conflict::OwnerIsAlwaysMember));
        }
        let removed = tx
            .execute(
                "DELETE FROM members WHERE doc = ?1 AND account = ?2",
                params![doc, account],
            )
            .at(path)?;
        tx.commit().at(path)?;
        Ok(removed > 0)
    }

    fn is_member(&self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        row_exists(
            &self.conn,
            &self.path,
            "SELECT 1 FROM members WHERE doc = ?1 AND account = ?2",
            params![doc, account],
        )
    }

    fn members(&self, doc: DocId) -> Result<Vec<AccountId>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        let mut stmt = tx
            .prepare_cached("SELECT account FROM members WHERE doc = ?1 ORDER BY account")
            .at(path)?;
        let rows = stmt.query_map([doc], |row| row.get(0)).at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn put_membership(
        &mut self,
        doc: DocId,
        serial: u64,
        bytes: &[u8],
        members: &[AccountId],
    ) -> Result<Vec<AccountId>, StoreError> {
        let path = &self.path;
        let serial_sql = i64::try_from(serial)
            .map_err(|_| StoreError::Invalid("a membership serial is at most 2^63 - 1"))?;
        let tx = begin_write(&mut self.conn, path)?;
        let owner: AccountId = tx
            .query_row("SELECT owner FROM documents WHERE id = ?1", [doc], |row| {
                row.get(0)
            })
            .optional()
            .at(path)?
            .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
        let stored: Option<i64> = tx
            .query_row(
                "SELECT serial FROM memberships WHERE doc = ?1",
                [doc],
                |row| row.get(0),
            )
            .optional()
            .at(path)?;
        if let Some(stored) = stored {
            if serial_sql <= stored {
                return Err(StoreError::Conflict(Conflict::MembershipSerial {
                    stored: non_negative(stored),
                    given: serial,
                }));
            }
        }
        for &member in members {
            require_account(&tx, path, member)?;
        }
        let before: Vec<AccountId> = {
            let mut stmt = tx
                .prepare_cached("SELECT account FROM members WHERE doc = ?1 ORDER BY account")
                .at(path)?;
            let rows = stmt.query_map([doc], |row| row.get(0)).at(path)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?
        };
        tx.execute("DELETE FROM members WHERE doc = ?1", [doc])
            .at(path)?;
        for account in std::iter::once(&owner).chain(members) {
            tx.execute(
                "INSERT OR IGNORE INTO members (doc, account) VALUES (?1, ?2)",
                params![doc, account],
            )
            .at(path)?;
        }
        tx.execute(
            "INSERT INTO memberships (doc, serial, data) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc) DO UPDATE SET serial = excluded.serial, data = excluded.data",
            params![doc, serial_sql, bytes],
        )
        .at(path)?;
        tx.commit().at(path)?;
        Ok(before
            .into_iter()
            .filter(|account| *account != owner && !members.contains(account))
            .collect())
    }

    fn membership(&self, doc: DocId) -> Result<Option<StoredMembership>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        tx.prepare_cached("SELECT serial, data FROM memberships WHERE doc = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([doc], |row| {
                    Ok(StoredMembership {
                        serial: non_negative(row.get(0)?),
                        bytes: row.get(1)?,
                    })
                })
                .optional()
            })
            .at(path)
    }

    fn documents_of(&self, account: AccountId) -> Result<Vec<MemberOf>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.id, d.owner FROM members m JOIN documents d ON d.id = m.doc
                  WHERE m.account = ?1 ORDER BY d.created_at_ms, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([account], |row| {
                Ok(MemberOf {
                    doc: row.get(0)?,
                    owner: row.get(1)?,
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn shares_document(&self, a: AccountId, b: AccountId) -> Result<bool, StoreError> {
        row_exists(
            &self.conn,
            &self.path,
            "SELECT 1 FROM members x JOIN members y ON y.doc = x.doc
              WHERE x.account = ?1 AND y.account = ?2",
            params![a, b],
        )
    }

    fn document(&self, doc: DocId) -> Result<Option<DocStats>, StoreError> {
        self.conn
            .prepare_cached(&format!("{DOC_STATS_SQL} WHERE d.id = ?1"))
            .and_then(|mut stmt| stmt.query_row([doc], doc_stats_from_row).optional())
            .at(&self.path)
    }

    fn documents(&self) -> Result<Vec<DocStats>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{DOC_STATS_SQL} ORDER BY d.created_at_ms, d.id"))
            .at(path)?;
        let rows = stmt.query_map([], doc_stats_from_row).at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn delete_document(&mut self, doc: DocId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        for sql in [
            "DELETE FROM bundles WHERE doc = ?1",
            "DELETE FROM snapshot_uploads WHERE doc = ?1",
            "DELETE FROM snapshot_parts WHERE doc = ?1",
            "DELETE FROM snapshots WHERE doc = ?1",
            "DELETE FROM key_envelopes WHERE doc = ?1",
            "DELETE FROM memberships WHERE doc = ?1",
            "DELETE FROM members WHERE doc = ?1",
            "DELETE FROM documents WHERE id = ?1",
        ] {
            tx.execute(sql, [doc]).at(path)?;
        }
        tx.execute(
            "INSERT INTO deleted_documents (id, deleted_at_ms) VALUES (?1, ?2)",
            params![doc, now_ms],
        )
        .at(path)?;
        tx.commit().at(path)?;
        // secure_delete zeroed the freed content in the new page images; move them into the
        // database file and drop the old images from the log. The deletion is committed
        // whatever happens here: a checkpoint that cannot complete now (a backup is reading)
        // completes later.
        let _ = checkpoint_truncate(&self.conn, path);
        Ok(())
    }

    fn deleted_at(&self, doc: DocId) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT deleted_at_ms FROM deleted_documents WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([doc], |row| row.get(0)).optional())
            .at(&self.path)
    }

    fn put_key_envelope(
        &mut self,
        doc: DocId,
        epoch: u32,
        recipient: DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        if !row_exists(
            &tx,
            path,
            "SELECT 1 FROM devices WHERE id = ?1",
            [recipient],
        )? {
            return Err(StoreError::NotFound(Missing::Device(recipient)));
        }
        tx.execute(
            "INSERT INTO key_envelopes (doc, recipient, epoch, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (doc, recipient, epoch) DO UPDATE SET data = excluded.data",
            params![doc, recipient, epoch, envelope],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    fn key_envelopes(
        &self,
        doc: DocId,
        recipient: DeviceId,
    ) -> Result<Vec<KeyEnvelope>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT epoch, data FROM key_envelopes
                  WHERE doc = ?1 AND recipient = ?2 ORDER BY epoch",
            )
            .at(path)?;
        let rows = stmt
            .query_map(params![doc, recipient], |row| {
                Ok(KeyEnvelope {
                    epoch: row.get(0)?,
                    bytes: row.get(1)?,
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }
}

impl LogStore for SqliteStore {
    #[cfg(test)]
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let seq = append_to_log(&tx, path, doc, bundle, now_ms)?;
        tx.commit().at(path)?;
        Ok(seq)
    }

    fn bundles_since(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bundle>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        read_bundles(&tx, path, doc, since, limit, max_bytes, true)
    }

    fn read_log(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let head = require_document(&tx, path, doc)?;
        let snapshot = match snapshot_position(&tx, path, doc)? {
            Some((covers, _)) if since < covers => read_snapshot(&tx, path, doc)?,
            _ => None,
        };
        let (after, budget) = match &snapshot {
            Some(snapshot) => (snapshot.covers, max_bytes.saturating_sub(snapshot.len())),
            None => (since, max_bytes),
        };
        let bundles = read_bundles(&tx, path, doc, after, limit, budget, snapshot.is_none())?;
        Ok(LogPage {
            snapshot,
            bundles,
            head,
        })
    }

    fn head(&self, doc: DocId) -> Result<Seq, StoreError> {
        require_document(&self.conn, &self.path, doc)
    }

    fn put_snapshot_part(
        &mut self,
        doc: DocId,
        upload: SnapshotUpload,
        part: u32,
        bytes: &[u8],
    ) -> Result<SnapshotProgress, StoreError> {
        let SnapshotUpload {
            uploader,
            covers,
            parts,
        } = upload;
        if covers == Seq::ZERO {
            return Err(StoreError::Invalid(
                "a snapshot must cover at least one bundle",
            ));
        }
        if part >= parts {
            return Err(StoreError::Invalid(
                "a snapshot's part number must be below its number of parts",
            ));
        }
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let head = require_document(&tx, path, doc)?;
        if covers > head {
            return Err(StoreError::SnapshotBeyondHead { doc, covers, head });
        }
        if let Some((current, _)) = snapshot_position(&tx, path, doc)? {
            if covers < current {
                return Err(StoreError::SnapshotOutdated {
                    doc,
                    covers,
                    current,
                });
            }
        }
        let mut staged = if part == 0 {
            tx.execute(
                "DELETE FROM snapshot_uploads WHERE doc = ?1 AND uploader = ?2",
                params![doc, uploader],
            )
            .at(path)?;
            Vec::new()
        } else {
            staged_parts(&tx, path, doc, upload, part)?
        };
        if part + 1 < parts {
            tx.execute(
                "INSERT INTO snapshot_uploads (doc, uploader, part, covers, parts, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![doc, uploader, part, covers, parts, bytes],
            )
            .at(path)?;
            tx.commit().at(path)?;
            return Ok(SnapshotProgress::Staged);
        }
        staged.push(bytes.to_vec());
        store_snapshot(&tx, path, doc, covers, &staged)?;
        tx.commit().at(path)?;
        Ok(SnapshotProgress::Stored)
    }

    #[cfg(test)]
    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        read_snapshot(&tx, path, doc)
    }
}

impl PairingStore for SqliteStore {
    fn put_pairing(
        &mut self,
        mailbox: Mailbox,
        payload: &[u8],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        check_pairing_expiry(now_ms, expires_at_ms)?;
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT expires_at_ms FROM pairings WHERE mailbox = ?1",
                [mailbox],
                |row| row.get(0),
            )
            .optional()
            .at(path)?;
        if current.is_some_and(|expires| now_ms < expires) {
            return Err(StoreError::Conflict(Conflict::MailboxInUse));
        }
        tx.execute(
            "INSERT INTO pairings (mailbox, expires_at_ms, payload) VALUES (?1, ?2, ?3)
             ON CONFLICT (mailbox) DO UPDATE
                SET expires_at_ms = excluded.expires_at_ms, payload = excluded.payload",
            params![mailbox, expires_at_ms, payload],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    fn take_pairing(
        &mut self,
        mailbox: Mailbox,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let Some(expires) = tx
            .query_row(
                "SELECT expires_at_ms FROM pairings WHERE mailbox = ?1",
                [mailbox],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .at(path)?
        else {
            return Ok(None);
        };
        let payload = if now_ms < expires {
            Some(
                tx.query_row(
                    "SELECT payload FROM pairings WHERE mailbox = ?1",
                    [mailbox],
                    |row| row.get(0),
                )
                .at(path)?,
            )
        } else {
            None
        };
        tx.execute("DELETE FROM pairings WHERE mailbox = ?1", [mailbox])
            .at(path)?;
        tx.commit().at(path)?;
        Ok(payload)
    }

    fn purge_expired(&mut self, now_ms: i64) -> Result<Purged, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let pairings = tx
            .execute("DELETE FROM pairings WHERE expires_at_ms <= ?1", [now_ms])
            .at(path)?;
        let invites = tx
            .execute("DELETE FROM invites WHERE expires_at_ms <= ?1", [now_ms])
            .at(path)?;
        tx.commit().at(path)?;
        Ok(Purged {
            pairings: u64::try_from(pairings).unwrap_or(u64::MAX),
            invites: u64::try_from(invites).unwrap_or(u64::MAX),
        })
    }
}

impl AuditStore for SqliteStore {
    fn verify_audit(&self) -> Result<AuditHead, AuditError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let mut stmt = tx
            .prepare("SELECT id, at_ms, account, device, doc, action, hash FROM audit ORDER BY id")
            .at(path)?;
        let mut rows = stmt.query([]).at(path)?;
        let mut expected: u64 = 1;
        let mut prev = [0_u8; 32];
        while let Some(row) = rows.next().at(path)? {
            let id: i64 = row.get(0).at(path)?;
            let id = non_negative(id);
            if id != expected {
                return Err(AuditError::Broken {
                    row: id,
                    problem: AuditProblem::Missing,
                });
            }
            let record = AuditRecord {
                at_ms: row.get(1).at(path)?,
                account: row.get(2).at(path)?,
                device: row.get(3).at(path)?,
                doc: row.get(4).at(path)?,
                action: row.get(5).at(path)?,
            };
            let stored: [u8; 32] = row.get(6).at(path)?;
            if audit_hash(&prev, id, &record) != stored {
                return Err(AuditError::Broken {
                    row: id,
                    problem: AuditProblem::Altered,
                });
            }
            prev = stored;
            expected = expected.saturating_add(1);
        }
        let count = expected - 1;
        let (recorded, recorded_hash): (i64, [u8; 32]) = tx
            .query_row(
                "SELECT rows, hash FROM audit_head WHERE one = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .at(path)?;
        let recorded = non_negative(recorded);
        if recorded > count {
            return Err(AuditError::Broken {
                row: count.saturating_add(1),
                problem: AuditProblem::Truncated {
                    recorded_rows: recorded,
                },
            });
        }
        if recorded != count || recorded_hash != prev {
            return Err(AuditError::Broken {
                row: count,
                problem: AuditProblem::HeadMismatch,
            });
        }
        Ok(AuditHead {
            rows: count,
            hash: prev,
        })
    }

    fn audit_for_doc(
        &self,
        doc: DocId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        read_audit(
            &self.conn,
            &self.path,
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE doc = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            doc,
            after,
            limit,
        )
    }

    fn audit_for_account(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        read_audit(
            &self.conn,
            &self.path,
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit
                  WHERE account = ?1 AND doc IS NULL AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            account,
            after,
            limit,
        )
    }

    fn audit_hash_at(&self, row: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let Ok(row) = i64::try_from(row) else {
            return Ok(None);
        };
        self.conn
            .prepare_cached("SELECT hash FROM audit WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([row], |r| r.get(0)).optional())
            .at(&self.path)
    }
}

impl RelayStore for SqliteStore {
    fn write_batch(
        &mut self,
        writes: &[BatchWrite<'_>],
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let start = read_chain(&tx, path)?;
        let mut chain = start;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let result = write_one(&tx, path, &mut chain, write)?;
            results.push(result);
        }
        // Some errors (a full disk, an I/O error) make SQLite roll the whole transaction back on
        // its own; then the savepoint is gone (its rollback failed above) or the commit fails,
        // so the batch as a whole is reported failed rather than some of it acknowledged.
        if chain != start {
            write_chain(&tx, path, &chain)?;
        }
        tx.commit().at(path)?;
        Ok(results)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A version 1 database (as the previous release made it) holding one therapist and one
    /// client account, an invite and an audit row.
    fn version_1_database(path: &Path) {
        let v1 = Format {
            migrations: &[SCHEMA_V1],
            ..FORMAT
        };
        v1.create::<sqlite_file::Error>(path, |tx| {
            tx.execute_batch(
                "INSERT INTO accounts (id, identity_pub, role, created_at_ms)
                 VALUES (zeroblob(16), zeroblob(32), 'therapist', 1),
                        (x'01010101010101010101010101010101', x'0101010101010101010101010101010101010101010101010101010101010101', 'client', 2);
                 INSERT INTO invites (hash, kind, created_at_ms, expires_at_ms)
                 VALUES (zeroblob(32), 'therapist', 1, 9999999999999);",
            )
            .map_err(|source| sqlite_file::Error::Database {
                path: path.to_path_buf(),
                source,
            })
        })
        .unwrap();
    }

    #[test]
    fn a_version_1_database_gains_labels_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.sqlite3");
        version_1_database(&path);
        let mut store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let accounts = store.list_accounts(None).unwrap();
        assert_eq!(accounts.len(), 2);
        assert!(accounts.iter().all(|a| a.label.is_none()));
        let invite = store
            .redeem_invite(&InviteHash::from_bytes([0; 32]), 3)
            .unwrap();
        assert_eq!(invite.label, None);
        // Version 3: accounts from before know no inviter, and documents have no list yet.
        let client = AccountId::from_bytes([1; 16]);
        assert_eq!(store.inviter_of(client).unwrap(), None);
        store
            .create_document(DocId::from_bytes([2; 16]), client, 4)
            .unwrap();
        assert_eq!(store.membership(DocId::from_bytes([2; 16])).unwrap(), None);
        // The schema itself refuses a label on a client row, whatever the code above it does.
        assert!(store
            .conn
            .execute(
                "UPDATE accounts SET label = 'Sam' WHERE role = 'client'",
                []
            )
            .is_err());
        store
            .conn
            .execute(
                "UPDATE accounts SET label = 'Dr Ada Park' WHERE role = 'therapist'",
                [],
            )
            .unwrap();
        assert_eq!(
            store
                .list_accounts(Some(AccountRole::Therapist))
                .unwrap()
                .first()
                .and_then(|a| a.label.clone())
                .as_deref(),
            Some("Dr Ada Park")
        );
        store.verify_integrity().unwrap();
    }

    #[test]
    fn the_statements_of_a_push_are_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("relay.sqlite3")).unwrap();
        let owner = AccountId::from_bytes([1; 16]);
        store
            .create_account(owner, [1; 32], AccountRole::Client, 1)
            .unwrap();
        let mut docs = Vec::new();
        for i in 1..=4_u8 {
            let device = DeviceId::from_bytes([i; 16]);
            store
                .register_device(&DeviceRecord {
                    device,
                    account: owner,
                    signing_pub: [i; 32],
                    certificate: vec![1],
                    registered_at_ms: 1,
                })
                .unwrap();
            let doc = DocId::from_bytes([i; 16]);
            store.create_document(doc, owner, 1).unwrap();
            docs.push((doc, device));
        }
        for round in 0..5_u8 {
            let pushes: Vec<Push> = docs
                .iter()
                .map(|&(doc, device)| Push {
                    doc,
                    device,
                    bundle: vec![round; 8],
                    at_ms: 2,
                    action: "append",
                })
                .collect();
            let writes: Vec<BatchWrite<'_>> = pushes.iter().map(BatchWrite::Push).collect();
            for result in store.write_batch(&writes).unwrap() {
                assert!(
                    matches!(result, Ok(Written::Push(PushOutcome::Appended { .. }))),
                    "{result:?}"
                );
            }
        }
        // Re-preparing parses and plans the statement again: once per push, it cost about a
        // third of the storage thread's time.
        let stmt = store.conn.prepare_cached(PUSH_DEVICE_SQL).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
