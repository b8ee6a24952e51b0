//! Documents and their chunks: listing, adding, loading (whole or only what other processes
//! stored since), appending changes, setting chunks aside, and renaming.

use between_shared::protocol::DocId;
use std::path::Path;

use between_sqlite_file::AtPath;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::ids::Hex;
use super::sync_state::insert_sync_record;
use super::{
    begin_write, generation_of, insert_document_row, non_negative, refuse_taken_label,
    DocumentKind, Seen, Store, StoreError, SyncRecord,
};

/// A summary of one stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentRecord {
    /// The document id.
    pub(crate) id: DocId,
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

/// A document as stored: its snapshot and its appended chunks `(seq, bytes)` in order.
#[derive(Debug, Clone)]
pub(crate) struct StoredParts {
    pub(crate) snapshot: Vec<u8>,
    pub(crate) chunks: Vec<(i64, Vec<u8>)>,
}

/// Appends to `bytes` the chunks of document `id` after sequence number `after`, in order,
/// except those in `skip`; returns the highest sequence number among them (`after` if none).
fn append_chunks(
    conn: &Connection,
    id: DocId,
    after: i64,
    skip: &[i64],
    bytes: &mut Vec<u8>,
) -> rusqlite::Result<i64> {
    let mut stmt = conn.prepare(
        "SELECT seq, data FROM document_chunks WHERE document_id = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![Hex(id), after])?;
    let mut through_seq = after;
    while let Some(row) = rows.next()? {
        through_seq = row.get(0)?;
        if !skip.contains(&through_seq) {
            bytes.extend_from_slice(row.get_ref(1)?.as_blob()?);
        }
    }
    Ok(through_seq)
}

impl Store {
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
                    id: row.get::<_, Hex<DocId>>(0)?.0,
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
        id: DocId,
        label: &str,
        created_at_ms: i64,
        snapshot: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        insert_new(
            &tx,
            path,
            id,
            label,
            created_at_ms,
            snapshot,
            DocumentKind::Shared,
        )?;
        tx.commit().at(path)?;
        self.seen.get_mut().insert(id, Seen::created());
        Ok(())
    }

    /// Adds the client's private document with its first full save and, for a profile that
    /// syncs, its sync state and first epoch key — all in one transaction. Refuses when the
    /// profile already has a private document, or the id or label is taken.
    pub(crate) fn add_private_document(
        &mut self,
        id: DocId,
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
        insert_new(
            &tx,
            path,
            id,
            label,
            created_at_ms,
            snapshot,
            DocumentKind::Private,
        )?;
        if let Some(sync) = sync {
            insert_sync_record(&tx, id, sync).at(path)?;
        }
        tx.commit().at(path)?;
        self.seen.get_mut().insert(id, Seen::created());
        Ok(())
    }

    /// The stored bytes of a document: its snapshot followed by every appended chunk in order,
    /// read in one transaction. Automerge's `load` accepts this concatenation.
    pub(crate) fn load_document(&self, id: DocId) -> Result<Vec<u8>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let (mut bytes, generation): (Vec<u8>, i64) = tx
            .query_row(
                "SELECT snapshot, generation FROM documents WHERE id = ?1",
                [Hex(id)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id })?;
        let through_seq = append_chunks(&tx, id, 0, &[], &mut bytes).at(path)?;
        tx.commit().at(path)?;
        self.seen.borrow_mut().insert(
            id,
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
    pub(crate) fn load_changes_since_seen(&self, id: DocId) -> Result<Vec<u8>, StoreError> {
        let Some(seen) = self.seen.borrow().get(&id).cloned() else {
            return self.load_document(id);
        };
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let generation = generation_of(&tx, id)
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id })?;
        if generation != seen.generation {
            drop(tx);
            return self.load_document(id);
        }
        let mut bytes = Vec::new();
        let through_seq =
            append_chunks(&tx, id, seen.through_seq, &seen.own_seqs, &mut bytes).at(path)?;
        tx.commit().at(path)?;
        if let Some(seen) = self.seen.borrow_mut().get_mut(&id) {
            seen.through_seq = through_seq;
            // Covered by `through_seq` now, which compaction deletes through.
            seen.own_seqs.retain(|seq| *seq > through_seq);
        }
        Ok(bytes)
    }

    /// A document as stored, in parts: its snapshot and each appended chunk with its sequence
    /// number, in order, read in one transaction (for `crate::salvage`, when the whole does
    /// not load).
    pub(crate) fn document_parts(&self, id: DocId) -> Result<StoredParts, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let snapshot: Vec<u8> = tx
            .query_row(
                "SELECT snapshot FROM documents WHERE id = ?1",
                [Hex(id)],
                |row| row.get(0),
            )
            .optional()
            .at(path)?
            .ok_or_else(|| StoreError::UnknownDocument { id })?;
        let chunks = tx
            .prepare("SELECT seq, data FROM document_chunks WHERE document_id = ?1 ORDER BY seq")
            .at(path)?
            .query_map([Hex(id)], |row| Ok((row.get(0)?, row.get(1)?)))
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
        id: DocId,
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
                    params![Hex(id), seq, reason, now_ms],
                )
                .at(path)?;
            tx.execute(
                "DELETE FROM document_chunks WHERE document_id = ?1 AND seq = ?2",
                params![Hex(id), seq],
            )
            .at(path)?;
        }
        tx.commit().at(path)?;
        Ok(moved)
    }

    /// How many chunks of changes were set aside from document `id` (see
    /// [`Store::set_aside_chunks`]).
    #[cfg(test)]
    pub(crate) fn set_aside_count(&self, id: DocId) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM set_aside_chunks WHERE document_id = ?1",
                [Hex(id)],
                |row| row.get(0),
            )
            .at(&self.path)?;
        Ok(non_negative(count))
    }

    /// Appends one chunk of changes (an Automerge incremental save) to a document, committed in
    /// one transaction before returning. Empty `changes` is a no-op.
    pub(crate) fn append_changes(&mut self, id: DocId, changes: &[u8]) -> Result<(), StoreError> {
        self.append_changes_together(&[(id, changes)])
    }

    /// Appends one chunk of changes to each of several documents in **one** transaction, so a
    /// command that changes two documents together (sharing a private entry moves it from one
    /// to the other) stores both changes or neither. Empty chunks are skipped.
    pub(crate) fn append_changes_together(
        &mut self,
        chunks: &[(DocId, &[u8])],
    ) -> Result<(), StoreError> {
        let chunks: Vec<_> = chunks.iter().filter(|(_, c)| !c.is_empty()).collect();
        if chunks.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let mut seqs = Vec::new();
        for &&(id, changes) in &chunks {
            if generation_of(&tx, id).at(path)?.is_none() {
                return Err(StoreError::UnknownDocument { id });
            }
            tx.execute(
                "INSERT INTO document_chunks (document_id, data) VALUES (?1, ?2)",
                params![Hex(id), changes],
            )
            .at(path)?;
            seqs.push((id, tx.last_insert_rowid()));
        }
        tx.commit().at(path)?;
        for (id, seq) in seqs {
            if let Some(seen) = self.seen.get_mut().get_mut(&id) {
                seen.own_seqs.push(seq);
            }
        }
        Ok(())
    }

    /// Renames a document, in one transaction. Refuses a label another document already has
    /// (compared case-insensitively).
    pub(crate) fn rename_document(&mut self, id: DocId, label: &str) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id });
        }
        refuse_taken_label(&tx, label, id).at(path)??;
        tx.execute(
            "UPDATE documents SET label = ?2 WHERE id = ?1",
            params![Hex(id), label],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }
}

/// Inserts a new document's row, refusing an id or a label (compared case-insensitively) that
/// is already taken.
fn insert_new(
    tx: &Transaction<'_>,
    path: &Path,
    id: DocId,
    label: &str,
    created_at_ms: i64,
    snapshot: &[u8],
    kind: DocumentKind,
) -> Result<(), StoreError> {
    if generation_of(tx, id).at(path)?.is_some() {
        return Err(StoreError::DuplicateDocumentId { id });
    }
    refuse_taken_label(tx, label, id).at(path)??;
    insert_document_row(tx, id, label, created_at_ms, snapshot, kind).at(path)?;
    Ok(())
}
