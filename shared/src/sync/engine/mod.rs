//! [`DocSync`]: the per-document sync state machine (see the module docs in `sync/mod.rs`).
//! What arrives from the relay is handled in [`inbox`], what leaves for it in [`outbox`].

pub use crate::crypto::BundleKind;
use automerge::{AutoCommit, Change, ChangeHash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::snapshot_parts::{self, Assembly, Upload};
use crate::protocol::limits::MAX_SNAPSHOT_BYTES;
use crate::protocol::{ClientMessage, DeviceId, DocId, RequestId, Seq};

mod inbox;
mod outbox;

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
    author: DeviceId,
    plaintext: Vec<u8>,
}

/// A bundle the envelope has verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The author device.
    pub author: DeviceId,
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
    /// This device, as [`Opened::author`] names it.
    fn me(&self) -> DeviceId;
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
    pub authors: BTreeMap<DeviceId, u64>,
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

impl ToRelay {
    /// The wire message for this request about `doc`. The adapter picks the wire's `request` id
    /// (it may run many engines over one connection, so it keeps its own numbering and remembers
    /// which engine and engine request each id answers); everything else maps one to one.
    pub fn into_message(self, doc: DocId, request: RequestId) -> ClientMessage {
        match self {
            ToRelay::Subscribe { since } => ClientMessage::Subscribe {
                request,
                doc,
                since: Seq(since),
            },
            ToRelay::Push { bundle, .. } => ClientMessage::Push {
                request,
                doc,
                bundle,
            },
            ToRelay::PutSnapshot {
                covers,
                part,
                parts,
                snapshot,
                ..
            } => ClientMessage::PutSnapshot {
                request,
                doc,
                covers: Seq(covers),
                part,
                parts,
                snapshot,
            },
        }
    }
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
        /// The device that wrote them.
        author: DeviceId,
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

    /// Handles one message from the relay: an entry of the log or a part of its snapshot to take
    /// in, the end of a catch-up, or the answer to one of this device's pushes or uploads.
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
                self.end_of_catch_up(doc, envelope, head, &mut events)?
            }
            FromRelay::Ack { request, seq } => {
                self.acknowledged(doc, envelope, request, seq, &mut events)?;
            }
            FromRelay::Refused { request, reason } => self.refused(request, reason, &mut events),
        }
        Ok(events)
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
