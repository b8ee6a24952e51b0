//! Pairing mailboxes: a payload left for one pickup until it expires.

use super::sql::Sql;
use crate::store::{Conflict, Mailbox, StoreError};

/// Leaves `payload` in `mailbox` until `expires_at_ms`, refusing a mailbox with an unexpired
/// payload (an expired one is replaced). The caller checked that it is not already expired.
pub(super) fn put_pairing(
    sql: &mut Sql<'_>,
    mailbox: Mailbox,
    payload: &[u8],
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<(), StoreError> {
    let id = mailbox.as_bytes().as_slice();
    let current: Option<i64> = sql.value(
        "SELECT expires_at_ms FROM pairings WHERE mailbox = $1",
        &[&id],
    )?;
    if current.is_some_and(|expires| now_ms < expires) {
        return Err(StoreError::Conflict(Conflict::MailboxInUse));
    }
    sql.execute(
        "INSERT INTO pairings (mailbox, expires_at_ms, payload) VALUES ($1, $2, $3)
         ON CONFLICT (mailbox) DO UPDATE
            SET expires_at_ms = excluded.expires_at_ms, payload = excluded.payload",
        &[&id, &expires_at_ms, &payload],
    )?;
    Ok(())
}

/// Takes the payload out of `mailbox`, deleting it; an expired payload is deleted unread and
/// `None` returned.
pub(super) fn take_pairing(
    sql: &mut Sql<'_>,
    mailbox: Mailbox,
    now_ms: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    // The payload is read (and sent) only if it has not expired.
    sql.value(
        "DELETE FROM pairings WHERE mailbox = $1
         RETURNING CASE WHEN $2 < expires_at_ms THEN payload END",
        &[&mailbox.as_bytes().as_slice(), &now_ms],
    )
    .map(Option::flatten)
}

/// Deletes expired pairing payloads; returns how many.
pub(super) fn purge_expired_pairings(sql: &mut Sql<'_>, now_ms: i64) -> Result<u64, StoreError> {
    sql.execute("DELETE FROM pairings WHERE expires_at_ms <= $1", &[&now_ms])
}
