//! The account this profile syncs with: its keys and registration with the relay, and the
//! account's devices as this device knows them.

use between_shared::crypto::IdentityCommitment;
use between_shared::protocol::{AccountId, DeviceId};
use between_sqlite_file::AtPath;
use rusqlite::{params, OptionalExtension, Transaction};

use super::ids::Hex;
use super::{begin_write, Store, StoreError};

/// How far this device's registration with the relay has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Registration {
    /// Not yet registered: register as an account's first device with this invite secret.
    Invite(Vec<u8>),
    /// Not yet registered: register as a further device of an existing account (paired).
    Pairing,
    /// The relay has welcomed this device.
    Done,
}

impl Registration {
    /// The registration as the `account` row stores it: its stage, and the invite secret an
    /// invited first device still needs. `None` when the two do not fit together.
    fn from_stored(stage: &str, invite: Option<Vec<u8>>) -> Option<Self> {
        match (stage, invite) {
            ("invite", Some(invite)) => Some(Self::Invite(invite)),
            ("pairing", _) => Some(Self::Pairing),
            ("done", _) => Some(Self::Done),
            _ => None,
        }
    }
}

/// An optional 16-byte id as stored (account id, therapist commitment): any other length is a
/// damaged row, which the caller names.
fn sixteen_bytes(
    bytes: Option<Vec<u8>>,
) -> Result<Option<[u8; 16]>, std::array::TryFromSliceError> {
    bytes
        .map(|bytes| <[u8; 16]>::try_from(bytes.as_slice()))
        .transpose()
}

/// This device's account on a relay (one row, written when the profile is created for sync).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    /// The relay's URL, as the person typed it.
    pub(crate) relay_url: String,
    /// The practice's CA certificate(s) in PEM, when the relay's certificate is checked against
    /// them instead of the system's roots.
    pub(crate) relay_ca_pem: Option<String>,
    /// For a client invited by a therapist: the commitment to the therapist's identity key from
    /// the invite, kept until the shared document is shared with that therapist.
    pub(crate) therapist_commitment: Option<IdentityCommitment>,
    /// The relay's account id, once the relay has welcomed this device.
    pub(crate) account_id: Option<AccountId>,
    /// The person's identity keypair (`IdentityKeypair::to_bytes`). Local only.
    pub(crate) identity_keypair: Vec<u8>,
    /// This device's keypair (`DeviceKeypair::to_bytes`). Local only.
    pub(crate) device_keypair: Vec<u8>,
    /// This device's certificate, signed by the identity key.
    pub(crate) device_certificate: Vec<u8>,
    /// Whether the relay has registered this device yet.
    pub(crate) registration: Registration,
    /// When a sync last completed (Unix milliseconds).
    pub(crate) last_sync_ms: Option<i64>,
    /// When the relay last listed the account's devices (Unix milliseconds).
    pub(crate) devices_listed_ms: Option<i64>,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("relay_url", &self.relay_url)
            .field("account_id", &self.account_id)
            .field(
                "registration",
                &matches!(self.registration, Registration::Done),
            )
            .field("last_sync_ms", &self.last_sync_ms)
            .finish_non_exhaustive()
    }
}

/// One device of the account, as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceRecord {
    /// The device id.
    pub(crate) device_id: DeviceId,
    /// Its certificate (verified against the account's identity before it was stored).
    pub(crate) certificate: Vec<u8>,
    /// Whether it is this device.
    pub(crate) this_device: bool,
    /// A local name, when this device knows one (its own, or the one that paired it).
    pub(crate) name: Option<String>,
    /// When the relay registered it (Unix milliseconds), if the relay has listed it.
    pub(crate) registered_at_ms: Option<i64>,
    /// Whether the relay's last device list included it.
    pub(crate) listed: bool,
}

