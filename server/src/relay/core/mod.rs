//! The relay's protocol policy, without IO: who may do what, and what the relay answers.
//!
//! The core takes the time, one connection's state, a decoded [`ClientMessage`] and the store,
//! and returns [`Effects`]: the audit records to write, the replies to send, changes to the
//! live-subscription hub, a catch-up to stream and, when the connection must end, the error
//! frame to close with. It never touches a socket, a clock or a random generator, so every rule
//! is testable in-process against a real store (see the tests beside each handler and the
//! adversarial-member suite in `tests.rs`). [`session`](super::session) is the thin loop that
//! reads frames, runs the core on the storage thread and carries the effects out.
//!
//! One handler module per message family:
//! - [`handshake`]: sign-in, registration, device registration, fetching a pairing payload;
//! - [`log`]: documents and their logs (create, push, subscribe and catch-up, snapshots,
//!   deletion, listing);
//! - [`sharing`]: membership lists, key envelopes, leaving, accounts, invites, devices and
//!   pairing payloads;
//! - [`audit`]: reading the audit trail.
//!
//! **Every access that is served is recorded, or it is refused** (invariant 4 of
//! `docs/invariants.md`): handlers put their audit records in [`Effects::audit`], and the session
//! writes them (in a group commit) before it sends a single reply; if that write fails, the
//! replies are dropped and the connection ends with `internal`.

pub(crate) mod audit;
pub(crate) mod handshake;
pub(crate) mod log;
pub(crate) mod sharing;
#[cfg(test)]
mod tests;

use crate::store::{AuditRecord, DeviceEntry, RelayStore, StoreError};
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::{
    AccountId, Challenge, ClientMessage, DeviceId, DocId, ErrorCode, RequestId, Seq, ServerMessage,
};
use std::time::Duration;

/// What a device of a disabled account is told, at sign-in and when it is disconnected.
pub(crate) const ACCOUNT_DISABLED: &str =
    "this account was disabled by the practice admin; ask the practice if you think this is a mistake";

/// What a device that was removed from its account is told.
pub(crate) const DEVICE_REMOVED: &str = "this device has been removed from its account";

/// What a device asking for a deleted document is told.
pub(crate) const DOCUMENT_DELETED: &str =
    "this document was deleted from the relay by its owner; its id cannot be used again";

/// What a device that is not a member of a document is told.
pub(crate) const NOT_MEMBER: &str = "this device is not a member of that document";

/// What a device asking for a document the relay does not have is told.
pub(crate) const UNKNOWN_DOCUMENT: &str = "no such document on this relay";

/// The rules the core applies that the practice can configure.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// The origin devices sign into (`ws://host:port`, or `wss://name` behind TLS).
    pub(crate) origin: String,
    /// How far a sign-in timestamp may be from the relay's clock.
    pub(crate) max_skew: Duration,
}

/// Who is signed in on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignedIn {
    /// The account.
    pub(crate) account: AccountId,
    /// The device.
    pub(crate) device: DeviceId,
}

/// One connection's protocol state.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// The challenge the relay sent when the connection opened; sign-ins must sign it.
    challenge: Challenge,
    /// Who signed in, once someone did.
    signed_in: Option<SignedIn>,
}

impl Connection {
    /// A new connection that was sent `challenge`.
    pub(crate) fn new(challenge: Challenge) -> Self {
        Self {
            challenge,
            signed_in: None,
        }
    }

    /// A connection on which `device` of `account` has signed in (for the in-process relay,
    /// whose tests of the handshake run over real sockets).
    pub(crate) fn signed_in_as(account: AccountId, device: DeviceId) -> Self {
        Self {
            challenge: Challenge([0; 32]),
            signed_in: Some(SignedIn { account, device }),
        }
    }

    /// Who is signed in, if anyone.
    pub(crate) fn signed_in(&self) -> Option<SignedIn> {
        self.signed_in
    }

    /// Records an event by the signed-in device (or by nobody known, before sign-in).
    fn record(&self, effects: &mut Effects, now_ms: i64, doc: Option<DocId>, action: String) {
        effects.audit.push(AuditRecord {
            at_ms: now_ms,
            account: self.signed_in.map(|s| s.account),
            device: self.signed_in.map(|s| s.device),
            doc,
            action,
        });
    }
}

