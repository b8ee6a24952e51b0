//! [`ThroughHandle`]: a [`RelayStore`] whose every call goes through a [`StoreHandle`]'s queue,
//! so that the conformance checks run against the handle the way the relay uses it, not
//! against the bare store on the storage thread.
//!
//! - The writes the relay sends to the group commit go the relay's way: [`RelayStore::push`]
//!   through [`StoreHandle::push`] and [`RelayStore::append_audit`] through
//!   [`StoreHandle::audit`], each a batch of one.
//! - [`RelayStore::write_batch`] of several writes queues them as that many pushes and audit
//!   records, each from a task of its own (as each connection's session pushes from its own
//!   task), in order, while a held request keeps the storage thread busy: the thread then finds
//!   them queued together and carries them out as one group commit. Each task's answer is the
//!   result in its place, so a batch that runs out of order, lets one write's refusal or
//!   failure spread, or answers a caller with another's result fails the checks.
//! - Every other method is a closure through [`StoreHandle::call`], the way the relay runs
//!   everything but those writes (a session's request to the core is one such closure).
//!
//! The checks are plain functions, so each call blocks on a single-threaded runtime of the
//! adapter's own, which also drives the writers' tasks.

use std::future::Future;

use tokio::runtime::Runtime;

use super::super::{
    AccountStore, AuditStore, BatchWrite, DeviceEntry, DeviceSummary, DocumentStore, LogStore,
    PairingStore, Push, PushOutcome, Written,
};
use super::*;

/// A store reached only through a [`StoreHandle`]. See the module documentation.
pub(super) struct ThroughHandle {
    /// Runs the handle's futures and the writers' tasks.
    runtime: Runtime,
    /// The handle every call goes through.
    handle: StoreHandle,
}

impl ThroughHandle {
    /// Opens a handle with `open` (such as [`StoreHandle::open_sqlite`]) on a runtime of its
    /// own. Call from a plain thread, not an async task.
    pub(super) fn open(open: impl Future<Output = Result<StoreHandle, StoreError>>) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let handle = runtime.block_on(open).unwrap();
        ThroughHandle { runtime, handle }
    }

    /// Shuts the handle down: returns once the store is closed.
    pub(super) fn shutdown(self) {
        self.runtime.block_on(self.handle.shutdown());
    }

    /// Runs `f` against the store with [`StoreHandle::call`], as one request of the queue.
    fn call<R, F>(&self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn RelayStore) -> R + Send + 'static,
    {
        self.runtime
            .block_on(self.handle.call(f))
            .expect("the storage thread runs every request")
    }
}

impl RelayStore for ThroughHandle {
    /// Queues every write from a task of its own behind a held storage thread, so that they
    /// make one group commit, and returns what each task was answered, in order. A batch whose
    /// commit failed answers every task with the same shared error ([`StoreError::Batch`]),
    /// which is then the result in every place.
    fn write_batch(
        &mut self,
        writes: &[BatchWrite<'_>],
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError> {
        let handle = &self.handle;
        Ok(self.runtime.block_on(async {
            let release = handle.hold().await;
            let mut writers = Vec::new();
            for (queued, write) in (1..).zip(writes) {
                let caller = handle.clone();
                writers.push(match *write {
                    BatchWrite::Push(push) => {
                        let push = push.clone();
                        tokio::spawn(async move { caller.push(push).await.map(Written::Push) })
                    }
                    BatchWrite::Audit(record) => {
                        let record = record.clone();
                        tokio::spawn(async move { caller.audit(record).await.map(Written::Audit) })
                    }
                });
                // One at a time, so the queue holds them in the batch's order.
                handle.until_queued(queued).await;
            }
            drop(release);
            let mut results = Vec::new();
            for writer in writers {
                results.push(writer.await.unwrap());
            }
            results
        }))
    }

    fn push(&mut self, push: &Push) -> Result<PushOutcome, StoreError> {
        self.runtime.block_on(self.handle.push(push.clone()))
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        self.runtime.block_on(self.handle.audit(record.clone()))
    }
}

impl AccountStore for ThroughHandle {
    fn create_account(
        &mut self,
        account: AccountId,
        identity_pub: [u8; 32],
        role: AccountRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.call(move |s| s.create_account(account, identity_pub, role, now_ms))
    }

    fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        self.call(move |s| s.account(account))
    }

    fn account_by_identity(
        &self,
        identity_pub: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        let identity_pub = *identity_pub;
        self.call(move |s| s.account_by_identity(&identity_pub))
    }

    fn disable_account(&mut self, account: AccountId, now_ms: i64) -> Result<(), StoreError> {
        self.call(move |s| s.disable_account(account, now_ms))
    }

    fn enable_account(&mut self, account: AccountId) -> Result<bool, StoreError> {
        self.call(move |s| s.enable_account(account))
    }

    fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<AccountSummary>, StoreError> {
        self.call(move |s| s.list_accounts(role))
    }

    fn register_device(&mut self, device: &DeviceRecord) -> Result<(), StoreError> {
        let device = device.clone();
        self.call(move |s| s.register_device(&device))
    }

    fn device(&self, device: DeviceId) -> Result<Option<DeviceEntry>, StoreError> {
        self.call(move |s| s.device(device))
    }

    fn devices_of(&self, account: AccountId) -> Result<Vec<DeviceEntry>, StoreError> {
        self.call(move |s| s.devices_of(account))
    }

    fn disable_device(&mut self, device: DeviceId, now_ms: i64) -> Result<(), StoreError> {
        self.call(move |s| s.disable_device(device, now_ms))
    }

    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError> {
        self.call(|s| s.list_devices())
    }

    fn create_invite(&mut self, invite: &InviteRecord) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.create_invite(&invite))
    }

    fn redeem_invite(
        &mut self,
        hash: &InviteHash,
        now_ms: i64,
    ) -> Result<InviteRecord, InviteError> {
        let hash = *hash;
        self.call(move |s| s.redeem_invite(&hash, now_ms))
    }

    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError> {
        let registration = registration.clone();
        self.call(move |s| s.register_with_invite(&registration, now_ms))
    }

    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError> {
        self.call(move |s| s.inviter_of(account))
    }
}

