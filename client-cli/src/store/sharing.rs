//! Sharing a document with another person: its signed membership list, the other members'
//! devices, which devices each epoch key was wrapped for, documents received, and when
//! sharing ended.

use std::collections::{HashMap, HashSet};

use between_shared::protocol::{AccountId, DeviceId, DocId};
use between_sqlite_file::AtPath;
use rusqlite::{params, Connection, OptionalExtension};

use super::ids::Hex;
use super::sync_state::insert_sync_record;
use super::{
    begin_write, by_document, generation_of, insert_document_row, NewDocument, Seen, Store,
    StoreError,
};

impl Store {
    /// Stops syncing a document (its owner removed this account, or this account ended the
    /// sharing: `ended_by_us`): its sync state goes, the homework stays readable on this device,
    /// and when it ended is kept (the first time counts).
    pub(crate) fn stop_syncing(
        &mut self,
        id: DocId,
        at_ms: i64,
        ended_by_us: bool,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute(
            "DELETE FROM sync_documents WHERE document_id = ?1",
            [Hex(id)],
        )
        .at(path)?;
        note_ended(&tx, id, at_ms, ended_by_us).at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Records that sharing a document this device still syncs ended (the owner removed the
    /// other members); the first time counts.
    pub(crate) fn note_sharing_ended(
        &mut self,
        id: DocId,
        at_ms: i64,
        ended_by_us: bool,
    ) -> Result<(), StoreError> {
        Ok(note_ended(&self.conn, id, at_ms, ended_by_us).at(&self.path)?)
    }

    /// Documents whose sharing ended on this device: id → (when, in Unix milliseconds; whether
    /// this account ended it).
    pub(crate) fn sharing_ended(&self) -> Result<HashMap<DocId, (i64, bool)>, StoreError> {
        by_document(
            &self.conn,
            &self.path,
            "SELECT document_id, at_ms, by_us FROM sharing_ended",
        )
    }

    /// The latest membership list accepted for a document (its `SignedMembership` bytes).
    pub(crate) fn membership(&self, id: DocId) -> Result<Option<Vec<u8>>, StoreError> {
        let path = &self.path;
        Ok(self
            .conn
            .query_row(
                "SELECT list FROM memberships WHERE document_id = ?1",
                [Hex(id)],
                |row| row.get(0),
            )
            .optional()
            .at(path)?)
    }

    /// Keeps a membership list the caller has verified (signature, owner, serial growing).
    pub(crate) fn save_membership(
        &mut self,
        id: DocId,
        serial: u64,
        list: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let serial = stored_serial(path, serial)?;
        self.conn
            .execute(
                "INSERT INTO memberships (document_id, serial, list) VALUES (?1, ?2, ?3)
                 ON CONFLICT (document_id) DO UPDATE SET serial = excluded.serial, list = excluded.list",
                params![Hex(id), serial, list],
            )
            .at(path)?;
        Ok(())
    }

    /// Other people's devices (certificates as the relay gave them; check them against a
    /// document's membership before trusting them).
    pub(crate) fn peer_devices(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT certificate FROM peer_devices ORDER BY device_id")
            .at(path)?;
        let rows = stmt.query_map([], |row| row.get(0)).at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Replaces what is known of another account's devices with `certificates` (device id,
    /// certificate bytes), in one transaction.
    pub(crate) fn record_peer_devices(
        &mut self,
        account: AccountId,
        certificates: &[(DeviceId, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute(
            "DELETE FROM peer_devices WHERE account_id = ?1",
            [account.as_bytes().as_slice()],
        )
        .at(path)?;
        for (device, certificate) in certificates {
            tx.execute(
                "INSERT OR REPLACE INTO peer_devices (device_id, account_id, certificate)
                 VALUES (?1, ?2, ?3)",
                params![Hex(device), account.as_bytes().as_slice(), certificate],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// The devices this device has wrapped `epoch`'s key of a document for.
    pub(crate) fn wrapped_for(
        &self,
        id: DocId,
        epoch: u32,
    ) -> Result<HashSet<DeviceId>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare("SELECT device_id FROM wrapped_keys WHERE document_id = ?1 AND epoch = ?2")
            .at(path)?;
        let rows = stmt
            .query_map(params![Hex(id), epoch], |row| {
                Ok(row.get::<_, Hex<DeviceId>>(0)?.0)
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<HashSet<_>>>().at(path)?)
    }

    /// Records that the relay stored `epoch`'s key of a document wrapped for `devices`.
    pub(crate) fn record_wrapped(
        &mut self,
        id: DocId,
        epoch: u32,
        devices: &[DeviceId],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        for device in devices {
            tx.execute(
                "INSERT OR IGNORE INTO wrapped_keys (document_id, epoch, device_id) VALUES (?1, ?2, ?3)",
                params![Hex(id), epoch, Hex(device)],
            )
            .at(path)?;
        }
        Ok(tx.commit().at(path)?)
    }

    /// Adds a document shared with this profile by its owner: an empty document that fills on
    /// the next sync, its sync state (on the relay already) with the epoch keys this device
    /// unwrapped, and the verified membership list — in one transaction.
    pub(crate) fn add_received_document(
        &mut self,
        doc: &NewDocument,
        serial: u64,
        membership: &[u8],
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let serial = stored_serial(path, serial)?;
        let tx = begin_write(&mut self.conn, path)?;
        if generation_of(&tx, doc.id).at(path)?.is_some() {
            return Err(StoreError::DuplicateDocumentId { id: doc.id });
        }
        insert_document_row(
            &tx,
            doc.id,
            &doc.label,
            doc.created_at_ms,
            &doc.snapshot,
            doc.kind,
        )
        .at(path)?;
        insert_sync_record(&tx, doc.id, &doc.sync).at(path)?;
        tx.execute(
            "INSERT INTO memberships (document_id, serial, list) VALUES (?1, ?2, ?3)",
            params![Hex(doc.id), serial, membership],
        )
        .at(path)?;
        tx.commit().at(path)?;
        self.seen.get_mut().insert(doc.id, Seen::created());
        Ok(())
    }
}

/// A membership list's serial as its SQLite column holds it.
fn stored_serial(path: &std::path::Path, serial: u64) -> Result<i64, StoreError> {
    i64::try_from(serial).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: "a membership serial is out of range".to_owned(),
    })
}

/// Notes when sharing document `id` ended and who ended it; the first time counts.
fn note_ended(conn: &Connection, id: DocId, at_ms: i64, ended_by_us: bool) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO sharing_ended (document_id, at_ms, by_us) VALUES (?1, ?2, ?3)",
        params![Hex(id), at_ms, ended_by_us],
    )?;
    Ok(())
}
