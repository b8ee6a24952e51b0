//! The client's sync engine ([`DocSync`]) driven by hand, without a relay: each test feeds one
//! engine the frames a relay could send, in orders and with positions a real relay rarely or
//! never produces (bundles batched with a bad one among them, a forward that overtakes our own
//! acknowledgement, a gap the log cannot fill, extreme or hostile positions), and checks what the
//! engine does with them.
//!
//! Sync between devices through the real relay rules (the relay core over a real store, with
//! random schedules, lost live bundles, a restored backup and a planted snapshot) is simulated
//! in `server/tests/sync_simulation.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_shared::protocol::DeviceId;
use between_shared::sync::{
    BundleKind, DocSync, Envelope, Event, FromRelay, Opened, SyncError, SyncState, ToRelay,
    COMPACT_AFTER_BYTES,
};
use proptest::prelude::*;

/// The devices of these tests.
const LAPTOP: DeviceId = DeviceId([1; 16]);
const PHONE: DeviceId = DeviceId([2; 16]);

/// A transparent envelope: `author (16 bytes) counter kind plaintext`. The real one encrypts
/// and signs; these tests are about what the engine does with positions and order.
struct Plain {
    me: DeviceId,
}

impl Envelope for Plain {
    fn me(&self) -> DeviceId {
        self.me
    }

    fn seal(
        &mut self,
        kind: BundleKind,
        counter: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SyncError> {
        let mut out = self.me.0.to_vec();
        out.extend_from_slice(&counter.to_be_bytes());
        out.push(u8::from(kind == BundleKind::Snapshot));
        out.extend_from_slice(plaintext);
        Ok(out)
    }

    fn open(&self, sealed: &[u8]) -> Result<Opened, SyncError> {
        if sealed.len() < 16 + 9 {
            return Err(SyncError::Envelope("too short".into()));
        }
        let (author, rest) = sealed.split_at(16);
        Ok(Opened {
            author: DeviceId(author.try_into().unwrap()),
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

/// Bundles handled together are applied in one pass; a bad one among them is skipped on its
/// own while the others still apply, each reported in order.
#[test]
fn bundles_received_together_apply_together_and_a_bad_one_is_skipped_alone() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ReadDoc, ROOT};
    let mut laptop = Plain { me: LAPTOP };
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

    let mut phone = Plain { me: PHONE };
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
        .filter(|e| matches!(e, Event::Applied { author } if *author == LAPTOP))
        .count();
    assert_eq!(applied, 2);
    assert_eq!(sync.state().cursor, 3);
    assert!(sync.is_settled());
}

/// Pushes one local edit and returns its request and whether a snapshot went with the
/// acknowledgement's events.
fn edit_and_ack(
    sync: &mut DocSync,
    doc: &mut automerge::AutoCommit,
    laptop: &mut Plain,
    n: u64,
) -> bool {
    use automerge::transaction::Transactable;
    use automerge::ROOT;
    doc.put(ROOT, format!("k{n}"), n as i64).unwrap();
    doc.commit();
    let request = sync
        .local_change(doc, laptop)
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Event::Send(ToRelay::Push { request, .. }) => Some(*request),
            _ => None,
        })
        .expect("the edit is pushed");
    sync.receive(doc, laptop, FromRelay::Ack { request, seq: n })
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::Send(ToRelay::PutSnapshot { .. })))
}

/// Staying connected, a due snapshot (a save of the whole document) does not follow the
/// acknowledgement that settles the log, where it would delay the next edit; it goes when the
/// adapter says things are quiet, and only then.
#[test]
fn a_snapshot_waits_for_a_quiet_moment_when_asked_to() {
    for when_quiet in [false, true] {
        let mut laptop = Plain { me: LAPTOP };
        let mut doc = automerge::AutoCommit::new();
        let mut sync = DocSync::new(SyncState::default()).with_compaction_after(3);
        if when_quiet {
            sync = sync.with_snapshots_when_quiet();
        }
        sync.connected();
        sync.receive(&mut doc, &mut laptop, FromRelay::CaughtUp { head: 0 })
            .unwrap();
        let sent: Vec<bool> = (1..=4)
            .map(|n| edit_and_ack(&mut sync, &mut doc, &mut laptop, n))
            .collect();
        let quiet = sync.quiet(&mut doc, &mut laptop).unwrap();
        let on_quiet: Vec<u64> = quiet
            .iter()
            .filter_map(|e| match e {
                Event::Send(ToRelay::PutSnapshot { covers, .. }) => Some(*covers),
                _ => None,
            })
            .collect();
        if when_quiet {
            assert_eq!(sent, [false; 4]);
            assert_eq!(on_quiet, [4]);
        } else {
            assert_eq!(sent, [false, false, true, false]);
            assert!(on_quiet.is_empty(), "one is already on its way: {quiet:?}");
        }
    }
}

