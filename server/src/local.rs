//! The relay in process, for deterministic tests of devices against the real relay rules: the
//! relay [`core`](crate::relay::core) over a real SQLite store, with connections whose frames
//! the caller delivers one at a time. No sockets, no clock (the caller sets the time), no
//! threads: a simulation decides who sends and who receives when, and every run of one schedule
//! is the same.
//!
//! It carries out the core's effects the way the session does: audit records are written before
//! any reply, hub changes and forwards happen in commit order, a catch-up is streamed whole, and
//! per subscription the delivered position decides whether a live bundle is sent, dropped as
//! already delivered, or preceded by the entries it skipped ([`live_step`]). The one difference
//! is timing: everything a message causes lands in the inboxes at once.

use crate::relay::core::log::{catch_up_page, live_step, LiveStep};
use crate::relay::core::{self, CatchUp, Connection, Ctx, Effects, HubChange, Policy};
use crate::store::sqlite::{backup_database, SqliteStore};
use crate::store::{AccountRole, DeviceRecord, RelayStore, StoreError};
use crate::store::{AccountStore, DocumentStore, LogStore};
use between_shared::protocol::{
    AccountId, Challenge, ClientMessage, DeviceId, DocId, RequestId, Seq, ServerMessage,
};
use between_shared::Role;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::time::Duration;

/// Why the in-process relay could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LocalError(#[from] StoreError);

/// A connection to a [`LocalRelay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalConnection(usize);

/// A subscribed document: the subscription's request and how far the log was delivered.
#[derive(Debug, Clone, Copy)]
struct Live {
    request: RequestId,
    delivered: Seq,
}

/// A frame waiting in an inbox; `forwarded` marks a live bundle sent on from another
/// device's push (the only frames [`LocalRelay::lose_next_bundle`] may lose).
struct Frame {
    message: ServerMessage,
    forwarded: bool,
}

struct Endpoint {
    conn: Connection,
    inbox: VecDeque<Frame>,
    live: BTreeMap<DocId, Live>,
    open: bool,
}

/// The relay in process (see the module docs).
pub struct LocalRelay {
    store: SqliteStore,
    policy: Policy,
    now_ms: i64,
    next_id: u64,
    endpoints: Vec<Endpoint>,
    subscribers: BTreeMap<DocId, BTreeSet<LocalConnection>>,
}

