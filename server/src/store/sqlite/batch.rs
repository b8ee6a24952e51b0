//! Group commit on SQLite: a batch of pushes and audit records in one transaction, each write
//! under its own savepoint.

use super::*;

/// A push's device, whether it is disabled and whether its account is.
pub(super) const PUSH_DEVICE_SQL: &str =
    "SELECT d.account, d.disabled_at_ms IS NOT NULL, a.disabled_at_ms IS NOT NULL
   FROM devices d JOIN accounts a ON a.id = d.account WHERE d.id = ?1";

/// The checks of a push, read in the batch's transaction: the device is registered and
/// enabled, the document exists and the device's account is a member. Returns that account.
pub(super) fn check_push(
    conn: &Connection,
    path: &Path,
    push: &Push,
) -> Result<Result<AccountId, PushRefusal>, StoreError> {
    let device: Option<(AccountId, bool, bool)> = conn
        .prepare_cached(PUSH_DEVICE_SQL)
        .and_then(|mut stmt| {
            stmt.query_row([push.device.as_bytes()], |row| {
                Ok((AccountId(row.get(0)?), row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .at(path)?;
    let account = match device {
        None => return Ok(Err(PushRefusal::UnknownDevice)),
        Some((_, device_disabled, account_disabled)) if device_disabled || account_disabled => {
            return Ok(Err(PushRefusal::Disabled { account_disabled }))
        }
        Some((account, _, _)) => account,
    };
    if !row_exists(
        conn,
        path,
        "SELECT 1 FROM documents WHERE id = ?1",
        [push.doc.as_bytes()],
    )? {
        let deleted = row_exists(
            conn,
            path,
            "SELECT 1 FROM deleted_documents WHERE id = ?1",
            [push.doc.as_bytes()],
        )?;
        return Ok(Err(PushRefusal::NoDocument { deleted }));
    }
    if !row_exists(
        conn,
        path,
        "SELECT 1 FROM members WHERE doc = ?1 AND account = ?2",
        params![push.doc.as_bytes(), account.as_bytes()],
    )? {
        return Ok(Err(PushRefusal::NotMember));
    }
    Ok(Ok(account))
}

/// Appends a checked push: the bundle with the document's next sequence number and its audit
/// row.
pub(super) fn append_push(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    push: &Push,
    account: AccountId,
) -> Result<PushOutcome, StoreError> {
    let seq = append_to_log(conn, path, push.doc, &push.bundle, push.at_ms)?;
    let audit_row = insert_audit(
        conn,
        path,
        chain,
        &AuditRecord {
            at_ms: push.at_ms,
            account: Some(account),
            device: Some(push.device),
            doc: Some(push.doc),
            action: push.action.to_owned(),
        },
    )?;
    Ok(PushOutcome::Appended { seq, audit_row })
}

/// Appends `bundle` to `doc`'s log with the next sequence number (inside the caller's write
/// transaction).
pub(super) fn append_to_log(
    conn: &Connection,
    path: &Path,
    doc: DocId,
    bundle: &[u8],
    now_ms: i64,
) -> Result<Seq, StoreError> {
    let seq: Seq = conn
        .prepare_cached("UPDATE documents SET head = head + 1 WHERE id = ?1 RETURNING head")
        .and_then(|mut stmt| {
            stmt.query_row([doc.as_bytes()], |row| seq_at(row, 0))
                .optional()
        })
        .at(path)?
        .ok_or(StoreError::NotFound(Missing::Document(doc)))?;
    conn.prepare_cached(
        "INSERT INTO bundles (doc, seq, appended_at_ms, data) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| stmt.execute(params![doc.as_bytes(), seq_to_sql(seq), now_ms, bundle]))
    .at(path)?;
    Ok(seq)
}

/// One write of a batch (see [`RelayStore::write_batch`]). The outer `Err` fails the batch; the
/// inner one is this write's own refusal or failure, after which nothing of it remains.
pub(super) fn write_one(
    conn: &Connection,
    path: &Path,
    chain: &mut Chain,
    write: &BatchWrite<'_>,
) -> Result<Result<Written, StoreError>, StoreError> {
    match write {
        BatchWrite::Push(push) => {
            if let Err(err) = check_action(push.action) {
                return Ok(Err(err));
            }
            match check_push(conn, path, push)? {
                Err(refusal) => Ok(Ok(Written::Push(PushOutcome::Refused(refusal)))),
                Ok(account) => {
                    Ok(
                        in_savepoint(conn, path, || append_push(conn, path, chain, push, account))?
                            .map(Written::Push),
                    )
                }
            }
        }
        BatchWrite::Audit(record) => {
            if let Err(err) = check_action(&record.action) {
                return Ok(Err(err));
            }
            Ok(
                in_savepoint(conn, path, || insert_audit(conn, path, chain, record))?
                    .map(Written::Audit),
            )
        }
    }
}

/// Runs `write` under a savepoint of the caller's transaction, so that a write failing half-way
/// is undone on its own and the batch's other writes stand. The outer `Err` is for the batch:
/// the savepoint itself could not be taken, released or rolled back to.
pub(super) fn in_savepoint<T>(
    conn: &Connection,
    path: &Path,
    write: impl FnOnce() -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .at(path)
    };
    run("SAVEPOINT batch_write")?;
    let result = write();
    if result.is_err() {
        run("ROLLBACK TO batch_write")?;
    }
    run("RELEASE batch_write")?;
    Ok(result)
}

impl RelayStore for SqliteStore {
    fn write_batch(
        &mut self,
        writes: &[BatchWrite<'_>],
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let start = read_chain(&tx, path)?;
        let mut chain = start;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let result = write_one(&tx, path, &mut chain, write)?;
            results.push(result);
        }
        // Some errors (a full disk, an I/O error) make SQLite roll the whole transaction back on
        // its own; then the savepoint is gone (its rollback failed above) or the commit fails,
        // so the batch as a whole is reported failed rather than some of it acknowledged.
        if chain != start {
            write_chain(&tx, path, &chain)?;
        }
        tx.commit().at(path)?;
        Ok(results)
    }
}
