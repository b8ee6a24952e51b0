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
use std::io;
use std::path::PathBuf;

pub(crate) mod handle;
pub(crate) mod postgres;
pub(crate) mod sqlite;

#[cfg(test)]
mod conformance;

/// Writes bytes as lowercase hexadecimal.
fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name([u8; $len]);

        impl $name {
            /// Wraps the raw bytes (as they travel in the protocol).
            pub(crate) const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub(crate) const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                write_hex(f, &self.0)?;
                f.write_str(")")
            }
        }
    };
}

byte_id!(
    /// A document (one therapy relationship's homework, or a client's private document): 16
    /// random bytes chosen by the client that creates it.
    DocId,
    16
);
byte_id!(
    /// A device registered with the relay: 16 random bytes chosen by the device.
    DeviceId,
    16
);
byte_id!(
    /// A person's account on the relay (one per identity key): 16 random bytes.
    AccountId,
    16
);
byte_id!(
    /// A pairing mailbox: 32 bytes derived by both devices from the pairing code. The relay
    /// never learns the code itself.
    Mailbox,
    32
);
byte_id!(
    /// The SHA-256 of an invite code. The relay stores and compares only this hash, never the
    /// code.
    InviteHash,
    32
);

/// A position in a document's log. The first bundle is `Seq(1)`; `Seq(0)` means "nothing
/// yet". Numbers are assigned by the store, one more than the last for each append, and are never
/// reused: not after compaction, and not after the document is deleted (its id cannot be
/// created again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Seq(pub(crate) u64);

impl Seq {
    /// "Nothing yet": the head of an empty log, and the cursor of a device that has seen nothing.
    pub(crate) const ZERO: Seq = Seq(0);
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
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
/// [`RelayStore::put_snapshot_part`]).
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
        write_hex(f, &self.hash)
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

/// What [`RelayStore::purge_expired`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Purged {
    /// Expired pairing mailboxes.
    pub(crate) pairings: u64,
    /// Expired invites (used or not).
    pub(crate) invites: u64,
}

/// Something a method refers to that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No such account.
    Account(AccountId),
    /// No such device.
    Device(DeviceId),
    /// No such document.
    Document(DocId),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Account(id) => write!(f, "no account {id}"),
            Missing::Device(id) => write!(f, "no device {id}"),
            Missing::Document(id) => write!(f, "no document {id}"),
        }
    }
}

/// Why a change was refused because of what is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The account id is taken.
    AccountExists(AccountId),
    /// Another account already has this identity key.
    IdentityKeyInUse,
    /// The device id is taken.
    DeviceExists(DeviceId),
    /// Another device already has this signing key.
    SigningKeyInUse,
    /// A device was given for a different account than the one being registered.
    DeviceAccountMismatch,
    /// The account is disabled; it gets no new devices.
    AccountDisabled(AccountId),
    /// The document id is taken.
    DocumentExists(DocId),
    /// The document id belonged to a deleted document and is never used again.
    DocumentDeleted(DocId),
    /// The owner of a document is always a member of it.
    OwnerIsAlwaysMember,
    /// An invite with this hash already exists.
    InviteExists,
    /// The pairing mailbox holds an unexpired payload.
    MailboxInUse,
    /// A membership list's serial is not greater than the stored list's: an old list replayed.
    MembershipSerial {
        /// The stored list's serial.
        stored: u64,
        /// The refused list's serial.
        given: u64,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::AccountExists(id) => write!(f, "account {id} already exists"),
            Conflict::IdentityKeyInUse => f.write_str("the identity key is already registered"),
            Conflict::DeviceExists(id) => write!(f, "device {id} already exists"),
            Conflict::SigningKeyInUse => f.write_str("the device signing key is already registered"),
            Conflict::DeviceAccountMismatch => {
                f.write_str("the device belongs to a different account than the one registered")
            }
            Conflict::AccountDisabled(id) => write!(f, "account {id} is disabled"),
            Conflict::DocumentExists(id) => write!(f, "document {id} already exists"),
            Conflict::DocumentDeleted(id) => {
                write!(f, "document {id} was deleted and its id cannot be used again")
            }
            Conflict::OwnerIsAlwaysMember => {
                f.write_str("the owner of a document cannot be removed from it")
            }
            Conflict::InviteExists => f.write_str("an invite with this code already exists"),
            Conflict::MailboxInUse => f.write_str("the pairing mailbox is in use"),
            Conflict::MembershipSerial { stored, given } => write!(
                f,
                "the membership list has serial {given}, but the relay holds serial {stored}: a new list needs a greater serial"
            ),
        }
    }
}

