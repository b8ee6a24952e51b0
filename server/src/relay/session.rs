//! One device's connection: the challenge, sign-in (or registration), then its requests until it
//! closes, times out or misbehaves.
//!
//! Every frame is decoded with the protocol's bounded decoder; a malformed, oversized or
//! unexpected one gets an `Error` frame and, when the code is fatal, the connection (never the
//! process) ends. Every sign-in and every access to a document's log — allowed or refused — goes
//! to the audit trail, with ids and the time only (no address, no content). Nothing here reads a
//! bundle's content: the relay only checks a bundle's header (which document, which author
//! device), as defence in depth.
//!
//! A device stays admitted only while it and its account are enabled. The practice admin
//! disables an account from another process (`between-relay disable`), so a session re-reads its
//! device's state with every request and every [`RECHECK_EVERY`] while idle, and ends with
//! `device_revoked` once it is disabled.

use super::hub::{ConnectionId, Outgoing, OUTGOING_QUEUE};
use super::Relay;
use crate::store::{
    self, AccountId as StoreAccount, AccountRole, AuditEntry, AuditRecord, Conflict, DeviceEntry,
    DeviceId as StoreDevice, DeviceRecord, DocId as StoreDoc, InviteError, InviteHash,
    InviteRecord, Mailbox as StoreMailbox, Registration, StoreError,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use between_shared::crypto::{
    self, BundleHeader, DeviceCertificate, InviteSecret, SignedMembership,
};
use between_shared::protocol::audit::{is_valid_action, AuditAction};
use between_shared::protocol::limits::{
    MAX_AUDIT_EVENTS, MAX_DEVICES, MAX_DOCUMENTS, MAX_INVITE_LIFETIME,
};
use between_shared::protocol::{
    decode_client, encode_server, AccountId, AuditEvent, Challenge, ClientMessage, DeviceId,
    DeviceInfo, DocId, DocumentInfo, ErrorCode, KeyEnvelope, RequestId, Seq, ServerMessage,
    PROTOCOL_VERSION,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

/// How many log entries one catch-up page reads from the store.
const CATCH_UP_PAGE: usize = 256;
/// How many bytes one catch-up page reads from the store at most.
const CATCH_UP_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// How often an idle session re-reads whether its device and account are still enabled: the
/// admin disables accounts from another process, and their devices must go within seconds.
/// One indexed lookup per connection per period is cheap for a practice's relay.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// What a device of a disabled account is told, at sign-in and when it is disconnected.
const ACCOUNT_DISABLED: &str =
    "this account was disabled by the practice admin; ask the practice if you think this is a mistake";

/// What a device that was removed from its account is told.
const DEVICE_REMOVED: &str = "this device has been removed from its account";

/// What a device asking for a deleted document is told.
const DOCUMENT_DELETED: &str =
    "this document was deleted from the relay by its owner; its id cannot be used again";

/// The refusal for a device (or its account) that is disabled.
fn disabled(entry: &DeviceEntry) -> Close {
    let message = if entry.account_disabled {
        ACCOUNT_DISABLED
    } else {
        DEVICE_REMOVED
    };
    Close::with(None, ErrorCode::DeviceRevoked, message)
}

/// The document a request would access, and how, for recording a refused attempt.
fn attempt_on_document(message: &ClientMessage) -> Option<(DocId, AuditAction)> {
    match message {
        ClientMessage::CreateDocument { doc, .. } => Some((*doc, AuditAction::Create)),
        ClientMessage::Push { doc, .. } => Some((*doc, AuditAction::Append)),
        ClientMessage::Subscribe { doc, .. } => Some((*doc, AuditAction::Read)),
        ClientMessage::PutSnapshot { doc, .. } => Some((*doc, AuditAction::Snapshot)),
        ClientMessage::PutKeyEnvelopes { doc, .. } => Some((*doc, AuditAction::PutKeys)),
        ClientMessage::GetKeyEnvelopes { doc, .. } => Some((*doc, AuditAction::ReadKeys)),
        ClientMessage::GetAudit { doc, .. } => doc.map(|doc| (doc, AuditAction::ReadAudit)),
        ClientMessage::PutMembership { doc, .. } => Some((*doc, AuditAction::PutMembers)),
        ClientMessage::GetMembership { doc, .. } => Some((*doc, AuditAction::ReadMembers)),
        ClientMessage::DeleteDocument { doc, .. } => Some((*doc, AuditAction::DeleteDocument)),
        ClientMessage::LeaveDocument { doc, .. } => Some((*doc, AuditAction::LeaveDocument)),
        ClientMessage::SignIn { .. }
        | ClientMessage::CreateInvite { .. }
        | ClientMessage::GetAccount { .. }
        | ClientMessage::ListDocuments { .. }
        | ClientMessage::RevokeDevice { .. }
        | ClientMessage::Register { .. }
        | ClientMessage::RegisterDevice { .. }
        | ClientMessage::TakePairing { .. }
        | ClientMessage::PutPairing { .. }
        | ClientMessage::Unsubscribe { .. }
        | ClientMessage::ListDevices { .. }
        | ClientMessage::Ping { .. } => None,
    }
}

/// An audit row as a device receives it. A row whose action is not a token (it cannot come from
/// this relay; `between-relay audit verify` reports such tampering) is shown as `invalid` rather
/// than dropped, so paging still sees every row.
fn audit_event(entry: AuditEntry) -> AuditEvent {
    let record = entry.record;
    AuditEvent {
        id: entry.id,
        at_ms: record.at_ms,
        account: record.account.map(|a| AccountId(*a.as_bytes())),
        device: record.device.map(|d| DeviceId(*d.as_bytes())),
        doc: record.doc.map(|d| DocId(*d.as_bytes())),
        action: if is_valid_action(&record.action) {
            record.action
        } else {
            "invalid".to_owned()
        },
    }
}

/// The role a membership list gives a member, as the relay's account role.
fn account_role(role: between_shared::Role) -> AccountRole {
    match role {
        between_shared::Role::Client => AccountRole::Client,
        between_shared::Role::Therapist => AccountRole::Therapist,
    }
}

/// A device as another member sees it: only enabled devices, with their certificates.
fn device_infos(entries: Vec<DeviceEntry>) -> Vec<DeviceInfo> {
    entries
        .into_iter()
        .filter(|d| !d.disabled)
        .take(MAX_DEVICES)
        .map(|d| DeviceInfo {
            device: DeviceId(*d.record.device.as_bytes()),
            certificate: d.record.certificate,
            registered_at_ms: d.record.registered_at_ms,
        })
        .collect()
}

/// A refusal decided while looking at the store: the code and what the device is told.
type Refusal = (ErrorCode, String);

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// The time now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why a connection ends early: the error frame to send (if any) before closing.
struct Close(Option<ServerMessage>);

impl Close {
    fn with(request: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Close(Some(ServerMessage::error(request, code, message)))
    }
}

impl From<StoreError> for Close {
    fn from(err: StoreError) -> Self {
        warn!(error = %err, "storage failed");
        Close::with(
            None,
            ErrorCode::Internal,
            "the relay could not complete the request; try again later",
        )
    }
}

/// Who is signed in on this connection.
#[derive(Clone, Copy)]
struct SignedIn {
    account: StoreAccount,
    device: StoreDevice,
}

struct Session {
    relay: Arc<Relay>,
    id: ConnectionId,
    sink: Sink,
    outgoing: Outgoing,
    signed_in: Option<SignedIn>,
    subscriptions: HashSet<DocId>,
    /// Token bucket for requests: refills at the configured rate, holds a burst.
    tokens: f64,
    refilled: Instant,
}

fn store_doc(doc: DocId) -> StoreDoc {
    StoreDoc::from_bytes(doc.0)
}

/// Serves one WebSocket from upgrade to close.
pub(crate) async fn serve(relay: Arc<Relay>, socket: WebSocket, peer: IpAddr) {
    let Some(_permit) = relay.admit(peer) else {
        let (mut sink, _) = socket.split();
        let refusal = ServerMessage::error(
            None,
            ErrorCode::RateLimited,
            "too many connections from your address; try again later",
        );
        if let Ok(bytes) = encode_server(&refusal) {
            let _ = sink.send(Message::Binary(bytes.into())).await;
        }
        let _ = sink.close().await;
        return;
    };
    let id = relay.next_connection_id();
    let (sink, stream) = socket.split();
    let (queue_tx, queue_rx) = mpsc::channel(OUTGOING_QUEUE);
    let (kick_tx, kick_rx) = mpsc::channel(1);
    let mut session = Session {
        tokens: relay.config.burst,
        refilled: Instant::now(),
        relay: relay.clone(),
        id,
        sink,
        outgoing: Outgoing {
            queue: queue_tx,
            kick: kick_tx,
        },
        signed_in: None,
        subscriptions: HashSet::new(),
    };
    relay.metrics.connection_opened();
    let result = session.run(stream, queue_rx, kick_rx).await;
    if let Err(Close(Some(error))) = &result {
        let _ = session.send(error).await;
        // 1008: policy violation; the error frame before it says what was wrong.
        let _ = session
            .sink
            .send(Message::Close(Some(CloseFrame {
                code: 1008,
                reason: "see the error frame".into(),
            })))
            .await;
    }
    let _ = session.sink.close().await;
    relay.hub.leave_all(id);
    relay.metrics.connection_closed();
    debug!(connection = id, "closed");
}

impl Session {
    async fn send(&mut self, message: &ServerMessage) -> Result<(), Close> {
        let bytes = encode_server(message).map_err(|err| {
            warn!(error = %err, "could not encode a frame");
            Close(None)
        })?;
        self.relay.metrics.bytes_out(bytes.len());
        self.sink
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|_| Close(None))
    }

    /// Reads the next protocol frame; `None` when the peer closed.
    async fn next_frame(&mut self, stream: &mut Stream) -> Result<Option<ClientMessage>, Close> {
        loop {
            let Some(message) = stream.next().await else {
                return Ok(None);
            };
            let message = message.map_err(|_| Close(None))?;
            match message {
                Message::Binary(bytes) => {
                    self.relay.metrics.bytes_in(bytes.len());
                    return decode_client(&bytes).map(Some).map_err(|err| {
                        self.relay.metrics.error();
                        Close::with(None, err.code(), err.to_string())
                    });
                }
                Message::Text(_) => {
                    return Err(Close::with(
                        None,
                        ErrorCode::Malformed,
                        "text frames are not part of the protocol; send binary CBOR frames",
                    ))
                }
                Message::Close(_) => return Ok(None),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn run(
        &mut self,
        mut stream: Stream,
        mut queue: mpsc::Receiver<ServerMessage>,
        mut kick: mpsc::Receiver<()>,
    ) -> Result<(), Close> {
        let config = self.relay.config.clone();
        let challenge = Challenge(rand::random());
        self.send(&ServerMessage::Challenge {
            challenge,
            relay_origin: config.origin.clone(),
            server_time_ms: now_ms(),
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
        })
        .await?;

        // The handshake: sign in (or register) within the deadline. A new device may fetch its
        // pairing payload first.
        let deadline = Instant::now() + config.handshake_timeout;
        while self.signed_in.is_none() {
            let frame = tokio::time::timeout_at(deadline, self.next_frame(&mut stream))
                .await
                .map_err(|_| {
                    Close::with(
                        None,
                        ErrorCode::Unauthenticated,
                        "sign-in took too long; connect again",
                    )
                })??;
            let Some(frame) = frame else {
                return Ok(());
            };
            self.handshake(&challenge, frame).await?;
        }

        let shutdown = self.relay.shutdown.clone();
        let mut ping = tokio::time::interval(config.ping_interval);
        ping.tick().await;
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.tick().await;
        loop {
            tokio::select! {
                frame = timeout(config.idle_timeout, self.next_frame(&mut stream)) => {
                    let frame = frame.map_err(|_| Close(None))??;
                    let Some(frame) = frame else { return Ok(()) };
                    self.take_token()?;
                    self.request(frame).await?;
                }
                Some(message) = queue.recv() => self.send(&message).await?,
                Some(()) = kick.recv() => {
                    return Err(Close::with(None, ErrorCode::RateLimited,
                        "you fell too far behind the live stream; reconnect to catch up"));
                }
                _ = ping.tick() => {
                    self.sink.send(Message::Ping(Vec::new().into())).await.map_err(|_| Close(None))?;
                }
                _ = recheck.tick() => self.still_enabled().await?,
                () = shutdown.cancelled() => {
                    return Err(Close::with(None, ErrorCode::ShuttingDown,
                        "the relay is restarting; reconnect in a moment"));
                }
            }
        }
    }

    fn take_token(&mut self) -> Result<(), Close> {
        let config = &self.relay.config;
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * config.messages_per_second).min(config.burst);
        if self.tokens < 1.0 {
            return Err(Close::with(
                None,
                ErrorCode::RateLimited,
                "too many requests; slow down and reconnect",
            ));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// Records an event by the signed-in device (or by nobody known, before sign-in).
    async fn audit(&self, doc: Option<DocId>, action: &'static str) {
        self.audit_as(
            self.signed_in.map(|s| s.account),
            self.signed_in.map(|s| s.device),
            doc,
            action,
        )
        .await;
    }

    /// Records an event by `account` and `device` (a refused sign-in names the device that
    /// tried). A failure to record is logged; it does not fail the request.
    async fn audit_as(
        &self,
        account: Option<StoreAccount>,
        device: Option<StoreDevice>,
        doc: Option<DocId>,
        action: &'static str,
    ) {
        let record = AuditRecord {
            at_ms: now_ms(),
            account,
            device,
            doc: doc.map(store_doc),
            action: action.to_string(),
        };
        if let Err(err) = self.relay.store.audit(record).await {
            warn!(error = %err, "could not record an audit entry");
        }
    }

    /// Checks a sign-in signature: fresh timestamp, strict signature over challenge + origin.
    fn check_signature(
        &self,
        challenge: &Challenge,
        signing: &[u8; 32],
        timestamp_ms: i64,
        signature: &[u8; 64],
    ) -> Result<(), Close> {
        let skew = i64::try_from(self.relay.config.max_skew.as_millis()).unwrap_or(i64::MAX);
        if (now_ms() - timestamp_ms).abs() > skew {
            return Err(Close::with(
                None,
                ErrorCode::StaleSignIn,
                "the sign-in is too old or from the future; check this device's clock and connect again",
            ));
        }
        let message =
            crypto::sign_in_message(&challenge.0, &self.relay.config.origin, timestamp_ms);
        crypto::verify_device_signature(signing, &message, signature).map_err(|_| {
            Close::with(
                None,
                ErrorCode::BadSignature,
                "the sign-in signature does not verify for this relay; connect again",
            )
        })
    }

    async fn handshake(
        &mut self,
        challenge: &Challenge,
        frame: ClientMessage,
    ) -> Result<(), Close> {
        match frame {
            ClientMessage::SignIn {
                device,
                timestamp_ms,
                signature,
            } => {
                let id = StoreDevice::from_bytes(device.0);
                let entry = self.relay.store.try_call(move |s| s.device(id)).await?;
                let Some(entry) = entry else {
                    self.audit(None, AuditAction::SignIn.refused_token()).await;
                    return Err(Close::with(
                        None,
                        ErrorCode::UnknownDevice,
                        "this device is not registered with this relay; pair it again",
                    ));
                };
                // The signature first, so a disabled device hears why only once it proved it
                // is that device; a failed attempt is recorded on the account it claims.
                let signed = self.check_signature(
                    challenge,
                    &entry.record.signing_pub,
                    timestamp_ms,
                    &signature,
                );
                if signed.is_err() || entry.disabled {
                    self.audit_as(
                        Some(entry.record.account),
                        Some(id),
                        None,
                        AuditAction::SignIn.refused_token(),
                    )
                    .await;
                }
                signed?;
                if entry.disabled {
                    return Err(disabled(&entry));
                }
                self.welcome(entry.record.account, id, AuditAction::SignIn.token())
                    .await
            }
            ClientMessage::Register {
                invite,
                identity,
                certificate,
                timestamp_ms,
                signature,
            } => {
                let certificate = self.certificate(&certificate, &identity)?;
                self.check_signature(
                    challenge,
                    &certificate.device.signing,
                    timestamp_ms,
                    &signature,
                )?;
                let invite: [u8; 32] = invite.as_slice().try_into().map_err(|_| {
                    Close::with(
                        None,
                        ErrorCode::InviteInvalid,
                        "this invite is not valid; ask for a new one",
                    )
                })?;
                let device = StoreDevice::from_bytes(certificate.device_id().0);
                let account = StoreAccount::from_bytes(rand::random());
                let role = match certificate.role {
                    between_shared::Role::Client => store::AccountRole::Client,
                    between_shared::Role::Therapist => store::AccountRole::Therapist,
                };
                let registration = Registration {
                    role,
                    invite: store::InviteHash::from_bytes(InviteSecret::from_bytes(invite).hash()),
                    account,
                    identity_pub: identity,
                    device: DeviceRecord {
                        device,
                        account,
                        signing_pub: certificate.device.signing,
                        certificate: certificate.to_bytes().to_vec(),
                        registered_at_ms: now_ms(),
                    },
                };
                let result = self
                    .relay
                    .store
                    .call(move |s| s.register_with_invite(&registration, now_ms()))
                    .await?;
                match result {
                    Ok(record) => {
                        info!(account = %record.account, role = %record.role, "registered an account");
                        self.welcome(record.account, device, AuditAction::Register.token())
                            .await
                    }
                    Err(InviteError::Store(StoreError::Conflict(conflict))) => Err(Close::with(
                        None,
                        ErrorCode::AlreadyRegistered,
                        format!("{conflict}; sign in instead, or pair this device with `between init --pair`"),
                    )),
                    Err(InviteError::Store(err)) => Err(err.into()),
                    Err(refused) => {
                        info!(reason = refused.reason(), "refused an invite");
                        self.audit(None, AuditAction::Register.refused_token())
                            .await;
                        Err(Close::with(
                            None,
                            ErrorCode::InviteInvalid,
                            refused.to_string(),
                        ))
                    }
                }
            }
            ClientMessage::RegisterDevice {
                certificate,
                timestamp_ms,
                signature,
            } => {
                let parsed = DeviceCertificate::from_bytes(&certificate).map_err(|err| {
                    Close::with(
                        None,
                        ErrorCode::BadCertificate,
                        format!("the device certificate is not valid: {err}"),
                    )
                })?;
                let identity = parsed.owner.0;
                let certificate = self.certificate(&certificate, &identity)?;
                self.check_signature(
                    challenge,
                    &certificate.device.signing,
                    timestamp_ms,
                    &signature,
                )?;
                let account = self
                    .relay
                    .store
                    .try_call(move |s| s.account_by_identity(&identity))
                    .await?;
                let Some(account) = account else {
                    return Err(Close::with(
                        None,
                        ErrorCode::BadCertificate,
                        "the certificate is not signed by an identity this relay knows; use an invite for a first device",
                    ));
                };
                let device = StoreDevice::from_bytes(certificate.device_id().0);
                if account.disabled_at_ms.is_some() {
                    self.audit_as(
                        Some(account.account),
                        Some(device),
                        None,
                        AuditAction::RegisterDevice.refused_token(),
                    )
                    .await;
                    return Err(Close::with(
                        None,
                        ErrorCode::DeviceRevoked,
                        ACCOUNT_DISABLED,
                    ));
                }
                let record = DeviceRecord {
                    device,
                    account: account.account,
                    signing_pub: certificate.device.signing,
                    certificate: certificate.to_bytes().to_vec(),
                    registered_at_ms: now_ms(),
                };
                match self
                    .relay
                    .store
                    .try_call(move |s| s.register_device(&record))
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::Conflict(conflict)) => {
                        return Err(Close::with(
                            None,
                            ErrorCode::AlreadyRegistered,
                            format!("{conflict}"),
                        ));
                    }
                    Err(err) => return Err(err.into()),
                }
                self.welcome(account.account, device, AuditAction::RegisterDevice.token())
                    .await
            }
            ClientMessage::TakePairing { request, mailbox } => {
                self.take_pairing(request, mailbox).await
            }
            other => {
                // An attempt on a document's log by nobody signed in is refused and recorded
                // too (invariant 4); it names no account or device, as none was proven.
                if let Some((doc, action)) = attempt_on_document(&other) {
                    self.audit(Some(doc), action.refused_token()).await;
                }
                Err(Close::with(
                    other.request(),
                    ErrorCode::Unauthenticated,
                    format!("sign in first; '{}' needs a signed-in device", other.name()),
                ))
            }
        }
    }

    /// Parses a certificate and checks its signature and owner.
    fn certificate(&self, bytes: &[u8], identity: &[u8; 32]) -> Result<DeviceCertificate, Close> {
        let certificate = DeviceCertificate::from_bytes(bytes).map_err(|err| {
            Close::with(
                None,
                ErrorCode::BadCertificate,
                format!("the device certificate is not valid: {err}"),
            )
        })?;
        certificate
            .verify_owner(&crypto::IdentityPublic(*identity))
            .map_err(|err| {
                Close::with(
                    None,
                    ErrorCode::BadCertificate,
                    format!("the device certificate is not valid: {err}"),
                )
            })?;
        Ok(certificate)
    }

    async fn welcome(
        &mut self,
        account: StoreAccount,
        device: StoreDevice,
        action: &'static str,
    ) -> Result<(), Close> {
        self.signed_in = Some(SignedIn { account, device });
        self.audit(None, action).await;
        self.send(&ServerMessage::Welcome {
            account: AccountId(*account.as_bytes()),
            device: DeviceId(*device.as_bytes()),
        })
        .await
    }

    async fn take_pairing(
        &mut self,
        request: RequestId,
        mailbox: between_shared::protocol::Mailbox,
    ) -> Result<(), Close> {
        let mailbox = StoreMailbox::from_bytes(mailbox.0);
        let payload = self
            .relay
            .store
            .try_call(move |s| s.take_pairing(mailbox, now_ms()))
            .await?;
        match payload {
            Some(payload) => self.send(&ServerMessage::Pairing { request, payload }).await,
            None => self
                .send(&ServerMessage::error(
                    Some(request),
                    ErrorCode::PairingNotFound,
                    "no pairing waits under that code: it is wrong, expired or already used; make a new one with `between device add`",
                ))
                .await,
        }
    }

    fn me(&self) -> Result<SignedIn, Close> {
        self.signed_in
            .ok_or_else(|| Close::with(None, ErrorCode::Unauthenticated, "sign in first"))
    }

    /// Ends the session if its device or account has been disabled since it signed in (by the
    /// admin, from another process). A storage failure here is only logged: the request that
    /// follows meets it too, and the periodic check must not drop healthy devices.
    async fn still_enabled(&self) -> Result<(), Close> {
        let me = self.me()?;
        match self
            .relay
            .store
            .try_call(move |s| s.device(me.device))
            .await
        {
            Ok(Some(entry)) if entry.disabled => Err(disabled(&entry)),
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Close::with(None, ErrorCode::DeviceRevoked, DEVICE_REMOVED)),
            Err(err) => {
                warn!(error = %err, "could not re-check a device's state");
                Ok(())
            }
        }
    }

    /// Checks that the device is still enabled and its account is a member of `doc`, in one
    /// storage call. A disabled device ends the session; a refusal of `action` is answered (not
    /// fatal) and audited.
    async fn member(
        &mut self,
        request: RequestId,
        doc: DocId,
        action: AuditAction,
    ) -> Result<bool, Close> {
        let me = self.me()?;
        let id = store_doc(doc);
        let (device, exists, member, deleted) = self
            .relay
            .store
            .try_call(move |s| {
                let device = s.device(me.device)?;
                // `head`, not `document`: the latter sums the sizes of every stored bundle.
                let exists = match s.head(id) {
                    Ok(_) => true,
                    Err(StoreError::NotFound(_)) => false,
                    Err(err) => return Err(err),
                };
                let member = exists && s.is_member(id, me.account)?;
                let deleted = !exists && s.deleted_at(id)?.is_some();
                Ok::<_, StoreError>((device, exists, member, deleted))
            })
            .await?;
        match device {
            Some(entry) if entry.disabled => return Err(disabled(&entry)),
            Some(_) => {}
            None => return Err(Close::with(None, ErrorCode::DeviceRevoked, DEVICE_REMOVED)),
        }
        if member {
            return Ok(true);
        }
        self.audit(Some(doc), action.refused_token()).await;
        self.relay.metrics.error();
        let (code, message) = if exists {
            (
                ErrorCode::NotMember,
                "this device is not a member of that document",
            )
        } else if deleted {
            (ErrorCode::DocumentDeleted, DOCUMENT_DELETED)
        } else {
            (ErrorCode::UnknownDocument, "no such document on this relay")
        };
        self.send(&ServerMessage::error(Some(request), code, message))
            .await?;
        Ok(false)
    }

    async fn request(&mut self, frame: ClientMessage) -> Result<(), Close> {
        let me = self.me()?;
        match frame {
            ClientMessage::Ping { nonce } => self.send(&ServerMessage::Pong { nonce }).await,
            ClientMessage::TakePairing { request, mailbox } => {
                self.take_pairing(request, mailbox).await
            }
            ClientMessage::PutPairing {
                request,
                mailbox,
                payload,
                expires_at_ms,
            } => {
                self.still_enabled().await?;
                let max = i64::try_from(
                    between_shared::protocol::limits::MAX_PAIRING_LIFETIME.as_millis(),
                )
                .unwrap_or(i64::MAX);
                let expires_at_ms = expires_at_ms.min(now_ms() + max);
                let mailbox = StoreMailbox::from_bytes(mailbox.0);
                let result = self
                    .relay
                    .store
                    .try_call(move |s| s.put_pairing(mailbox, &payload, now_ms(), expires_at_ms))
                    .await
                    .map(|()| ServerMessage::Done { request });
                let action = match &result {
                    Ok(_) => Some(AuditAction::PutPairing.token()),
                    Err(StoreError::Conflict(_)) => Some(AuditAction::PutPairing.refused_token()),
                    // The storage failed: nothing was attempted that the trail should show.
                    Err(_) => None,
                };
                if let Some(action) = action {
                    self.audit(None, action).await;
                }
                self.answer(request, result).await
            }
            ClientMessage::CreateDocument { request, doc } => {
                self.still_enabled().await?;
                let id = store_doc(doc);
                match self
                    .relay
                    .store
                    .try_call(move |s| s.create_document(id, me.account, now_ms()))
                    .await
                {
                    Ok(()) => {
                        self.audit(Some(doc), AuditAction::Create.token()).await;
                        self.send(&ServerMessage::Done { request }).await
                    }
                    Err(StoreError::Conflict(conflict)) => {
                        // Creating again from the same account is harmless (a retry after a lost
                        // answer); from anyone else it is refused. A deleted document's id stays
                        // retired, even for its owner: its device is told it was deleted.
                        if self.member_quiet(doc).await? {
                            self.send(&ServerMessage::Done { request }).await
                        } else {
                            self.audit(Some(doc), AuditAction::Create.refused_token())
                                .await;
                            let (code, message) = match conflict {
                                Conflict::DocumentDeleted(_) => {
                                    (ErrorCode::DocumentDeleted, DOCUMENT_DELETED.to_owned())
                                }
                                other => (ErrorCode::Conflict, other.to_string()),
                            };
                            self.send(&ServerMessage::error(Some(request), code, message))
                                .await
                        }
                    }
                    Err(err) => Err(err.into()),
                }
            }
            ClientMessage::Push {
                request,
                doc,
                bundle,
            } => self.push(me, request, doc, bundle).await,
            ClientMessage::Subscribe {
                request,
                doc,
                since,
            } => self.subscribe(me, request, doc, since).await,
            ClientMessage::Unsubscribe { request, doc } => {
                self.relay.hub.leave(doc, self.id);
                self.subscriptions.remove(&doc);
                self.send(&ServerMessage::Done { request }).await
            }
            ClientMessage::PutSnapshot {
                request,
                doc,
                covers,
                snapshot,
            } => {
                if !self.member(request, doc, AuditAction::Snapshot).await? {
                    return Ok(());
                }
                let id = store_doc(doc);
                let _order = self.relay.hub.lock(doc).await;
                let result = self
                    .relay
                    .store
                    .try_call(move |s| s.put_snapshot(id, store::Seq(covers.0), &snapshot))
                    .await;
                if result.is_ok() {
                    self.audit(Some(doc), AuditAction::Snapshot.token()).await;
                }
                let reply = result.map(|()| ServerMessage::Ack {
                    request,
                    doc,
                    seq: covers,
                });
                self.answer(request, reply).await
            }
            ClientMessage::PutKeyEnvelopes {
                request,
                doc,
                envelopes,
            } => {
                if !self.member(request, doc, AuditAction::PutKeys).await? {
                    return Ok(());
                }
                let id = store_doc(doc);
                // A member may wrap keys only for enabled devices of the document's members,
                // so nobody can plant envelopes (and with them relay access hints) for
                // strangers. All recipients are checked before anything is stored.
                let result = self
                    .relay
                    .store
                    .try_call(move |s| {
                        for envelope in &envelopes {
                            let recipient = StoreDevice::from_bytes(envelope.recipient.0);
                            let allowed = match s.device(recipient)? {
                                Some(entry) => {
                                    !entry.disabled && s.is_member(id, entry.record.account)?
                                }
                                None => false,
                            };
                            if !allowed {
                                return Ok(Err(recipient));
                            }
                        }
                        for envelope in &envelopes {
                            s.put_key_envelope(
                                id,
                                envelope.epoch,
                                StoreDevice::from_bytes(envelope.recipient.0),
                                &envelope.envelope,
                            )?;
                        }
                        Ok::<_, StoreError>(Ok(()))
                    })
                    .await;
                let result = match result {
                    Ok(Err(recipient)) => {
                        return self
                            .refuse(
                                request,
                                Some(doc),
                                AuditAction::PutKeys,
                                ErrorCode::BadRequest,
                                format!("device {recipient} is not an enabled device of a member of this document"),
                            )
                            .await;
                    }
                    Ok(Ok(())) => Ok(ServerMessage::Done { request }),
                    Err(err) => Err(err),
                };
                if result.is_ok() {
                    self.audit(Some(doc), AuditAction::PutKeys.token()).await;
                }
                self.answer(request, result).await
            }
            ClientMessage::GetKeyEnvelopes { request, doc } => {
                if !self.member(request, doc, AuditAction::ReadKeys).await? {
                    return Ok(());
                }
                self.audit(Some(doc), AuditAction::ReadKeys.token()).await;
                let id = store_doc(doc);
                let device = me.device;
                let found = self
                    .relay
                    .store
                    .try_call(move |s| s.key_envelopes(id, device))
                    .await?;
                let envelopes = found
                    .into_iter()
                    .map(|e| KeyEnvelope {
                        epoch: e.epoch,
                        recipient: DeviceId(*device.as_bytes()),
                        envelope: e.bytes,
                    })
                    .collect();
                self.send(&ServerMessage::KeyEnvelopes {
                    request,
                    doc,
                    envelopes,
                })
                .await
            }
            ClientMessage::ListDevices { request } => {
                self.still_enabled().await?;
                let account = me.account;
                let devices = self
                    .relay
                    .store
                    .try_call(move |s| s.devices_of(account))
                    .await?;
                let devices = device_infos(devices);
                self.send(&ServerMessage::Devices { request, devices })
                    .await
            }
            ClientMessage::CreateInvite {
                request,
                invite_hash,
                expires_at_ms,
            } => {
                self.create_invite(me, request, invite_hash, expires_at_ms)
                    .await
            }
            ClientMessage::GetAccount { request, account } => {
                self.get_account(me, request, account).await
            }
            ClientMessage::PutMembership {
                request,
                doc,
                membership,
            } => self.put_membership(me, request, doc, membership).await,
            ClientMessage::GetMembership { request, doc } => {
                if !self.member(request, doc, AuditAction::ReadMembers).await? {
                    return Ok(());
                }
                let id = store_doc(doc);
                let stored = self.relay.store.try_call(move |s| s.membership(id)).await?;
                self.audit(Some(doc), AuditAction::ReadMembers.token())
                    .await;
                self.send(&ServerMessage::Membership {
                    request,
                    doc,
                    membership: stored.map(|m| m.bytes),
                })
                .await
            }
            ClientMessage::ListDocuments { request } => {
                self.still_enabled().await?;
                let account = me.account;
                let found = self
                    .relay
                    .store
                    .try_call(move |s| s.documents_of(account))
                    .await?;
                if found.len() > MAX_DOCUMENTS {
                    warn!(
                        account = %account,
                        documents = found.len(),
                        "an account is a member of more documents than one reply lists"
                    );
                }
                let documents = found
                    .into_iter()
                    .take(MAX_DOCUMENTS)
                    .map(|d| DocumentInfo {
                        doc: DocId(*d.doc.as_bytes()),
                        owner: AccountId(*d.owner.as_bytes()),
                    })
                    .collect();
                self.audit(None, AuditAction::ListDocuments.token()).await;
                self.send(&ServerMessage::Documents { request, documents })
                    .await
            }
            ClientMessage::GetAudit {
                request,
                doc,
                after,
                limit,
            } => self.get_audit(me, request, doc, after, limit).await,
            ClientMessage::DeleteDocument { request, doc } => {
                self.delete_document(me, request, doc).await
            }
            ClientMessage::RevokeDevice { request, device } => {
                self.revoke_device(me, request, device).await
            }
            ClientMessage::LeaveDocument { request, doc } => {
                self.leave_document(me, request, doc).await
            }
            other @ (ClientMessage::SignIn { .. }
            | ClientMessage::Register { .. }
            | ClientMessage::RegisterDevice { .. }) => Err(Close::with(
                other.request(),
                ErrorCode::UnexpectedMessage,
                "this connection is already signed in",
            )),
        }
    }

    /// Answers a request: the reply on success; a refusal the device can act on as a
    /// non-fatal error; anything else (storage failing) ends the connection.
    async fn answer(
        &mut self,
        request: RequestId,
        result: Result<ServerMessage, StoreError>,
    ) -> Result<(), Close> {
        let (code, message) = match result {
            Ok(reply) => return self.send(&reply).await,
            Err(StoreError::Conflict(conflict)) => (ErrorCode::Conflict, conflict.to_string()),
            Err(
                err @ (StoreError::SnapshotBeyondHead { .. } | StoreError::SnapshotOutdated { .. }),
            ) => (ErrorCode::BadRequest, err.to_string()),
            Err(err) => return Err(err.into()),
        };
        self.send(&ServerMessage::error(Some(request), code, message))
            .await
    }

    /// Membership without answering or auditing (for idempotent retries).
    async fn member_quiet(&self, doc: DocId) -> Result<bool, Close> {
        let me = self.me()?;
        let id = store_doc(doc);
        Ok(self
            .relay
            .store
            .try_call(move |s| s.is_member(id, me.account))
            .await?)
    }

    /// Refuses a request (not fatally): records `refused-<action>` and answers with `code`.
    async fn refuse(
        &mut self,
        request: RequestId,
        doc: Option<DocId>,
        action: AuditAction,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), Close> {
        self.audit(doc, action.refused_token()).await;
        self.relay.metrics.error();
        self.send(&ServerMessage::error(Some(request), code, message))
            .await
    }

    /// Re-checks membership with the document's ordering lock held: an owner's `put_membership`
    /// may have removed the account between the first check and the lock, and a removed device
    /// must neither append nor join the live set after its removal committed. A refusal is
    /// answered and recorded like the first check's.
    async fn still_member(
        &mut self,
        request: RequestId,
        doc: DocId,
        action: AuditAction,
    ) -> Result<bool, Close> {
        if self.member_quiet(doc).await? {
            return Ok(true);
        }
        self.refuse(
            request,
            Some(doc),
            action,
            ErrorCode::NotMember,
            "this device is not a member of that document",
        )
        .await?;
        Ok(false)
    }

    /// `CreateInvite`: a therapist stores a one-time client invite (its hash), valid from now
    /// until a time within [`MAX_INVITE_LIFETIME`]. Its creator becomes the client's inviter.
    async fn create_invite(
        &mut self,
        me: SignedIn,
        request: RequestId,
        invite_hash: [u8; 32],
        expires_at_ms: i64,
    ) -> Result<(), Close> {
        self.still_enabled().await?;
        let account = me.account;
        let record = self
            .relay
            .store
            .try_call(move |s| s.account(account))
            .await?;
        let action = AuditAction::CreateInvite;
        if record.map(|r| r.role) != Some(AccountRole::Therapist) {
            return self
                .refuse(
                    request,
                    None,
                    action,
                    ErrorCode::Forbidden,
                    "only a therapist can invite a client",
                )
                .await;
        }
        let now = now_ms();
        let longest = i64::try_from(MAX_INVITE_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        if expires_at_ms <= now || expires_at_ms > now.saturating_add(longest) {
            let days = MAX_INVITE_LIFETIME.as_secs() / (24 * 60 * 60);
            return self
                .refuse(
                    request,
                    None,
                    action,
                    ErrorCode::BadRequest,
                    format!("an invite must expire in the future and within {days} days"),
                )
                .await;
        }
        let invite = InviteRecord {
            hash: InviteHash::from_bytes(invite_hash),
            kind: AccountRole::Client,
            created_by: Some(account),
            created_at_ms: now,
            expires_at_ms,
            label: None,
        };
        match self
            .relay
            .store
            .try_call(move |s| s.create_invite(&invite))
            .await
        {
            Ok(()) => {
                self.audit(None, action.token()).await;
                self.send(&ServerMessage::Done { request }).await
            }
            Err(StoreError::Conflict(conflict)) => {
                self.refuse(
                    request,
                    None,
                    action,
                    ErrorCode::Conflict,
                    conflict.to_string(),
                )
                .await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// `GetAccount`: the caller's inviter (`None`), the caller's own account, or an account that
    /// shares a document with the caller; anything else is `forbidden`, unknown accounts
    /// included, so the reply does not tell whether an account exists.
    async fn get_account(
        &mut self,
        me: SignedIn,
        request: RequestId,
        wanted: Option<AccountId>,
    ) -> Result<(), Close> {
        self.still_enabled().await?;
        let mine = me.account;
        let wanted = wanted.map(|a| StoreAccount::from_bytes(a.0));
        let found = self
            .relay
            .store
            .try_call(move |s| {
                let target = match wanted {
                    None => s.inviter_of(mine)?,
                    Some(a) if a == mine || s.shares_document(mine, a)? => Some(a),
                    Some(_) => None,
                };
                let Some(target) = target else {
                    return Ok(None);
                };
                let Some(record) = s.account(target)? else {
                    return Ok(None);
                };
                Ok::<_, StoreError>(Some((record, s.devices_of(target)?)))
            })
            .await?;
        let Some((record, devices)) = found else {
            let message = if wanted.is_none() {
                "no therapist invited this account"
            } else {
                "you can only look up accounts you share a document with"
            };
            return self
                .refuse(
                    request,
                    None,
                    AuditAction::ReadAccount,
                    ErrorCode::Forbidden,
                    message,
                )
                .await;
        };
        self.audit(None, AuditAction::ReadAccount.token()).await;
        self.send(&ServerMessage::Account {
            request,
            account: AccountId(*record.account.as_bytes()),
            identity: record.identity_pub,
            devices: device_infos(devices),
        })
        .await
    }

    /// `PutMembership`: the owner replaces who is a member with a list its identity signed.
    /// Accounts left out lose access at once: their next request is refused and their live
    /// subscriptions end now.
    async fn put_membership(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: DocId,
        bytes: Vec<u8>,
    ) -> Result<(), Close> {
        self.still_enabled().await?;
        let action = AuditAction::PutMembers;
        let list = match SignedMembership::from_bytes(&bytes) {
            Ok(list) => list,
            Err(err) => {
                return self
                    .refuse(
                        request,
                        Some(doc),
                        action,
                        ErrorCode::BadRequest,
                        format!("the membership list is not valid: {err}"),
                    )
                    .await;
            }
        };
        let id = store_doc(doc);
        let account = me.account;
        let checked = self
            .relay
            .store
            .try_call(move |s| check_membership(s, id, doc, account, &list))
            .await?;
        let (serial, members) = match checked {
            Ok(accepted) => accepted,
            Err((code, message)) => {
                return self.refuse(request, Some(doc), action, code, message).await;
            }
        };
        // Under the ordering lock, so no removed device joins the live set or appends between
        // the commit and the hub dropping its subscriptions.
        let order = self.relay.hub.lock(doc).await;
        let result = self
            .relay
            .store
            .try_call(move |s| s.put_membership(id, serial, &bytes, &members))
            .await;
        match result {
            Ok(removed) => {
                let ended = self.relay.hub.drop_accounts(doc, &removed);
                drop(order);
                info!(
                    doc = %id,
                    serial,
                    removed = removed.len(),
                    ended_subscriptions = ended,
                    "stored a membership list"
                );
                self.audit(Some(doc), action.token()).await;
                self.send(&ServerMessage::Done { request }).await
            }
            Err(StoreError::Conflict(conflict)) => {
                drop(order);
                self.refuse(
                    request,
                    Some(doc),
                    action,
                    ErrorCode::Conflict,
                    conflict.to_string(),
                )
                .await
            }
            Err(StoreError::Invalid(reason)) => {
                drop(order);
                self.refuse(request, Some(doc), action, ErrorCode::BadRequest, reason)
                    .await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// A member who is not the owner leaves a document: its account is no longer a member and
    /// its devices' live subscriptions end. The signed list still names it until the owner's
    /// device rotates (it notices through `get_account`).
    async fn leave_document(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: DocId,
    ) -> Result<(), Close> {
        let action = AuditAction::LeaveDocument;
        if !self.member(request, doc, action).await? {
            return Ok(());
        }
        let id = store_doc(doc);
        let order = self.relay.hub.lock(doc).await;
        let owner = self.owner_of(id).await?;
        if owner == Some(me.account) {
            drop(order);
            return self
                .refuse(
                    request,
                    Some(doc),
                    action,
                    ErrorCode::Forbidden,
                    "the owner cannot leave their own homework; delete it from the relay instead",
                )
                .await;
        }
        let account = me.account;
        self.relay
            .store
            .try_call(move |s| s.remove_member(id, account))
            .await?;
        self.relay.hub.drop_accounts(doc, &[account]);
        drop(order);
        self.subscriptions.remove(&doc);
        self.audit(Some(doc), action.token()).await;
        self.send(&ServerMessage::Done { request }).await
    }

    /// Removes another device of the caller's own account: refused from now on (its open
    /// connections end at their next request or idle check, within seconds).
    async fn revoke_device(
        &mut self,
        me: SignedIn,
        request: RequestId,
        device: DeviceId,
    ) -> Result<(), Close> {
        self.still_enabled().await?;
        let action = AuditAction::RevokeDevice;
        let target = StoreDevice::from_bytes(device.0);
        if target == me.device {
            return self
                .refuse(
                    request,
                    None,
                    action,
                    ErrorCode::Forbidden,
                    "a device cannot remove itself; remove it from another of your devices",
                )
                .await;
        }
        let entry = self.relay.store.try_call(move |s| s.device(target)).await?;
        if entry.is_none_or(|e| e.record.account != me.account) {
            return self
                .refuse(
                    request,
                    None,
                    action,
                    ErrorCode::Forbidden,
                    "that device is not one of your account's devices",
                )
                .await;
        }
        self.relay
            .store
            .try_call(move |s| s.disable_device(target, now_ms()))
            .await?;
        info!(device = %target, "a device was removed by another device of its account");
        self.audit(None, action.token()).await;
        self.send(&ServerMessage::Done { request }).await
    }

    /// The account that created `doc`, if it exists.
    async fn owner_of(&self, id: StoreDoc) -> Result<Option<StoreAccount>, Close> {
        Ok(self
            .relay
            .store
            .try_call(move |s| s.document(id))
            .await?
            .map(|stats| stats.owner))
    }

    /// `DeleteDocument`: the owner deletes a document from the relay for good (everything but
    /// the audit trail, which holds ids only). Any other member — the therapist included — is
    /// refused: the homework is the client's, and the therapist's copy on their own devices is
    /// not the relay's to take. Live subscriptions to the document end with the deletion.
    async fn delete_document(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: DocId,
    ) -> Result<(), Close> {
        let action = AuditAction::DeleteDocument;
        if !self.member(request, doc, action).await? {
            return Ok(());
        }
        let id = store_doc(doc);
        // Under the ordering lock, so that no push commits and no catch-up joins the live set
        // between the deletion and the hub ending the document's subscriptions.
        let order = self.relay.hub.lock(doc).await;
        let owner = self.owner_of(id).await?;
        let refusal = match owner {
            Some(owner) if owner == me.account => None,
            Some(_) => Some((
                ErrorCode::Forbidden,
                "only the client whose homework this is can delete it from the relay",
            )),
            // Another device of the owner deleted it since the membership check.
            None => Some((ErrorCode::DocumentDeleted, DOCUMENT_DELETED)),
        };
        if let Some((code, message)) = refusal {
            drop(order);
            return self.refuse(request, Some(doc), action, code, message).await;
        }
        self.relay
            .store
            .try_call(move |s| s.delete_document(id, now_ms()))
            .await?;
        let ended = self.relay.hub.end_document(doc);
        drop(order);
        self.subscriptions.remove(&doc);
        info!(doc = %id, ended_subscriptions = ended, "deleted a document at its owner's request");
        self.audit(Some(doc), action.token()).await;
        self.send(&ServerMessage::Done { request }).await
    }

    /// `Push`: appends a bundle and acknowledges it once committed, then forwards it to the
    /// document's other live devices. The device and membership checks, the append and its
    /// audit record are one write of a group commit on the storage thread (see
    /// [`StoreHandle::push`](crate::store::handle::StoreHandle::push)): checked in the very
    /// transaction that appends, so a removal or a disabled account committed before it always
    /// wins, and many devices' pushes share one `fsync`.
    async fn push(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: DocId,
        bundle: Vec<u8>,
    ) -> Result<(), Close> {
        // Defence in depth: the bundle must say it is for this document and by this device.
        // (A refusal checks membership first, so a non-member learns nothing about headers.)
        let header_ok = match BundleHeader::from_bytes(&bundle) {
            Ok(header) => header.doc_id() == doc.0 && header.author().0 == *me.device.as_bytes(),
            Err(err) => {
                if !self.member(request, doc, AuditAction::Append).await? {
                    return Ok(());
                }
                self.audit(Some(doc), AuditAction::Append.refused_token())
                    .await;
                return Err(Close::with(
                    Some(request),
                    ErrorCode::Malformed,
                    format!("the bundle header is not valid: {err}"),
                ));
            }
        };
        if !header_ok {
            if !self.member(request, doc, AuditAction::Append).await? {
                return Ok(());
            }
            self.audit(Some(doc), AuditAction::Append.refused_token())
                .await;
            return self
                .send(&ServerMessage::error(
                    Some(request),
                    ErrorCode::BadRequest,
                    "the bundle names another document or another author device",
                ))
                .await;
        }
        // Under the document's ordering lock from the commit to the forward, so live devices
        // and catch-ups see the log in sequence order.
        let order = self.relay.hub.lock(doc).await;
        let started = std::time::Instant::now();
        let push = store::Push {
            doc: store_doc(doc),
            device: me.device,
            bundle,
            at_ms: now_ms(),
            action: AuditAction::Append.token(),
        };
        // The bundle travels to the storage thread and back only by the forward below: keep a
        // copy for it (the store needs its own, owned by the queued request).
        let forwarded = push.bundle.clone();
        let outcome = self.relay.store.push(push).await?;
        let seq = match outcome {
            store::PushOutcome::Appended { seq, .. } => Seq(seq.0),
            store::PushOutcome::Refused(refusal) => {
                drop(order);
                return self.refuse_push(request, doc, refusal).await;
            }
        };
        self.relay.metrics.commit(started.elapsed());
        // Acknowledge only now that the commit is durable, then forward to the others.
        self.send(&ServerMessage::Ack { request, doc, seq }).await?;
        self.relay.hub.forward(
            doc,
            self.id,
            &ServerMessage::Bundle {
                doc,
                seq,
                bundle: forwarded,
            },
        );
        drop(order);
        self.relay.metrics.push();
        Ok(())
    }

    /// Answers a push the store refused, as [`member`](Session::member) answers a refused
    /// request: a disabled or removed device ends the session; otherwise the refusal is
    /// recorded and answered (not fatal).
    async fn refuse_push(
        &mut self,
        request: RequestId,
        doc: DocId,
        refusal: store::PushRefusal,
    ) -> Result<(), Close> {
        let (code, message) = match refusal {
            store::PushRefusal::UnknownDevice => {
                return Err(Close::with(None, ErrorCode::DeviceRevoked, DEVICE_REMOVED))
            }
            store::PushRefusal::Disabled { account_disabled } => {
                let message = if account_disabled {
                    ACCOUNT_DISABLED
                } else {
                    DEVICE_REMOVED
                };
                return Err(Close::with(None, ErrorCode::DeviceRevoked, message));
            }
            store::PushRefusal::NotMember => (
                ErrorCode::NotMember,
                "this device is not a member of that document",
            ),
            store::PushRefusal::NoDocument { deleted: true } => {
                (ErrorCode::DocumentDeleted, DOCUMENT_DELETED)
            }
            store::PushRefusal::NoDocument { deleted: false } => {
                (ErrorCode::UnknownDocument, "no such document on this relay")
            }
        };
        self.refuse(request, Some(doc), AuditAction::Append, code, message)
            .await
    }

    /// `GetAudit`: a document's events (members only; a refusal is recorded), or the events of
    /// the caller's own account. Reading is recorded once per listing (on its first page).
    async fn get_audit(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: Option<DocId>,
        after: u64,
        limit: u32,
    ) -> Result<(), Close> {
        let limit = usize::try_from(limit)
            .unwrap_or(MAX_AUDIT_EVENTS)
            .min(MAX_AUDIT_EVENTS);
        let entries = match doc {
            Some(doc) => {
                if !self.member(request, doc, AuditAction::ReadAudit).await? {
                    return Ok(());
                }
                let id = store_doc(doc);
                self.relay
                    .store
                    .try_call(move |s| s.audit_for_doc(id, after, limit))
                    .await?
            }
            None => {
                self.still_enabled().await?;
                let account = me.account;
                self.relay
                    .store
                    .try_call(move |s| s.audit_for_account(account, after, limit))
                    .await?
            }
        };
        if after == 0 {
            self.audit(doc, AuditAction::ReadAudit.token()).await;
        }
        let events = entries.into_iter().map(audit_event).collect();
        self.send(&ServerMessage::Audit {
            request,
            doc,
            events,
        })
        .await
    }

    async fn subscribe(
        &mut self,
        me: SignedIn,
        request: RequestId,
        doc: DocId,
        since: Seq,
    ) -> Result<(), Close> {
        if !self.member(request, doc, AuditAction::Read).await? {
            return Ok(());
        }
        let id = store_doc(doc);
        // Catch-up and joining the live set happen under the document's lock, so no entry is
        // missed or delivered out of order. Catch-up is written straight to the socket.
        let order = self.relay.hub.lock(doc).await;
        if !self.still_member(request, doc, AuditAction::Read).await? {
            return Ok(());
        }
        self.audit(Some(doc), AuditAction::Read.token()).await;
        let mut from = store::Seq(since.0);
        let mut first = true;
        let head = loop {
            let page = self
                .relay
                .store
                .try_call(move |s| s.read_log(id, from, CATCH_UP_PAGE, CATCH_UP_PAGE_BYTES))
                .await?;
            if first {
                if let Some(snapshot) = page.snapshot {
                    from = snapshot.covers;
                    self.send(&ServerMessage::Snapshot {
                        doc,
                        covers: Seq(snapshot.covers.0),
                        snapshot: snapshot.bytes,
                    })
                    .await?;
                }
                first = false;
            }
            let done = page.bundles.is_empty();
            for bundle in page.bundles {
                from = bundle.seq;
                self.send(&ServerMessage::Bundle {
                    doc,
                    seq: Seq(bundle.seq.0),
                    bundle: bundle.bytes,
                })
                .await?;
            }
            if done || from >= page.head {
                break page.head;
            }
        };
        self.relay
            .hub
            .join(doc, self.id, me.account, self.outgoing.clone());
        self.subscriptions.insert(doc);
        drop(order);
        self.send(&ServerMessage::CaughtUp {
            request,
            doc,
            head: Seq(head.0),
        })
        .await
    }
}

/// The checks of a `put_membership` that need the store, in one storage call: the document
/// exists and the caller's account owns it, the list is signed by that account's identity and
/// names this document, and every member is a registered, enabled account in the role the list
/// gives it. Returns the serial and the member accounts, or the refusal to send.
fn check_membership(
    s: &mut dyn store::RelayStore,
    id: StoreDoc,
    doc: DocId,
    account: StoreAccount,
    list: &SignedMembership,
) -> Result<Result<(u64, Vec<StoreAccount>), Refusal>, StoreError> {
    let Some(stats) = s.document(id)? else {
        return Ok(Err((
            ErrorCode::UnknownDocument,
            "no such document on this relay".to_owned(),
        )));
    };
    if stats.owner != account {
        return Ok(Err((
            ErrorCode::Forbidden,
            "only the document's owner can change who is a member".to_owned(),
        )));
    }
    let identity = s.account(account)?.map(|r| r.identity_pub);
    if identity != Some(list.owner().0) {
        return Ok(Err((
            ErrorCode::Forbidden,
            "the membership list is not signed by this account's identity key".to_owned(),
        )));
    }
    if list.doc_id() != doc.0 {
        return Ok(Err((
            ErrorCode::BadRequest,
            "the membership list is for another document".to_owned(),
        )));
    }
    let mut members = Vec::with_capacity(list.members().len());
    for member in list.members() {
        let role = account_role(member.role);
        match s.account_by_identity(&member.identity.0)? {
            Some(record) if record.disabled_at_ms.is_none() && record.role == role => {
                members.push(record.account);
            }
            _ => {
                return Ok(Err((
                    ErrorCode::BadRequest,
                    format!(
                        "member {} is not a registered, enabled {role} account on this relay",
                        member.identity.short_fingerprint()
                    ),
                )));
            }
        }
    }
    Ok(Ok((list.serial(), members)))
}
