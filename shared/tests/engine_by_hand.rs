//! Deterministic simulation of sync: a model relay and three devices, no sockets: the client's
//! laptop and phone, and their therapist's device, a member that does not own the document and
//! so never uploads a snapshot (the model relay fails the test if it does).
//!
//! Each device runs the real [`DocSync`] engine on a real homework document. The relay model
//! keeps a log per document, acknowledges pushes, forwards them to the other subscribed devices,
//! serves "since S" catch-up (with the snapshot when S is older than compaction) and stores
//! snapshots. A random schedule, chosen by proptest, interleaves edits, message deliveries
//! (each connection is ordered, as a WebSocket is), dropped connections, reconnections, a relay
//! restored from an older backup, and a relay that commits and acknowledges a push but never
//! forwards it (issue 10, defect 4). Once the schedule is spent, every device syncs again (a new
//! connection, as `between sync` makes) and the network runs until it is quiet; then all
//! replicas must be identical.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use autosurgeon::Text;
use between_shared::document::{EntryUpdate, NewEntry};
use between_shared::sync::{
    BundleKind, DocSync, Envelope, Event, FromRelay, Opened, SyncError, SyncState, ToRelay,
};
use between_shared::template::FieldValue;
use between_shared::{Author, Day, HomeworkDoc, Role, TemplateId, Timestamp};
use proptest::prelude::*;
use std::collections::VecDeque;

/// A transparent envelope: `author \0 counter kind plaintext`. The real one encrypts and signs;
/// this simulation is about ordering, loss and convergence.
struct Plain {
    me: String,
}

impl Envelope for Plain {
    fn me(&self) -> &str {
        &self.me
    }

    fn seal(
        &mut self,
        kind: BundleKind,
        counter: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SyncError> {
        let mut out = self.me.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(&counter.to_be_bytes());
        out.push(u8::from(kind == BundleKind::Snapshot));
        out.extend_from_slice(plaintext);
        Ok(out)
    }

    fn open(&self, sealed: &[u8]) -> Result<Opened, SyncError> {
        let zero = sealed
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| SyncError::Envelope("no author".into()))?;
        let rest = &sealed[zero + 1..];
        if rest.len() < 9 {
            return Err(SyncError::Envelope("too short".into()));
        }
        Ok(Opened {
            author: String::from_utf8_lossy(&sealed[..zero]).into_owned(),
            counter: u64::from_be_bytes(rest[..8].try_into().unwrap()),
            kind: if rest[8] == 1 {
                BundleKind::Snapshot
            } else {
                BundleKind::Changes
            },
            plaintext: rest[9..].to_vec(),
        })
    }
}

/// The relay's state for one document.
#[derive(Clone, Default)]
struct RelayLog {
    log: Vec<(u64, Vec<u8>)>,
    head: u64,
    snapshot: Option<(u64, Vec<u8>)>,
}

struct Device {
    doc: HomeworkDoc,
    sync: DocSync,
    envelope: Plain,
    /// Messages from the relay to this device, in order; `None` when disconnected.
    inbox: Option<VecDeque<FromRelay>>,
    /// Messages from this device to the relay, in order.
    outbox: VecDeque<ToRelay>,
    subscribed: bool,
    /// Whether the device has the document yet (a new device starts empty and must catch up
    /// before it edits: the initialisation race).
    ready: bool,
    typed: Vec<String>,
    /// A device of the document's owner (only those may upload snapshots).
    owner: bool,
}

impl Device {
    fn new(name: &str, owner: bool, doc: HomeworkDoc) -> Self {
        // Compact often, so catch-up from a snapshot is part of most schedules.
        let sync = DocSync::new(SyncState::default()).with_compaction_after(3);
        Self {
            doc,
            sync: if owner {
                sync
            } else {
                sync.without_snapshots()
            },
            envelope: Plain { me: name.into() },
            inbox: None,
            outbox: VecDeque::new(),
            subscribed: false,
            ready: false,
            typed: Vec::new(),
            owner,
        }
    }
}

