//! The local store of one device profile: a single SQLite file holding the profile record and
//! every homework document this device replicates.
//!
//! # Layout
//!
//! A document is kept as one *snapshot* (an Automerge full save) plus a list of appended
//! *chunks* (Automerge incremental saves, one per command that changed it). Loading returns the
//! snapshot followed by every chunk in the order they were appended, which Automerge's `load`
//! accepts as is. A command only appends its own chunk, so an edit never rewrites the whole
//! document; once the chunks grow (see [`Store::needs_compaction`]) the caller replaces snapshot
//! and chunks with a fresh full save ([`Store::compact`]).
//!
//! # Transaction contract
//!
//! - Every method that changes the store does so in **one** `BEGIN IMMEDIATE` transaction that is
//!   committed before the method returns. The connection runs in WAL mode with
//!   `synchronous=FULL`, so once a method has returned `Ok`, its change survives a crash or
//!   `kill -9` of the process and a power cut. If the process dies earlier, the change is
//!   absent as a whole: there is never half a chunk, half a compaction or half a rename.
//! - [`Store::load_document`] reads the snapshot and the chunks in one read transaction, so it
//!   sees a consistent state even while another process (say `between sync --watch`) appends or
//!   compacts at the same time. A busy timeout lets such processes share the file.
//! - Compaction never drops a change it was not given: it deletes only the chunks this handle
//!   loaded or appended itself, and it does nothing (returns `false`) when another process
//!   compacted the document in the meantime. After it, giving freed pages back to the file
//!   system (`incremental_vacuum`) is a second transaction that changes no content.
//! - [`Store::create`] builds the new store under a temporary name next to the final path and
//!   moves it into place only when complete, so an interrupted `between init` leaves no
//!   half-made profile behind, and it never replaces an existing file.
//! - [`Store::open`] first inspects the file through a *read-only* connection (SQLite header,
//!   `PRAGMA application_id`, `PRAGMA user_version`, `PRAGMA quick_check`). A damaged file, a
//!   file from another program or from a newer Between is refused with a clear error and is
//!   never written to. Only then is it opened for writing (and migrated if it is older).
//!
//! # Sync
//!
//! A profile that syncs through a relay (schema 2) also holds its account and keys (which
//! never leave the device), each document's sync state and epoch keys, the account's known
//! devices, and which device first brought each Automerge actor's changes.
//! [`Store::persist_sync`] writes a document's new changes **and** the sync engine's state in
//! one transaction: after a crash the state never claims changes the document lacks, and no
//! received change is lost while the engine counts its bundle as read.
//!
//! # Schema versions
//!
//! `PRAGMA user_version` holds the schema version; [`MIGRATIONS`] lists the SQL that brings a
//! store from version `n` to `n + 1`. Opening an older store applies the missing migrations in one
//! transaction; a newer one is refused with an "upgrade Between" error. Each migration's constant
//! says what its version adds; in short:
//!
//! 1. profile, documents and chunks;
//! 2. account, sync state, epoch keys, devices, change authors;
//! 3. the practice's certificate authority;
//! 4. each document's kind — the shared homework document, or a client's private one (at most
//!    one per profile);
//! 5. sharing: each document's signed membership list, the other members' devices, and which
//!    devices each epoch key was wrapped for;
//! 6. documents deleted from the relay (they never sync again);
//! 7. when the therapist last looked at each client's homework;
//! 8. forgets which devices were given unsigned key envelopes, so they are given signed ones;
//! 9. chunks set aside because they could not be merged;
//! 10. the records a therapist was shown one by one;
//! 11. when sharing a document ended;
//! 12. the practice's crisis resources on a therapist's profile;
//! 13. the reminders this device raised;
//! 14. each synced document's known heads, with the stored version they belong to;
//! 15. the stored version at which a therapist's profile found crisis resources in a client's
//!     homework.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use between_sqlite_file::{self as sqlite_file, exists, AtPath, Format};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

/// `PRAGMA application_id` of every Between store ("BTWN"), so that an unrelated SQLite file is
/// never mistaken for one.
pub(crate) const APPLICATION_ID: i32 = 0x4254_574E;

/// Schema migrations: entry `n` brings a store from version `n` to `n + 1`. Never edit an entry
/// once released; append a new one instead.
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1,
    SCHEMA_V2,
    SCHEMA_V3,
    SCHEMA_V4,
    SCHEMA_V5,
    SCHEMA_V6,
    SCHEMA_V7,
    SCHEMA_V8_FORGET_UNSIGNED_ENVELOPES,
    SCHEMA_V9_SET_ASIDE_CHUNKS,
    SCHEMA_V10_SEEN_RECORDS,
    SCHEMA_V11_SHARING_ENDED,
    SCHEMA_V12_PRACTICE_CRISIS_RESOURCES,
    SCHEMA_V13_REMINDERS_RAISED,
    SCHEMA_V14_KNOWN_HEADS,
    SCHEMA_V15_CRISIS_RESOURCES_FOUND,
];

/// The schema version this build writes and understands (the length of [`MIGRATIONS`]).
#[cfg(test)]
const SCHEMA_VERSION: i64 = FORMAT.schema_version();

/// How long a command waits for another process that holds the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A document needs compaction once it has more appended chunks than this.
pub(crate) const COMPACT_AFTER_CHUNKS: u64 = 64;

/// How far past [`COMPACT_AFTER_CHUNKS`] (and the byte threshold) a compaction put off for a
/// quiet moment becomes [`Compaction::Overdue`].
const OVERDUE_FACTOR: u64 = 16;

/// How pressing a compaction must be for [`Store::needs_compaction`] to say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compaction {
    /// The chunks have grown enough to be worth replacing.
    Due,
    /// They have grown [`OVERDUE_FACTOR`] times as much: loading them costs more than a save.
    Overdue,
}

/// Appended bytes below this never trigger compaction on their own (a tiny snapshot would
/// otherwise be rewritten after nearly every edit).
pub(crate) const COMPACT_MIN_BYTES: u64 = 4096;

/// SQLite's `auto_vacuum` mode `INCREMENTAL`: free pages are given back to the file system only
/// when asked (`PRAGMA incremental_vacuum`), which [`Store::compact`] does.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Free pages (of 4 KiB) below which a compaction leaves them for the next writes to reuse.
const RECLAIM_MIN_FREE_PAGES: i64 = 256;

/// Version 1: profile, documents (snapshot) and their appended chunks.
const SCHEMA_V1: &str = "
CREATE TABLE profile (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    role          TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    actor_id      BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE documents (
    id            TEXT    NOT NULL PRIMARY KEY,
    label         TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    created_at_ms INTEGER NOT NULL,
    snapshot      BLOB    NOT NULL,
    generation    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE document_chunks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    data        BLOB    NOT NULL
) STRICT;

CREATE INDEX document_chunks_by_document ON document_chunks (document_id, seq);
";

/// Version 2: sync with a relay. The account and this device's keys (secrets never leave the
/// device), each document's sync state, epoch keys, the account's known devices and which
/// device wrote which Automerge actor's changes. A profile that never syncs leaves them empty.
const SCHEMA_V2: &str = "
CREATE TABLE account (
    id                 INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    relay_url          TEXT    NOT NULL,
    account_id         BLOB    CHECK (account_id IS NULL OR length(account_id) = 16),
    identity_keypair   BLOB    NOT NULL,
    device_keypair     BLOB    NOT NULL,
    device_certificate BLOB    NOT NULL,
    registration       TEXT    NOT NULL CHECK (registration IN ('invite', 'pairing', 'done')),
    invite             BLOB,
    last_sync_ms       INTEGER,
    devices_listed_ms  INTEGER
) STRICT;

CREATE TABLE sync_documents (
    document_id TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    on_relay    INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL CHECK (json_valid(state))
) STRICT;

CREATE TABLE epoch_keys (
    document_id TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    key         BLOB    NOT NULL CHECK (length(key) = 32),
    PRIMARY KEY (document_id, epoch)
) STRICT;

CREATE TABLE devices (
    device_id        TEXT    NOT NULL PRIMARY KEY,
    certificate      BLOB    NOT NULL,
    this_device      INTEGER NOT NULL DEFAULT 0,
    name             TEXT,
    registered_at_ms INTEGER,
    listed           INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE change_authors (
    actor_id  BLOB NOT NULL PRIMARY KEY,
    device_id TEXT NOT NULL
) STRICT;
";

/// Version 3: the practice's certificate authority (PEM) the relay's TLS certificate is checked
/// against, when the practice runs its own CA instead of a publicly trusted one.
const SCHEMA_V3: &str = "
ALTER TABLE account ADD COLUMN relay_ca_pem TEXT;
";

/// Version 4: the kind of each document. Every document stored so far is a shared homework
/// document; a client's private document (entries only their own devices hold) is marked
/// `private`, and a profile has at most one.
const SCHEMA_V4: &str = "
ALTER TABLE documents ADD COLUMN kind TEXT NOT NULL DEFAULT 'shared'
    CHECK (kind IN ('shared', 'private'));
CREATE UNIQUE INDEX documents_one_private ON documents (kind) WHERE kind = 'private';
";

/// Version 5: sharing with another person. Each shared document's latest membership list signed
/// by its owner (the client), the other members' devices (certificates, checked against that
/// list before use) and which devices this device has already wrapped each epoch key for.
const SCHEMA_V5: &str = "
ALTER TABLE account ADD COLUMN therapist_commitment BLOB
    CHECK (therapist_commitment IS NULL OR length(therapist_commitment) = 16);

CREATE TABLE memberships (
    document_id TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    serial      INTEGER NOT NULL,
    list        BLOB    NOT NULL
) STRICT;

CREATE TABLE peer_devices (
    device_id   TEXT NOT NULL PRIMARY KEY,
    account_id  BLOB NOT NULL CHECK (length(account_id) = 16),
    certificate BLOB NOT NULL
) STRICT;

CREATE TABLE wrapped_keys (
    document_id TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    device_id   TEXT    NOT NULL,
    PRIMARY KEY (document_id, epoch, device_id)
) STRICT;
";

/// Version 6: documents deleted from the relay. The relay retires a deleted document's id for
/// good, so such a document never syncs again (`sync_documents` leaves it out); the homework
/// stays on this device. `by_this_device` tells a deletion made here from one this device
/// learned of (another device of the owner, or the owner of a document shared with it), whose
/// time is when it learned of it.
const SCHEMA_V6: &str = "
CREATE TABLE relay_deletions (
    document_id    TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    deleted_at_ms  INTEGER NOT NULL,
    by_this_device INTEGER NOT NULL CHECK (by_this_device IN (0, 1))
) STRICT;
";

/// Version 7: when the therapist last looked at each client's homework in detail (`show`, `list`,
/// `progress`, `today`, or `clients --seen`), so `between clients` can say what is new since:
/// the moment and the therapist's calendar day then. Local to this device, never synced.
const SCHEMA_V7: &str = "
CREATE TABLE looked_at (
    document_id TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    at_ms       INTEGER NOT NULL,
    day         TEXT    NOT NULL
) STRICT;
";

/// Version 8: key envelopes are signed by the wrapping device (`SignedEnvelope`), and recipients
/// refuse unsigned ones. The "wrapped for" records of earlier versions stand for unsigned
/// envelopes, so they are forgotten: the owner's device wraps and stores signed envelopes for
/// every member device again at its next sync (the relay replaces the old ones).
const SCHEMA_V8_FORGET_UNSIGNED_ENVELOPES: &str = "
DELETE FROM wrapped_keys;
";

/// Version 11: when sharing a document ended on this device, and whether the other person or
/// this account ended it, so a therapist's caseload can say so.
const SCHEMA_V11_SHARING_ENDED: &str = "
CREATE TABLE sharing_ended (
    document_id TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    at_ms       INTEGER NOT NULL,
    by_us       INTEGER NOT NULL
) STRICT;
";

/// Version 13: the reminders this device raised (`between remind`), so each is raised once a
/// day, whichever process raises it.
const SCHEMA_V13_REMINDERS_RAISED: &str = "
CREATE TABLE reminders_raised (
    document_id   TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    assignment_id TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    raised_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (document_id, assignment_id, day)
) STRICT;
";

/// Version 14: a synced document's heads as stored, with the stored version they belong to
/// (its compaction generation and its last chunk), recorded when this device held exactly what
/// was stored. While the version is unchanged, `between sync` knows the heads without loading
/// the document, so a sync that finds nothing new loads nothing.
const SCHEMA_V14_KNOWN_HEADS: &str = "
ALTER TABLE sync_documents ADD COLUMN heads_generation INTEGER;
ALTER TABLE sync_documents ADD COLUMN heads_last_chunk INTEGER;
ALTER TABLE sync_documents ADD COLUMN heads BLOB
    CHECK (heads IS NULL OR length(heads) % 32 = 0);
";

/// Version 15: the stored version of a client's homework (compaction generation and last chunk)
/// at which this therapist's profile found crisis resources in it, so filling in the
/// practice's resources before and after each sync reads only homework that changed since.
const SCHEMA_V15_CRISIS_RESOURCES_FOUND: &str = "
CREATE TABLE crisis_resources_found (
    document_id TEXT    NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    generation  INTEGER NOT NULL,
    last_chunk  INTEGER NOT NULL
) STRICT;
";

/// Version 12: the crisis resources a therapist's practice set (`between crisis-resources`),
/// which this profile writes into every client's homework that has none, new clients included.
const SCHEMA_V12_PRACTICE_CRISIS_RESOURCES: &str = "
ALTER TABLE profile ADD COLUMN crisis_resources TEXT;
";

/// Version 10: which records the therapist was shown one by one (`between show`), so that
/// "new" in the caseload is per record. Local to this device, never synced.
const SCHEMA_V10_SEEN_RECORDS: &str = "
CREATE TABLE seen_records (
    document_id TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    record_id   TEXT    NOT NULL,
    seen_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (document_id, record_id)
) STRICT;
";

/// Version 9: chunks of changes that could not be merged into their document (two processes
/// that once wrote as one Automerge actor; see `crate::salvage`) are moved here instead of being
/// deleted, so the document loads again and nothing is destroyed.
const SCHEMA_V9_SET_ASIDE_CHUNKS: &str = "
CREATE TABLE set_aside_chunks (
    document_id     TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    data            BLOB    NOT NULL,
    reason          TEXT    NOT NULL,
    set_aside_at_ms INTEGER NOT NULL,
    PRIMARY KEY (document_id, seq)
) STRICT;
";

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
    #[error("this profile holds no document with id {id:?}")]
    UnknownDocument {
        /// The id asked for.
        id: String,
    },
    /// `add_document` was given an id that is already stored.
    #[error("this profile already holds a document with id {id:?}; it was left unchanged")]
    DuplicateDocumentId {
        /// The id.
        id: String,
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

/// Who this device profile belongs to (one row, written once by [`Store::create`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileRecord {
    /// "client" or "therapist".
    pub(crate) role: String,
    /// The person's display name (local only).
    pub(crate) display_name: String,
    /// The Automerge actor id this device writes with.
    pub(crate) actor_id: Vec<u8>,
    /// When the profile was created (Unix milliseconds).
    pub(crate) created_at_ms: i64,
}

/// Whether a document is shared homework or a client's private document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocumentKind {
    /// The homework document of a client–therapist relationship.
    Shared,
    /// A client's private document: only their own devices hold it and its keys.
    Private,
}

impl DocumentKind {
    /// The stored name.
    fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Shared => "shared",
            DocumentKind::Private => "private",
        }
    }

    /// Reads a stored name (the schema allows no other values).
    fn parse(text: &str) -> rusqlite::Result<Self> {
        match text {
            "shared" => Ok(DocumentKind::Shared),
            "private" => Ok(DocumentKind::Private),
            other => Err(rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown document kind {other:?}").into(),
            )),
        }
    }
}

