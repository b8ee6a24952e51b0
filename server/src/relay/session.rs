//! One device's connection: the frame loop around the relay [`core`](super::core).
//!
//! The session reads frames with the protocol's bounded decoder, runs the core on the storage
//! thread (one call per request, so its checks and writes see one state of the store), and
//! carries out the effects the core returns, in their order: it writes the audit records (and
//! refuses to answer if that fails: nothing is served unrecorded), changes the live-subscription
//! hub and forwards committed bundles while holding the document's ordering lock, then sends
//! the replies and streams catch-ups with no lock held, so a slow reader never delays another
//! device's push. A malformed, oversized or unexpected frame gets an `Error` frame and, when the
//! code is fatal, the connection (never the process) ends.
//!
//! Live bundles reach a connection through its bounded queue in the hub. The session remembers,
//! per subscribed document, how far it has delivered the log: a live bundle already sent by a
//! catch-up is dropped, and one that skips ahead makes the session read the missing entries from
//! the log first ([`log::live_step`]), so a device never sees a gap.

use super::core::{self, log, CatchUp, Connection, Ctx, Effects, HubChange, Policy};
use super::hub::{ConnectionId, Outgoing, OUTGOING_QUEUE};
use super::Relay;
use crate::store::{PushOutcome, StoreError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::limits::MAX_FRAME_BYTES;
use between_shared::protocol::{
    decode_client, encode_server, Challenge, ClientMessage, DocId, ErrorCode, RequestId, Seq,
    ServerMessage, PROTOCOL_VERSION,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

/// How often an idle session re-reads whether its device and account are still enabled: the
/// admin disables accounts from another process, and their devices must go within seconds.
/// One indexed lookup per connection per period is cheap for a practice's relay.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

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

    /// The end of a connection whose storage call failed (what failed is logged, not sent).
    fn storage(err: &StoreError) -> Self {
        warn!(error = %err, "storage failed");
        Close(core::storage_failed().close)
    }
}

/// A document this connection is subscribed to: the subscription's request and how far the
/// log has been delivered.
#[derive(Debug, Clone, Copy)]
struct Live {
    request: RequestId,
    delivered: Seq,
}

struct Session {
    relay: Arc<Relay>,
    id: ConnectionId,
    sink: Sink,
    outgoing: Outgoing,
    policy: Arc<Policy>,
    /// The protocol state; taken into each storage call and given back.
    conn: Option<Connection>,
    subscriptions: HashMap<DocId, Live>,
    /// Token bucket for requests: refills at the configured rate, holds a burst.
    tokens: f64,
    refilled: Instant,
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
    let challenge = Challenge(rand::random());
    let mut session = Session {
        tokens: relay.config.burst,
        refilled: Instant::now(),
        policy: Arc::new(relay.config.policy()),
        relay: relay.clone(),
        id,
        sink,
        outgoing: Outgoing {
            queue: queue_tx,
            kick: kick_tx,
        },
        conn: Some(Connection::new(challenge)),
        subscriptions: HashMap::new(),
    };
    relay.metrics.connection_opened();
    let result = session.run(challenge, stream, queue_rx, kick_rx).await;
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

/// Whether a read error is the WebSocket layer refusing a frame over the size limit.
fn too_large(err: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(tungstenite::Error::Capacity(_)) = cause.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
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
            let message = message.map_err(|err| {
                if too_large(&err) {
                    self.relay.metrics.error();
                    Close::with(
                        None,
                        ErrorCode::TooLarge,
                        format!("a frame may hold at most {MAX_FRAME_BYTES} bytes"),
                    )
                } else {
                    Close(None)
                }
            })?;
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
        challenge: Challenge,
        mut stream: Stream,
        mut queue: mpsc::Receiver<ServerMessage>,
        mut kick: mpsc::Receiver<()>,
    ) -> Result<(), Close> {
        let config = self.relay.config.clone();
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
        while !self.signed_in() {
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
            self.request(frame).await?;
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
                Some(message) = queue.recv() => self.live(message).await?,
                Some(()) = kick.recv() => {
                    return Err(Close::with(None, ErrorCode::RateLimited,
                        "you fell too far behind the live stream; reconnect to catch up"));
                }
                _ = ping.tick() => {
                    self.sink.send(Message::Ping(Vec::new().into())).await.map_err(|_| Close(None))?;
                }
                _ = recheck.tick() => {
                    if let Some(effects) = self.core(|ctx| Ok(core::recheck(ctx))).await? {
                        self.carry_out(effects).await?;
                    }
                }
                () = shutdown.cancelled() => {
                    return Err(Close::with(None, ErrorCode::ShuttingDown,
                        "the relay is restarting; reconnect in a moment"));
                }
            }
        }
    }

    fn signed_in(&self) -> bool {
        self.conn.as_ref().and_then(Connection::signed_in).is_some()
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

    /// Runs `f` (a core handler) on the storage thread with this connection's state, the time
    /// and a fresh id. A storage failure ends the connection.
    async fn core<R, F>(&mut self, f: F) -> Result<R, Close>
    where
        R: Send + 'static,
        F: FnOnce(&mut Ctx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let Some(mut conn) = self.conn.take() else {
            return Err(Close(None));
        };
        let policy = self.policy.clone();
        let new_id: [u8; 16] = rand::random();
        let called = self
            .relay
            .store
            .call(move |store| {
                let result = f(&mut Ctx {
                    now_ms: now_ms(),
                    new_id,
                    policy: &policy,
                    conn: &mut conn,
                    store,
                });
                (conn, result)
            })
            .await;
        match called {
            Ok((conn, result)) => {
                self.conn = Some(conn);
                result.map_err(|err| Close::storage(&err))
            }
            Err(err) => Err(Close::storage(&err)),
        }
    }

    /// Handles one request: pushes through the group commit, everything else through the core
    /// in one storage call, with the document's ordering lock held for the requests that change
    /// who receives its live entries.
    async fn request(&mut self, frame: ClientMessage) -> Result<(), Close> {
        let me = self.conn.as_ref().and_then(Connection::signed_in);
        let frame = match (me, frame) {
            (
                Some(me),
                ClientMessage::Push {
                    request,
                    doc,
                    bundle,
                },
            ) => return self.push(me, request, doc, bundle).await,
            (_, frame) => frame,
        };
        let order = match ordered_by(&frame) {
            Some(doc) => Some(self.relay.hub.lock(doc).await),
            None => None,
        };
        let mut effects = self.core(move |ctx| core::handle(ctx, frame)).await?;
        self.change_hub(&std::mem::take(&mut effects.hub));
        drop(order);
        self.carry_out(effects).await
    }

    /// `Push`: the header is checked without the store, the bundle is appended (and checked
    /// against the device and membership) in a group commit with other devices' pushes, and
    /// the committed bundle is forwarded before the pusher is acknowledged — under the
    /// document's ordering lock, so live devices see the log in order, but with no socket write
    /// under it.
    async fn push(
        &mut self,
        me: core::SignedIn,
        request: RequestId,
        doc: DocId,
        bundle: Vec<u8>,
    ) -> Result<(), Close> {
        let push = match log::plan_push(now_ms(), &me, doc, bundle) {
            log::PushPlan::Commit(push) => push,
            log::PushPlan::Refuse(bad) => {
                let effects = self
                    .core(move |ctx| {
                        log::refuse_bundle(ctx, request, doc, bad, AuditAction::Append)
                    })
                    .await?;
                return self.carry_out(effects).await;
            }
        };
        let order = self.relay.hub.lock(doc).await;
        let started = std::time::Instant::now();
        // The store needs its own copy (owned by the queued request); the forward uses this one.
        let bundle = push.bundle.clone();
        let outcome = self
            .relay
            .store
            .push(push)
            .await
            .map_err(|err| Close::storage(&err))?;
        let Some(conn) = self.conn.as_ref() else {
            return Err(Close(None));
        };
        let effects = log::pushed(conn, now_ms(), request, doc, outcome, bundle);
        if let Some(forward) = &effects.forward {
            self.relay.hub.forward(doc, self.id, forward);
        }
        drop(order);
        if let PushOutcome::Appended { seq, .. } = outcome {
            self.relay.metrics.commit(started.elapsed());
            self.relay.metrics.push();
            // The pusher's own entry is the next one of its subscription: not sent back to it.
            if let Some(live) = self.subscriptions.get_mut(&doc) {
                if log::live_step(live.delivered, seq) == log::LiveStep::Send {
                    live.delivered = seq;
                }
            }
        }
        self.carry_out(effects).await
    }

    /// Carries out hub changes (call with the document's ordering lock held).
    fn change_hub(&mut self, changes: &[HubChange]) {
        let Some(me) = self.conn.as_ref().and_then(Connection::signed_in) else {
            return;
        };
        for change in changes {
            match change {
                HubChange::Join(doc) => {
                    self.relay
                        .hub
                        .join(*doc, self.id, me.account, self.outgoing.clone());
                }
                HubChange::Leave(doc) => {
                    self.relay.hub.leave(*doc, self.id);
                    self.subscriptions.remove(doc);
                }
                HubChange::DropAccounts(doc, accounts) => {
                    let ended = self.relay.hub.drop_accounts(*doc, accounts);
                    debug!(ended_subscriptions = ended, "membership changed");
                    if accounts.contains(&me.account) {
                        self.subscriptions.remove(doc);
                    }
                }
                HubChange::EndDocument(doc) => {
                    let ended = self.relay.hub.end_document(*doc);
                    debug!(ended_subscriptions = ended, "document deleted");
                    self.subscriptions.remove(doc);
                }
            }
        }
    }

    /// Carries out what the core decided, after the hub changes: the audit records first (if
    /// they cannot be written, nothing is sent and the connection ends), then the replies, the
    /// catch-up, and the close.
    async fn carry_out(&mut self, mut effects: Effects) -> Result<(), Close> {
        loop {
            for record in std::mem::take(&mut effects.audit) {
                if let Err(err) = self.relay.store.audit(record).await {
                    // Fail closed: an access that cannot be recorded is not served.
                    return Err(Close::storage(&err));
                }
            }
            for _ in 0..effects.refusals {
                self.relay.metrics.error();
            }
            // Hub changes of a catch-up page (a device removed while catching up).
            self.change_hub(&std::mem::take(&mut effects.hub));
            for reply in std::mem::take(&mut effects.replies) {
                self.delivered(&reply);
                self.send(&reply).await?;
            }
            if let Some(close) = effects.close.take() {
                return Err(Close(Some(close)));
            }
            let Some(catch_up) = effects.catch_up.take() else {
                return Ok(());
            };
            if catch_up.announce {
                // A new subscription (or a device subscribing again from an earlier position).
                let live = Live {
                    request: catch_up.request,
                    delivered: catch_up.since,
                };
                self.subscriptions.insert(catch_up.doc, live);
            }
            effects = self
                .core(move |ctx| log::catch_up_page(ctx, catch_up))
                .await?;
        }
    }

    /// Notes how far a document's log has been delivered when `reply` carries log entries.
    fn delivered(&mut self, reply: &ServerMessage) {
        let (doc, seq) = match reply {
            ServerMessage::Bundle { doc, seq, .. } => (doc, *seq),
            ServerMessage::Snapshot { doc, covers, .. } => (doc, *covers),
            _ => return,
        };
        if let Some(live) = self.subscriptions.get_mut(doc) {
            live.delivered = live.delivered.max(seq);
        }
    }

    /// A frame from the hub: a live bundle goes out if it is the next one this connection
    /// needs; one already delivered is dropped, and one that skips ahead is preceded by the
    /// missing entries, read from the log.
    async fn live(&mut self, message: ServerMessage) -> Result<(), Close> {
        let ServerMessage::Bundle { doc, seq, .. } = &message else {
            return self.send(&message).await;
        };
        let Some(live) = self.subscriptions.get(doc).copied() else {
            return Ok(());
        };
        match log::live_step(live.delivered, *seq) {
            log::LiveStep::Skip => Ok(()),
            log::LiveStep::Send => {
                self.delivered(&message);
                self.send(&message).await
            }
            log::LiveStep::Fill(from) => {
                let fill = CatchUp {
                    request: live.request,
                    doc: *doc,
                    since: from,
                    announce: false,
                };
                let effects = self.core(move |ctx| log::catch_up_page(ctx, fill)).await?;
                self.carry_out(effects).await
            }
        }
    }
}

/// The document whose ordering lock a request must hold: those that change who receives the
/// document's live entries (joining, membership changes, leaving, deletion).
fn ordered_by(message: &ClientMessage) -> Option<DocId> {
    match message {
        ClientMessage::Subscribe { doc, .. }
        | ClientMessage::PutMembership { doc, .. }
        | ClientMessage::LeaveDocument { doc, .. }
        | ClientMessage::DeleteDocument { doc, .. } => Some(*doc),
        _ => None,
    }
}
