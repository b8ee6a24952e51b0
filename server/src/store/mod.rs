//! The relay's storage: the [`RelayStore`] trait, its transaction contract, and the records it
//! keeps.
//!
//! The relay is hostile by assumption, so everything it stores about a document is *opaque*:
//! encrypted bundles, encrypted snapshots and wrapped key envelopes, plus ids, sizes, sequence
//! numbers and times. It stores no names and no plaintext. Invites are kept only as hashes, and
//! audit actions are short machine tokens (see [`AuditRecord::action`]), never free text. The one
//! exception is a staff account's label ([`AccountRecord::label`]): the name the practice admin
//! gave a therapist's account, which a client account never carries.
//!
//! - [`sqlite`]: the SQLite backend (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`, migrations by
//!   `PRAGMA user_version`, integrity check at open — for `serve`, in the background — online
//!   backup).
//! - [`postgres`]: the PostgreSQL backend, for relays that share one database (`READ COMMITTED`
//!   writes under one advisory write lock, `REPEATABLE READ` reads, `synchronous_commit = on`,
//!   migrations under the same lock, `VACUUM` after deleting a document).
//! - [`handle`]: [`handle::StoreHandle`], the cloneable async front that owns one backend on a
//!   dedicated thread, so no SQLite call ever runs on the async runtime.
//! - `conformance` (tests only): one suite that checks the contract below, run against every
//!   backend and through the handle.

use std::fmt;

mod contract;
mod error;
pub(crate) mod handle;
pub(crate) mod postgres;
pub(crate) mod sqlite;

#[cfg(test)]
mod conformance;

pub(crate) use contract::{
    AccountStore, AuditStore, DocumentStore, LogStore, PairingStore, RelayStore,
};
pub(crate) use error::{AuditError, AuditProblem, Conflict, InviteError, Missing, StoreError};

/// The store keeps the protocol's own ids and sequence numbers, so the relay has one set of typed
/// ids from the wire to the database (how the store numbers a log is part of its contract, see
/// [`RelayStore`]). Each backend converts them to and from its column types in one place (an id
/// as a `BLOB`/`BYTEA` of its bytes, a [`Seq`] as a 64-bit integer): the database crates' traits
/// cannot be implemented here for another crate's types.
pub(crate) use between_shared::protocol::{AccountId, DeviceId, DocId, Mailbox, Seq};

/// The SHA-256 of an invite code. The relay stores and compares only this hash, never the code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct InviteHash(pub(crate) [u8; 32]);

impl InviteHash {
    /// The raw bytes.
    pub(crate) const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for InviteHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteHash({})", hex::encode(self.0))
    }
}

/// What an account may do on the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AccountRole {
    /// A person in therapy: owns their documents and decides who else is a member.
    Client,
    /// A therapist: may invite clients and is a member of their clients' shared documents.
    Therapist,
    /// A practice administrator: may invite therapists and disable accounts.
    Admin,
}

impl AccountRole {
    /// Every role, for tests and listings.
    pub(crate) const ALL: [AccountRole; 3] = [
        AccountRole::Client,
        AccountRole::Therapist,
        AccountRole::Admin,
    ];

    /// The stable token stored for this role.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            AccountRole::Client => "client",
            AccountRole::Therapist => "therapist",
            AccountRole::Admin => "admin",
        }
    }

    /// Parses a stored token; `None` for anything unknown.
    pub(crate) fn parse(token: &str) -> Option<AccountRole> {
        AccountRole::ALL
            .into_iter()
            .find(|role| role.as_str() == token)
    }
}

impl fmt::Display for AccountRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account: one person, known to the relay only by the public half of their identity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRecord {
    /// The account id.
    pub(crate) account: AccountId,
    /// The person's Ed25519 identity public key (unique across accounts).
    pub(crate) identity_pub: [u8; 32],
    /// What the account may do.
    pub(crate) role: AccountRole,
    /// When the account was created (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// When the account was disabled, if it was. A disabled account's devices are refused.
    pub(crate) disabled_at_ms: Option<i64>,
    /// The label the practice admin gave a staff account ("Dr Ada Park"); never set on a client
    /// account (see [`check_label`]).
    pub(crate) label: Option<String>,
}

/// Longest staff label, in characters.
pub(crate) const MAX_LABEL_CHARS: usize = 64;

/// The account a registration creates from the invite it redeemed: the invite's role, which
/// must be the one asked for ([`InviteError::WrongRole`] otherwise, and the caller's transaction,
/// redemption included, is rolled back), and the invite's label. Both backends use it.
pub(crate) fn account_from_invite(
    invite: &InviteRecord,
    registration: &Registration,
    now_ms: i64,
) -> Result<AccountRecord, InviteError> {
    if invite.kind != registration.role {
        return Err(InviteError::WrongRole {
            invite: invite.kind,
            wanted: registration.role,
        });
    }
    Ok(AccountRecord {
        account: registration.account,
        identity_pub: registration.identity_pub,
        role: invite.kind,
        created_at_ms: now_ms,
        disabled_at_ms: None,
        label: invite.label.clone(),
    })
}