/// A snapshot larger than its part size goes up in parts with consecutive requests; only the
/// last part's acknowledgement counts it as stored, a refusal is reported once however many
/// parts are refused, and another device joins the parts back into the document.
#[test]
fn a_snapshot_goes_up_in_parts_and_comes_back_joined() {
    let mut laptop = Plain { me: LAPTOP };
    let mut doc = automerge::AutoCommit::new();
    let mut sync = DocSync::new(SyncState::default())
        .with_compaction_after(3)
        .with_snapshot_parts_of(40);
    sync.connected();
    sync.receive(&mut doc, &mut laptop, FromRelay::CaughtUp { head: 0 })
        .unwrap();
    let mut upload = Vec::new();
    for n in 1..=3 {
        edit_and_ack(&mut sync, &mut doc, &mut laptop, n);
    }
    let quiet = sync.quiet(&mut doc, &mut laptop).unwrap();
    assert!(
        quiet.is_empty(),
        "the upload followed the third acknowledgement"
    );
    // Take the upload again from a fresh engine in the same state, to see its messages.
    let mut again = DocSync::new(sync.state().clone())
        .with_compaction_after(3)
        .with_snapshot_parts_of(40);
    again.connected();
    for event in again
        .receive(&mut doc, &mut laptop, FromRelay::CaughtUp { head: 3 })
        .unwrap()
    {
        if let Event::Send(ToRelay::PutSnapshot {
            request,
            covers,
            part,
            parts,
            snapshot,
        }) = event
        {
            upload.push((request, covers, part, parts, snapshot));
        }
    }
    let parts = upload.len();
    assert!(parts >= 3, "{parts} parts");
    for (i, (request, covers, part, count, bytes)) in upload.iter().enumerate() {
        assert_eq!((*covers, *part as usize, *count as usize), (3, i, parts));
        assert_eq!(*request, upload[0].0 + i as u64);
        assert!(bytes.len() <= 40);
    }
    let sealed: Vec<u8> = upload.iter().flat_map(|u| u.4.clone()).collect();
    assert_eq!(laptop.open(&sealed).unwrap().kind, BundleKind::Snapshot);

    // Acknowledging all but the last part leaves it in flight.
    for (request, ..) in &upload[..parts - 1] {
        let events = again
            .receive(
                &mut doc,
                &mut laptop,
                FromRelay::Ack {
                    request: *request,
                    seq: 3,
                },
            )
            .unwrap();
        assert!(events.is_empty(), "{events:?}");
        assert!(!again.is_settled());
    }
    again
        .receive(
            &mut doc,
            &mut laptop,
            FromRelay::Ack {
                request: upload[parts - 1].0,
                seq: 3,
            },
        )
        .unwrap();
    assert!(again.is_settled());
    assert_eq!(again.state().snapshot_covers, 3);

    // The relay refusing every part is one refusal, and none is taken for a push's answer.
    let mut refused = DocSync::new(sync.state().clone())
        .with_compaction_after(3)
        .with_snapshot_parts_of(40);
    refused.connected();
    refused
        .receive(&mut doc, &mut laptop, FromRelay::CaughtUp { head: 3 })
        .unwrap();
    let mut reports = 0;
    for (request, ..) in &upload {
        let events = refused
            .receive(
                &mut doc,
                &mut laptop,
                FromRelay::Refused {
                    request: *request,
                    reason: "no".into(),
                },
            )
            .unwrap();
        reports += events
            .iter()
            .filter(|e| matches!(e, Event::Refused { .. }))
            .count();
    }
    assert_eq!(reports, 1);
    assert!(refused.is_settled());
    assert_eq!(refused.state().snapshot_covers, 0);

    // A phone catching up receives the parts and joins them into the document.
    let mut phone_doc = automerge::AutoCommit::new();
    let mut phone = Plain { me: PHONE };
    let mut phone_sync = DocSync::new(SyncState::default());
    phone_sync.connected();
    let mut messages: Vec<FromRelay> = upload
        .iter()
        .map(|(_, covers, part, parts, bytes)| FromRelay::Snapshot {
            covers: *covers,
            part: *part,
            parts: *parts,
            snapshot: bytes.clone(),
        })
        .collect();
    messages.push(FromRelay::CaughtUp { head: 3 });
    phone_sync
        .receive_many(&mut phone_doc, &mut phone, messages)
        .unwrap();
    assert_eq!(phone_doc.get_heads(), doc.get_heads());
    assert_eq!(phone_sync.state().cursor, 3);

    // A bundle between two parts is a relay error.
    let mut confused = DocSync::new(SyncState::default());
    confused.connected();
    let (_, covers, part, parts, bytes) = upload[0].clone();
    confused
        .receive(
            &mut phone_doc,
            &mut phone,
            FromRelay::Snapshot {
                covers,
                part,
                parts,
                snapshot: bytes,
            },
        )
        .unwrap();
    let err = confused
        .receive(
            &mut phone_doc,
            &mut phone,
            FromRelay::Bundle {
                seq: 4,
                bundle: b"x".to_vec(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, SyncError::Protocol(_)), "{err:?}");
}

/// Without its document, an engine takes only a catch-up that brings nothing: the entry at its
/// cursor read again (and matching) and `CaughtUp` at the cursor. Anything else is left for the
/// adapter to hand over with the document loaded, and changes nothing.
#[test]
fn an_idle_catch_up_needs_no_document() {
    let mut laptop = Plain { me: LAPTOP };
    let entry = laptop.seal(BundleKind::Changes, 1, &changes(1)[0]).unwrap();
    let mut doc = automerge::AutoCommit::new();
    let mut first = DocSync::new(SyncState::default());
    first.connected();
    first
        .receive_many(
            &mut doc,
            &mut laptop,
            vec![
                FromRelay::Bundle {
                    seq: 1,
                    bundle: entry.clone(),
                },
                FromRelay::CaughtUp { head: 1 },
            ],
        )
        .unwrap();
    let settled = first.state().clone();
    assert_eq!(settled.cursor, 1);

    let idle = |state: &SyncState| {
        let mut sync = DocSync::new(state.clone());
        assert_eq!(
            sync.connected(),
            [Event::Send(ToRelay::Subscribe { since: 0 })]
        );
        sync
    };
    let mut sync = idle(&settled);
    assert_eq!(
        sync.receive_idle(&FromRelay::Bundle {
            seq: 1,
            bundle: entry.clone()
        }),
        Some(vec![])
    );
    assert!(!sync.is_settled());
    assert_eq!(
        sync.receive_idle(&FromRelay::CaughtUp { head: 1 }),
        Some(vec![])
    );
    assert!(sync.is_settled());
    assert_eq!(sync.state(), &settled);

    // Something new, a different entry at the cursor, or a relay behind: the document is needed.
    let mut sync = idle(&settled);
    assert_eq!(
        sync.receive_idle(&FromRelay::Bundle {
            seq: 1,
            bundle: b"another entry".to_vec()
        }),
        None
    );
    sync.receive_idle(&FromRelay::Bundle {
        seq: 1,
        bundle: entry.clone(),
    });
    for message in [
        FromRelay::CaughtUp { head: 2 },
        FromRelay::CaughtUp { head: 0 },
        FromRelay::Bundle {
            seq: 2,
            bundle: entry.clone(),
        },
        FromRelay::Snapshot {
            covers: 2,
            part: 0,
            parts: 1,
            snapshot: entry.clone(),
        },
    ] {
        assert_eq!(sync.receive_idle(&message), None, "{message:?}");
        assert!(!sync.is_settled());
    }
    // Before the entry at the cursor was checked, `CaughtUp` is not idle either.
    let mut sync = idle(&settled);
    assert_eq!(sync.receive_idle(&FromRelay::CaughtUp { head: 1 }), None);
    // Nor when a snapshot is due: making one needs the document.
    let mut due = DocSync::new(settled.clone()).with_compaction_after(1);
    due.connected();
    due.receive_idle(&FromRelay::Bundle {
        seq: 1,
        bundle: entry,
    });
    assert_eq!(due.receive_idle(&FromRelay::CaughtUp { head: 1 }), None);
}

/// A few large log entries make a snapshot due by their bytes, long before the entry count
/// would; after it, new entries must add up to the snapshot's own size again.
#[test]
fn large_entries_make_a_snapshot_due_by_their_bytes() {
    use automerge::transaction::Transactable;
    use automerge::ROOT;
    let mut laptop = Plain { me: LAPTOP };
    let mut doc = automerge::AutoCommit::new();
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    sync.receive(&mut doc, &mut laptop, FromRelay::CaughtUp { head: 0 })
        .unwrap();
    // Text that compresses little (random letters, about 5 bits each): even as a save, the
    // entry holds more than `COMPACT_AFTER_BYTES`.
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let text: String = (0..2 * COMPACT_AFTER_BYTES)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    doc.put(ROOT, "journal", text).unwrap();
    doc.commit();
    let events = sync.local_change(&mut doc, &mut laptop).unwrap();
    let request = events
        .iter()
        .find_map(|e| match e {
            Event::Send(ToRelay::Push { request, .. }) => Some(*request),
            _ => None,
        })
        .unwrap();
    let events = sync
        .receive(&mut doc, &mut laptop, FromRelay::Ack { request, seq: 1 })
        .unwrap();
    let upload: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Send(ToRelay::PutSnapshot {
                request, covers, ..
            }) => {
                assert_eq!(*covers, 1);
                Some(*request)
            }
            _ => None,
        })
        .collect();
    assert!(
        !upload.is_empty(),
        "one entry of 512 KiB made no snapshot due: {events:?}"
    );
    assert!(sync.state().log_bytes > COMPACT_AFTER_BYTES);
    for request in upload {
        sync.receive(&mut doc, &mut laptop, FromRelay::Ack { request, seq: 1 })
            .unwrap();
    }
    assert_eq!(sync.state().log_bytes, 0);
    assert!(sync.state().snapshot_bytes > COMPACT_AFTER_BYTES);
    // A small entry after it makes nothing due.
    assert!(!edit_and_ack(&mut sync, &mut doc, &mut laptop, 2));
    assert!(sync.state().log_bytes > 0);
}

