//! The sync engine fed by a hostile relay: any sequence of connects, drops, local edits and
//! relay messages — bundles and snapshots of random bytes, ones that open as a member's, replays
//! of what was sent or served, acknowledgements and heads with any numbers — must never make
//! [`DocSync`] panic. An `Err` is allowed (the adapter drops the connection, as here).
//!
//! The envelope here is transparent ([`Clear`]): the real one ([`KeyedEnvelope`]) is fuzzed by
//! the `bundle` target, and with real signatures every input would spend its time in curve
//! arithmetic (about 370 runs a second under libFuzzer) instead of in the engine's rules. What
//! the engine sees is the same: a bundle either opens, with an author, counter, kind and
//! plaintext, or is refused.
//!
//! [`KeyedEnvelope`]: between_shared::sync::KeyedEnvelope

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use between_shared::crypto::BundleKind;
use between_shared::protocol::DeviceId;
use between_shared::sync::{
    DocSync, Envelope, Event, FromRelay, Opened, SyncError, SyncState, ToRelay,
};

use crate::input::Input;

/// Most relay messages handed to `receive_many` at once.
const MAX_BATCH: u8 = 4;
/// Most local edits per input. Automerge spends about a millisecond per edit under libFuzzer's
/// instrumentation; a few edits already give the engine an outbox to push, split and compact.
const MAX_EDITS: u8 = 4;

/// One device's side of a conversation with the relay.
struct Device {
    doc: AutoCommit,
    sync: DocSync,
    /// Every bundle and snapshot this device sent, for the relay to echo back.
    sent: Vec<Vec<u8>>,
    /// Every bundle and snapshot the relay served, for it to replay.
    served: Vec<Vec<u8>>,
    edits: u8,
}

/// Runs the conversation the input describes (see the module docs).
pub fn engine(data: &[u8]) {
    let mut input = Input::new(data);
    let compact_after = u64::from(input.byte() % 8) + 1;
    let mut device = Device {
        doc: AutoCommit::new().with_actor(ActorId::from([1u8; 16])),
        sync: DocSync::new(SyncState::default()).with_compaction_after(compact_after),
        sent: Vec::new(),
        served: Vec::new(),
        edits: 0,
    };
    while !input.is_empty() {
        device.step(&mut Clear, &mut input);
    }
}

impl Device {
    fn step(&mut self, envelope: &mut dyn Envelope, input: &mut Input<'_>) {
        let step = input.byte();
        let outcome = match step % 4 {
            0 => Ok(self.sync.connected()),
            1 => {
                self.sync.disconnected();
                Ok(Vec::new())
            }
            2 => {
                self.edit(input.byte());
                self.sync.local_change(&mut self.doc, envelope)
            }
            _ => {
                let count = 1 + (step >> 2) % MAX_BATCH;
                let mut messages: Vec<FromRelay> =
                    (0..count).map(|_| self.relay_message(input)).collect();
                match messages.pop() {
                    Some(last) if messages.is_empty() => {
                        self.sync.receive(&mut self.doc, envelope, last)
                    }
                    Some(last) => {
                        messages.push(last);
                        self.sync.receive_many(&mut self.doc, envelope, messages)
                    }
                    None => Ok(Vec::new()),
                }
            }
        };
        match outcome {
            Ok(events) => self.record(events),
            // What the adapter does with an engine error: drop the connection.
            Err(_) => self.sync.disconnected(),
        }
    }

    fn edit(&mut self, value: u8) {
        if self.edits == MAX_EDITS {
            return;
        }
        self.edits += 1;
        let key = format!("k{}", value % 4);
        if let Err(err) = self.doc.put(ROOT, key, i64::from(value)) {
            unreachable!("a put on the root map of a local document failed: {err}");
        }
    }