/// A summary of one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentRecord {
    /// The document id.
    pub(crate) id: String,
    /// Shared homework or the client's private document.
    pub(crate) kind: DocumentKind,
    /// The local, human name of the document (unique per profile, case-insensitively).
    pub(crate) label: String,
    /// When it was added to this profile (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// Number of appended chunks since the last compaction.
    pub(crate) chunks: u32,
    /// Stored bytes: the snapshot plus every chunk.
    pub(crate) bytes: u64,
}

/// How far this device's registration with the relay has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registration {
    /// Not yet registered: register as an account's first device with this invite secret.
    Invite(Vec<u8>),
    /// Not yet registered: register as a further device of an existing account (paired).
    Pairing,
    /// The relay has welcomed this device.
    Done,
}

/// This device's account on a relay (one row, written when the profile is created for sync).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    /// The relay's URL, as the person typed it.
    pub(crate) relay_url: String,
    /// The practice's CA certificate(s) in PEM, when the relay's certificate is checked against
    /// them instead of the system's roots.
    pub(crate) relay_ca_pem: Option<String>,
    /// For a client invited by a therapist: the commitment to the therapist's identity key from
    /// the invite, kept until the shared document is shared with that therapist.
    pub(crate) therapist_commitment: Option<[u8; 16]>,
    /// The relay's account id, once the relay has welcomed this device.
    pub(crate) account_id: Option<[u8; 16]>,
    /// The person's identity keypair (`IdentityKeypair::to_bytes`). Local only.
    pub(crate) identity_keypair: Vec<u8>,
    /// This device's keypair (`DeviceKeypair::to_bytes`). Local only.
    pub(crate) device_keypair: Vec<u8>,
    /// This device's certificate, signed by the identity key.
    pub(crate) device_certificate: Vec<u8>,
    /// Whether the relay has registered this device yet.
    pub(crate) registration: Registration,
    /// When a sync last completed (Unix milliseconds).
    pub(crate) last_sync_ms: Option<i64>,
    /// When the relay last listed the account's devices (Unix milliseconds).
    pub(crate) devices_listed_ms: Option<i64>,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("relay_url", &self.relay_url)
            .field("account_id", &self.account_id)
            .field(
                "registration",
                &matches!(self.registration, Registration::Done),
            )
            .field("last_sync_ms", &self.last_sync_ms)
            .finish_non_exhaustive()
    }
}

/// One device of the account, as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceRecord {
    /// The device id, as 32 hex characters.
    pub(crate) device_id: String,
    /// Its certificate (verified against the account's identity before it was stored).
    pub(crate) certificate: Vec<u8>,
    /// Whether it is this device.
    pub(crate) this_device: bool,
    /// A local name, when this device knows one (its own, or the one that paired it).
    pub(crate) name: Option<String>,
    /// When the relay registered it (Unix milliseconds), if the relay has listed it.
    pub(crate) registered_at_ms: Option<i64>,
    /// Whether the relay's last device list included it.
    pub(crate) listed: bool,
}

/// The sync state of one document.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SyncRecord {
    /// The document id.
    pub(crate) document_id: String,
    /// The epoch new bundles are sealed under.
    pub(crate) epoch: u32,
    /// Whether the relay has created the document's log.
    pub(crate) on_relay: bool,
    /// The engine's state (`SyncState` as JSON).
    pub(crate) state: String,
    /// Every epoch key this device holds for the document.
    pub(crate) keys: Vec<(u32, [u8; 32])>,
}

impl std::fmt::Debug for SyncRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRecord")
            .field("document_id", &self.document_id)
            .field("epoch", &self.epoch)
            .field("on_relay", &self.on_relay)
            .field("state", &self.state)
            .field(
                "epochs",
                &self.keys.iter().map(|(e, _)| e).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A document that is no longer on the relay (see [`SCHEMA_V6`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelayDeletion {
    /// The document id.
    pub(crate) document_id: String,
    /// Its label (the client's name, or "private").
    pub(crate) label: String,
    /// Shared homework or the client's private document.
    pub(crate) kind: DocumentKind,
    /// When it was deleted (by this device) or found deleted (Unix milliseconds).
    pub(crate) deleted_at_ms: i64,
    /// Whether this device deleted it.
    pub(crate) by_this_device: bool,
}

/// A document to create with a new synced profile.
#[derive(Debug, Clone)]
pub(crate) struct NewDocument {
    /// The document id.
    pub(crate) id: String,
    /// Its local label.
    pub(crate) label: String,
    /// When it was added to this profile (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// Its first full save (an empty document on a paired device, until it syncs).
    pub(crate) snapshot: Vec<u8>,
    /// Shared homework or the client's private document.
    pub(crate) kind: DocumentKind,
    /// Its sync state, as it starts.
    pub(crate) sync: SyncRecord,
}

/// Everything a profile that syncs starts with, written with the profile in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct NewSyncedProfile {
    /// The account and this device's keys.
    pub(crate) account: AccountRecord,
    /// The documents.
    pub(crate) documents: Vec<NewDocument>,
    /// The devices known from the start (at least this one).
    pub(crate) devices: Vec<DeviceRecord>,
}

/// What one sync step writes for a document, in one transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncWrite<'a> {
    /// The document's new changes (an Automerge incremental save), possibly empty.
    pub(crate) changes: &'a [u8],
    /// The engine's state after them, as JSON.
    pub(crate) state: &'a str,
    /// Automerge actors newly seen, with the device whose bundle carried their changes.
    pub(crate) authors: &'a [(Vec<u8>, String)],
    /// The document's heads after `changes`, when the writer holds the document loaded: kept
    /// as its known heads if this handle then holds exactly what is stored (see
    /// [`SyncRecord::known_heads`]). `None` leaves the recorded heads as they are.
    pub(crate) heads: Option<&'a [[u8; 32]]>,
}

/// Where a document's stored content stands ([`Store::stored_version`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredVersion {
    generation: i64,
    last_chunk: i64,
}

impl StoredVersion {
    /// Reads a row of `(generation, last chunk)`.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            generation: row.get(0)?,
            last_chunk: row.get(1)?,
        })
    }
}

/// A document as stored: its snapshot and its appended chunks `(seq, bytes)` in order.
#[derive(Debug, Clone)]
pub(crate) struct StoredParts {
    pub(crate) snapshot: Vec<u8>,
    pub(crate) chunks: Vec<(i64, Vec<u8>)>,
}

/// What the caller of this handle holds of a document in memory: the state it last loaded
/// plus the chunks it appended since. [`Store::compact`] deletes only what is covered here.
#[derive(Debug, Clone)]
struct Seen {
    /// The document's compaction generation when it was loaded.
    generation: i64,
    /// The highest chunk sequence number that was part of the load (0 if none).
    through_seq: i64,
    /// Chunks appended through this handle since that load.
    own_seqs: Vec<i64>,
}

/// An open local store. See the module documentation for its transaction contract.
#[derive(Debug)]
pub(crate) struct Store {
    /// The read-write connection.
    conn: Connection,
    /// The store file.
    path: PathBuf,
    /// Per document id: what this handle's caller has seen (for safe compaction).
    seen: RefCell<HashMap<String, Seen>>,
}

/// How a local store's file is recognised, set up and migrated. A file system without WAL
/// support keeps its rollback journal, which is just as durable with `synchronous=FULL`.
const FORMAT: Format = Format {
    application_id: APPLICATION_ID,
    migrations: MIGRATIONS,
    busy_timeout: BUSY_TIMEOUT,
    require_wal: false,
    pragmas: &[],
    // An older file is converted by `Store::reclaim_free_pages` the first time it has much to
    // give back.
    file_pragmas: &[("auto_vacuum", AUTO_VACUUM_INCREMENTAL)],
    noun: "store",
};

// What went wrong with the store file, in the words of this store's messages.
sqlite_file::impl_from_error!(StoreError, E => {
    E::NotFound { path, .. } | E::Vanished { path, .. } => StoreError::NotFound { path },
    E::AlreadyExists { path, .. } => StoreError::AlreadyExists { path },
    E::ReadOnly { path, .. } => StoreError::ReadOnly { path },
});

/// Writes the profile (and, for a profile that syncs, everything it starts with) into the new
/// store's first transaction (errors name the final `path`).
fn insert_profile(
    tx: &Transaction<'_>,
    path: &Path,
    profile: &ProfileRecord,
    synced: Option<&NewSyncedProfile>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO profile (id, role, display_name, actor_id, created_at_ms)
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            profile.role,
            profile.display_name,
            profile.actor_id,
            profile.created_at_ms
        ],
    )
    .at(path)?;
    if let Some(synced) = synced {
        insert_synced(tx, synced).at(path)??;
    }
    Ok(())
}

/// The generation of a document, or `None` if it does not exist.
fn generation_of(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT generation FROM documents WHERE id = ?1",
        [id],
        |row| row.get(0),
    )
    .optional()
}