/// Everything that can go wrong in the store. Operator-facing messages say what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The database file is damaged: not a database, truncated, or failing the integrity check.
    #[error(
        "the relay database at {} is damaged ({detail}); it was left untouched. Stop the relay and restore the database from your latest backup (`between-relay` backups are plain SQLite files)",
        .path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong, in a few words.
        detail: String,
    },
    /// The file is a SQLite database of another program, or not a regular file.
    #[error(
        "{} is not a between-relay database ({detail}); it was left untouched. Check the database path you configured",
        .path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        detail: String,
    },
    /// The database was written by a newer relay with a schema this build does not know.
    #[error(
        "the relay database at {} has schema version {found}, but this between-relay understands only up to {supported}; upgrade between-relay (the database was left untouched)",
        .path.display()
    )]
    TooNew {
        /// The database file (PostgreSQL: the database's URL without its password).
        path: PathBuf,
        /// The schema version found.
        found: i64,
        /// The newest schema version this build understands.
        supported: i64,
    },
    /// Another connection held the write lock for longer than the busy timeout.
    #[error(
        "the relay database at {} is busy (another process holds its write lock); try again",
        .path.display()
    )]
    Busy {
        /// The database file (PostgreSQL: the database's URL without its password).
        path: PathBuf,
    },
    /// The file system refused an operation.
    #[error("cannot access {}: {source}", .path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other database failure.
    #[error("the relay database at {} failed: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// A PostgreSQL database failed: the connection, or a statement the relay sent. `database`
    /// names it without its password, which is never part of a message.
    #[error("the relay's PostgreSQL database {database} failed: {detail}")]
    Postgres {
        /// The database's URL without its password.
        database: String,
        /// What went wrong, in a few words (the server's message and SQLSTATE).
        detail: String,
        /// The underlying error.
        error: ::postgres::Error,
    },
    /// The PostgreSQL URL cannot be used as it is written (see `postgres::target`).
    #[error(transparent)]
    PostgresUrl(#[from] self::postgres::target::TargetError),
    /// Something the call refers to does not exist.
    #[error("not found: {0}")]
    NotFound(Missing),
    /// The change contradicts what is stored.
    #[error("refused: {0}")]
    Conflict(Conflict),
    /// A snapshot claims to cover log positions that were never assigned.
    #[error("refused: the snapshot of document {doc} covers up to {covers}, but the log only reaches {head}")]
    SnapshotBeyondHead {
        /// The document.
        doc: DocId,
        /// The position the snapshot claimed to cover.
        covers: Seq,
        /// The document's head.
        head: Seq,
    },
    /// A part of a snapshot does not continue what its device uploaded so far.
    #[error("refused: part {part} of the snapshot of document {doc} does not follow the parts this device uploaded before it (expected {}); upload the snapshot again from part 0", match .expected { Some(next) => format!("part {next} of the same snapshot"), None => "part 0".to_owned() })]
    SnapshotPartOutOfOrder {
        /// The document.
        doc: DocId,
        /// The part that arrived.
        part: u32,
        /// The part that would have continued the upload, if one is under way.
        expected: Option<u32>,
    },
    /// A snapshot is older than the one already stored.
    #[error("refused: the snapshot of document {doc} covers up to {covers}, older than the stored one (up to {current})")]
    SnapshotOutdated {
        /// The document.
        doc: DocId,
        /// The position the snapshot claimed to cover.
        covers: Seq,
        /// The position the stored snapshot covers.
        current: Seq,
    },
    /// An argument is outside what the store accepts (for example an audit action that is not a
    /// token).
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// The storage thread could not be started.
    #[error("could not start the storage thread: {0}")]
    Spawn(#[source] io::Error),
    /// The storage thread has stopped (after shutdown); the request was not carried out.
    #[error("the relay storage has shut down; the request was not carried out")]
    Closed,
    /// The request panicked on the storage thread; its transaction was rolled back.
    #[error("the storage request failed unexpectedly and was rolled back")]
    Panicked,
    /// The group commit this request was part of failed as a whole (see
    /// [`RelayStore::write_batch`]): nothing of it was committed. Every request of the batch
    /// gets the same underlying error.
    #[error(transparent)]
    Batch(std::sync::Arc<StoreError>),
    /// The backend answered a write of a batch with the result of another kind of write (a bug
    /// in the backend); treated as a failure of that request.
    #[error("the storage answered a request with the wrong kind of result")]
    Mismatched,
}

/// The one message every refused invite gets, whatever the reason, so a guesser learns nothing.
const INVITE_REFUSED: &str =
    "this invite is not valid (it is unknown, already used or expired); ask for a new one";

/// Why an invite was not redeemed. The three refusals display the same message; use
/// [`InviteError::reason`] to tell them apart in logs.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InviteError {
    /// No invite has this hash.
    #[error("{}", INVITE_REFUSED)]
    Unknown,
    /// The invite has expired.
    #[error("{}", INVITE_REFUSED)]
    Expired,
    /// The invite was redeemed before.
    #[error("{}", INVITE_REFUSED)]
    Used,
    /// The invite is for another kind of account (a therapist invite used by a client, say);
    /// it was not consumed.
    #[error("this invite is for a {invite} account, not a {wanted} account; ask for the right kind of invite")]
    WrongRole {
        /// What the invite is for.
        invite: AccountRole,
        /// What the registering device asked for.
        wanted: AccountRole,
    },
    /// The store failed, or the registration conflicts with what is stored (the invite was not
    /// consumed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InviteError {
    /// A short token for logs and the audit trail (never shown to the peer).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            InviteError::Unknown => "invite-unknown",
            InviteError::Expired => "invite-expired",
            InviteError::Used => "invite-used",
            InviteError::WrongRole { .. } => "invite-wrong-role",
            InviteError::Store(_) => "invite-store-error",
        }
    }
}

