//! The PostgreSQL schema and its migrations.
//!
//! `between_relay_schema` holds one row: the schema version. [`MIGRATIONS`] lists the SQL that
//! brings a database from version `n` to `n + 1`. [`migrate`] applies what is missing in one
//! transaction that first takes the relay's write lock, so two relays starting together on an
//! empty database do not race (the second finds the schema made), and writers of an older relay
//! never see a half-migrated database. A database at a version this relay does not know is
//! refused with [`StoreError::TooNew`] and left untouched.
//!
//! Version 1 is the whole schema of the SQLite backend's versions 1 to 4: the same tables,
//! columns and constraints, with `BYTEA` ids checked by length and `BIGINT` times, numbers and
//! serials. Columns of opaque blobs use `STORAGE EXTERNAL`: encrypted bytes do not compress,
//! so PostgreSQL need not try before moving a large value out of line.

use std::path::PathBuf;

use postgres::{Client, IsolationLevel};

use super::{Location, WRITE_LOCK_KEY};
use crate::store::StoreError;

/// Schema migrations: entry `n` brings a database from version `n` to `n + 1`. Never edit an
/// entry once released; append a new one.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// The schema version this build writes and understands (the length of [`MIGRATIONS`]).
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The table of the schema version, made before anything else.
const VERSION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS between_relay_schema (
    one     INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (one = 1),
    version BIGINT  NOT NULL CHECK (version >= 0)
)";

/// Version 1: the whole schema.
const SCHEMA_V1: &str = r"
CREATE TABLE accounts (
    id             BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(id) = 16),
    identity_pub   BYTEA  NOT NULL UNIQUE CHECK (octet_length(identity_pub) = 32),
    role           TEXT   NOT NULL CHECK (role IN ('client', 'therapist', 'admin')),
    created_at_ms  BIGINT NOT NULL,
    disabled_at_ms BIGINT,
    label          TEXT   CHECK (label IS NULL OR role <> 'client'),
    invited_by     BYTEA  REFERENCES accounts (id)
        CHECK (invited_by IS NULL OR octet_length(invited_by) = 16)
);

CREATE TABLE devices (
    id               BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(id) = 16),
    account          BYTEA  NOT NULL REFERENCES accounts (id),
    signing_pub      BYTEA  NOT NULL UNIQUE CHECK (octet_length(signing_pub) = 32),
    certificate      BYTEA  NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    disabled_at_ms   BIGINT
);

CREATE INDEX devices_by_account ON devices (account);

CREATE TABLE invites (
    hash          BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    kind          TEXT   NOT NULL CHECK (kind IN ('client', 'therapist', 'admin')),
    created_by    BYTEA  REFERENCES accounts (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT,
    label         TEXT   CHECK (label IS NULL OR kind <> 'client')
);

CREATE INDEX invites_by_expiry ON invites (expires_at_ms);

CREATE TABLE documents (
    id            BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(id) = 16),
    owner         BYTEA  NOT NULL REFERENCES accounts (id),
    created_at_ms BIGINT NOT NULL,
    head          BIGINT NOT NULL DEFAULT 0 CHECK (head >= 0)
);

CREATE TABLE deleted_documents (
    id            BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(id) = 16),
    deleted_at_ms BIGINT NOT NULL
);

CREATE TABLE members (
    doc     BYTEA NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    account BYTEA NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (doc, account)
);

CREATE INDEX members_by_account ON members (account);

CREATE TABLE memberships (
    doc    BYTEA  NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    serial BIGINT NOT NULL CHECK (serial >= 0),
    data   BYTEA  NOT NULL
);

CREATE TABLE bundles (
    doc            BYTEA  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq            BIGINT NOT NULL CHECK (seq >= 1),
    appended_at_ms BIGINT NOT NULL,
    data           BYTEA  NOT NULL,
    PRIMARY KEY (doc, seq)
);

CREATE TABLE snapshots (
    doc    BYTEA  NOT NULL PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    covers BIGINT NOT NULL CHECK (covers >= 0),
    data   BYTEA  NOT NULL
);

