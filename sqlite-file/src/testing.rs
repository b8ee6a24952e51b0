//! Helpers for tests that damage SQLite files on purpose (the `testing` feature; enable it only
//! in dev-dependencies). They panic on any failure, like the tests that use them.

use std::ops::Range;
use std::path::Path;

use rusqlite::Connection;

/// Deterministic pseudo-random bytes (xorshift), for damaged files without a random-number
/// dependency. The same `seed` always gives the same bytes.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect()
}

/// Cuts the file at `path` to half its length, as an interrupted copy would leave it.
#[track_caller]
pub fn cut_in_half(path: &Path) {
    let cut = || -> std::io::Result<()> {
        let len = std::fs::metadata(path)?.len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(len / 2)
    };
    cut().unwrap_or_else(|err| panic!("cannot truncate {}: {err}", path.display()));
}

/// Overwrites the bytes `range` of the file at `path` with [`noise`] from `seed` (for example
/// `100..4096`, the rest of page 1, which holds the schema b-tree).
#[track_caller]
pub fn scramble(path: &Path, range: Range<usize>, seed: u64) {
    let overwrite = || -> std::io::Result<()> {
        let mut bytes = std::fs::read(path)?;
        let len = range.len();
        bytes[range.clone()].copy_from_slice(&noise(len, seed));
        std::fs::write(path, &bytes)
    };
    overwrite().unwrap_or_else(|err| panic!("cannot scramble {}: {err}", path.display()));
}

/// Sets `PRAGMA user_version` of the database at `path` behind its store's back.
#[track_caller]
pub fn set_user_version(path: &Path, version: i64) {
    Connection::open(path)
        .and_then(|conn| conn.pragma_update(None, "user_version", version))
        .unwrap_or_else(|err| panic!("cannot set the user_version of {}: {err}", path.display()));
}

/// Writes a small SQLite database of "another program" at `path`: one table with one row,
/// `application_id` as given and `user_version` 1.
#[track_caller]
pub fn write_foreign_database(path: &Path, application_id: i32) {
    let write = || -> rusqlite::Result<()> {
        let conn = Connection::open(path)?;
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")?;
        conn.pragma_update(None, "application_id", application_id)?;
        conn.pragma_update(None, "user_version", 1)
    };
    write().unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// The names of the entries of the folder `dir`, sorted.
#[track_caller]
pub fn file_names(dir: &Path) -> Vec<String> {
    let list = || -> std::io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(dir)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    };
    list().unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
}

/// Every entry of the folder `dir` with its bytes, sorted by name: compare two of these to show
/// that something left the folder exactly as it was (no file added, removed or changed).
#[track_caller]
pub fn folder_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    file_names(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name))
                .unwrap_or_else(|err| panic!("cannot read {name} in {}: {err}", dir.display()));
            (name, bytes)
        })
        .collect()
}

/// Puts the database at `path` into WAL mode, as a store (or another program) leaves it: a
/// connection that reads such a file makes SQLite look for its `-wal` and `-shm` side files.
#[track_caller]
pub fn set_wal_mode(path: &Path) {
    Connection::open(path)
        .and_then(|conn| conn.pragma_update(None, "journal_mode", "WAL"))
        .unwrap_or_else(|err| panic!("cannot put {} into WAL mode: {err}", path.display()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_varied() {
        assert_eq!(noise(64, 7), noise(64, 7));
        assert_ne!(noise(64, 7), noise(64, 8));
        assert!(noise(256, 1).iter().any(|&b| b != noise(256, 1)[0]));
    }

    #[test]
    fn files_are_damaged_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, [0_u8; 10]).unwrap();
        cut_in_half(&path);
        assert_eq!(std::fs::read(&path).unwrap(), [0; 5]);
        scramble(&path, 1..4, 9);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[1..4], noise(3, 9)[..]);
        assert_eq!((bytes[0], bytes[4]), (0, 0));
        assert_eq!(file_names(dir.path()), ["a"]);
    }
}
