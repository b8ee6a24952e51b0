//! The sharing plan decided without a relay: each test builds a device's local view and the
//! relay's answers from real signed lists and certificates, and checks the steps (or refusal).
//! Opening envelopes is checked here too: only the owner's devices may hand out a key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use between_shared::crypto::{
    DeviceCertificate, DeviceKeypair, EpochKey, IdentityKeypair, KeyContext, Member,
    MembershipError, SignedEnvelope, SignedMembership,
};
use between_shared::protocol::{AccountId, DeviceId, DeviceInfo, DocId, DocumentInfo, KeyEnvelope};
use between_shared::{Role, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::keys::open_envelopes;
use super::plan::{Checked, LocalDoc, LocalView, Peer, Step};
use super::SharingError;
use crate::store::DocumentKind;

const DOC: DocId = DocId([5; 16]);

/// A device of `identity` with its certificate.
fn device(identity: &IdentityKeypair, role: Role, seed: u64) -> (DeviceKeypair, DeviceCertificate) {
    let keys = DeviceKeypair::generate(&mut StdRng::seed_from_u64(seed));
    let cert = identity.certify(&keys.public(), role, Timestamp(1));
    (keys, cert)
}

/// `key` for `epoch`, wrapped for `to` and signed by `by`, as the relay hands it out.
fn envelope(
    key: &EpochKey,
    epoch: u32,
    to: &DeviceKeypair,
    by: &(DeviceKeypair, DeviceCertificate),
) -> KeyEnvelope {
    let context = KeyContext {
        doc_id: DOC,
        epoch,
        recipient: to.device_id(),
    };
    let mut rng = StdRng::seed_from_u64(u64::from(epoch));
    let signed = SignedEnvelope::seal(&mut rng, key, &to.public(), &context, &by.0, &by.1).unwrap();
    KeyEnvelope {
        epoch,
        recipient: to.device_id(),
        envelope: signed.to_bytes(),
    }
}

#[test]
fn only_envelopes_signed_by_an_owner_device_give_a_key() {
    let owner = IdentityKeypair::generate(&mut StdRng::seed_from_u64(1));
    let therapist = IdentityKeypair::generate(&mut StdRng::seed_from_u64(2));
    let laptop = device(&owner, Role::Client, 3);
    let phone = device(&owner, Role::Client, 4).0;
    let member = device(&therapist, Role::Therapist, 5);
    let real = EpochKey::from_bytes([1; 32]);
    let squatted = EpochKey::from_bytes([2; 32]);
    let mut envelopes = vec![
        envelope(&real, 1, &phone, &laptop),
        // A member squats a future epoch with a key of its own, properly signed by its own
        // certified device.
        envelope(&squatted, 2, &phone, &member),
    ];
    // An unsigned wrapped key (what builds before signed envelopes stored) for epoch 3.
    let bare = between_shared::crypto::wrap_epoch_key(
        &mut StdRng::seed_from_u64(6),
        &squatted,
        &phone.public(),
        &KeyContext {
            doc_id: DOC,
            epoch: 3,
            recipient: phone.device_id(),
        },
    )
    .unwrap();
    envelopes.push(KeyEnvelope {
        epoch: 3,
        recipient: phone.device_id(),
        envelope: bare.to_bytes(),
    });
    // The owner's envelope refiled by the relay under another epoch.
    envelopes.push(KeyEnvelope {
        epoch: 4,
        ..envelopes[0].clone()
    });
    let keys = open_envelopes(&phone, DOC, &owner.public(), &envelopes);
    assert_eq!(keys, vec![(1, [1; 32])]);
    // Pinned to the wrong owner, even the real envelope is refused.
    assert!(open_envelopes(&phone, DOC, &therapist.public(), &envelopes[..1]).is_empty());
}

const THERAPIST_ACCOUNT: AccountId = AccountId([7; 16]);

fn identity(seed: u64) -> IdentityKeypair {
    IdentityKeypair::generate(&mut StdRng::seed_from_u64(seed))
}

fn info() -> DocumentInfo {
    DocumentInfo {
        doc: DOC,
        owner: AccountId([9; 16]),
    }
}

fn id() -> DocId {
    DOC
}

/// The list `owner` signs: themselves and, when given, a therapist.
fn list(
    owner: &IdentityKeypair,
    serial: u64,
    epoch: u32,
    therapist: Option<&IdentityKeypair>,
) -> SignedMembership {
    let others: Vec<Member> = therapist
        .map(|t| Member {
            identity: t.public(),
            role: Role::Therapist,
        })
        .into_iter()
        .collect();
    SignedMembership::sign(owner, DOC, serial, epoch, &others).unwrap()
}

/// `who`'s view, storing the document with `kept` as its list, at `epoch` (`None`: stopped).
fn view(
    who: &IdentityKeypair,
    role: Role,
    kept: Option<&SignedMembership>,
    epoch: Option<u32>,
) -> LocalView {
    let mut documents = HashMap::new();
    documents.insert(
        id(),
        LocalDoc {
            label: "Sam".into(),
            kind: DocumentKind::Shared,
            membership: kept.map(SignedMembership::to_bytes),
            epoch,
        },
    );
    LocalView {
        me: who.public(),
        role,
        own_devices: Vec::new(),
        documents,
    }
}

/// How the relay lists a device of an account.
fn listed(cert: &DeviceCertificate) -> DeviceInfo {
    DeviceInfo {
        device: cert.device_id(),
        certificate: cert.to_bytes().to_vec(),
        registered_at_ms: 1,
    }
}

/// The steps in words, so a test reads as what the pass does.
fn said(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|step| match step {
            Step::End { label, .. } => format!("end {label}"),
            Step::Rotate { without, .. } => {
                format!("rotate without {}", without.short_fingerprint())
            }
            Step::RecordPeers { devices, .. } => format!("record {} peer devices", devices.len()),
            Step::Keep {
                list,
                sharing_ended,
                ..
            } => format!(
                "keep serial {}{}",
                list.serial(),
                if *sharing_ended {
                    ", sharing ended"
                } else {
                    ""
                }
            ),
            Step::CatchUp { epoch, .. } => format!("catch up to epoch {epoch}"),
            Step::Wrap { recipients, .. } => {
                let mut ids: Vec<String> = recipients
                    .iter()
                    .map(|(c, _)| c.device_id().to_string()[..4].to_owned())
                    .collect();
                ids.sort();
                format!("wrap for {}", ids.join(" "))
            }
            Step::Receive { list, .. } => format!("receive epoch {}", list.epoch()),
            Step::Warn(text) => format!(
                "warn: {}",
                &text[..text.find(' ').map_or(text.len(), |i| i)]
            ),
        })
        .collect()
}

