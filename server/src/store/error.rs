//! What can go wrong in the relay store: refusals (something missing, a conflict with what is
//! stored, an invite that cannot be used, an audit trail that does not verify) and failures of
//! the database, each with a message that says what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::*;

/// Something a method refers to that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No such account.
    Account(AccountId),
    /// No such device.
    Device(DeviceId),
    /// No such document.
    Document(DocId),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Account(id) => write!(f, "no account {id}"),
            Missing::Device(id) => write!(f, "no device {id}"),
            Missing::Document(id) => write!(f, "no document {id}"),
        }
    }
}

/// Why a change was refused because of what is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The account id is taken.
    AccountExists(AccountId),
    /// Another account already has this identity key.
    IdentityKeyInUse,
    /// The device id is taken.
    DeviceExists(DeviceId),
    /// Another device already has this signing key.
    SigningKeyInUse,
    /// A device was given for a different account than the one being registered.
    DeviceAccountMismatch,
    /// The account is disabled; it gets no new devices.
    AccountDisabled(AccountId),
    /// The document id is taken.
    DocumentExists(DocId),
    /// The document id belonged to a deleted document and is never used again.
    DocumentDeleted(DocId),
    /// The owner of a document is always a member of it.
    OwnerIsAlwaysMember,
    /// An invite with this hash already exists.
    InviteExists,
    /// The pairing mailbox holds an unexpired payload.
    MailboxInUse,
    /// A membership list's serial is not greater than the stored list's: an old list replayed.
    MembershipSerial {
        /// The stored list's serial.
        stored: u64,
        /// The refused list's serial.
        given: u64,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::AccountExists(id) => write!(f, "account {id} already exists"),
            Conflict::IdentityKeyInUse => f.write_str("the identity key is already registered"),
            Conflict::DeviceExists(id) => write!(f, "device {id} already exists"),
            Conflict::SigningKeyInUse => f.write_str("the device signing key is already registered"),
            Conflict::DeviceAccountMismatch => {
                f.write_str("the device belongs to a different account than the one registered")
            }
            Conflict::AccountDisabled(id) => write!(f, "account {id} is disabled"),
            Conflict::DocumentExists(id) => write!(f, "document {id} already exists"),
            Conflict::DocumentDeleted(id) => {
                write!(f, "document {id} was deleted and its id cannot be used again")
            }
            Conflict::OwnerIsAlwaysMember => {
                f.write_str("the owner of a document cannot be removed from it")
            }
            Conflict::InviteExists => f.write_str("an invite with this code already exists"),
            Conflict::MailboxInUse => f.write_str("the pairing mailbox is in use"),
            Conflict::MembershipSerial { stored, given } => write!(
                f,
                "the membership list has serial {given}, but the relay holds serial {stored}: a new list needs a greater serial"
            ),
        }
    }
}