impl LocalRelay {
    /// A relay over the SQLite store at `path` (created if missing).
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        Ok(Self {
            store: SqliteStore::open(path)?,
            policy: Policy {
                origin: "ws://local.test".to_owned(),
                max_skew: Duration::from_secs(300),
            },
            now_ms: 1_700_000_000_000,
            next_id: 1,
            endpoints: Vec::new(),
            subscribers: BTreeMap::new(),
        })
    }

    /// Sets the relay's clock (Unix milliseconds).
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// Copies the store, consistently, to a new file at `dest` (a backup to restore later with
    /// [`open`](Self::open), as a practice restoring an old backup would).
    pub fn backup(&self, dest: &Path) -> Result<(), LocalError> {
        Ok(backup_database(self.store.path(), dest)?)
    }

    /// Creates an account for `identity` in `role`, as registering with an invite would.
    pub fn add_account(&mut self, identity: [u8; 32], role: Role) -> Result<AccountId, LocalError> {
        let mut id = [0_u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_be_bytes());
        self.next_id += 1;
        let role = match role {
            Role::Client => AccountRole::Client,
            Role::Therapist => AccountRole::Therapist,
        };
        let account = AccountId(id);
        self.store
            .create_account(account, identity, role, self.now_ms)?;
        Ok(account)
    }

    /// Registers `device` (its signing key and certificate) for `account`.
    pub fn add_device(
        &mut self,
        account: AccountId,
        device: DeviceId,
        signing_pub: [u8; 32],
        certificate: Vec<u8>,
    ) -> Result<(), LocalError> {
        self.store.register_device(&DeviceRecord {
            device,
            account,
            signing_pub,
            certificate,
            registered_at_ms: self.now_ms,
        })?;
        Ok(())
    }

    /// Opens a connection already signed in as `device` of `account` (the handshake itself is
    /// tested over real sockets).
    pub fn connect_as(&mut self, account: AccountId, device: DeviceId) -> LocalConnection {
        let conn = Connection::signed_in_as(account, device);
        self.endpoints.push(Endpoint {
            conn,
            inbox: VecDeque::new(),
            live: BTreeMap::new(),
            open: true,
        });
        LocalConnection(self.endpoints.len() - 1)
    }

    /// Opens a connection nobody signed in on; its challenge is all zeroes.
    pub fn connect(&mut self) -> LocalConnection {
        self.endpoints.push(Endpoint {
            conn: Connection::new(Challenge([0; 32])),
            inbox: VecDeque::new(),
            live: BTreeMap::new(),
            open: true,
        });
        LocalConnection(self.endpoints.len() - 1)
    }

    /// Closes a connection: it leaves every live set and receives nothing more.
    pub fn disconnect(&mut self, connection: LocalConnection) {
        if let Some(endpoint) = self.endpoints.get_mut(connection.0) {
            endpoint.open = false;
            endpoint.inbox.clear();
            endpoint.live.clear();
        }
        for subscribers in self.subscribers.values_mut() {
            subscribers.remove(&connection);
        }
    }

    /// Whether the connection is still open (the relay closes it after a fatal error).
    pub fn is_open(&self, connection: LocalConnection) -> bool {
        self.endpoints.get(connection.0).is_some_and(|e| e.open)
    }

    /// The next frame waiting for `connection`, if any.
    pub fn receive(&mut self, connection: LocalConnection) -> Option<ServerMessage> {
        self.endpoints
            .get_mut(connection.0)?
            .inbox
            .pop_front()
            .map(|frame| frame.message)
    }

    /// The relay handles one frame from `connection`; everything it causes (replies, live
    /// bundles to other connections, a catch-up) is in the inboxes when this returns. A frame
    /// on a closed connection is dropped, as the network would.
    pub fn send(
        &mut self,
        connection: LocalConnection,
        message: ClientMessage,
    ) -> Result<(), LocalError> {
        if !self.is_open(connection) {
            return Ok(());
        }
        let effects = self.core(connection, |ctx| core::handle(ctx, message))?;
        self.carry_out(connection, effects)
    }

    /// Runs a core handler with `connection`'s state.
    fn core(
        &mut self,
        connection: LocalConnection,
        f: impl FnOnce(&mut Ctx<'_>) -> Result<Effects, StoreError>,
    ) -> Result<Effects, LocalError> {
        let endpoint = &mut self.endpoints[connection.0];
        let mut id = [0_u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_be_bytes());
        self.next_id += 1;
        Ok(f(&mut Ctx {
            now_ms: self.now_ms,
            new_id: id,
            policy: &self.policy,
            conn: &mut endpoint.conn,
            store: &mut self.store,
        })?)
    }

    /// Carries out `effects` for `connection` in the session's order.
    fn carry_out(
        &mut self,
        connection: LocalConnection,
        mut effects: Effects,
    ) -> Result<(), LocalError> {
        loop {
            for record in std::mem::take(&mut effects.audit) {
                self.store.append_audit(&record)?;
            }
            self.change_hub(connection, &effects.hub);
            if let Some(forward) = effects.forward.take() {
                self.forward(connection, &forward)?;
            }
            for reply in std::mem::take(&mut effects.replies) {
                self.deliver(connection, reply);
            }
            if let Some(close) = effects.close.take() {
                self.deliver(connection, close);
                self.disconnect_keeping_inbox(connection);
                return Ok(());
            }
            let Some(catch_up) = effects.catch_up.take() else {
                return Ok(());
            };
            if catch_up.announce {
                let live = Live {
                    request: catch_up.request,
                    delivered: catch_up.since,
                };
                self.endpoints[connection.0].live.insert(catch_up.doc, live);
            }
            effects = self.core(connection, |ctx| catch_up_page(ctx, catch_up))?;
        }
    }

    /// Closes `connection` after a fatal error, leaving what it was sent to be read.
    fn disconnect_keeping_inbox(&mut self, connection: LocalConnection) {
        let inbox = std::mem::take(&mut self.endpoints[connection.0].inbox);
        self.disconnect(connection);
        self.endpoints[connection.0].inbox = inbox;
    }

    fn change_hub(&mut self, connection: LocalConnection, changes: &[HubChange]) {
        for change in changes {
            match change {
                HubChange::Join(doc) => {
                    self.subscribers.entry(*doc).or_default().insert(connection);
                }
                HubChange::Leave(doc) => {
                    if let Some(set) = self.subscribers.get_mut(doc) {
                        set.remove(&connection);
                    }
                    self.endpoints[connection.0].live.remove(doc);
                }
                HubChange::EndDocument(doc) => {
                    for ended in self.subscribers.remove(doc).unwrap_or_default() {
                        self.endpoints[ended.0].live.remove(doc);
                    }
                }
                HubChange::DropAccounts(doc, accounts) => {
                    let Some(set) = self.subscribers.get_mut(doc) else {
                        continue;
                    };
                    let endpoints = &mut self.endpoints;
                    set.retain(|c| {
                        let gone = endpoints[c.0]
                            .conn
                            .signed_in()
                            .is_some_and(|s| accounts.contains(&s.account));
                        if gone {
                            endpoints[c.0].live.remove(doc);
                        }
                        !gone
                    });
                }
            }
        }
    }

    /// Sends a committed bundle to every other live subscriber of its document.
    fn forward(
        &mut self,
        from: LocalConnection,
        forward: &ServerMessage,
    ) -> Result<(), LocalError> {
        let ServerMessage::Bundle { doc, seq, .. } = forward else {
            return Ok(());
        };
        let subscribers: Vec<LocalConnection> = self
            .subscribers
            .get(doc)
            .map(|set| set.iter().copied().filter(|c| *c != from).collect())
            .unwrap_or_default();
        // The pusher's own entry is the next of its subscription: it is not sent back.
        if let Some(live) = self.endpoints[from.0].live.get_mut(doc) {
            if live_step(live.delivered, *seq) == LiveStep::Send {
                live.delivered = *seq;
            }
        }
        for to in subscribers {
            let Some(live) = self.endpoints[to.0].live.get(doc).copied() else {
                continue;
            };
            match live_step(live.delivered, *seq) {
                LiveStep::Skip => {}
                LiveStep::Send => self.deliver_frame(to, forward.clone(), true),
                LiveStep::Fill(since) => {
                    let fill = CatchUp {
                        request: live.request,
                        doc: *doc,
                        since,
                        announce: false,
                    };
                    let effects = self.core(to, |ctx| catch_up_page(ctx, fill))?;
                    self.carry_out(to, effects)?;
                }
            }
        }
        Ok(())
    }

    /// Puts `message` in `connection`'s inbox, noting how far a log was delivered.
    fn deliver(&mut self, connection: LocalConnection, message: ServerMessage) {
        self.deliver_frame(connection, message, false);
    }

    fn deliver_frame(
        &mut self,
        connection: LocalConnection,
        message: ServerMessage,
        forwarded: bool,
    ) {
        let endpoint = &mut self.endpoints[connection.0];
        let delivered = match &message {
            ServerMessage::Bundle { doc, seq, .. } => Some((*doc, *seq)),
            ServerMessage::Snapshot { doc, covers, .. } => Some((*doc, *covers)),
            _ => None,
        };
        if let Some((doc, seq)) = delivered {
            if let Some(live) = endpoint.live.get_mut(&doc) {
                live.delivered = live.delivered.max(seq);
            }
        }
        endpoint.inbox.push_back(Frame { message, forwarded });
    }

    /// Whether frames wait for `connection`.
    pub fn has_frames(&self, connection: LocalConnection) -> bool {
        self.endpoints
            .get(connection.0)
            .is_some_and(|e| !e.inbox.is_empty())
    }

    /// Fault injection: the first live bundle forwarded to `connection` and still waiting is
    /// lost, as a relay whose forward fails would lose it (the relay here never does so on its
    /// own). Catch-up frames are never lost: they come from one ordered read of the log.
    /// Returns whether there was one.
    pub fn lose_next_bundle(&mut self, connection: LocalConnection) -> bool {
        let Some(endpoint) = self.endpoints.get_mut(connection.0) else {
            return false;
        };
        let Some(at) = endpoint.inbox.iter().position(|frame| frame.forwarded) else {
            return false;
        };
        endpoint.inbox.remove(at);
        true
    }

    /// Fault injection: `snapshot` becomes the document's snapshot, covering its whole log, and
    /// every bundle is dropped. It is written straight to the store, past the core's checks
    /// (owner's device, sealed header), as a relay from before those checks or a compromised
    /// one would have stored a member's planted bytes (issue 10, defect 2); the relay here
    /// never accepts one on its own. Returns the position it covers; a document with an empty
    /// log (or none) is an error, as there is nothing to cover.
    pub fn plant_snapshot(&mut self, doc: DocId, snapshot: &[u8]) -> Result<u64, LocalError> {
        let head = self
            .store
            .document(doc)?
            .map_or(Seq::ZERO, |stats| stats.head);
        self.store.put_snapshot(doc, head, snapshot)?;
        Ok(head.0)
    }

    /// The document's log as the relay stores it: the snapshot's position (if compacted) and
    /// the sequence numbers of the bundles after it.
    pub fn log_positions(&self, doc: DocId) -> Result<(Option<u64>, Vec<u64>), LocalError> {
        let page = self
            .store
            .read_log(doc, Seq::ZERO, usize::MAX, usize::MAX)?;
        Ok((
            page.snapshot.map(|s| s.covers.0),
            page.bundles.iter().map(|b| b.seq.0).collect(),
        ))
    }
}