/// Records `heads` as the known heads of document `id` (see [`SyncRecord::known_heads`]) if
/// `held` — what a handle loaded and appended since — is exactly what is stored: the same
/// compaction generation, and no chunk after its load that it did not append itself. Otherwise
/// it forgets any recorded heads, which would no longer match.
fn record_known_heads(
    tx: &Transaction<'_>,
    id: &str,
    held: Option<&Seen>,
    heads: &[[u8; 32]],
) -> rusqlite::Result<()> {
    let Some(version) = stored_version_of(tx, id)? else {
        return Ok(());
    };
    let foreign: i64 = tx.query_row(
        "SELECT count(*) FROM document_chunks
          WHERE document_id = ?1 AND seq > ?2
            AND seq NOT IN (SELECT value FROM json_each(?3))",
        params![
            id,
            held.map_or(i64::MAX, |seen| seen.through_seq),
            serde_json::to_string(&held.map_or(&[][..], |seen| seen.own_seqs.as_slice()))
                .unwrap_or_else(|_| "[]".to_owned())
        ],
        |row| row.get(0),
    )?;
    let exact = held.is_some_and(|seen| seen.generation == version.generation) && foreign == 0;
    let recorded = exact.then(|| heads.concat());
    tx.execute(
        "UPDATE sync_documents SET heads_generation = ?2, heads_last_chunk = ?3, heads = ?4
          WHERE document_id = ?1",
        params![id, version.generation, version.last_chunk, recorded],
    )?;
    Ok(())
}

/// Where document `id`'s stored content stands (see [`StoredVersion`]), if it exists.
fn stored_version_of(conn: &Connection, id: &str) -> rusqlite::Result<Option<StoredVersion>> {
    conn.prepare_cached(
        "SELECT d.generation,
                (SELECT coalesce(max(c.seq), 0) FROM document_chunks c WHERE c.document_id = d.id)
           FROM documents d WHERE d.id = ?1",
    )?
    .query_row([id], StoredVersion::from_row)
    .optional()
}

/// Splits stored heads (32 bytes each) into hashes.
fn split_heads(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes
        .chunks_exact(32)
        .filter_map(|head| <[u8; 32]>::try_from(head).ok())
        .collect()
}

