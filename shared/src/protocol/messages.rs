//! The messages: [`ClientMessage`] (device → relay) and [`ServerMessage`] (relay → device).
//!
//! On the wire each message is a CBOR map with one entry, `{ "<variant in snake_case>": { field:
//! value, … } }`, inside the frame `{ "v": 1, "msg": … }`. Byte fields are CBOR byte strings,
//! integers are CBOR integers, text is CBOR text. No message carries a name or any plaintext: the
//! document, pairing, certificate and key fields are opaque bytes sealed or signed by the crypto
//! module (see `docs/envelope.md`). `docs/protocol.md` describes when each message is sent.

use serde::{Deserialize, Serialize};

use super::bytes::{buf, fixed, opt_buf};
use super::error::ErrorCode;
use super::ids::{AccountId, Challenge, DeviceId, DocId, Mailbox, RequestId, Seq};

/// A snapshot sent whole, by a peer that leaves out `parts`, is one part.
fn one_part() -> u32 {
    1
}

/// A message from a device to the relay.
///
/// Only [`SignIn`](Self::SignIn), [`Register`](Self::Register),
/// [`RegisterDevice`](Self::RegisterDevice) and [`TakePairing`](Self::TakePairing) are allowed
/// before the relay has sent `Welcome`; see [`allowed_before_sign_in`](Self::allowed_before_sign_in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMessage {
    /// Sign in as an already registered device: answers the relay's `Challenge`.
    /// Reply: `Welcome`, or a fatal `Error`.
    SignIn {
        /// The device signing in.
        device: DeviceId,
        /// The device's clock when signing, in milliseconds since the Unix epoch.
        timestamp_ms: i64,
        /// The device key's Ed25519 signature over the challenge, the relay's origin and
        /// `timestamp_ms` (the exact bytes are defined by the crypto module).
        #[serde(with = "fixed")]
        signature: [u8; 64],
    },
    /// Create a new account with its first device, using a one-time invite.
    /// Reply: `Welcome` (the connection is then signed in), or a fatal `Error`.
    Register {
        /// The invite secret from the invite code (the relay stores only its hash).
        #[serde(with = "buf")]
        invite: Vec<u8>,
        /// The new account's Ed25519 identity public key.
        #[serde(with = "fixed")]
        identity: [u8; 32],
        /// The first device's certificate, signed by `identity` (opaque here).
        #[serde(with = "buf")]
        certificate: Vec<u8>,
        /// The device's clock when signing, in milliseconds since the Unix epoch.
        timestamp_ms: i64,
        /// The new device key's signature over challenge, origin and timestamp, as in `SignIn`.
        #[serde(with = "fixed")]
        signature: [u8; 64],
    },
    /// Register another device of an existing account (after pairing): its certificate is signed
    /// by an identity key the relay already knows. Reply: `Welcome`, or a fatal `Error`.
    RegisterDevice {
        /// The new device's certificate (opaque here).
        #[serde(with = "buf")]
        certificate: Vec<u8>,
        /// The device's clock when signing, in milliseconds since the Unix epoch.
        timestamp_ms: i64,
        /// The new device key's signature over challenge, origin and timestamp, as in `SignIn`.
        #[serde(with = "fixed")]
        signature: [u8; 64],
    },
    /// Fetch (and so remove) the pairing payload left in a mailbox. Allowed before sign-in: the new
    /// device has no keys on the relay yet. Reply: `Pairing`, or `Error` `PairingNotFound`.
    TakePairing {
        /// Echoed in the reply.
        request: RequestId,
        /// The mailbox derived from the pairing code.
        mailbox: Mailbox,
    },
    /// Leave a sealed pairing payload for a new device. Reply: `Done`.
    PutPairing {
        /// Echoed in the reply.
        request: RequestId,
        /// The mailbox derived from the pairing code.
        mailbox: Mailbox,
        /// The payload, sealed with a key derived from the pairing code's secret.
        #[serde(with = "buf")]
        payload: Vec<u8>,
        /// When the relay should drop an untaken payload, in milliseconds since the Unix epoch.
        expires_at_ms: i64,
    },
    /// Create an empty document log owned by the caller's account. Reply: `Done` (also when the
    /// caller already owns it, so a retry is safe), or `Error` `Conflict`.
    CreateDocument {
        /// Echoed in the reply.
        request: RequestId,
        /// The new document.
        doc: DocId,
    },
    /// Append a sealed bundle to a document's log. Reply: `Ack` once it is durably committed.
    Push {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The sealed bundle (opaque here).
        #[serde(with = "buf")]
        bundle: Vec<u8>,
    },
    /// Catch up on a document from a position, then receive its new bundles as they arrive.
    /// Replies: `Snapshot` (if `since` is older than the last compaction), `Bundle`s, then
    /// `CaughtUp`; later, live `Bundle`s.
    Subscribe {
        /// Echoed in `CaughtUp` or `Error`.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The last position the device already holds; `Seq(0)` for everything.
        since: Seq,
    },
    /// Stop receiving a document's bundles. Reply: `Done`.
    Unsubscribe {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
    },
    /// Upload a sealed snapshot that covers the log up to and including `covers`, or one part of
    /// it; once every part is stored the relay may drop those bundles. Reply: `Ack` for each
    /// part.
    PutSnapshot {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The last position the snapshot includes.
        covers: Seq,
        /// Which part this is, from 0; parts are uploaded in order.
        #[serde(default)]
        part: u32,
        /// How many parts the sealed snapshot was cut into (1 to `MAX_SNAPSHOT_PARTS`).
        #[serde(default = "one_part")]
        parts: u32,
        /// The part's bytes of the sealed snapshot (opaque here): the parts, joined in order,
        /// are the sealed snapshot.
        #[serde(with = "buf")]
        snapshot: Vec<u8>,
    },
    /// Store wrapped epoch keys for member devices, all at once (a key rotation is atomic).
    /// Reply: `Done`.
    PutKeyEnvelopes {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// One envelope per (epoch, recipient device); at least one.
        envelopes: Vec<KeyEnvelope>,
    },
    /// Fetch the wrapped epoch keys addressed to the calling device. Reply: `KeyEnvelopes`.
    GetKeyEnvelopes {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
    },
    /// List the devices registered to the caller's account. Reply: `Devices`.
    ListDevices {
        /// Echoed in the reply.
        request: RequestId,
    },
    /// Fetch audit events, oldest first: those of document `doc` (the caller's account must be
    /// a member), or with `doc: None` those of the caller's own account that concern no
    /// document (its devices' sign-ins, registrations, refused sign-ins, the admin disabling
    /// it). Reply: `Audit`, or `Error` `NotMember` / `UnknownDocument` (recorded too).
    GetAudit {
        /// Echoed in the reply.
        request: RequestId,
        /// The document, or `None` for the caller's account.
        doc: Option<DocId>,
        /// Only events with an id above this; `0` for the oldest.
        after: u64,
        /// Most events wanted: 1 to [`MAX_AUDIT_EVENTS`](super::limits::MAX_AUDIT_EVENTS).
        limit: u32,
    },
    /// A therapist invites a client: store a one-time client invite whose secret the therapist's
    /// device made (the code also carries the therapist's identity commitment, which the relay
    /// never sees). Therapist accounts only. Reply: `Done`, or `Error` `Forbidden`.
    CreateInvite {
        /// Echoed in the reply.
        request: RequestId,
        /// `InviteSecret::hash` of the secret in the code.
        #[serde(with = "fixed")]
        invite_hash: [u8; 32],
        /// When it stops working, in milliseconds since the Unix epoch (at most
        /// [`MAX_INVITE_LIFETIME`](super::limits::MAX_INVITE_LIFETIME) ahead).
        expires_at_ms: i64,
    },
    /// Fetch another account's identity key and certified devices: `account: None` for the
    /// account whose invite registered the caller (a client's therapist), or an account that is a
    /// member of a document the caller is a member of. Reply: `Account`, or `Error` `Forbidden`.
    GetAccount {
        /// Echoed in the reply.
        request: RequestId,
        /// The account, or `None` for the caller's inviter.
        account: Option<AccountId>,
    },
    /// Replace a document's membership with a list signed by its owner (the caller's account
    /// must own the document and its identity must have signed the list; the serial must grow).
    /// The relay then lets exactly the listed accounts read and append. Reply: `Done`, or
    /// `Error` `Forbidden` / `Conflict` / `BadRequest`.
    PutMembership {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The `SignedMembership` bytes (the relay checks the signature and serial).
        #[serde(with = "buf")]
        membership: Vec<u8>,
    },
    /// Fetch a document's latest signed membership. Members only. Reply: `Membership`.
    GetMembership {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
    },
    /// List the documents the caller's account is a member of. Reply: `Documents`.
    ListDocuments {
        /// Echoed in the reply.
        request: RequestId,
    },
    /// Delete a document from the relay for good: its log, snapshot, key envelopes and
    /// membership. Only the owner's account may (`Forbidden` for every other member); live
    /// subscriptions to it end, and the id is never used again. Reply: `Done`, or `Error`
    /// `Forbidden` / `NotMember` / `UnknownDocument` / `DocumentDeleted`.
    DeleteDocument {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
    },
    /// A member who is not the owner (a therapist) leaves a document: the relay stops letting
    /// the caller's account read or append it. The owner's devices notice and move the document
    /// to a new epoch without them. Reply: `Done`, or `Error` `Forbidden` (the owner, who
    /// deletes instead) / `NotMember` / `UnknownDocument`.
    LeaveDocument {
        /// Echoed in the reply.
        request: RequestId,
        /// The document.
        doc: DocId,
    },
    /// Remove one of the caller's own account's other devices (a lost or retired one): the
    /// relay refuses it at once and for good. The caller then moves its documents to a new
    /// epoch the device never gets. Reply: `Done`, or `Error` `Forbidden` (not a device of the
    /// caller's account, or the calling device itself).
    RevokeDevice {
        /// Echoed in the reply.
        request: RequestId,
        /// The device to remove.
        device: DeviceId,
    },
    /// Keep-alive and round-trip probe. Reply: `Pong` with the same nonce.
    Ping {
        /// Any value; echoed.
        nonce: u64,
    },
}

