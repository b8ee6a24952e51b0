//! What a store's file must look like ([`Format`]), and inspecting, creating, opening and
//! migrating it.

use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, MAIN_DB};

use crate::staging::{build_in_place, with_suffix};
use crate::untouched::read_untouched;
use crate::{AtPath, Error};

/// Smallest possible SQLite database file (one page of the minimum page size).
const MIN_SQLITE_FILE_LEN: u64 = 512;

/// One kind of SQLite file: what marks it as a store's own, its schema history and how its
/// connections are set up.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    /// `PRAGMA application_id` of every file of this kind, so that an unrelated SQLite file is
    /// never mistaken for one.
    pub application_id: i32,
    /// Schema migrations: entry `n` brings a file from version `n` to `n + 1`. Never edit an
    /// entry once released; append a new one instead.
    pub migrations: &'static [&'static str],
    /// How long a connection waits for another one holding a lock.
    pub busy_timeout: Duration,
    /// Whether a file system without WAL support is refused (an [`Error::Io`]) rather than left
    /// in its rollback-journal mode (which is just as durable with `synchronous=FULL`).
    pub require_wal: bool,
    /// Further `PRAGMA name = value` settings of every read-write connection, applied after
    /// the common ones.
    pub pragmas: &'static [(&'static str, i64)],
    /// `PRAGMA name = value` settings SQLite keeps in the file itself (`auto_vacuum`), set once
    /// on a new file before its journal mode and its first table, where they take effect.
    /// Setting `auto_vacuum` again on every connection would write to the file each time.
    pub file_pragmas: &'static [(&'static str, i64)],
    /// What the few messages of this crate that are not about the file's contents call such a
    /// file ("store", "database").
    pub noun: &'static str,
}

/// How much of an existing file [`Format::inspect_with`] and [`Format::open_with`] read before
/// trusting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCheck {
    /// The cheap checks (size, application id, schema version) and `PRAGMA quick_check`, which
    /// reads every page: a damaged file is refused before anything is written to it. Its cost
    /// grows with the file (about a second for half a gigabyte), which is why there is
    /// [`OpenCheck::Deferred`].
    Full,
    /// Only the cheap checks, which read the file's first page. The caller takes on running
    /// [`check_integrity`] itself, on a connection of its own (for example in the background
    /// while a server already serves), and acting on what it finds. A file that needs
    /// migrating still gets the full check first: a migration writes, and damage found later
    /// must not have been written over.
    Deferred,
}

/// Which of SQLite's integrity checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// `PRAGMA quick_check`: fast, run before every open.
    Quick,
    /// `PRAGMA integrity_check`: thorough and slower.
    Full,
}

impl Format {
    /// The schema version this build writes and understands (the number of migrations).
    pub const fn schema_version(&self) -> i64 {
        self.migrations.len() as i64
    }