/// What is wrong with the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditProblem {
    /// The row's stored hash does not match its contents and the previous hash: it (or an earlier
    /// row) was altered.
    Altered,
    /// Rows before this one are missing.
    Missing,
    /// The trail ends before the recorded end: rows were removed from its tail.
    Truncated {
        /// The number of rows recorded.
        recorded_rows: u64,
    },
    /// The recorded end of the trail does not match its last row.
    HeadMismatch,
    /// The row's hash differs from the head an operator recorded earlier: the trail up to it
    /// was rewritten (a consistent rewrite of the whole chain is caught only this way).
    DiffersFromKnownHead,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::Altered => {
                f.write_str("its hash does not match: it or an earlier row was altered")
            }
            AuditProblem::Missing => f.write_str("rows before it are missing"),
            AuditProblem::Truncated { recorded_rows } => {
                write!(
                    f,
                    "the trail should have {recorded_rows} rows: its tail was removed"
                )
            }
            AuditProblem::HeadMismatch => {
                f.write_str("the recorded end of the trail does not match its last row")
            }
            AuditProblem::DiffersFromKnownHead => f.write_str(
                "its hash differs from the head you recorded earlier: the trail up to it was rewritten",
            ),
        }
    }
}

/// Why [`RelayStore::verify_audit`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuditError {
    /// The chain is broken at `row`: the trail was tampered with.
    #[error("the audit trail was tampered with at row {row}: {problem}")]
    Broken {
        /// The first row found wrong.
        row: u64,
        /// What is wrong.
        problem: AuditProblem,
    },
    /// The trail could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