/// A message from the relay to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMessage {
    /// The relay's first frame on every connection.
    Challenge {
        /// Fresh random bytes for the device to sign.
        challenge: Challenge,
        /// The relay's origin (for example `wss://relay.example.org`), signed with the challenge
        /// so a signature for one relay is useless at another.
        relay_origin: String,
        /// The relay's clock, in milliseconds since the Unix epoch (lets a device see clock skew).
        server_time_ms: i64,
        /// Oldest protocol version the relay speaks.
        min_version: u16,
        /// Newest protocol version the relay speaks.
        max_version: u16,
    },
    /// Sign-in or registration succeeded; the connection is now signed in.
    Welcome {
        /// The account the device belongs to.
        account: AccountId,
        /// The device.
        device: DeviceId,
    },
    /// A pushed bundle is durably committed at `seq`.
    Ack {
        /// The `Push` this answers.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The bundle's position in the log.
        seq: Seq,
    },
    /// A bundle of a subscribed document, during catch-up or live.
    Bundle {
        /// The document.
        doc: DocId,
        /// The bundle's position in the log.
        seq: Seq,
        /// The sealed bundle (opaque here).
        #[serde(with = "buf")]
        bundle: Vec<u8>,
    },
    /// The latest snapshot, or one part of it, sent during catch-up when `since` is older than
    /// the last compaction. The parts of one snapshot are sent one after another, in order,
    /// before anything else about the document.
    Snapshot {
        /// The document.
        doc: DocId,
        /// The last position the snapshot includes.
        covers: Seq,
        /// Which part this is, from 0.
        #[serde(default)]
        part: u32,
        /// How many parts the snapshot has (1 to `MAX_SNAPSHOT_PARTS`).
        #[serde(default = "one_part")]
        parts: u32,
        /// The part's bytes of the sealed snapshot (opaque here).
        #[serde(with = "buf")]
        snapshot: Vec<u8>,
    },
    /// Catch-up of a `Subscribe` is complete: everything up to `head` has been sent.
    CaughtUp {
        /// The `Subscribe` this answers.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The log's last position. A device that holds more than this has met a relay that lost
        /// (or hides) data.
        head: Seq,
    },
    /// The payload taken from a pairing mailbox (which is now empty).
    Pairing {
        /// The `TakePairing` this answers.
        request: RequestId,
        /// The sealed pairing payload (opaque here).
        #[serde(with = "buf")]
        payload: Vec<u8>,
    },
    /// A request succeeded and has no data to return.
    Done {
        /// The request this answers.
        request: RequestId,
    },
    /// The wrapped epoch keys addressed to the calling device.
    KeyEnvelopes {
        /// The `GetKeyEnvelopes` this answers.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// Possibly none.
        envelopes: Vec<KeyEnvelope>,
    },
    /// The devices registered to the caller's account.
    Devices {
        /// The `ListDevices` this answers.
        request: RequestId,
        /// The devices, each with its certificate so the caller can check it.
        devices: Vec<DeviceInfo>,
    },
    /// Audit events, answering `GetAudit`. Fewer events than its `limit` means there are no
    /// more for now; otherwise ask again with `after` set to the last event's id.
    Audit {
        /// The `GetAudit` this answers.
        request: RequestId,
        /// The document asked about, or `None` for the caller's account.
        doc: Option<DocId>,
        /// Oldest first; at most [`MAX_AUDIT_EVENTS`](super::limits::MAX_AUDIT_EVENTS).
        events: Vec<AuditEvent>,
    },
    /// Another account's identity and devices, answering `GetAccount`.
    Account {
        /// The `GetAccount` this answers.
        request: RequestId,
        /// The account.
        account: AccountId,
        /// Its identity public key (the caller checks it against what it knows out of band).
        #[serde(with = "fixed")]
        identity: [u8; 32],
        /// Its enabled devices, each with its certificate.
        devices: Vec<DeviceInfo>,
    },
    /// A document's latest signed membership, answering `GetMembership`.
    Membership {
        /// The `GetMembership` this answers.
        request: RequestId,
        /// The document.
        doc: DocId,
        /// The `SignedMembership` bytes, or `None` if the owner has not shared the document.
        #[serde(with = "opt_buf")]
        membership: Option<Vec<u8>>,
    },
    /// The documents the caller's account is a member of, answering `ListDocuments`.
    Documents {
        /// The `ListDocuments` this answers.
        request: RequestId,
        /// Each document and the account that owns it.
        documents: Vec<DocumentInfo>,
    },
    /// A request failed, or the connection is about to close (see [`ErrorCode::fatal`]).
    Error {
        /// The request this answers, if the error belongs to one.
        request: Option<RequestId>,
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people. Never contains content or names.
        message: String,
    },
    /// The answer to `Ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
}

