//! Documents, their members, signed membership lists and key envelopes, and deleting a
//! document for good (its rows; the `VACUUM` after the commit is the store's, see the parent
//! module).

use postgres::Row;

use super::accounts::require_account;
use super::sql::{big, bytes, non_negative, optional_seq_at, seq_at, Sql};
use crate::store::{
    AccountId, Conflict, DeviceId, DocId, DocStats, KeyEnvelope, MemberOf, Missing, Seq,
    StoreError, StoredMembership,
};

/// Fails with [`Missing::Document`] unless `doc` exists; returns its head.
pub(super) fn require_document(sql: &mut Sql<'_>, doc: DocId) -> Result<Seq, StoreError> {
    sql.row(
        "SELECT head FROM documents WHERE id = $1",
        &[&doc.as_bytes().as_slice()],
        |row| seq_at(row, 0),
    )?
    .ok_or(StoreError::NotFound(Missing::Document(doc)))
}

/// Fails with [`Missing::Document`] unless `doc` exists; returns its owner.
fn owner_of(sql: &mut Sql<'_>, doc: DocId) -> Result<AccountId, StoreError> {
    sql.row(
        "SELECT owner FROM documents WHERE id = $1",
        &[&doc.as_bytes().as_slice()],
        |row| bytes(row, 0).map(AccountId),
    )?
    .ok_or(StoreError::NotFound(Missing::Document(doc)))
}

/// Creates an empty document with its owner as first member, refusing a taken or retired id.
pub(super) fn create_document(
    sql: &mut Sql<'_>,
    doc: DocId,
    owner: AccountId,
    now_ms: i64,
) -> Result<(), StoreError> {
    let id = doc.as_bytes().as_slice();
    if sql.exists("SELECT 1 FROM deleted_documents WHERE id = $1", &[&id])? {
        return Err(StoreError::Conflict(Conflict::DocumentDeleted(doc)));
    }
    if sql.exists("SELECT 1 FROM documents WHERE id = $1", &[&id])? {
        return Err(StoreError::Conflict(Conflict::DocumentExists(doc)));
    }
    require_account(sql, owner)?;
    let owner = owner.as_bytes().as_slice();
    sql.execute(
        "INSERT INTO documents (id, owner, created_at_ms, head) VALUES ($1, $2, $3, 0)",
        &[&id, &owner, &now_ms],
    )?;
    sql.execute(
        "INSERT INTO members (doc, account) VALUES ($1, $2)",
        &[&id, &owner],
    )?;
    Ok(())
}

/// Makes `account` a member of `doc`; false if it already was.
#[cfg(test)]
pub(super) fn add_member(
    sql: &mut Sql<'_>,
    doc: DocId,
    account: AccountId,
) -> Result<bool, StoreError> {
    require_document(sql, doc)?;
    require_account(sql, account)?;
    let added = sql.execute(
        "INSERT INTO members (doc, account) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&doc.as_bytes().as_slice(), &account.as_bytes().as_slice()],
    )?;
    Ok(added > 0)
}

/// Removes `account` from `doc`'s members (never the owner); false if it was not one.
pub(super) fn remove_member(
    sql: &mut Sql<'_>,
    doc: DocId,
    account: AccountId,
) -> Result<bool, StoreError> {
    if owner_of(sql, doc)? == account {
        return Err(StoreError::Conflict(Conflict::OwnerIsAlwaysMember));
    }
    let removed = sql.execute(
        "DELETE FROM members WHERE doc = $1 AND account = $2",
        &[&doc.as_bytes().as_slice(), &account.as_bytes().as_slice()],
    )?;
    Ok(removed > 0)
}

/// Whether `account` is a member of `doc`.
pub(super) fn is_member(
    sql: &mut Sql<'_>,
    doc: DocId,
    account: AccountId,
) -> Result<bool, StoreError> {
    sql.exists(
        "SELECT 1 FROM members WHERE doc = $1 AND account = $2",
        &[&doc.as_bytes().as_slice(), &account.as_bytes().as_slice()],
    )
}

/// The members of `doc` (which must exist), by id.
pub(super) fn members(sql: &mut Sql<'_>, doc: DocId) -> Result<Vec<AccountId>, StoreError> {
    require_document(sql, doc)?;
    sql.rows(
        "SELECT account FROM members WHERE doc = $1 ORDER BY account",
        &[&doc.as_bytes().as_slice()],
        |row| bytes(row, 0).map(AccountId),
    )
}

