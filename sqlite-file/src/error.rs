//! What can go wrong with a SQLite file, and the classification of SQLite's own errors.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// What went wrong with a SQLite file, about which path. Each store maps this into its own error
/// type (and its own messages); the messages here are plain fallbacks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing is at the path (found while inspecting it).
    #[error("there is no file at {}", .path.display())]
    NotFound {
        /// The path looked at.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The file was there when inspected but gone when opened for writing.
    #[error("{} disappeared before it could be opened", .path.display())]
    Vanished {
        /// The path.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A new file would have replaced an existing one; the existing one was left alone.
    #[error("a file already exists at {}", .path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The file is damaged: not a database, too short, failing the integrity check, or
    /// reported corrupt by SQLite.
    #[error("the database at {} is damaged ({detail})", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, in a few words.
        detail: String,
    },
    /// The file is not a database of this program (another program's database, or not a
    /// regular file).
    #[error("{} is not a database of this program ({detail})", .path.display())]
    NotOurs {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        detail: String,
    },
    /// The file has a schema version newer than this build understands.
    #[error("the database at {} has schema version {found}; this build understands up to {supported}", .path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// The file (or its folder) cannot be written.
    #[error("the database at {} is read-only", .path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// SQLite's error, when a statement was refused (`None` when the connection itself
        /// opened read-only).
        source: Option<rusqlite::Error>,
    },
    /// Another connection held a lock for longer than the busy timeout.
    #[error("the database at {} is busy", .path.display())]
    Busy {
        /// The file.
        path: PathBuf,
    },
    /// The file system refused an operation.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other SQLite failure.
    #[error("the database at {} failed: {source}", .path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
}

impl Error {
    /// Classifies a SQLite error about the file at `path`: damage ([`Error::Corrupt`]),
    /// contention ([`Error::Busy`]), a refused write ([`Error::ReadOnly`]), or anything else
    /// ([`Error::Database`]).
    pub fn sqlite(path: &Path, err: rusqlite::Error) -> Error {
        let path = path.to_path_buf();
        if let rusqlite::Error::FromSqlConversionFailure(column, _, source) = &err {
            // A stored value that does not read back as its type (an id that is not one):
            // the file's content is not what its schema promises.
            return Error::Corrupt {
                path,
                detail: format!("a value in column {column} does not read back: {source}"),
            };
        }
        match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Error::Corrupt {
                path,
                detail: "the file is not a SQLite database".to_owned(),
            },
            Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
                path,
                detail: format!("SQLite reports: {err}"),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy { path },
            Some(ErrorCode::ReadOnly) => Error::ReadOnly {
                path,
                source: Some(err),
            },
            _ => Error::Database { path, source: err },
        }
    }

    /// Wraps an I/O error about `path`.
    pub fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Implements `From<`[`Error`]`>` for a store's own error enum, in one place per store.
///
/// The enum must have the variants `Corrupt { path, detail }`, `NotAStore { path, detail }`,
/// `TooNew { path, found, supported }`, `Busy { path }`, `Io { path, source }` and
/// `Database { path, source }`: the outcomes [`Error::Corrupt`], [`Error::NotOurs`],
/// [`Error::TooNew`], [`Error::Busy`], [`Error::Io`] and [`Error::Database`] become them as they
/// are, and the store's messages say the rest. The store words the other outcomes itself, as
/// match arms on [`Error`] (named by the identifier given before `=>`). Its arms come first, so
/// an arm with a guard may also take over some of the outcomes above.
///
/// ```
/// # use std::path::PathBuf;
/// # #[derive(Debug)]
/// enum StoreError {
///     # Corrupt { path: PathBuf, detail: String },
///     # NotAStore { path: PathBuf, detail: String },
///     # TooNew { path: PathBuf, found: i64, supported: i64 },
///     # Busy { path: PathBuf },
///     # Io { path: PathBuf, source: std::io::Error },
///     # Database { path: PathBuf, source: rusqlite::Error },
///     Missing { path: PathBuf },
///     // … and the six variants above.
/// }
///
/// between_sqlite_file::impl_from_error!(StoreError, E => {
///     E::NotFound { path, .. } | E::Vanished { path, .. } => StoreError::Missing { path },
///     E::AlreadyExists { path, source } => StoreError::Io { path, source },
///     E::ReadOnly { path, .. } => StoreError::Io {
///         path,
///         source: std::io::ErrorKind::PermissionDenied.into(),
///     },
/// });
/// ```
#[macro_export]
macro_rules! impl_from_error {
    ($store_error:ident, $outcome:ident => { $($arms:tt)* }) => {
        impl ::core::convert::From<$crate::Error> for $store_error {
            fn from(err: $crate::Error) -> $store_error {
                use $crate::Error as $outcome;
                match err {
                    $($arms)*
                    $outcome::Corrupt { path, detail } => $store_error::Corrupt { path, detail },
                    $outcome::NotOurs { path, detail } => $store_error::NotAStore { path, detail },
                    $outcome::TooNew {
                        path,
                        found,
                        supported,
                    } => $store_error::TooNew {
                        path,
                        found,
                        supported,
                    },
                    $outcome::Busy { path } => $store_error::Busy { path },
                    $outcome::Io { path, source } => $store_error::Io { path, source },
                    $outcome::Database { path, source } => $store_error::Database { path, source },
                }
            }
        }
    };
}

/// Attaches a file's path to a SQLite error (see [`Error::sqlite`]).
pub trait AtPath<T> {
    /// Converts the error into an [`Error`] about the file at `path`.
    fn at(self, path: &Path) -> Result<T, Error>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T, Error> {
        self.map_err(|err| Error::sqlite(path, err))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_are_classified() {
        let path = Path::new("x.sqlite3");
        let sqlite = |code, extended| {
            Error::sqlite(
                path,
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error {
                        code,
                        extended_code: extended,
                    },
                    None,
                ),
            )
        };
        let err = sqlite(ErrorCode::NotADatabase, rusqlite::ffi::SQLITE_NOTADB);
        assert!(
            matches!(&err, Error::Corrupt { detail, .. } if detail == "the file is not a SQLite database"),
            "{err:?}"
        );
        let err = sqlite(ErrorCode::DatabaseCorrupt, rusqlite::ffi::SQLITE_CORRUPT);
        assert!(
            matches!(&err, Error::Corrupt { detail, .. } if detail.starts_with("SQLite reports: ")),
            "{err:?}"
        );
        for (code, extended) in [
            (ErrorCode::DatabaseBusy, rusqlite::ffi::SQLITE_BUSY),
            (ErrorCode::DatabaseLocked, rusqlite::ffi::SQLITE_LOCKED),
        ] {
            let err = sqlite(code, extended);
            assert!(matches!(err, Error::Busy { .. }), "{err:?}");
        }
        let err = sqlite(ErrorCode::ReadOnly, rusqlite::ffi::SQLITE_READONLY);
        assert!(
            matches!(
                err,
                Error::ReadOnly {
                    source: Some(_),
                    ..
                }
            ),
            "{err:?}"
        );
        let err = Error::sqlite(
            path,
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                "expected 32 hex digits".into(),
            ),
        );
        assert!(
            matches!(&err, Error::Corrupt { detail, .. } if detail.ends_with("does not read back: expected 32 hex digits")),
            "{err:?}"
        );
        let err = Error::sqlite(path, rusqlite::Error::QueryReturnedNoRows);
        assert!(
            matches!(&err, Error::Database { path: p, .. } if p == path),
            "{err:?}"
        );
    }
}