    /// Sets the per-connection options of a read-write connection: the busy timeout, WAL mode,
    /// `synchronous=FULL`, `foreign_keys=ON`, then [`Format::pragmas`].
    pub fn configure(&self, conn: &Connection, path: &Path) -> Result<(), Error> {
        conn.busy_timeout(self.busy_timeout).at(path)?;
        // Returns the resulting mode; a file system without WAL support keeps its rollback
        // journal.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .at(path)?;
        if self.require_wal && !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::io(
                path,
                io::Error::other(format!(
                    "the file system does not support SQLite's WAL mode (journal mode stayed {mode:?}); put the {} on a local disk",
                    self.noun
                )),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL").at(path)?;
        conn.pragma_update(None, "foreign_keys", "ON").at(path)?;
        for (name, value) in self.pragmas {
            conn.pragma_update(None, name, value).at(path)?;
        }
        Ok(())
    }

    /// Inspects an existing file through a read-only connection, which cannot write to it
    /// whatever state it is in, and which leaves no side file beside a file found without any
    /// (see [`read_untouched`]); returns its schema version. Errors name `shown` (the path the
    /// user knows, when `file` is a temporary copy).
    ///
    /// Refuses with [`Error::NotFound`] a missing file, [`Error::NotOurs`] a folder or another
    /// program's database, [`Error::TooNew`] a newer schema, and [`Error::Corrupt`] a damaged
    /// file (too short, not a database, failing `quick_check`, or without a schema version).
    pub fn inspect(&self, file: &Path, shown: &Path) -> Result<i64, Error> {
        self.inspect_with(file, shown, OpenCheck::Full)
    }

    /// [`Format::inspect`], with `quick_check` only if `check` is [`OpenCheck::Full`].
    pub fn inspect_with(&self, file: &Path, shown: &Path, check: OpenCheck) -> Result<i64, Error> {
        let meta = match std::fs::metadata(file) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    path: shown.to_path_buf(),
                    source: err,
                })
            }
            Err(err) => return Err(Error::io(shown, err)),
        };
        if !meta.is_file() {
            return Err(Error::NotOurs {
                path: shown.to_path_buf(),
                detail: "it is not a regular file".to_owned(),
            });
        }
        // The file's contents are left to SQLite: opening and closing the file directly would
        // release SQLite's POSIX locks held by other connections of this process.
        if meta.len() < MIN_SQLITE_FILE_LEN {
            return Err(Error::Corrupt {
                path: shown.to_path_buf(),
                detail: if meta.len() == 0 {
                    "the file is empty".to_owned()
                } else {
                    format!(
                        "the file is only {} bytes long, too short for a SQLite database",
                        meta.len()
                    )
                },
            });
        }

        read_untouched(file, shown, self.busy_timeout, |conn| {
            self.examine(conn, shown, check)
        })
    }

    /// The checks of [`Format::inspect_with`] that read the file, on the read-only `conn`.
    fn examine(&self, conn: &Connection, shown: &Path, check: OpenCheck) -> Result<i64, Error> {
        let application_id: i32 = conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .at(shown)?;
        if application_id != self.application_id {
            return Err(Error::NotOurs {
                path: shown.to_path_buf(),
                detail: if application_id == 0 {
                    "it is a SQLite database of some other program".to_owned()
                } else {
                    format!("it is a SQLite database of another program (application id {application_id:#010x})")
                },
            });
        }
        let version = user_version(conn).at(shown)?;
        self.refuse_newer(version, shown)?;
        // A migration writes: an older file is checked in full whatever the caller chose.
        if check == OpenCheck::Full || version < self.schema_version() {
            check_integrity(conn, shown, Integrity::Quick)?;
        }
        if version < 1 {
            return Err(Error::Corrupt {
                path: shown.to_path_buf(),
                detail: "its schema version is missing".to_owned(),
            });
        }
        Ok(version)
    }

    /// Creates a new file at `path`, which must not exist (its folder must): the application
    /// id, every migration and whatever `fill` writes, in one transaction, into a staging file
    /// next to `path` that is moved into place only when complete (see
    /// [`build_in_place`]). Errors name `path`.
    pub fn create<E: From<Error>>(
        &self,
        path: &Path,
        fill: impl FnOnce(&Transaction<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        build_in_place(path, "creating", |tmp| self.build(tmp, path, fill))
    }

    /// Builds a complete new file at the staging path `tmp` (errors name the final `path`).
    fn build<E: From<Error>>(
        &self,
        tmp: &Path,
        path: &Path,
        fill: impl FnOnce(&Transaction<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut conn = Connection::open_with_flags(
            tmp,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .at(path)?;
        // The staging file is nobody's until it is moved into place, so nothing in it needs to
        // be on disk before then: SQLite syncs nothing while it is built (switching to WAL,
        // committing, checkpointing each cost `fsync`s), and the finished file is synced once,
        // below, before it is published.
        let no_sync = |conn: &Connection| conn.pragma_update(None, "synchronous", "OFF").at(path);
        no_sync(&conn)?;
        for (name, value) in self.file_pragmas {
            conn.pragma_update(None, name, value).at(path)?;
        }
        self.configure(&conn, path)?;
        no_sync(&conn)?;

        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(path)?;
        tx.pragma_update(None, "application_id", self.application_id)
            .at(path)?;
        self.apply_migrations(&tx, 0).at(path)?;
        fill(&tx)?;
        tx.commit().at(path)?;

        // Move everything from the WAL into the main file, so the one file is complete on its
        // own.
        if !checkpoint_truncate(&conn, path)? {
            return Err(Error::Busy {
                path: path.to_path_buf(),
            }
            .into());
        }
        conn.close().map_err(|(_, err)| err).at(path)?;

        // Close does not report a failed final checkpoint; make sure nothing was left in the WAL.
        if let Ok(meta) = std::fs::metadata(with_suffix(tmp, "-wal")) {
            if meta.len() > 0 {
                return Err(Error::io(
                    path,
                    io::Error::other(format!(
                        "the new {} could not be completely written",
                        self.noun
                    )),
                )
                .into());
            }
        }
        // The one sync of the whole build: the file is complete on disk before it is published.
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp)
            .and_then(|file| file.sync_all())
            .map_err(|err| Error::io(path, err).into())
    }

    /// Opens the existing file at `path` for reading and writing. It is first inspected
    /// read-only ([`Format::inspect`]) and refused, untouched, if it is missing, damaged, not
    /// ours or too new; then it is opened ([`Error::Vanished`] if it disappeared meanwhile,
    /// [`Error::ReadOnly`] if it cannot be written), configured ([`Format::configure`]), and an
    /// older schema is migrated in one transaction.
    pub fn open(&self, path: &Path) -> Result<Connection, Error> {
        self.open_with(path, OpenCheck::Full)
    }

    /// [`Format::open`], with the full-file `quick_check` only if `check` is
    /// [`OpenCheck::Full`]; with [`OpenCheck::Deferred`] the caller runs it itself (see there).
    pub fn open_with(&self, path: &Path, check: OpenCheck) -> Result<Connection, Error> {
        let version = self.inspect_with(path, path, check)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| match err.sqlite_error_code() {
            Some(ErrorCode::CannotOpen) if !path.exists() => Error::Vanished {
                path: path.to_path_buf(),
                source: err,
            },
            _ => Error::sqlite(path, err),
        })?;
        if conn.is_readonly(MAIN_DB).at(path)? {
            return Err(Error::ReadOnly {
                path: path.to_path_buf(),
                source: None,
            });
        }
        self.configure(&conn, path)?;
        if version < self.schema_version() {
            self.migrate(&mut conn, path)?;
        }
        Ok(conn)
    }

    /// Applies the missing migrations in one transaction, re-checking the version under the
    /// write lock (another process may have migrated meanwhile).
    fn migrate(&self, conn: &mut Connection, path: &Path) -> Result<(), Error> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(path)?;
        let version = user_version(&tx).at(path)?;
        self.refuse_newer(version, path)?;
        if version < self.schema_version() {
            self.apply_migrations(&tx, version).at(path)?;
            tx.commit().at(path)?;
        }
        Ok(())
    }

    /// Refuses a schema `version` newer than this build understands ([`Error::TooNew`]).
    fn refuse_newer(&self, version: i64, path: &Path) -> Result<(), Error> {
        if version > self.schema_version() {
            return Err(Error::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: self.schema_version(),
            });
        }
        Ok(())
    }

    /// Brings a schema from version `from` to [`Format::schema_version`] inside the caller's
    /// transaction.
    fn apply_migrations(&self, tx: &Transaction<'_>, from: i64) -> rusqlite::Result<()> {
        for (version, sql) in (1_i64..).zip(self.migrations.iter()) {
            if version > from {
                tx.execute_batch(sql)?;
            }
        }
        tx.pragma_update(None, "user_version", self.schema_version())
    }
}

