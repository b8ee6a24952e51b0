//! The sync driver: runs one [`DocSync`] engine per document against the local store, and
//! turns the relay's messages into engine input and the engine's [`Event`]s into store writes
//! and relay messages.
//!
//! It is plain synchronous code and owns the [`Store`]: it lives on a thread of its own
//! ([`Core`](super::worker::Core)) so that SQLite never runs on the async runtime's threads; the WebSocket loop
//! (`run.rs`) hands it batches of messages and sends what it returns.
//!
//! How the engine's events are carried out:
//! - `Persist` marks the document dirty; dirty documents are written — the document's new
//!   changes **and** the engine's state, in one SQLite transaction ([`Store::persist_sync`]) —
//!   before anything the driver returns is sent, and at the end of every batch. So a crash at
//!   any point loses nothing (an unpersisted bundle is read again, an unacknowledged push is
//!   sent again) and duplicates nothing visible (Automerge ignores changes it already has).
//! - `Send` becomes a protocol message with a fresh request id; replies are matched back.
//! - `Reconnect` ends the batch; the loop drops the connection and connects again.
//! - `RelayRolledBack` and `Skipped` are warned about clearly; `Applied` is counted per author
//!   device and recorded as "this Automerge actor's changes came from that device".
//!
//! On every connection the driver first asks for the account's device list and checks each
//! certificate against the account's identity; only verified devices are members whose
//! bundles open. A bundle from a device it does not know yet is held back, the list is fetched
//! again, and the held messages are then handed to the engine in their original order.

use crate::live::{Notice, NoticeKind};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::Path;

use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use between_shared::crypto::{
    BundleHeader, DeviceCertificate, DeviceKeypair, EpochKey, SignedMembership,
};
use between_shared::protocol::{
    AccountId, ClientMessage, DeviceId, DeviceInfo, DocId, ErrorCode, RequestId, Seq, ServerMessage,
};
use between_shared::sync::{
    DocSync, Event, FromRelay, KeyedEnvelope, SyncError, SyncState, ToRelay,
};
use between_shared::{DocError, HomeworkDoc};
use rand::rngs::StdRng;

use super::account::{AccountError, AccountKeys, DeviceDirectory};
use super::progress::Progress;
use crate::clock::real_unix_ms;
use crate::profile::{actor_device_id, process_actor};
use crate::salvage::{explain, salvage};
use crate::store::{Compaction, DeviceRecord, DocumentKind, Store, StoreError, SyncWrite};

mod local;
mod open;
mod relay;
mod summary;

pub(crate) use summary::Summary;

/// Everything that can stop the driver.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriverError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored account cannot be used.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The engine refused (the relay broke the protocol, or sealing failed).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// No document with this id is synced on this device.
    #[error("this device does not sync a document with the id {id}")]
    UnknownDocument {
        /// The id asked for.
        id: DocId,
    },
    /// A stored document or state cannot be read.
    #[error("the homework document {label} could not be read for sync: {detail}")]
    Document {
        /// Its label.
        label: String,
        /// What is wrong.
        detail: String,
    },
    /// The relay refused something fatal.
    #[error("the relay refused: {message} ({code})")]
    Refused {
        /// The code.
        code: ErrorCode,
        /// The relay's words.
        message: String,
    },
    /// The relay sent a message that does not belong in the conversation.
    #[error("the relay broke the protocol: {0}")]
    Protocol(String),
    /// The store thread is gone.
    #[error("the sync worker stopped unexpectedly")]
    Stopped,
}

/// Notices an embedding app has not read yet that are kept before the oldest is dropped.
const NOTICES_KEPT: usize = 64;

/// While staying connected, the last sync time is written at most this often.
const RECORD_LAST_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// How the driver reports: one summary at the end, or a line per change while watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `between sync` (and the first sync of `init`): catch up, push, stop.
    Once,
    /// `between sync --watch`: stay connected.
    Watch,
    /// An app embeds the sync ([`crate::live`]): stay connected, print nothing; the app is
    /// told through [`Driver::observe`] and edits through [`Driver::edit`].
    Embedded,
}

impl Mode {
    /// Whether the sync stays connected (and reconnects) rather than stopping once caught up.
    pub(crate) fn stays_connected(self) -> bool {
        matches!(self, Mode::Watch | Mode::Embedded)
    }
}

