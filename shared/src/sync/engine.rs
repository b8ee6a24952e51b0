//! [`DocSync`]: the per-document sync state machine (see the module docs in `sync/mod.rs`).

pub use crate::crypto::BundleKind;
use automerge::{AutoCommit, Change, ChangeHash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::snapshot_parts::{self, Assembly, Upload};
use crate::protocol::limits::MAX_SNAPSHOT_BYTES;

/// Largest plaintext sealed into one bundle. The outbox is split into bundles of at most this
/// size (a single Automerge change larger than this still travels alone).
pub const MAX_BUNDLE_PLAINTEXT: usize = 512 * 1024;

/// How many log entries behind the cursor (since the last snapshot) make the engine upload a
/// snapshot so the relay can compact.
pub const COMPACT_AFTER: u64 = 256;

/// How many bytes of log entries since the last snapshot also make a snapshot due, when they are
/// at least as many as that snapshot's: a few large entries (an outbox too large to send as one
/// save travels as raw changes, ten times the size) would otherwise stay uncompacted. Measured
/// against the last snapshot's size, the relay holds at most about two saves, and the device
/// saves the whole document at most once per document's worth of new log.
pub const COMPACT_AFTER_BYTES: u64 = 512 * 1024;

/// The highest log position a relay can give. The relay numbers its log with signed 64-bit
/// integers (SQLite's), and no log grows near that long, so a position above it cannot be right:
/// it is a relay error the engine reports ([`SyncError::Protocol`]), never arithmetic that wraps.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// Outboxes of more single-change bytes than this are pushed as one compressed save when that
/// is smaller (see `push_outbox`).
const COMPRESS_OUTBOX_ABOVE: usize = 64 * 1024;

/// Whether `plaintext` is whole Automerge data (change or document chunks): it loads into an
/// empty document without a parse error (changes whose dependencies are elsewhere are fine).
///
/// Automerge 0.12's parser panics on some malformed columns (an `unwrap` in hexane on a
/// truncated number; found by fuzzing, see docs/threat-model.md) where it should return an error.
/// Only a member device can seal such bytes, but one bad bundle in the log would then crash every
/// other member's device on every sync, so the panic is caught here and the bytes count as
/// damaged. It is caught on a throwaway document: nothing half-loaded survives it, and the real
/// document is given only bytes that passed this check. Chunks of kinds Between never writes
/// are refused before Automerge parses anything (see `super::chunks`).
///
/// Returns the document the bytes load to when they are complete on their own (every change's
/// dependencies among them): see [`adopt_if_complete`].
fn well_formed(plaintext: &[u8]) -> Result<Option<AutoCommit>, String> {
    super::chunks::only_written_kinds(plaintext)?;
    let options = automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error);
    let load = std::panic::AssertUnwindSafe(|| AutoCommit::load_with_options(plaintext, options));
    match std::panic::catch_unwind(load) {
        Ok(Ok(loaded)) => Ok(Some(loaded)),
        Ok(Err(automerge::AutomergeError::MissingDeps)) => Ok(None),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("Automerge's parser failed on it".to_owned()),
    }
}

/// Makes `loaded` (what checking a bundle or snapshot loaded) the device's document if it holds
/// every change `doc` holds, keeping `doc`'s actor; returns whether it did. A new device's
/// first catch-up is a whole saved document (a snapshot, or a large outbox sent as a save):
/// loading a save is Automerge's columnar fast path, while applying the same save to a
/// document that holds anything runs change by change (1.4 s instead of 0.4 s for a year of
/// homework), and the check has loaded it already. Never while `doc` holds changes waiting
/// for a missing dependency (a lost bundle): they would be dropped with it.
fn adopt_if_complete(doc: &mut AutoCommit, loaded: &mut Option<AutoCommit>) -> bool {
    let Some(candidate) = loaded.as_mut() else {
        return false;
    };
    if !doc.get_missing_deps(&[]).is_empty() {
        return false;
    }
    let heads = doc.get_heads();
    if !heads
        .iter()
        .all(|head| candidate.get_change_meta_by_hash(head).is_some())
    {
        return false;
    }
    let actor = doc.get_actor().clone();
    if let Some(candidate) = loaded.take() {
        *doc = candidate.with_actor(actor);
    }
    true
}

/// Another device's changes from the log, checked and waiting to be applied.
struct Incoming {
    seq: u64,
    author: String,
    plaintext: Vec<u8>,
}

/// A bundle the envelope has verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The author device (its id, as text).
    pub author: String,
    /// The author's per-device bundle counter.
    pub counter: u64,
    /// Changes or snapshot.
    pub kind: BundleKind,
    /// The Automerge bytes.
    pub plaintext: Vec<u8>,
}

/// Seals and opens bundles for one document: encryption, signatures and membership checks live
/// behind this trait, so the engine can be driven with the real crypto or a test double.
pub trait Envelope {
    /// This device's author id, as [`Opened::author`] reports it.
    fn me(&self) -> &str;
    /// Seals a bundle with the current epoch key, signed by this device.
    fn seal(
        &mut self,
        kind: BundleKind,
        counter: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SyncError>;
    /// Verifies (signature first, then that the author is a member device) and decrypts.
    fn open(&self, sealed: &[u8]) -> Result<Opened, SyncError>;
}

/// Errors of the sync engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A bundle could not be sealed, or could not be verified and decrypted.
    #[error("the encryption envelope failed: {0}")]
    Envelope(String),
    /// A bundle's content is not valid Automerge data.
    #[error("a bundle holds damaged changes: {0}")]
    BadChanges(String),
    /// The relay answered something that does not fit the conversation.
    #[error("the relay broke the protocol: {0}")]
    Protocol(String),
}