/// A document's epoch key wrapped (HPKE) for one member device. The relay stores it and cannot
/// open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEnvelope {
    /// The key epoch.
    pub epoch: u32,
    /// The device that can open it.
    pub recipient: DeviceId,
    /// The wrapped key (opaque here).
    #[serde(with = "buf")]
    pub envelope: Vec<u8>,
}

/// A document the caller is a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentInfo {
    /// The document.
    pub doc: DocId,
    /// The account that created it (its owner, the client).
    pub owner: AccountId,
}

/// One device registered to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device: DeviceId,
    /// Its certificate, signed by the account's identity key (opaque here; the receiver checks
    /// it rather than trusting the relay).
    #[serde(with = "buf")]
    pub certificate: Vec<u8>,
    /// When the relay registered it, in milliseconds since the Unix epoch.
    pub registered_at_ms: i64,
}

/// One event of the relay's audit trail: ids, a time and what happened; never content, names
/// or network addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The event's row in the trail: increasing, so it pages (`GetAudit.after`).
    pub id: u64,
    /// When it happened, in milliseconds since the Unix epoch (the relay's clock).
    pub at_ms: i64,
    /// The account acting (or, for an admin action, the account acted on), if known.
    pub account: Option<AccountId>,
    /// The device acting, if known.
    pub device: Option<DeviceId>,
    /// The document concerned, if any.
    pub doc: Option<DocId>,
    /// What happened: a token of [`audit`](super::audit) (`sign-in`, `read`, `refused-append`,
    /// …); 1 to [`MAX_ACTION_BYTES`](super::audit::MAX_ACTION_BYTES) bytes of `a-z`, `0-9`, `-`,
    /// `.` and `:`.
    pub action: String,
}