struct World {
    relay: RelayLog,
    backup: Option<RelayLog>,
    devices: Vec<Device>,
    step: i64,
    rolled_back_seen: bool,
    snapshots: usize,
    /// The relay commits and acknowledges the next push but forwards it to nobody.
    drop_next_forward: bool,
    /// Subscriptions the relay served, per device.
    subscribes: Vec<usize>,
    /// Relay snapshots a device could not use.
    unreadable_snapshots: usize,
}

fn client() -> Author {
    Author::new(Role::Client, "Sam")
}

impl World {
    fn new() -> Self {
        // The laptop created the document; the phone and the therapist's device are new devices
        // that get it only through the relay.
        let mut laptop = Device::new(
            "laptop",
            true,
            HomeworkDoc::create(b"laptop", "Sam", &client(), Timestamp(0)).unwrap(),
        );
        laptop.ready = true;
        let devices = vec![
            laptop,
            Device::new("phone", true, HomeworkDoc::empty(b"phone")),
            Device::new("therapist", false, HomeworkDoc::empty(b"therapist")),
        ];
        Self {
            relay: RelayLog::default(),
            backup: None,
            devices,
            step: 0,
            rolled_back_seen: false,
            snapshots: 0,
            drop_next_forward: false,
            subscribes: vec![0; 3],
            unreadable_snapshots: 0,
        }
    }

    /// A member plants a snapshot that is not one and covers the whole log, which the relay
    /// then drops (issue 10, defect 2, before the relay checked snapshots). Returns the head.
    fn wipe(&mut self) -> u64 {
        let head = self.relay.head;
        self.relay.snapshot = Some((head, b"not a snapshot".to_vec()));
        self.relay.log.clear();
        head
    }

    /// A new device of the owner, paired now: it starts empty and gets everything from the
    /// relay. Returns its index.
    fn pair(&mut self, name: &str) -> usize {
        self.devices
            .push(Device::new(name, true, HomeworkDoc::empty(name.as_bytes())));
        self.subscribes.push(0);
        self.devices.len() - 1
    }