///    (Outcomes that are not errors, such as [`take_pairing`](RelayStore::take_pairing) finding
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
/// 9. **Deleting is for good.** [`delete_document`](RelayStore::delete_document) removes the
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
pub(crate) trait RelayStore {
    // ---- accounts and devices ----

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

    // ---- invites ----

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
    /// invite's creator remembered as its inviter, see [`inviter_of`](RelayStore::inviter_of))
    /// and its first device, all in one transaction: if the account or device cannot be created,
    /// the invite is not consumed.
    fn register_with_invite(
        &mut self,
        registration: &Registration,
        now_ms: i64,
    ) -> Result<AccountRecord, InviteError>;

    // ---- documents and membership ----

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
    /// [`device`](RelayStore::device).
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

    /// The account whose invite registered `account` (a client's therapist), if any; `None`
    /// for an account invited by the practice admin's command. [`Missing::Account`] if unknown.
    fn inviter_of(&self, account: AccountId) -> Result<Option<AccountId>, StoreError>;

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

    // ---- the log ----

    /// Appends a bundle with the next sequence number and commits it durably before returning
    /// that number. This is the bare log operation, without the device and membership checks
    /// and the audit record of a push: the relay appends devices' pushes with
    /// [`write_batch`](RelayStore::write_batch) ([`push`](RelayStore::push)).
    #[cfg(test)]
    fn append_bundle(&mut self, doc: DocId, bundle: &[u8], now_ms: i64) -> Result<Seq, StoreError>;

    /// Stored bundles with `seq > since`, in order: at most `limit` of them and, after the
    /// first, no more than `max_bytes` in total. The first is returned even if it alone is larger
    /// than `max_bytes`, so an oversized bundle never stalls a reader. Bundles covered by the
    /// snapshot are no longer stored: use [`read_log`](RelayStore::read_log) to catch up.
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

    /// Stores a snapshot sent whole: [`put_snapshot_part`](RelayStore::put_snapshot_part) with
    /// its only part. Nothing is staged for a one-part upload, so no uploader is recorded.
    fn put_snapshot(&mut self, doc: DocId, covers: Seq, snapshot: &[u8]) -> Result<(), StoreError> {
        let whole = SnapshotUpload {
            uploader: DeviceId::from_bytes([0; 16]),
            covers,
            parts: 1,
        };
        self.put_snapshot_part(doc, whole, 0, snapshot).map(drop)
    }

    /// The stored snapshot, if any.
    #[cfg(test)]
    fn snapshot(&self, doc: DocId) -> Result<Option<Snapshot>, StoreError>;

    // ---- key envelopes ----

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

    // ---- pairing mailboxes ----

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

    // ---- group commit ----

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

    // ---- audit ----

    /// Appends one event to the audit trail and returns its row number. Each row stores
    /// `SHA-256(previous row's hash || canonical row bytes)`, so altering or removing a past row
    /// is detected by [`verify_audit`](RelayStore::verify_audit). Refuses an invalid action
    /// token ([`StoreError::Invalid`]). This is [`write_batch`](RelayStore::write_batch) of one
    /// write.
    fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        match self.write_batch(&[BatchWrite::Audit(record)])?.pop() {
            Some(Ok(Written::Audit(row))) => Ok(row),
            Some(Err(err)) => Err(err),
            Some(Ok(Written::Push(_))) | None => Err(StoreError::Mismatched),
        }
    }

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

    /// Checks the whole chain like [`verify_audit`](RelayStore::verify_audit), and also that it
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