/// A new device's first catch-up: a small first change, then the whole document as one save
/// (an outbox sent as a save). The save becomes the device's document (keeping its actor), the
/// other bundle is loaded into it, and the relay is known to hold all of it.
#[test]
fn a_whole_save_becomes_an_empty_devices_document() {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
    let mut laptop = Plain { me: LAPTOP };
    let mut writer = AutoCommit::new();
    writer.put(ROOT, "created", 1_i64).unwrap();
    writer.commit();
    let first = writer.save_after(&[]);
    for day in 0..50_i64 {
        writer.put(ROOT, format!("mood-{day}"), day % 5).unwrap();
        writer.commit();
    }
    let whole = writer.save();
    let messages = vec![
        FromRelay::Bundle {
            seq: 1,
            bundle: laptop.seal(BundleKind::Changes, 1, &first).unwrap(),
        },
        FromRelay::Bundle {
            seq: 2,
            bundle: laptop.seal(BundleKind::Changes, 2, &whole).unwrap(),
        },
        FromRelay::CaughtUp { head: 2 },
    ];
    let phone_actor = ActorId::from(vec![7_u8; 16]);
    let mut doc = AutoCommit::new().with_actor(phone_actor.clone());
    let mut phone = Plain { me: PHONE };
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    let events = sync.receive_many(&mut doc, &mut phone, messages).unwrap();
    let applied = events
        .iter()
        .filter(|e| matches!(e, Event::Applied { .. }))
        .count();
    assert_eq!(applied, 2, "{events:?}");
    assert_eq!(doc.get_heads(), writer.get_heads());
    assert_eq!(
        doc.get(ROOT, "mood-49").unwrap().unwrap().0.as_i64(),
        Some(4)
    );
    assert_eq!(doc.get_actor(), &phone_actor);
    assert!(sync.outbox_is_empty(&mut doc));
    assert_eq!(
        sync.state().relay_heads,
        writer.get_heads().iter().map(|h| h.0).collect::<Vec<_>>()
    );
    // The phone's own next change carries its actor and goes out as its only change.
    doc.put(ROOT, "phone", true).unwrap();
    doc.commit();
    assert!(!sync.outbox_is_empty(&mut doc));
    assert_eq!(doc.get_changes_meta(&writer.get_heads()).len(), 1);
}