    fn handle_events(&mut self, i: usize, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Send(message) => {
                    if self.devices[i].inbox.is_some() {
                        self.devices[i].outbox.push_back(message);
                    }
                }
                Event::Reconnect => {
                    self.disconnect(i);
                    self.connect(i);
                }
                Event::RelayRolledBack { .. } => self.rolled_back_seen = true,
                Event::UnreadableSnapshot { .. } => self.unreadable_snapshots += 1,
                Event::Persist | Event::Applied { .. } => {}
                Event::Skipped { reason, .. } => panic!("skipped a bundle: {reason}"),
                Event::Refused { reason } => panic!("refused: {reason}"),
            }
        }
    }

    fn connect(&mut self, i: usize) {
        if self.devices[i].inbox.is_some() {
            return;
        }
        self.devices[i].inbox = Some(VecDeque::new());
        let events = self.devices[i].sync.connected();
        self.handle_events(i, events);
    }

    fn disconnect(&mut self, i: usize) {
        let device = &mut self.devices[i];
        device.inbox = None;
        device.outbox.clear();
        device.subscribed = false;
        device.sync.disconnected();
    }

    /// The relay handles the next message from device `i`.
    fn relay_step(&mut self, i: usize) {
        let Some(message) = self.devices[i].outbox.pop_front() else {
            return;
        };
        let mut replies = Vec::new();
        let mut forward = None;
        match message {
            ToRelay::Subscribe { since } => {
                let mut from = since;
                if let Some((covers, snapshot)) = &self.relay.snapshot {
                    if *covers > since {
                        replies.push(FromRelay::Snapshot {
                            covers: *covers,
                            snapshot: snapshot.clone(),
                        });
                        from = *covers;
                    }
                }
                for (seq, bundle) in &self.relay.log {
                    if *seq > from {
                        replies.push(FromRelay::Bundle {
                            seq: *seq,
                            bundle: bundle.clone(),
                        });
                    }
                }
                replies.push(FromRelay::CaughtUp {
                    head: self.relay.head,
                });
                self.devices[i].subscribed = true;
                self.subscribes[i] += 1;
            }
            ToRelay::Push { request, bundle } => {
                self.relay.head += 1;
                let seq = self.relay.head;
                self.relay.log.push((seq, bundle.clone()));
                replies.push(FromRelay::Ack { request, seq });
                if !std::mem::take(&mut self.drop_next_forward) {
                    forward = Some(FromRelay::Bundle { seq, bundle });
                }
            }
            ToRelay::PutSnapshot {
                request,
                covers,
                snapshot,
            } => {
                assert!(
                    self.devices[i].owner,
                    "a device of a member who does not own the document uploaded a snapshot"
                );
                if covers <= self.relay.head {
                    self.snapshots += 1;
                    self.relay.snapshot = Some((covers, snapshot));
                    self.relay.log.retain(|(seq, _)| *seq > covers);
                    replies.push(FromRelay::Ack {
                        request,
                        seq: covers,
                    });
                } else {
                    replies.push(FromRelay::Refused {
                        request,
                        reason: "covers more than the log".into(),
                    });
                }
            }
        }
        if let Some(inbox) = self.devices[i].inbox.as_mut() {
            inbox.extend(replies);
        }
        if let Some(bundle) = forward {
            for (j, other) in self.devices.iter_mut().enumerate() {
                if j != i && other.subscribed {
                    if let Some(inbox) = other.inbox.as_mut() {
                        inbox.push_back(bundle.clone());
                    }
                }
            }
        }
    }

    /// Device `i` handles the next message from the relay.
    fn device_step(&mut self, i: usize) {
        let Some(message) = self.devices[i].inbox.as_mut().and_then(VecDeque::pop_front) else {
            return;
        };
        let caught_up = matches!(message, FromRelay::CaughtUp { .. });
        let device = &mut self.devices[i];
        let events = device
            .sync
            .receive(device.doc.automerge(), &mut device.envelope, message)
            .unwrap();
        if caught_up && !device.ready {
            device.ready = device.doc.data().is_ok();
        }
        self.handle_events(i, events);
    }

    /// Device `i` handles every message waiting for it at once (`receive_many`: the changes
    /// of consecutive bundles applied in one pass, as a device that fell behind does).
    fn device_drain(&mut self, i: usize) {
        let Some(messages) = self.devices[i].inbox.as_mut().map(std::mem::take) else {
            return;
        };
        let caught_up = messages
            .iter()
            .any(|m| matches!(m, FromRelay::CaughtUp { .. }));
        let device = &mut self.devices[i];
        let events = device
            .sync
            .receive_many(
                device.doc.automerge(),
                &mut device.envelope,
                messages.into_iter().collect(),
            )
            .unwrap();
        if caught_up && !device.ready {
            device.ready = device.doc.data().is_ok();
        }
        self.handle_events(i, events);
    }

    fn edit(&mut self, i: usize) {
        self.step += 1;
        let word = format!("w{}d{i}", self.step);
        let device = &mut self.devices[i];
        if !device.ready {
            return;
        }
        let data = device.doc.data().unwrap();
        let now = Timestamp(self.step * 1000);
        match data.entries.iter().next() {
            Some((id, entry)) => {
                let text = match &entry.values["text"] {
                    FieldValue::LongText(t) => format!("{} {word}", t.as_str()),
                    _ => unreachable!(),
                };
                let id = id.clone();
                device
                    .doc
                    .update_entry(
                        &client(),
                        now,
                        &id,
                        EntryUpdate {
                            values: [("text".to_string(), long(&text))].into(),
                            ..EntryUpdate::default()
                        },
                        false,
                    )
                    .unwrap();
            }
            None => {
                device
                    .doc
                    .create_entry(
                        &client(),
                        now,
                        NewEntry {
                            template: TemplateId::from_string("journal"),
                            assignment: None,
                            date: Day::from_ymd(2026, 3, 2).unwrap(),
                            update: EntryUpdate {
                                values: [("text".to_string(), long(&word))].into(),
                                ..EntryUpdate::default()
                            },
                        },
                        false,
                    )
                    .unwrap();
            }
        }
        device.typed.push(word);
        let device = &mut self.devices[i];
        let events = device
            .sync
            .local_change(device.doc.automerge(), &mut device.envelope)
            .unwrap();
        self.handle_events(i, events);
    }

    fn busy(&self) -> bool {
        self.devices.iter().any(|d| {
            !d.outbox.is_empty() || d.inbox.as_ref().is_some_and(|inbox| !inbox.is_empty())
        })
    }

    /// Connects everyone and runs the network until nothing moves.
    fn settle(&mut self) {
        let all: Vec<usize> = (0..self.devices.len()).collect();
        self.settle_with(&all);
    }

    /// Every device syncs once more on a new connection, as `between sync` does, and the
    /// network runs until nothing moves.
    fn sync_again(&mut self) {
        for i in 0..self.devices.len() {
            self.disconnect(i);
        }
        self.settle();
    }

    /// Connects these devices and runs the network until nothing moves.
    fn settle_with(&mut self, devices: &[usize]) {
        for &i in devices {
            self.connect(i);
        }
        let mut rounds = 0;
        while self.busy() {
            rounds += 1;
            assert!(rounds < 100_000, "the network never went quiet");
            for i in 0..self.devices.len() {
                self.relay_step(i);
                self.device_step(i);
            }
        }
    }
}

