//! Documents, members, signed membership lists, key envelopes and deletion on SQLite.

use super::*;

/// The query behind [`DocStats`]; callers append a `WHERE` and an `ORDER BY`.
/// A document's bytes count its snapshot, all its parts, and parts staged for the next one.
pub(super) const DOC_STATS_SQL: &str = "
SELECT d.id, d.owner, d.created_at_ms, d.head, s.covers,
       coalesce(length(s.data), 0)
         + (SELECT coalesce(sum(length(p.data)), 0) FROM snapshot_parts p WHERE p.doc = d.id)
         + (SELECT coalesce(sum(length(u.data)), 0) FROM snapshot_uploads u WHERE u.doc = d.id),
       (SELECT count(*) FROM bundles b WHERE b.doc = d.id),
       (SELECT coalesce(sum(length(b.data)), 0) FROM bundles b WHERE b.doc = d.id)
  FROM documents d LEFT JOIN snapshots s ON s.doc = d.id";

/// Reads a row of [`DOC_STATS_SQL`].
pub(super) fn doc_stats_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DocStats> {
    let snapshot_bytes: i64 = row.get(5)?;
    let bundles: i64 = row.get(6)?;
    let bundle_bytes: i64 = row.get(7)?;
    Ok(DocStats {
        doc: DocId(row.get(0)?),
        owner: AccountId(row.get(1)?),
        created_at_ms: row.get(2)?,
        head: seq_at(row, 3)?,
        snapshot_covers: optional_seq_at(row, 4)?,
        bundles: non_negative(bundles),
        bytes: non_negative(snapshot_bytes).saturating_add(non_negative(bundle_bytes)),
    })
}

impl DocumentStore for SqliteStore {
    fn create_document(
        &mut self,
        doc: DocId,
        owner: AccountId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if row_exists(
            &tx,
            path,
            "SELECT 1 FROM deleted_documents WHERE id = ?1",
            [doc.as_bytes()],
        )? {
            return Err(StoreError::Conflict(Conflict::DocumentDeleted(doc)));
        }
        if row_exists(
            &tx,
            path,
            "SELECT 1 FROM documents WHERE id = ?1",
            [doc.as_bytes()],
        )? {
            return Err(StoreError::Conflict(Conflict::DocumentExists(doc)));
        }
        require_account(&tx, path, owner)?;
        tx.execute(
            "INSERT INTO documents (id, owner, created_at_ms, head) VALUES (?1, ?2, ?3, 0)",
            params![doc.as_bytes(), owner.as_bytes(), now_ms],
        )
        .at(path)?;
        tx.execute(
            "INSERT INTO members (doc, account) VALUES (?1, ?2)",
            params![doc.as_bytes(), owner.as_bytes()],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    #[cfg(test)]
    fn add_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        require_account(&tx, path, account)?;
        let added = tx
            .execute(
                "INSERT OR IGNORE INTO members (doc, account) VALUES (?1, ?2)",
                params![doc.as_bytes(), account.as_bytes()],
            )
            .at(path)?;
        tx.commit().at(path)?;
        Ok(added > 0)
    }

    fn remove_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let owner: AccountId = tx
            .query_row(
                "SELECT owner FROM documents WHERE id = ?1",
                [doc.as_bytes()],
                |row| row.get(0).map(AccountId),
            )
            .optional()
            .at(path)?
            .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
        if owner == account {
            return Err(StoreError::Conflict(Conflict::OwnerIsAlwaysMember));
        }
        let removed = tx
            .execute(
                "DELETE FROM members WHERE doc = ?1 AND account = ?2",
                params![doc.as_bytes(), account.as_bytes()],
            )
            .at(path)?;
        tx.commit().at(path)?;
        Ok(removed > 0)
    }

    fn is_member(&self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        row_exists(
            &self.conn,
            &self.path,
            "SELECT 1 FROM members WHERE doc = ?1 AND account = ?2",
            params![doc.as_bytes(), account.as_bytes()],
        )
    }

    fn members(&self, doc: DocId) -> Result<Vec<AccountId>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        let mut stmt = tx
            .prepare_cached("SELECT account FROM members WHERE doc = ?1 ORDER BY account")
            .at(path)?;
        let rows = stmt
            .query_map([doc.as_bytes()], |row| row.get(0).map(AccountId))
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn put_membership(
        &mut self,
        doc: DocId,
        serial: u64,
        bytes: &[u8],
        members: &[AccountId],
    ) -> Result<Vec<AccountId>, StoreError> {
        let path = &self.path;
        let serial_sql = i64::try_from(serial)
            .map_err(|_| StoreError::Invalid("a membership serial is at most 2^63 - 1"))?;
        let tx = begin_write(&mut self.conn, path)?;
        let owner: AccountId = tx
            .query_row(
                "SELECT owner FROM documents WHERE id = ?1",
                [doc.as_bytes()],
                |row| row.get(0).map(AccountId),
            )
            .optional()
            .at(path)?
            .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
        let stored: Option<i64> = tx
            .query_row(
                "SELECT serial FROM memberships WHERE doc = ?1",
                [doc.as_bytes()],
                |row| row.get(0),
            )
            .optional()
            .at(path)?;
        if let Some(stored) = stored {
            if serial_sql <= stored {
                return Err(StoreError::Conflict(Conflict::MembershipSerial {
                    stored: non_negative(stored),
                    given: serial,
                }));
            }
        }
        for &member in members {
            require_account(&tx, path, member)?;
        }
        let before: Vec<AccountId> = {
            let mut stmt = tx
                .prepare_cached("SELECT account FROM members WHERE doc = ?1 ORDER BY account")
                .at(path)?;
            let rows = stmt
                .query_map([doc.as_bytes()], |row| row.get(0).map(AccountId))
                .at(path)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?
        };
        tx.execute("DELETE FROM members WHERE doc = ?1", [doc.as_bytes()])
            .at(path)?;
        for account in std::iter::once(&owner).chain(members) {
            tx.execute(
                "INSERT OR IGNORE INTO members (doc, account) VALUES (?1, ?2)",
                params![doc.as_bytes(), account.as_bytes()],
            )
            .at(path)?;
        }
        tx.execute(
            "INSERT INTO memberships (doc, serial, data) VALUES (?1, ?2, ?3)
             ON CONFLICT (doc) DO UPDATE SET serial = excluded.serial, data = excluded.data",
            params![doc.as_bytes(), serial_sql, bytes],
        )
        .at(path)?;
        tx.commit().at(path)?;
        Ok(before
            .into_iter()
            .filter(|account| *account != owner && !members.contains(account))
            .collect())
    }

