//! [`RelayStore`] for [`PostgresStore`]: each method picks its kind of transaction — a write
//! (under the write lock), a consistent read of several statements, or a read of one
//! statement — and hands it to the concern module that holds the SQL. Changes other relays'
//! live devices must hear of also send a [`notice`] in their transaction.

use super::notice::{self, Notice};
use super::{accounts, audit, batch, documents, log, pairing, PostgresStore};
use crate::store::{
    check_label, check_pairing_expiry, AccountId, AccountRecord, AccountRole, AccountStore,
    AccountSummary, AuditEntry, AuditError, AuditHead, AuditStore, BatchWrite, Bundle, Conflict,
    DeviceEntry, DeviceId, DeviceRecord, DeviceSummary, DocId, DocStats, DocumentStore,
    InviteError, InviteRecord, KeyEnvelope, LogPage, LogStore, Mailbox, MemberOf, PairingStore,
    Purged, Registration, RelayStore, Seq, SnapshotProgress, SnapshotUpload, StoreError,
    StoredMembership, Written,
};
#[cfg(test)]
use crate::store::{InviteHash, Snapshot};

impl AccountStore for PostgresStore {
    fn create_account(
        &mut self,
        account: AccountId,
        identity_pub: [u8; 32],
        role: AccountRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let record = AccountRecord {
            account,
            identity_pub,
            role,
            created_at_ms: now_ms,
            disabled_at_ms: None,
            label: None,
        };
        self.write(|sql| accounts::insert_account(sql, &record))
    }

    fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.read_one(|sql| accounts::account(sql, account))
    }

    fn account_by_identity(
        &self,
        identity_pub: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.read_one(|sql| accounts::account_by_identity(sql, identity_pub))
    }

    fn disable_account(&mut self, account: AccountId, now_ms: i64) -> Result<(), StoreError> {
        self.write(|sql| accounts::disable_account(sql, account, now_ms))
    }

    fn enable_account(&mut self, account: AccountId) -> Result<bool, StoreError> {
        self.write(|sql| accounts::enable_account(sql, account))
    }

    fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<AccountSummary>, StoreError> {
        self.read_one(|sql| accounts::list_accounts(sql, role))
    }

    fn register_device(&mut self, device: &DeviceRecord) -> Result<(), StoreError> {
        self.write(|sql| accounts::insert_device(sql, device))
    }

    fn device(&self, device: DeviceId) -> Result<Option<DeviceEntry>, StoreError> {
        self.read_one(|sql| accounts::device(sql, device))
    }

    fn devices_of(&self, account: AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        self.read_one(|sql| accounts::devices_of(sql, account))
    }

    fn disable_device(&mut self, device: DeviceId, now_ms: i64) -> Result<(), StoreError> {
        self.write(|sql| accounts::disable_device(sql, device, now_ms))
    }

    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        self.read_one(accounts::list_devices)
    }

    fn create_invite(&mut self, invite: &InviteRecord) -> Result<(), StoreError> {
        check_label(invite.kind, invite.label.as_deref())?;
        self.write(|sql| accounts::create_invite(sql, invite))
    }

    #[cfg(test)]
    fn redeem_invite(
        &mut self,
        hash: &InviteHash,
        now_ms: i64,
    ) -> Result<InviteRecord, InviteError> {
        self.write(|sql| accounts::redeem(sql, hash, now_ms))
    }

    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError> {
        if registration.device.account != registration.account {
            return Err(StoreError::Conflict(Conflict::DeviceAccountMismatch).into());
        }
        self.write(|sql| accounts::register_with_invite(sql, registration, now_ms))
    }

    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError> {
        self.read_one(|sql| accounts::inviter_of(sql, account))
    }
}