fn long(text: &str) -> FieldValue {
    FieldValue::LongText(Text::with_value(text))
}

#[derive(Debug, Clone)]
enum Step {
    Edit(usize),
    Relay(usize),
    Deliver(usize),
    DeliverAll(usize),
    Connect(usize),
    Disconnect(usize),
    Backup,
    Restore,
    DropForward,
}

fn step(restores: bool) -> impl Strategy<Value = Step> {
    step_with(restores, false)
}

fn step_with(restores: bool, drops: bool) -> impl Strategy<Value = Step> {
    let d = 0usize..3;
    let restore_weight = u32::from(restores);
    let drop_weight = 2 * u32::from(drops);
    prop_oneof![
        4 => d.clone().prop_map(Step::Edit),
        6 => d.clone().prop_map(Step::Relay),
        6 => d.clone().prop_map(Step::Deliver),
        2 => d.clone().prop_map(Step::DeliverAll),
        2 => d.clone().prop_map(Step::Connect),
        1 => d.prop_map(Step::Disconnect),
        restore_weight => Just(Step::Backup),
        restore_weight => Just(Step::Restore),
        drop_weight => Just(Step::DropForward),
    ]
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut world = World::new();
    for step in steps {
        match step.clone() {
            Step::Edit(i) => world.edit(i),
            Step::Relay(i) => world.relay_step(i),
            Step::Deliver(i) => world.device_step(i),
            Step::DeliverAll(i) => world.device_drain(i),
            Step::Connect(i) => world.connect(i),
            Step::Disconnect(i) => world.disconnect(i),
            Step::Backup => world.backup = Some(world.relay.clone()),
            Step::DropForward => world.drop_next_forward = true,
            Step::Restore => {
                if let Some(backup) = world.backup.clone() {
                    // The relay restarts from an older copy of its store: every connection drops.
                    world.relay = backup;
                    for i in 0..world.devices.len() {
                        world.disconnect(i);
                    }
                }
            }
        }
    }
    world.drop_next_forward = false;
    world.settle();
    // A second round: pushes made while settling (after a rollback) reach everyone.
    world.sync_again();

    let mut heads = None;
    let mut content = None;
    for device in &mut world.devices {
        let h = device.doc.heads();
        let c = device.doc.data().unwrap();
        match (&heads, &content) {
            (Some(first_heads), Some(first)) => {
                prop_assert_eq!(&h, first_heads);
                prop_assert_eq!(&c, first);
            }
            _ => {
                heads = Some(h);
                content = Some(c);
            }
        }
    }
    // Every bundle is either in the log or covered by the snapshot.
    let covered = world
        .relay
        .snapshot
        .as_ref()
        .map_or(0, |(covers, _)| *covers);
    prop_assert!(world.relay.log.iter().all(|(seq, _)| *seq > covered));
    // Nothing typed on any device was lost.
    let text = world.devices[0]
        .doc
        .data()
        .unwrap()
        .entries
        .values()
        .map(|e| e.values["text"].display())
        .collect::<Vec<_>>()
        .join(" ");
    for device in &world.devices {
        for word in &device.typed {
            prop_assert!(text.contains(word.as_str()), "lost {} from {}", word, text);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_through_the_relay(steps in prop::collection::vec(step(false), 0..160)) {
        run(&steps)?;
    }

    #[test]
    fn devices_converge_when_the_relay_drops_live_forwards(
        steps in prop::collection::vec(step_with(false, true), 0..160)
    ) {
        run(&steps)?;
    }

    #[test]
    fn devices_converge_after_the_relay_is_restored_from_a_backup(
        steps in prop::collection::vec(step(true), 0..160)
    ) {
        run(&steps)?;
    }
}

#[test]
fn a_restored_relay_is_detected_and_refilled() {
    let mut world = World::new();
    world.edit(0);
    world.settle_with(&[0]);
    world.backup = Some(world.relay.clone());
    for _ in 0..3 {
        world.edit(0);
    }
    world.settle_with(&[0]);
    // One bundle for the first edit; the two made while it was in flight travel together.
    assert_eq!(world.relay.head, 3);
    // The relay is restored from the backup: it has lost two bundles it acknowledged.
    world.relay = world.backup.clone().unwrap();
    world.disconnect(0);
    world.settle_with(&[0]);
    assert!(world.rolled_back_seen, "the rollback was not reported");
    // The laptop pushed again what the relay lost, so the phone, new, gets all of it.
    assert!(world.relay.head > 1);
    world.settle();
    let laptop = world.devices[0].doc.data().unwrap();
    assert_eq!(world.devices[1].doc.data().unwrap(), laptop);
    assert_eq!(world.devices[0].doc.heads(), world.devices[1].doc.heads());
}

#[test]
fn a_device_offline_through_compaction_catches_up_from_the_snapshot() {
    let mut world = World::new();
    world.connect(0);
    world.connect(1);
    world.settle();
    world.disconnect(1);
    // The laptop writes a lot while the phone is away; the relay compacts several times.
    for _ in 0..20 {
        world.edit(0);
        world.settle();
    }
    assert!(world.snapshots >= 2, "compaction did not happen");
    let covered = world.relay.snapshot.as_ref().unwrap().0;
    assert!(covered > 1, "the snapshot covers {covered}");
    world.connect(1);
    world.edit(1);
    world.settle();
    world.settle();
    assert_eq!(world.devices[0].doc.heads(), world.devices[1].doc.heads());
    assert_eq!(world.devices[1].typed.len(), 1);
}

#[test]
fn received_changes_are_not_pushed_back() {
    let mut world = World::new();
    for _ in 0..3 {
        world.edit(0);
        world.settle_with(&[0]);
    }
    let head = world.relay.head;
    // The phone and the therapist catch up from nothing; they have nothing of their own to push.
    world.settle();
    assert_eq!(world.relay.head, head, "a device echoed what it received");
    // An edit on the phone reaches the others, and nobody echoes it either.
    world.edit(1);
    world.settle();
    assert_eq!(world.relay.head, head + 1);
    assert_eq!(world.devices[0].doc.heads(), world.devices[2].doc.heads());
}

/// Bundles handled together are applied in one pass; a bad one among them is skipped on its
/// own while the others still apply, each reported in order.
#[test]
fn bundles_received_together_apply_together_and_a_bad_one_is_skipped_alone() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ReadDoc, ROOT};
    let mut laptop = Plain {
        me: "laptop".into(),
    };
    let mut writer = AutoCommit::new();
    writer.put(ROOT, "mood", 4_i64).unwrap();
    writer.commit();
    let first = writer.save_after(&[]);
    let after_first = writer.get_heads();
    writer.put(ROOT, "sleep", 7_i64).unwrap();
    writer.commit();
    let second = writer.save_after(&after_first);
    let mut bundle = |counter, plaintext: &[u8]| {
        laptop
            .seal(BundleKind::Changes, counter, plaintext)
            .unwrap()
    };
    let messages = vec![
        FromRelay::Bundle {
            seq: 1,
            bundle: bundle(1, &first),
        },
        FromRelay::Bundle {
            seq: 2,
            bundle: bundle(2, b"not automerge at all"),
        },
        FromRelay::Bundle {
            seq: 3,
            bundle: bundle(3, &second),
        },
        FromRelay::CaughtUp { head: 3 },
    ];

    let mut phone = Plain { me: "phone".into() };
    let mut doc = AutoCommit::new();
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    let events = sync.receive_many(&mut doc, &mut phone, messages).unwrap();

    assert_eq!(doc.get(ROOT, "mood").unwrap().unwrap().0.as_i64(), Some(4));
    assert_eq!(doc.get(ROOT, "sleep").unwrap().unwrap().0.as_i64(), Some(7));
    let skipped: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Skipped { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![2]);
    let applied = events
        .iter()
        .filter(|e| matches!(e, Event::Applied { author } if author == "laptop"))
        .count();
    assert_eq!(applied, 2);
    assert_eq!(sync.state().cursor, 3);
    assert!(sync.is_settled());
}

