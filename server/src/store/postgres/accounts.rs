//! Accounts, devices and invites: the statements behind the first part of
//! [`RelayStore`](crate::store::RelayStore), each run inside the transaction its method opened.
//!
//! Ids and keys are checked to be free before each insert, as the SQLite backend does, so
//! a conflict is reported as the same [`Conflict`]; the write lock makes the check and the
//! insert one step.

use postgres::Row;

use super::sql::{bytes, non_negative, optional, optional_bytes, Sql};
use crate::store::{
    account_from_invite, check_label, AccountId, AccountRecord, AccountRole, AccountSummary,
    Conflict, DeviceEntry, DeviceId, DeviceRecord, DeviceSummary, InviteError, InviteHash,
    InviteRecord, Missing, Registration, StoreError,
};

/// The columns [`account_from_row`] reads.
const ACCOUNT_COLUMNS: &str = "id, identity_pub, role, created_at_ms, disabled_at_ms, label";

/// Reads a row of [`ACCOUNT_COLUMNS`].
fn account_from_row(row: &Row) -> Result<AccountRecord, postgres::Error> {
    Ok(AccountRecord {
        account: AccountId(bytes(row, 0)?),
        identity_pub: bytes(row, 1)?,
        role: row.try_get(2)?,
        created_at_ms: row.try_get(3)?,
        disabled_at_ms: row.try_get(4)?,
        label: row.try_get(5)?,
    })
}

/// The columns [`device_from_row`] reads, from `devices d JOIN accounts a`.
const DEVICE_COLUMNS: &str =
    "d.id, d.account, d.signing_pub, d.certificate, d.registered_at_ms, a.role,
     (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL),
     a.disabled_at_ms IS NOT NULL";

/// Reads a row of [`DEVICE_COLUMNS`].
fn device_from_row(row: &Row) -> Result<DeviceEntry, postgres::Error> {
    Ok(DeviceEntry {
        record: DeviceRecord {
            device: DeviceId(bytes(row, 0)?),
            account: AccountId(bytes(row, 1)?),
            signing_pub: bytes(row, 2)?,
            certificate: row.try_get(3)?,
            registered_at_ms: row.try_get(4)?,
        },
        role: row.try_get(5)?,
        disabled: row.try_get(6)?,
        account_disabled: row.try_get(7)?,
    })
}

/// Fails with [`Missing::Account`] unless `account` exists; returns whether it is disabled.
pub(super) fn require_account(sql: &mut Sql<'_>, account: AccountId) -> Result<bool, StoreError> {
    sql.value(
        "SELECT disabled_at_ms IS NOT NULL FROM accounts WHERE id = $1",
        &[&account.as_bytes().as_slice()],
    )?
    .ok_or(StoreError::NotFound(Missing::Account(account)))
}

/// Inserts a new account after checking that its id and identity key are free.
pub(super) fn insert_account(sql: &mut Sql<'_>, record: &AccountRecord) -> Result<(), StoreError> {
    let id = record.account.as_bytes().as_slice();
    if sql.exists("SELECT 1 FROM accounts WHERE id = $1", &[&id])? {
        return Err(StoreError::Conflict(Conflict::AccountExists(
            record.account,
        )));
    }
    let identity = record.identity_pub.as_slice();
    if sql.exists(
        "SELECT 1 FROM accounts WHERE identity_pub = $1",
        &[&identity],
    )? {
        return Err(StoreError::Conflict(Conflict::IdentityKeyInUse));
    }
    check_label(record.role, record.label.as_deref())?;
    sql.execute(
        "INSERT INTO accounts (id, identity_pub, role, created_at_ms, disabled_at_ms, label)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &identity,
            &record.role.as_str(),
            &record.created_at_ms,
            &record.disabled_at_ms,
            &record.label,
        ],
    )?;
    Ok(())
}

/// The account with this id, if any.
pub(super) fn account(
    sql: &mut Sql<'_>,
    account: AccountId,
) -> Result<Option<AccountRecord>, StoreError> {
    sql.row(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
        &[&account.as_bytes().as_slice()],
        account_from_row,
    )
}

/// The account with this identity key, if any.
pub(super) fn account_by_identity(
    sql: &mut Sql<'_>,
    identity_pub: &[u8; 32],
) -> Result<Option<AccountRecord>, StoreError> {
    sql.row(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identity_pub = $1"),
        &[&identity_pub.as_slice()],
        account_from_row,
    )
}

