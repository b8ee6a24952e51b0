//! Pairing mailboxes and the purge of expired invites and mailboxes on SQLite.

use super::*;

impl PairingStore for SqliteStore {
    fn put_pairing(
        &mut self,
        mailbox: Mailbox,
        payload: &[u8],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        check_pairing_expiry(now_ms, expires_at_ms)?;
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT expires_at_ms FROM pairings WHERE mailbox = ?1",
                [mailbox.as_bytes()],
                |row| row.get(0),
            )
            .optional()
            .at(path)?;
        if current.is_some_and(|expires| now_ms < expires) {
            return Err(StoreError::Conflict(Conflict::MailboxInUse));
        }
        tx.execute(
            "INSERT INTO pairings (mailbox, expires_at_ms, payload) VALUES (?1, ?2, ?3)
             ON CONFLICT (mailbox) DO UPDATE
                SET expires_at_ms = excluded.expires_at_ms, payload = excluded.payload",
            params![mailbox.as_bytes(), expires_at_ms, payload],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    fn take_pairing(
        &mut self,
        mailbox: Mailbox,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let Some(expires) = tx
            .query_row(
                "SELECT expires_at_ms FROM pairings WHERE mailbox = ?1",
                [mailbox.as_bytes()],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .at(path)?
        else {
            return Ok(None);
        };
        let payload = if now_ms < expires {
            Some(
                tx.query_row(
                    "SELECT payload FROM pairings WHERE mailbox = ?1",
                    [mailbox.as_bytes()],
                    |row| row.get(0),
                )
                .at(path)?,
            )
        } else {
            None
        };
        tx.execute(
            "DELETE FROM pairings WHERE mailbox = ?1",
            [mailbox.as_bytes()],
        )
        .at(path)?;
        tx.commit().at(path)?;
        Ok(payload)
    }

    fn purge_expired(&mut self, now_ms: i64) -> Result<Purged, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let pairings = tx
            .execute("DELETE FROM pairings WHERE expires_at_ms <= ?1", [now_ms])
            .at(path)?;
        let invites = tx
            .execute("DELETE FROM invites WHERE expires_at_ms <= ?1", [now_ms])
            .at(path)?;
        tx.commit().at(path)?;
        Ok(Purged {
            pairings: u64::try_from(pairings).unwrap_or(u64::MAX),
            invites: u64::try_from(invites).unwrap_or(u64::MAX),
        })
    }
}