/// What the engine remembers between runs; the adapter persists it with the document, in the
/// same transaction, whenever the engine says [`Event::Persist`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Every relay log entry up to this sequence number is in the local document.
    pub cursor: u64,
    /// SHA-256 of the sealed bundle at `cursor`, to check the relay still serves the same log.
    pub cursor_digest: Option<[u8; 32]>,
    /// Heads of the changes the relay is known to hold; the outbox is everything else.
    pub relay_heads: Vec<[u8; 32]>,
    /// The highest sequence number the relay has acknowledged to this device.
    pub acked_seq: u64,
    /// The last bundle counter this device used.
    pub last_counter: u64,
    /// The log position the latest snapshot covers.
    pub snapshot_covers: u64,
    /// The size of the latest snapshot this device uploaded or received (0 if none yet).
    #[serde(default)]
    pub snapshot_bytes: u64,
    /// Bytes of the log entries after the latest snapshot that this device has seen.
    #[serde(default)]
    pub log_bytes: u64,
    /// The highest bundle counter seen from each author device.
    pub authors: BTreeMap<String, u64>,
}

/// What the relay tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromRelay {
    /// A log entry.
    Bundle {
        /// Its sequence number.
        seq: u64,
        /// The sealed bundle.
        bundle: Vec<u8>,
    },
    /// The latest snapshot, or one part of it, sent before the tail when the cursor is older
    /// than compaction. The parts, joined in order, are the sealed snapshot.
    Snapshot {
        /// The log position it covers.
        covers: u64,
        /// Which part this is, from 0.
        part: u32,
        /// How many parts the snapshot has.
        parts: u32,
        /// The part's bytes of the sealed snapshot.
        snapshot: Vec<u8>,
    },
    /// Catch-up after a subscribe is complete; `head` is the relay's latest sequence number.
    CaughtUp {
        /// The relay's head.
        head: u64,
    },
    /// A push or snapshot upload was durably stored.
    Ack {
        /// The request it answers.
        request: u64,
        /// The sequence number given to a push (for a snapshot: what it covers).
        seq: u64,
    },
    /// A push or snapshot upload was refused.
    Refused {
        /// The request it answers.
        request: u64,
        /// Why, as the relay put it.
        reason: String,
    },
}

/// What the engine asks the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToRelay {
    /// Send every log entry after `since` (or the snapshot and the tail), then live updates.
    Subscribe {
        /// The last sequence number already held.
        since: u64,
    },
    /// Append a sealed bundle.
    Push {
        /// Matches the acknowledgement.
        request: u64,
        /// The sealed bundle.
        bundle: Vec<u8>,
    },
    /// Store a sealed snapshot covering the log up to `covers`, or one part of it (the
    /// parts of one snapshot are sent one after another, in order).
    PutSnapshot {
        /// Matches the acknowledgement.
        request: u64,
        /// The log position it covers.
        covers: u64,
        /// Which part this is, from 0.
        part: u32,
        /// How many parts the snapshot has.
        parts: u32,
        /// The part's bytes of the sealed snapshot.
        snapshot: Vec<u8>,
    },
}

