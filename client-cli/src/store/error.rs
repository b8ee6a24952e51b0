//! [`StoreError`]: everything that can go wrong with the local store, in words that say what
//! the user can do about it.

use between_shared::protocol::DocId;
use std::io;
use std::path::PathBuf;

use between_sqlite_file as sqlite_file;

/// Everything that can go wrong with the local store. Each message says what happened and what
/// the user can do about it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// There is no store file at the path.
    #[error("no profile at {}; create one with `between init`", .path.display())]
    NotFound {
        /// The store file that was looked for.
        path: PathBuf,
    },
    /// `create` found a file already at the path.
    #[error(
        "a profile already exists at {}; it was left untouched (use it, or move it aside first to start a new one)",
        .path.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file is damaged: not a database, truncated, failing the integrity check.
    #[error(
        "the local store at {} is damaged ({detail}); it was left untouched — restore it from a backup or move it aside and pair this device again",
        .path.display()
    )]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong, in a few words.
        detail: String,
    },
    /// The file is a readable SQLite database (or a folder) that does not belong to Between.
    #[error(
        "{} is not a Between store ({detail}); it was left untouched — check the profile you asked for",
        .path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        detail: String,
    },
    /// The store was written by a newer Between with a schema this build does not know.
    #[error(
        "the local store at {} was written by a newer version of Between (store format {found}, this version understands up to {supported}); upgrade Between to use it — the store was left untouched",
        .path.display()
    )]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// The file (or its folder) cannot be written.
    #[error(
        "the local store at {} is read-only; check the permissions of the file and of its folder",
        .path.display()
    )]
    ReadOnly {
        /// The store file.
        path: PathBuf,
    },
    /// Another process held the store's write lock for longer than the busy timeout.
    #[error(
        "the local store at {} is busy (another `between` command is using it); try again in a moment",
        .path.display()
    )]
    Busy {
        /// The store file.
        path: PathBuf,
    },
    /// The file system refused an operation on the store file.
    #[error("cannot access the local store at {}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other SQLite failure.
    #[error("the local store at {} failed: {source}", .path.display())]
    Database {
        /// The store file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// No document has this id.
    #[error("this profile holds no document with id {id}")]
    UnknownDocument {
        /// The id asked for.
        id: DocId,
    },
    /// `add_document` was given an id that is already stored.
    #[error("this profile already holds a document with id {id}; it was left unchanged")]
    DuplicateDocumentId {
        /// The id.
        id: DocId,
    },
    /// The profile already holds its private document.
    #[error("this profile already has its private document; nothing was added")]
    PrivateDocumentExists,
    /// Another document already has this label (compared case-insensitively).
    #[error("this profile already has a document called {label:?}; choose another name")]
    DuplicateLabel {
        /// The label asked for.
        label: String,
    },
}

// What went wrong with the store file, in the words of this store's messages.
sqlite_file::impl_from_error!(StoreError, E => {
    E::NotFound { path, .. } | E::Vanished { path, .. } => StoreError::NotFound { path },
    E::AlreadyExists { path, .. } => StoreError::AlreadyExists { path },
    E::ReadOnly { path, .. } => StoreError::ReadOnly { path },
});
