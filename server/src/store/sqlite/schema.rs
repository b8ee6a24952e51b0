//! The SQLite schema: the migrations that bring a database from each version to the next.

/// Schema migrations: entry `n` brings a database from version `n` to `n + 1`. Never edit an
/// entry once released; append a new one.
pub(super) const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

/// Version 1 of the schema.
pub(super) const SCHEMA_V1: &str = "
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
pub(super) const SCHEMA_V2: &str = "
ALTER TABLE accounts ADD COLUMN label TEXT CHECK (label IS NULL OR role <> 'client');
ALTER TABLE invites ADD COLUMN label TEXT CHECK (label IS NULL OR kind <> 'client');
CREATE INDEX audit_by_account ON audit (account, id);
";

/// Version 3: sharing. Which account's invite registered an account (a client's therapist), and
/// per document the latest membership list its owner signed, with its serial (`INTEGER` holds
/// serials up to `i64::MAX`; larger ones are refused before they get here).
pub(super) const SCHEMA_V3: &str = "
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
pub(super) const SCHEMA_V4: &str = "
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