fn short(cert: &DeviceCertificate) -> String {
    cert.device_id().to_string()[..4].to_owned()
}

fn plan(
    view: &LocalView,
    served: &SignedMembership,
    peer: Option<Peer>,
) -> Result<Vec<Step>, SharingError> {
    let checked = view.check(&info(), &served.to_bytes())?;
    view.steps(&info(), &checked, peer)
}

fn checked(view: &LocalView, served: &SignedMembership) -> Checked {
    view.check(&info(), &served.to_bytes()).unwrap()
}

#[test]
fn an_owner_wraps_for_its_other_devices_and_the_devices_the_list_vouches_for() {
    let client = identity(1);
    let therapist = identity(2);
    let stranger = identity(3);
    let phone = device(&client, Role::Client, 4).1;
    let office = device(&therapist, Role::Therapist, 5).1;
    let planted = device(&stranger, Role::Therapist, 6).1;
    let refiled = device(&therapist, Role::Therapist, 7).1;
    let current = list(&client, 1, 1, Some(&therapist));
    let mut laptop = view(&client, Role::Client, Some(&current), Some(1));
    laptop.own_devices = vec![(phone.clone(), phone.to_bytes().to_vec())];

    let checked = checked(&laptop, &current);
    assert_eq!(
        laptop.peer_to_ask(&info(), &checked),
        Some(None),
        "a client asks for its inviter"
    );
    assert!(laptop.asks_whether_still_shared(&checked, &therapist.public()));
    let mut misfiled = listed(&refiled);
    misfiled.device = DeviceId([0; 16]);
    let peer = Peer {
        account: THERAPIST_ACCOUNT,
        identity: therapist.public(),
        devices: vec![listed(&office), listed(&planted), misfiled],
        still_shared: true,
    };
    let steps = laptop.steps(&info(), &checked, Some(peer)).unwrap();
    assert_eq!(
        said(&steps),
        [
            "warn: ignored".to_owned(),
            "warn: ignored".to_owned(),
            "record 1 peer devices".to_owned(),
            "keep serial 1".to_owned(),
            {
                let mut ids = [short(&phone), short(&office)];
                ids.sort();
                format!("wrap for {}", ids.join(" "))
            },
        ]
    );
}

#[test]
fn an_owner_whose_therapist_stopped_sharing_moves_to_a_new_epoch_without_them() {
    let client = identity(1);
    let therapist = identity(2);
    let current = list(&client, 1, 1, Some(&therapist));
    let laptop = view(&client, Role::Client, Some(&current), Some(1));
    let peer = Peer {
        account: THERAPIST_ACCOUNT,
        identity: therapist.public(),
        devices: Vec::new(),
        still_shared: false,
    };
    let steps = plan(&laptop, &current, Some(peer)).unwrap();
    assert_eq!(
        said(&steps),
        [format!(
            "rotate without {}",
            therapist.public().short_fingerprint()
        )]
    );
}