/// Issue 10, defect 4: the relay commits and acknowledges a push but never forwards it. The
/// phone, live, notices the gap when the next bundle arrives and reads the log again from its
/// cursor on the same connection, instead of moving past the entry it never got.
#[test]
fn a_bundle_committed_but_never_forwarded_is_read_again() {
    let mut world = World::new();
    world.settle_with(&[0, 1]);
    let start = world.relay.head;
    world.drop_next_forward = true;
    world.edit(0);
    world.settle_with(&[0, 1]);
    assert_eq!(world.relay.head, start + 1);
    assert_ne!(world.devices[0].doc.heads(), world.devices[1].doc.heads());
    let subscribes = world.subscribes[1];
    world.edit(0);
    world.settle_with(&[0, 1]);
    assert_eq!(
        world.subscribes[1],
        subscribes + 1,
        "the phone did not read again"
    );
    assert_eq!(world.devices[0].doc.heads(), world.devices[1].doc.heads());
    assert_eq!(world.devices[1].sync.state().cursor, world.relay.head);
    assert_eq!(world.devices[0].typed.len(), 2);
}

/// Changes for the tests below that drive one engine by hand: the first `n` puts of a writer.
fn changes(n: usize) -> Vec<Vec<u8>> {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    let mut writer = AutoCommit::new();
    (0..n)
        .map(|i| {
            let before = writer.get_heads();
            writer.put(ROOT, format!("k{i}"), i as i64).unwrap();
            writer.commit();
            writer.save_after(&before)
        })
        .collect()
}

