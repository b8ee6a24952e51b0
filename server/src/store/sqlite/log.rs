//! A document's log on SQLite: bundles, paging, snapshots in parts and compaction.

#[cfg(test)]
use super::batch::append_to_log;
use super::*;

/// Reads bundles of `doc` after `after`, at most `limit`, within `budget` bytes. With
/// `first_free`, the first bundle is returned whatever its size.
pub(super) fn read_bundles(
    conn: &Connection,
    path: &Path,
    doc: DocId,
    after: Seq,
    limit: usize,
    budget: usize,
    first_free: bool,
) -> Result<Vec<Bundle>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, length(data), data FROM bundles
              WHERE doc = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .at(path)?;
    let mut rows = stmt
        .query(params![
            doc.as_bytes(),
            seq_to_sql(after),
            limit_to_sql(limit)
        ])
        .at(path)?;
    let mut used: usize = 0;
    while let Some(row) = rows.next().at(path)? {
        let len: i64 = row.get(1).at(path)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let fits = used.checked_add(len).is_some_and(|total| total <= budget);
        let oversized_first = first_free && out.is_empty();
        if !(fits || oversized_first) {
            break;
        }
        // Only now is the blob itself read.
        out.push(Bundle {
            seq: seq_at(row, 0).at(path)?,
            bytes: row.get(2).at(path)?,
        });
        used = used.saturating_add(len);
    }
    Ok(out)
}

/// Reads the snapshot of `doc` (which must exist), if any.
pub(super) fn read_snapshot(
    conn: &Connection,
    path: &Path,
    doc: DocId,
) -> Result<Option<Snapshot>, StoreError> {
    let Some((covers, first)) = conn
        .prepare_cached("SELECT covers, data FROM snapshots WHERE doc = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([doc.as_bytes()], |row| Ok((seq_at(row, 0)?, row.get(1)?)))
                .optional()
        })
        .at(path)?
    else {
        return Ok(None);
    };
    let mut parts = vec![first];
    let mut stmt = conn
        .prepare_cached("SELECT data FROM snapshot_parts WHERE doc = ?1 ORDER BY part")
        .at(path)?;
    let rest = stmt
        .query_map([doc.as_bytes()], |row| row.get(0))
        .at(path)?;
    for part in rest {
        parts.push(part.at(path)?);
    }
    Ok(Some(Snapshot { covers, parts }))
}