/// Stores a signed membership list and makes its accounts (and the owner) exactly the members;
/// returns the accounts that left. Refusals come before any change.
pub(super) fn put_membership(
    sql: &mut Sql<'_>,
    doc: DocId,
    serial: u64,
    bytes: &[u8],
    members: &[AccountId],
) -> Result<Vec<AccountId>, StoreError> {
    let serial_sql = i64::try_from(serial)
        .map_err(|_| StoreError::Invalid("a membership serial is at most 2^63 - 1"))?;
    let id = doc.as_bytes().as_slice();
    let owner = owner_of(sql, doc)?;
    let stored: Option<i64> = sql.value("SELECT serial FROM memberships WHERE doc = $1", &[&id])?;
    if let Some(stored) = stored.filter(|&stored| serial_sql <= stored) {
        return Err(StoreError::Conflict(Conflict::MembershipSerial {
            stored: non_negative(stored),
            given: serial,
        }));
    }
    for &member in members {
        require_account(sql, member)?;
    }
    let before = self::members(sql, doc)?;
    sql.execute("DELETE FROM members WHERE doc = $1", &[&id])?;
    for account in std::iter::once(&owner).chain(members) {
        sql.execute(
            "INSERT INTO members (doc, account) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, &account.as_bytes().as_slice()],
        )?;
    }
    sql.execute(
        "INSERT INTO memberships (doc, serial, data) VALUES ($1, $2, $3)
         ON CONFLICT (doc) DO UPDATE SET serial = excluded.serial, data = excluded.data",
        &[&id, &serial_sql, &bytes],
    )?;
    Ok(before
        .into_iter()
        .filter(|account| *account != owner && !members.contains(account))
        .collect())
}

/// `doc`'s stored membership list, if any (the document must exist).
pub(super) fn membership(
    sql: &mut Sql<'_>,
    doc: DocId,
) -> Result<Option<StoredMembership>, StoreError> {
    require_document(sql, doc)?;
    sql.row(
        "SELECT serial, data FROM memberships WHERE doc = $1",
        &[&doc.as_bytes().as_slice()],
        |row| {
            Ok(StoredMembership {
                serial: non_negative(row.try_get(0)?),
                bytes: row.try_get(1)?,
            })
        },
    )
}

/// Every document `account` is a member of, with its owner, oldest first.
pub(super) fn documents_of(
    sql: &mut Sql<'_>,
    account: AccountId,
) -> Result<Vec<MemberOf>, StoreError> {
    sql.rows(
        "SELECT d.id, d.owner FROM members m JOIN documents d ON d.id = m.doc
          WHERE m.account = $1 ORDER BY d.created_at_ms, d.id",
        &[&account.as_bytes().as_slice()],
        |row| {
            Ok(MemberOf {
                doc: DocId(bytes(row, 0)?),
                owner: AccountId(bytes(row, 1)?),
            })
        },
    )
}

/// Whether accounts `a` and `b` are both members of some document.
pub(super) fn shares_document(
    sql: &mut Sql<'_>,
    a: AccountId,
    b: AccountId,
) -> Result<bool, StoreError> {
    sql.exists(
        "SELECT 1 FROM members x JOIN members y ON y.doc = x.doc
          WHERE x.account = $1 AND y.account = $2",
        &[&a.as_bytes().as_slice(), &b.as_bytes().as_slice()],
    )
}

/// The query behind [`DocStats`]; callers append a `WHERE` and an `ORDER BY`. A document's
/// bytes count its snapshot, all its parts, and parts staged for the next one.
const DOC_STATS_SQL: &str = "
SELECT d.id, d.owner, d.created_at_ms, d.head, s.covers,
       coalesce(octet_length(s.data), 0)::bigint
         + (SELECT coalesce(sum(octet_length(p.data)), 0)::bigint
              FROM snapshot_parts p WHERE p.doc = d.id)
         + (SELECT coalesce(sum(octet_length(u.data)), 0)::bigint
              FROM snapshot_uploads u WHERE u.doc = d.id),
       (SELECT count(*) FROM bundles b WHERE b.doc = d.id),
       (SELECT coalesce(sum(octet_length(b.data)), 0)::bigint FROM bundles b WHERE b.doc = d.id)
  FROM documents d LEFT JOIN snapshots s ON s.doc = d.id";

