//! Paths next to a database file, and building a file under a temporary name before moving it
//! into place.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Whether anything (even a dangling symlink) exists at `path`.
pub fn exists(path: &Path) -> Result<bool, Error> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(Error::io(path, err)),
    }
}

/// Appends `suffix` to the file name of `path` (for SQLite's `-wal`, `-shm`, `-journal`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Builds a new file for `path` under a fresh hidden name next to it, then moves it into place
/// without ever replacing an existing file.
///
/// `build` gets the temporary path and must leave a complete file there (its errors should name
/// `path`, the file the user knows). Whatever happens, the temporary file and its SQLite side
/// files are removed afterwards. `purpose` becomes part of the temporary name (`creating`,
/// `backup`). If a file appeared at `path` meanwhile, the result is [`Error::AlreadyExists`].
pub fn build_in_place<E: From<Error>>(
    path: &Path,
    purpose: &str,
    build: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = staging_path(path, purpose)?;
    remove_staging(&tmp);
    let result = build(&tmp).and_then(|()| publish(&tmp, path).map_err(E::from));
    remove_staging(&tmp);
    result
}

/// A fresh hidden name next to `path` for building a file before moving it into place.
fn staging_path(path: &Path, purpose: &str) -> Result<PathBuf, Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        return Err(Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        ));
    };
    Ok(path.with_file_name(format!(
        ".{}.{purpose}-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Removes a staging database and its side files, ignoring files that do not exist.
fn remove_staging(tmp: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        // Best effort: a leftover staging file is harmless and has a name of its own.
        let _ = std::fs::remove_file(with_suffix(tmp, suffix));
    }
}

/// Moves the finished staging file `tmp` to `path` without ever replacing an existing file.
fn publish(tmp: &Path, path: &Path) -> Result<(), Error> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists {
                path: path.to_path_buf(),
                source: err,
            });
        }
        // File systems without hard links: check, then rename (which would replace).
        Err(_) => {
            if exists(path)? {
                return Err(Error::AlreadyExists {
                    path: path.to_path_buf(),
                    source: io::Error::new(io::ErrorKind::AlreadyExists, "the file already exists"),
                });
            }
            std::fs::rename(tmp, path).map_err(|err| Error::io(path, err))?;
        }
    }
    sync_parent_dir(path);
    Ok(())
}

/// Makes a new directory entry durable (best effort; not every platform supports it).
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(handle) = std::fs::File::open(dir) {
            let _ = handle.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::file_names;

    /// A fresh folder and the path of a file `a.sqlite3` in it (not created).
    fn target() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite3");
        (dir, path)
    }

    /// Writes a file as a build step would.
    fn write(path: &Path, contents: &[u8]) -> Result<(), Error> {
        std::fs::write(path, contents).map_err(|err| Error::io(path, err))
    }

    #[test]
    fn suffixes_are_appended_to_the_file_name() {
        assert_eq!(
            with_suffix(Path::new("dir/a.sqlite3"), "-wal"),
            Path::new("dir/a.sqlite3-wal")
        );
    }

    #[test]
    fn exists_sees_dangling_symlinks() {
        let (dir, path) = target();
        assert!(!exists(&path).unwrap());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("nowhere"), &path).unwrap();
            assert!(exists(&path).unwrap());
        }
    }

    #[test]
    fn a_built_file_moves_into_place_and_leaves_nothing_else() {
        let (dir, path) = target();
        build_in_place(&path, "creating", |tmp| {
            assert!(file_names(dir.path()).is_empty());
            write(tmp, b"new")?;
            write(&with_suffix(tmp, "-shm"), b"side")
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(file_names(dir.path()), ["a.sqlite3"]);
    }

    #[test]
    fn an_existing_file_is_never_replaced() {
        let (dir, path) = target();
        let result = build_in_place(&path, "creating", |tmp| {
            write(&path, b"precious")?;
            write(tmp, b"new")
        });
        assert!(
            matches!(&result, Err(Error::AlreadyExists { path: p, source }) if *p == path && source.kind() == io::ErrorKind::AlreadyExists),
            "{result:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        assert_eq!(file_names(dir.path()), ["a.sqlite3"]);
    }

    #[test]
    fn a_failed_build_leaves_nothing() {
        let (dir, path) = target();
        let result = build_in_place(&path, "creating", |tmp| {
            write(tmp, b"half")?;
            Err(Error::Busy { path: path.clone() })
        });
        assert!(matches!(result, Err(Error::Busy { .. })), "{result:?}");
        assert!(file_names(dir.path()).is_empty());
        let err = build_in_place::<Error>(Path::new("/"), "creating", |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
}