/// A change to the live-subscription hub, carried out by the session with the document's
/// ordering lock held (so it is ordered with the commits and forwards of that document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HubChange {
    /// End the live subscriptions to `doc` of every device of these accounts (just removed).
    DropAccounts(DocId, Vec<AccountId>),
    /// End every live subscription to `doc` (deleted).
    EndDocument(DocId),
    /// End this connection's live subscription to `doc`.
    Leave(DocId),
    /// Add this connection to `doc`'s live set (a subscription was allowed).
    Join(DocId),
}

/// A catch-up the session streams after the replies: the log of `doc` after `since`, page by
/// page (each page read through [`log::catch_up_page`], which checks membership again), then,
/// when `announce` is set, `CaughtUp` answering `request` (a catch-up that fills a gap in the
/// live stream announces nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatchUp {
    /// The subscription request.
    pub(crate) request: RequestId,
    /// The document.
    pub(crate) doc: DocId,
    /// The position the device has (it gets everything after it).
    pub(crate) since: Seq,
    /// Whether to answer `request` with `CaughtUp` at the end.
    pub(crate) announce: bool,
}

/// What the session must do after the core handled a message, in this order: write `audit`,
/// carry out `hub` changes and `forward` (with the document's ordering lock held), send
/// `replies`, stream `catch_up`, then close with `close`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Effects {
    /// Audit records to write before anything is sent (a failure ends the connection).
    pub(crate) audit: Vec<AuditRecord>,
    /// Changes to the live-subscription hub.
    pub(crate) hub: Vec<HubChange>,
    /// A committed bundle to forward to the document's other live devices. It goes out through
    /// the hub before the pusher's own reply, so it never depends on the pusher's socket.
    pub(crate) forward: Option<ServerMessage>,
    /// Frames to send to this connection, in order.
    pub(crate) replies: Vec<ServerMessage>,
    /// A catch-up to stream after the replies.
    pub(crate) catch_up: Option<CatchUp>,
    /// The error frame to end the connection with (sent after the replies).
    pub(crate) close: Option<ServerMessage>,
    /// How many requests were refused (for the metrics).
    pub(crate) refusals: u32,
}

impl Effects {
    /// Effects that only send `reply`.
    pub(crate) fn reply(reply: ServerMessage) -> Self {
        Self {
            replies: vec![reply],
            ..Self::default()
        }
    }

    /// Effects that end the connection with `code` and `message`.
    pub(crate) fn fatal(
        request: Option<RequestId>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            close: Some(ServerMessage::error(request, code, message)),
            ..Self::default()
        }
    }
}

/// A request refused (or a connection ended) on the way: the effects to carry out instead. Boxed,
/// since the happy path of every check carries only a small value.
pub(crate) type Refused = Box<Effects>;

/// Time, connection and store: what every handler works with.
pub(crate) struct Ctx<'a> {
    /// The time now, in milliseconds since the Unix epoch.
    pub(crate) now_ms: i64,
    /// A fresh random id, for a handler that creates an account (the core draws no randomness
    /// itself).
    pub(crate) new_id: [u8; 16],
    /// The practice's rules.
    pub(crate) policy: &'a Policy,
    /// The connection the message came on.
    pub(crate) conn: &'a mut Connection,
    /// The relay's store.
    pub(crate) store: &'a mut dyn RelayStore,
}