/// The parts `upload.uploader` staged for `doc`, in order, if they are exactly parts
/// `0..part` of the same upload; otherwise the part does not continue it.
pub(super) fn staged_parts(
    tx: &Transaction<'_>,
    path: &Path,
    doc: DocId,
    upload: SnapshotUpload,
    part: u32,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT part, covers, parts, data FROM snapshot_uploads
              WHERE doc = ?1 AND uploader = ?2 ORDER BY part",
        )
        .at(path)?;
    let rows = stmt
        .query_map(params![doc.as_bytes(), upload.uploader.as_bytes()], |row| {
            Ok((
                row.get::<_, u32>(0)?,
                seq_at(row, 1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })
        .at(path)?;
    let mut staged = Vec::new();
    let mut same_upload = true;
    for row in rows {
        let (number, covers, parts, data) = row.at(path)?;
        same_upload &= usize::try_from(number).is_ok_and(|n| n == staged.len())
            && covers == upload.covers
            && parts == upload.parts;
        staged.push(data);
    }
    let next = u32::try_from(staged.len()).ok();
    if same_upload && next == Some(part) {
        return Ok(staged);
    }
    Err(StoreError::SnapshotPartOutOfOrder {
        doc,
        part,
        expected: next.filter(|_| same_upload && !staged.is_empty()),
    })
}

/// Makes `parts` the snapshot of `doc` covering `covers`: replaces the stored one, drops every
/// upload staged for the document and the bundles the snapshot covers.
pub(super) fn store_snapshot(
    tx: &Transaction<'_>,
    path: &Path,
    doc: DocId,
    covers: Seq,
    parts: &[Vec<u8>],
) -> Result<(), StoreError> {
    let Some((first, rest)) = parts.split_first() else {
        return Err(StoreError::Invalid("a snapshot has at least one part"));
    };
    for sql in [
        "DELETE FROM snapshot_parts WHERE doc = ?1",
        "DELETE FROM snapshot_uploads WHERE doc = ?1",
    ] {
        tx.execute(sql, [doc.as_bytes()]).at(path)?;
    }
    tx.execute(
        "INSERT INTO snapshots (doc, covers, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (doc) DO UPDATE SET covers = excluded.covers, data = excluded.data",
        params![doc.as_bytes(), seq_to_sql(covers), first],
    )
    .at(path)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO snapshot_parts (doc, part, data) VALUES (?1, ?2, ?3)")
        .at(path)?;
    for (part, data) in (1_u32..).zip(rest) {
        insert
            .execute(params![doc.as_bytes(), part, data])
            .at(path)?;
    }
    tx.execute(
        "DELETE FROM bundles WHERE doc = ?1 AND seq <= ?2",
        params![doc.as_bytes(), seq_to_sql(covers)],
    )
    .at(path)?;
    Ok(())
}

/// Reads what the snapshot of `doc` covers and its size, without reading the snapshot.
pub(super) fn snapshot_position(
    conn: &Connection,
    path: &Path,
    doc: DocId,
) -> Result<Option<(Seq, usize)>, StoreError> {
    conn.prepare_cached(
        "SELECT covers, length(data)
                + (SELECT coalesce(sum(length(p.data)), 0) FROM snapshot_parts p WHERE p.doc = ?1)
           FROM snapshots WHERE doc = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([doc.as_bytes()], |row| {
            let len: i64 = row.get(1)?;
            Ok((seq_at(row, 0)?, usize::try_from(len).unwrap_or(usize::MAX)))
        })
        .optional()
    })
    .at(path)
}

impl LogStore for SqliteStore {
    #[cfg(test)]
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let seq = append_to_log(&tx, path, doc, bundle, now_ms)?;
        tx.commit().at(path)?;
        Ok(seq)
    }

    fn bundles_since(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bundle>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        read_bundles(&tx, path, doc, since, limit, max_bytes, true)
    }

    fn read_log(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let head = require_document(&tx, path, doc)?;
        let snapshot = match snapshot_position(&tx, path, doc)? {
            Some((covers, _)) if since < covers => read_snapshot(&tx, path, doc)?,
            _ => None,
        };
        let (after, budget) = match &snapshot {
            Some(snapshot) => (snapshot.covers, max_bytes.saturating_sub(snapshot.len())),
            None => (since, max_bytes),
        };
        let bundles = read_bundles(&tx, path, doc, after, limit, budget, snapshot.is_none())?;
        Ok(LogPage {
            snapshot,
            bundles,
            head,
        })
    }

    fn head(&self, doc: DocId) -> Result<Seq, StoreError> {
        require_document(&self.conn, &self.path, doc)
    }

    fn put_snapshot_part(
        &mut self,
        doc: DocId,
        upload: SnapshotUpload,
        part: u32,
        bytes: &[u8],
    ) -> Result<SnapshotProgress, StoreError> {
        let SnapshotUpload {
            uploader,
            covers,
            parts,
        } = upload;
        if covers == Seq::ZERO {
            return Err(StoreError::Invalid(
                "a snapshot must cover at least one bundle",
            ));
        }
        if part >= parts {
            return Err(StoreError::Invalid(
                "a snapshot's part number must be below its number of parts",
            ));
        }
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let head = require_document(&tx, path, doc)?;
        if covers > head {
            return Err(StoreError::SnapshotBeyondHead { doc, covers, head });
        }
        if let Some((current, _)) = snapshot_position(&tx, path, doc)? {
            if covers < current {
                return Err(StoreError::SnapshotOutdated {
                    doc,
                    covers,
                    current,
                });
            }
        }
        let mut staged = if part == 0 {
            tx.execute(
                "DELETE FROM snapshot_uploads WHERE doc = ?1 AND uploader = ?2",
                params![doc.as_bytes(), uploader.as_bytes()],
            )
            .at(path)?;
            Vec::new()
        } else {
            staged_parts(&tx, path, doc, upload, part)?
        };
        if part + 1 < parts {
            tx.execute(
                "INSERT INTO snapshot_uploads (doc, uploader, part, covers, parts, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    doc.as_bytes(),
                    uploader.as_bytes(),
                    part,
                    seq_to_sql(covers),
                    parts,
                    bytes
                ],
            )
            .at(path)?;
            tx.commit().at(path)?;
            return Ok(SnapshotProgress::Staged);
        }
        staged.push(bytes.to_vec());
        store_snapshot(&tx, path, doc, covers, &staged)?;
        tx.commit().at(path)?;
        Ok(SnapshotProgress::Stored)
    }

    #[cfg(test)]
    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        require_document(&tx, path, doc)?;
        read_snapshot(&tx, path, doc)
    }
}
