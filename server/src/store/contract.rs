//! The relay store's contract: [`RelayStore`], the whole API a backend implements and the
//! transaction contract it keeps, made of one focused trait per concern ([`AccountStore`],
//! [`DocumentStore`], [`LogStore`], [`PairingStore`], [`AuditStore`]) so each backend can
//! implement each concern in a file of its own.

use super::*;

/// The relay's storage.
///
/// # Transaction contract
///
/// Every backend keeps all of these; `conformance` checks them against each one.
///
/// 1. **Atomic.** Each method is one transaction: its whole effect happens, or none of it. The
///    one method that carries several requests, [`write_batch`](RelayStore::write_batch), is one
///    transaction too (one commit, one `fsync`), and each of its writes is atomic on its own
///    within it (clause 10).
/// 2. **Durable on `Ok`.** When a mutating method returns `Ok`, its effect is committed durably
///    and survives a crash or `kill -9` of the relay and a power cut (SQLite: WAL with
///    `synchronous=FULL`, committed before returning; PostgreSQL: `synchronous_commit = on`,
///    set by the session itself). The relay acknowledges a push only after
///    [`write_batch`](RelayStore::write_batch) returned `Ok` with
///    [`PushOutcome::Appended`] for it.
/// 3. **Nothing on `Err`.** When a method returns `Err` — a refusal such as
///    [`StoreError::Conflict`] or [`InviteError::Used`], or a failure — nothing was changed.
///    (Outcomes that are not errors, such as [`take_pairing`](PairingStore::take_pairing) finding
///    an expired payload and deleting it, are described on each method.)
/// 4. **Consistent reads.** A method that reads several rows reads them in one read
///    transaction, so it never sees half of another transaction.
/// 5. **Serialised writers.** A store value is used from one thread at a time (`&mut self`);
///    several processes may open the same database (an admin command beside the running relay),
///    and their writes are serialised by the write lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
///    a transaction-level advisory lock every write takes first, which also serialises several
///    relays on one database), waiting up to a busy timeout before failing with
///    [`StoreError::Busy`].
/// 6. **Time is an argument.** Methods take `now_ms` (Unix milliseconds) instead of reading a
///    clock, so expiry is deterministic in tests.
/// 7. **Opaque and bounded.** The store keeps only opaque bytes, ids, sizes, sequence numbers and
///    times; it never interprets a blob. It keeps no cache of blobs: memory does not grow with the
///    size or number of documents (reads are bounded by their `limit` / `max_bytes`).
/// 8. **Sequence numbers.** Per document, appends get 1, 2, 3, … in commit order; a number is
///    never reused, not after compaction and not after deletion (a deleted document id cannot be
///    created again).
/// 9. **Deleting is for good.** [`delete_document`](DocumentStore::delete_document) removes the
///    document's blobs; the backend also does what it can to get their bytes out of its files
///    (SQLite: `secure_delete=ON` overwrites them, and a checkpoint; PostgreSQL: a `VACUUM`
///    right after the commit frees their space, but does not overwrite it, and the WAL keeps
///    them until recycled: see the `postgres` module).
/// 10. **Group commit.** [`write_batch`](RelayStore::write_batch) applies its writes in order
///     in one transaction and returns one result per write. A write that is refused or fails on
///     its own leaves no trace and does not affect the others (each write runs under its own
///     savepoint). `Ok` means the whole batch committed durably, so every write reported
///     `Ok` in it is durable; `Err` means nothing of the batch was committed, whatever the
///     per-write results would have been. Sequence numbers and audit rows are assigned in the
///     batch's order, as if each write had been its own transaction.
pub(crate) trait RelayStore:
    AccountStore + DocumentStore + LogStore + PairingStore + AuditStore
{
    /// Carries out `writes` in order in one transaction with one durable commit (clause 10 of
    /// the contract), returning one result per write, in the same order and of the same kind
    /// ([`Written::Push`] for a [`BatchWrite::Push`], [`Written::Audit`] for a
    /// [`BatchWrite::Audit`]).
    ///
    /// - A push is checked in the transaction that appends it: the device must be registered
    ///   and enabled (and its account too), the document must exist, and the device's account
    ///   must be a member of it; otherwise it is [`PushOutcome::Refused`] and nothing is
    ///   written. An accepted push appends the bundle with the document's next sequence number
    ///   and one audit record (its `action`, the device, its account, the document) together.
    /// - An audit record is appended as by [`append_audit`](RelayStore::append_audit).
    ///
    /// `Err` means nothing was committed: every write of the batch failed with it.
    fn write_batch(
        &mut self,
        writes: &[BatchWrite<'_>],
    ) -> Result<Vec<Result<Written, StoreError>>, StoreError>;

    /// Checks and appends one push ([`write_batch`](RelayStore::write_batch) of one write).
    fn push(&mut self, push: &Push) -> Result<PushOutcome, StoreError> {
        match self.write_batch(&[BatchWrite::Push(push)])?.pop() {
            Some(Ok(Written::Push(outcome))) => Ok(outcome),
            Some(Err(err)) => Err(err),
            Some(Ok(Written::Audit(_))) | None => Err(StoreError::Mismatched),
        }
    }

    /// Appends one event to the audit trail and returns its row number. Each row stores
    /// `SHA-256(previous row's hash || canonical row bytes)`, so altering or removing a past row
    /// is detected by [`verify_audit`](AuditStore::verify_audit). Refuses an invalid action
    /// token ([`StoreError::Invalid`]). This is [`write_batch`](RelayStore::write_batch) of one
    /// write.
    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        match self.write_batch(&[BatchWrite::Audit(record)])?.pop() {
            Some(Ok(Written::Audit(row))) => Ok(row),
            Some(Err(err)) => Err(err),
            Some(Ok(Written::Push(_))) | None => Err(StoreError::Mismatched),
        }
    }
}

