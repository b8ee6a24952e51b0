//! Accounts, devices, invites and registration on SQLite.

use super::*;

/// Inserts a new account after checking that its id and identity key are free.
pub(super) fn insert_account(
    conn: &Connection,
    path: &Path,
    record: &AccountRecord,
) -> Result<(), StoreError> {
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM accounts WHERE id = ?1",
        [record.account.as_bytes()],
    )? {
        return Err(StoreError::Conflict(Conflict::AccountExists(
            record.account,
        )));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM accounts WHERE identity_pub = ?1",
        [record.identity_pub],
    )? {
        return Err(StoreError::Conflict(Conflict::IdentityKeyInUse));
    }
    check_label(record.role, record.label.as_deref())?;
    conn.execute(
        "INSERT INTO accounts (id, identity_pub, role, created_at_ms, disabled_at_ms, label)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            record.account.as_bytes(),
            record.identity_pub,
            record.role,
            record.created_at_ms,
            record.disabled_at_ms,
            record.label
        ],
    )
    .at(path)?;
    Ok(())
}

/// Inserts a new device after checking its account and that its id and key are free.
pub(super) fn insert_device(
    conn: &Connection,
    path: &Path,
    device: &DeviceRecord,
) -> Result<(), StoreError> {
    if require_account(conn, path, device.account)? {
        return Err(StoreError::Conflict(Conflict::AccountDisabled(
            device.account,
        )));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM devices WHERE id = ?1",
        [device.device.as_bytes()],
    )? {
        return Err(StoreError::Conflict(Conflict::DeviceExists(device.device)));
    }
    if row_exists(
        conn,
        path,
        "SELECT 1 FROM devices WHERE signing_pub = ?1",
        [device.signing_pub],
    )? {
        return Err(StoreError::Conflict(Conflict::SigningKeyInUse));
    }
    conn.execute(
        "INSERT INTO devices (id, account, signing_pub, certificate, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device.device.as_bytes(),
            device.account.as_bytes(),
            device.signing_pub,
            device.certificate,
            device.registered_at_ms
        ],
    )
    .at(path)?;
    Ok(())
}

/// Checks an invite and marks it used (inside the caller's write transaction).
pub(super) fn redeem(
    conn: &Connection,
    path: &Path,
    hash: &InviteHash,
    now_ms: i64,
) -> Result<InviteRecord, InviteError> {
    let found = conn
        .prepare_cached(
            "SELECT kind, created_by, created_at_ms, expires_at_ms, used_at_ms, label
               FROM invites WHERE hash = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([hash.as_bytes()], |row| {
                Ok((
                    InviteRecord {
                        hash: *hash,
                        kind: row.get(0)?,
                        created_by: row.get::<_, Option<_>>(1)?.map(AccountId),
                        created_at_ms: row.get(2)?,
                        expires_at_ms: row.get(3)?,
                        label: row.get(5)?,
                    },
                    row.get::<_, Option<i64>>(4)?,
                ))
            })
            .optional()
        })
        .at(path)?;
    let Some((invite, used_at_ms)) = found else {
        return Err(InviteError::Unknown);
    };
    if used_at_ms.is_some() {
        return Err(InviteError::Used);
    }
    if now_ms >= invite.expires_at_ms {
        return Err(InviteError::Expired);
    }
    conn.execute(
        "UPDATE invites SET used_at_ms = ?2 WHERE hash = ?1",
        params![hash.as_bytes(), now_ms],
    )
    .at(path)?;
    Ok(invite)
}

/// The columns [`account_from_row`] reads.
pub(super) const ACCOUNT_COLUMNS: &str =
    "id, identity_pub, role, created_at_ms, disabled_at_ms, label";

/// Reads a row of [`ACCOUNT_COLUMNS`].
pub(super) fn account_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord {
        account: AccountId(row.get(0)?),
        identity_pub: row.get(1)?,
        role: row.get(2)?,
        created_at_ms: row.get(3)?,
        disabled_at_ms: row.get(4)?,
        label: row.get(5)?,
    })
}

/// The columns [`device_from_row`] reads, from `devices d JOIN accounts a`.
pub(super) const DEVICE_COLUMNS: &str =
    "d.id, d.account, d.signing_pub, d.certificate, d.registered_at_ms, a.role,
     (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL),
     a.disabled_at_ms IS NOT NULL";

/// Reads a row of [`DEVICE_COLUMNS`].
pub(super) fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceEntry> {
    Ok(DeviceEntry {
        record: DeviceRecord {
            device: DeviceId(row.get(0)?),
            account: AccountId(row.get(1)?),
            signing_pub: row.get(2)?,
            certificate: row.get(3)?,
            registered_at_ms: row.get(4)?,
        },
        role: row.get(5)?,
        disabled: row.get(6)?,
        account_disabled: row.get(7)?,
    })
}

impl AccountStore for SqliteStore {
    fn create_account(
        &mut self,
        account: AccountId,
        identity_pub: [u8; 32],
        role: AccountRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        insert_account(
            &tx,
            path,
            &AccountRecord {
                account,
                identity_pub,
                role,
                created_at_ms: now_ms,
                disabled_at_ms: None,
                label: None,
            },
        )?;
        tx.commit().at(path)
    }

    fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([account.as_bytes()], account_from_row)
                    .optional()
            })
            .at(&self.path)
    }

    fn account_by_identity(
        &self,
        identity_pub: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identity_pub = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([identity_pub], account_from_row).optional())
            .at(&self.path)
    }

    fn disable_account(&mut self, account: AccountId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let changed = tx
            .execute(
                "UPDATE accounts SET disabled_at_ms = coalesce(disabled_at_ms, ?2) WHERE id = ?1",
                params![account.as_bytes(), now_ms],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::NotFound(Missing::Account(account)));
        }
        tx.commit().at(path)
    }

    fn enable_account(&mut self, account: AccountId) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if !require_account(&tx, path, account)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE accounts SET disabled_at_ms = NULL WHERE id = ?1",
            [account.as_bytes()],
        )
        .at(path)?;
        tx.commit().at(path)?;
        Ok(true)
    }

    fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<AccountSummary>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.role, a.label, a.created_at_ms, a.disabled_at_ms,
                        (SELECT count(*) FROM devices d WHERE d.account = a.id)
                   FROM accounts a
                  WHERE ?1 IS NULL OR a.role = ?1
                  ORDER BY a.created_at_ms, a.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([role], |row| {
                let devices: i64 = row.get(5)?;
                Ok(AccountSummary {
                    account: AccountId(row.get(0)?),
                    role: row.get(1)?,
                    label: row.get(2)?,
                    created_at_ms: row.get(3)?,
                    disabled_at_ms: row.get(4)?,
                    devices: non_negative(devices),
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn register_device(&mut self, device: &DeviceRecord) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        insert_device(&tx, path, device)?;
        tx.commit().at(path)
    }

    fn device(&self, device: DeviceId) -> Result<Option<DeviceEntry>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
                  WHERE d.id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([device.as_bytes()], device_from_row)
                    .optional()
            })
            .at(&self.path)
    }

    fn devices_of(&self, account: AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d JOIN accounts a ON a.id = d.account
                  WHERE d.account = ?1 ORDER BY d.registered_at_ms, d.id"
            ))
            .at(path)?;
        let rows = stmt
            .query_map([account.as_bytes()], device_from_row)
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn disable_device(&mut self, device: DeviceId, now_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let changed = tx
            .execute(
                "UPDATE devices SET disabled_at_ms = coalesce(disabled_at_ms, ?2) WHERE id = ?1",
                params![device.as_bytes(), now_ms],
            )
            .at(path)?;
        if changed == 0 {
            return Err(StoreError::NotFound(Missing::Device(device)));
        }
        tx.commit().at(path)
    }

    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.id, d.account, a.role, d.registered_at_ms,
                        (d.disabled_at_ms IS NOT NULL OR a.disabled_at_ms IS NOT NULL)
                   FROM devices d JOIN accounts a ON a.id = d.account
                  ORDER BY d.registered_at_ms, d.id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(DeviceSummary {
                    device: DeviceId(row.get(0)?),
                    account: AccountId(row.get(1)?),
                    role: row.get(2)?,
                    registered_at_ms: row.get(3)?,
                    disabled: row.get(4)?,
                })
            })
            .at(path)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().at(path)
    }

    fn create_invite(&mut self, invite: &InviteRecord) -> Result<(), StoreError> {
        check_label(invite.kind, invite.label.as_deref())?;
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        if row_exists(
            &tx,
            path,
            "SELECT 1 FROM invites WHERE hash = ?1",
            [invite.hash.as_bytes()],
        )? {
            return Err(StoreError::Conflict(Conflict::InviteExists));
        }
        if let Some(creator) = invite.created_by {
            require_account(&tx, path, creator)?;
        }
        tx.execute(
            "INSERT INTO invites (hash, kind, created_by, created_at_ms, expires_at_ms, label)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                invite.hash.as_bytes(),
                invite.kind,
                invite.created_by.as_ref().map(AccountId::as_bytes),
                invite.created_at_ms,
                invite.expires_at_ms,
                invite.label
            ],
        )
        .at(path)?;
        tx.commit().at(path)
    }

    #[cfg(test)]
    fn redeem_invite(
        &mut self,
        hash: &InviteHash,
        now_ms: i64,
    ) -> Result<InviteRecord, InviteError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        let invite = redeem(&tx, path, hash, now_ms)?;
        tx.commit().at(path)?;
        Ok(invite)
    }

    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError> {
        let path = &self.path;
        if registration.device.account != registration.account {
            return Err(StoreError::Conflict(Conflict::DeviceAccountMismatch).into());
        }
        let tx = begin_write(&mut self.conn, path)?;
        let invite = redeem(&tx, path, &registration.invite, now_ms)?;
        // A wrong role drops the transaction, which rolls the redemption back: the invite stays
        // usable.
        let account = account_from_invite(&invite, registration, now_ms)?;
        insert_account(&tx, path, &account)?;
        if let Some(inviter) = invite.created_by {
            tx.execute(
                "UPDATE accounts SET invited_by = ?2 WHERE id = ?1",
                params![account.account.as_bytes(), inviter.as_bytes()],
            )
            .at(path)?;
        }
        insert_device(&tx, path, &registration.device)?;
        tx.commit().at(path)?;
        Ok(account)
    }

    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError> {
        self.conn
            .prepare_cached("SELECT invited_by FROM accounts WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([account.as_bytes()], |row| {
                    Ok(row.get::<_, Option<_>>(0)?.map(AccountId))
                })
                .optional()
            })
            .at(&self.path)?
            .ok_or(StoreError::NotFound(Missing::Account(account)))
    }
}