impl Ctx<'_> {
    /// The signed-in device, or a fatal `unauthenticated` (handlers after sign-in only run on a
    /// signed-in connection, so this is a guard, not a path).
    fn me(&self) -> Result<SignedIn, Refused> {
        self.conn.signed_in.ok_or_else(|| {
            Box::new(Effects::fatal(
                None,
                ErrorCode::Unauthenticated,
                "sign in first",
            ))
        })
    }

    /// Records `action` by the signed-in device.
    fn record(&self, effects: &mut Effects, doc: Option<DocId>, action: AuditAction) {
        self.conn
            .record(effects, self.now_ms, doc, action.token().to_owned());
    }

    /// Refuses a request (not fatally): see [`refusal`].
    fn refuse(
        &self,
        request: RequestId,
        doc: Option<DocId>,
        action: AuditAction,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Effects {
        refusal(self.conn, self.now_ms, request, doc, action, code, message)
    }

    /// The signed-in device, if it (and its account) are still enabled: the admin disables
    /// accounts from another process, so every request re-reads the device.
    fn enabled_me(&mut self) -> Result<Result<SignedIn, Refused>, StoreError> {
        let me = match self.me() {
            Ok(me) => me,
            Err(fatal) => return Ok(Err(fatal)),
        };
        Ok(match self.store.device(me.device)? {
            Some(entry) if entry.disabled => Err(Box::new(disabled(&entry))),
            Some(_) => Ok(me),
            None => Err(Box::new(Effects::fatal(
                None,
                ErrorCode::DeviceRevoked,
                DEVICE_REMOVED,
            ))),
        })
    }

    /// Checks that the device is still enabled and its account a member of `doc`. A disabled
    /// device ends the connection; any other refusal of `action` is answered (not fatal) and
    /// recorded, telling a member's device apart from a stranger only by what it may know.
    fn member(
        &mut self,
        request: RequestId,
        doc: DocId,
        action: AuditAction,
    ) -> Result<Result<SignedIn, Refused>, StoreError> {
        let me = match self.enabled_me()? {
            Ok(me) => me,
            Err(refused) => return Ok(Err(refused)),
        };
        // `head`, not `document`: the latter sums the sizes of every stored bundle.
        let exists = match self.store.head(doc) {
            Ok(_) => true,
            Err(StoreError::NotFound(_)) => false,
            Err(err) => return Err(err),
        };
        if exists && self.store.is_member(doc, me.account)? {
            return Ok(Ok(me));
        }
        let (code, message) = if exists {
            (ErrorCode::NotMember, NOT_MEMBER)
        } else if self.store.deleted_at(doc)?.is_some() {
            (ErrorCode::DocumentDeleted, DOCUMENT_DELETED)
        } else {
            (ErrorCode::UnknownDocument, UNKNOWN_DOCUMENT)
        };
        Ok(Err(Box::new(self.refuse(
            request,
            Some(doc),
            action,
            code,
            message,
        ))))
    }

    /// Like [`member`](Self::member), and the caller's account must also own `doc`: only the
    /// client whose homework it is compacts it, shares its keys and deletes it.
    fn owner(
        &mut self,
        request: RequestId,
        doc: DocId,
        action: AuditAction,
        refusal: &str,
    ) -> Result<Result<SignedIn, Refused>, StoreError> {
        let me = match self.member(request, doc, action)? {
            Ok(me) => me,
            Err(refused) => return Ok(Err(refused)),
        };
        match self.store.document(doc)? {
            Some(stats) if stats.owner == me.account => Ok(Ok(me)),
            Some(_) => Ok(Err(Box::new(self.refuse(
                request,
                Some(doc),
                action,
                ErrorCode::Forbidden,
                refusal,
            )))),
            // Deleted by another device of the owner since the membership check.
            None => Ok(Err(Box::new(self.refuse(
                request,
                Some(doc),
                action,
                ErrorCode::DocumentDeleted,
                DOCUMENT_DELETED,
            )))),
        }
    }
}

/// Refuses a request on `conn` (not fatally): records `refused-<action>` and answers with
/// `code`.
pub(crate) fn refusal(
    conn: &Connection,
    now_ms: i64,
    request: RequestId,
    doc: Option<DocId>,
    action: AuditAction,
    code: ErrorCode,
    message: impl Into<String>,
) -> Effects {
    let mut effects = Effects::reply(ServerMessage::error(Some(request), code, message));
    conn.record(&mut effects, now_ms, doc, action.refused_token().to_owned());
    effects.refusals = 1;
    effects
}

/// The refusal for a device (or its account) that is disabled.
pub(crate) fn disabled(entry: &DeviceEntry) -> Effects {
    let message = if entry.account_disabled {
        ACCOUNT_DISABLED
    } else {
        DEVICE_REMOVED
    };
    Effects::fatal(None, ErrorCode::DeviceRevoked, message)
}

/// The fatal answer to a storage failure: the device is told to try later (what failed is
/// logged by the session, not sent).
pub(crate) fn storage_failed() -> Effects {
    Effects::fatal(
        None,
        ErrorCode::Internal,
        "the relay could not complete the request; try again later",
    )
}