/// Reads `PRAGMA user_version`.
pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Runs `PRAGMA quick_check` or `integrity_check`; any finding makes the file at `path`
/// [`Error::Corrupt`].
pub fn check_integrity(conn: &Connection, path: &Path, check: Integrity) -> Result<(), Error> {
    let pragma = match check {
        Integrity::Quick => "quick_check",
        Integrity::Full => "integrity_check",
    };
    let mut first = None;
    let mut more = 0;
    conn.pragma_query(None, pragma, |row| {
        let line: String = row.get(0)?;
        if line != "ok" {
            if first.is_none() {
                first = Some(line);
            } else {
                more += 1;
            }
        }
        Ok(())
    })
    .at(path)?;
    match first {
        None => Ok(()),
        Some(first) => Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: if more == 0 {
                format!("integrity check failed: {first}")
            } else {
                format!("integrity check failed: {first} (and {more} more problems)")
            },
        }),
    }
}

/// Runs `PRAGMA wal_checkpoint(TRUNCATE)`; returns whether it completed (it cannot while
/// another connection is reading an older state).
pub fn checkpoint_truncate(conn: &Connection, path: &Path) -> Result<bool, Error> {
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .at(path)?;
    Ok(busy == 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{
        cut_in_half, file_names, folder_contents, noise, scramble, set_user_version, set_wal_mode,
        write_foreign_database,
    };

    const V1: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;";
    const V2: &str = "ALTER TABLE notes ADD COLUMN at_ms INTEGER;";

    const FORMAT: Format = Format {
        application_id: 0x5445_5354,
        migrations: &[V1, V2],
        busy_timeout: Duration::from_secs(1),
        require_wal: true,
        pragmas: &[("secure_delete", 1)],
        file_pragmas: &[("auto_vacuum", 2)],
        noun: "test file",
    };

    /// A new file with some notes in it, closed again.
    fn populated(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("test.sqlite3");
        FORMAT
            .create::<Error>(&path, |tx| {
                for i in 0..40_u8 {
                    tx.execute(
                        "INSERT INTO notes (body) VALUES (?1)",
                        [String::from_utf8_lossy(&noise(3000, u64::from(i) + 1))],
                    )
                    .unwrap();
                }
                Ok(())
            })
            .unwrap();
        path
    }

    #[test]
    fn created_files_open_with_every_pragma() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        assert_eq!(file_names(dir.path()), ["test.sqlite3"]);
        assert_eq!(FORMAT.inspect(&path, &path).unwrap(), 2);
        let conn = FORMAT.open(&path).unwrap();
        let number = |name: &str| -> i64 {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        assert_eq!(number("application_id"), 0x5445_5354);
        assert_eq!(number("user_version"), 2);
        assert_eq!(number("synchronous"), 2);
        assert_eq!(number("foreign_keys"), 1);
        assert_eq!(number("secure_delete"), 1);
        assert_eq!(number("auto_vacuum"), 2);
        assert_eq!(number("busy_timeout"), 1000);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        check_integrity(&conn, &path, Integrity::Full).unwrap();
        assert!(checkpoint_truncate(&conn, &path).unwrap());
    }

    #[test]
    fn an_older_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", FORMAT.application_id)
                .unwrap();
            conn.execute_batch(V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO notes (body) VALUES ('kept')", [])
                .unwrap();
        }
        let conn = FORMAT.open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let (body, at): (String, Option<i64>) = conn
            .query_row("SELECT body, at_ms FROM notes", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((body.as_str(), at), ("kept", None));
    }

    #[test]
    fn inspection_refuses_what_is_not_a_good_file_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.sqlite3");
        let err = FORMAT.open(&missing).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(!missing.exists());

        let err = FORMAT.open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");

        let path = dir.path().join("bad.sqlite3");
        for (contents, expected) in [
            (Vec::new(), "the file is empty"),
            (
                b"SQLite format 3\0".to_vec(),
                "the file is only 16 bytes long, too short for a SQLite database",
            ),
            (noise(16 * 1024, 3), "the file is not a SQLite database"),
        ] {
            std::fs::write(&path, &contents).unwrap();
            let err = FORMAT.open(&path).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt { detail, .. } if detail == expected),
                "{err:?}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), contents);
        }

        for (id, expected) in [
            (
                0,
                "it is a SQLite database of some other program".to_owned(),
            ),
            (
                0x1234_5678,
                "it is a SQLite database of another program (application id 0x12345678)".to_owned(),
            ),
        ] {
            let path = dir.path().join(format!("other-{id}.sqlite3"));
            write_foreign_database(&path, id);
            let err = FORMAT.open(&path).unwrap_err();
            assert!(
                matches!(&err, Error::NotOurs { detail, .. } if *detail == expected),
                "{err:?}"
            );
        }
    }

    #[test]
    fn versions_out_of_range_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        set_user_version(&path, 3);
        let before = std::fs::read(&path).unwrap();
        let err = FORMAT.open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooNew {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);

        set_user_version(&path, 0);
        let err = FORMAT.open(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { detail, .. } if detail == "its schema version is missing"),
            "{err:?}"
        );
    }

    /// Overwrites every page of the file at `path` after the first two, which hold the
    /// header and the schema: damage only a full-file check finds.
    fn damage_after_the_schema(path: &Path) {
        let len = usize::try_from(std::fs::metadata(path).unwrap().len()).unwrap();
        scramble(path, 2 * 4096..len, 7);
    }

    #[test]
    fn a_deferred_check_opens_a_damaged_file_that_the_caller_then_finds_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        damage_after_the_schema(&path);
        let err = FORMAT.open(&path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");

        // The cheap checks pass; the damage is the caller's to find, on a connection of its own.
        let conn = FORMAT.open_with(&path, OpenCheck::Deferred).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let err = check_integrity(&reader, &path, Integrity::Quick).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_deferred_check_still_refuses_what_the_cheap_checks_find() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.sqlite3");
        std::fs::write(&path, noise(16 * 1024, 3)).unwrap();
        let err = FORMAT.open_with(&path, OpenCheck::Deferred).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");

        let other = dir.path().join("other.sqlite3");
        write_foreign_database(&other, 0x1234_5678);
        let err = FORMAT.open_with(&other, OpenCheck::Deferred).unwrap_err();
        assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");

        let newer = populated(dir.path());
        set_user_version(&newer, 3);
        let err = FORMAT.open_with(&newer, OpenCheck::Deferred).unwrap_err();
        assert!(matches!(err, Error::TooNew { found: 3, .. }), "{err:?}");
    }

    #[test]
    fn a_file_to_migrate_is_checked_in_full_even_when_deferred() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        set_user_version(&path, 1);
        damage_after_the_schema(&path);
        let before = std::fs::read(&path).unwrap();
        let err = FORMAT.open_with(&path, OpenCheck::Deferred).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn damaged_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = populated(dir.path());
        let copy = dir.path().join("copy.sqlite3");
        std::fs::copy(&path, &copy).unwrap();
        cut_in_half(&copy);
        let before = std::fs::read(&copy).unwrap();
        let err = FORMAT.open(&copy).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert_eq!(std::fs::read(&copy).unwrap(), before);

        scramble(&path, 100..4096, 42);
        let before = std::fs::read(&path).unwrap();
        let err = FORMAT.open(&path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    /// A file refused for what it is must not leave SQLite's `-wal` and `-shm` beside it: the
    /// folder is exactly as it was, whichever check refused the file.
    #[test]
    fn refusals_leave_the_folder_as_it_was() {
        type Spoil = fn(&Path);
        let cases: [(&str, Spoil); 6] = [
            ("cut in half", |path| cut_in_half(path)),
            ("schema page scrambled", |path| {
                scramble(path, 100..4096, 42)
            }),
            ("pages after the schema scrambled", |path| {
                damage_after_the_schema(path);
            }),
            ("newer", |path| set_user_version(path, 3)),
            ("without a schema version", |path| set_user_version(path, 0)),
            ("another program's", |path| {
                std::fs::remove_file(path).unwrap();
                write_foreign_database(path, 0);
                set_wal_mode(path);
            }),
        ];
        let mut changed = Vec::new();
        for (what, spoil) in cases {
            for check in [OpenCheck::Full, OpenCheck::Deferred] {
                let dir = tempfile::tempdir().unwrap();
                let path = populated(dir.path());
                spoil(&path);
                assert_eq!(file_names(dir.path()), ["test.sqlite3"], "{what}");
                let before = folder_contents(dir.path());
                let result = FORMAT.open_with(&path, check);
                if what == "pages after the schema scrambled" && check == OpenCheck::Deferred {
                    // Only the full check finds this damage (the caller's to run).
                    assert!(result.is_ok(), "{what}: {result:?}");
                    continue;
                }
                assert!(result.is_err(), "{what} ({check:?}) was opened");
                if folder_contents(dir.path()) != before {
                    changed.push(format!("{what} ({check:?}): {:?}", file_names(dir.path())));
                }
            }
        }
        assert!(
            changed.is_empty(),
            "refusing these files changed their folder: {changed:#?}"
        );
    }
}