/// Disables an account, keeping the first time it was disabled.
pub(super) fn disable_account(
    sql: &mut Sql<'_>,
    account: AccountId,
    now_ms: i64,
) -> Result<(), StoreError> {
    let changed = sql.execute(
        "UPDATE accounts SET disabled_at_ms = coalesce(disabled_at_ms, $2) WHERE id = $1",
        &[&account.as_bytes().as_slice(), &now_ms],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(Missing::Account(account)));
    }
    Ok(())
}

/// Enables a disabled account; false if it was not disabled.
pub(super) fn enable_account(sql: &mut Sql<'_>, account: AccountId) -> Result<bool, StoreError> {
    if !require_account(sql, account)? {
        return Ok(false);
    }
    sql.execute(
        "UPDATE accounts SET disabled_at_ms = NULL WHERE id = $1",
        &[&account.as_bytes().as_slice()],
    )?;
    Ok(true)
}

/// Every account, or those of one role, oldest first, with their device counts.
pub(super) fn list_accounts(
    sql: &mut Sql<'_>,
    role: Option<AccountRole>,
) -> Result<Vec<AccountSummary>, StoreError> {
    sql.rows(
        "SELECT a.id, a.role, a.label, a.created_at_ms, a.disabled_at_ms,
                (SELECT count(*) FROM devices d WHERE d.account = a.id)
           FROM accounts a
          WHERE $1::text IS NULL OR a.role = $1::text
          ORDER BY a.created_at_ms, a.id",
        &[&role.map(AccountRole::as_str)],
        |row| {
            Ok(AccountSummary {
                account: AccountId(bytes(row, 0)?),
                role: row.try_get(1)?,
                label: row.try_get(2)?,
                created_at_ms: row.try_get(3)?,
                disabled_at_ms: row.try_get(4)?,
                devices: non_negative(row.try_get(5)?),
            })
        },
    )
}

/// Inserts a new device after checking its account and that its id and key are free.
pub(super) fn insert_device(sql: &mut Sql<'_>, device: &DeviceRecord) -> Result<(), StoreError> {
    if require_account(sql, device.account)? {
        return Err(StoreError::Conflict(Conflict::AccountDisabled(
            device.account,
        )));
    }
    let id = device.device.as_bytes().as_slice();
    if sql.exists("SELECT 1 FROM devices WHERE id = $1", &[&id])? {
        return Err(StoreError::Conflict(Conflict::DeviceExists(device.device)));
    }
    let signing = device.signing_pub.as_slice();
    if sql.exists("SELECT 1 FROM devices WHERE signing_pub = $1", &[&signing])? {
        return Err(StoreError::Conflict(Conflict::SigningKeyInUse));
    }
    sql.execute(
        "INSERT INTO devices (id, account, signing_pub, certificate, registered_at_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &id,
            &device.account.as_bytes().as_slice(),
            &signing,
            &device.certificate,
            &device.registered_at_ms,
        ],
    )?;
    Ok(())
}

/// The device, its account's role, and whether it is disabled.
pub(super) fn device(
    sql: &mut Sql<'_>,
    device: DeviceId,
) -> Result<Option<DeviceEntry>, StoreError> {
    sql.row(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
              WHERE d.id = $1"
        ),
        &[&device.as_bytes().as_slice()],
        device_from_row,
    )
}

/// Every device of an account, oldest first.
pub(super) fn devices_of(
    sql: &mut Sql<'_>,
    account: AccountId,
) -> Result<Vec<DeviceEntry>, StoreError> {
    sql.rows(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
              WHERE d.account = $1 ORDER BY d.registered_at_ms, d.id"
        ),
        &[&account.as_bytes().as_slice()],
        device_from_row,
    )
}

/// Disables one device, keeping the first time it was disabled.
pub(super) fn disable_device(
    sql: &mut Sql<'_>,
    device: DeviceId,
    now_ms: i64,
) -> Result<(), StoreError> {
    let changed = sql.execute(
        "UPDATE devices SET disabled_at_ms = coalesce(disabled_at_ms, $2) WHERE id = $1",
        &[&device.as_bytes().as_slice(), &now_ms],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(Missing::Device(device)));
    }
    Ok(())
}