fn sends_subscribe(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Send(ToRelay::Subscribe { .. })))
}

/// A bundle past the cursor that our own acknowledgement, still on its way, fills is no gap:
/// the engine waits for the acknowledgement instead of reading the log again.
#[test]
fn an_acknowledgement_on_its_way_fills_the_gap_without_reading_again() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    let mut laptop = Plain {
        me: "laptop".into(),
    };
    let mut phone = Plain { me: "phone".into() };
    let mut doc = AutoCommit::new();
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    sync.receive(&mut doc, &mut phone, FromRelay::CaughtUp { head: 0 })
        .unwrap();
    doc.put(ROOT, "mine", 1_i64).unwrap();
    doc.commit();
    let events = sync.local_change(&mut doc, &mut phone).unwrap();
    let request = events
        .iter()
        .find_map(|e| match e {
            Event::Send(ToRelay::Push { request, .. }) => Some(*request),
            _ => None,
        })
        .unwrap();
    // The relay gave our push seq 1 and the laptop's seq 2; the forward overtakes our ack.
    let theirs = laptop.seal(BundleKind::Changes, 1, &changes(1)[0]).unwrap();
    let events = sync
        .receive(
            &mut doc,
            &mut phone,
            FromRelay::Bundle {
                seq: 2,
                bundle: theirs,
            },
        )
        .unwrap();
    assert!(!sends_subscribe(&events), "{events:?}");
    assert_eq!(sync.state().cursor, 0);
    let events = sync
        .receive(&mut doc, &mut phone, FromRelay::Ack { request, seq: 1 })
        .unwrap();
    assert!(!sends_subscribe(&events), "{events:?}");
    assert_eq!(sync.state().cursor, 2);
    assert!(sync.is_settled());
}