/// A device holding a change that waits for a lost dependency is not replaced by a save that
/// lacks it: once the dependency arrives, the waiting change applies too.
#[test]
fn a_save_never_drops_changes_waiting_for_a_dependency() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ReadDoc, ROOT};
    let mut laptop = Plain { me: LAPTOP };
    let mut writer = AutoCommit::new();
    writer.put(ROOT, "a", 1_i64).unwrap();
    writer.commit();
    let whole_a = writer.save();
    let after_a = writer.get_heads();
    writer.put(ROOT, "b", 2_i64).unwrap();
    writer.commit();
    let after_b = writer.get_heads();
    let b = writer.save_after(&after_a);
    writer.put(ROOT, "c", 3_i64).unwrap();
    writer.commit();
    let c = writer.save_after(&after_b);

    let mut doc = AutoCommit::new();
    let mut phone = Plain { me: PHONE };
    let mut sync = DocSync::new(SyncState::default());
    sync.connected();
    let mut bundle = |seq: u64, plaintext: &[u8]| FromRelay::Bundle {
        seq,
        bundle: laptop.seal(BundleKind::Changes, seq, plaintext).unwrap(),
    };
    // C arrives first (B was lost on the way), then a save holding only A.
    let (bundle_c, bundle_a, bundle_b) = (bundle(3, &c), bundle(1, &whole_a), bundle(2, &b));
    sync.receive_many(&mut doc, &mut phone, vec![bundle_c])
        .unwrap();
    sync.receive_many(&mut doc, &mut phone, vec![bundle_a])
        .unwrap();
    assert_eq!(doc.get(ROOT, "a").unwrap().unwrap().0.as_i64(), Some(1));
    sync.receive_many(&mut doc, &mut phone, vec![bundle_b])
        .unwrap();
    assert_eq!(doc.get(ROOT, "c").unwrap().unwrap().0.as_i64(), Some(3));
    assert_eq!(doc.get_heads(), writer.get_heads());
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
    let mut laptop = Plain { me: LAPTOP };
    let mut phone = Plain { me: PHONE };
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
    let mut laptop = Plain { me: LAPTOP };
    let mut phone = Plain { me: PHONE };
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
            let mut laptop = Plain { me: LAPTOP };
            laptop.seal(kind, i as u64 + 1, &changes(3)[i]).unwrap()
        }),
    ];
    prop_oneof![
        3 => (position(), bundle.clone()).prop_map(|(seq, bundle)| Hostile::Relay(FromRelay::Bundle { seq, bundle })),
        1 => (position(), (0u32..3, 1u32..3), bundle).prop_map(|(covers, (part, parts), snapshot)| Hostile::Relay(FromRelay::Snapshot { covers, part, parts, snapshot })),
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
        let mut phone = Plain { me: PHONE };
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

#[test]
fn an_engine_request_becomes_the_wire_message_for_its_document_with_the_adapters_request_id() {
    use between_shared::protocol::{ClientMessage, DocId, RequestId, Seq};
    let doc = DocId([7; 16]);
    let subscribe = ToRelay::Subscribe { since: 4 }.into_message(doc, RequestId(9));
    assert_eq!(
        subscribe,
        ClientMessage::Subscribe {
            request: RequestId(9),
            doc,
            since: Seq(4)
        }
    );
    let push = ToRelay::Push {
        request: 3,
        bundle: b"sealed".to_vec(),
    }
    .into_message(doc, RequestId(10));
    assert_eq!(
        push,
        ClientMessage::Push {
            request: RequestId(10),
            doc,
            bundle: b"sealed".to_vec()
        }
    );
    let part = ToRelay::PutSnapshot {
        request: 5,
        covers: 12,
        part: 1,
        parts: 2,
        snapshot: b"second half".to_vec(),
    }
    .into_message(doc, RequestId(11));
    assert_eq!(
        part,
        ClientMessage::PutSnapshot {
            request: RequestId(11),
            doc,
            covers: Seq(12),
            part: 1,
            parts: 2,
            snapshot: b"second half".to_vec()
        }
    );
}

#[test]
fn the_stored_state_names_author_devices_by_their_hex_as_it_always_did() {
    let mut state = SyncState::default();
    state.authors.insert(LAPTOP, 7);
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["authors"], serde_json::json!({ "01".repeat(16): 7 }));
    // A state an earlier build stored, when authors were their ids' text.
    let mut stored = json.clone();
    stored["authors"] = serde_json::json!({ "02".repeat(16): 3 });
    let read: SyncState = serde_json::from_value(stored).unwrap();
    assert_eq!(read.authors.get(&PHONE), Some(&3));
}