/// Every device, ids and times only, oldest first.
pub(super) fn list_devices(sql: &mut Sql<'_>) -> Result<Vec<DeviceSummary>, StoreError> {
    sql.rows(
        "SELECT d.id, d.account, a.role, d.registered_at_ms,
                (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL)
           FROM devices d JOIN accounts a ON a.id = d.account
          ORDER BY d.registered_at_ms, d.id",
        &[],
        |row| {
            Ok(DeviceSummary {
                device: DeviceId(bytes(row, 0)?),
                account: AccountId(bytes(row, 1)?),
                role: row.try_get(2)?,
                registered_at_ms: row.try_get(3)?,
                disabled: row.try_get(4)?,
            })
        },
    )
}

/// Stores a new invite after checking that its hash is free and its creator exists (the
/// caller checked its label).
pub(super) fn create_invite(sql: &mut Sql<'_>, invite: &InviteRecord) -> Result<(), StoreError> {
    let hash = invite.hash.as_bytes().as_slice();
    if sql.exists("SELECT 1 FROM invites WHERE hash = $1", &[&hash])? {
        return Err(StoreError::Conflict(Conflict::InviteExists));
    }
    if let Some(creator) = invite.created_by {
        require_account(sql, creator)?;
    }
    sql.execute(
        "INSERT INTO invites (hash, kind, created_by, created_at_ms, expires_at_ms, label)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &hash,
            &invite.kind.as_str(),
            &optional(invite.created_by.as_ref().map(AccountId::as_bytes)),
            &invite.created_at_ms,
            &invite.expires_at_ms,
            &invite.label,
        ],
    )?;
    Ok(())
}

/// Checks an invite and marks it used.
pub(super) fn redeem(
    sql: &mut Sql<'_>,
    hash: &InviteHash,
    now_ms: i64,
) -> Result<InviteRecord, InviteError> {
    let key = hash.as_bytes().as_slice();
    let found = sql.row(
        "SELECT kind, created_by, created_at_ms, expires_at_ms, used_at_ms, label
           FROM invites WHERE hash = $1",
        &[&key],
        |row| {
            let invite = InviteRecord {
                hash: *hash,
                kind: row.try_get(0)?,
                created_by: optional_bytes(row, 1)?.map(AccountId),
                created_at_ms: row.try_get(2)?,
                expires_at_ms: row.try_get(3)?,
                label: row.try_get(5)?,
            };
            Ok((invite, row.try_get::<_, Option<i64>>(4)?))
        },
    )?;
    let Some((invite, used_at_ms)) = found else {
        return Err(InviteError::Unknown);
    };
    if used_at_ms.is_some() {
        return Err(InviteError::Used);
    }
    if now_ms >= invite.expires_at_ms {
        return Err(InviteError::Expired);
    }
    sql.execute(
        "UPDATE invites SET used_at_ms = $2 WHERE hash = $1",
        &[&key, &now_ms],
    )?;
    Ok(invite)
}

/// Redeems the invite and creates the account (remembering its inviter) and its first device.
/// Any error leaves the caller to roll the whole transaction back, the redemption included.
pub(super) fn register_with_invite(
    sql: &mut Sql<'_>,
    registration: &Registration,
    now_ms: i64,
) -> Result<AccountRecord, InviteError> {
    let invite = redeem(sql, &registration.invite, now_ms)?;
    let account = account_from_invite(&invite, registration, now_ms)?;
    insert_account(sql, &account)?;
    if let Some(inviter) = invite.created_by {
        sql.execute(
            "UPDATE accounts SET invited_by = $2 WHERE id = $1",
            &[
                &account.account.as_bytes().as_slice(),
                &inviter.as_bytes().as_slice(),
            ],
        )?;
    }
    insert_device(sql, &registration.device)?;
    Ok(account)
}

/// The account whose invite registered `account`, if any.
pub(super) fn inviter_of(
    sql: &mut Sql<'_>,
    account: AccountId,
) -> Result<Option<AccountId>, StoreError> {
    let inviter = sql
        .row(
            "SELECT invited_by FROM accounts WHERE id = $1",
            &[&account.as_bytes().as_slice()],
            |row| optional_bytes(row, 0),
        )?
        .ok_or(StoreError::NotFound(Missing::Account(account)))?;
    Ok(inviter.map(AccountId))
}

/// Deletes expired invites; returns how many.
pub(super) fn purge_expired_invites(sql: &mut Sql<'_>, now_ms: i64) -> Result<u64, StoreError> {
    sql.execute("DELETE FROM invites WHERE expires_at_ms <= $1", &[&now_ms])
}