/// What the loop must do after a driver call.
#[derive(Debug, Default)]
pub(crate) struct Step {
    /// Messages to send, in order (everything they depend on is already persisted).
    pub(crate) send: Vec<ClientMessage>,
    /// Drop the connection and connect again.
    pub(crate) reconnect: bool,
    /// Every document is caught up and nothing is waiting for the relay.
    pub(crate) settled: bool,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    ListDevices,
    CreateDocument(usize),
    Subscribe(usize),
    Push(usize, u64),
    Snapshot(usize, u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disconnected,
    ListingDevices,
    Running,
}

/// One document being synced.
struct Slot {
    id: DocId,
    label: String,
    kind: DocumentKind,
    /// The document; `None` while a sync that runs once has had no reason to load it (the
    /// relay holds everything stored, and has sent nothing new yet; see
    /// [`Driver::ensure_loaded`]).
    doc: Option<AutoCommit>,
    /// Heads of what the store holds of `doc` (known without loading it, while it is not).
    stored_heads: Vec<ChangeHash>,
    /// How many changes the store holds of `doc` (while it is loaded): what it holds beyond
    /// them is new, counted without reading every change's metadata.
    stored_changes: usize,
    /// Whether the store records `stored_heads` as the document's known heads
    /// ([`Store::known_heads`]), so the next sync need not load it to know them.
    heads_recorded: bool,
    sync: DocSync,
    envelope: KeyedEnvelope<StdRng>,
    on_relay: bool,
    dirty: bool,
    /// Actors seen in applied bundles, not yet written.
    authors: Vec<(Vec<u8>, DeviceId)>,
    /// Messages held back until the device list is fetched again.
    held: VecDeque<FromRelay>,
    /// Holds changes from other devices not yet stored (see [`Driver::observe`]).
    received: bool,
    /// Bundles received in this batch, applied together at its end (or before the next other
    /// message for this document), see `DocSync::receive_many`.
    queued: Vec<FromRelay>,
    /// Why the relay would not sync this document on this connection.
    failed: Option<String>,
}

impl Slot {
    /// The document's heads: in memory, or as stored while it is not loaded (then the same).
    fn heads(&mut self) -> Vec<ChangeHash> {
        match &mut self.doc {
            Some(doc) => doc.get_heads(),
            None => self.stored_heads.clone(),
        }
    }
}

/// The sync driver (see the module docs).
pub(crate) struct Driver {
    store: Store,
    keys: AccountKeys,
    me: DeviceId,
    mode: Mode,
    docs: Vec<Slot>,
    requests: HashMap<u64, Pending>,
    next_request: u64,
    phase: Phase,
    devices_pending: bool,
    data_version: i64,
    directory: DeviceDirectory,
    known_actors: HashSet<Vec<u8>>,
    summary: Summary,
    report: Summary,
    progress: Progress,
    was_settled: bool,
    /// Bumped whenever changes from other devices are stored (see [`Driver::observe`]).
    observer: Option<tokio::sync::watch::Sender<u64>>,
    /// Where an embedding app hears what a command would print ([`Driver::notices`]); what
    /// happened before it listened waits in `early`.
    notices: Option<tokio::sync::broadcast::Sender<Notice>>,
    early: Vec<Notice>,
    /// When the last sync time was last written (see [`RECORD_LAST_SYNC_EVERY`]).
    last_sync_recorded: Option<std::time::Instant>,
    /// Pushes of [`Driver::edit`]s, stored and waiting for the connection loop
    /// ([`Driver::take_pushes`]); only ever for the current connection.
    pushes: Vec<ClientMessage>,
    /// Whether a flush wrote since the last [`Driver::poll_local`]: compaction waits for a
    /// poll with nothing written in between (see [`Driver::compact_due`]).
    wrote_since_poll: bool,
}

impl Driver {
    /// The connection is up and signed in: list the devices first.
    pub(crate) fn connected(&mut self) -> Step {
        self.requests.clear();
        self.pushes.clear();
        self.next_request = 1;
        for slot in &mut self.docs {
            slot.sync.disconnected();
            slot.held.clear();
            slot.queued.clear();
            slot.failed = None;
        }
        self.phase = Phase::ListingDevices;
        self.devices_pending = false;
        self.was_settled = false;
        let mut step = Step::default();
        self.list_devices(&mut step);
        step
    }