/// While the gap is open the cursor stays below it; a catch-up that still lacks the entries
/// (the relay lost them) reports them as skipped and moves on, instead of reading forever.
#[test]
fn a_gap_the_relay_cannot_fill_is_reported_once() {
    use automerge::AutoCommit;
    let mut laptop = Plain {
        me: "laptop".into(),
    };
    let mut phone = Plain { me: "phone".into() };
    let bundles: Vec<Vec<u8>> = changes(3)
        .iter()
        .zip(1..)
        .map(|(c, n)| laptop.seal(BundleKind::Changes, n, c).unwrap())
        .collect();
    let mut doc = AutoCommit::new();
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    let bundle = |seq: u64| FromRelay::Bundle {
        seq,
        bundle: bundles[seq as usize - 1].clone(),
    };
    let events = sync
        .receive_many(
            &mut doc,
            &mut phone,
            vec![bundle(1), FromRelay::CaughtUp { head: 1 }],
        )
        .unwrap();
    assert!(!sends_subscribe(&events));
    // Entry 2 never arrives; 3 does, live.
    let events = sync.receive(&mut doc, &mut phone, bundle(3)).unwrap();
    assert!(sends_subscribe(&events), "{events:?}");
    assert_eq!(sync.state().cursor, 1);
    assert!(!sync.is_settled());
    // The relay's catch-up from 1 has no entry 2 either.
    let events = sync
        .receive_many(
            &mut doc,
            &mut phone,
            vec![bundle(3), FromRelay::CaughtUp { head: 3 }],
        )
        .unwrap();
    let skipped: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Skipped { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![2], "{events:?}");
    assert!(!sends_subscribe(&events));
    assert_eq!(sync.state().cursor, 3);
    assert!(sync.is_settled());
}

/// A log position as a hostile or broken relay might send it.
fn position() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(2),
        Just(3),
        Just(between_shared::sync::MAX_SEQ),
        Just(between_shared::sync::MAX_SEQ + 1),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