impl DocumentStore for ThroughHandle {
    fn create_document(
        &mut self,
        doc: DocId,
        owner: AccountId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.call(move |s| s.create_document(doc, owner, now_ms))
    }

    fn add_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.call(move |s| s.add_member(doc, account))
    }

    fn remove_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.call(move |s| s.remove_member(doc, account))
    }

    fn is_member(&self, doc: DocId, account: AccountId) -> Result<bool, StoreError> {
        self.call(move |s| s.is_member(doc, account))
    }

    fn members(&self, doc: DocId) -> Result<Vec<AccountId>, StoreError> {
        self.call(move |s| s.members(doc))
    }

    fn put_membership(
        &mut self,
        doc: DocId,
        serial: u64,
        bytes: &[u8],
        members: &[AccountId],
    ) -> Result<Vec<AccountId>, StoreError> {
        let (bytes, members) = (bytes.to_vec(), members.to_vec());
        self.call(move |s| s.put_membership(doc, serial, &bytes, &members))
    }

    fn membership(&self, doc: DocId) -> Result<Option<StoredMembership>, StoreError> {
        self.call(move |s| s.membership(doc))
    }

    fn documents_of(&self, account: AccountId) -> Result<Vec<MemberOf>, StoreError> {
        self.call(move |s| s.documents_of(account))
    }

    fn shares_document(&self, a: AccountId, b: AccountId) -> Result<bool, StoreError> {
        self.call(move |s| s.shares_document(a, b))
    }

    fn document(&self, doc: DocId) -> Result<Option<DocStats>, StoreError> {
        self.call(move |s| s.document(doc))
    }

    fn documents(&self) -> Result<Vec<DocStats>, StoreError> {
        self.call(|s| s.documents())
    }

    fn delete_document(&mut self, doc: DocId, now_ms: i64) -> Result<(), StoreError> {
        self.call(move |s| s.delete_document(doc, now_ms))
    }

    fn deleted_at(&self, doc: DocId) -> Result<Option<i64>, StoreError> {
        self.call(move |s| s.deleted_at(doc))
    }

    fn put_key_envelope(
        &mut self,
        doc: DocId,
        epoch: u32,
        recipient: DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        let envelope = envelope.to_vec();
        self.call(move |s| s.put_key_envelope(doc, epoch, recipient, &envelope))
    }

    fn key_envelopes(
        &self,
        doc: DocId,
        recipient: DeviceId,
    ) -> Result<Vec<KeyEnvelope>, StoreError> {
        self.call(move |s| s.key_envelopes(doc, recipient))
    }
}

impl LogStore for ThroughHandle {
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError> {
        let bundle = bundle.to_vec();
        self.call(move |s| s.append_bundle(doc, &bundle, now_ms))
    }

    fn bundles_since(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bundle>, StoreError> {
        self.call(move |s| s.bundles_since(doc, since, limit, max_bytes))
    }

    fn read_log(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, StoreError> {
        self.call(move |s| s.read_log(doc, since, limit, max_bytes))
    }

    fn head(&self, doc: DocId) -> Result<Seq, StoreError> {
        self.call(move |s| s.head(doc))
    }

    fn put_snapshot_part(
        &mut self,
        doc: DocId,
        upload: SnapshotUpload,
        part: u32,
        bytes: &[u8],
    ) -> Result<SnapshotProgress, StoreError> {
        let bytes = bytes.to_vec();
        self.call(move |s| s.put_snapshot_part(doc, upload, part, &bytes))
    }

    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError> {
        self.call(move |s| s.snapshot(doc))
    }
}

impl PairingStore for ThroughHandle {
    fn put_pairing(
        &mut self,
        mailbox: Mailbox,
        payload: &[u8],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let payload = payload.to_vec();
        self.call(move |s| s.put_pairing(mailbox, &payload, now_ms, expires_at_ms))
    }

    fn take_pairing(
        &mut self,
        mailbox: Mailbox,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.call(move |s| s.take_pairing(mailbox, now_ms))
    }

    fn purge_expired(&mut self, now_ms: i64) -> Result<Purged, StoreError> {
        self.call(move |s| s.purge_expired(now_ms))
    }
}

impl AuditStore for ThroughHandle {
    fn verify_audit(&self) -> Result<AuditHead, AuditError> {
        self.call(|s| s.verify_audit())
    }

    fn audit_for_doc(
        &self,
        doc: DocId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.call(move |s| s.audit_for_doc(doc, after, limit))
    }

    fn audit_for_account(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.call(move |s| s.audit_for_account(account, after, limit))
    }

    fn audit_hash_at(&self, row: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.call(move |s| s.audit_hash_at(row))
    }

    /// One request, as the relay's admin command runs it (the default would make two).
    fn verify_audit_since(&self, known: &AuditHead) -> Result<AuditHead, AuditError> {
        let known = *known;
        self.call(move |s| s.verify_audit_since(&known))
    }
}