    /// The connection dropped.
    pub(crate) fn disconnected(&mut self) -> Result<(), DriverError> {
        for slot in &mut self.docs {
            slot.sync.disconnected();
            slot.held.clear();
            // Never applied, so never counted: the next catch-up sends them again.
            slot.queued.clear();
        }
        self.requests.clear();
        // Sealed for the connection that dropped: the outbox sends them again.
        self.pushes.clear();
        self.phase = Phase::Disconnected;
        self.devices_pending = false;
        self.flush()
    }

    /// The relay welcomed this device into `account` (after registering or signing in).
    pub(crate) fn welcomed(&mut self, account: Option<AccountId>) -> Result<(), DriverError> {
        let stored = self.store.account()?;
        let unchanged = stored.as_ref().is_some_and(|a| {
            a.registration == crate::store::Registration::Done
                && (account.is_none() || a.account_id == account)
        });
        if !unchanged {
            self.store.set_registered(account)?;
        }
        Ok(())
    }

    /// Handles a batch of messages from the relay.
    pub(crate) fn receive(&mut self, batch: Vec<ServerMessage>) -> Result<Step, DriverError> {
        let mut step = Step::default();
        for msg in batch {
            self.handle(msg, &mut step)?;
            if step.reconnect {
                break;
            }
        }
        for i in 0..self.docs.len() {
            self.apply_queued(i, &mut step)?;
        }
        self.finish(step)
    }

    /// Counts, from now on, every store write that brings in other devices' changes: the
    /// returned receiver sees the count go up once they are stored.
    pub(crate) fn observe(&mut self) -> tokio::sync::watch::Receiver<u64> {
        let (sender, receiver) = tokio::sync::watch::channel(0);
        self.observer = Some(sender);
        receiver
    }

    /// What this driver would print, as [`Notice`]s: the sender (to subscribe more) and a
    /// first receiver, which also gets what happened while nobody listened. Only an embedded
    /// driver sends them; the others print.
    pub(crate) fn notices(
        &mut self,
    ) -> (
        tokio::sync::broadcast::Sender<Notice>,
        tokio::sync::broadcast::Receiver<Notice>,
    ) {
        let sender = self
            .notices
            .get_or_insert_with(|| tokio::sync::broadcast::channel(NOTICES_KEPT).0);
        let receiver = sender.subscribe();
        for notice in self.early.drain(..) {
            let _ = sender.send(notice);
        }
        (sender.clone(), receiver)
    }

    /// Says something the person should know: printed as a warning by a command, sent as a
    /// notice to an embedding app.
    pub(crate) fn tell(&mut self, kind: NoticeKind, text: String) {
        if self.mode != Mode::Embedded {
            warn(&text);
            return;
        }
        let notice = Notice { kind, text };
        match &self.notices {
            Some(sender) => {
                // Nobody listening right now is no failure: the app reads state on demand.
                let _ = sender.send(notice);
            }
            None => self.early.push(notice),
        }
    }

    /// The ids and labels of the documents this device syncs.
    pub(crate) fn documents(&self) -> Vec<(DocId, String, DocumentKind)> {
        self.docs
            .iter()
            .map(|slot| (slot.id, slot.label.clone(), slot.kind))
            .collect()
    }