CREATE TABLE snapshot_parts (
    doc  BYTEA  NOT NULL REFERENCES snapshots (doc) ON DELETE CASCADE,
    part BIGINT NOT NULL CHECK (part >= 1),
    data BYTEA  NOT NULL,
    PRIMARY KEY (doc, part)
);

CREATE TABLE snapshot_uploads (
    doc      BYTEA  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    uploader BYTEA  NOT NULL CHECK (octet_length(uploader) = 16),
    part     BIGINT NOT NULL CHECK (part >= 0),
    covers   BIGINT NOT NULL CHECK (covers >= 1),
    parts    BIGINT NOT NULL CHECK (part < parts),
    data     BYTEA  NOT NULL,
    PRIMARY KEY (doc, uploader, part)
);

CREATE TABLE key_envelopes (
    doc       BYTEA  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    recipient BYTEA  NOT NULL REFERENCES devices (id),
    epoch     BIGINT NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    data      BYTEA  NOT NULL,
    PRIMARY KEY (doc, recipient, epoch)
);

CREATE TABLE pairings (
    mailbox       BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(mailbox) = 32),
    expires_at_ms BIGINT NOT NULL,
    payload       BYTEA  NOT NULL
);

CREATE INDEX pairings_by_expiry ON pairings (expires_at_ms);

ALTER TABLE memberships      ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE bundles          ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE snapshots        ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE snapshot_parts   ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE snapshot_uploads ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE key_envelopes    ALTER COLUMN data    SET STORAGE EXTERNAL;
ALTER TABLE pairings         ALTER COLUMN payload SET STORAGE EXTERNAL;

CREATE TABLE audit (
    id      BIGINT NOT NULL PRIMARY KEY CHECK (id >= 1),
    at_ms   BIGINT NOT NULL,
    account BYTEA  CHECK (account IS NULL OR octet_length(account) = 16),
    device  BYTEA  CHECK (device IS NULL OR octet_length(device) = 16),
    doc     BYTEA  CHECK (doc IS NULL OR octet_length(doc) = 16),
    action  TEXT   NOT NULL,
    hash    BYTEA  NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE INDEX audit_by_doc ON audit (doc, id);
CREATE INDEX audit_by_account ON audit (account, id);

CREATE FUNCTION between_relay_audit_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;

CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION between_relay_audit_is_append_only();

CREATE TRIGGER audit_is_never_truncated BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION between_relay_audit_is_append_only();

CREATE TABLE audit_head (
    one  INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    rows BIGINT  NOT NULL CHECK (rows >= 0),
    hash BYTEA   NOT NULL CHECK (octet_length(hash) = 32)
);

INSERT INTO audit_head (one, rows, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
";

/// Brings the database to [`SCHEMA_VERSION`] in one transaction under the write lock (see the
/// module documentation). Running it on an up-to-date database changes nothing.
pub(super) fn migrate(client: &mut Client, location: &Location) -> Result<(), StoreError> {
    let fail = |err| location.fail(err);
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .read_only(false)
        .start()
        .map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK_KEY])
        .map_err(fail)?;
    tx.batch_execute(VERSION_TABLE).map_err(fail)?;
    let found: i64 = tx
        .query_opt(
            "SELECT version FROM between_relay_schema WHERE one = 1",
            &[],
        )
        .and_then(|row| row.map(|row| row.try_get(0)).transpose())
        .map_err(fail)?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        // Dropping the transaction rolls it back: the database is left as it was.
        return Err(StoreError::TooNew {
            path: PathBuf::from(&location.0),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return tx.commit().map_err(fail);
    }
    let missing = usize::try_from(found).unwrap_or(0);
    for migration in MIGRATIONS.iter().skip(missing) {
        tx.batch_execute(migration).map_err(fail)?;
    }
    tx.execute(
        "INSERT INTO between_relay_schema (one, version) VALUES (1, $1)
         ON CONFLICT (one) DO UPDATE SET version = excluded.version",
        &[&SCHEMA_VERSION],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)
}
