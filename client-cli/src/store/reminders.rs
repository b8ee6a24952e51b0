//! The reminders this device raised (`between remind`), so each is raised once a day.

use std::collections::HashSet;

use between_shared::protocol::DocId;
use between_sqlite_file::AtPath;
use rusqlite::params;

use super::ids::Hex;
use super::{Store, StoreError};

impl Store {
    /// Records that this device raised the reminder of `assignment` for `day`.
    pub(crate) fn record_reminder(
        &mut self,
        document_id: DocId,
        assignment: &str,
        day: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO reminders_raised (document_id, assignment_id, day, raised_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![Hex(document_id), assignment, day, at_ms],
            )
            .at(&self.path)?;
        Ok(())
    }

    /// The assignments whose reminder for `day` this device raised already.
    pub(crate) fn reminders_raised(
        &self,
        document_id: DocId,
        day: &str,
    ) -> Result<HashSet<String>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT assignment_id FROM reminders_raised WHERE document_id = ?1 AND day = ?2",
            )
            .at(path)?;
        let rows = stmt
            .query_map(params![Hex(document_id), day], |row| row.get(0))
            .at(path)?;
        Ok(rows
            .collect::<rusqlite::Result<HashSet<String>>>()
            .at(path)?)
    }
}