    /// Applies a typed edit to document `id` in memory and stores it before returning. When
    /// connected, the push that carries it is sealed at once and stored in the same
    /// transaction (one fsync for both), then waits in [`Driver::take_pushes`] for the
    /// connection loop; otherwise the next connection's catch-up pushes it. A failed edit
    /// changes nothing.
    /// The edit's own refusal is the inner error; the outer one is the store's or the sync's.
    pub(crate) fn edit<T>(
        &mut self,
        id: DocId,
        edit: impl FnOnce(&mut HomeworkDoc) -> Result<T, DocError>,
    ) -> Result<Result<T, DocError>, DriverError> {
        let i = self.slot(id)?;
        // On top of what other processes (`between` commands beside the app) stored since.
        let taken_in = self.take_in_stored(Step::default())?;
        self.pushes.extend(taken_in.send);
        let value = match self.with_homework(i, edit)? {
            Ok(value) => value,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut step = Step::default();
        if self.phase == Phase::Running {
            let slot = &mut self.docs[i];
            let doc = held(&mut slot.doc, &slot.label)?;
            let events = slot.sync.local_change(doc, &mut slot.envelope)?;
            self.handle_events(i, events, None, &mut step)?;
        }
        // Stores the edit (and the sealed push's counters, if any) in one transaction.
        let step = self.finish(step)?;
        self.pushes.extend(step.send);
        Ok(Ok(value))
    }

    /// The pushes [`Driver::edit`] sealed and stored for this connection, to send now.
    pub(crate) fn take_pushes(&mut self) -> Step {
        Step {
            send: std::mem::take(&mut self.pushes),
            ..Step::default()
        }
    }

    /// Reads document `id` as stored on this device: first takes in what other processes
    /// (`between` commands) stored since the last look ([`Driver::take_in_stored`], whose pushes
    /// then wait in [`Driver::take_pushes`]), so a read never misses a saved change.
    pub(crate) fn read<T>(
        &mut self,
        id: DocId,
        read: impl FnOnce(&mut HomeworkDoc) -> T,
    ) -> Result<T, DriverError> {
        let i = self.slot(id)?;
        let step = self.take_in_stored(Step::default())?;
        self.pushes.extend(step.send);
        self.with_homework(i, |doc| Ok(read(doc)))?
            .map_err(|err| DriverError::Document {
                label: self.docs[i].label.clone(),
                detail: err.to_string(),
            })
    }

    /// The index of document `id`.
    fn slot(&self, id: DocId) -> Result<usize, DriverError> {
        self.docs
            .iter()
            .position(|slot| slot.id == id)
            .ok_or_else(|| DriverError::UnknownDocument { id })
    }

    /// Runs `f` on document `i` as a [`HomeworkDoc`]; a failure rolls back nothing that `f`
    /// committed, so typed edits validate before they write (as every edit does).
    fn with_homework<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut HomeworkDoc) -> Result<T, DocError>,
    ) -> Result<Result<T, DocError>, DriverError> {
        self.ensure_loaded(i)?;
        let slot = &mut self.docs[i];
        let loaded = std::mem::take(held(&mut slot.doc, &slot.label)?);
        let mut doc = HomeworkDoc::from_automerge(loaded);
        let result = f(&mut doc);
        slot.doc = Some(doc.into_automerge());
        Ok(result)
    }

    /// Loads document `i` if this sync has not needed it so far (see [`Slot::doc`]).
    fn ensure_loaded(&mut self, i: usize) -> Result<(), DriverError> {
        let slot = &mut self.docs[i];
        if slot.doc.is_some() {
            return Ok(());
        }
        let (mut doc, set_aside) = load(&mut self.store, slot.id, &slot.label, &self.keys)?;
        let heads = doc.get_heads();
        // Another process may have stored changes since the heads were known.
        slot.heads_recorded &= heads == slot.stored_heads;
        slot.stored_heads = heads;
        slot.stored_changes = change_count(&mut doc);
        slot.doc = Some(doc);
        if let Some(text) = set_aside {
            self.tell(NoticeKind::SetAside, text);
        }
        Ok(())
    }

    /// What happened in this run so far.
    pub(crate) fn summary(&mut self) -> Summary {
        self.progress.finish();
        let mut summary = self.summary.clone();
        summary.pending_changes = self.pending_changes();
        summary.empty = self
            .docs
            .iter_mut()
            .filter_map(|slot| slot.heads().is_empty().then(|| slot.label.clone()))
            .collect();
        summary
    }

    /// How many documents this driver has loaded (a sync that finds nothing new loads none).
    #[cfg(test)]
    pub(crate) fn loaded_documents(&self) -> usize {
        self.docs.iter().filter(|slot| slot.doc.is_some()).count()
    }

    /// The devices this device knows.
    pub(crate) fn directory(&self) -> DeviceDirectory {
        self.directory.clone()
    }

