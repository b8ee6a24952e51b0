//! A document's log: appending bundles, reading pages of it within a byte budget, and
//! snapshots (staged part by part, stored whole with the compaction they allow).

use super::documents::require_document;
use super::notice::{self, Instance};
use super::sql::{big, seq, seq_at, Sql};
use crate::store::{
    Bundle, DocId, LogPage, Seq, Snapshot, SnapshotProgress, SnapshotUpload, StoreError,
};

/// Appends `bundle` to `doc`'s log with the next sequence number, and tells the other relays on
/// the database ([`notice`]). The write lock makes the head's increment and the insert one step
/// for every writer; the three go in one statement, one round trip (a push costs one per
/// statement on the storage thread), so the notice's payload ends with the position the
/// statement assigns.
pub(super) fn append_to_log(
    sql: &mut Sql<'_>,
    doc: DocId,
    bundle: &[u8],
    now_ms: i64,
) -> Result<Seq, StoreError> {
    let id = doc.as_bytes().as_slice();
    let prefix = notice::appended_prefix(Instance::this_process(), &doc);
    let next = sql
        .row(
            "WITH head AS (UPDATE documents SET head = head + 1 WHERE id = $1 RETURNING head),
                  stored AS (INSERT INTO bundles (doc, seq, appended_at_ms, data)
                             SELECT $1, head, $2, $3 FROM head RETURNING seq),
                  told AS (SELECT pg_notify($4::text, $5::text || seq::text) FROM stored)
             SELECT seq FROM stored, told",
            &[&id, &now_ms, &bundle, &notice::CHANNEL, &prefix],
            |row| seq_at(row, 0),
        )?
        .ok_or(StoreError::NotFound(crate::store::Missing::Document(doc)))?;
    Ok(next)
}

/// Bundles of `doc` after `after`, at most `limit`, in order, while their running total stays
/// within `budget` bytes; with `first_free`, the first is returned whatever its size. The
/// running total is computed by the server from the sizes alone, so bundles past the budget
/// are never sent.
pub(super) fn read_bundles(
    sql: &mut Sql<'_>,
    doc: DocId,
    after: Seq,
    limit: usize,
    budget: usize,
    first_free: bool,
) -> Result<Vec<Bundle>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    sql.rows(
        "SELECT seq, data FROM (
             SELECT seq, data,
                    row_number() OVER by_seq AS position,
                    sum(octet_length(data)) OVER by_seq AS running
               FROM (SELECT seq, data FROM bundles
                      WHERE doc = $1 AND seq > $2 ORDER BY seq LIMIT $3) next
             WINDOW by_seq AS (ORDER BY seq)
         ) page
          WHERE running <= $4 OR (position = 1 AND $5)
          ORDER BY seq",
        &[
            &doc.as_bytes().as_slice(),
            &seq(after),
            &big(limit),
            &big(budget),
            &first_free,
        ],
        |row| {
            Ok(Bundle {
                seq: seq_at(row, 0)?,
                bytes: row.try_get(1)?,
            })
        },
    )
}

/// What a device at `since` needs (see [`RelayStore::read_log`](crate::store::RelayStore)).
pub(super) fn read_log(
    sql: &mut Sql<'_>,
    doc: DocId,
    since: Seq,
    limit: usize,
    max_bytes: usize,
) -> Result<LogPage, StoreError> {
    let head = require_document(sql, doc)?;
    let snapshot = match snapshot_position(sql, doc)? {
        Some((covers, _)) if since < covers => read_snapshot(sql, doc)?,
        _ => None,
    };
    let (after, budget) = match &snapshot {
        Some(snapshot) => (snapshot.covers, max_bytes.saturating_sub(snapshot.len())),
        None => (since, max_bytes),
    };
    let bundles = read_bundles(sql, doc, after, limit, budget, snapshot.is_none())?;
    Ok(LogPage {
        snapshot,
        bundles,
        head,
    })
}

/// What the snapshot of `doc` covers and its size, without reading the snapshot.
fn snapshot_position(sql: &mut Sql<'_>, doc: DocId) -> Result<Option<(Seq, usize)>, StoreError> {
    let found: Option<(Seq, i64)> = sql.row(
        "SELECT covers, octet_length(data)::bigint
                + (SELECT coalesce(sum(octet_length(p.data)), 0)::bigint
                     FROM snapshot_parts p WHERE p.doc = $1)
           FROM snapshots WHERE doc = $1",
        &[&doc.as_bytes().as_slice()],
        |row| Ok((seq_at(row, 0)?, row.try_get(1)?)),
    )?;
    Ok(found.map(|(covers, len)| (covers, usize::try_from(len).unwrap_or(usize::MAX))))
}