/// Refuses a pairing payload that would be expired on arrival (both backends).
pub(crate) fn check_pairing_expiry(now_ms: i64, expires_at_ms: i64) -> Result<(), StoreError> {
    if expires_at_ms <= now_ms {
        return Err(StoreError::Invalid(
            "the pairing payload would already be expired",
        ));
    }
    Ok(())
}

/// Checks a staff label for an account of `role`: only staff (not client) accounts carry one,
/// and it is 1 to [`MAX_LABEL_CHARS`] characters without control characters or surrounding
/// spaces. The relay holds no client names, so a client's label is refused outright.
pub(crate) fn check_label(role: AccountRole, label: Option<&str>) -> Result<(), StoreError> {
    let Some(label) = label else {
        return Ok(());
    };
    if role == AccountRole::Client {
        return Err(StoreError::Invalid(
            "client accounts carry no label: the relay never holds a client's name",
        ));
    }
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(StoreError::Invalid("a label is 1 to 64 characters"));
    }
    if label.trim() != label || label.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a label has no control characters and no spaces around it",
        ));
    }
    Ok(())
}

/// One line of the admin's account listing: ids, role, the staff label, counts and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountSummary {
    /// The account id.
    pub(crate) account: AccountId,
    /// Its role.
    pub(crate) role: AccountRole,
    /// The staff label, if any (never on a client account).
    pub(crate) label: Option<String>,
    /// How many devices it has registered (disabled ones included).
    pub(crate) devices: u64,
    /// When it was created (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// When it was disabled, if it is.
    pub(crate) disabled_at_ms: Option<i64>,
}

/// A device as registered: its signing key and the certificate its owner's identity key signed
/// for it (opaque to the store; the relay verifies it before registering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceRecord {
    /// The device id.
    pub(crate) device: DeviceId,
    /// The account the device belongs to.
    pub(crate) account: AccountId,
    /// The device's Ed25519 signing public key (unique across devices).
    pub(crate) signing_pub: [u8; 32],
    /// The cross-signing certificate, as sent by the device.
    pub(crate) certificate: Vec<u8>,
    /// When the device was registered (Unix milliseconds).
    pub(crate) registered_at_ms: i64,
}

/// A registered device together with what the relay needs to admit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceEntry {
    /// The registration.
    pub(crate) record: DeviceRecord,
    /// The role of the device's account.
    pub(crate) role: AccountRole,
    /// True if the device or its whole account has been disabled: refuse it.
    pub(crate) disabled: bool,
    /// True if the whole account has been disabled (by the practice admin).
    pub(crate) account_disabled: bool,
}

/// One line of the admin's device listing: ids, role and times only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceSummary {
    /// The device id.
    pub(crate) device: DeviceId,
    /// Its account.
    pub(crate) account: AccountId,
    /// The account's role.
    pub(crate) role: AccountRole,
    /// When the device was registered (Unix milliseconds).
    pub(crate) registered_at_ms: i64,
    /// True if the device or its account has been disabled.
    pub(crate) disabled: bool,
}

/// An invite, as stored: only the hash of its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InviteRecord {
    /// SHA-256 of the invite code.
    pub(crate) hash: InviteHash,
    /// The role of the account the invite creates.
    pub(crate) kind: AccountRole,
    /// Who created it (`None` for the admin's command line on the relay host).
    pub(crate) created_by: Option<AccountId>,
    /// When it was created (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// It can be redeemed while `now_ms < expires_at_ms`.
    pub(crate) expires_at_ms: i64,
    /// The staff label the account gets when the invite is redeemed (never for a client; see
    /// [`check_label`]).
    pub(crate) label: Option<String>,
}

/// A new person registering with an invite: the account and its first device, created together
/// with the invite's redemption in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    /// The hash of the invite code presented.
    pub(crate) invite: InviteHash,
    /// The new account's id.
    pub(crate) account: AccountId,
    /// The person's identity public key.
    pub(crate) identity_pub: [u8; 32],
    /// The first device; its `account` must equal `account`.
    pub(crate) device: DeviceRecord,
    /// The kind of account the device asks for (from its certificate); must match the invite.
    pub(crate) role: AccountRole,
}