#[test]
fn a_list_that_goes_back_or_changes_under_its_serial_is_refused() {
    let client = identity(1);
    let therapist = identity(2);
    let first = list(&client, 1, 1, Some(&therapist));
    let second = list(&client, 2, 2, None);
    let laptop = view(&client, Role::Client, Some(&second), Some(2));
    let refused = |served: &SignedMembership| match plan(&laptop, served, None) {
        Err(SharingError::BadMembership { source, .. }) => source,
        other => panic!("expected a refusal, got {:?}", other.map(|s| said(&s))),
    };
    assert!(matches!(
        refused(&first),
        MembershipError::Rollback { seen: 2, got: 1 }
    ));
    let same_serial = list(&client, 2, 3, None);
    assert!(matches!(
        refused(&same_serial),
        MembershipError::Rollback { seen: 2, got: 2 }
    ));
    // The list it kept, served again, is fine.
    assert_eq!(
        said(&plan(&laptop, &second, None).unwrap()),
        ["keep serial 2", "wrap for "]
    );
}

#[test]
fn a_therapist_pins_the_owner_on_first_sight_and_refuses_any_other_signer_after() {
    let client = identity(1);
    let therapist = identity(2);
    let impostor = identity(3);
    let served = list(&client, 1, 1, Some(&therapist));
    let mut new_therapist = view(&therapist, Role::Therapist, None, None);
    new_therapist.documents.clear();
    let checked = checked(&new_therapist, &served);
    assert_eq!(checked.owner, client.public());
    assert_eq!(
        new_therapist.peer_to_ask(&info(), &checked),
        Some(Some(info().owner)),
        "a therapist asks for the owner's account"
    );
    assert!(!new_therapist.asks_whether_still_shared(&checked, &client.public()));
    assert_eq!(
        said(&new_therapist.steps(&info(), &checked, None).unwrap()),
        ["receive epoch 1"]
    );

    let pinned = view(&therapist, Role::Therapist, Some(&served), Some(1));
    let forged = list(&impostor, 2, 1, Some(&therapist));
    match plan(&pinned, &forged, None) {
        Err(SharingError::BadMembership {
            source: MembershipError::WrongOwner { .. },
            ..
        }) => {}
        other => panic!(
            "expected the wrong owner, got {:?}",
            other.map(|s| said(&s))
        ),
    }
    // A client's own document is theirs even before any list was kept.
    let fresh_client = view(&client, Role::Client, None, Some(1));
    assert!(matches!(
        plan(&fresh_client, &forged, None),
        Err(SharingError::BadMembership {
            source: MembershipError::WrongOwner { .. },
            ..
        })
    ));
}

#[test]
fn a_removed_member_stops_syncing_once_and_a_client_sees_sharing_end() {
    let client = identity(1);
    let therapist = identity(2);
    let before = list(&client, 1, 1, Some(&therapist));
    let after = list(&client, 2, 2, None);
    let syncing = view(&therapist, Role::Therapist, Some(&before), Some(1));
    assert_eq!(said(&plan(&syncing, &after, None).unwrap()), ["end Sam"]);
    let stopped = view(&therapist, Role::Therapist, Some(&before), None);
    assert!(plan(&stopped, &after, None).unwrap().is_empty());
    // The client's other device takes the new list in: sharing ended, and the new key is fetched.
    let phone = view(&client, Role::Client, Some(&before), Some(1));
    assert_eq!(
        said(&plan(&phone, &after, None).unwrap()),
        [
            "keep serial 2, sharing ended",
            "catch up to epoch 2",
            "wrap for "
        ]
    );
}

#[test]
fn an_owner_with_an_unannounced_epoch_is_told_to_finish_the_removal() {
    let client = identity(1);
    let therapist = identity(2);
    let current = list(&client, 1, 1, Some(&therapist));
    let laptop = view(&client, Role::Client, Some(&current), Some(2));
    let steps = plan(&laptop, &current, None).unwrap();
    assert_eq!(said(&steps), ["keep serial 1", "warn: a"]);
    let Step::Warn(text) = &steps[1] else {
        unreachable!()
    };
    assert!(text.contains("between therapist remove"), "{text}");
}

#[test]
fn documents_the_relay_stops_listing_end_only_when_someone_else_owns_them() {
    let client = identity(1);
    let therapist = identity(2);
    let shared = list(&client, 1, 1, Some(&therapist));
    let theirs = view(&therapist, Role::Therapist, Some(&shared), Some(1));
    assert_eq!(
        said(&theirs.unlisted(&HashSet::new()).unwrap()),
        ["end Sam"]
    );
    assert!(theirs.unlisted(&HashSet::from([id()])).unwrap().is_empty());
    let own = view(&client, Role::Client, Some(&shared), Some(1));
    assert!(own.unlisted(&HashSet::new()).unwrap().is_empty());
    let mut private = view(&therapist, Role::Therapist, Some(&shared), Some(1));
    private
        .documents
        .values_mut()
        .for_each(|d| d.kind = DocumentKind::Private);
    assert!(private.unlisted(&HashSet::new()).unwrap().is_empty());
}
