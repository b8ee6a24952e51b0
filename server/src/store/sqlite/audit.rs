//! The audit trail on SQLite: the hash chain, appending records, reading and verifying them.

use super::*;

/// The end of the audit chain while a batch is written: the last row number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chain {
    /// Rows so far.
    rows: u64,
    /// The hash of the last row (zeros for none).
    hash: [u8; 32],
}

/// Reads the recorded end of the audit chain. The chain continues from the recorded head, not
/// from whatever row is last, so rows removed from the tail leave a gap that verification
/// reports.
pub(super) fn read_chain(conn: &Connection, path: &Path) -> Result<Chain, StoreError> {
    let (rows, hash): (i64, [u8; 32]) = conn
        .prepare_cached("SELECT rows, hash FROM audit_head WHERE one = 1")
        .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
        .at(path)?;
    Ok(Chain {
        rows: non_negative(rows),
        hash,
    })
}

/// Records `chain` as the end of the audit trail (once per batch, not once per row).
pub(super) fn write_chain(conn: &Connection, path: &Path, chain: &Chain) -> Result<(), StoreError> {
    let rows = i64::try_from(chain.rows).unwrap_or(i64::MAX);
    conn.prepare_cached("UPDATE audit_head SET rows = ?1, hash = ?2 WHERE one = 1")
        .and_then(|mut stmt| stmt.execute(params![rows, chain.hash]))
        .at(path)?;
    Ok(())
}

/// Inserts `record` as the next audit row after `chain` and advances `chain` to it (the caller
/// checked the action token). The recorded head is written by the caller at the end.
pub(super) fn insert_audit(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    record: &AuditRecord,
) -> Result<u64, StoreError> {
    let id = chain.rows.saturating_add(1);
    let hash = audit_hash(&chain.hash, id, record);
    let id_sql = i64::try_from(id).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO audit (id, at_ms, account, device, doc, action, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id_sql,
            record.at_ms,
            record.account.as_ref().map(AccountId::as_bytes),
            record.device.as_ref().map(DeviceId::as_bytes),
            record.doc.as_ref().map(DocId::as_bytes),
            record.action,
            hash
        ])
    })
    .at(path)?;
    *chain = Chain { rows: id, hash };
    Ok(id)
}

/// The columns [`audit_entry_from_row`] reads.
pub(super) const AUDIT_COLUMNS: &str = "id, at_ms, account, device, doc, action";

/// Reads a row of [`AUDIT_COLUMNS`].
pub(super) fn audit_entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    let id: i64 = row.get(0)?;
    Ok(AuditEntry {
        id: non_negative(id),
        record: AuditRecord {
            at_ms: row.get(1)?,
            account: row.get::<_, Option<_>>(2)?.map(AccountId),
            device: row.get::<_, Option<_>>(3)?.map(DeviceId),
            doc: row.get::<_, Option<_>>(4)?.map(DocId),
            action: row.get(5)?,
        },
    })
}

/// Reads the audit rows `sql` selects (its `?1` is bound to `key`, `?2` to `after`, `?3` to
/// `limit`).
pub(super) fn read_audit<K: ToSql>(
    conn: &Connection,
    path: &Path,
    sql: &str,
    key: K,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).at(path)?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(
            params![key, after, limit_to_sql(limit)],
            audit_entry_from_row,
        )
        .at(path)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
}

impl AuditStore for SqliteStore {
    fn verify_audit(&self) -> Result<AuditHead, AuditError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().at(path)?;
        let mut stmt = tx
            .prepare("SELECT id, at_ms, account, device, doc, action, hash FROM audit ORDER BY id")
            .at(path)?;
        let mut rows = stmt.query([]).at(path)?;
        let mut expected: u64 = 1;
        let mut prev = [0_u8; 32];
        while let Some(row) = rows.next().at(path)? {
            let id: i64 = row.get(0).at(path)?;
            let id = non_negative(id);
            if id != expected {
                return Err(AuditError::Broken {
                    row: id,
                    problem: AuditProblem::Missing,
                });
            }
            let record = AuditRecord {
                at_ms: row.get(1).at(path)?,
                account: row.get::<_, Option<_>>(2).at(path)?.map(AccountId),
                device: row.get::<_, Option<_>>(3).at(path)?.map(DeviceId),
                doc: row.get::<_, Option<_>>(4).at(path)?.map(DocId),
                action: row.get(5).at(path)?,
            };
            let stored: [u8; 32] = row.get(6).at(path)?;
            if audit_hash(&prev, id, &record) != stored {
                return Err(AuditError::Broken {
                    row: id,
                    problem: AuditProblem::Altered,
                });
            }
            prev = stored;
            expected = expected.saturating_add(1);
        }
        let count = expected - 1;
        let (recorded, recorded_hash): (i64, [u8; 32]) = tx
            .query_row(
                "SELECT rows, hash FROM audit_head WHERE one = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .at(path)?;
        let recorded = non_negative(recorded);
        if recorded > count {
            return Err(AuditError::Broken {
                row: count.saturating_add(1),
                problem: AuditProblem::Truncated {
                    recorded_rows: recorded,
                },
            });
        }
        if recorded != count || recorded_hash != prev {
            return Err(AuditError::Broken {
                row: count,
                problem: AuditProblem::HeadMismatch,
            });
        }
        Ok(AuditHead {
            rows: count,
            hash: prev,
        })
    }

    fn audit_for_doc(
        &self,
        doc: DocId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        read_audit(
            &self.conn,
            &self.path,
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE doc = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            doc.as_bytes(),
            after,
            limit,
        )
    }

    fn audit_for_account(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        read_audit(
            &self.conn,
            &self.path,
            &format!(
                "SELECT {AUDIT_COLUMNS} FROM audit
                  WHERE account = ?1 AND doc IS NULL AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            account.as_bytes(),
            after,
            limit,
        )
    }

    fn audit_hash_at(&self, row: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let Ok(row) = i64::try_from(row) else {
            return Ok(None);
        };
        self.conn
            .prepare_cached("SELECT hash FROM audit WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([row], |r| r.get(0)).optional())
            .at(&self.path)
    }
}