/// The snapshot of `doc` (which must exist), if any, all its parts in order.
pub(super) fn read_snapshot(sql: &mut Sql<'_>, doc: DocId) -> Result<Option<Snapshot>, StoreError> {
    let id = doc.as_bytes().as_slice();
    let Some((covers, first)) = sql.row(
        "SELECT covers, data FROM snapshots WHERE doc = $1",
        &[&id],
        |row| Ok((seq_at(row, 0)?, row.try_get::<_, Vec<u8>>(1)?)),
    )?
    else {
        return Ok(None);
    };
    let mut parts = vec![first];
    parts.extend(sql.rows(
        "SELECT data FROM snapshot_parts WHERE doc = $1 ORDER BY part",
        &[&id],
        |row| row.try_get(0),
    )?);
    Ok(Some(Snapshot { covers, parts }))
}

/// The parts `upload.uploader` staged for `doc`, in order, if they are exactly parts `0..part`
/// of the same upload; otherwise the part does not continue it.
fn staged_parts(
    sql: &mut Sql<'_>,
    doc: DocId,
    upload: SnapshotUpload,
    part: u32,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows: Vec<(i64, Seq, i64, Vec<u8>)> = sql.rows(
        "SELECT part, covers, parts, data FROM snapshot_uploads
          WHERE doc = $1 AND uploader = $2 ORDER BY part",
        &[
            &doc.as_bytes().as_slice(),
            &upload.uploader.as_bytes().as_slice(),
        ],
        |row| {
            Ok((
                row.try_get(0)?,
                seq_at(row, 1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        },
    )?;
    let mut staged = Vec::with_capacity(rows.len());
    let mut same_upload = true;
    for (number, covers, parts, data) in rows {
        same_upload &= usize::try_from(number).is_ok_and(|n| n == staged.len())
            && covers == upload.covers
            && parts == i64::from(upload.parts);
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
fn store_snapshot(
    sql: &mut Sql<'_>,
    doc: DocId,
    covers: Seq,
    parts: &[Vec<u8>],
) -> Result<(), StoreError> {
    let Some((first, rest)) = parts.split_first() else {
        return Err(StoreError::Invalid("a snapshot has at least one part"));
    };
    let id = doc.as_bytes().as_slice();
    sql.execute("DELETE FROM snapshot_parts WHERE doc = $1", &[&id])?;
    sql.execute("DELETE FROM snapshot_uploads WHERE doc = $1", &[&id])?;
    sql.execute(
        "INSERT INTO snapshots (doc, covers, data) VALUES ($1, $2, $3)
         ON CONFLICT (doc) DO UPDATE SET covers = excluded.covers, data = excluded.data",
        &[&id, &seq(covers), first],
    )?;
    for (part, data) in (1_i64..).zip(rest) {
        sql.execute(
            "INSERT INTO snapshot_parts (doc, part, data) VALUES ($1, $2, $3)",
            &[&id, &part, data],
        )?;
    }
    sql.execute(
        "DELETE FROM bundles WHERE doc = $1 AND seq <= $2",
        &[&id, &seq(covers)],
    )?;
    Ok(())
}

/// Checks what a snapshot part claims before anything is written: a snapshot covers at least
/// bundle 1, and the part number is below the number of parts.
pub(super) fn check_snapshot_part(upload: SnapshotUpload, part: u32) -> Result<(), StoreError> {
    if upload.covers == Seq::ZERO {
        return Err(StoreError::Invalid(
            "a snapshot must cover at least one bundle",
        ));
    }
    if part >= upload.parts {
        return Err(StoreError::Invalid(
            "a snapshot's part number must be below its number of parts",
        ));
    }
    Ok(())
}

/// Stages or stores one part of a snapshot (see
/// [`RelayStore::put_snapshot_part`](crate::store::RelayStore::put_snapshot_part)); the caller
/// checked it with [`check_snapshot_part`].
pub(super) fn put_snapshot_part(
    sql: &mut Sql<'_>,
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
    let head = require_document(sql, doc)?;
    if covers > head {
        return Err(StoreError::SnapshotBeyondHead { doc, covers, head });
    }
    if let Some((current, _)) = snapshot_position(sql, doc)? {
        if covers < current {
            return Err(StoreError::SnapshotOutdated {
                doc,
                covers,
                current,
            });
        }
    }
    let id = doc.as_bytes().as_slice();
    let uploader = uploader.as_bytes().as_slice();
    let mut staged = if part == 0 {
        sql.execute(
            "DELETE FROM snapshot_uploads WHERE doc = $1 AND uploader = $2",
            &[&id, &uploader],
        )?;
        Vec::new()
    } else {
        staged_parts(sql, doc, upload, part)?
    };
    if part.saturating_add(1) < parts {
        sql.execute(
            "INSERT INTO snapshot_uploads (doc, uploader, part, covers, parts, data)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &uploader,
                &i64::from(part),
                &seq(covers),
                &i64::from(parts),
                &bytes,
            ],
        )?;
        return Ok(SnapshotProgress::Staged);
    }
    staged.push(bytes.to_vec());
    store_snapshot(sql, doc, covers, &staged)?;
    Ok(SnapshotProgress::Stored)
}
