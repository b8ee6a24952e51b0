//! Compaction: when a document's appended chunks are worth replacing with a full save, the
//! replacement itself, and giving the freed pages back to the file system.

use between_shared::protocol::DocId;
use between_sqlite_file::AtPath;
use rusqlite::{params, OptionalExtension};

use super::ids::Hex;
use super::{begin_write, generation_of, non_negative, Seen, Store, StoreError};

/// A document needs compaction once it has more appended chunks than this.
pub(crate) const COMPACT_AFTER_CHUNKS: u64 = 64;

/// How far past [`COMPACT_AFTER_CHUNKS`] (and the byte threshold) a compaction put off for a
/// quiet moment becomes [`Compaction::Overdue`].
pub(super) const OVERDUE_FACTOR: u64 = 16;

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
pub(super) const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// Free pages (of 4 KiB) below which a compaction leaves them for the next writes to reuse.
const RECLAIM_MIN_FREE_PAGES: i64 = 256;

impl Store {
    /// Whether a document's appended chunks have grown enough to be worth compacting: more than
    /// [`COMPACT_AFTER_CHUNKS`] chunks, or more appended bytes than the snapshot holds (and at
    /// least [`COMPACT_MIN_BYTES`]).
    pub(crate) fn needs_compaction(
        &self,
        id: DocId,
        level: Compaction,
    ) -> Result<bool, StoreError> {
        let (snapshot_len, chunks, chunk_bytes): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT length(d.snapshot),
                        (SELECT count(*) FROM document_chunks c WHERE c.document_id = d.id),
                        (SELECT coalesce(sum(length(c.data)), 0)
                           FROM document_chunks c WHERE c.document_id = d.id)
                   FROM documents d WHERE d.id = ?1",
                [Hex(id)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .at(&self.path)?
            .ok_or_else(|| StoreError::UnknownDocument { id })?;
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
        id: DocId,
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
    pub(crate) fn compact(&mut self, id: DocId, snapshot: &[u8]) -> Result<bool, StoreError> {
        let Some(seen) = self.seen.get_mut().get(&id).cloned() else {
            return Ok(false);
        };
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let Some(generation) = generation_of(&tx, id).at(path)? else {
            return Err(StoreError::UnknownDocument { id });
        };
        if generation != seen.generation {
            drop(tx);
            self.seen.get_mut().remove(&id);
            return Ok(false);
        }
        tx.execute(
            "UPDATE documents SET snapshot = ?2, generation = generation + 1 WHERE id = ?1",
            params![Hex(id), snapshot],
        )
        .at(path)?;
        tx.execute(
            "DELETE FROM document_chunks WHERE document_id = ?1 AND seq <= ?2",
            params![Hex(id), seen.through_seq],
        )
        .at(path)?;
        {
            let mut delete = tx
                .prepare("DELETE FROM document_chunks WHERE document_id = ?1 AND seq = ?2")
                .at(path)?;
            for seq in &seen.own_seqs {
                delete.execute(params![Hex(id), seq]).at(path)?;
            }
        }
        tx.commit().at(path)?;
        self.seen.get_mut().insert(
            id,
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
}