    fn record(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Send(ToRelay::Push { bundle, .. }) => self.sent.push(bundle),
                Event::Send(ToRelay::PutSnapshot { snapshot, .. }) => self.sent.push(snapshot),
                _ => {}
            }
        }
    }

    fn relay_message(&mut self, input: &mut Input<'_>) -> FromRelay {
        let cursor = self.sync.state().cursor;
        match input.byte() % 5 {
            0 => FromRelay::Bundle {
                seq: input.number(cursor),
                bundle: self.served_bytes(input),
            },
            1 => {
                // Mostly whole snapshots, sometimes parts (in or out of order).
                let parts = 1 + u32::from(input.byte() % 3);
                FromRelay::Snapshot {
                    covers: input.number(cursor),
                    part: u32::from(input.byte()) % parts,
                    parts,
                    snapshot: self.served_bytes(input),
                }
            }
            2 => FromRelay::CaughtUp {
                head: input.number(cursor),
            },
            3 => FromRelay::Ack {
                request: input.number(0),
                seq: input.number(cursor),
            },
            _ => FromRelay::Refused {
                request: input.number(0),
                reason: String::from_utf8_lossy(input.blob()).into_owned(),
            },
        }
    }

    /// What the relay serves as a bundle or snapshot: random bytes, a member's properly sealed
    /// bundle of the fuzzer's plaintext, or a replay.
    fn served_bytes(&mut self, input: &mut Input<'_>) -> Vec<u8> {
        let choice = input.byte();
        let bytes = match choice % 6 {
            0 => input.blob().to_vec(),
            1..=3 => {
                let (author, kind) = match choice % 6 {
                    1 => (PHONE, BundleKind::Changes),
                    2 => (PHONE, BundleKind::Snapshot),
                    _ => (THERAPIST, BundleKind::Changes),
                };
                let counter = input.number(0);
                Clear::seal_as(author, kind, counter, input.blob())
            }
            4 => pick(&self.sent, input.byte()),
            _ => pick(&self.served, input.byte()),
        };
        self.served.push(bytes.clone());
        bytes
    }
}

fn pick(from: &[Vec<u8>], choice: u8) -> Vec<u8> {
    match from.len() {
        0 => Vec::new(),
        len => from[usize::from(choice) % len].clone(),
    }
}

/// The first byte of everything [`Clear`] seals.
const SEALED: u8 = 0xb7;
/// Author bytes of [`Clear`]: this device, another device of the account, the therapist's.
const ME: u8 = 0;
const PHONE: u8 = 1;
const THERAPIST: u8 = 2;
const AUTHORS: [DeviceId; 3] = [
    DeviceId([0xa0; 16]),
    DeviceId([0xa1; 16]),
    DeviceId([0xa2; 16]),
];

/// A transparent envelope: `SEALED || author (1) || kind (1) || counter (u64 BE) ||
/// plaintext`; any other bytes, or an author outside [`AUTHORS`], are refused.
struct Clear;

impl Clear {
    fn seal_as(author: u8, kind: BundleKind, counter: u64, plaintext: &[u8]) -> Vec<u8> {
        let kind = u8::from(kind == BundleKind::Snapshot);
        [
            &[SEALED, author, kind][..],
            &counter.to_be_bytes(),
            plaintext,
        ]
        .concat()
    }
}

impl Envelope for Clear {
    fn me(&self) -> DeviceId {
        AUTHORS[usize::from(ME)]
    }

    fn seal(
        &mut self,
        kind: BundleKind,
        counter: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SyncError> {
        Ok(Self::seal_as(ME, kind, counter, plaintext))
    }

    fn open(&self, sealed: &[u8]) -> Result<Opened, SyncError> {
        let refused = |why: &str| SyncError::Envelope(why.to_owned());
        let mut input = Input::new(sealed);
        if sealed.len() < 11 || input.byte() != SEALED {
            return Err(refused("not sealed"));
        }
        let author = AUTHORS
            .get(usize::from(input.byte()))
            .ok_or_else(|| refused("not a member device"))?;
        let kind = if input.flag() {
            BundleKind::Snapshot
        } else {
            BundleKind::Changes
        };
        Ok(Opened {
            author: *author,
            counter: input.u64(),
            kind,
            plaintext: input.rest().to_vec(),
        })
    }
}