impl DocumentStore for PostgresStore {
    fn create_document(
        &mut self,
        doc: DocId,
        owner: AccountId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|sql| documents::create_document(sql, doc, owner, now_ms))
    }

    #[cfg(test)]
    fn add_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.write(|sql| documents::add_member(sql, doc, account))
    }

    fn remove_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.write(|sql| {
            let removed = documents::remove_member(sql, doc, account)?;
            if removed {
                notice::send(sql, &members_removed(doc, vec![account]))?;
            }
            Ok(removed)
        })
    }

    fn is_member(&self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.read_one(|sql| documents::is_member(sql, doc, account))
    }

    fn members(&self, doc: DocId) -> Result<Vec<AccountId>, StoreError> {
        self.read(|sql| documents::members(sql, doc))
    }

    fn put_membership(
        &mut self,
        doc: DocId,
        serial: u64,
        bytes: &[u8],
        members: &[AccountId],
    ) -> Result<Vec<AccountId>, StoreError> {
        self.write(|sql| {
            let removed = documents::put_membership(sql, doc, serial, bytes, members)?;
            if !removed.is_empty() {
                notice::send(sql, &members_removed(doc, removed.clone()))?;
            }
            Ok(removed)
        })
    }

    fn membership(&self, doc: DocId) -> Result<Option<StoredMembership>, StoreError> {
        self.read(|sql| documents::membership(sql, doc))
    }

    fn documents_of(&self, account: AccountId) -> Result<Vec<MemberOf>, StoreError> {
        self.read_one(|sql| documents::documents_of(sql, account))
    }

    fn shares_document(&self, a: AccountId, b: AccountId) -> Result<bool, StoreError> {
        self.read_one(|sql| documents::shares_document(sql, a, b))
    }

    fn document(&self, doc: DocId) -> Result<Option<DocStats>, StoreError> {
        self.read_one(|sql| documents::document(sql, doc))
    }

    fn documents(&self) -> Result<Vec<DocStats>, StoreError> {
        self.read_one(documents::documents)
    }

    fn delete_document(&mut self, doc: DocId, now_ms: i64) -> Result<(), StoreError> {
        self.write(|sql| {
            documents::delete_document(sql, doc, now_ms)?;
            notice::send(sql, &Notice::Deleted { doc })
        })?;
        self.vacuum_blob_tables();
        Ok(())
    }

    fn deleted_at(&self, doc: DocId) -> Result<Option<i64>, StoreError> {
        self.read_one(|sql| documents::deleted_at(sql, doc))
    }

    fn put_key_envelope(
        &mut self,
        doc: DocId,
        epoch: u32,
        recipient: DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        self.write(|sql| documents::put_key_envelope(sql, doc, epoch, recipient, envelope))
    }

    fn key_envelopes(
        &self,
        doc: DocId,
        recipient: DeviceId,
    ) -> Result<Vec<KeyEnvelope>, StoreError> {
        self.read(|sql| documents::key_envelopes(sql, doc, recipient))
    }
}

impl LogStore for PostgresStore {
    #[cfg(test)]
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError> {
        self.write(|sql| log::append_to_log(sql, doc, bundle, now_ms))
    }

    fn bundles_since(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bundle>, StoreError> {
        self.read(|sql| {
            documents::require_document(sql, doc)?;
            log::read_bundles(sql, doc, since, limit, max_bytes, true)
        })
    }

    fn read_log(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, StoreError> {
        self.read(|sql| log::read_log(sql, doc, since, limit, max_bytes))
    }

    fn head(&self, doc: DocId) -> Result<Seq, StoreError> {
        self.read_one(|sql| documents::require_document(sql, doc))
    }

    fn put_snapshot_part(
        &mut self,
        doc: DocId,
        upload: SnapshotUpload,
        part: u32,
        bytes: &[u8],
    ) -> Result<SnapshotProgress, StoreError> {
        log::check_snapshot_part(upload, part)?;
        self.write(|sql| log::put_snapshot_part(sql, doc, upload, part, bytes))
    }

    #[cfg(test)]
    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError> {
        self.read(|sql| {
            documents::require_document(sql, doc)?;
            log::read_snapshot(sql, doc)
        })
    }
}

impl PairingStore for PostgresStore {
    fn put_pairing(
        &mut self,
        mailbox: Mailbox,
        payload: &[u8],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        check_pairing_expiry(now_ms, expires_at_ms)?;
        self.write(|sql| pairing::put_pairing(sql, mailbox, payload, now_ms, expires_at_ms))
    }

    fn take_pairing(
        &mut self,
        mailbox: Mailbox,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.write(|sql| pairing::take_pairing(sql, mailbox, now_ms))
    }

    fn purge_expired(&mut self, now_ms: i64) -> Result<Purged, StoreError> {
        self.write(|sql| {
            Ok(Purged {
                pairings: pairing::purge_expired_pairings(sql, now_ms)?,
                invites: accounts::purge_expired_invites(sql, now_ms)?,
            })
        })
    }
}

impl AuditStore for PostgresStore {
    fn verify_audit(&self) -> Result<AuditHead, AuditError> {
        self.read(audit::verify_audit)
    }

    fn audit_for_doc(
        &self,
        doc: DocId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read_one(|sql| audit::audit_for_doc(sql, doc, after, limit))
    }

    fn audit_for_account(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read_one(|sql| audit::audit_for_account(sql, account, after, limit))
    }

    fn audit_hash_at(&self, row: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.read_one(|sql| audit::audit_hash_at(sql, row))
    }
}

impl RelayStore for PostgresStore {
    fn write_batch(
        &mut self,
        writes: &[BatchWrite<'_>],
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
        self.write(|sql| batch::write_batch(sql, writes))
    }
}

/// The store moves to its storage thread, so it must stay `Send` (the `RefCell` is).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<PostgresStore>();
};

/// The notice that `accounts` stopped being members of `doc` (see [`notice`]).
fn members_removed(doc: DocId, accounts: Vec<AccountId>) -> Notice {
    Notice::MembersRemoved { doc, accounts }
}