/// Appends to `bytes` the chunks of document `id` after sequence number `after`, in order,
/// except those in `skip`; returns the highest sequence number among them (`after` if none).
fn append_chunks(
    conn: &Connection,
    id: &str,
    after: i64,
    skip: &[i64],
    bytes: &mut Vec<u8>,
) -> rusqlite::Result<i64> {
    let mut stmt = conn.prepare(
        "SELECT seq, data FROM document_chunks WHERE document_id = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![id, after])?;
    let mut through_seq = after;
    while let Some(row) = rows.next()? {
        through_seq = row.get(0)?;
        if !skip.contains(&through_seq) {
            bytes.extend_from_slice(row.get_ref(1)?.as_blob()?);
        }
    }
    Ok(through_seq)
}

/// Converts a count or length read from SQLite (never negative) to `u64`.
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Store {
    /// Creates a new store holding `profile` at `path`, which must not exist yet (its folder
    /// must). Schema, application id and profile are written in one transaction into a staging
    /// file next to `path`, which is moved into place only when complete.
    pub(crate) fn create(path: &Path, profile: &ProfileRecord) -> Result<Store, StoreError> {
        Self::create_inner(path, profile, None)
    }

    /// Like [`Store::create`], for a profile that syncs: the account, its documents, their
    /// sync state and keys, and the known devices are written in the same transaction as the
    /// profile, so a new synced profile exists completely or not at all.
    pub(crate) fn create_synced(
        path: &Path,
        profile: &ProfileRecord,
        synced: &NewSyncedProfile,
    ) -> Result<Store, StoreError> {
        Self::create_inner(path, profile, Some(synced))
    }

    fn create_inner(
        path: &Path,
        profile: &ProfileRecord,
        synced: Option<&NewSyncedProfile>,
    ) -> Result<Store, StoreError> {
        if exists(path)? {
            return Err(StoreError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        FORMAT.create(path, |tx| insert_profile(tx, path, profile, synced))?;
        Store::open(path)
    }

    /// Opens the existing store at `path`. The file is first inspected read-only and refused,
    /// untouched, if it is missing, damaged, not a Between store or from a newer Between; an
    /// older store is then migrated in one transaction.
    pub(crate) fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            conn: FORMAT.open(path)?,
            path: path.to_path_buf(),
            seen: RefCell::new(HashMap::new()),
        })
    }

    /// The store file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records that this device raised the reminder of `assignment` for `day`.
    pub(crate) fn record_reminder(
        &mut self,
        document_id: &str,
        assignment: &str,
        day: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO reminders_raised (document_id, assignment_id, day, raised_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![document_id, assignment, day, at_ms],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// The assignments whose reminder for `day` this device raised already.
    pub(crate) fn reminders_raised(
        &self,
        document_id: &str,
        day: &str,
    ) -> Result<HashSet<String>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT assignment_id FROM reminders_raised WHERE document_id = ?1 AND day = ?2",
            )
            .at(path)?;
        let rows = stmt
            .query_map(params![document_id, day], |row| row.get(0))
            .at(path)?;
        Ok(rows
            .collect::<rusqlite::Result<HashSet<String>>>()
            .at(path)?)
    }

    /// The crisis resources this therapist's practice set, if it did.
    pub(crate) fn practice_crisis_resources(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT crisis_resources FROM profile WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .at(&self.path)?)
    }

    /// Keeps the crisis resources of this therapist's practice, for clients added later.
    pub(crate) fn set_practice_crisis_resources(&mut self, text: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE profile SET crisis_resources = ?1 WHERE id = 1",
                [text],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// The profile this store belongs to.
    pub(crate) fn profile(&self) -> Result<ProfileRecord, StoreError> {
        self.conn
            .query_row(
                "SELECT role, display_name, actor_id, created_at_ms FROM profile WHERE id = 1",
                [],
                |row| {
                    Ok(ProfileRecord {
                        role: row.get(0)?,
                        display_name: row.get(1)?,
                        actor_id: row.get(2)?,
                        created_at_ms: row.get(3)?,
                    })
                },
            )
            .optional()
            .at(&self.path)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                detail: "its profile record is missing".to_owned(),
            })
    }

    /// Every stored document, oldest first.
    pub(crate) fn documents(&self) -> Result<Vec<DocumentRecord>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.id, d.label, d.created_at_ms, length(d.snapshot),
                        (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id),
                        (SELECT coalesce(sum(length(c.data)), 0)
                           FROM document_chunks c WHERE c.document_id = d.id),
                        d.kind
                   FROM documents d
                  ORDER BY d.created_at_ms, d.label, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                let snapshot_len: i64 = row.get(3)?;
                let chunks: i64 = row.get(4)?;
                let chunk_bytes: i64 = row.get(5)?;
                Ok(DocumentRecord {
                    id: row.get(0)?,
                    kind: DocumentKind::parse(&row.get::<_, String>(6)?)?,
                    label: row.get(1)?,
                    created_at_ms: row.get(2)?,
                    chunks: u32::try_from(chunks).unwrap_or(u32::MAX),
                    bytes: non_negative(snapshot_len).saturating_add(non_negative(chunk_bytes)),
                })
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Adds a new document with its first full save, in one transaction. Refuses an id or a
    /// label (compared case-insensitively) that is already taken.
    pub(crate) fn add_document(
        &mut self,
        id: &str,
        label: &str,
        created_at_ms: i64,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_some() {
            return Err(StoreError::DuplicateDocumentId { id: id.to_owned() });
        }
        refuse_taken_label(&tx, label, id).at(path)??;
        tx.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, generation)
             VALUES (?1, ?2, ?3, ?4, 0)",
            params![id, label, created_at_ms, snapshot],
        )
        .at(path)?;
        tx.commit().at(path)?;
        self.seen.get_mut().insert(
            id.to_owned(),
            Seen {
                generation: 0,
                through_seq: 0,
                own_seqs: Vec::new(),
            },
        );
        Ok(())
    }

    /// Adds the client's private document with its first full save and, for a profile that
    /// syncs, its sync state and first epoch key — all in one transaction. Refuses when the
    /// profile already has a private document, or the id or label is taken.
    pub(crate) fn add_private_document(
        &mut self,
        id: &str,
        label: &str,
        created_at_ms: i64,
        snapshot: &[u8],
        sync: Option<&SyncRecord>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT id FROM documents WHERE kind = 'private'",
                [],
                |row| row.get(0),
            )
            .optional()
            .at(path)?;
        if existing.is_some() {
            return Err(StoreError::PrivateDocumentExists);
        }
        if generation_of(&tx, id).at(path)?.is_some() {
            return Err(StoreError::DuplicateDocumentId { id: id.to_owned() });
        }
        refuse_taken_label(&tx, label, id).at(path)??;
        tx.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, generation, kind)
             VALUES (?1, ?2, ?3, ?4, 0, 'private')",
            params![id, label, created_at_ms, snapshot],
        )
        .at(path)?;
        if let Some(sync) = sync {
            insert_sync_record(&tx, id, sync).at(path)?;
        }
        tx.commit().at(path)?;
        self.seen.get_mut().insert(
            id.to_owned(),
            Seen {
                generation: 0,
                through_seq: 0,
                own_seqs: Vec::new(),
            },
        );
        Ok(())
    }

    /// The stored bytes of a document: its snapshot followed by every appended chunk in order,
    /// read in one transaction. Automerge's `load` accepts this concatenation.
    pub(crate) fn load_document(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let (mut bytes, generation): (Vec<u8>, i64) = tx
            .query_row(
                "SELECT snapshot, generation FROM documents WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id: id.to_owned() })?;
        let through_seq = append_chunks(&tx, id, 0, &[], &mut bytes).at(path)?;
        tx.commit().at(path)?;
        self.seen.borrow_mut().insert(
            id.to_owned(),
            Seen {
                generation,
                through_seq,
                own_seqs: Vec::new(),
            },
        );
        Ok(bytes)
    }

    /// What other processes stored of a document since this handle last read it: the chunks
    /// appended after what it has seen, leaving out the ones it appended itself, or the whole
    /// document (as [`Store::load_document`]) when another process compacted it meanwhile or
    /// this handle never loaded it. So a process holding a document open pays for what changed,
    /// not for the whole document, each time another one writes it.
    pub(crate) fn load_changes_since_seen(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let Some(seen) = self.seen.borrow().get(id).cloned() else {
            return self.load_document(id);
        };
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let generation = generation_of(&tx, id)
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id: id.to_owned() })?;
        if generation != seen.generation {
            drop(tx);
            return self.load_document(id);
        }
        let mut bytes = Vec::new();
        let through_seq =
            append_chunks(&tx, id, seen.through_seq, &seen.own_seqs, &mut bytes).at(path)?;
        tx.commit().at(path)?;
        if let Some(seen) = self.seen.borrow_mut().get_mut(id) {
            seen.through_seq = through_seq;
            // Covered by `through_seq` now, which compaction deletes through.
            seen.own_seqs.retain(|seq| *seq > through_seq);
        }
        Ok(bytes)
    }

    /// A document as stored, in parts: its snapshot and each appended chunk with its sequence
    /// number, in order, read in one transaction (for `crate::salvage`, when the whole does
    /// not load).
    pub(crate) fn document_parts(&self, id: &str) -> Result<StoredParts, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let snapshot: Vec<u8> = tx
            .query_row(
                "SELECT snapshot FROM documents WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id: id.to_owned() })?;
        let chunks = tx
            .prepare("SELECT seq, data FROM document_chunks WHERE document_id = ?1 ORDER BY seq")
            .at(path)?
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .at(path)?
            .collect::<rusqlite::Result<Vec<(i64, Vec<u8>)>>>()
            .at(path)?;
        tx.commit().at(path)?;
        Ok(StoredParts { snapshot, chunks })
    }

    /// Moves chunks `seqs` of document `id` out of the document into the set-aside table, with
    /// why, in one transaction. Returns how many were moved (another process may have set them
    /// aside or compacted them first).
    pub(crate) fn set_aside_chunks(
        &mut self,
        id: &str,
        seqs: &[i64],
        reason: &str,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let mut moved = 0;
        for seq in seqs {
            moved += tx
                .execute(
                    "INSERT OR IGNORE INTO set_aside_chunks
                         (document_id, seq, data, reason, set_aside_at_ms)
                     SELECT document_id, seq, data, ?3, ?4 FROM document_chunks
                      WHERE document_id = ?1 AND seq = ?2",
                    params![id, seq, reason, now_ms],
                )
                .at(path)?;
            tx.execute(
                "DELETE FROM document_chunks WHERE document_id = ?1 AND seq = ?2",
                params![id, seq],
            )
            .at(path)?;
        }
        tx.commit().at(path)?;
        Ok(moved)
    }

    /// How many chunks of changes were set aside from document `id` (see
    /// [`Store::set_aside_chunks`]).
    #[cfg(test)]
    pub(crate) fn set_aside_count(&self, id: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM set_aside_chunks WHERE document_id = ?1",
                [id],
                |row| row.get(0),
            )
            .at(&self.path)?;
        Ok(non_negative(count))
    }

    /// Appends one chunk of changes (an Automerge incremental save) to a document, committed in
    /// one transaction before returning. Empty `changes` is a no-op.
    pub(crate) fn append_changes(&mut self, id: &str, changes: &[u8]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        tx.execute(
            "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
            params![id, changes],
        )
        .at(path)?;
        let seq = tx.last_insert_rowid();
        tx.commit().at(path)?;
        if let Some(seen) = self.seen.get_mut().get_mut(id) {
            seen.own_seqs.push(seq);
        }
        Ok(())
    }

    /// Appends one chunk of changes to each of several documents in **one** transaction, so a
    /// command that changes two documents together (sharing a private entry moves it from one
    /// to the other) stores both changes or neither. Empty chunks are skipped.
    pub(crate) fn append_changes_together(
        &mut self,
        chunks: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        let chunks: Vec<_> = chunks.iter().filter(|(_, c)| !c.is_empty()).collect();
        if chunks.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let mut seqs = Vec::new();
        for (id, changes) in &chunks {
            if generation_of(&tx, id).at(path)?.is_none() {
                return Err(StoreError::UnknownDocument {
                    id: (*id).to_owned(),
                });
            }
            tx.execute(
                "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
                params![id, changes],
            )
            .at(path)?;
            seqs.push((*id, tx.last_insert_rowid()));
        }
        tx.commit().at(path)?;
        for (id, seq) in seqs {
            if let Some(seen) = self.seen.get_mut().get_mut(id) {
                seen.own_seqs.push(seq);
            }
        }
        Ok(())
    }

    /// Whether a document's appended chunks have grown enough to be worth compacting: more than
    /// [`COMPACT_AFTER_CHUNKS`] chunks, or more appended bytes than the snapshot holds (and at
    /// least [`COMPACT_MIN_BYTES`]).
    pub(crate) fn needs_compaction(&self, id: &str, level: Compaction) -> Result<bool, StoreError> {
        let (snapshot_len, chunks, chunk_bytes): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT length(d.snapshot),
                        (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id),
                        (SELECT coalesce(sum(length(c.data)), 0)
                           FROM document_chunks c WHERE c.document_id = d.id)
                   FROM documents d WHERE d.id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .at(&self.path)?
            .ok_or_else(|| StoreError::UnknownDocument { id: id.to_owned() })?;
        let factor = match level {
            Compaction::Due => 1,
            Compaction::Overdue => OVERDUE_FACTOR,
        };
        let chunk_bytes = non_negative(chunk_bytes);
        Ok(non_negative(chunks) > COMPACT_AFTER_CHUNKS * factor
            || chunk_bytes > non_negative(snapshot_len).max(COMPACT_MIN_BYTES) * factor)
    }

    /// Compacts a document with `save()` (see [`Store::compact`]) if it needs it at `level`;
    /// whether it did.
    pub(crate) fn compact_if(
        &mut self,
        id: &str,
        level: Compaction,
        save: impl FnOnce() -> Vec<u8>,
    ) -> Result<bool, StoreError> {
        if !self.needs_compaction(id, level)? {
            return Ok(false);
        }
        self.compact(id, &save())
    }

    /// Replaces a document's snapshot with `snapshot` (a full save of the document as last
    /// loaded through this handle, plus the changes appended through it since) and deletes the
    /// chunks that snapshot covers, in one transaction.
    ///
    /// Returns `false` and changes nothing if this handle has not loaded (or added) the document,
    /// or if another process compacted it since: the snapshot might then miss changes.
    /// Chunks appended by other processes since the load are kept. Either way no change is lost.
    pub(crate) fn compact(&mut self, id: &str, snapshot: &[u8]) -> Result<bool, StoreError> {
        let Some(seen) = self.seen.get_mut().get(id).cloned() else {
            return Ok(false);
        };
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let Some(generation) = generation_of(&tx, id).at(path)? else {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        };
        if generation != seen.generation {
            drop(tx);
            self.seen.get_mut().remove(id);
            return Ok(false);
        }
        tx.execute(
            "UPDATE documents SET snapshot = ?2, generation = generation + 1 WHERE id = ?1",
            params![id, snapshot],
        )
        .at(path)?;
        tx.execute(
            "DELETE FROM document_chunks WHERE document_id = ?1 AND seq <= ?2",
            params![id, seen.through_seq],
        )
        .at(path)?;
        {
            let mut delete = tx
                .prepare("DELETE FROM document_chunks WHERE document_id = ?1 AND seq = ?2")
                .at(path)?;
            for seq in &seen.own_seqs {
                delete.execute(params![id, seq]).at(path)?;
            }
        }
        tx.commit().at(path)?;
        self.seen.get_mut().insert(
            id.to_owned(),
            Seen {
                generation: generation + 1,
                through_seq: seen.through_seq,
                own_seqs: Vec::new(),
            },
        );
        self.reclaim_free_pages()?;
        Ok(true)
    }

    /// Gives free pages back to the file system once there are many of them and they are more
    /// than a quarter of the file. A compaction frees the old snapshot and every chunk it
    /// replaced (a year of homework merged in left a 5.8 MB file holding a 0.5 MB document), and
    /// SQLite keeps freed pages in the file for reuse. A file made before `auto_vacuum` was set
    /// is converted with one `VACUUM`. Another process holding the lock only postpones this to
    /// the next compaction: nothing depends on it.
    fn reclaim_free_pages(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        let pragma = |name: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .pragma_query_value(None, name, |row| row.get(0))
                .at(path)?)
        };
        let free = pragma("freelist_count")?;
        if free < RECLAIM_MIN_FREE_PAGES || free * 4 < pragma("page_count")? {
            return Ok(());
        }
        let result = if pragma("auto_vacuum")? == AUTO_VACUUM_INCREMENTAL {
            // Each step of the statement frees one page: it must run to its end.
            self.conn
                .prepare("PRAGMA incremental_vacuum")
                .and_then(|mut vacuum| {
                    let mut steps = vacuum.query([])?;
                    while steps.next()?.is_some() {}
                    Ok(())
                })
        } else {
            self.conn
                .pragma_update(None, "auto_vacuum", AUTO_VACUUM_INCREMENTAL)
                .and_then(|()| self.conn.execute_batch("VACUUM"))
        };
        match result {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if matches!(
                    err.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(())
            }
            other => Ok(other.at(path)?),
        }
    }

    /// The account this profile syncs with, if it syncs.
    pub(crate) fn account(&self) -> Result<Option<AccountRecord>, StoreError> {
        let path = &self.path;
        let row = self
            .conn
            .query_row(
                "SELECT relay_url, account_id, identity_keypair, device_keypair,
                        device_certificate, registration, invite, last_sync_ms, devices_listed_ms,
                        relay_ca_pem, therapist_commitment
                   FROM account WHERE id = 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<Vec<u8>>>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<Vec<u8>>>(6)?,
                        row.get::<_, Option<i64>>(7)?,
                        row.get::<_, Option<i64>>(8)?,
                        row.get::<_, Option<String>>(9)?,
                        row.get::<_, Option<Vec<u8>>>(10)?,
                    ))
                },
            )
            .optional()
            .at(path)?;
        let Some((
            relay_url,
            account_id,
            identity,
            device,
            certificate,
            reg,
            invite,
            last,
            listed,
            relay_ca_pem,
            commitment,
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |detail: &str| StoreError::Corrupt {
            path: path.clone(),
            detail: detail.to_owned(),
        };
        let account_id = match account_id {
            None => None,
            Some(bytes) => Some(
                <[u8; 16]>::try_from(bytes.as_slice())
                    .map_err(|_| corrupt("its account id has the wrong length"))?,
            ),
        };
        let registration = match (reg.as_str(), invite) {
            ("invite", Some(invite)) => Registration::Invite(invite),
            ("pairing", _) => Registration::Pairing,
            ("done", _) => Registration::Done,
            _ => return Err(corrupt("its registration record is inconsistent")),
        };
        let therapist_commitment = match commitment {
            None => None,
            Some(bytes) => Some(
                <[u8; 16]>::try_from(bytes.as_slice())
                    .map_err(|_| corrupt("its therapist commitment has the wrong length"))?,
            ),
        };
        Ok(Some(AccountRecord {
            relay_url,
            relay_ca_pem,
            therapist_commitment,
            account_id,
            identity_keypair: identity,
            device_keypair: device,
            device_certificate: certificate,
            registration,
            last_sync_ms: last,
            devices_listed_ms: listed,
        }))
    }

    /// Records that the relay registered this device (and forgets the invite), and the
    /// account id when the relay said it.
    pub(crate) fn set_registered(
        &mut self,
        account_id: Option<[u8; 16]>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute(
            "UPDATE account SET account_id = coalesce(?1, account_id), registration = 'done',
                                invite = NULL
              WHERE id = 1",
            params![account_id.map(|id| id.to_vec())],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Records when a sync last completed.
    pub(crate) fn set_last_sync(&mut self, at_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "UPDATE account SET last_sync_ms = ?1 WHERE id = 1",
                params![at_ms],
            )
            .at(path)?;
        Ok(())
    }

    /// The sync state and keys of every document that syncs.
    pub(crate) fn sync_documents(&self) -> Result<Vec<SyncRecord>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let mut records = {
            let mut stmt = tx
                .prepare(
                    "SELECT s.document_id, s.epoch, s.on_relay, s.state
                       FROM sync_documents s JOIN documents d ON d.id = s.document_id
                      WHERE NOT EXISTS (SELECT 1 FROM relay_deletions r
                                         WHERE r.document_id = s.document_id)
                      ORDER BY d.created_at_ms, d.label, d.id",
                )
                .at(path)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(SyncRecord {
                        document_id: row.get(0)?,
                        epoch: row.get(1)?,
                        on_relay: row.get(2)?,
                        state: row.get(3)?,
                        keys: Vec::new(),
                    })
                })
                .at(path)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?
        };
        {
            let mut stmt = tx
                .prepare("SELECT epoch, key FROM epoch_keys WHERE document_id = ?1 ORDER BY epoch")
                .at(path)?;
            for record in &mut records {
                let rows = stmt
                    .query_map([&record.document_id], |row| {
                        Ok((row.get::<_, u32>(0)?, row.get::<_, Vec<u8>>(1)?))
                    })
                    .at(path)?;
                for row in rows {
                    let (epoch, key) = row.at(path)?;
                    let key =
                        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| StoreError::Corrupt {
                            path: path.clone(),
                            detail: "an epoch key has the wrong length".to_owned(),
                        })?;
                    record.keys.push((epoch, key));
                }
            }
        }
        tx.commit().at(path)?;
        Ok(records)
    }

    /// Records that the relay holds the document's log.
    pub(crate) fn mark_on_relay(&mut self, id: &str) -> Result<(), StoreError> {
        let path = &self.path;
        let changed = self
            .conn
            .execute(
                "UPDATE sync_documents SET on_relay = 1 WHERE document_id = ?1",
                [id],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        Ok(())
    }

    /// Where a document's stored content stands: it changes whenever anything is stored for the
    /// document (a chunk appended, a compaction), and only then.
    pub(crate) fn stored_version(&self, id: &str) -> Result<StoredVersion, StoreError> {
        stored_version_of(&self.conn, id)
            .at(&self.path)?
            .ok_or_else(|| StoreError::UnknownDocument { id: id.to_owned() })
    }

    /// Whether crisis resources were found in a document as it is stored now (recorded by
    /// [`Store::found_crisis_resources`], with nothing stored for it since).
    pub(crate) fn crisis_resources_found(&self, id: &str) -> Result<bool, StoreError> {
        let version = self.stored_version(id)?;
        let found: Option<StoredVersion> = self
            .conn
            .prepare_cached(
                "SELECT generation, last_chunk FROM crisis_resources_found WHERE document_id = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([id], StoredVersion::from_row).optional())
            .at(&self.path)?;
        Ok(found == Some(version))
    }

    /// Records that the document, as stored now, holds crisis resources.
    pub(crate) fn found_crisis_resources(&mut self, id: &str) -> Result<(), StoreError> {
        let version = self.stored_version(id)?;
        self.conn
            .execute(
                "INSERT INTO crisis_resources_found (document_id, generation, last_chunk)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id) DO UPDATE
                    SET generation = excluded.generation, last_chunk = excluded.last_chunk",
                params![id, version.generation, version.last_chunk],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// A synced document's heads as stored, if they are known without loading it: recorded by
    /// [`Store::persist_sync`] when that handle held exactly what was stored, with nothing
    /// stored or compacted since (the document's generation and last chunk are unchanged).
    pub(crate) fn known_heads(&self, id: &str) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
        let version = self.stored_version(id)?;
        let heads: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT heads FROM sync_documents
                  WHERE document_id = ?1 AND heads_generation = ?2 AND heads_last_chunk = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![id, version.generation, version.last_chunk], |row| {
                    row.get(0)
                })
                .optional()
            })
            .at(&self.path)?
            .flatten();
        Ok(heads.map(|bytes| split_heads(&bytes)))
    }

    /// Writes what one sync step produced for a document — its new changes, the engine's state
    /// and newly seen change authors — in **one** transaction, so that after a crash at any
    /// point either all of it is stored or none of it is: the state never claims changes the
    /// document does not hold, and no received change is lost while its bundle counts as read.
    /// With [`SyncWrite::heads`], the document's known heads are recorded too (see
    /// [`Store::known_heads`]).
    pub(crate) fn persist_sync(
        &mut self,
        id: &str,
        write: &SyncWrite<'_>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        let mut seq = None;
        if !write.changes.is_empty() {
            tx.execute(
                "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
                params![id, write.changes],
            )
            .at(path)?;
            seq = Some(tx.last_insert_rowid());
        }
        let updated = tx
            .execute(
                "UPDATE sync_documents SET state = ?2 WHERE document_id = ?1",
                params![id, write.state],
            )
            .at(path)?;
        if updated == 0 {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        for (actor, device) in write.authors {
            tx.execute(
                "INSERT OR IGNORE INTO change_authors (actor_id, device_id) VALUES (?1, ?2)",
                params![actor, device],
            )
            .at(path)?;
        }
        if let (Some(seq), Some(seen)) = (seq, self.seen.get_mut().get_mut(id)) {
            seen.own_seqs.push(seq);
        }
        if let Some(heads) = write.heads {
            let held = self.seen.get_mut().get(id);
            record_known_heads(&tx, id, held, heads).at(path)?;
        }
        tx.commit().at(path)?;
        Ok(())
    }

    /// Keeps epoch keys of a document and, if `current` is given, makes that epoch the one new
    /// bundles are sealed under — in one transaction. A key already held is kept as it is.
    pub(crate) fn add_epoch_keys(
        &mut self,
        id: &str,
        keys: &[(u32, [u8; 32])],
        current: Option<u32>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for (epoch, key) in keys {
            tx.execute(
                "INSERT OR IGNORE INTO epoch_keys (document_id, epoch, key) VALUES (?1, ?2, ?3)",
                params![id, epoch, key.as_slice()],
            )
            .at(path)?;
        }
        if let Some(epoch) = current {
            let updated = tx
                .execute(
                    "UPDATE sync_documents SET epoch = ?2 WHERE document_id = ?1 AND epoch < ?2",
                    params![id, epoch],
                )
                .at(path)?;
            let held: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM epoch_keys WHERE document_id = ?1 AND epoch = ?2)",
                    params![id, epoch],
                    |row| row.get(0),
                )
                .at(path)?;
            if updated > 0 && !held {
                return Err(StoreError::Corrupt {
                    path: path.clone(),
                    detail: format!("epoch {epoch} was made current without its key"),
                });
            }
        }
        Ok(tx.commit().at(path)?)
    }

    /// Forgets a device of the account (removed): its bundles are no longer accepted and no
    /// key is wrapped for it again.
    pub(crate) fn forget_device(&mut self, device_id: &str) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "DELETE FROM devices WHERE device_id = ?1 AND this_device = 0",
                [device_id],
            )
            .at(path)?;
        Ok(())
    }

    /// Stops syncing a document (its owner removed this account, or this account ended the
    /// sharing: `ended_by_us`): its sync state goes, the homework stays readable on this device,
    /// and when it ended is kept (the first time counts).
    pub(crate) fn stop_syncing(
        &mut self,
        id: &str,
        at_ms: i64,
        ended_by_us: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute("DELETE FROM sync_documents WHERE document_id = ?1", [id])
            .at(path)?;
        tx.execute(
            "INSERT OR IGNORE INTO sharing_ended (document_id, at_ms, by_us) VALUES (?1, ?2, ?3)",
            params![id, at_ms, ended_by_us],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Records that sharing a document this device still syncs ended (the owner removed the
    /// other members); the first time counts.
    pub(crate) fn note_sharing_ended(
        &mut self,
        id: &str,
        at_ms: i64,
        ended_by_us: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO sharing_ended (document_id, at_ms, by_us) VALUES (?1, ?2, ?3)",
                params![id, at_ms, ended_by_us],
            )
            .at(path)?;
        Ok(())
    }

    /// Documents whose sharing ended on this device: id → (when, in Unix milliseconds; whether
    /// this account ended it).
    pub(crate) fn sharing_ended(&self) -> Result<HashMap<String, (i64, bool)>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT document_id, at_ms, by_us FROM sharing_ended")
            .at(path)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }

    /// Records that documents are no longer on the relay, so they never sync again; the
    /// homework stays. A document already recorded keeps its first record.
    pub(crate) fn mark_deleted_from_relay(
        &mut self,
        ids: &[&str],
        at_ms: i64,
        by_this_device: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for id in ids {
            tx.execute(
                "INSERT OR IGNORE INTO relay_deletions (document_id, deleted_at_ms, by_this_device)
                 VALUES (?1, ?2, ?3)",
                params![id, at_ms, by_this_device],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// The documents that are no longer on the relay, oldest deletion first.
    pub(crate) fn relay_deletions(&self) -> Result<Vec<RelayDeletion>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.document_id, d.label, d.kind, r.deleted_at_ms, r.by_this_device
                   FROM relay_deletions r JOIN documents d ON d.id = r.document_id
                  ORDER BY r.deleted_at_ms, d.created_at_ms, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(RelayDeletion {
                    document_id: row.get(0)?,
                    label: row.get(1)?,
                    kind: DocumentKind::parse(&row.get::<_, String>(2)?)?,
                    deleted_at_ms: row.get(3)?,
                    by_this_device: row.get(4)?,
                })
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Forgets the therapist commitment once the homework is shared with that therapist.
    pub(crate) fn clear_therapist_commitment(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "UPDATE account SET therapist_commitment = NULL WHERE id = 1",
                [],
            )
            .at(path)?;
        Ok(())
    }

    /// The latest membership list accepted for a document (its `SignedMembership` bytes).
    pub(crate) fn membership(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = &self.path;
        Ok(self
            .conn
            .query_row(
                "SELECT list FROM memberships WHERE document_id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .at(path)?)
    }

    /// Keeps a membership list the caller has verified (signature, owner, serial growing).
    pub(crate) fn save_membership(
        &mut self,
        id: &str,
        serial: u64,
        list: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let serial = i64::try_from(serial).map_err(|_| StoreError::Corrupt {
            path: path.clone(),
            detail: "a membership serial is out of range".to_owned(),
        })?;
        self.conn
            .execute(
                "INSERT INTO memberships (document_id, serial, list) VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id) DO UPDATE SET serial = excluded.serial, list = excluded.list",
                params![id, serial, list],
            )
            .at(path)?;
        Ok(())
    }

    /// Other people's devices (certificates as the relay gave them; check them against a
    /// document's membership before trusting them).
    pub(crate) fn peer_devices(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT certificate FROM peer_devices ORDER BY device_id")
            .at(path)?;
        let rows = stmt.query_map([], |row| row.get(0)).at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Replaces what is known of another account's devices with `certificates` (device id,
    /// certificate bytes), in one transaction.
    pub(crate) fn record_peer_devices(
        &mut self,
        account: [u8; 16],
        certificates: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute(
            "DELETE FROM peer_devices WHERE account_id = ?1",
            [account.as_slice()],
        )
        .at(path)?;
        for (device, certificate) in certificates {
            tx.execute(
                "INSERT OR REPLACE INTO peer_devices (device_id, account_id, certificate)
                 VALUES (?1, ?2, ?3)",
                params![device, account.as_slice(), certificate],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// The devices this device has wrapped `epoch`'s key of a document for.
    pub(crate) fn wrapped_for(&self, id: &str, epoch: u32) -> Result<HashSet<String>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT device_id FROM wrapped_keys WHERE document_id = ?1 AND epoch = ?2")
            .at(path)?;
        let rows = stmt
            .query_map(params![id, epoch], |row| row.get(0))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashSet<_>>>().at(path)?)
    }

    /// Records that the relay stored `epoch`'s key of a document wrapped for `devices`.
    pub(crate) fn record_wrapped(
        &mut self,
        id: &str,
        epoch: u32,
        devices: &[String],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for device in devices {
            tx.execute(
                "INSERT OR IGNORE INTO wrapped_keys (document_id, epoch, device_id) VALUES (?1, ?2, ?3)",
                params![id, epoch, device],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// Adds a document shared with this profile by its owner: an empty document that fills on
    /// the next sync, its sync state (on the relay already) with the epoch keys this device
    /// unwrapped, and the verified membership list — in one transaction.
    pub(crate) fn add_received_document(
        &mut self,
        doc: &NewDocument,
        serial: u64,
        membership: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let serial = i64::try_from(serial).map_err(|_| StoreError::Corrupt {
            path: path.clone(),
            detail: "a membership serial is out of range".to_owned(),
        })?;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, &doc.id).at(path)?.is_some() {
            return Err(StoreError::DuplicateDocumentId { id: doc.id.clone() });
        }
        tx.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, generation, kind)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            params![
                doc.id,
                doc.label,
                doc.created_at_ms,
                doc.snapshot,
                doc.kind.as_str()
            ],
        )
        .at(path)?;
        insert_sync_record(&tx, &doc.id, &doc.sync).at(path)?;
        tx.execute(
            "INSERT INTO memberships (document_id, serial, list) VALUES (?1, ?2, ?3)",
            params![doc.id, serial, membership],
        )
        .at(path)?;
        tx.commit().at(path)?;
        self.seen.get_mut().insert(
            doc.id.clone(),
            Seen {
                generation: 0,
                through_seq: 0,
                own_seqs: Vec::new(),
            },
        );
        Ok(())
    }

    /// Every device of the account this device knows, this one first.
    pub(crate) fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT device_id, certificate, this_device, name, registered_at_ms, listed
                   FROM devices
                  ORDER BY this_device DESC, coalesce(registered_at_ms, 0), device_id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(DeviceRecord {
                    device_id: row.get(0)?,
                    certificate: row.get(1)?,
                    this_device: row.get(2)?,
                    name: row.get(3)?,
                    registered_at_ms: row.get(4)?,
                    listed: row.get(5)?,
                })
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Records the relay's list of the account's devices (each already verified against the
    /// account's identity by the caller), in one transaction: listed devices are added or
    /// updated, the others are kept but marked as not listed.
    pub(crate) fn record_listed_devices(
        &mut self,
        listed: &[DeviceRecord],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute("UPDATE devices SET listed = 0", []).at(path)?;
        for device in listed {
            upsert_device(&tx, device).at(path)?;
        }
        tx.execute(
            "UPDATE account SET devices_listed_ms = ?1 WHERE id = 1",
            params![at_ms],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Which device's bundles first carried each Automerge actor's changes.
    pub(crate) fn change_authors(&self) -> Result<HashMap<Vec<u8>, String>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT actor_id, device_id FROM change_authors")
            .at(path)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }

    /// SQLite's `PRAGMA data_version`: changes when another connection (another `between`
    /// command) commits to the store, and not for this connection's own commits.
    pub(crate) fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .at(&self.path)?)
    }

    /// When the therapist last looked at each document in detail: document id → (Unix
    /// milliseconds, their calendar day then as `YYYY-MM-DD`).
    pub(crate) fn looked_at(&self) -> Result<HashMap<String, (i64, String)>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT document_id, at_ms, day FROM looked_at")
            .at(path)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }

    /// The records of document `id` the therapist was shown one by one: record id → when
    /// (Unix milliseconds), the latest showing.
    pub(crate) fn seen_records(&self, id: &str) -> Result<HashMap<String, i64>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT record_id, seen_at_ms FROM seen_records WHERE document_id = ?1")
            .at(path)?;
        let rows = stmt
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }

    /// Records that the therapist was shown `records` of document `id` at `at_ms`, in one
    /// transaction; a later showing replaces an earlier one, never the other way round.
    pub(crate) fn record_seen(
        &mut self,
        id: &str,
        records: &[String],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        for record in records {
            tx.execute(
                "INSERT INTO seen_records (document_id, record_id, seen_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id, record_id) DO UPDATE SET seen_at_ms = excluded.seen_at_ms
                 WHERE excluded.seen_at_ms > seen_at_ms",
                params![id, record, at_ms],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// Records that the therapist looked at a document at `at_ms` (their calendar day `day`),
    /// replacing the previous time: the latest look counts, even from a clock set back. Looking
    /// again at the same moment writes nothing, so a view repeated with a pinned clock
    /// (`BETWEEN_NOW`) leaves the file as it was.
    pub(crate) fn record_looked_at(
        &mut self,
        id: &str,
        at_ms: i64,
        day: &str,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        tx.execute(
            "INSERT INTO looked_at (document_id, at_ms, day) VALUES (?1, ?2, ?3)
             ON CONFLICT (document_id) DO UPDATE SET at_ms = excluded.at_ms, day = excluded.day
             WHERE at_ms <> excluded.at_ms OR day <> excluded.day",
            params![id, at_ms, day],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Renames a document, in one transaction. Refuses a label another document already has
    /// (compared case-insensitively).
    pub(crate) fn rename_document(&mut self, id: &str, label: &str) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id: id.to_owned() });
        }
        refuse_taken_label(&tx, label, id).at(path)??;
        tx.execute(
            "UPDATE documents SET label = ?2 WHERE id = ?1",
            params![id, label],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }
}

/// Inserts a new synced profile's account, documents, sync state, keys and devices inside
/// the caller's transaction. The outer result is the database's, the inner one a refusal.
fn insert_synced(
    tx: &Transaction<'_>,
    synced: &NewSyncedProfile,
) -> rusqlite::Result<Result<(), StoreError>> {
    let account = &synced.account;
    let (registration, invite) = registration_columns(&account.registration);
    tx.execute(
        "INSERT INTO account (id, relay_url, account_id, identity_keypair, device_keypair,
                              device_certificate, registration, invite, last_sync_ms,
                              devices_listed_ms, relay_ca_pem, therapist_commitment)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            account.relay_url,
            account.account_id.map(|id| id.to_vec()),
            account.identity_keypair,
            account.device_keypair,
            account.device_certificate,
            registration,
            invite,
            account.last_sync_ms,
            account.devices_listed_ms,
            account.relay_ca_pem,
            account.therapist_commitment.map(|c| c.to_vec()),
        ],
    )?;
    for doc in &synced.documents {
        if let Err(refused) = refuse_taken_label(tx, &doc.label, &doc.id)? {
            return Ok(Err(refused));
        }
        tx.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot, generation, kind)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            params![
                doc.id,
                doc.label,
                doc.created_at_ms,
                doc.snapshot,
                doc.kind.as_str()
            ],
        )?;
        insert_sync_record(tx, &doc.id, &doc.sync)?;
    }
    for device in &synced.devices {
        upsert_device(tx, device)?;
    }
    Ok(Ok(()))
}

/// Inserts a document's sync state and epoch keys inside the caller's transaction.
fn insert_sync_record(tx: &Transaction<'_>, id: &str, sync: &SyncRecord) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO sync_documents (document_id, epoch, on_relay, state)
         VALUES (?1, ?2, ?3, ?4)",
        params![id, sync.epoch, sync.on_relay, sync.state],
    )?;
    for (epoch, key) in &sync.keys {
        tx.execute(
            "INSERT INTO epoch_keys (document_id, epoch, key) VALUES (?1, ?2, ?3)",
            params![id, epoch, key.as_slice()],
        )?;
    }
    Ok(())
}

/// The `registration` and `invite` columns of a [`Registration`].
fn registration_columns(registration: &Registration) -> (&'static str, Option<&[u8]>) {
    match registration {
        Registration::Invite(invite) => ("invite", Some(invite.as_slice())),
        Registration::Pairing => ("pairing", None),
        Registration::Done => ("done", None),
    }
}

/// Inserts a device or updates what is known about it (a name is never forgotten).
fn upsert_device(tx: &Transaction<'_>, device: &DeviceRecord) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO devices (device_id, certificate, this_device, name, registered_at_ms, listed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id) DO UPDATE SET
             certificate = excluded.certificate,
             this_device = max(this_device, excluded.this_device),
             name = coalesce(excluded.name, name),
             registered_at_ms = coalesce(excluded.registered_at_ms, registered_at_ms),
             listed = excluded.listed",
        params![
            device.device_id,
            device.certificate,
            device.this_device,
            device.name,
            device.registered_at_ms,
            device.listed
        ],
    )
}

