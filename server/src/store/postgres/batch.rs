//! Group commit: the writes of a [`write_batch`](crate::store::RelayStore::write_batch) in one
//! transaction, each under its own savepoint. A push is checked (device, account, document,
//! membership) inside the transaction that appends it, so a revocation committed before always
//! wins.

use super::audit::{insert_audit, read_chain, write_chain, Chain};
use super::log::append_to_log;
use super::sql::{bytes, Sql};
use crate::store::{
    check_action, AccountId, AuditRecord, BatchWrite, Push, PushOutcome, PushRefusal, StoreError,
    Written,
};

/// Carries out `writes` in order inside the caller's write transaction; returns one result per
/// write. The outer `Err` fails the whole batch (the caller then rolls it back).
pub(super) fn write_batch(
    sql: &mut Sql<'_>,
    writes: &[BatchWrite<'_>],
) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let start = read_chain(sql)?;
    let mut chain = start;
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        results.push(write_one(sql, &mut chain, write)?);
    }
    if chain != start {
        write_chain(sql, &chain)?;
    }
    Ok(results)
}

/// One write of a batch. The outer `Err` fails the batch; the inner one is this write's own
/// refusal or failure, after which nothing of it remains.
fn write_one(
    sql: &mut Sql<'_>,
    chain: &mut Chain,
    write: &BatchWrite<'_>,
) -> Result<Result<Written, StoreError>, StoreError> {
    match write {
        BatchWrite::Push(push) => {
            if let Err(err) = check_action(push.action) {
                return Ok(Err(err));
            }
            match check_push(sql, push)? {
                Err(refusal) => Ok(Ok(Written::Push(PushOutcome::Refused(refusal)))),
                Ok(account) => Ok(
                    in_savepoint(sql, |sql| append_push(sql, chain, push, account))?
                        .map(Written::Push),
                ),
            }
        }
        BatchWrite::Audit(record) => {
            if let Err(err) = check_action(&record.action) {
                return Ok(Err(err));
            }
            Ok(in_savepoint(sql, |sql| insert_audit(sql, chain, record))?.map(Written::Audit))
        }
    }
}

/// The checks of a push: the device is registered and enabled (and its account), the document
/// exists and the device's account is a member. Returns that account. One query: a push is a
/// round trip per statement on the storage thread, and these are four facts about one row.
fn check_push(
    sql: &mut Sql<'_>,
    push: &Push,
) -> Result<Result<AccountId, PushRefusal>, StoreError> {
    let doc = push.doc.as_bytes().as_slice();
    let facts: Option<(AccountId, [bool; 5])> = sql.row(
        "SELECT d.account, d.disabled_at_ms IS NOT NULL, a.disabled_at_ms IS NOT NULL,
                EXISTS (SELECT 1 FROM documents WHERE id = $2),
                EXISTS (SELECT 1 FROM deleted_documents WHERE id = $2),
                EXISTS (SELECT 1 FROM members m WHERE m.doc = $2 AND m.account = d.account)
           FROM devices d JOIN accounts a ON a.id = d.account WHERE d.id = $1",
        &[&push.device.as_bytes().as_slice(), &doc],
        |row| {
            Ok((
                AccountId(bytes(row, 0)?),
                [
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                ],
            ))
        },
    )?;
    let Some((account, [device_disabled, account_disabled, exists, deleted, member])) = facts
    else {
        return Ok(Err(PushRefusal::UnknownDevice));
    };
    Ok(if device_disabled || account_disabled {
        Err(PushRefusal::Disabled { account_disabled })
    } else if !exists {
        Err(PushRefusal::NoDocument { deleted })
    } else if !member {
        Err(PushRefusal::NotMember)
    } else {
        Ok(account)
    })
}

/// Appends a checked push: the bundle with the document's next sequence number and its audit
/// row.
fn append_push(
    sql: &mut Sql<'_>,
    chain: &mut Chain,
    push: &Push,
    account: AccountId,
) -> Result<PushOutcome, StoreError> {
    let seq = append_to_log(sql, push.doc, &push.bundle, push.at_ms)?;
    let audit_row = insert_audit(
        sql,
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

/// Runs `write` under a savepoint, so that a write failing half-way is undone on its own and
/// the batch's other writes stand. (PostgreSQL refuses every statement of a transaction after
/// an error until it is rolled back to a savepoint, so without one a single failing write would
/// sink the batch.) `write` advances `chain` only after its last statement succeeded, so a
/// write rolled back leaves the chain where it was. The outer `Err` is for the batch: the
/// savepoint itself could not be taken, released or rolled back to.
fn in_savepoint<T>(
    sql: &mut Sql<'_>,
    write: impl FnOnce(&mut Sql<'_>) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    sql.batch("SAVEPOINT batch_write")?;
    let result = write(sql);
    if result.is_err() {
        sql.batch("ROLLBACK TO SAVEPOINT batch_write")?;
    }
    sql.batch("RELEASE SAVEPOINT batch_write")?;
    Ok(result)
}