    fn membership(&self, doc: DocId) -> Result<Option<StoredMembership>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        tx.prepare_cached("SELECT serial, data FROM memberships WHERE doc = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([doc.as_bytes()], |row| {
                    Ok(StoredMembership {
                        serial: non_negative(row.get(0)?),
                        bytes: row.get(1)?,
                    })
                })
                .optional()
            })
            .at(path)
    }

    fn documents_of(&self, account: AccountId) -> Result<Vec<MemberOf>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.id, d.owner FROM members m JOIN documents d ON d.id = m.doc
                  WHERE m.account = ?1 ORDER BY d.created_at_ms, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([account.as_bytes()], |row| {
                Ok(MemberOf {
                    doc: DocId(row.get(0)?),
                    owner: AccountId(row.get(1)?),
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn shares_document(&self, a: AccountId, b: AccountId) -> Result<bool, StoreError> {
        row_exists(
            &self.conn,
            &self.path,
            "SELECT 1 FROM members x JOIN members y ON y.doc = x.doc
              WHERE x.account = ?1 AND y.account = ?2",
            params![a.as_bytes(), b.as_bytes()],
        )
    }

    fn document(&self, doc: DocId) -> Result<Option<DocStats>, StoreError> {
        self.conn
            .prepare_cached(&format!("{DOC_STATS_SQL} WHERE d.id = ?1"))
            .and_then(|mut stmt| {
                stmt.query_row([doc.as_bytes()], doc_stats_from_row)
                    .optional()
            })
            .at(&self.path)
    }

    fn documents(&self) -> Result<Vec<DocStats>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{DOC_STATS_SQL} ORDER BY d.created_at_ms, d.id"))
            .at(path)?;
        let rows = stmt.query_map([], doc_stats_from_row).at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn delete_document(&mut self, doc: DocId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        for sql in [
            "DELETE FROM bundles WHERE doc = ?1",
            "DELETE FROM snapshot_uploads WHERE doc = ?1",
            "DELETE FROM snapshot_parts WHERE doc = ?1",
            "DELETE FROM snapshots WHERE doc = ?1",
            "DELETE FROM key_envelopes WHERE doc = ?1",
            "DELETE FROM memberships WHERE doc = ?1",
            "DELETE FROM members WHERE doc = ?1",
            "DELETE FROM documents WHERE id = ?1",
        ] {
            tx.execute(sql, [doc.as_bytes()]).at(path)?;
        }
        tx.execute(
            "INSERT INTO deleted_documents (id, deleted_at_ms) VALUES (?1, ?2)",
            params![doc.as_bytes(), now_ms],
        )
        .at(path)?;
        tx.commit().at(path)?;
        // secure_delete zeroed the freed content in the new page images; move them into the
        // database file and drop the old images from the log. The deletion is committed
        // whatever happens here: a checkpoint that cannot complete now (a backup is reading)
        // completes later.
        let _ = checkpoint_truncate(&self.conn, path);
        Ok(())
    }

    fn deleted_at(&self, doc: DocId) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached("SELECT deleted_at_ms FROM deleted_documents WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([doc.as_bytes()], |row| row.get(0))
                    .optional()
            })
            .at(&self.path)
    }

    fn put_key_envelope(
        &mut self,
        doc: DocId,
        epoch: u32,
        recipient: DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        require_document(&tx, path, doc)?;
        if !row_exists(
            &tx,
            path,
            "SELECT 1 FROM devices WHERE id = ?1",
            [recipient.as_bytes()],
        )? {
            return Err(StoreError::NotFound(Missing::Device(recipient)));
        }
        tx.execute(
            "INSERT INTO key_envelopes (doc, recipient, epoch, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (doc, recipient, epoch) DO UPDATE SET data = excluded.data",
            params![doc.as_bytes(), recipient.as_bytes(), epoch, envelope],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    fn key_envelopes(
        &self,
        doc: DocId,
        recipient: DeviceId,
    ) -> Result<Vec<KeyEnvelope>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT epoch, data FROM key_envelopes
                  WHERE doc = ?1 AND recipient = ?2 ORDER BY epoch",
            )
            .at(path)?;
        let rows = stmt
            .query_map(params![doc.as_bytes(), recipient.as_bytes()], |row| {
                Ok(KeyEnvelope {
                    epoch: row.get(0)?,
                    bytes: row.get(1)?,
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }
}