/// Handles one message on a connection: the handshake's messages before sign-in, every other
/// message after it. A storage failure is returned as `Err`: the session logs it and ends the
/// connection with [`storage_failed`].
///
/// A `Push` is appended here in a transaction of its own. The session sends pushes through the
/// store's group commit instead ([`log::plan_push`], then [`log::pushed`]): the same two steps
/// this arm composes, so both paths apply one policy.
pub(crate) fn handle(ctx: &mut Ctx<'_>, message: ClientMessage) -> Result<Effects, StoreError> {
    if ctx.conn.signed_in.is_none() {
        return handshake::handle(ctx, message);
    }
    match message {
        ClientMessage::Ping { nonce } => Ok(Effects::reply(ServerMessage::Pong { nonce })),
        ClientMessage::TakePairing { request, mailbox } => {
            handshake::take_pairing(ctx, request, mailbox)
        }
        ClientMessage::PutPairing {
            request,
            mailbox,
            payload,
            expires_at_ms,
        } => sharing::put_pairing(ctx, request, mailbox, payload, expires_at_ms),
        ClientMessage::CreateDocument { request, doc } => log::create_document(ctx, request, doc),
        ClientMessage::Push {
            request,
            doc,
            bundle,
        } => log::push(ctx, request, doc, bundle),
        ClientMessage::Subscribe {
            request,
            doc,
            since,
        } => log::subscribe(ctx, request, doc, since),
        ClientMessage::Unsubscribe { request, doc } => Ok(Effects {
            hub: vec![HubChange::Leave(doc)],
            replies: vec![ServerMessage::Done { request }],
            ..Effects::default()
        }),
        ClientMessage::PutSnapshot {
            request,
            doc,
            covers,
            part,
            parts,
            snapshot,
        } => {
            let upload = log::SnapshotPart {
                covers,
                part,
                parts,
                bytes: snapshot,
            };
            log::put_snapshot(ctx, request, doc, upload)
        }
        ClientMessage::DeleteDocument { request, doc } => log::delete_document(ctx, request, doc),
        ClientMessage::ListDocuments { request } => log::list_documents(ctx, request),
        ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes,
        } => sharing::put_key_envelopes(ctx, request, doc, envelopes),
        ClientMessage::GetKeyEnvelopes { request, doc } => {
            sharing::get_key_envelopes(ctx, request, doc)
        }
        ClientMessage::PutMembership {
            request,
            doc,
            membership,
        } => sharing::put_membership(ctx, request, doc, membership),
        ClientMessage::GetMembership { request, doc } => sharing::get_membership(ctx, request, doc),
        ClientMessage::LeaveDocument { request, doc } => sharing::leave_document(ctx, request, doc),
        ClientMessage::GetAccount { request, account } => {
            sharing::get_account(ctx, request, account)
        }
        ClientMessage::CreateInvite {
            request,
            invite_hash,
            expires_at_ms,
        } => sharing::create_invite(ctx, request, invite_hash, expires_at_ms),
        ClientMessage::ListDevices { request } => sharing::list_devices(ctx, request),
        ClientMessage::RevokeDevice { request, device } => {
            sharing::revoke_device(ctx, request, device)
        }
        ClientMessage::GetAudit {
            request,
            doc,
            after,
            limit,
        } => audit::get_audit(ctx, request, doc, after, limit),
        other @ (ClientMessage::SignIn { .. }
        | ClientMessage::Register { .. }
        | ClientMessage::RegisterDevice { .. }) => Ok(Effects::fatal(
            other.request(),
            ErrorCode::UnexpectedMessage,
            "this connection is already signed in",
        )),
    }
}

/// Ends the connection if its device or account was disabled since it signed in (the session
/// asks every few seconds while idle). `None` while it may go on. A storage failure here is only
/// logged: the request that follows meets it too, and the periodic check must not drop healthy
/// devices.
pub(crate) fn recheck(ctx: &mut Ctx<'_>) -> Option<Effects> {
    match ctx.enabled_me() {
        Ok(enabled) => enabled.err().map(|refused| *refused),
        Err(err) => {
            tracing::warn!(error = %err, "could not re-check a device's state");
            None
        }
    }
}
