//! The sync engine given the largest sequence numbers a relay can send: it must not overflow
//! (a panic in a debug build, a wrapped cursor in a release build). Found by the `engine` fuzz
//! target (`fuzz/`); see docs/threat-model.md, "Fuzzing".

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use between_shared::crypto::{DeviceKeypair, EpochKey, IdentityKeypair};
use between_shared::sync::{
    BundleKind, DocSync, Envelope, Event, FromRelay, KeyedEnvelope, SyncState, ToRelay,
};
use between_shared::{Role, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;

const DOC: [u8; 16] = [3; 16];

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
fn a_bundle_at_the_largest_sequence_number_is_skipped_without_overflow() {
    let (mut laptop, mut phone) = devices();
    let (mut sync, mut doc) = connected();
    let message = FromRelay::Bundle {
        seq: u64::MAX,
        bundle: b"not a bundle".to_vec(),
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Skipped { seq: u64::MAX, .. })),
        "{events:?}"
    );
    assert_eq!(sync.state().cursor, u64::MAX);
    // Nothing can follow it; a later bundle at the same position is not applied again.
    let message = FromRelay::Bundle {
        seq: u64::MAX,
        bundle: sealed_by(&mut phone, BundleKind::Changes),
    };
    assert_eq!(sync.receive(&mut doc, &mut laptop, message).unwrap(), []);
}

#[test]
fn a_snapshot_covering_the_largest_sequence_number_does_not_overflow_compaction() {
    let (mut laptop, mut phone) = devices();
    let (mut sync, mut doc) = connected();
    let message = FromRelay::Snapshot {
        covers: u64::MAX,
        snapshot: sealed_by(&mut phone, BundleKind::Snapshot),
    };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Applied { .. })),
        "{events:?}"
    );
    assert_eq!(sync.state().snapshot_covers, u64::MAX);
    // Catching up makes the engine consider compaction: nothing lies past the snapshot.
    let message = FromRelay::CaughtUp { head: u64::MAX };
    let events = sync.receive(&mut doc, &mut laptop, message).unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Send(ToRelay::PutSnapshot { .. }))),
        "{events:?}"
    );
}