/// Sizes and positions of one document; ids and numbers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocStats {
    /// The document.
    pub(crate) doc: DocId,
    /// The owning (client) account.
    pub(crate) owner: AccountId,
    /// When it was created on the relay (Unix milliseconds).
    pub(crate) created_at_ms: i64,
    /// Bundles currently stored (those after the snapshot).
    pub(crate) bundles: u64,
    /// Bytes currently stored: every bundle plus the snapshot.
    pub(crate) bytes: u64,
    /// The highest sequence number ever assigned ([`Seq::ZERO`] if none).
    pub(crate) head: Seq,
    /// The position the stored snapshot covers, if there is one.
    pub(crate) snapshot_covers: Option<Seq>,
}

/// One stored bundle of a document's log: opaque ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    /// Its position in the log.
    pub(crate) seq: Seq,
    /// The sealed bundle, exactly as appended.
    pub(crate) bytes: Vec<u8>,
}

/// A document's stored snapshot: opaque ciphertext covering the log up to `covers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The last log position the snapshot includes.
    pub(crate) covers: Seq,
    /// The sealed snapshot, in the parts it was uploaded in (joined in order, they are the
    /// sealed snapshot); never empty.
    pub(crate) parts: Vec<Vec<u8>>,
}

impl Snapshot {
    /// Its size in bytes, all parts together.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }
}

/// Which upload a part of a snapshot belongs to (see
/// [`LogStore::put_snapshot_part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotUpload {
    /// The device uploading it: parts of one upload all come from one device.
    pub(crate) uploader: DeviceId,
    /// The last log position the snapshot includes.
    pub(crate) covers: Seq,
    /// How many parts the snapshot has (at least 1).
    pub(crate) parts: u32,
}

/// What storing one part of a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotProgress {
    /// The part is kept aside until the upload's last part arrives; the log is unchanged.
    Staged,
    /// That was the last part: the snapshot is stored and the bundles it covers are gone.
    Stored,
}

/// What a device catching up on a document receives, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPage {
    /// The snapshot, present when the device's cursor is older than what it covers (the bundles
    /// it would need were compacted away).
    pub(crate) snapshot: Option<Snapshot>,
    /// Bundles after the cursor (or after the snapshot), in order.
    pub(crate) bundles: Vec<Bundle>,
    /// The document's head when the page was read.
    pub(crate) head: Seq,
}

/// A document key for one epoch, wrapped (HPKE) for one recipient device; opaque to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyEnvelope {
    /// The key epoch.
    pub(crate) epoch: u32,
    /// The envelope, exactly as uploaded.
    pub(crate) bytes: Vec<u8>,
}

/// A document's latest membership list, signed by its owner; opaque to the store (the relay
/// checks the signature before storing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredMembership {
    /// Its serial number: each stored list has a greater one than the last.
    pub(crate) serial: u64,
    /// The signed list, exactly as uploaded.
    pub(crate) bytes: Vec<u8>,
}

/// A document an account is a member of, and the account that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberOf {
    /// The document.
    pub(crate) doc: DocId,
    /// Its owner (the client who created it).
    pub(crate) owner: AccountId,
}

/// Longest audit action token, in bytes.
pub(crate) const MAX_AUDIT_ACTION_LEN: usize = 64;

/// One event of the audit trail. Ids and times only: `action` is a short machine token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditRecord {
    /// When it happened (Unix milliseconds).
    pub(crate) at_ms: i64,
    /// The account acting, if known.
    pub(crate) account: Option<AccountId>,
    /// The device acting, if known.
    pub(crate) device: Option<DeviceId>,
    /// The document concerned, if any.
    pub(crate) doc: Option<DocId>,
    /// What happened: 1 to [`MAX_AUDIT_ACTION_LEN`] bytes of `a-z`, `0-9`, `-`, `.` and `:`,
    /// such as `sign-in`, `read`, `append` or `refused-read`. Anything else is refused, so no
    /// name or content can slip into the trail.
    pub(crate) action: String,
}

impl AuditRecord {
    /// Whether `action` is an acceptable audit token.
    pub(crate) fn is_valid_action(action: &str) -> bool {
        (1..=MAX_AUDIT_ACTION_LEN).contains(&action.len())
            && action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b))
    }
}

/// An audit record with its position in the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditEntry {
    /// The row number: 1, 2, … without gaps.
    pub(crate) id: u64,
    /// The event.
    pub(crate) record: AuditRecord,
}

/// The end of a verified audit chain. A caller that remembers it can later detect a trail cut
/// short behind its back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuditHead {
    /// Number of rows.
    pub(crate) rows: u64,
    /// The hash of the last row (all zeros for an empty trail).
    pub(crate) hash: [u8; 32],
}