#[derive(Debug, Clone)]
enum Hostile {
    Relay(FromRelay),
    Edit,
    Reconnect,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let bundle = prop_oneof![
        Just(Vec::new()),
        Just(b"garbage".to_vec()),
        (0usize..3).prop_map(|i| {
            let kind = if i == 2 {
                BundleKind::Snapshot
            } else {
                BundleKind::Changes
            };
            let mut laptop = Plain {
                me: "laptop".into(),
            };
            laptop.seal(kind, i as u64 + 1, &changes(3)[i]).unwrap()
        }),
    ];
    prop_oneof![
        3 => (position(), bundle.clone()).prop_map(|(seq, bundle)| Hostile::Relay(FromRelay::Bundle { seq, bundle })),
        1 => (position(), bundle).prop_map(|(covers, snapshot)| Hostile::Relay(FromRelay::Snapshot { covers, snapshot })),
        2 => position().prop_map(|head| Hostile::Relay(FromRelay::CaughtUp { head })),
        2 => (prop_oneof![Just(1u64), Just(2), any::<u64>()], position())
            .prop_map(|(request, seq)| Hostile::Relay(FromRelay::Ack { request, seq })),
        1 => Just(Hostile::Edit),
        1 => Just(Hostile::Reconnect),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Issue 10, defect 8: whatever positions the relay sends (0, 1, 2⁶³ − 1, 2⁶³, u64::MAX − 1,
    /// u64::MAX, anything), from whatever persisted state, the engine never panics and never
    /// wraps: a position that cannot be right is a protocol error (the adapter then reconnects),
    /// and the cursor only moves back when the engine reports a rollback.
    #[test]
    fn extreme_positions_from_the_relay_never_panic_or_wrap(
        start in position(),
        messages in prop::collection::vec(hostile(), 1..40),
        batched in any::<bool>(),
    ) {
        use automerge::transaction::Transactable;
        use automerge::{AutoCommit, ROOT};
        use between_shared::sync::MAX_SEQ;
        let state = SyncState {
            cursor: start,
            acked_seq: start,
            snapshot_covers: start,
            last_counter: start,
            ..SyncState::default()
        };
        let mut doc = AutoCommit::new();
        let mut phone = Plain { me: "phone".into() };
        let mut sync = DocSync::new(state).with_compaction_after(2);
        sync.connected();
        for (n, message) in messages.into_iter().enumerate() {
            let before = sync.state().clone();
            let result = match message {
                Hostile::Relay(message) if batched => {
                    sync.receive_many(&mut doc, &mut phone, vec![message])
                }
                Hostile::Relay(message) => sync.receive(&mut doc, &mut phone, message),
                Hostile::Edit => {
                    doc.put(ROOT, format!("e{n}"), 1_i64).unwrap();
                    doc.commit();
                    sync.local_change(&mut doc, &mut phone)
                }
                Hostile::Reconnect => {
                    sync.disconnected();
                    Ok(sync.connected())
                }
            };
            let rolled_back = match result {
                Ok(events) => events
                    .iter()
                    .any(|e| matches!(e, Event::RelayRolledBack { .. })),
                Err(_) => {
                    // The connection ends with the error; the device connects again.
                    sync.disconnected();
                    sync.connected();
                    false
                }
            };
            let after = sync.state();
            if !rolled_back {
                prop_assert!(after.cursor >= before.cursor, "cursor went back: {:?} -> {:?}", before, after);
            }
            if after.cursor != before.cursor {
                prop_assert!(after.cursor <= MAX_SEQ, "cursor {} beyond any log", after.cursor);
            }
            if after.acked_seq != before.acked_seq && !rolled_back {
                prop_assert!(after.acked_seq <= MAX_SEQ);
            }
            prop_assert!(after.last_counter >= before.last_counter || rolled_back);
        }
    }
}

/// Issue 10, defect 2: the relay's snapshot is garbage (planted by a member, say) and the log it
/// replaced is gone. Every device that holds the homework and sees the snapshot sends all it has
/// again; the owner's device also replaces the snapshot, the therapist's never uploads one; a
/// device paired afterwards gets everything.
#[test]
fn an_unreadable_snapshot_is_reported_and_the_log_heals() {
    let mut world = World::new();
    world.edit(0);
    world.settle();
    world.edit(2);
    world.edit(0);
    world.settle();
    let laptop_heads = world.devices[0].doc.heads();
    assert_eq!(world.devices[2].doc.heads(), laptop_heads);
    for i in 0..3 {
        world.disconnect(i);
    }
    let wiped_at = world.wipe();

    // The therapist's device syncs first: it sends everything again, and uploads no snapshot.
    world.settle_with(&[2]);
    assert_eq!(world.unreadable_snapshots, 1);
    assert!(world.relay.head > wiped_at, "nothing was sent again");
    // A tablet paired now gets everything from what the therapist sent again.
    let tablet = world.pair("tablet");
    world.settle_with(&[tablet]);
    assert_eq!(world.unreadable_snapshots, 2);
    assert_eq!(world.devices[tablet].doc.heads(), laptop_heads);
    world.disconnect(2);
    world.disconnect(tablet);

    // Planted again. The laptop syncs: it sends everything again too and replaces the snapshot
    // with its own.
    let wiped_at = world.wipe();
    world.settle_with(&[0]);
    assert_eq!(world.unreadable_snapshots, 3);
    let (covers, snapshot) = world.relay.snapshot.clone().unwrap();
    assert!(covers > wiped_at);
    let opened = world.devices[0].envelope.open(&snapshot).unwrap();
    assert_eq!(opened.kind, BundleKind::Snapshot);
    // A phone paired after that catches up from the new snapshot without any complaint.
    world.disconnect(1);
    world.devices[1] = Device::new("phone", true, HomeworkDoc::empty(b"phone"));
    world.settle_with(&[1]);
    assert_eq!(world.unreadable_snapshots, 3);
    world.settle();
    for device in &mut world.devices {
        assert_eq!(device.doc.heads(), laptop_heads);
    }
}