impl Store {
    /// The account this profile syncs with, if it syncs.
    pub(crate) fn account(&self) -> Result<Option<AccountRecord>, StoreError> {
        let path = &self.path;
        let row = self
            .conn
            .query_row(
                "SELECT relay_url, account_id, identity_keypair, device_keypair,
                        device_certificate, registration, invite, last_sync_ms, devices_listed_ms,
                        relay_ca_pem, therapist_commitment
                   FROM account WHERE id = 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<Vec<u8>>>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, Option<Vec<u8>>>(6)?,
                        row.get::<_, Option<i64>>(7)?,
                        row.get::<_, Option<i64>>(8)?,
                        row.get::<_, Option<String>>(9)?,
                        row.get::<_, Option<Vec<u8>>>(10)?,
                    ))
                },
            )
            .optional()
            .at(path)?;
        let Some((
            relay_url,
            account_id,
            identity,
            device,
            certificate,
            reg,
            invite,
            last,
            listed,
            relay_ca_pem,
            commitment,
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |detail: &str| StoreError::Corrupt {
            path: path.clone(),
            detail: detail.to_owned(),
        };
        let account_id = sixteen_bytes(account_id)
            .map_err(|_| corrupt("its account id has the wrong length"))?
            .map(AccountId);
        let registration = Registration::from_stored(&reg, invite)
            .ok_or_else(|| corrupt("its registration record is inconsistent"))?;
        let therapist_commitment = sixteen_bytes(commitment)
            .map_err(|_| corrupt("its therapist commitment has the wrong length"))?
            .map(IdentityCommitment);
        Ok(Some(AccountRecord {
            relay_url,
            relay_ca_pem,
            therapist_commitment,
            account_id,
            identity_keypair: identity,
            device_keypair: device,
            device_certificate: certificate,
            registration,
            last_sync_ms: last,
            devices_listed_ms: listed,
        }))
    }

    /// Records that the relay registered this device (and forgets the invite), and the
    /// account id when the relay said it.
    pub(crate) fn set_registered(
        &mut self,
        account_id: Option<AccountId>,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute(
            "UPDATE account SET account_id = coalesce(?1, account_id), registration = 'done',
                                invite = NULL
              WHERE id = 1",
            params![account_id.map(|id| id.0.to_vec())],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }

    /// Records when a sync last completed.
    pub(crate) fn set_last_sync(&mut self, at_ms: i64) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "UPDATE account SET last_sync_ms = ?1 WHERE id = 1",
                params![at_ms],
            )
            .at(path)?;
        Ok(())
    }

    /// Forgets a device of the account (removed): its bundles are no longer accepted and no
    /// key is wrapped for it again.
    pub(crate) fn forget_device(&mut self, device_id: DeviceId) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "DELETE FROM devices WHERE device_id = ?1 AND this_device = 0",
                [Hex(device_id)],
            )
            .at(path)?;
        Ok(())
    }

    /// Forgets the therapist commitment once the homework is shared with that therapist.
    pub(crate) fn clear_therapist_commitment(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .execute(
                "UPDATE account SET therapist_commitment = NULL WHERE id = 1",
                [],
            )
            .at(path)?;
        Ok(())
    }

    /// Every device of the account this device knows, this one first.
    pub(crate) fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT device_id, certificate, this_device, name, registered_at_ms, listed
                   FROM devices
                  ORDER BY this_device DESC, coalesce(registered_at_ms, 0), device_id",
            )
            .at(path)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(DeviceRecord {
                    device_id: row.get::<_, Hex<DeviceId>>(0)?.0,
                    certificate: row.get(1)?,
                    this_device: row.get(2)?,
                    name: row.get(3)?,
                    registered_at_ms: row.get(4)?,
                    listed: row.get(5)?,
                })
            })
            .at(path)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>().at(path)?)
    }

    /// Records the relay's list of the account's devices (each already verified against the
    /// account's identity by the caller), in one transaction: listed devices are added or
    /// updated, the others are kept but marked as not listed.
    pub(crate) fn record_listed_devices(
        &mut self,
        listed: &[DeviceRecord],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = begin_write(&mut self.conn, path)?;
        tx.execute("UPDATE devices SET listed = 0", []).at(path)?;
        for device in listed {
            upsert_device(&tx, device).at(path)?;
        }
        tx.execute(
            "UPDATE account SET devices_listed_ms = ?1 WHERE id = 1",
            params![at_ms],
        )
        .at(path)?;
        Ok(tx.commit().at(path)?)
    }
}

/// Inserts a device or updates what is known about it (a name is never forgotten).
pub(super) fn upsert_device(
    tx: &Transaction<'_>,
    device: &DeviceRecord,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO devices (device_id, certificate, this_device, name, registered_at_ms, listed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id) DO UPDATE SET
             certificate = excluded.certificate,
             this_device = max(this_device, excluded.this_device),
             name = coalesce(excluded.name, name),
             registered_at_ms = coalesce(excluded.registered_at_ms, registered_at_ms),
             listed = excluded.listed",
        params![
            Hex(device.device_id),
            device.certificate,
            device.this_device,
            device.name,
            device.registered_at_ms,
            device.listed
        ],
    )
}
