//! The hash-chained audit trail: appending rows (continuing from the recorded head in
//! `audit_head`, which the write lock keeps a single chain), verifying the whole chain while
//! its rows stream in, and reading it by document or account.

use postgres::Row;

use super::sql::{big, non_negative, optional, optional_bytes, Fixed, Sql};
use crate::store::{
    audit_hash, AccountId, AuditEntry, AuditError, AuditHead, AuditProblem, AuditRecord, DeviceId,
    DocId, StoreError,
};

/// The end of the audit chain while a batch is written: the last row number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chain {
    /// Rows so far.
    pub(super) rows: u64,
    /// The hash of the last row (zeros for none).
    pub(super) hash: [u8; 32],
}

/// Reads the recorded end of the audit chain. The chain continues from the recorded head, not
/// from whatever row is last, so rows removed from the tail leave a gap that verification
/// reports.
pub(super) fn read_chain(sql: &mut Sql<'_>) -> Result<Chain, StoreError> {
    // The schema inserts the head's one row and nothing deletes it: a missing row fails.
    let (rows, Fixed(hash)) = sql.one_row(
        "SELECT rows, hash FROM audit_head WHERE one = 1",
        &[],
        |row| Ok((row.try_get::<_, i64>(0)?, row.try_get(1)?)),
    )?;
    Ok(Chain {
        rows: non_negative(rows),
        hash,
    })
}

/// Records `chain` as the end of the audit trail (once per batch, not once per row).
pub(super) fn write_chain(sql: &mut Sql<'_>, chain: &Chain) -> Result<(), StoreError> {
    sql.execute(
        "UPDATE audit_head SET rows = $1, hash = $2 WHERE one = 1",
        &[&big(chain.rows), &chain.hash.as_slice()],
    )?;
    Ok(())
}

/// Inserts `record` as the next audit row after `chain` and advances `chain` to it (the caller
/// checked the action token and writes the recorded head at the end).
pub(super) fn insert_audit(
    sql: &mut Sql<'_>,
    chain: &mut Chain,
    record: &AuditRecord,
) -> Result<u64, StoreError> {
    let id = chain.rows.saturating_add(1);
    let hash = audit_hash(&chain.hash, id, record);
    sql.execute(
        "INSERT INTO audit (id, at_ms, account, device, doc, action, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &big(id),
            &record.at_ms,
            &optional(record.account.as_ref().map(AccountId::as_bytes)),
            &optional(record.device.as_ref().map(DeviceId::as_bytes)),
            &optional(record.doc.as_ref().map(DocId::as_bytes)),
            &record.action,
            &hash.as_slice(),
        ],
    )?;
    *chain = Chain { rows: id, hash };
    Ok(id)
}

/// The columns [`audit_entry_from_row`] reads.
const AUDIT_COLUMNS: &str = "id, at_ms, account, device, doc, action";

/// Reads a row of [`AUDIT_COLUMNS`].
fn audit_entry_from_row(row: &Row) -> Result<AuditEntry, postgres::Error> {
    Ok(AuditEntry {
        id: non_negative(row.try_get(0)?),
        record: AuditRecord {
            at_ms: row.try_get(1)?,
            account: optional_bytes(row, 2)?.map(AccountId),
            device: optional_bytes(row, 3)?.map(DeviceId),
            doc: optional_bytes(row, 4)?.map(DocId),
            action: row.try_get(5)?,
        },
    })
}

/// Audit events about `doc` after row `after`, oldest first, at most `limit`.
pub(super) fn audit_for_doc(
    sql: &mut Sql<'_>,
    doc: DocId,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    sql.rows(
        &format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE doc = $1 AND id > $2 ORDER BY id LIMIT $3"
        ),
        &[&doc.as_bytes().as_slice(), &big(after), &big(limit)],
        audit_entry_from_row,
    )
}

/// Audit events of `account` that concern no document, after row `after`, oldest first.
pub(super) fn audit_for_account(
    sql: &mut Sql<'_>,
    account: AccountId,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    sql.rows(
        &format!(
            "SELECT {AUDIT_COLUMNS} FROM audit
              WHERE account = $1 AND doc IS NULL AND id > $2 ORDER BY id LIMIT $3"
        ),
        &[&account.as_bytes().as_slice(), &big(after), &big(limit)],
        audit_entry_from_row,
    )
}

/// The stored hash of audit row `row`, if there is one.
pub(super) fn audit_hash_at(sql: &mut Sql<'_>, row: u64) -> Result<Option<[u8; 32]>, StoreError> {
    let Ok(row) = i64::try_from(row) else {
        return Ok(None);
    };
    let hash: Option<Fixed<32>> = sql.value("SELECT hash FROM audit WHERE id = $1", &[&row])?;
    Ok(hash.map(|Fixed(hash)| hash))
}

/// Checks the whole chain row by row as the rows arrive, then the recorded end.
pub(super) fn verify_audit(sql: &mut Sql<'_>) -> Result<AuditHead, AuditError> {
    let mut expected: u64 = 1;
    let mut prev = [0_u8; 32];
    sql.for_each_row(
        &format!("SELECT {AUDIT_COLUMNS}, hash FROM audit ORDER BY id"),
        &[],
        |row| Ok((audit_entry_from_row(row)?, row.try_get::<_, Fixed<32>>(6)?)),
        |(entry, Fixed(stored))| {
            check_row(expected, &prev, &entry, &stored)?;
            prev = stored;
            expected = expected.saturating_add(1);
            Ok::<(), AuditError>(())
        },
    )?;
    let count = expected - 1;
    let recorded = read_chain(sql)?;
    if recorded.rows > count {
        return Err(AuditError::Broken {
            row: count.saturating_add(1),
            problem: AuditProblem::Truncated {
                recorded_rows: recorded.rows,
            },
        });
    }
    if recorded.rows != count || recorded.hash != prev {
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

/// Checks one row of the chain: it is row `expected`, and its stored hash follows `prev`.
fn check_row(
    expected: u64,
    prev: &[u8; 32],
    entry: &AuditEntry,
    stored: &[u8; 32],
) -> Result<(), AuditError> {
    if entry.id != expected {
        return Err(AuditError::Broken {
            row: entry.id,
            problem: AuditProblem::Missing,
        });
    }
    if audit_hash(prev, entry.id, &entry.record) != *stored {
        return Err(AuditError::Broken {
            row: entry.id,
            problem: AuditProblem::Altered,
        });
    }
    Ok(())
}
