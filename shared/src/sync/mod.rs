//! The sans-IO sync engine: how one device keeps one document in step with the relay.
//!
//! [`DocSync`] is a pure state machine. The adapter (the CLI's WebSocket loop, or the
//! deterministic simulation in the tests) feeds it what happened — connected, a message from
//! the relay, a local edit — and carries out what it returns: messages to send, and "persist
//! now". It never touches a socket, a file or a clock, so every ordering the network can
//! produce can be replayed in a test.
//!
//! What it guarantees (docs/architecture.md, "How a command flows"; invariants 2 and 3 of
//! docs/invariants.md):
//! - The outbox is every change the relay is not known to have (`relay_heads`); it is sealed
//!   into bundles no larger than [`MAX_BUNDLE_PLAINTEXT`] each, so a large outbox is split,
//!   never refused.
//! - A push counts as stored only when the relay acknowledges it (after its durable commit).
//!   Re-sending after a dropped connection is safe: Automerge applies duplicates idempotently.
//! - Bundles from the relay are opened by an [`Envelope`] (signature first, then decryption);
//!   one that fails is reported and skipped, never applied.
//! - A relay that serves an older state than it acknowledged (restored from a backup, or
//!   lying) is detected — its head is below what it acknowledged, or the bundle it serves at
//!   our cursor is not the one we saw there — and reported; the device then pushes everything
//!   again so nothing is lost.
//! - The cursor never moves past a log entry the device has not seen: a live bundle past a gap
//!   makes the engine read the log again from the cursor.
//! - Compaction: when enough of the log is behind the cursor and nothing is outstanding, a
//!   device of the document's owner uploads a sealed snapshot covering the log up to its
//!   cursor; other members' devices never do ([`DocSync::without_snapshots`]). A relay snapshot
//!   that does not open or load is reported, and the device pushes everything it holds again
//!   (and, on an owner's device, uploads its own snapshot) so the log heals.

mod chunks;
mod engine;
mod envelope;
mod snapshot_parts;

pub use engine::{
    BundleKind, DocSync, Envelope, Event, FromRelay, Opened, SyncError, SyncState, ToRelay,
    COMPACT_AFTER, COMPACT_AFTER_BYTES, MAX_BUNDLE_PLAINTEXT, MAX_SEQ,
};
pub use envelope::KeyedEnvelope;