impl AuditHead {
    /// Reads a head as [`Display`](fmt::Display) writes it, `ROWS:HASH` (the hash as 64 hex
    /// digits); `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<AuditHead> {
        let (rows, hash) = text.trim().split_once(':')?;
        let rows = rows.parse().ok()?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0_u8; 32];
        for (byte, pair) in out.iter_mut().zip(hash.as_bytes().chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(AuditHead { rows, hash: out })
    }
}

impl fmt::Display for AuditHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.rows)?;
        f.write_str(&hex::encode(self.hash))
    }
}

/// A push to append: a device's sealed bundle for a document. The store itself checks, in the
/// transaction that appends it, that the device is enabled and its account a member of the
/// document, so a revocation committed before the push's transaction always wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Push {
    /// The document.
    pub(crate) doc: DocId,
    /// The device sending it; its account is the one recorded and checked for membership.
    pub(crate) device: DeviceId,
    /// The sealed bundle, stored exactly as given.
    pub(crate) bundle: Vec<u8>,
    /// When it arrived (Unix milliseconds): the bundle's and its audit row's time.
    pub(crate) at_ms: i64,
    /// The audit action recorded with the append (a token, see [`AuditRecord::action`]).
    pub(crate) action: &'static str,
}

/// Why a [`Push`] was refused. Nothing was written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushRefusal {
    /// The device is not registered (any more).
    UnknownDevice,
    /// The device, or its whole account (`account_disabled`), is disabled.
    Disabled {
        /// True if the practice admin disabled the whole account.
        account_disabled: bool,
    },
    /// The document does not exist; `deleted` if it did once and was deleted.
    NoDocument {
        /// True if the document was deleted (its id is never used again).
        deleted: bool,
    },
    /// The device's account is not a member of the document.
    NotMember,
}

/// What became of a [`Push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// Appended (and committed durably) at `seq`, recorded as audit row `audit_row`.
    Appended {
        /// The bundle's position in the document's log.
        seq: Seq,
        /// The row number of its `append` audit record.
        audit_row: u64,
    },
    /// Refused; nothing was written.
    Refused(PushRefusal),
}

/// One write of a group commit ([`RelayStore::write_batch`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum BatchWrite<'a> {
    /// Check and append a push, with its audit record.
    Push(&'a Push),
    /// Append one audit record.
    Audit(&'a AuditRecord),
}

/// What one write of a group commit did, matching its [`BatchWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// What became of a [`BatchWrite::Push`].
    Push(PushOutcome),
    /// The row number of a [`BatchWrite::Audit`].
    Audit(u64),
}

/// The message of an audit action that is not a token.
const INVALID_ACTION: &str = "an audit action is a short token of a-z, 0-9, '-', '.' and ':'";

/// Fails with [`StoreError::Invalid`] unless `action` is an audit token.
pub(crate) fn check_action(action: &str) -> Result<(), StoreError> {
    if AuditRecord::is_valid_action(action) {
        Ok(())
    } else {
        Err(StoreError::Invalid(INVALID_ACTION))
    }
}

/// What [`PairingStore::purge_expired`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Purged {
    /// Expired pairing mailboxes.
    pub(crate) pairings: u64,
    /// Expired invites (used or not).
    pub(crate) invites: u64,
}

/// Domain separator at the start of every canonical audit row.
const AUDIT_DOMAIN: &[u8] = b"between-relay audit v1\0";

/// The canonical bytes of audit row `id`: the domain separator, the id and time (big-endian),
/// each optional id as a 0 byte or a 1 byte and its 16 bytes, the action's length (u16
/// big-endian) and the action's bytes. Every field has a fixed or prefixed length, so two
/// different rows never share their bytes.
pub(crate) fn canonical_audit_bytes(id: u64, record: &AuditRecord) -> Vec<u8> {
    fn optional(out: &mut Vec<u8>, id: Option<&[u8; 16]>) {
        match id {
            Some(bytes) => {
                out.push(1);
                out.extend_from_slice(bytes);
            }
            None => out.push(0),
        }
    }
    let action = record.action.as_bytes();
    let mut out = Vec::with_capacity(AUDIT_DOMAIN.len() + 16 + 3 * 17 + 2 + action.len());
    out.extend_from_slice(AUDIT_DOMAIN);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&record.at_ms.to_be_bytes());
    optional(&mut out, record.account.as_ref().map(AccountId::as_bytes));
    optional(&mut out, record.device.as_ref().map(DeviceId::as_bytes));
    optional(&mut out, record.doc.as_ref().map(DocId::as_bytes));
    let len = u16::try_from(action.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(action);
    out
}

/// The chained hash of an audit row: `SHA-256(prev_hash || canonical row bytes)`.
pub(crate) fn audit_hash(prev_hash: &[u8; 32], id: u64, record: &AuditRecord) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical_audit_bytes(id, record));
    hasher.finalize().into()
}