    /// Local changes the relay does not hold yet, over all documents.
    fn pending_changes(&mut self) -> usize {
        self.docs
            .iter_mut()
            .map(|slot| {
                // Not loaded: its stored heads were all on the relay, and nothing came since.
                let Some(doc) = slot.doc.as_mut() else {
                    return 0;
                };
                let known = to_hashes(&slot.sync.state().relay_heads);
                doc.get_changes_meta(&known).len()
            })
            .sum()
    }

    fn next_id(&mut self, pending: Pending) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        self.requests.insert(id, pending);
        RequestId(id)
    }

    fn list_devices(&mut self, step: &mut Step) {
        if self.devices_pending {
            return;
        }
        self.devices_pending = true;
        let request = self.next_id(Pending::ListDevices);
        step.send.push(ClientMessage::ListDevices { request });
    }

    fn slot_of(&self, doc: &DocId) -> Option<usize> {
        self.docs.iter().position(|s| s.id == *doc)
    }

    pub(crate) fn is_settled(&self) -> bool {
        self.phase == Phase::Running
            && !self.devices_pending
            && self
                .docs
                .iter()
                .all(|s| s.failed.is_some() || (s.sync.is_settled() && s.held.is_empty()))
    }

    /// Writes every dirty document: its new changes and its state in one transaction.
    pub(crate) fn flush(&mut self) -> Result<(), DriverError> {
        for slot in &mut self.docs {
            let Some(doc) = slot.doc.as_mut() else {
                // Not loaded: only the engine's state can have changed.
                if slot.dirty || !slot.authors.is_empty() {
                    let state = state_json(slot)?;
                    self.store.persist_sync(
                        slot.id,
                        &SyncWrite {
                            changes: &[],
                            state: &state,
                            authors: &slot.authors,
                            heads: None,
                        },
                    )?;
                    slot.dirty = false;
                    slot.authors.clear();
                    self.wrote_since_poll = true;
                }
                continue;
            };
            let heads = doc.get_heads();
            if !slot.dirty
                && heads == slot.stored_heads
                && slot.authors.is_empty()
                && slot.heads_recorded
            {
                continue;
            }
            // When most of the document is new (a new device's first catch-up), the whole
            // save: columnar, it is written and loaded several times faster than the same
            // changes one by one, and it replaces the stored snapshot at once.
            let all_changes = change_count(doc);
            let new_changes = all_changes.saturating_sub(slot.stored_changes);
            let whole = new_changes > 0 && new_changes.saturating_mul(2) > all_changes;
            let changes = if heads == slot.stored_heads {
                Vec::new()
            } else if whole {
                doc.save()
            } else {
                doc.save_after(&slot.stored_heads)
            };
            let state = state_json(slot)?;
            let raw_heads: Vec<[u8; 32]> = heads.iter().map(|h| h.0).collect();
            self.store.persist_sync(
                slot.id,
                &SyncWrite {
                    changes: &changes,
                    state: &state,
                    authors: &slot.authors,
                    heads: Some(&raw_heads),
                },
            )?;
            slot.stored_heads = heads;
            slot.stored_changes = all_changes;
            slot.heads_recorded = true;
            slot.dirty = false;
            slot.authors.clear();
            self.wrote_since_poll = true;
            if std::mem::take(&mut slot.received) {
                if let Some(observer) = &self.observer {
                    observer.send_modify(|count| *count += 1);
                }
            }
            let doc = held(&mut slot.doc, &slot.label)?;
            let compacted = if whole {
                self.store.compact(slot.id, &changes)?
            } else {
                self.store
                    .compact_if(slot.id, Compaction::Overdue, || doc.save())?
            };
            // A compaction is a new stored version: the next flush records the heads again.
            slot.heads_recorded &= !compacted;
        }
        Ok(())
    }

    /// Nothing was written since the last poll: the moment for what saves a whole document —
    /// a due snapshot for the relay (while running) and the store's compaction.
    fn quiet(&mut self, step: &mut Step) -> Result<(), DriverError> {
        if self.phase == Phase::Running {
            for i in 0..self.docs.len() {
                let slot = &mut self.docs[i];
                // Not loaded: no snapshot was due when it caught up, and nothing came since.
                let (None, Some(doc)) = (&slot.failed, slot.doc.as_mut()) else {
                    continue;
                };
                let events = slot.sync.quiet(doc, &mut slot.envelope)?;
                self.handle_events(i, events, None, step)?;
            }
        }
        self.compact_due()
    }

    /// Compacts every document whose stored chunks have grown enough. A compaction saves the
    /// whole document (tens of milliseconds for a year of homework), so while changes stream
    /// in it waits for a quiet moment — a poll with nothing written since the one before, or
    /// the driver closing — and [`Driver::flush`] compacts only a document far overdue.
    pub(crate) fn compact_due(&mut self) -> Result<(), DriverError> {
        let mut compacted = false;
        for slot in &mut self.docs {
            // Not loaded, not compacted: this handle could not vouch for what it would save.
            let Some(doc) = slot.doc.as_mut() else {
                continue;
            };
            if self
                .store
                .compact_if(slot.id, Compaction::Due, || doc.save())?
            {
                slot.heads_recorded = false;
                compacted = true;
            }
        }
        // Record the heads of the new stored version, so the next sync need not load it.
        if compacted {
            self.flush()?;
        }
        Ok(())
    }
}