/// Accounts, their devices, invites, and who invited whom: one part of [`RelayStore`], whose
/// transaction contract every method keeps.
pub(crate) trait AccountStore {
    /// Creates an account. Refuses an id or identity key that is already registered
    /// ([`Conflict::AccountExists`], [`Conflict::IdentityKeyInUse`]).
    fn create_account(
        &mut self,
        account: AccountId,
        identity_pub: [u8; 32],
        role: AccountRole,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The account with this id, if any.
    fn account(&self, account: AccountId) -> Result<Option<AccountRecord>, StoreError>;

    /// The account with this identity key, if any.
    fn account_by_identity(
        &self,
        identity_pub: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError>;

    /// Disables an account (a departed therapist): its devices are reported disabled from now on.
    /// Disabling twice keeps the first time. [`Missing::Account`] if unknown.
    fn disable_account(&mut self, account: AccountId, now_ms: i64) -> Result<(), StoreError>;

    /// Enables a disabled account again (devices disabled one by one stay disabled). Returns
    /// false if it was not disabled. [`Missing::Account`] if unknown.
    fn enable_account(&mut self, account: AccountId) -> Result<bool, StoreError>;

    /// Every account, or those of one role, oldest first, with their device counts.
    fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<AccountSummary>, StoreError>;

    /// Registers a device for an existing, enabled account. Refuses a taken device id or signing
    /// key, and a disabled account.
    fn register_device(&mut self, device: &DeviceRecord) -> Result<(), StoreError>;

    /// The device, its account's role, and whether it is disabled.
    fn device(&self, device: DeviceId) -> Result<Option<DeviceEntry>, StoreError>;

    /// Every device of an account, oldest first (disabled ones included).
    fn devices_of(&self, account: AccountId) -> Result<Vec<DeviceEntry>, StoreError>;

    /// Disables one device (lost or replaced). Disabling twice keeps the first time.
    /// [`Missing::Device`] if unknown.
    fn disable_device(&mut self, device: DeviceId, now_ms: i64) -> Result<(), StoreError>;

    /// Every device, ids and times only, oldest first.
    fn list_devices(&self) -> Result<Vec<DeviceSummary>, StoreError>;

    /// Stores a new invite (its hash only). Refuses a hash that exists
    /// ([`Conflict::InviteExists`]), an unknown `created_by`, and a label on a client invite or
    /// a malformed one ([`StoreError::Invalid`], see [`check_label`]).
    fn create_invite(&mut self, invite: &InviteRecord) -> Result<(), StoreError>;

    /// Redeems an invite: one time only. Valid while `now_ms < expires_at_ms`; marks it used in
    /// the same transaction. Refused with [`InviteError::Unknown`], [`InviteError::Expired`] or
    /// [`InviteError::Used`] (one outward message) without changing anything.
    #[cfg(test)]
    fn redeem_invite(
        &mut self,
        hash: &InviteHash,
        now_ms: i64,
    ) -> Result<InviteRecord, InviteError>;

    /// Redeems an invite and creates the account (with the invite's role and label, and the
    /// invite's creator remembered as its inviter, see [`inviter_of`](AccountStore::inviter_of))
    /// and its first device, all in one transaction: if the account or device cannot be created,
    /// the invite is not consumed.
    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError>;

    /// The account whose invite registered `account` (a client's therapist), if any; `None`
    /// for an account invited by the practice admin's command. [`Missing::Account`] if unknown.
    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError>;
}

/// Documents, their members and signed membership lists, key envelopes, and deletion: one part
/// of [`RelayStore`], whose transaction contract every method keeps.
pub(crate) trait DocumentStore {
    /// Creates an empty document (head 0) owned by `owner`, who becomes its first member.
    /// Refuses an existing or deleted id and an unknown owner.
    fn create_document(
        &mut self,
        doc: DocId,
        owner: AccountId,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Makes `account` a member of `doc`. Returns false if it already was.
    #[cfg(test)]
    fn add_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError>;

    /// Removes `account` from `doc`'s members. Returns false if it was not one. The owner cannot
    /// be removed ([`Conflict::OwnerIsAlwaysMember`]).
    fn remove_member(&mut self, doc: DocId, account: AccountId) -> Result<bool, StoreError>;

    /// Whether `account` is a member of `doc` (false for an unknown document). Whether the
    /// account or device is disabled is checked separately, with
    /// [`device`](AccountStore::device).
    fn is_member(&self, doc: DocId, account: AccountId) -> Result<bool, StoreError>;

    /// The members of `doc`, owner included.
    fn members(&self, doc: DocId) -> Result<Vec<AccountId>, StoreError>;

    /// Stores `doc`'s signed membership list (`serial`, opaque `bytes`) and makes `members`
    /// exactly its members, in one transaction; the owner stays a member whether listed or not.
    /// Returns the accounts that stopped being members. Refuses a serial not greater than the
    /// stored list's ([`Conflict::MembershipSerial`]), a serial above `i64::MAX`
    /// ([`StoreError::Invalid`]), an unknown document or an unknown member account
    /// ([`StoreError::NotFound`]); a refusal changes nothing.
    fn put_membership(
        &mut self,
        doc: DocId,
        serial: u64,
        bytes: &[u8],
        members: &[AccountId],
    ) -> Result<Vec<AccountId>, StoreError>;

    /// `doc`'s stored membership list, if the owner stored one. [`Missing::Document`] if the
    /// document is unknown.
    fn membership(&self, doc: DocId) -> Result<Option<StoredMembership>, StoreError>;

    /// Every document `account` is a member of, with its owner, oldest first (none for an
    /// unknown account).
    fn documents_of(&self, account: AccountId) -> Result<Vec<MemberOf>, StoreError>;

    /// Whether accounts `a` and `b` are both members of some document.
    fn shares_document(&self, a: AccountId, b: AccountId) -> Result<bool, StoreError>;

    /// Sizes and positions of one document, if it exists.
    fn document(&self, doc: DocId) -> Result<Option<DocStats>, StoreError>;

    /// Sizes and positions of every document, oldest first.
    fn documents(&self) -> Result<Vec<DocStats>, StoreError>;

    /// Deletes the document for good: its bundles, snapshot, key envelopes, members and signed
    /// membership list. Its id is remembered so it is never created again (sequence numbers are
    /// never reused). Audit records about it stay (they hold ids only).
    fn delete_document(&mut self, doc: DocId, now_ms: i64) -> Result<(), StoreError>;

    /// When the document was deleted (Unix milliseconds), if it was; `None` for a document that
    /// exists or never did.
    fn deleted_at(&self, doc: DocId) -> Result<Option<i64>, StoreError>;

    /// Stores the envelope of `doc`'s key for `epoch` wrapped for `recipient`, replacing one
    /// stored before for the same three: the relay lets only the owner's devices store
    /// envelopes, and the owner must always be able to overwrite one planted before it.
    fn put_key_envelope(
        &mut self,
        doc: DocId,
        epoch: u32,
        recipient: DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError>;

    /// Every envelope of `doc` for `recipient`, by epoch.
    fn key_envelopes(
        &self,
        doc: DocId,
        recipient: DeviceId,
    ) -> Result<Vec<KeyEnvelope>, StoreError>;
}

/// A document's log: appended bundles with their sequence numbers, and the snapshot that
/// replaces the log's head: one part of [`RelayStore`], whose transaction contract every method
/// keeps.
pub(crate) trait LogStore {
    /// Appends a bundle with the next sequence number and commits it durably before returning
    /// that number. This is the bare log operation, without the device and membership checks
    /// and the audit record of a push: the relay appends devices' pushes with
    /// [`write_batch`](RelayStore::write_batch) ([`push`](RelayStore::push)).
    #[cfg(test)]
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError>;

    /// Stored bundles with `seq > since`, in order: at most `limit` of them and, after the
    /// first, no more than `max_bytes` in total. The first is returned even if it alone is larger
    /// than `max_bytes`, so an oversized bundle never stalls a reader. Bundles covered by the
    /// snapshot are no longer stored: use [`read_log`](LogStore::read_log) to catch up.
    fn bundles_since(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bundle>, StoreError>;

    /// What a device at cursor `since` needs, in one read transaction: the snapshot if `since`
    /// is older than what it covers, then bundles after `max(since, covers)` within `limit` and
    /// `max_bytes` (the snapshot's size counts against `max_bytes`, but a page is never empty
    /// when there is something to send).
    fn read_log(
        &self,
        doc: DocId,
        since: Seq,
        limit: usize,
        max_bytes: usize,
    ) -> Result<LogPage, StoreError>;

    /// The highest sequence number assigned ([`Seq::ZERO`] if none).
    fn head(&self, doc: DocId) -> Result<Seq, StoreError>;

    /// Stores part `part` (from 0) of a snapshot of `upload.parts` parts covering the log up to
    /// `upload.covers`, in one transaction.
    ///
    /// A part that is not the last is staged: kept aside, changing nothing else. Part 0 starts
    /// an upload and drops whatever the same device had staged for the document; any later
    /// part must follow the parts that device staged, for the same `covers` and `parts`
    /// ([`StoreError::SnapshotPartOutOfOrder`] otherwise, changing nothing). The last part
    /// stores the snapshot (all its parts, in order, replacing the stored one), deletes every
    /// bundle with `seq <= covers` and drops every upload staged for the document, all in its
    /// one transaction: the log is never left half compacted, and a reader sees the old
    /// snapshot or the whole new one.
    ///
    /// Every part is refused, changing nothing, if `covers > head`
    /// ([`StoreError::SnapshotBeyondHead`]) or the stored snapshot covers more
    /// ([`StoreError::SnapshotOutdated`]; one covering the same position is replaced). A
    /// snapshot covers at least bundle 1, and `part < parts` ([`StoreError::Invalid`]).
    fn put_snapshot_part(
        &mut self,
        doc: DocId,
        upload: SnapshotUpload,
        part: u32,
        bytes: &[u8],
    ) -> Result<SnapshotProgress, StoreError>;

    /// Stores a snapshot sent whole: [`put_snapshot_part`](LogStore::put_snapshot_part) with
    /// its only part. Nothing is staged for a one-part upload, so no uploader is recorded.
    fn put_snapshot(&mut self, doc: DocId, covers: Seq, snapshot: &[u8]) -> Result<(), StoreError> {
        let whole = SnapshotUpload {
            uploader: DeviceId([0; 16]),
            covers,
            parts: 1,
        };
        self.put_snapshot_part(doc, whole, 0, snapshot).map(drop)
    }

    /// The stored snapshot, if any.
    #[cfg(test)]
    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError>;
}

/// Pairing mailboxes (a sealed payload waiting for a new device) and the purge of what expired:
/// one part of [`RelayStore`], whose transaction contract every method keeps.
pub(crate) trait PairingStore {
    /// Leaves a payload in a pairing mailbox until `expires_at_ms`. Refuses a mailbox that holds
    /// an unexpired payload ([`Conflict::MailboxInUse`]); an expired one is replaced.
    fn put_pairing(
        &mut self,
        mailbox: Mailbox,
        payload: &[u8],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Takes the payload out of a mailbox: one time only, it is deleted. An expired payload is
    /// deleted too and `None` is returned.
    fn take_pairing(
        &mut self,
        mailbox: Mailbox,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes expired pairing payloads and expired invites.
    fn purge_expired(&mut self, now_ms: i64) -> Result<Purged, StoreError>;
}

/// Reading and verifying the audit trail (records are appended with the writes they record,
/// through [`RelayStore::write_batch`]): one part of [`RelayStore`], whose transaction contract
/// every method keeps.
pub(crate) trait AuditStore {
    /// Checks the whole chain, row by row, without loading it into memory.
    fn verify_audit(&self) -> Result<AuditHead, AuditError>;

    /// Audit events about `doc` with row number `> after`, oldest first, at most `limit`.
    fn audit_for_doc(
        &self,
        doc: DocId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Audit events of `account` that concern no document (sign-ins, registrations, refused
    /// sign-ins, the admin disabling it) with row number `> after`, oldest first, at most
    /// `limit`.
    fn audit_for_account(
        &self,
        account: AccountId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The stored hash of audit row `row`, if there is such a row.
    fn audit_hash_at(&self, row: u64) -> Result<Option<[u8; 32]>, StoreError>;

    /// Checks the whole chain like [`verify_audit`](AuditStore::verify_audit), and also that it
    /// still passes through `known`, a head an operator recorded earlier: a trail cut back below
    /// it, or rewritten up to it (even consistently, hashes and recorded end included), is
    /// reported. Rows added since `known` are fine.
    fn verify_audit_since(&self, known: &AuditHead) -> Result<AuditHead, AuditError> {
        let head = self.verify_audit()?;
        if known.rows > head.rows {
            return Err(AuditError::Broken {
                row: head.rows.saturating_add(1),
                problem: AuditProblem::Truncated {
                    recorded_rows: known.rows,
                },
            });
        }
        let at = if known.rows == 0 {
            Some([0; 32])
        } else {
            self.audit_hash_at(known.rows)?
        };
        if at != Some(known.hash) {
            return Err(AuditError::Broken {
                row: known.rows,
                problem: AuditProblem::DiffersFromKnownHead,
            });
        }
        Ok(head)
    }
}
