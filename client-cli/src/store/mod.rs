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
//! `PRAGMA user_version` holds the schema version; [`MIGRATIONS`](schema::MIGRATIONS) lists the
//! SQL that brings a store from version `n` to `n + 1`. Opening an older store applies the missing
//! migrations in one transaction; a newer one is refused with an "upgrade Between" error. Each
//! migration's constant says what its version adds; in short:
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

mod account;
mod caseload;
mod compaction;
mod documents;
mod error;
mod ids;
mod reminders;
mod schema;
mod sharing;
mod sync_state;
#[cfg(test)]
mod tests;

use between_shared::protocol::DocId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use between_sqlite_file::{exists, AtPath};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use account::upsert_device;
pub(crate) use account::{AccountRecord, DeviceRecord, Registration};
pub(crate) use compaction::Compaction;
#[cfg(test)]
pub(crate) use compaction::COMPACT_AFTER_CHUNKS;
pub(crate) use documents::DocumentRecord;
pub(crate) use error::StoreError;
use ids::Hex;
use schema::FORMAT;
use sync_state::insert_sync_record;
pub(crate) use sync_state::{SyncRecord, SyncWrite};

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

/// A document to create with a new synced profile.
#[derive(Debug, Clone)]
pub(crate) struct NewDocument {
    /// The document id.
    pub(crate) id: DocId,
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

impl Seen {
    /// A document this handle just created: its first save is all there is.
    fn created() -> Self {
        Self {
            generation: 0,
            through_seq: 0,
            own_seqs: Vec::new(),
        }
    }
}

/// An open local store. See the module documentation for its transaction contract.
#[derive(Debug)]
pub(crate) struct Store {
    /// The read-write connection.
    conn: Connection,
    /// The store file.
    path: PathBuf,
    /// Per document id: what this handle's caller has seen (for safe compaction).
    seen: RefCell<HashMap<DocId, Seen>>,
}

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

/// A new document's row: its first full save, at generation 0.
fn insert_document_row(
    tx: &Transaction<'_>,
    id: DocId,
    label: &str,
    created_at_ms: i64,
    snapshot: &[u8],
    kind: DocumentKind,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO documents (id, label, created_at_ms, snapshot, generation, kind)
         VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        params![Hex(id), label, created_at_ms, snapshot, kind.as_str()],
    )?;
    Ok(())
}

/// The generation of a document, or `None` if it does not exist.
fn generation_of(conn: &Connection, id: DocId) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT generation FROM documents WHERE id = ?1",
        [Hex(id)],
        |row| row.get(0),
    )
    .optional()
}

/// Where document `id`'s stored content stands (see [`StoredVersion`]), if it exists.
fn stored_version_of(conn: &Connection, id: DocId) -> rusqlite::Result<Option<StoredVersion>> {
    conn.prepare_cached(
        "SELECT d.generation,
                (SELECT coalesce(max(c.seq), 0) FROM document_chunks c WHERE c.document_id = d.id)
           FROM documents d WHERE d.id = ?1",
    )?
    .query_row([Hex(id)], StoredVersion::from_row)
    .optional()
}

/// Rows of `(document id, milliseconds, value)` that `sql` selects, by document (one row per
/// document: each such table keys its rows by document).
fn by_document<V: rusqlite::types::FromSql>(
    conn: &Connection,
    path: &Path,
    sql: &str,
) -> Result<HashMap<DocId, (i64, V)>, StoreError> {
    let mut stmt = conn.prepare(sql).at(path)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, Hex<DocId>>(0)?.0, (row.get(1)?, row.get(2)?)))
        })
        .at(path)?;
    Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
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

    /// Where a document's stored content stands: it changes whenever anything is stored for the
    /// document (a chunk appended, a compaction), and only then.
    pub(crate) fn stored_version(&self, id: DocId) -> Result<StoredVersion, StoreError> {
        stored_version_of(&self.conn, id)
            .at(&self.path)?
            .ok_or_else(|| StoreError::UnknownDocument { id })
    }

    /// SQLite's `PRAGMA data_version`: changes when another connection (another `between`
    /// command) commits to the store, and not for this connection's own commits.
    pub(crate) fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .at(&self.path)?)
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
            account.account_id.map(|id| id.0.to_vec()),
            account.identity_keypair,
            account.device_keypair,
            account.device_certificate,
            registration,
            invite,
            account.last_sync_ms,
            account.devices_listed_ms,
            account.relay_ca_pem,
            account.therapist_commitment.map(|c| c.0.to_vec()),
        ],
    )?;
    for doc in &synced.documents {
        if let Err(refused) = refuse_taken_label(tx, &doc.label, doc.id)? {
            return Ok(Err(refused));
        }
        insert_document_row(
            tx,
            doc.id,
            &doc.label,
            doc.created_at_ms,
            &doc.snapshot,
            doc.kind,
        )?;
        insert_sync_record(tx, doc.id, &doc.sync)?;
    }
    for device in &synced.devices {
        upsert_device(tx, device)?;
    }
    Ok(Ok(()))
}

/// The `registration` and `invite` columns of a [`Registration`].
fn registration_columns(registration: &Registration) -> (&'static str, Option<&[u8]>) {
    match registration {
        Registration::Invite(invite) => ("invite", Some(invite.as_slice())),
        Registration::Pairing => ("pairing", None),
        Registration::Done => ("done", None),
    }
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
    id: DocId,
) -> rusqlite::Result<Result<(), StoreError>> {
    let taken: Option<String> = tx
        .query_row(
            "SELECT id FROM documents WHERE label = ?1 AND id <> ?2",
            params![label, Hex(id)],
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