/// Loads a document from the store as this process's actor: one load of the whole document
/// (the costliest step of syncing it, in proportion to its history), a second only after
/// salvaging a damaged one; with the notice to give when chunks were set aside.
fn load(
    store: &mut Store,
    id: DocId,
    label: &str,
    keys: &AccountKeys,
) -> Result<(AutoCommit, Option<String>), DriverError> {
    let mut loaded = AutoCommit::load(&store.load_document(id)?);
    let mut set_aside = None;
    if loaded.is_err() {
        if let Some(count) = salvage(store, id, real_unix_ms())? {
            set_aside = Some(explain(label, count, store));
            loaded = AutoCommit::load(&store.load_document(id)?);
        }
    }
    let doc = loaded.map_err(|e| DriverError::Document {
        label: label.to_owned(),
        detail: e.to_string(),
    })?;
    let actor = process_actor(keys.device.device_id().0.as_slice());
    Ok((doc.with_actor(ActorId::from(actor)), set_aside))
}

/// The document of a slot that is loaded (see [`Driver::ensure_loaded`]).
fn held<'a>(
    doc: &'a mut Option<AutoCommit>,
    label: &str,
) -> Result<&'a mut AutoCommit, DriverError> {
    doc.as_mut().ok_or_else(|| DriverError::Document {
        label: label.to_owned(),
        detail: "it was used before it was loaded (a bug in the sync driver)".to_owned(),
    })
}

/// The engine's state of a slot, as the store keeps it.
fn state_json(slot: &Slot) -> Result<String, DriverError> {
    serde_json::to_string(slot.sync.state()).map_err(|e| DriverError::Document {
        label: slot.label.clone(),
        detail: e.to_string(),
    })
}

/// How many changes a document holds (a count Automerge keeps; no change is read).
fn change_count(doc: &mut AutoCommit) -> usize {
    usize::try_from(doc.stats().num_changes).unwrap_or(usize::MAX)
}

fn to_hashes(raw: &[[u8; 32]]) -> Vec<ChangeHash> {
    raw.iter().map(|h| ChangeHash(*h)).collect()
}

/// Splits queued bundles into runs of consecutive bundles sealed by one device, in order (a
/// bundle whose header does not read is a run of its own; the engine reports it).
fn runs_by_sealer(queued: Vec<FromRelay>) -> Vec<Vec<FromRelay>> {
    let sealer = |msg: &FromRelay| match msg {
        FromRelay::Bundle { bundle, .. } => BundleHeader::from_bytes(bundle)
            .ok()
            .map(|header| header.author()),
        _ => None,
    };
    let mut runs: Vec<(Option<_>, Vec<FromRelay>)> = Vec::new();
    for msg in queued {
        let by = sealer(&msg);
        match runs.last_mut() {
            Some((last, run)) if by.is_some() && *last == by => run.push(msg),
            _ => runs.push((by, vec![msg])),
        }
    }
    runs.into_iter().map(|(_, run)| run).collect()
}

/// Prints a warning on standard error, above any progress bar.
pub(crate) fn warn(text: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {text}");
}

/// Prints a line on standard output (watch mode).
fn say(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}