impl ClientMessage {
    /// The wire name of every variant, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "sign_in",
        "register",
        "register_device",
        "take_pairing",
        "put_pairing",
        "create_document",
        "push",
        "subscribe",
        "unsubscribe",
        "put_snapshot",
        "put_key_envelopes",
        "get_key_envelopes",
        "list_devices",
        "get_audit",
        "create_invite",
        "get_account",
        "put_membership",
        "get_membership",
        "list_documents",
        "delete_document",
        "revoke_device",
        "leave_document",
        "ping",
    ];

    /// This message's wire name (for logs and metrics: it reveals nothing about content).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignIn { .. } => "sign_in",
            Self::Register { .. } => "register",
            Self::RegisterDevice { .. } => "register_device",
            Self::TakePairing { .. } => "take_pairing",
            Self::PutPairing { .. } => "put_pairing",
            Self::CreateDocument { .. } => "create_document",
            Self::Push { .. } => "push",
            Self::Subscribe { .. } => "subscribe",
            Self::Unsubscribe { .. } => "unsubscribe",
            Self::PutSnapshot { .. } => "put_snapshot",
            Self::PutKeyEnvelopes { .. } => "put_key_envelopes",
            Self::GetKeyEnvelopes { .. } => "get_key_envelopes",
            Self::ListDevices { .. } => "list_devices",
            Self::Ping { .. } => "ping",
            Self::GetAudit { .. } => "get_audit",
            Self::CreateInvite { .. } => "create_invite",
            Self::GetAccount { .. } => "get_account",
            Self::PutMembership { .. } => "put_membership",
            Self::GetMembership { .. } => "get_membership",
            Self::ListDocuments { .. } => "list_documents",
            Self::DeleteDocument { .. } => "delete_document",
            Self::RevokeDevice { .. } => "revoke_device",
            Self::LeaveDocument { .. } => "leave_document",
        }
    }

    /// The request id the relay echoes in its reply, if this message has one.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Self::TakePairing { request, .. }
            | Self::PutPairing { request, .. }
            | Self::CreateDocument { request, .. }
            | Self::Push { request, .. }
            | Self::Subscribe { request, .. }
            | Self::Unsubscribe { request, .. }
            | Self::PutSnapshot { request, .. }
            | Self::PutKeyEnvelopes { request, .. }
            | Self::GetKeyEnvelopes { request, .. }
            | Self::ListDevices { request }
            | Self::GetAudit { request, .. }
            | Self::CreateInvite { request, .. }
            | Self::GetAccount { request, .. }
            | Self::PutMembership { request, .. }
            | Self::GetMembership { request, .. }
            | Self::ListDocuments { request }
            | Self::DeleteDocument { request, .. }
            | Self::RevokeDevice { request, .. }
            | Self::LeaveDocument { request, .. } => Some(*request),
            Self::SignIn { .. }
            | Self::Register { .. }
            | Self::RegisterDevice { .. }
            | Self::Ping { .. } => None,
        }
    }

    /// Whether the relay accepts this message before the connection is signed in. Anything else
    /// before sign-in gets a fatal `Error` `Unauthenticated`.
    pub fn allowed_before_sign_in(&self) -> bool {
        matches!(
            self,
            Self::SignIn { .. }
                | Self::Register { .. }
                | Self::RegisterDevice { .. }
                | Self::TakePairing { .. }
        )
    }
}

