//! The sync engine given what the `engine` fuzz target (`fuzz/`) found it could not take: the
//! largest sequence numbers a relay can send (an overflow: a panic in a debug build, a wrapped
//! number in a release build; now positions past [`MAX_SEQ`] are a protocol error and those up
//! to it never overflow), and a member's snapshot whose bytes make Automerge's parser panic.
//! See docs/threat-model.md, "Fuzzing".

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use between_shared::crypto::{DeviceKeypair, EpochKey, IdentityKeypair};
use between_shared::protocol::DocId;
use between_shared::sync::{
    BundleKind, DocSync, Envelope, Event, FromRelay, KeyedEnvelope, SyncError, SyncState, ToRelay,
    MAX_SEQ,
};
use between_shared::{Role, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;

const DOC: DocId = DocId([3; 16]);

/// The laptop (receiving) and the phone (sending) of one account, sharing one epoch key.
fn devices() -> (KeyedEnvelope<StdRng>, KeyedEnvelope<StdRng>) {
    let rng = StdRng::seed_from_u64;
    let identity = IdentityKeypair::generate(&mut rng(1));
    let phone_keys = DeviceKeypair::generate(&mut rng(2));
    let certificate = identity.certify(&phone_keys.public(), Role::Client, Timestamp(1));
    let key = || EpochKey::from_bytes([4; 32]);
    let laptop_keys = DeviceKeypair::generate(&mut rng(3));
    let mut laptop = KeyedEnvelope::new(DOC, 1, key(), laptop_keys, rng(4));
    laptop.add_member(&certificate, &identity.public()).unwrap();
    let phone = KeyedEnvelope::new(DOC, 1, key(), phone_keys, rng(5));
    (laptop, phone)
}

/// A mood the phone recorded: its changes, or its whole document as a snapshot.
fn sealed_by(phone: &mut KeyedEnvelope<StdRng>, kind: BundleKind) -> Vec<u8> {
    let mut written = AutoCommit::new();
    written.put(ROOT, "mood", 7).unwrap();
    let plaintext = match kind {
        BundleKind::Changes => written.save_incremental(),
        BundleKind::Snapshot => written.save(),
    };
    phone.seal(kind, 1, &plaintext).unwrap()
}

fn connected() -> (DocSync, AutoCommit) {
    let mut sync = DocSync::new(SyncState::default()).with_compaction_after(1);
    sync.connected();
    (sync, AutoCommit::new())
}

#[test]
fn a_bundle_past_the_largest_log_position_is_a_protocol_error_without_overflow() {
    let (mut laptop, mut phone) = devices();
    let (mut sync, mut doc) = connected();
    let message = FromRelay::Bundle {
        seq: u64::MAX,
        bundle: b"not a bundle".to_vec(),
    };
    let refused = sync.receive(&mut doc, &mut laptop, message);
    assert!(
        matches!(refused, Err(SyncError::Protocol(_))),
        "{refused:?}"
    );
    assert_eq!(sync.state().cursor, 0);
    // At the largest position a log can have, a damaged bundle is skipped and the cursor
    // stops there; nothing can follow it, and the same position is not applied again.
    let message = FromRelay::Bundle {
        seq: MAX_SEQ,
        bundle: b"not a bundle".to_vec(),
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Skipped { seq: MAX_SEQ, .. })),
        "{events:?}"
    );
    let message = FromRelay::Bundle {
        seq: MAX_SEQ,
        bundle: sealed_by(&mut phone, BundleKind::Changes),
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Applied { .. })),
        "{events:?}"
    );
}

#[test]
fn a_snapshot_covering_the_largest_log_position_does_not_overflow_compaction() {
    let (mut laptop, mut phone) = devices();
    let (mut sync, mut doc) = connected();
    let message = FromRelay::Snapshot {
        covers: u64::MAX,
        part: 0,
        parts: 1,
        snapshot: sealed_by(&mut phone, BundleKind::Snapshot),
    };
    let refused = sync.receive(&mut doc, &mut laptop, message);
    assert!(
        matches!(refused, Err(SyncError::Protocol(_))),
        "{refused:?}"
    );
    let message = FromRelay::Snapshot {
        covers: MAX_SEQ,
        part: 0,
        parts: 1,
        snapshot: sealed_by(&mut phone, BundleKind::Snapshot),
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Applied { .. })),
        "{events:?}"
    );
    assert_eq!(sync.state().snapshot_covers, MAX_SEQ);
    // Catching up makes the engine consider compaction: nothing lies past the snapshot.
    let message = FromRelay::CaughtUp { head: MAX_SEQ };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Send(ToRelay::PutSnapshot { .. }))),
        "{events:?}"
    );
}

/// A snapshot plaintext found by the `engine` fuzz target: an Automerge document chunk whose
/// columns make Automerge 0.12's parser (hexane) panic on a truncated number instead of
/// returning an error.
const PARSER_PANIC: &str = concat!(
    "856f4a83c084e42b0378011002030003020000020503230001020201d0140100000a0000fffd0006000302",
    "0000020503230105020201d0140100000a0000fffd00060200030000012e042000ffffffff21fff6ff0000",
    "fbfbfbfbfbfbfbfbfb46fbfbfbfbfb5050505050505050505050505050505050505050505050505050505050",
);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_members_snapshot_that_makes_automerge_panic_is_skipped() {
    let (mut laptop, mut phone) = devices();
    let (mut sync, mut doc) = connected();
    let heads = doc.get_heads();
    let snapshot = phone
        .seal(BundleKind::Snapshot, 1, &unhex(PARSER_PANIC))
        .unwrap();
    let message = FromRelay::Snapshot {
        covers: 4,
        part: 0,
        parts: 1,
        snapshot,
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::UnreadableSnapshot { covers: 4, reason } if reason.contains("damaged"))
        ),
        "{events:?}"
    );
    assert_eq!(doc.get_heads(), heads);
    // The entries the snapshot replaced are gone from the relay's log, so the cursor passes
    // them; the device pushes what it holds again (nothing, here).
    assert_eq!(sync.state().cursor, 4);
    // The same bytes as a bundle of changes are skipped too, and the next bundle still applies.
    let bad = phone
        .seal(BundleKind::Changes, 2, &unhex(PARSER_PANIC))
        .unwrap();
    let good = sealed_by(&mut phone, BundleKind::Changes);
    let messages = vec![
        FromRelay::Bundle {
            seq: 5,
            bundle: bad,
        },
        FromRelay::Bundle {
            seq: 6,
            bundle: good,
        },
    ];
    let events = sync.receive_many(&mut doc, &mut laptop, messages).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Skipped { seq: 5, .. })),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Applied { .. })),
        "{events:?}"
    );
    assert_eq!(sync.state().cursor, 6);
}
