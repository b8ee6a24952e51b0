//! The store's file format: its application id, the schema migrations (one per version, see
//! the module documentation of `store`) and how a file is recognised, set up and migrated.

use std::time::Duration;

use between_sqlite_file::Format;

use super::compaction::AUTO_VACUUM_INCREMENTAL;

/// `PRAGMA application_id` of every Between store ("BTWN"), so that an unrelated SQLite file is
/// never mistaken for one.
pub(crate) const APPLICATION_ID: i32 = 0x4254_574E;

/// Schema migrations: entry `n` brings a store from version `n` to `n + 1`. Never edit an entry
/// once released; append a new one instead.
pub(super) const MIGRATIONS: &[&str] = &[
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
pub(super) const SCHEMA_VERSION: i64 = FORMAT.schema_version();

/// How long a command waits for another process that holds the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Version 1: profile, documents (snapshot) and their appended chunks.
pub(super) const SCHEMA_V1: &str = "
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

/// How a local store's file is recognised, set up and migrated. A file system without WAL
/// support keeps its rollback journal, which is just as durable with `synchronous=FULL`.
pub(super) const FORMAT: Format = Format {
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
