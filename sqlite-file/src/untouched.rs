//! Reading a file before trusting it, without leaving anything beside it.
//!
//! Even a read-only SQLite connection creates the `-wal` and `-shm` side files of a database in
//! WAL mode when they are missing (it needs them to find the newest state). Inspecting a damaged
//! or foreign file that way left both beside it after the file was refused. When no side file is
//! there, nothing can be waiting in a write-ahead log, so the main file alone is the whole
//! database: it is then read with SQLite's `immutable` flag, which opens no side file and takes no
//! lock. Because that flag also means "no other process writes", the file is looked at again
//! afterwards; if it or its side files changed meanwhile (another process opened it and wrote),
//! the reading is repeated through an ordinary read-only connection, whose side files are then
//! the writer's, not ours.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags};

use crate::staging::with_suffix;
use crate::{AtPath, Error};

/// The side files SQLite may keep next to a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Runs `read` on a read-only connection to `file` (errors name `shown`) that leaves the folder
/// as it was whenever it was found without side files (see the module docs).
pub(crate) fn read_untouched<T>(
    file: &Path,
    shown: &Path,
    busy_timeout: Duration,
    mut read: impl FnMut(&Connection) -> Result<T, Error>,
) -> Result<T, Error> {
    let before = FileState::of(file);
    if before.as_ref().is_some_and(FileState::alone) {
        let result = read(&open(file, shown, busy_timeout, Mode::Immutable)?);
        if FileState::of(file) == before {
            return result;
        }
    }
    read(&open(file, shown, busy_timeout, Mode::Shared)?)
}

/// How a read-only connection treats the rest of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Assumes nobody else writes: no lock, no side file.
    Immutable,
    /// SQLite's ordinary read-only connection: locks, and the side files of a WAL database.
    Shared,
}

fn open(
    file: &Path,
    shown: &Path,
    busy_timeout: Duration,
    mode: Mode,
) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match mode {
        Mode::Shared => Connection::open_with_flags(file, flags),
        Mode::Immutable => Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(file)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        ),
    }
    .at(shown)?;
    conn.busy_timeout(busy_timeout).at(shown)?;
    Ok(conn)
}

/// `path` as the path part of a SQLite URI: every byte other than an unreserved character or
/// `/` percent-encoded, so that `?`, `#` and `%` in a file name keep their meaning.
fn uri_path(path: &Path) -> String {
    let mut uri = String::new();
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// What shows whether a database file was written: its length and modification time, and which
/// side files exist.
#[derive(Debug, PartialEq, Eq)]
struct FileState {
    len: u64,
    modified: SystemTime,
    side_files: [bool; SIDE_FILES.len()],
}

impl FileState {
    /// The state of `file`, or `None` if it cannot be read (the caller then takes the ordinary
    /// way, which reports what is wrong).
    fn of(file: &Path) -> Option<FileState> {
        let meta = std::fs::metadata(file).ok()?;
        Some(FileState {
            len: meta.len(),
            modified: meta.modified().ok()?,
            side_files: SIDE_FILES.map(|suffix| {
                // A side file that cannot be looked at counts as there: the ordinary way.
                std::fs::symlink_metadata(with_suffix(file, suffix))
                    .map_or_else(|err| err.kind() != std::io::ErrorKind::NotFound, |_| true)
            }),
        })
    }

    /// Whether no side file is there.
    fn alone(&self) -> bool {
        !self.side_files.contains(&true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{file_names, set_wal_mode};

    /// A small database in WAL mode at `name` in `dir`, with no side file left.
    fn wal_database(dir: &Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (7);")
            .unwrap();
        drop(conn);
        set_wal_mode(&path);
        path
    }

    fn count(conn: &Connection) -> Result<i64, Error> {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .at(Path::new("t"))
    }

    #[test]
    fn a_file_alone_is_read_without_side_files_even_with_odd_characters_in_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = wal_database(dir.path(), "a ?#%é.sqlite3");
        let names = file_names(dir.path());
        assert_eq!(names, ["a ?#%é.sqlite3"]);
        let read = read_untouched(&path, &path, Duration::from_secs(1), count).unwrap();
        assert_eq!(read, 1);
        assert_eq!(file_names(dir.path()), names);
    }

    #[test]
    fn a_file_in_use_is_read_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = wal_database(dir.path(), "a.sqlite3");
        // A writer with a committed change still in its log, not yet in the main file.
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute("INSERT INTO t VALUES (8)", []).unwrap();
        let read = read_untouched(&path, &path, Duration::from_secs(1), count).unwrap();
        assert_eq!(read, 2);
    }

    #[test]
    fn a_file_written_while_read_is_read_again_the_ordinary_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = wal_database(dir.path(), "a.sqlite3");
        let mut writer = None;
        let mut readings = Vec::new();
        let read = read_untouched(&path, &path, Duration::from_secs(1), |conn| {
            let found = count(conn)?;
            readings.push(found);
            // Another process starts writing during the first reading.
            if writer.is_none() {
                let conn = Connection::open(&path).unwrap();
                conn.execute("INSERT INTO t VALUES (8)", []).unwrap();
                writer = Some(conn);
            }
            Ok(found)
        });
        assert_eq!(read.unwrap(), 2);
        assert_eq!(readings, [1, 2]);
    }

    #[test]
    fn uri_paths_escape_what_a_uri_would_read_otherwise() {
        assert_eq!(uri_path(Path::new("/d/a b?#%.db")), "/d/a%20b%3F%23%25.db");
        assert_eq!(uri_path(Path::new("rel/x-y_z~.db")), "rel/x-y_z~.db");
    }
}