impl ServerMessage {
    /// The wire name of every variant, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "challenge",
        "welcome",
        "ack",
        "bundle",
        "snapshot",
        "caught_up",
        "pairing",
        "done",
        "key_envelopes",
        "devices",
        "audit",
        "account",
        "membership",
        "documents",
        "error",
        "pong",
    ];

    /// This message's wire name (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Challenge { .. } => "challenge",
            Self::Welcome { .. } => "welcome",
            Self::Ack { .. } => "ack",
            Self::Bundle { .. } => "bundle",
            Self::Snapshot { .. } => "snapshot",
            Self::CaughtUp { .. } => "caught_up",
            Self::Pairing { .. } => "pairing",
            Self::Done { .. } => "done",
            Self::KeyEnvelopes { .. } => "key_envelopes",
            Self::Devices { .. } => "devices",
            Self::Error { .. } => "error",
            Self::Pong { .. } => "pong",
            Self::Audit { .. } => "audit",
            Self::Account { .. } => "account",
            Self::Membership { .. } => "membership",
            Self::Documents { .. } => "documents",
        }
    }

    /// The request this message answers, if any.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Self::Ack { request, .. }
            | Self::CaughtUp { request, .. }
            | Self::Pairing { request, .. }
            | Self::Done { request }
            | Self::KeyEnvelopes { request, .. }
            | Self::Devices { request, .. }
            | Self::Audit { request, .. }
            | Self::Account { request, .. }
            | Self::Membership { request, .. }
            | Self::Documents { request, .. } => Some(*request),
            Self::Error { request, .. } => *request,
            Self::Challenge { .. }
            | Self::Welcome { .. }
            | Self::Bundle { .. }
            | Self::Snapshot { .. }
            | Self::Pong { .. } => None,
        }
    }

    /// An `Error` reply; `message` is cut to
    /// [`MAX_ERROR_MESSAGE_BYTES`](super::limits::MAX_ERROR_MESSAGE_BYTES) so it always encodes.
    pub fn error(request: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        let max = super::limits::MAX_ERROR_MESSAGE_BYTES;
        if message.len() > max {
            let mut end = max;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self::Error {
            request,
            code,
            message,
        }
    }
}