/// Reads a row of [`DOC_STATS_SQL`].
fn doc_stats_from_row(row: &Row) -> Result<DocStats, postgres::Error> {
    let snapshot_bytes: i64 = row.try_get(5)?;
    let bundle_bytes: i64 = row.try_get(7)?;
    Ok(DocStats {
        doc: DocId(bytes(row, 0)?),
        owner: AccountId(bytes(row, 1)?),
        created_at_ms: row.try_get(2)?,
        head: seq_at(row, 3)?,
        snapshot_covers: optional_seq_at(row, 4)?,
        bundles: non_negative(row.try_get(6)?),
        bytes: non_negative(snapshot_bytes).saturating_add(non_negative(bundle_bytes)),
    })
}

/// Sizes and positions of one document, if it exists.
pub(super) fn document(sql: &mut Sql<'_>, doc: DocId) -> Result<Option<DocStats>, StoreError> {
    sql.row(
        &format!("{DOC_STATS_SQL} WHERE d.id = $1"),
        &[&doc.as_bytes().as_slice()],
        doc_stats_from_row,
    )
}

/// Sizes and positions of every document, oldest first.
pub(super) fn documents(sql: &mut Sql<'_>) -> Result<Vec<DocStats>, StoreError> {
    sql.rows(
        &format!("{DOC_STATS_SQL} ORDER BY d.created_at_ms, d.id"),
        &[],
        doc_stats_from_row,
    )
}

/// Deletes every row of `doc` and retires its id.
pub(super) fn delete_document(
    sql: &mut Sql<'_>,
    doc: DocId,
    now_ms: i64,
) -> Result<(), StoreError> {
    require_document(sql, doc)?;
    let id = doc.as_bytes().as_slice();
    for statement in [
        "DELETE FROM bundles WHERE doc = $1",
        "DELETE FROM snapshot_uploads WHERE doc = $1",
        "DELETE FROM snapshot_parts WHERE doc = $1",
        "DELETE FROM snapshots WHERE doc = $1",
        "DELETE FROM key_envelopes WHERE doc = $1",
        "DELETE FROM memberships WHERE doc = $1",
        "DELETE FROM members WHERE doc = $1",
        "DELETE FROM documents WHERE id = $1",
    ] {
        sql.execute(statement, &[&id])?;
    }
    sql.execute(
        "INSERT INTO deleted_documents (id, deleted_at_ms) VALUES ($1, $2)",
        &[&id, &now_ms],
    )?;
    Ok(())
}

/// When `doc` was deleted, if it was.
pub(super) fn deleted_at(sql: &mut Sql<'_>, doc: DocId) -> Result<Option<i64>, StoreError> {
    sql.value(
        "SELECT deleted_at_ms FROM deleted_documents WHERE id = $1",
        &[&doc.as_bytes().as_slice()],
    )
}

/// Stores (or replaces) the envelope of `doc`'s key for `epoch` wrapped for `recipient`.
pub(super) fn put_key_envelope(
    sql: &mut Sql<'_>,
    doc: DocId,
    epoch: u32,
    recipient: DeviceId,
    envelope: &[u8],
) -> Result<(), StoreError> {
    require_document(sql, doc)?;
    let recipient_id = recipient.as_bytes().as_slice();
    if !sql.exists("SELECT 1 FROM devices WHERE id = $1", &[&recipient_id])? {
        return Err(StoreError::NotFound(Missing::Device(recipient)));
    }
    sql.execute(
        "INSERT INTO key_envelopes (doc, recipient, epoch, data) VALUES ($1, $2, $3, $4)
         ON CONFLICT (doc, recipient, epoch) DO UPDATE SET data = excluded.data",
        &[
            &doc.as_bytes().as_slice(),
            &recipient_id,
            &big(epoch),
            &envelope,
        ],
    )?;
    Ok(())
}

/// Every envelope of `doc` (which must exist) for `recipient`, by epoch.
pub(super) fn key_envelopes(
    sql: &mut Sql<'_>,
    doc: DocId,
    recipient: DeviceId,
) -> Result<Vec<KeyEnvelope>, StoreError> {
    require_document(sql, doc)?;
    let rows = sql.rows(
        "SELECT epoch, data FROM key_envelopes
          WHERE doc = $1 AND recipient = $2 ORDER BY epoch",
        &[&doc.as_bytes().as_slice(), &recipient.as_bytes().as_slice()],
        |row| Ok((row.try_get::<_, i64>(0)?, row.try_get(1)?)),
    )?;
    rows.into_iter()
        .map(|(epoch, bytes)| {
            let epoch = u32::try_from(epoch)
                .map_err(|_| StoreError::Invalid("a stored key epoch is out of range"))?;
            Ok(KeyEnvelope { epoch, bytes })
        })
        .collect()
}
