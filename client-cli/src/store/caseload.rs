//! What a therapist's profile keeps about its caseload, local to this device: the practice's
//! crisis resources and where they were found, and what the therapist last looked at or was shown.

use between_shared::protocol::DocId;
use std::collections::HashMap;

use between_sqlite_file::AtPath;
use rusqlite::{params, OptionalExtension};

use super::ids::Hex;
use super::{begin_write, by_document, generation_of, Store, StoreError, StoredVersion};

impl Store {
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

    /// Whether crisis resources were found in a document as it is stored now (recorded by
    /// [`Store::found_crisis_resources`], with nothing stored for it since).
    pub(crate) fn crisis_resources_found(&self, id: DocId) -> Result<bool, StoreError> {
        let version = self.stored_version(id)?;
        let found: Option<StoredVersion> = self
            .conn
            .prepare_cached(
                "SELECT generation, last_chunk FROM crisis_resources_found WHERE document_id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([Hex(id)], StoredVersion::from_row)
                    .optional()
            })
            .at(&self.path)?;
        Ok(found == Some(version))
    }

    /// Records that the document, as stored now, holds crisis resources.
    pub(crate) fn found_crisis_resources(&mut self, id: DocId) -> Result<(), StoreError> {
        let version = self.stored_version(id)?;
        self.conn
            .execute(
                "INSERT INTO crisis_resources_found (document_id, generation, last_chunk)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id) DO UPDATE
                    SET generation = excluded.generation, last_chunk = excluded.last_chunk",
                params![Hex(id), version.generation, version.last_chunk],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// When the therapist last looked at each document in detail: document id → (Unix
    /// milliseconds, their calendar day then as `YYYY-MM-DD`).
    pub(crate) fn looked_at(&self) -> Result<HashMap<DocId, (i64, String)>, StoreError> {
        by_document(
            &self.conn,
            &self.path,
            "SELECT document_id, at_ms, day FROM looked_at",
        )
    }

    /// The records of document `id` the therapist was shown one by one: record id → when
    /// (Unix milliseconds), the latest showing.
    pub(crate) fn seen_records(&self, id: DocId) -> Result<HashMap<String, i64>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT record_id, seen_at_ms FROM seen_records WHERE document_id = ?1")
            .at(path)?;
        let rows = stmt
            .query_map([Hex(id)], |row| Ok((row.get(0)?, row.get(1)?)))
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>().at(path)?)
    }

    /// Records that the therapist was shown `records` of document `id` at `at_ms`, in one
    /// transaction; a later showing replaces an earlier one, never the other way round.
    pub(crate) fn record_seen(
        &mut self,
        id: DocId,
        records: &[String],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id });
        }
        for record in records {
            tx.execute(
                "INSERT INTO seen_records (document_id, record_id, seen_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id, record_id) DO UPDATE SET seen_at_ms = excluded.seen_at_ms
                 WHERE excluded.seen_at_ms > seen_at_ms",
                params![Hex(id), record, at_ms],
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
        id: DocId,
        at_ms: i64,
        day: &str,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, id).at(path)?.is_none() {
            return Err(StoreError::UnknownDocument { id });
        }
        tx.execute(
            "INSERT INTO looked_at (document_id, at_ms, day) VALUES (?1, ?2, ?3)
             ON CONFLICT (document_id) DO UPDATE SET at_ms = excluded.at_ms, day = excluded.day
             WHERE at_ms <> excluded.at_ms OR day <> excluded.day",
            params![Hex(id), at_ms, day],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }
}