/// Starts a write transaction (`BEGIN IMMEDIATE`, so it waits for other writers up to the busy
/// timeout instead of failing part-way).
fn begin_write<'c>(conn: &'c mut Connection, path: &Path) -> Result<Transaction<'c>, StoreError> {
    Ok(conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .at(path)?)
}

/// Refuses `label` when a document other than `id` already has it (compared
/// case-insensitively). The outer result is the database's, the inner one the refusal.
fn refuse_taken_label(
    tx: &rusqlite::Transaction<'_>,
    label: &str,
    id: &str,
) -> rusqlite::Result<Result<(), StoreError>> {
    let taken: Option<String> = tx
        .query_row(
            "SELECT id FROM documents WHERE label = ?1 AND id <> ?2",
            [label, id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match taken {
        Some(_) => Err(StoreError::DuplicateLabel {
            label: label.to_owned(),
        }),
        None => Ok(()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use between_sqlite_file::testing::{
        cut_in_half, file_names, noise, set_user_version, write_foreign_database,
    };
    use between_sqlite_file::user_version;
    use tempfile::TempDir;

    fn sample_profile() -> ProfileRecord {
        ProfileRecord {
            role: "client".to_owned(),
            display_name: "Sam".to_owned(),
            actor_id: (1..=16).collect(),
            created_at_ms: 1_700_000_000_000,
        }
    }

    fn fresh() -> (TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let store = Store::create(&path, &sample_profile()).unwrap();
        (dir, path, store)
    }

    #[test]
    fn create_then_open_round_trip() {
        let (dir, path, store) = fresh();
        assert_eq!(store.profile().unwrap(), sample_profile());
        assert_eq!(store.path(), path);
        assert!(store.documents().unwrap().is_empty());
        drop(store);

        // No staging file is left behind.
        let names = file_names(dir.path());
        assert!(
            names.iter().all(|name| !name.contains("creating")),
            "{names:?}"
        );

        let store = Store::open(&path).unwrap();
        assert_eq!(store.profile().unwrap(), sample_profile());
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = store
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        let app: i32 = store
            .conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .unwrap();
        assert_eq!(app, APPLICATION_ID);
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        std::fs::write(&path, b"precious").unwrap();
        let err = Store::create(&path, &sample_profile()).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        assert!(err.to_string().contains("a profile already exists at"));
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");

        let (_dir, path, store) = fresh();
        drop(store);
        let before = std::fs::read(&path).unwrap();
        let err = Store::create(&path, &sample_profile()).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn open_refuses_a_missing_file_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("between init"), "{message}");
        assert!(!path.exists());
    }

    #[test]
    fn random_bytes_are_reported_as_damage_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let bytes = noise(16 * 1024, 0x9E37_79B9_7F4A_7C15);
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("is damaged"), "{message}");
        assert!(message.contains("left untouched"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn empty_and_tiny_files_are_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        std::fs::write(&path, b"").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"");

        std::fs::write(&path, b"SQLite format 3\0").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"SQLite format 3\0");
    }

    #[test]
    fn a_folder_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        for application_id in [0_i32, 0x1234_5678] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.sqlite3");
            write_foreign_database(&path, application_id);
            let before = std::fs::read(&path).unwrap();
            let err = Store::open(&path).unwrap_err();
            assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
            assert!(err.to_string().contains("not a Between store"), "{err}");
            assert_eq!(std::fs::read(&path).unwrap(), before);
        }
    }

    #[test]
    fn a_newer_store_asks_for_an_upgrade_and_is_left_untouched() {
        let (_dir, path, store) = fresh();
        drop(store);
        set_user_version(&path, SCHEMA_VERSION + 1);
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade Between"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_truncated_store_is_an_error_and_left_untouched() {
        let (dir, path, mut store) = fresh();
        store
            .add_document("doc-1", "Sam", 1, &noise(40 * 1024, 7))
            .unwrap();
        store.append_changes("doc-1", &noise(9000, 8)).unwrap();
        drop(store);

        let copy = dir.path().join("copy.sqlite3");
        std::fs::copy(&path, &copy).unwrap();
        cut_in_half(&copy);
        let before = std::fs::read(&copy).unwrap();
        let err = Store::open(&copy).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&copy).unwrap(), before);

        // The original is still fine.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.documents().unwrap().len(), 1);
    }

    #[test]
    fn appended_chunks_load_in_order_after_the_snapshot() {
        let (_dir, path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        store.append_changes("doc-1", b"one").unwrap();
        store.append_changes("doc-1", b"").unwrap();
        store.append_changes("doc-1", b"two").unwrap();
        store.append_changes("doc-1", b"three").unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPonetwothree");
        drop(store);

        let store = Store::open(&path).unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPonetwothree");
        let docs = store.documents().unwrap();
        assert_eq!(
            docs,
            vec![DocumentRecord {
                id: "doc-1".to_owned(),
                kind: DocumentKind::Shared,
                label: "Sam".to_owned(),
                created_at_ms: 5,
                chunks: 3,
                bytes: 15,
            }]
        );
    }

    #[test]
    fn unknown_documents_are_reported() {
        let (_dir, _path, mut store) = fresh();
        for err in [
            store.load_document("nope").unwrap_err(),
            store.append_changes("nope", b"x").unwrap_err(),
            store.needs_compaction("nope", Compaction::Due).unwrap_err(),
            store.rename_document("nope", "New").unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::UnknownDocument { .. }), "{err}");
        }
    }

    #[test]
    fn compact_replaces_snapshot_and_chunks() {
        let (_dir, path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        store.append_changes("doc-1", b"one").unwrap();
        store.append_changes("doc-1", b"two").unwrap();
        assert!(store.compact("doc-1", b"FULL").unwrap());
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL");
        store.append_changes("doc-1", b"three").unwrap();
        assert!(store.compact("doc-1", b"FULL2").unwrap());
        drop(store);

        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL2");
        let doc = &store.documents().unwrap()[0];
        assert_eq!((doc.chunks, doc.bytes), (0, 5));
        store.append_changes("doc-1", b"four").unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL2four");
    }

    fn pages(path: &Path) -> (i64, i64, i64) {
        let conn = Connection::open(path).unwrap();
        let value = |name: &str| -> i64 {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        (
            value("page_count"),
            value("freelist_count"),
            value("auto_vacuum"),
        )
    }

    /// Appends 2 MB of chunks to `doc-1` and compacts them into a small snapshot.
    fn compact_two_megabytes(store: &mut Store) {
        let chunk = vec![7_u8; 64 * 1024];
        for _ in 0..32 {
            store.append_changes("doc-1", &chunk).unwrap();
        }
        assert_eq!(
            store.load_document("doc-1").unwrap().len(),
            4 + 32 * chunk.len()
        );
        assert!(store.compact("doc-1", b"FULL").unwrap());
    }

    #[test]
    fn compaction_gives_freed_pages_back_to_the_file_system() {
        let (_dir, path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        assert_eq!(pages(&path).2, AUTO_VACUUM_INCREMENTAL);
        let before = pages(&path).0;
        compact_two_megabytes(&mut store);
        let (after, free, _) = pages(&path);
        assert_eq!(free, 0);
        assert!(after <= before + 4, "{before} pages before, {after} after");
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL");

        // A few freed pages stay in the file for the next writes.
        store.append_changes("doc-1", &[1; 50_000]).unwrap();
        store.load_document("doc-1").unwrap();
        assert!(store.compact("doc-1", b"FULL2").unwrap());
        assert!(pages(&path).1 > 0);
    }

    #[test]
    fn a_store_made_without_auto_vacuum_is_converted_when_it_has_much_to_give_back() {
        let (_dir, path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        drop(store);
        // As every store made before auto_vacuum was set.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "auto_vacuum", 0).unwrap();
        conn.execute_batch("VACUUM").unwrap();
        drop(conn);
        assert_eq!(pages(&path).2, 0);

        let mut store = Store::open(&path).unwrap();
        let before = pages(&path).0;
        compact_two_megabytes(&mut store);
        let (after, free, mode) = pages(&path);
        assert_eq!((free, mode), (0, AUTO_VACUUM_INCREMENTAL));
        assert!(after <= before + 4, "{before} pages before, {after} after");
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL");
        assert_eq!(store.profile().unwrap().display_name, "Sam");
    }

    #[test]
    fn compaction_keeps_chunks_it_did_not_see() {
        let (_dir, path, mut mine) = fresh();
        mine.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        mine.append_changes("doc-1", b"a").unwrap();
        let mut theirs = Store::open(&path).unwrap();

        assert_eq!(mine.load_document("doc-1").unwrap(), b"SNAPa");
        theirs.append_changes("doc-1", b"B").unwrap(); // e.g. `between sync --watch`
        mine.append_changes("doc-1", b"c").unwrap();
        // `mine` holds SNAP + a + c in memory, not B.
        assert!(mine.compact("doc-1", b"FULL").unwrap());
        assert_eq!(theirs.load_document("doc-1").unwrap(), b"FULLB");

        // A handle that never loaded the document does not compact it.
        let mut other = Store::open(&path).unwrap();
        assert!(!other.compact("doc-1", b"X").unwrap());

        // After someone else compacted, a stale handle does not overwrite their snapshot.
        assert!(theirs.compact("doc-1", b"FULL+B").unwrap());
        mine.append_changes("doc-1", b"d").unwrap();
        assert!(!mine.compact("doc-1", b"stale").unwrap());
        assert_eq!(mine.load_document("doc-1").unwrap(), b"FULL+Bd");
    }

    #[test]
    fn a_handle_reads_only_what_others_stored_since_and_still_compacts_safely() {
        let (_dir, path, mut mine) = fresh();
        mine.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        let mut theirs = Store::open(&path).unwrap();
        assert_eq!(mine.load_document("doc-1").unwrap(), b"SNAP");
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"");

        theirs.append_changes("doc-1", b"B").unwrap();
        mine.append_changes("doc-1", b"c").unwrap();
        theirs.append_changes("doc-1", b"D").unwrap();
        // Only the other process's chunks, in order; this handle's own is already in memory.
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"BD");
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"");
        theirs.append_changes("doc-1", b"E").unwrap();
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"E");

        // Having seen B, c, D and E, compacting keeps what came after: F.
        theirs.append_changes("doc-1", b"F").unwrap();
        assert!(mine.compact("doc-1", b"SNAP+BcDE").unwrap());
        assert_eq!(theirs.load_document("doc-1").unwrap(), b"SNAP+BcDEF");

        // Another process compacted: the whole document, then increments again.
        assert!(theirs.compact("doc-1", b"ALL").unwrap());
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"ALL");
        theirs.append_changes("doc-1", b"G").unwrap();
        assert_eq!(mine.load_changes_since_seen("doc-1").unwrap(), b"G");

        // A handle that never loaded it reads it whole.
        let other = Store::open(&path).unwrap();
        assert_eq!(other.load_changes_since_seen("doc-1").unwrap(), b"ALLG");
    }

    #[test]
    fn needs_compaction_thresholds() {
        let (_dir, _path, mut store) = fresh();
        let snapshot = vec![0_u8; 10_000];
        store.add_document("doc-1", "Sam", 5, &snapshot).unwrap();
        assert!(!store.needs_compaction("doc-1", Compaction::Due).unwrap());
        for _ in 0..COMPACT_AFTER_CHUNKS {
            store.append_changes("doc-1", b"x").unwrap();
        }
        assert!(!store.needs_compaction("doc-1", Compaction::Due).unwrap());
        store.append_changes("doc-1", b"x").unwrap();
        assert!(store.needs_compaction("doc-1", Compaction::Due).unwrap());

        store.add_document("doc-2", "Alex", 6, &snapshot).unwrap();
        store.append_changes("doc-2", &vec![1_u8; 9_000]).unwrap();
        assert!(!store.needs_compaction("doc-2", Compaction::Due).unwrap());
        store.append_changes("doc-2", &vec![1_u8; 1_001]).unwrap();
        assert!(store.needs_compaction("doc-2", Compaction::Due).unwrap());

        // A tiny snapshot is not rewritten for every small edit.
        store.add_document("doc-3", "Kim", 7, b"tiny").unwrap();
        store.append_changes("doc-3", &[2_u8; 100]).unwrap();
        assert!(!store.needs_compaction("doc-3", Compaction::Due).unwrap());
        store.append_changes("doc-3", &[2_u8; 4_000]).unwrap();
        assert!(store.needs_compaction("doc-3", Compaction::Due).unwrap());

        // Put off while changes stream in, it becomes overdue at sixteen times as much.
        for _ in 0..COMPACT_AFTER_CHUNKS * (OVERDUE_FACTOR - 1) - 1 {
            store.append_changes("doc-1", b"x").unwrap();
        }
        assert!(!store
            .needs_compaction("doc-1", Compaction::Overdue)
            .unwrap());
        store.append_changes("doc-1", b"x").unwrap();
        assert!(store
            .needs_compaction("doc-1", Compaction::Overdue)
            .unwrap());
        store.load_document("doc-1").unwrap();
        assert!(store
            .compact_if("doc-1", Compaction::Overdue, || b"FULL".to_vec())
            .unwrap());
        assert!(!store
            .compact_if("doc-1", Compaction::Due, || unreachable!())
            .unwrap());
    }

    #[test]
    fn duplicate_ids_and_labels_are_refused() {
        let (_dir, _path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        let err = store.add_document("doc-1", "Other", 6, b"X").unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateDocumentId { .. }),
            "{err}"
        );
        let err = store.add_document("doc-2", "sam", 6, b"X").unwrap_err();
        assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
        assert!(err.to_string().contains("choose another name"), "{err}");
        assert_eq!(store.documents().unwrap().len(), 1);
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAP");

        store.add_document("doc-2", "Alex", 6, b"X").unwrap();
        let err = store.rename_document("doc-2", "SAM").unwrap_err();
        assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
        store.rename_document("doc-2", "Alex B.").unwrap();
        store.rename_document("doc-1", "sam").unwrap(); // changing only the case is fine
        let labels: Vec<_> = store
            .documents()
            .unwrap()
            .into_iter()
            .map(|doc| doc.label)
            .collect();
        assert_eq!(labels, ["sam", "Alex B."]);
    }

    #[test]
    fn a_store_without_schema_version_is_damage() {
        let (_dir, path, store) = fresh();
        drop(store);
        set_user_version(&path, 0);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    fn synced_profile() -> NewSyncedProfile {
        NewSyncedProfile {
            account: AccountRecord {
                relay_ca_pem: None,
                therapist_commitment: None,
                relay_url: "ws://127.0.0.1:9".to_owned(),
                account_id: None,
                identity_keypair: vec![1; 33],
                device_keypair: vec![2; 65],
                device_certificate: vec![3; 170],
                registration: Registration::Invite(vec![4; 32]),
                last_sync_ms: None,
                devices_listed_ms: None,
            },
            documents: vec![NewDocument {
                id: "doc-1".to_owned(),
                label: "Sam".to_owned(),
                created_at_ms: 5,
                snapshot: b"SNAP".to_vec(),
                kind: DocumentKind::Shared,
                sync: SyncRecord {
                    document_id: "doc-1".to_owned(),
                    epoch: 1,
                    on_relay: false,
                    state: "{}".to_owned(),
                    keys: vec![(1, [9; 32])],
                },
            }],
            devices: vec![DeviceRecord {
                device_id: "aa".repeat(16),
                certificate: vec![3; 170],
                this_device: true,
                name: Some("laptop".to_owned()),
                registered_at_ms: None,
                listed: false,
            }],
        }
    }

    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        {
            // A store exactly as the previous release wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO profile VALUES (1, 'client', 'Sam', x'0102', 7)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO documents (id, label, created_at_ms, snapshot) VALUES ('doc-1', 'Sam', 5, x'534e4150')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO document_chunks (document_id, data) VALUES ('doc-1', x'6f6e65')",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 15);
        assert_eq!(store.profile().unwrap().display_name, "Sam");
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPone");
        // A profile that never synced has no account and nothing to sync.
        assert_eq!(store.account().unwrap(), None);
        assert!(store.sync_documents().unwrap().is_empty());
        assert!(store.devices().unwrap().is_empty());
        assert!(store.change_authors().unwrap().is_empty());
        // It still works as before.
        store.append_changes("doc-1", b"two").unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPonetwo");
        drop(store);
        // Opening again does not migrate again.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPonetwo");
        // The document it held is the shared homework document.
        assert_eq!(store.documents().unwrap()[0].kind, DocumentKind::Shared);
    }

    #[test]
    fn records_of_unsigned_envelopes_are_forgotten_by_version_8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            for migration in &MIGRATIONS[..7] {
                conn.execute_batch(migration).unwrap();
            }
            conn.pragma_update(None, "user_version", 7).unwrap();
            conn.execute(
                "INSERT INTO profile VALUES (1, 'client', 'Sam', x'0102', 7)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO documents (id, label, created_at_ms, snapshot, kind) VALUES ('doc-1', 'Sam', 5, x'534e4150', 'shared')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO wrapped_keys VALUES ('doc-1', 1, 'phone'), ('doc-1', 2, 'phone')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert!(store.wrapped_for("doc-1", 1).unwrap().is_empty());
        assert!(store.wrapped_for("doc-1", 2).unwrap().is_empty());
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAP");
    }

    /// A store as version 3 wrote it, with one shared document that syncs.
    fn version_3_store(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        for migration in &MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO profile VALUES (1, 'client', 'Sam', x'0102', 7)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO documents (id, label, created_at_ms, snapshot) VALUES ('doc-1', 'Sam', 5, x'534e4150')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn sharing_state_is_kept_replaced_and_added_with_a_received_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        version_3_store(&path);
        let mut store = Store::open(&path).unwrap();
        // Membership lists: none, then the latest one kept.
        assert_eq!(store.membership("doc-1").unwrap(), None);
        store.save_membership("doc-1", 1, b"LIST1").unwrap();
        store.save_membership("doc-1", 2, b"LIST2").unwrap();
        assert_eq!(store.membership("doc-1").unwrap(), Some(b"LIST2".to_vec()));
        // Another account's devices are replaced as a whole; other accounts keep theirs.
        store
            .record_peer_devices(
                [1; 16],
                &[("a".into(), b"A".to_vec()), ("b".into(), b"B".to_vec())],
            )
            .unwrap();
        store
            .record_peer_devices([2; 16], &[("c".into(), b"C".to_vec())])
            .unwrap();
        store
            .record_peer_devices([1; 16], &[("b".into(), b"B2".to_vec())])
            .unwrap();
        assert_eq!(
            store.peer_devices().unwrap(),
            vec![b"B2".to_vec(), b"C".to_vec()]
        );
        // Keys wrapped, per document and epoch.
        store
            .record_wrapped("doc-1", 1, &["a".into(), "b".into()])
            .unwrap();
        store.record_wrapped("doc-1", 1, &["b".into()]).unwrap();
        let wrapped = store.wrapped_for("doc-1", 1).unwrap();
        assert_eq!(wrapped.len(), 2);
        assert!(store.wrapped_for("doc-1", 2).unwrap().is_empty());
        // A received document arrives with its sync state, keys and membership in one go; the
        // same id twice is refused and changes nothing.
        let received = NewDocument {
            id: "doc-r".into(),
            label: "client doc-r".into(),
            created_at_ms: 9,
            snapshot: b"EMPTY".to_vec(),
            kind: DocumentKind::Shared,
            sync: SyncRecord {
                document_id: "doc-r".into(),
                epoch: 3,
                on_relay: true,
                state: "{}".into(),
                keys: vec![(3, [7; 32])],
            },
        };
        store.add_received_document(&received, 5, b"LIST5").unwrap();
        assert_eq!(store.membership("doc-r").unwrap(), Some(b"LIST5".to_vec()));
        assert!(store.sync_documents().unwrap().contains(&received.sync));
        let err = store
            .add_received_document(&received, 6, b"LIST6")
            .unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateDocumentId { .. }),
            "{err}"
        );
        assert_eq!(store.membership("doc-r").unwrap(), Some(b"LIST5".to_vec()));
    }

    #[test]
    fn version_4_marks_existing_documents_shared_and_allows_one_private_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        version_3_store(&path);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        let docs = store.documents().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].kind, DocumentKind::Shared);

        let sync = SyncRecord {
            document_id: "doc-2".to_owned(),
            epoch: 1,
            on_relay: false,
            state: "{}".to_owned(),
            keys: vec![(1, [9; 32])],
        };
        store
            .add_private_document("doc-2", "Sam (private)", 6, b"PRIV", Some(&sync))
            .unwrap();
        let kinds: Vec<_> = store
            .documents()
            .unwrap()
            .into_iter()
            .map(|d| (d.id, d.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("doc-1".to_owned(), DocumentKind::Shared),
                ("doc-2".to_owned(), DocumentKind::Private)
            ]
        );
        // Its sync state and key were written with it.
        assert_eq!(store.sync_documents().unwrap(), vec![sync]);
        assert_eq!(store.load_document("doc-2").unwrap(), b"PRIV");

        // A second private document is refused, and so is one with a taken id; nothing changes.
        let err = store
            .add_private_document("doc-3", "Other", 7, b"X", None)
            .unwrap_err();
        assert!(matches!(err, StoreError::PrivateDocumentExists), "{err}");
        assert_eq!(store.documents().unwrap().len(), 2);
        // The schema itself allows only one, whatever writes to it.
        assert!(store
            .conn
            .execute(
                "INSERT INTO documents (id, label, created_at_ms, snapshot, kind)
                 VALUES ('doc-3', 'Other', 7, x'00', 'private')",
                [],
            )
            .is_err());
        assert!(store
            .conn
            .execute(
                "INSERT INTO documents (id, label, created_at_ms, snapshot, kind)
                 VALUES ('doc-4', 'Odd', 7, x'00', 'secret')",
                [],
            )
            .is_err());
    }

    #[test]
    fn changes_to_two_documents_are_appended_together_or_not_at_all() {
        let (_dir, _path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"ONE").unwrap();
        store
            .add_private_document("doc-2", "Sam (private)", 5, b"TWO", None)
            .unwrap();
        store
            .append_changes_together(&[("doc-1", b"+a".as_slice()), ("doc-2", b"+b".as_slice())])
            .unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"ONE+a");
        assert_eq!(store.load_document("doc-2").unwrap(), b"TWO+b");
        // One unknown document: neither chunk is written.
        let err = store
            .append_changes_together(&[("doc-1", b"+c".as_slice()), ("nope", b"+d".as_slice())])
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownDocument { .. }), "{err}");
        assert_eq!(store.load_document("doc-1").unwrap(), b"ONE+a");
        // Empty chunks are skipped.
        store
            .append_changes_together(&[("doc-1", b"".as_slice()), ("doc-2", b"+e".as_slice())])
            .unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"ONE+a");
        assert_eq!(store.load_document("doc-2").unwrap(), b"TWO+b+e");
    }

    #[test]
    fn a_synced_profile_is_created_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let synced = synced_profile();
        let mut store = Store::create_synced(&path, &sample_profile(), &synced).unwrap();
        assert_eq!(store.account().unwrap(), Some(synced.account.clone()));
        assert_eq!(
            store.sync_documents().unwrap(),
            vec![synced.documents[0].sync.clone()]
        );
        assert_eq!(store.devices().unwrap(), synced.devices);
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAP");

        store.set_registered(Some([5; 16])).unwrap();
        store.mark_on_relay("doc-1").unwrap();
        store.set_last_sync(99).unwrap();
        let account = store.account().unwrap().unwrap();
        assert_eq!(account.account_id, Some([5; 16]));
        assert_eq!(account.registration, Registration::Done);
        assert_eq!(account.last_sync_ms, Some(99));
        assert!(store.sync_documents().unwrap()[0].on_relay);

        // The relay's list replaces which devices are listed, and never forgets a name.
        let phone = DeviceRecord {
            device_id: "bb".repeat(16),
            certificate: vec![6; 170],
            this_device: false,
            name: None,
            registered_at_ms: Some(20),
            listed: true,
        };
        let mut me = synced.devices[0].clone();
        me.name = None;
        me.this_device = false;
        me.registered_at_ms = Some(10);
        me.listed = true;
        store
            .record_listed_devices(&[me, phone.clone()], 30)
            .unwrap();
        let devices = store.devices().unwrap();
        assert_eq!(devices.len(), 2);
        assert!(devices[0].this_device && devices[0].listed);
        assert_eq!(devices[0].name.as_deref(), Some("laptop"));
        assert_eq!(devices[1], phone);
        store.record_listed_devices(&[], 31).unwrap();
        assert!(store.devices().unwrap().iter().all(|d| !d.listed));
        assert_eq!(
            store.account().unwrap().unwrap().devices_listed_ms,
            Some(31)
        );

        // A label clash refuses the whole profile and leaves nothing behind.
        let other = dir.path().join("other.sqlite3");
        let mut clash = synced_profile();
        let mut second = clash.documents[0].clone();
        second.id = "doc-2".to_owned();
        second.label = "SAM".to_owned();
        clash.documents.push(second);
        let err = Store::create_synced(&other, &sample_profile(), &clash).unwrap_err();
        assert!(matches!(err, StoreError::DuplicateLabel { .. }), "{err}");
        assert!(!other.exists());
    }

    #[test]
    fn changes_and_sync_state_are_written_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
        store.load_document("doc-1").unwrap();
        let authors = vec![(vec![1, 2], "cc".repeat(16))];
        store
            .persist_sync(
                "doc-1",
                &SyncWrite {
                    changes: b"one",
                    state: r#"{"cursor":1}"#,
                    authors: &authors,
                    heads: None,
                },
            )
            .unwrap();
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPone");
        assert_eq!(store.sync_documents().unwrap()[0].state, r#"{"cursor":1}"#);
        assert_eq!(
            store.change_authors().unwrap().get(&vec![1, 2]),
            Some(&"cc".repeat(16))
        );

        // The state write fails (not JSON) after the chunk was inserted: neither is kept.
        let err = store
            .persist_sync(
                "doc-1",
                &SyncWrite {
                    changes: b"two",
                    state: "not json",
                    authors: &[(vec![3], "dd".repeat(16))],
                    heads: None,
                },
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Database { .. }), "{err}");
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAPone");
        assert_eq!(store.sync_documents().unwrap()[0].state, r#"{"cursor":1}"#);
        assert_eq!(store.change_authors().unwrap().len(), 1);

        // A state-only write (an acknowledgement) appends no chunk; the first author of an
        // actor is kept.
        store
            .persist_sync(
                "doc-1",
                &SyncWrite {
                    changes: b"",
                    state: r#"{"cursor":2}"#,
                    authors: &[(vec![1, 2], "ee".repeat(16))],
                    heads: None,
                },
            )
            .unwrap();
        assert_eq!(store.documents().unwrap()[0].chunks, 1);
        assert_eq!(
            store.change_authors().unwrap().get(&vec![1, 2]),
            Some(&"cc".repeat(16))
        );
        // Sync writes count as this handle's own for compaction.
        assert!(store.compact("doc-1", b"FULL").unwrap());
        assert_eq!(store.load_document("doc-1").unwrap(), b"FULL");
        assert!(matches!(
            store.persist_sync(
                "nope",
                &SyncWrite {
                    changes: b"x",
                    state: "{}",
                    authors: &[],
                    heads: None,
                }
            ),
            Err(StoreError::UnknownDocument { .. })
        ));
    }

    /// The heads a sync write records are known only while the stored document is exactly
    /// what that handle held: a chunk stored by another process, or a compaction, forgets them;
    /// and a handle that holds less than is stored records none.
    #[test]
    fn known_heads_last_only_as_long_as_the_stored_document() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
        let write = |store: &mut Store, changes: &'static [u8], heads: &[[u8; 32]]| {
            store
                .persist_sync(
                    "doc-1",
                    &SyncWrite {
                        changes,
                        state: "{}",
                        authors: &[],
                        heads: Some(heads),
                    },
                )
                .unwrap();
        };
        assert_eq!(store.known_heads("doc-1").unwrap(), None);
        store.load_document("doc-1").unwrap();
        write(&mut store, b"one", &[[1; 32], [2; 32]]);
        assert_eq!(
            store.known_heads("doc-1").unwrap(),
            Some(vec![[1; 32], [2; 32]])
        );
        // A state-only write without heads leaves them as they are.
        store
            .persist_sync(
                "doc-1",
                &SyncWrite {
                    changes: b"",
                    state: "{}",
                    authors: &[],
                    heads: None,
                },
            )
            .unwrap();
        assert_eq!(
            store.known_heads("doc-1").unwrap(),
            Some(vec![[1; 32], [2; 32]])
        );

        // Another process stores a chunk: the heads are no longer known ...
        let mut other = Store::open(&path).unwrap();
        other.append_changes("doc-1", b"theirs").unwrap();
        assert_eq!(store.known_heads("doc-1").unwrap(), None);
        // ... and this handle, which never read that chunk, cannot record them again.
        write(&mut store, b"two", &[[3; 32]]);
        assert_eq!(store.known_heads("doc-1").unwrap(), None);
        // Once it has read everything, it can.
        store.load_changes_since_seen("doc-1").unwrap();
        write(&mut store, b"", &[[4; 32]]);
        assert_eq!(store.known_heads("doc-1").unwrap(), Some(vec![[4; 32]]));

        // A compaction is a new stored version.
        assert!(store.compact("doc-1", b"FULL").unwrap());
        assert_eq!(store.known_heads("doc-1").unwrap(), None);
        write(&mut store, b"", &[[5; 32]]);
        assert_eq!(store.known_heads("doc-1").unwrap(), Some(vec![[5; 32]]));
    }

    /// Crisis resources found in a document count only for the stored version they were found
    /// in: anything stored for it since (a chunk, a compaction) means reading it again.
    #[test]
    fn crisis_resources_found_last_until_the_document_is_stored_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
        let first = store.stored_version("doc-1").unwrap();
        assert!(!store.crisis_resources_found("doc-1").unwrap());
        store.found_crisis_resources("doc-1").unwrap();
        assert!(store.crisis_resources_found("doc-1").unwrap());
        assert_eq!(store.stored_version("doc-1").unwrap(), first);

        store.append_changes("doc-1", b"more").unwrap();
        assert_ne!(store.stored_version("doc-1").unwrap(), first);
        assert!(!store.crisis_resources_found("doc-1").unwrap());
        store.found_crisis_resources("doc-1").unwrap();
        assert!(store.crisis_resources_found("doc-1").unwrap());

        store.load_document("doc-1").unwrap();
        assert!(store.compact("doc-1", b"FULL").unwrap());
        assert!(!store.crisis_resources_found("doc-1").unwrap());
        assert!(matches!(
            store.stored_version("nope"),
            Err(StoreError::UnknownDocument { .. })
        ));
    }

    #[test]
    fn a_document_deleted_from_the_relay_stops_syncing_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let mut store = Store::create_synced(&path, &sample_profile(), &synced_profile()).unwrap();
        assert!(store.relay_deletions().unwrap().is_empty());
        assert_eq!(store.sync_documents().unwrap().len(), 1);

        store
            .mark_deleted_from_relay(&["doc-1"], 1_000, true)
            .unwrap();
        // Marking again (a retried deletion) keeps the first record.
        store
            .mark_deleted_from_relay(&["doc-1"], 2_000, false)
            .unwrap();
        drop(store);

        let store = Store::open(&path).unwrap();
        assert!(store.sync_documents().unwrap().is_empty());
        assert_eq!(
            store.relay_deletions().unwrap(),
            [RelayDeletion {
                document_id: "doc-1".to_owned(),
                label: "Sam".to_owned(),
                kind: DocumentKind::Shared,
                deleted_at_ms: 1_000,
                by_this_device: true,
            }]
        );
        assert_eq!(store.load_document("doc-1").unwrap(), b"SNAP");
    }

    #[test]
    fn the_last_look_at_a_document_is_kept_and_replaced() {
        let (_dir, path, mut store) = fresh();
        store.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        assert!(store.looked_at().unwrap().is_empty());
        store.record_looked_at("doc-1", 10, "2026-03-02").unwrap();
        store.record_looked_at("doc-1", 20, "2026-03-03").unwrap();
        let reopened = Store::open(&path).unwrap();
        assert_eq!(
            reopened.looked_at().unwrap(),
            HashMap::from([("doc-1".to_owned(), (20, "2026-03-03".to_owned()))])
        );
        assert!(matches!(
            store.record_looked_at("doc-2", 30, "2026-03-04"),
            Err(StoreError::UnknownDocument { .. })
        ));
    }

    #[test]
    fn data_version_moves_when_another_connection_commits() {
        let (_dir, path, mut mine) = fresh();
        mine.add_document("doc-1", "Sam", 5, b"SNAP").unwrap();
        let before = mine.data_version().unwrap();
        mine.append_changes("doc-1", b"own").unwrap();
        assert_eq!(mine.data_version().unwrap(), before);
        let mut theirs = Store::open(&path).unwrap();
        theirs.append_changes("doc-1", b"theirs").unwrap();
        assert_ne!(mine.data_version().unwrap(), before);
    }
}