/// Everything that can go wrong in the store. Operator-facing messages say what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database file is damaged: not a database, truncated, or failing the integrity check.
    #[error(
        "the relay database at {} is damaged ({detail}); it was left untouched. Stop the relay and restore the database from your latest backup (`between-relay` backups are plain SQLite files)",
        .path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong, in a few words.
        detail: String,
    },
    /// The file is a SQLite database of another program, or not a regular file.
    #[error(
        "{} is not a between-relay database ({detail}); it was left untouched. Check the database path you configured",
        .path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        detail: String,
    },
    /// The database was written by a newer relay with a schema this build does not know.
    #[error(
        "the relay database at {} has schema version {found}, but this between-relay understands only up to {supported}; upgrade between-relay (the database was left untouched)",
        .path.display()
    )]
    TooNew {
        /// The database file (PostgreSQL: the database's URL without its password).
        path: PathBuf,
        /// The schema version found.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// Another connection held the write lock for longer than the busy timeout.
    #[error(
        "the relay database at {} is busy (another process holds its write lock); try again",
        .path.display()
    )]
    Busy {
        /// The database file (PostgreSQL: the database's URL without its password).
        path: PathBuf,
    },
    /// The file system refused an operation.
    #[error("cannot access {}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other database failure.
    #[error("the relay database at {} failed: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// A PostgreSQL database failed: the connection, or a statement the relay sent. `database`
    /// names it without its password, which is never part of a message.
    #[error("the relay's PostgreSQL database {database} failed: {detail}")]
    Postgres {
        /// The database's URL without its password.
        database: String,
        /// What went wrong, in a few words (the server's message and SQLSTATE).
        detail: String,
        /// The underlying error.
        error: ::postgres::Error,
    },
    /// The PostgreSQL URL cannot be used as it is written (see `postgres::target`).
    #[error(transparent)]
    PostgresUrl(#[from] self::postgres::target::TargetError),
    /// Something the call refers to does not exist.
    #[error("not found: {0}")]
    NotFound(Missing),
    /// The change contradicts what is stored.
    #[error("refused: {0}")]
    Conflict(Conflict),
    /// A snapshot claims to cover log positions that were never assigned.
    #[error("refused: the snapshot of document {doc} covers up to {covers}, but the log only reaches {head}")]
    SnapshotBeyondHead {
        /// The document.
        doc: DocId,
        /// The position the snapshot claimed to cover.
        covers: Seq,
        /// The document's head.
        head: Seq,
    },
    /// A part of a snapshot does not continue what its device uploaded so far.
    #[error("refused: part {part} of the snapshot of document {doc} does not follow the parts this device uploaded before it (expected {}); upload the snapshot again from part 0", match .expected { Some(next) => format!("part {next} of the same snapshot"), None => "part 0".to_owned() })]
    SnapshotPartOutOfOrder {
        /// The document.
        doc: DocId,
        /// The part that arrived.
        part: u32,
        /// The part that would have continued the upload, if one is under way.
        expected: Option<u32>,
    },
    /// A snapshot is older than the one already stored.
    #[error("refused: the snapshot of document {doc} covers up to {covers}, older than the stored one (up to {current})")]
    SnapshotOutdated {
        /// The document.
        doc: DocId,
        /// The position the snapshot claimed to cover.
        covers: Seq,
        /// The position the stored snapshot covers.
        current: Seq,
    },
    /// An argument is outside what the store accepts (for example an audit action that is not a
    /// token).
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// The storage thread could not be started.
    #[error("could not start the storage thread: {0}")]
    Spawn(#[source] io::Error),
    /// The storage thread has stopped (after shutdown); the request was not carried out.
    #[error("the relay storage has shut down; the request was not carried out")]
    Closed,
    /// The request panicked on the storage thread; its transaction was rolled back.
    #[error("the storage request failed unexpectedly and was rolled back")]
    Panicked,
    /// The group commit this request was part of failed as a whole (see
    /// [`RelayStore::write_batch`]): nothing of it was committed. Every request of the batch
    /// gets the same underlying error.
    #[error(transparent)]
    Batch(std::sync::Arc<StoreError>),
    /// The backend answered a write of a batch with the result of another kind of write (a bug
    /// in the backend); treated as a failure of that request.
    #[error("the storage answered a request with the wrong kind of result")]
    Mismatched,
}

/// The one message every refused invite gets, whatever the reason, so a guesser learns nothing.
const INVITE_REFUSED: &str =
    "this invite is not valid (it is unknown, already used or expired); ask for a new one";

/// Why an invite was not redeemed. The three refusals display the same message; use
/// [`InviteError::reason`] to tell them apart in logs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InviteError {
    /// No invite has this hash.
    #[error("{}", INVITE_REFUSED)]
    Unknown,
    /// The invite has expired.
    #[error("{}", INVITE_REFUSED)]
    Expired,
    /// The invite was redeemed before.
    #[error("{}", INVITE_REFUSED)]
    Used,
    /// The invite is for another kind of account (a therapist invite used by a client, say);
    /// it was not consumed.
    #[error("this invite is for a {invite} account, not a {wanted} account; ask for the right kind of invite")]
    WrongRole {
        /// What the invite is for.
        invite: AccountRole,
        /// What the registering device asked for.
        wanted: AccountRole,
    },
    /// The store failed, or the registration conflicts with what is stored (the invite was not
    /// consumed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InviteError {
    /// A short token for logs and the audit trail (never shown to the peer).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            InviteError::Unknown => "invite-unknown",
            InviteError::Expired => "invite-expired",
            InviteError::Used => "invite-used",
            InviteError::WrongRole { .. } => "invite-wrong-role",
            InviteError::Store(_) => "invite-store-error",
        }
    }
}

/// What is wrong with the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditProblem {
    /// The row's stored hash does not match its contents and the previous hash: it (or an earlier
    /// row) was altered.
    Altered,
    /// Rows before this one are missing.
    Missing,
    /// The trail ends before the recorded end: rows were removed from its tail.
    Truncated {
        /// The number of rows recorded.
        recorded_rows: u64,
    },
    /// The recorded end of the trail does not match its last row.
    HeadMismatch,
    /// The row's hash differs from the head an operator recorded earlier: the trail up to it
    /// was rewritten (a consistent rewrite of the whole chain is caught only this way).
    DiffersFromKnownHead,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::Altered => {
                f.write_str("its hash does not match: it or an earlier row was altered")
            }
            AuditProblem::Missing => f.write_str("rows before it are missing"),
            AuditProblem::Truncated { recorded_rows } => {
                write!(
                    f,
                    "the trail should have {recorded_rows} rows: its tail was removed"
                )
            }
            AuditProblem::HeadMismatch => {
                f.write_str("the recorded end of the trail does not match its last row")
            }
            AuditProblem::DiffersFromKnownHead => f.write_str(
                "its hash differs from the head you recorded earlier: the trail up to it was rewritten",
            ),
        }
    }
}

/// Why [`AuditStore::verify_audit`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuditError {
    /// The chain is broken at `row`: the trail was tampered with.
    #[error("the audit trail was tampered with at row {row}: {problem}")]
    Broken {
        /// The first row found wrong.
        row: u64,
        /// What is wrong.
        problem: AuditProblem,
    },
    /// The trail could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}