/// What the adapter must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Persist the document's new changes and [`DocSync::state`] in one transaction, before
    /// carrying out anything that follows.
    Persist,
    /// Send this to the relay.
    Send(ToRelay),
    /// Changes from other devices were applied to the document.
    Applied {
        /// Who wrote them.
        author: String,
    },
    /// A bundle was skipped because it could not be opened or applied; the reason says why.
    Skipped {
        /// Its sequence number.
        seq: u64,
        /// What was wrong.
        reason: String,
    },
    /// The relay serves an older log than it acknowledged (restored from a backup, or
    /// misbehaving). The engine has scheduled a full re-push, so nothing is lost.
    RelayRolledBack {
        /// The relay's head now.
        relay_head: u64,
        /// What this device had seen acknowledged or applied.
        expected: u64,
    },
    /// Drop the connection and connect again: the engine must read the relay's log from the
    /// start (after [`Event::RelayRolledBack`]).
    Reconnect,
    /// The relay's snapshot does not open or load (bad signature, a key this device lacks,
    /// damaged, or not a snapshot). The log entries it replaced are gone from the relay, so
    /// the engine pushes everything this device holds again (as after a rollback) and, on a
    /// device of the document's owner, uploads a snapshot of its own: the log heals for
    /// devices that pair later.
    UnreadableSnapshot {
        /// The log position the relay says the snapshot covers.
        covers: u64,
        /// Why it could not be used.
        reason: String,
    },
    /// The relay refused a push; it will not be retried until the next connection.
    Refused {
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct InFlight {
    request: u64,
    heads_after: Vec<ChangeHash>,
    digest: [u8; 32],
    bytes: u64,
}

/// The sync state machine of one document on one device.
#[derive(Debug)]
pub struct DocSync {
    state: SyncState,
    connected: bool,
    caught_up: bool,
    next_request: u64,
    in_flight: VecDeque<InFlight>,
    /// Log entries above the cursor that the document already holds (seq → digest): our own
    /// acknowledged pushes, and bundles received past a gap. The cursor moves over them once
    /// the entries before them arrive; it never skips an entry it has not seen.
    ahead: BTreeMap<u64, [u8; 32]>,
    /// A live bundle arrived past a gap in the log: read the log again from the cursor once no
    /// push is in flight (an acknowledgement still on its way may fill the gap).
    gap_seen: bool,
    /// After subscribing one entry early, the sequence number whose digest must match.
    verify_at: Option<u64>,
    /// The snapshot upload whose parts await the relay's answers.
    snapshot_upload: Option<Upload>,
    /// The parts of the relay's snapshot received so far.
    incoming_snapshot: Assembly,
    /// The size of the parts an upload is cut into.
    snapshot_part_bytes: usize,
    /// Set after a rollback: everything is ignored until the adapter reconnects.
    resync: bool,
    compact_after: u64,
    /// A snapshot too large to seal was skipped at this cursor; try again only much later.
    snapshot_skipped_at: Option<u64>,
    /// Whether this device uploads snapshots: only devices of the document's owner may.
    compacts: bool,
    /// The relay's snapshot could not be used: upload one as soon as the log is settled.
    replace_snapshot: bool,
    /// Whether a due snapshot waits for [`DocSync::quiet`] rather than following the
    /// acknowledgement that settles the log (see [`DocSync::with_snapshots_when_quiet`]).
    snapshots_when_quiet: bool,
}

/// The largest document save that fits a sealed snapshot (the envelope adds a header, nonce, tag
/// and signature; the rest is margin).
const MAX_SNAPSHOT_PLAINTEXT: usize = crate::crypto::MAX_SEALED_SNAPSHOT - 4096;

/// A length as the engine counts bytes (lossless on every platform Rust supports).
fn len_u64(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn to_hashes(raw: &[[u8; 32]]) -> Vec<ChangeHash> {
    raw.iter().map(|h| ChangeHash(*h)).collect()
}

fn to_raw(hashes: &[ChangeHash]) -> Vec<[u8; 32]> {
    hashes.iter().map(|h| h.0).collect()
}

impl DocSync {
    /// An engine resuming from persisted state (`SyncState::default()` for a new document).
    pub fn new(state: SyncState) -> Self {
        Self {
            state,
            connected: false,
            caught_up: false,
            next_request: 1,
            in_flight: VecDeque::new(),
            ahead: BTreeMap::new(),
            gap_seen: false,
            verify_at: None,
            snapshot_upload: None,
            incoming_snapshot: Assembly::default(),
            snapshot_part_bytes: MAX_SNAPSHOT_BYTES,
            resync: false,
            compact_after: COMPACT_AFTER,
            snapshot_skipped_at: None,
            compacts: true,
            replace_snapshot: false,
            snapshots_when_quiet: false,
        }
    }

    /// Uploads a snapshot once this many log entries are past the last one (default
    /// [`COMPACT_AFTER`]; tests use small numbers to exercise compaction).
    pub fn with_compaction_after(mut self, entries: u64) -> Self {
        self.compact_after = entries.max(1);
        self
    }

    /// Cuts snapshot uploads into parts of at most `bytes` (default and most: one frame's worth,
    /// [`MAX_SNAPSHOT_BYTES`]; tests use small parts to exercise snapshots in parts). A snapshot
    /// that would need more than `MAX_SNAPSHOT_PARTS` parts is not uploaded.
    pub fn with_snapshot_parts_of(mut self, bytes: usize) -> Self {
        self.snapshot_part_bytes = bytes.clamp(1, MAX_SNAPSHOT_BYTES);
        self
    }

    /// A device that does not belong to the document's owner (a therapist's): the relay
    /// accepts snapshots only from the owner's devices, so this engine never uploads one.
    pub fn without_snapshots(mut self) -> Self {
        self.compacts = false;
        self
    }

    /// A device that stays connected while edits stream through it (`sync --watch`, the app):
    /// a snapshot is a save of the whole document (tens of milliseconds after a year of
    /// homework), so one that falls due as a push is acknowledged waits for the adapter to say
    /// nothing is happening ([`DocSync::quiet`]) instead of delaying the next edit. Catching up
    /// still uploads a due one at once.
    pub fn with_snapshots_when_quiet(mut self) -> Self {
        self.snapshots_when_quiet = true;
        self
    }

    /// Nothing has happened for a while: upload a snapshot if one is due.
    pub fn quiet(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
    ) -> Result<Vec<Event>, SyncError> {
        let mut events = Vec::new();
        self.maybe_compact(doc, envelope, &mut events)?;
        Ok(events)
    }

    /// The state to persist.
    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// Whether catch-up finished on this connection and nothing is waiting for the relay.
    pub fn is_settled(&self) -> bool {
        self.connected
            && self.caught_up
            && !self.resync
            && self.in_flight.is_empty()
            && self.snapshot_upload.is_none()
    }

    /// Whether the relay is known to hold every change of `doc`.
    pub fn outbox_is_empty(&self, doc: &mut AutoCommit) -> bool {
        // Metadata only: no change's operations are decoded.
        doc.get_changes_meta(&to_hashes(&self.state.relay_heads))
            .is_empty()
    }

    /// The connection is up (and signed in): subscribe from the cursor. When a bundle was seen
    /// at the cursor, subscribe one entry early to check the relay still serves it.
    pub fn connected(&mut self) -> Vec<Event> {
        self.connected = true;
        self.resync = false;
        self.caught_up = false;
        self.in_flight.clear();
        self.ahead.clear();
        self.gap_seen = false;
        self.snapshot_upload = None;
        self.incoming_snapshot.clear();
        let since = match (self.state.cursor, self.state.cursor_digest) {
            (cursor, Some(_)) if cursor > 0 => {
                self.verify_at = Some(cursor);
                cursor - 1
            }
            (cursor, _) => {
                self.verify_at = None;
                cursor
            }
        };
        vec![Event::Send(ToRelay::Subscribe { since })]
    }

    /// The connection dropped: whatever was in flight will be pushed again from the outbox.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.caught_up = false;
        self.in_flight.clear();
        self.ahead.clear();
        self.gap_seen = false;
        self.snapshot_upload = None;
        self.incoming_snapshot.clear();
        self.verify_at = None;
    }

    /// The document changed locally: push when connected and caught up.
    pub fn local_change(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
    ) -> Result<Vec<Event>, SyncError> {
        let mut events = Vec::new();
        self.push_outbox(doc, envelope, &mut events)?;
        Ok(events)
    }

    /// Handles several messages from the relay, in order, as [`DocSync::receive`] would one by
    /// one, except that the changes of consecutive bundles are applied to `doc` together (see
    /// `apply`): what a device that fell behind needs to catch up in one pass.
    pub fn receive_many(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        messages: Vec<FromRelay>,
    ) -> Result<Vec<Event>, SyncError> {
        let mut events = Vec::new();
        let mut incoming = Vec::new();
        for message in messages {
            if self.resync || !self.connected {
                break;
            }
            match message {
                FromRelay::Bundle { seq, bundle } => {
                    incoming.extend(self.accept_bundle(&*envelope, seq, &bundle, &mut events)?);
                }
                other => {
                    self.apply(doc, std::mem::take(&mut incoming), &mut events);
                    events.extend(self.receive(doc, envelope, other)?);
                }
            }
        }
        self.apply(doc, incoming, &mut events);
        Ok(events)
    }

    /// Handles `message` without the document, for an adapter that has not loaded it and knows
    /// the relay holds every change it stores (the stored heads are among
    /// [`SyncState::relay_heads`]): the messages of a catch-up that brings nothing, which are
    /// the entry at the cursor read again to check it and `CaughtUp` at the cursor, with
    /// nothing in flight and no snapshot due. Returns `None` for anything else, having changed
    /// nothing: the adapter then loads the document and hands the same message to
    /// [`DocSync::receive`]. So a sync with nothing new costs no load of the document.
    pub fn receive_idle(&mut self, message: &FromRelay) -> Option<Vec<Event>> {
        if self.resync || !self.connected {
            return Some(Vec::new());
        }
        match message {
            FromRelay::Bundle { seq, bundle }
                if self.verify_at == Some(*seq)
                    && self.state.cursor_digest == Some(digest(bundle)) =>
            {
                self.verify_at = None;
                Some(Vec::new())
            }
            FromRelay::CaughtUp { head }
                if *head == self.state.cursor
                    && *head >= self.state.acked_seq
                    && self.verify_at.is_none()
                    && self.ahead.is_empty()
                    && self.in_flight.is_empty()
                    && self.snapshot_upload.is_none()
                    && !self.incoming_snapshot.is_under_way()
                    && !self.snapshot_due() =>
            {
                self.caught_up = true;
                Some(Vec::new())
            }
            _ => None,
        }
    }

    /// Handles one message from the relay.
    pub fn receive(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        message: FromRelay,
    ) -> Result<Vec<Event>, SyncError> {
        let mut events = Vec::new();
        if self.resync || !self.connected {
            return Ok(events);
        }
        match message {
            FromRelay::Bundle { seq, bundle } => {
                let incoming = self.accept_bundle(&*envelope, seq, &bundle, &mut events)?;
                self.apply(doc, incoming.into_iter().collect(), &mut events);
            }
            FromRelay::Snapshot {
                covers,
                part,
                parts,
                snapshot,
            } => {
                check_position(covers, 0, "a snapshot covering")?;
                let joined = self
                    .incoming_snapshot
                    .take(covers, part, parts, &snapshot)?;
                if let Some(sealed) = joined {
                    self.receive_snapshot(doc, &*envelope, covers, &sealed, &mut events);
                }
            }
            FromRelay::CaughtUp { head } => {
                self.no_snapshot_under_way("the end of a catch-up")?;
                check_position(head, 0, "a log head of")?;
                self.caught_up = true;
                self.verify_at = None;
                let expected = self.state.acked_seq.max(self.state.cursor);
                if head < expected {
                    self.rolled_back(head, expected, &mut events);
                } else {
                    self.skip_lost(head, &mut events);
                }
                self.push_outbox(doc, envelope, &mut events)?;
                self.maybe_compact(doc, envelope, &mut events)?;
            }
            FromRelay::Ack { request, seq } => {
                if let Some(upload) = self.snapshot_upload.filter(|u| u.owns(request)) {
                    // Only the last part's acknowledgement means the snapshot is stored.
                    if request == upload.last {
                        self.snapshot_upload = None;
                        self.state.snapshot_covers = self.state.snapshot_covers.max(upload.covers);
                        self.state.snapshot_bytes = upload.bytes;
                        self.state.log_bytes =
                            self.state.log_bytes.saturating_sub(upload.log_bytes);
                        events.push(Event::Persist);
                    }
                    return Ok(events);
                }
                let Some(front) = self.in_flight.pop_front() else {
                    return Err(SyncError::Protocol(format!(
                        "acknowledgement {request} for nothing in flight"
                    )));
                };
                if front.request != request {
                    return Err(SyncError::Protocol(format!(
                        "acknowledgement {request} out of order (expected {})",
                        front.request
                    )));
                }
                check_position(seq, 1, "an acknowledgement at")?;
                // Union, not replace: bundles received while this push was in flight are on
                // the relay too. Redundant heads are harmless and pruned when the outbox empties.
                let mut heads: BTreeSet<[u8; 32]> =
                    self.state.relay_heads.iter().copied().collect();
                heads.extend(to_raw(&front.heads_after));
                self.state.relay_heads = heads.into_iter().collect();
                self.state.acked_seq = self.state.acked_seq.max(seq);
                self.state.log_bytes = self.state.log_bytes.saturating_add(front.bytes);
                if seq > self.state.cursor {
                    self.ahead.insert(seq, front.digest);
                    self.advance_over_held();
                }
                events.push(Event::Persist);
                if self.in_flight.is_empty() {
                    self.reread_if_gap(&mut events);
                    self.push_outbox(doc, envelope, &mut events)?;
                    if !self.snapshots_when_quiet {
                        self.maybe_compact(doc, envelope, &mut events)?;
                    }
                }
            }
            FromRelay::Refused { request, reason } => {
                if let Some(upload) = self.snapshot_upload.as_mut().filter(|u| u.owns(request)) {
                    // The parts after a refused one are refused too; say so once, and wait for
                    // the last answer so that none is taken for a push's.
                    let first_refusal = !upload.refused;
                    upload.refused = true;
                    if request == upload.last {
                        self.snapshot_upload = None;
                    }
                    if first_refusal {
                        events.push(Event::Refused { reason });
                    }
                } else {
                    self.in_flight.clear();
                    events.push(Event::Refused { reason });
                }
            }
        }
        Ok(events)
    }

    /// Checks and records one bundle of the log; returns what is to be applied (another
    /// device's changes), which [`DocSync::apply`] then loads.
    ///
    /// The cursor moves only to the entry right after it. A bundle further on (the relay
    /// committed an entry but never forwarded it) is applied and held in `ahead`; while live,
    /// the engine then reads the log again from the cursor ([`DocSync::reread_if_gap`]).
    fn accept_bundle(
        &mut self,
        envelope: &dyn Envelope,
        seq: u64,
        bundle: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Option<Incoming>, SyncError> {
        check_position(seq, 1, "a bundle at")?;
        self.no_snapshot_under_way("a bundle")?;
        let hash = digest(bundle);
        if self.verify_at == Some(seq) {
            self.verify_at = None;
            if self.state.cursor_digest != Some(hash) {
                // The relay serves a different entry where we saw one: its log diverged.
                let expected = self.state.acked_seq.max(self.state.cursor);
                self.rolled_back(seq.saturating_sub(1), expected, events);
            }
            return Ok(None);
        }
        if seq <= self.state.cursor || self.ahead.contains_key(&seq) {
            return Ok(None);
        }
        let incoming = self.open_entry(envelope, seq, bundle, events);
        self.state.log_bytes = self.state.log_bytes.saturating_add(len_u64(bundle));
        if Some(seq) == self.state.cursor.checked_add(1) {
            self.state.cursor = seq;
            self.state.cursor_digest = Some(hash);
            self.advance_over_held();
        } else {
            self.ahead.insert(seq, hash);
            if self.caught_up {
                self.gap_seen = true;
                self.reread_if_gap(events);
            }
        }
        events.push(Event::Persist);
        Ok(incoming)
    }

    /// Opens one log entry: another device's changes to apply, or `None` (our own, or a
    /// bundle that does not open, reported as skipped).
    fn open_entry(
        &mut self,
        envelope: &dyn Envelope,
        seq: u64,
        bundle: &[u8],
        events: &mut Vec<Event>,
    ) -> Option<Incoming> {
        let mut incoming = None;
        match envelope.open(bundle) {
            Err(err) => events.push(Event::Skipped {
                seq,
                reason: err.to_string(),
            }),
            Ok(opened) if opened.kind != BundleKind::Changes => events.push(Event::Skipped {
                seq,
                reason: "a snapshot where a bundle of changes was expected".into(),
            }),
            Ok(opened) => {
                let seen = self.state.authors.entry(opened.author.clone()).or_default();
                *seen = (*seen).max(opened.counter);
                // Our own bundles are already in the document; others' are applied (Automerge
                // ignores changes it already has, so a replayed bundle does no harm).
                if opened.author != envelope.me() {
                    incoming = Some(Incoming {
                        seq,
                        author: opened.author,
                        plaintext: opened.plaintext,
                    });
                }
            }
        }
        incoming
    }

    /// After a live bundle arrived past a gap, and once no push is in flight (whose
    /// acknowledgement could fill it): if the gap is still there, subscribe again from the
    /// cursor so the relay serves the entries that never arrived.
    fn reread_if_gap(&mut self, events: &mut Vec<Event>) {
        if !self.gap_seen || !self.caught_up || !self.in_flight.is_empty() {
            return;
        }
        self.gap_seen = false;
        // `ahead` holds nothing right after the cursor, so anything in it lies past a gap.
        if self.ahead.is_empty() {
            return;
        }
        self.caught_up = false;
        self.verify_at = None;
        events.push(Event::Send(ToRelay::Subscribe {
            since: self.state.cursor,
        }));
    }

    /// At the end of a catch-up: entries up to `head` that the relay did not serve although
    /// it served later ones are lost on the relay; reading again would bring nothing, so they
    /// are reported and the cursor moves on to the entries held after them. Entries past
    /// `head` stay held: they are live ones that arrived early.
    fn skip_lost(&mut self, head: u64, events: &mut Vec<Event>) {
        let Some(&next) = self.ahead.keys().next() else {
            return;
        };
        let from = self.state.cursor.saturating_add(1);
        let to = next.saturating_sub(1).min(head);
        if to < from {
            return;
        }
        events.push(Event::Skipped {
            seq: from,
            reason: format!(
                "the relay did not serve log entries {from} to {to} although its log goes on to {head}: it has lost them"
            ),
        });
        self.state.cursor = to;
        self.state.cursor_digest = None;
        self.advance_over_held();
        events.push(Event::Persist);
    }

    /// Loads other devices' changes into `doc`. Several bundles go in one
    /// `load_incremental`: applying remote changes costs Automerge time in proportion to the
    /// document's size, once per call, so a device that fell behind catches up in one pass
    /// instead of one pass per bundle. If the joined load fails, each bundle is loaded on its
    /// own, so only a bad one is skipped (changes already applied are ignored the second time).
    fn apply(&mut self, doc: &mut AutoCommit, incoming: Vec<Incoming>, events: &mut Vec<Event>) {
        // Automerge's `load_incremental` ignores whatever follows a chunk it cannot parse, so
        // a malformed bundle would pass as applied and, joined with others, hide the ones
        // after it: each is checked on its own first (microseconds for a few changes).
        let before = doc.get_heads();
        let mut checked = Vec::with_capacity(incoming.len());
        // The largest bundle that loaded whole (its index, size and document): it may become
        // the document (see `adopt_if_complete`); the others are then loaded into it.
        let mut largest: Option<(usize, usize, AutoCommit)> = None;
        for one in incoming {
            match well_formed(&one.plaintext) {
                Ok(loaded) => {
                    let size = one.plaintext.len();
                    if let Some(loaded) = loaded {
                        if largest.as_ref().is_none_or(|(_, most, _)| size > *most) {
                            largest = Some((checked.len(), size, loaded));
                        }
                    }
                    checked.push(one);
                }
                Err(reason) => events.push(Event::Skipped {
                    seq: one.seq,
                    reason: SyncError::BadChanges(reason).to_string(),
                }),
            }
        }
        let incoming = checked;
        if incoming.is_empty() {
            return;
        }
        let (base, mut loaded) = largest.map_or((None, None), |(at, _, doc)| (Some(at), Some(doc)));
        let adopted = base.filter(|_| adopt_if_complete(doc, &mut loaded));
        let rest: Vec<u8> = incoming
            .iter()
            .enumerate()
            .filter(|(at, _)| Some(*at) != adopted)
            .flat_map(|(_, i)| i.plaintext.iter().copied())
            .collect();
        let together = if rest.is_empty() {
            Ok(0)
        } else {
            doc.load_incremental(&rest)
        }
        .map_err(|e| e.to_string());
        match together {
            Ok(_) => {
                self.relay_has(doc, &before);
                events.extend(
                    incoming
                        .into_iter()
                        .map(|i| Event::Applied { author: i.author }),
                );
            }
            Err(err) if incoming.len() == 1 => {
                if let Some(one) = incoming.into_iter().next() {
                    events.push(Event::Skipped {
                        seq: one.seq,
                        reason: SyncError::BadChanges(err).to_string(),
                    });
                }
            }
            Err(_) => {
                for one in incoming {
                    self.apply(doc, vec![one], events);
                }
            }
        }
    }

    fn receive_snapshot(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &dyn Envelope,
        covers: u64,
        snapshot: &[u8],
        events: &mut Vec<Event>,
    ) {
        // The relay compacted past our cursor, so the entry at the cursor cannot be checked.
        self.verify_at = None;
        let before = doc.get_heads();
        let loaded = match envelope.open(snapshot) {
            Ok(opened) if opened.kind == BundleKind::Snapshot => well_formed(&opened.plaintext)
                .and_then(|mut loaded| {
                    if adopt_if_complete(doc, &mut loaded) {
                        return Ok(0);
                    }
                    doc.load_incremental(&opened.plaintext)
                        .map_err(|err| err.to_string())
                })
                .map(|_| opened.author)
                .map_err(|err| SyncError::BadChanges(err).to_string()),
            Ok(_) => Err("it is a bundle of changes, not a snapshot".to_owned()),
            Err(err) => Err(err.to_string()),
        };
        match loaded {
            Ok(author) => {
                self.relay_has(doc, &before);
                events.push(Event::Applied { author });
                self.state.snapshot_covers = self.state.snapshot_covers.max(covers);
                self.state.snapshot_bytes = len_u64(snapshot);
                self.state.log_bytes = 0;
            }
            Err(reason) => self.snapshot_unreadable(doc, covers, reason, events),
        }
        // Either way the entries up to `covers` are no longer in the relay's log.
        self.state.cursor = self.state.cursor.max(covers);
        self.state.cursor_digest = None;
        self.advance_over_held();
        events.push(Event::Persist);
    }

    /// The relay's snapshot cannot be used, and the entries it replaced are gone from its log:
    /// push everything this device holds again and, if this device may, replace the snapshot
    /// with its own once the log is settled (see [`Event::UnreadableSnapshot`]).
    fn snapshot_unreadable(
        &mut self,
        doc: &mut AutoCommit,
        covers: u64,
        reason: String,
        events: &mut Vec<Event>,
    ) {
        events.push(Event::UnreadableSnapshot { covers, reason });
        self.push_everything_again();
        // A device that holds nothing has nothing to heal the log with.
        self.replace_snapshot = self.compacts && !doc.get_heads().is_empty();
    }

    /// Forgets which changes the relay holds, so the outbox becomes the whole document: after
    /// a rollback or an unreadable snapshot the relay may have lost any of them.
    fn push_everything_again(&mut self) {
        self.state.relay_heads.clear();
    }

    /// Records that the changes applied since `before` came from the relay, so they are not
    /// pushed back to it (their dependencies are on the relay too: authors push in causal order).
    fn relay_has(&mut self, doc: &mut AutoCommit, before: &[ChangeHash]) {
        let mut relay_heads = to_hashes(&self.state.relay_heads);
        relay_heads.sort();
        let mut before = before.to_vec();
        before.sort();
        if relay_heads == before {
            // The relay held everything this device had: now it holds everything.
            self.state.relay_heads = to_raw(&doc.get_heads());
            return;
        }
        // Metadata only (hashes and dependencies): a year of changes arriving at once is not
        // decoded again here.
        let added = doc.get_changes_meta(&before);
        if added.is_empty() {
            return;
        }
        let mut heads: BTreeSet<ChangeHash> = relay_heads.into_iter().collect();
        for change in &added {
            for dep in &change.deps {
                heads.remove(dep);
            }
            heads.insert(change.hash);
        }
        self.state.relay_heads = to_raw(&heads.into_iter().collect::<Vec<_>>());
    }

    /// Moves the cursor over the held entries that directly follow it.
    fn advance_over_held(&mut self) {
        while let Some(next) = self.state.cursor.checked_add(1) {
            let Some(digest) = self.ahead.remove(&next) else {
                break;
            };
            self.state.cursor = next;
            self.state.cursor_digest = Some(digest);
        }
        let cursor = self.state.cursor;
        self.ahead.retain(|seq, _| *seq > cursor);
    }

    fn rolled_back(&mut self, relay_head: u64, expected: u64, events: &mut Vec<Event>) {
        events.push(Event::RelayRolledBack {
            relay_head,
            expected,
        });
        // What the relay holds now may include entries this device never saw (pushed by others
        // after the restore), so read its whole log again; and push everything this device has,
        // whatever the relay lost.
        self.state.cursor = 0;
        self.state.cursor_digest = None;
        self.push_everything_again();
        self.state.acked_seq = relay_head;
        self.state.snapshot_covers = 0;
        self.state.log_bytes = 0;
        self.in_flight.clear();
        self.ahead.clear();
        self.gap_seen = false;
        self.resync = true;
        events.push(Event::Persist);
        events.push(Event::Reconnect);
    }

    fn push_outbox(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        if !self.connected || !self.caught_up || self.resync || !self.in_flight.is_empty() {
            return Ok(());
        }
        let known = to_hashes(&self.state.relay_heads);
        let changes = doc.get_changes(&known);
        if changes.is_empty() {
            // Everything is on the relay: the document's heads say so most compactly.
            let heads = to_raw(&doc.get_heads());
            if heads != self.state.relay_heads {
                self.state.relay_heads = heads;
                events.push(Event::Persist);
            }
            return Ok(());
        }
        // A large outbox (a journal typed offline key by key) goes as the whole document in
        // Automerge's compressed save format when that is smaller: a save is columnar, so it
        // costs about what the text does, where single changes cost ~150 bytes of header per
        // keystroke. Receivers merge it like any changes. Small outboxes (live edits) go as
        // the changes themselves.
        let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        let whole = (raw > COMPRESS_OUTBOX_ABOVE)
            .then(|| doc.save())
            .filter(|save| save.len() < raw && save.len() <= MAX_BUNDLE_PLAINTEXT);
        let groups: Vec<(Vec<u8>, Vec<ChangeHash>)> = match whole {
            Some(save) => vec![(save, doc.get_heads())],
            None => {
                let mut heads: BTreeSet<ChangeHash> = known.into_iter().collect();
                split(&changes)
                    .into_iter()
                    .map(|group| {
                        let mut plaintext = Vec::new();
                        for change in group {
                            plaintext.extend_from_slice(change.raw_bytes());
                            for dep in change.deps() {
                                heads.remove(dep);
                            }
                            heads.insert(change.hash());
                        }
                        (plaintext, heads.iter().copied().collect())
                    })
                    .collect()
            }
        };
        let mut sends = Vec::new();
        for (plaintext, heads_after) in groups {
            self.state.last_counter = next_counter(self.state.last_counter)?;
            let bundle = envelope.seal(BundleKind::Changes, self.state.last_counter, &plaintext)?;
            let request = self.next_request;
            self.next_request += 1;
            self.in_flight.push_back(InFlight {
                request,
                heads_after,
                digest: digest(&bundle),
                bytes: len_u64(&bundle),
            });
            sends.push(Event::Send(ToRelay::Push { request, bundle }));
        }
        // The counters are persisted before any bundle carrying them leaves the device.
        events.push(Event::Persist);
        events.extend(sends);
        Ok(())
    }

    fn maybe_compact(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        if !self.snapshot_due() || !self.is_settled() || !self.outbox_is_empty(doc) {
            return Ok(());
        }
        let save = doc.save();
        if save.len() > MAX_SNAPSHOT_PLAINTEXT {
            // Too large for one sealed snapshot: the log stays uncompacted (catch-up still
            // works, entry by entry) rather than sync failing.
            self.snapshot_skipped_at = Some(self.state.cursor);
            return Ok(());
        }
        self.state.last_counter = next_counter(self.state.last_counter)?;
        let sealed = envelope.seal(BundleKind::Snapshot, self.state.last_counter, &save)?;
        let Some(cut) = snapshot_parts::cut(&sealed, self.snapshot_part_bytes) else {
            self.snapshot_skipped_at = Some(self.state.cursor);
            return Ok(());
        };
        // `cut` returns 1 to MAX_SNAPSHOT_PARTS parts.
        let parts = u32::try_from(cut.len()).unwrap_or(u32::MAX);
        let covers = self.state.cursor;
        let first = self.next_request;
        self.next_request += u64::from(parts);
        self.snapshot_upload = Some(Upload {
            first,
            last: first + u64::from(parts) - 1,
            covers,
            bytes: len_u64(&sealed),
            log_bytes: self.state.log_bytes,
            refused: false,
        });
        self.replace_snapshot = false;
        events.push(Event::Persist);
        for ((request, part), snapshot) in (first..).zip(0..).zip(cut) {
            events.push(Event::Send(ToRelay::PutSnapshot {
                request,
                covers,
                part,
                parts,
                snapshot,
            }));
        }
        Ok(())
    }

    /// Whether this device would upload a snapshot now, as far as the log tells (the document
    /// must still have nothing the relay lacks).
    fn snapshot_due(&self) -> bool {
        // `snapshot_covers` comes from the relay; past `u64::MAX` nothing is ever due.
        let due = self.replace_snapshot
            || self
                .state
                .snapshot_covers
                .checked_add(self.compact_after)
                .is_some_and(|at| self.state.cursor >= at)
            || self.state.log_bytes >= self.state.snapshot_bytes.max(COMPACT_AFTER_BYTES);
        let skipped_lately = self
            .snapshot_skipped_at
            .is_some_and(|at| self.state.cursor < at.saturating_add(self.compact_after));
        self.compacts && due && !skipped_lately
    }

    /// A relay sends a snapshot's parts one after another; `what` arriving between two of them
    /// is a relay error.
    fn no_snapshot_under_way(&self, what: &str) -> Result<(), SyncError> {
        if self.incoming_snapshot.is_under_way() {
            return Err(SyncError::Protocol(format!(
                "{what} arrived between the parts of a snapshot"
            )));
        }
        Ok(())
    }
}

/// Checks a log position the relay gave: at least `min` and at most [`MAX_SEQ`].
fn check_position(seq: u64, min: u64, what: &str) -> Result<(), SyncError> {
    if (min..=MAX_SEQ).contains(&seq) {
        Ok(())
    } else {
        Err(SyncError::Protocol(format!(
            "{what} log position {seq}, which no log has (positions run from {min} to {MAX_SEQ})"
        )))
    }
}

/// The bundle counter after `last`. It is this device's own and never near the limit, unless
/// the stored sync state is damaged: then sealing stops rather than reusing a counter.
fn next_counter(last: u64) -> Result<u64, SyncError> {
    last.checked_add(1).ok_or_else(|| {
        SyncError::Envelope(
            "this device's bundle counter is exhausted; its sync state is damaged".into(),
        )
    })
}

/// Splits changes (in causal order) into groups whose raw bytes fit in one bundle.
fn split(changes: &[Change]) -> Vec<&[Change]> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, change) in changes.iter().enumerate() {
        let len = change.raw_bytes().len();
        if i > start && size + len > MAX_BUNDLE_PLAINTEXT {
            groups.push(&changes[start..i]);
            start = i;
            size = 0;
        }
        size += len;
    }
    if start < changes.len() {
        groups.push(&changes[start..]);
    }
    groups
}
