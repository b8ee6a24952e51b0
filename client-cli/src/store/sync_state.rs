//! Each synced document's sync state: the engine's state and epoch keys, what one sync step
//! writes, the known heads, change authors, and documents deleted from the relay.

use between_shared::protocol::{DeviceId, DocId};
use std::collections::HashMap;

use between_sqlite_file::AtPath;
use rusqlite::{params, OptionalExtension, Transaction};

use super::ids::Hex;
use super::{begin_write, generation_of, stored_version_of, DocumentKind, Seen, Store, StoreError};

/// The sync state of one document.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SyncRecord {
    /// The document id.
    pub(crate) document_id: DocId,
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

/// A document that is no longer on the relay (see `SCHEMA_V6` in [`super::schema`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelayDeletion {
    /// The document id.
    pub(crate) document_id: DocId,
    /// Its label (the client's name, or "private").
    pub(crate) label: String,
    /// Shared homework or the client's private document.
    pub(crate) kind: DocumentKind,
    /// When it was deleted (by this device) or found deleted (Unix milliseconds).
    pub(crate) deleted_at_ms: i64,
    /// Whether this device deleted it.
    pub(crate) by_this_device: bool,
}

/// What one sync step writes for a document, in one transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncWrite<'a> {
    /// The document's new changes (an Automerge incremental save), possibly empty.
    pub(crate) changes: &'a [u8],
    /// The engine's state after them, as JSON.
    pub(crate) state: &'a str,
    /// Automerge actors newly seen, with the device whose bundle carried their changes.
    pub(crate) authors: &'a [(Vec<u8>, DeviceId)],
    /// The document's heads after `changes`, when the writer holds the document loaded: kept
    /// as its known heads if this handle then holds exactly what is stored (see
    /// [`Store::known_heads`]). `None` leaves the recorded heads as they are.
    pub(crate) heads: Option<&'a [[u8; 32]]>,
}

/// Records `heads` as the known heads of document `id` (see [`Store::known_heads`]) if
/// `held` — what a handle loaded and appended since — is exactly what is stored: the same
/// compaction generation, and no chunk after its load that it did not append itself. Otherwise
/// it forgets any recorded heads, which would no longer match.
fn record_known_heads(
    tx: &Transaction<'_>,
    id: DocId,
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
            Hex(id),
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
        params![Hex(id), version.generation, version.last_chunk, recorded],
    )?;
    Ok(())
}

/// Splits stored heads (32 bytes each) into hashes.
fn split_heads(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes
        .chunks_exact(32)
        .filter_map(|head| <[u8; 32]>::try_from(head).ok())
        .collect()
}

impl Store {
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
                        document_id: row.get::<_, Hex<DocId>>(0)?.0,
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
                    .query_map([Hex(record.document_id)], |row| {
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
    pub(crate) fn mark_on_relay(&mut self, id: DocId) -> Result<(), StoreError> {
        let path = &self.path;
        let changed = self
            .conn
            .execute(
                "UPDATE sync_documents SET on_relay = 1 WHERE document_id = ?1",
                [Hex(id)],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::UnknownDocument { id });
        }
        Ok(())
    }

    /// A synced document's heads as stored, if they are known without loading it: recorded by
    /// [`Store::persist_sync`] when that handle held exactly what was stored, with nothing
    /// stored or compacted since (the document's generation and last chunk are unchanged).
    pub(crate) fn known_heads(&self, id: DocId) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
        let version = self.stored_version(id)?;
        let heads: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT heads FROM sync_documents
                  WHERE document_id = ?1 AND heads_generation = ?2 AND heads_last_chunk = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![Hex(id), version.generation, version.last_chunk],
                    |row| row.get(0),
                )
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
        id: DocId,
        write: &SyncWrite<'_>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id });
        }
        let mut seq = None;
        if !write.changes.is_empty() {
            tx.execute(
                "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
                params![Hex(id), write.changes],
            )
            .at(path)?;
            seq = Some(tx.last_insert_rowid());
        }
        let updated = tx
            .execute(
                "UPDATE sync_documents SET state = ?2 WHERE document_id = ?1",
                params![Hex(id), write.state],
            )
            .at(path)?;
        if updated == 0 {
            return Err(StoreError::UnknownDocument { id });
        }
        for (actor, device) in write.authors {
            tx.execute(
                "INSERT OR IGNORE INTO change_authors (actor_id, device_id) VALUES (?1, ?2)",
                params![actor, Hex(*device)],
            )
            .at(path)?;
        }
        if let (Some(seq), Some(seen)) = (seq, self.seen.get_mut().get_mut(&id)) {
            seen.own_seqs.push(seq);
        }
        if let Some(heads) = write.heads {
            let held = self.seen.get_mut().get(&id);
            record_known_heads(&tx, id, held, heads).at(path)?;
        }
        tx.commit().at(path)?;
        Ok(())
    }

    /// Keeps epoch keys of a document and, if `current` is given, makes that epoch the one new
    /// bundles are sealed under — in one transaction. A key already held is kept as it is.
    pub(crate) fn add_epoch_keys(
        &mut self,
        id: DocId,
        keys: &[(u32, [u8; 32])],
        current: Option<u32>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for (epoch, key) in keys {
            tx.execute(
                "INSERT OR IGNORE INTO epoch_keys (document_id, epoch, key) VALUES (?1, ?2, ?3)",
                params![Hex(id), epoch, key.as_slice()],
            )
            .at(path)?;
        }
        if let Some(epoch) = current {
            let updated = tx
                .execute(
                    "UPDATE sync_documents SET epoch = ?2 WHERE document_id = ?1 AND epoch < ?2",
                    params![Hex(id), epoch],
                )
                .at(path)?;
            let held: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM epoch_keys WHERE document_id = ?1 AND epoch = ?2)",
                    params![Hex(id), epoch],
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

    /// Records that documents are no longer on the relay, so they never sync again; the
    /// homework stays. A document already recorded keeps its first record.
    pub(crate) fn mark_deleted_from_relay(
        &mut self,
        ids: &[DocId],
        at_ms: i64,
        by_this_device: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for id in ids {
            tx.execute(
                "INSERT OR IGNORE INTO relay_deletions (document_id, deleted_at_ms, by_this_device)
                 VALUES (?1, ?2, ?3)",
                params![Hex(id), at_ms, by_this_device],
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
                    document_id: row.get::<_, Hex<DocId>>(0)?.0,
                    label: row.get(1)?,
                    kind: DocumentKind::parse(&row.get::<_, String>(2)?)?,
                    deleted_at_ms: row.get(3)?,
                    by_this_device: row.get(4)?,
                })
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Which device's bundles first carried each Automerge actor's changes.
    pub(crate) fn change_authors(&self) -> Result<HashMap<Vec<u8>, DeviceId>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT actor_id, device_id FROM change_authors")
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, row.get::<_, Hex<DeviceId>>(1)?.0))
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }
}

/// Inserts a document's sync state and epoch keys inside the caller's transaction.
pub(super) fn insert_sync_record(
    tx: &Transaction<'_>,
    id: DocId,
    sync: &SyncRecord,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO sync_documents (document_id, epoch, on_relay, state)
         VALUES (?1, ?2, ?3, ?4)",
        params![Hex(id), sync.epoch, sync.on_relay, sync.state],
    )?;
    for (epoch, key) in &sync.keys {
        tx.execute(
            "INSERT INTO epoch_keys (document_id, epoch, key) VALUES (?1, ?2, ?3)",
            params![Hex(id), epoch, key.as_slice()],
        )?;
    }
    Ok(())
}
