//! The relay core's rules, tested in-process against a real SQLite store: who may compact,
//! who may store key envelopes and for which epochs, what every served request records,
//! catch-up for a member removed midway, live-stream gaps, and arithmetic on extreme values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::handshake::fresh;
use super::log::{catch_up_page, live_step, LiveStep};
use super::*;
use crate::store::sqlite::SqliteStore;
use crate::store::{AccountRole, DeviceRecord};
use crate::store::{AccountStore, DocumentStore, LogStore};
use between_shared::crypto::{BundleHeader, BundleKind, IdentityKeypair, Member, SignedMembership};
use between_shared::protocol::{KeyEnvelope, ServerMessage};
use between_shared::Role;
use proptest::prelude::*;

/// A fixed "now" (Unix milliseconds).
const T0: i64 = 1_700_000_000_000;

/// A relay store on a temporary file and the connections of a client and their therapist.
struct World {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    policy: Policy,
    doc: DocId,
    /// The client's identity.
    client_identity: IdentityKeypair,
    /// The client's laptop (owner's device).
    laptop: Connection,
    /// The therapist's identity.
    therapist_identity: IdentityKeypair,
    /// The therapist's device (a member, not the owner).
    therapist: Connection,
    /// A device of an account that is no member of the document.
    stranger: Connection,
}

fn device(n: u8) -> DeviceId {
    DeviceId([n; 16])
}

impl World {
    /// A client (device 1) whose document holds bundles 1..=3, shared with a therapist
    /// (device 2); a stranger client (device 3).
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let mut rng = rand::rng();
        let client_identity = IdentityKeypair::generate(&mut rng);
        let therapist_identity = IdentityKeypair::generate(&mut rng);
        let stranger_identity = IdentityKeypair::generate(&mut rng);
        let mut connect = |n: u8, identity: &IdentityKeypair, role| {
            let account = AccountId([n; 16]);
            store
                .create_account(account, identity.public().0, role, T0)
                .unwrap();
            store
                .register_device(&DeviceRecord {
                    device: device(n),
                    account,
                    signing_pub: [n; 32],
                    certificate: vec![n],
                    registered_at_ms: T0,
                })
                .unwrap();
            let mut conn = Connection::new(Challenge([0; 32]));
            conn.signed_in = Some(SignedIn {
                account,
                device: device(n),
            });
            conn
        };
        let laptop = connect(1, &client_identity, AccountRole::Client);
        let therapist = connect(2, &therapist_identity, AccountRole::Therapist);
        let stranger = connect(3, &stranger_identity, AccountRole::Client);
        let doc = DocId([9; 16]);
        store.create_document(doc, AccountId([1; 16]), T0).unwrap();
        store.add_member(doc, AccountId([2; 16])).unwrap();
        for counter in 1..=3 {
            store
                .append_bundle(doc, &sealed(BundleKind::Changes, doc, 1, counter), T0)
                .unwrap();
        }
        World {
            _dir: dir,
            store,
            policy: Policy {
                origin: "ws://relay.test".to_owned(),
                max_skew: std::time::Duration::from_secs(300),
            },
            doc,
            client_identity,
            laptop,
            therapist_identity,
            therapist,
            stranger,
        }
    }

    /// Handles `message` on the connection `who` picks.
    fn send(&mut self, who: fn(&mut World) -> &mut Connection, message: ClientMessage) -> Effects {
        let mut conn = who(self).clone();
        let effects = handle(
            &mut Ctx {
                now_ms: T0,
                new_id: [7; 16],
                policy: &self.policy,
                conn: &mut conn,
                store: &mut self.store,
            },
            message,
        )
        .unwrap();
        *who(self) = conn;
        effects
    }

    /// The sequence numbers a device catching up from 0 receives (snapshot covers first).
    fn log(&self) -> (Option<u64>, Vec<u64>) {
        let page = self
            .store
            .read_log(self.doc, Seq::ZERO, 1000, usize::MAX)
            .unwrap();
        (
            page.snapshot.map(|s| s.covers.0),
            page.bundles.iter().map(|b| b.seq.0).collect(),
        )
    }

    /// The owner's signed list: the therapist a member, at `epoch`, with `serial`.
    fn membership(&self, serial: u64, epoch: u32) -> Vec<u8> {
        SignedMembership::sign(
            &self.client_identity,
            self.doc,
            serial,
            epoch,
            &[Member {
                identity: self.therapist_identity.public(),
                role: Role::Therapist,
            }],
        )
        .unwrap()
        .to_bytes()
    }
}

fn laptop(w: &mut World) -> &mut Connection {
    &mut w.laptop
}
fn therapist(w: &mut World) -> &mut Connection {
    &mut w.therapist
}
fn stranger(w: &mut World) -> &mut Connection {
    &mut w.stranger
}

/// Bytes that start with a sealed header of `kind` for `doc` by device `author` (the relay
/// reads only the header).
fn sealed(kind: BundleKind, doc: DocId, author: u8, counter: u64) -> Vec<u8> {
    let header = BundleHeader::new(kind, doc, 1, device(author), counter);
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(&[0xAB; 64]);
    bytes
}

/// The error code of the only reply, if it is an error.
fn refused(effects: &Effects) -> Option<ErrorCode> {
    match (effects.replies.as_slice(), &effects.close) {
        ([ServerMessage::Error { code, .. }], None)
        | ([], Some(ServerMessage::Error { code, .. })) => Some(*code),
        _ => None,
    }
}

/// The audit actions recorded.
fn actions(effects: &Effects) -> Vec<&str> {
    effects.audit.iter().map(|r| r.action.as_str()).collect()
}

fn put_snapshot(doc: DocId, covers: u64, snapshot: Vec<u8>) -> ClientMessage {
    put_snapshot_part(doc, covers, (0, 1), snapshot)
}

fn put_snapshot_part(
    doc: DocId,
    covers: u64,
    (part, parts): (u32, u32),
    snapshot: Vec<u8>,
) -> ClientMessage {
    ClientMessage::PutSnapshot {
        request: RequestId(1),
        doc,
        covers: Seq(covers),
        part,
        parts,
        snapshot,
    }
}

/// The relay's first catch-up page for the therapist, from position 0.
fn catch_up_from_zero(w: &mut World) -> Effects {
    let doc = w.doc;
    let effects = w.send(
        therapist,
        ClientMessage::Subscribe {
            request: RequestId(1),
            doc,
            since: Seq(0),
        },
    );
    let mut conn = w.therapist.clone();
    catch_up_page(
        &mut Ctx {
            now_ms: T0,
            new_id: [0; 16],
            policy: &w.policy,
            conn: &mut conn,
            store: &mut w.store,
        },
        effects.catch_up.unwrap(),
    )
    .unwrap()
}

#[test]
fn a_snapshot_in_parts_replaces_the_log_only_once_its_last_part_is_stored() {
    let mut w = World::new();
    let doc = w.doc;
    let whole = (None, vec![1, 2, 3]);
    let sealed = sealed(BundleKind::Snapshot, doc, 1, 9);
    let cut: Vec<Vec<u8>> = sealed.chunks(50).map(<[u8]>::to_vec).collect();
    assert_eq!(cut.len(), 3);
    let ack = [ServerMessage::Ack {
        request: RequestId(1),
        doc,
        seq: Seq(2),
    }];

    // Part 0 is acknowledged and kept aside: the log is unchanged, nothing is audited yet.
    let effects = w.send(laptop, put_snapshot_part(doc, 2, (0, 3), cut[0].clone()));
    assert_eq!(effects.replies, ack);
    assert!(actions(&effects).is_empty());
    assert_eq!(w.log(), whole);
    // Another member cannot add a part to it.
    let effects = w.send(therapist, put_snapshot_part(doc, 2, (1, 3), cut[1].clone()));
    assert_eq!(refused(&effects), Some(ErrorCode::Forbidden));
    // A part that skips one is refused and stores nothing.
    let effects = w.send(laptop, put_snapshot_part(doc, 2, (2, 3), cut[2].clone()));
    assert_eq!(refused(&effects), Some(ErrorCode::BadRequest));
    assert_eq!(actions(&effects), ["refused-snapshot"]);
    assert_eq!(w.log(), whole);
    // Part 0's sealed header is checked as a whole snapshot's; later parts are opaque.
    let effects = w.send(laptop, put_snapshot_part(doc, 2, (0, 3), vec![0x42; 50]));
    assert_eq!(refused(&effects), Some(ErrorCode::Malformed));

    // In order, from part 0: the last part stores it and drops the bundles it covers.
    for (part, bytes) in (0..).zip(&cut) {
        let effects = w.send(laptop, put_snapshot_part(doc, 2, (part, 3), bytes.clone()));
        assert_eq!(effects.replies, ack, "part {part}");
        let audited: &[&str] = if part == 2 { &["snapshot"] } else { &[] };
        assert_eq!(actions(&effects), audited);
    }
    assert_eq!(w.log(), (Some(2), vec![3]));

    // A device catching up receives it in its parts, in order, then the tail.
    let page = catch_up_from_zero(&mut w);
    let mut joined = Vec::new();
    for (part, reply) in (0..).zip(&page.replies[..3]) {
        let ServerMessage::Snapshot {
            covers,
            part: got,
            parts,
            snapshot,
            ..
        } = reply
        else {
            panic!("expected a snapshot part, got {reply:?}");
        };
        assert_eq!((*covers, *got, *parts), (Seq(2), part, 3));
        joined.extend_from_slice(snapshot);
    }
    assert_eq!(joined, sealed);
    assert!(matches!(
        &page.replies[3..],
        [
            ServerMessage::Bundle { seq: Seq(3), .. },
            ServerMessage::CaughtUp { .. }
        ]
    ));
}

#[test]
fn only_the_owners_devices_compact_and_only_with_their_own_sealed_snapshot() {
    let mut w = World::new();
    let doc = w.doc;
    let whole = (None, vec![1, 2, 3]);

    // The therapist is a member, but compacting would let them wipe the client's log.
    let effects = w.send(
        therapist,
        put_snapshot(doc, 3, sealed(BundleKind::Snapshot, doc, 2, 9)),
    );
    assert_eq!(refused(&effects), Some(ErrorCode::Forbidden));
    assert_eq!(actions(&effects), ["refused-snapshot"]);
    assert_eq!(w.log(), whole);

    // A stranger learns only that it is not a member.
    let effects = w.send(
        stranger,
        put_snapshot(doc, 3, sealed(BundleKind::Snapshot, doc, 3, 9)),
    );
    assert_eq!(refused(&effects), Some(ErrorCode::NotMember));
    assert_eq!(w.log(), whole);

    // The owner's device, with anything but its own sealed snapshot of this document.
    let wrong = [
        (
            sealed(BundleKind::Snapshot, DocId([8; 16]), 1, 9),
            ErrorCode::BadRequest,
        ),
        (
            sealed(BundleKind::Snapshot, doc, 2, 9),
            ErrorCode::BadRequest,
        ),
        (
            sealed(BundleKind::Changes, doc, 1, 9),
            ErrorCode::BadRequest,
        ),
        (vec![0x42; 200], ErrorCode::Malformed),
        (Vec::new(), ErrorCode::Malformed),
    ];
    for (snapshot, code) in wrong {
        let effects = w.send(laptop, put_snapshot(doc, 3, snapshot));
        assert_eq!(refused(&effects), Some(code));
        assert_eq!(actions(&effects), ["refused-snapshot"]);
        assert_eq!(w.log(), whole, "a refused snapshot drops nothing");
    }
    // Beyond the head, or covering nothing.
    for covers in [4, u64::MAX, 0] {
        let effects = w.send(
            laptop,
            put_snapshot(doc, covers, sealed(BundleKind::Snapshot, doc, 1, 9)),
        );
        assert_eq!(
            refused(&effects),
            Some(ErrorCode::BadRequest),
            "covers {covers}"
        );
        assert_eq!(w.log(), whole);
    }

    let effects = w.send(
        laptop,
        put_snapshot(doc, 2, sealed(BundleKind::Snapshot, doc, 1, 9)),
    );
    assert_eq!(
        effects.replies,
        [ServerMessage::Ack {
            request: RequestId(1),
            doc,
            seq: Seq(2)
        }]
    );
    assert_eq!(actions(&effects), ["snapshot"]);
    assert_eq!(w.log(), (Some(2), vec![3]));
}

fn put_keys(doc: DocId, epoch: u32, recipient: u8, envelope: &[u8]) -> ClientMessage {
    ClientMessage::PutKeyEnvelopes {
        request: RequestId(2),
        doc,
        envelopes: vec![KeyEnvelope {
            epoch,
            recipient: DeviceId([recipient; 16]),
            envelope: envelope.to_vec(),
        }],
    }
}

fn envelopes_of(w: &World, recipient: u8) -> Vec<(u32, Vec<u8>)> {
    w.store
        .key_envelopes(w.doc, device(recipient))
        .unwrap()
        .into_iter()
        .map(|e| (e.epoch, e.bytes))
        .collect()
}

#[test]
fn only_the_owner_stores_key_envelopes_and_only_for_epochs_its_list_reached() {
    let mut w = World::new();
    let doc = w.doc;

    // A member squatting the therapist's own envelope of a future epoch: refused.
    let effects = w.send(therapist, put_keys(doc, 2, 2, b"planted"));
    assert_eq!(refused(&effects), Some(ErrorCode::Forbidden));
    assert_eq!(actions(&effects), ["refused-put-keys"]);
    let effects = w.send(stranger, put_keys(doc, 1, 2, b"planted"));
    assert_eq!(refused(&effects), Some(ErrorCode::NotMember));
    assert!(envelopes_of(&w, 2).is_empty());

    // Before any list, only the first epoch exists; epoch 0 never does.
    for epoch in [0, 2, u32::MAX] {
        let effects = w.send(laptop, put_keys(doc, epoch, 2, b"key"));
        assert_eq!(
            refused(&effects),
            Some(ErrorCode::BadRequest),
            "epoch {epoch}"
        );
    }
    // Nor for a device of a non-member.
    let effects = w.send(laptop, put_keys(doc, 1, 3, b"key"));
    assert_eq!(refused(&effects), Some(ErrorCode::BadRequest));
    assert!(envelopes_of(&w, 2).is_empty() && envelopes_of(&w, 3).is_empty());

    let effects = w.send(laptop, put_keys(doc, 1, 2, b"first"));
    assert_eq!(
        effects.replies,
        [ServerMessage::Done {
            request: RequestId(2)
        }]
    );
    assert_eq!(actions(&effects), ["put-keys"]);
    // The owner can always overwrite what is stored.
    w.send(laptop, put_keys(doc, 1, 2, b"second"));
    assert_eq!(envelopes_of(&w, 2), [(1, b"second".to_vec())]);

    // The owner's list moves to epoch 2: now epoch 2 exists, epoch 3 still does not.
    let list = w.membership(1, 2);
    let effects = w.send(
        laptop,
        ClientMessage::PutMembership {
            request: RequestId(3),
            doc,
            membership: list,
        },
    );
    assert_eq!(
        effects.replies,
        [ServerMessage::Done {
            request: RequestId(3)
        }]
    );
    let effects = w.send(laptop, put_keys(doc, 3, 2, b"future"));
    assert_eq!(refused(&effects), Some(ErrorCode::BadRequest));
    w.send(laptop, put_keys(doc, 2, 2, b"epoch two"));
    assert_eq!(
        envelopes_of(&w, 2),
        [(1, b"second".to_vec()), (2, b"epoch two".to_vec())]
    );
}

#[test]
fn a_membership_list_must_verify_and_come_from_the_owner() {
    let mut w = World::new();
    let doc = w.doc;
    let mut list = w.membership(1, 1);
    // Flip a bit of the signature (the last bytes).
    let last = list.len() - 1;
    list[last] ^= 1;
    let effects = w.send(
        laptop,
        ClientMessage::PutMembership {
            request: RequestId(3),
            doc,
            membership: list,
        },
    );
    assert_eq!(refused(&effects), Some(ErrorCode::BadRequest));
    let effects = w.send(
        therapist,
        ClientMessage::PutMembership {
            request: RequestId(3),
            doc,
            membership: w.membership(1, 1),
        },
    );
    assert_eq!(refused(&effects), Some(ErrorCode::Forbidden));
    assert!(w.store.membership(doc).unwrap().is_none());
}

#[test]
fn every_served_request_is_recorded_before_it_is_answered() {
    let mut w = World::new();
    let doc = w.doc;
    let requests = [
        ClientMessage::Subscribe {
            request: RequestId(1),
            doc,
            since: Seq(0),
        },
        ClientMessage::GetKeyEnvelopes {
            request: RequestId(1),
            doc,
        },
        ClientMessage::GetMembership {
            request: RequestId(1),
            doc,
        },
        ClientMessage::ListDocuments {
            request: RequestId(1),
        },
        ClientMessage::GetAudit {
            request: RequestId(1),
            doc: Some(doc),
            after: 0,
            limit: 10,
        },
        ClientMessage::Push {
            request: RequestId(1),
            doc,
            bundle: sealed(BundleKind::Changes, doc, 2, 1),
        },
    ];
    for request in requests {
        let name = request.name();
        let effects = w.send(therapist, request.clone());
        assert!(refused(&effects).is_none(), "{name} was served");
        // A push's record is written with the bundle, in the store's own transaction.
        if name != "push" {
            assert_eq!(effects.audit.len(), 1, "{name} is recorded");
        }
        let effects = w.send(stranger, request);
        if name != "list_documents" {
            assert!(
                refused(&effects).is_some(),
                "{name} is refused to a stranger"
            );
            assert!(
                actions(&effects).iter().all(|a| a.starts_with("refused-")),
                "{name}: {:?}",
                actions(&effects)
            );
        }
    }
}

#[test]
fn a_push_is_forwarded_as_committed_and_refused_with_a_foreign_header() {
    let mut w = World::new();
    let doc = w.doc;
    let bundle = sealed(BundleKind::Changes, doc, 2, 1);
    let effects = w.send(
        therapist,
        ClientMessage::Push {
            request: RequestId(5),
            doc,
            bundle: bundle.clone(),
        },
    );
    assert_eq!(
        effects.forward,
        Some(ServerMessage::Bundle {
            doc,
            seq: Seq(4),
            bundle
        })
    );
    // Claiming the client's device as author, or sealed as a snapshot.
    for bundle in [
        sealed(BundleKind::Changes, doc, 1, 2),
        sealed(BundleKind::Snapshot, doc, 2, 2),
    ] {
        let effects = w.send(
            therapist,
            ClientMessage::Push {
                request: RequestId(6),
                doc,
                bundle,
            },
        );
        assert_eq!(refused(&effects), Some(ErrorCode::BadRequest));
        assert_eq!(effects.forward, None);
    }
    assert_eq!(w.log(), (None, vec![1, 2, 3, 4]));
}

#[test]
fn a_member_removed_while_catching_up_stops_receiving_at_once() {
    let mut w = World::new();
    let doc = w.doc;
    let effects = w.send(
        therapist,
        ClientMessage::Subscribe {
            request: RequestId(1),
            doc,
            since: Seq(0),
        },
    );
    let catch_up = effects.catch_up.unwrap();
    assert_eq!(effects.hub, [HubChange::Join(doc)]);
    w.store.remove_member(doc, AccountId([2; 16])).unwrap();
    let mut conn = w.therapist.clone();
    let page = catch_up_page(
        &mut Ctx {
            now_ms: T0,
            new_id: [0; 16],
            policy: &w.policy,
            conn: &mut conn,
            store: &mut w.store,
        },
        catch_up,
    )
    .unwrap();
    assert_eq!(refused(&page), Some(ErrorCode::NotMember));
    assert_eq!(page.hub, [HubChange::Leave(doc)]);
    assert!(page.catch_up.is_none());
}

#[test]
fn a_catch_up_pages_through_the_log_and_announces_only_when_asked() {
    let mut w = World::new();
    let doc = w.doc;
    let extra = u64::try_from(log::CATCH_UP_PAGE).unwrap();
    for counter in 0..extra {
        w.store
            .append_bundle(doc, &sealed(BundleKind::Changes, doc, 1, 10 + counter), T0)
            .unwrap();
    }
    let head = 3 + extra;
    for announce in [true, false] {
        let mut next = Some(CatchUp {
            request: RequestId(1),
            doc,
            since: Seq(1),
            announce,
        });
        let mut seqs = Vec::new();
        let mut caught_up = Vec::new();
        while let Some(catch_up) = next {
            let mut conn = w.laptop.clone();
            let page = catch_up_page(
                &mut Ctx {
                    now_ms: T0,
                    new_id: [0; 16],
                    policy: &w.policy,
                    conn: &mut conn,
                    store: &mut w.store,
                },
                catch_up,
            )
            .unwrap();
            for reply in &page.replies {
                match reply {
                    ServerMessage::Bundle { seq, .. } => seqs.push(seq.0),
                    ServerMessage::CaughtUp { head, .. } => caught_up.push(head.0),
                    other => panic!("unexpected {other:?}"),
                }
            }
            next = page.catch_up;
        }
        assert_eq!(seqs, (2..=head).collect::<Vec<_>>());
        assert_eq!(caught_up, if announce { vec![head] } else { vec![] });
    }
}

#[test]
fn live_frames_are_skipped_sent_or_preceded_by_what_is_missing() {
    assert_eq!(live_step(Seq(5), Seq(3)), LiveStep::Skip);
    assert_eq!(live_step(Seq(5), Seq(5)), LiveStep::Skip);
    assert_eq!(live_step(Seq(5), Seq(6)), LiveStep::Send);
    assert_eq!(live_step(Seq(5), Seq(9)), LiveStep::Fill(Seq(5)));
    assert_eq!(live_step(Seq(0), Seq(u64::MAX)), LiveStep::Fill(Seq(0)));
    assert_eq!(live_step(Seq(u64::MAX), Seq(u64::MAX)), LiveStep::Skip);
    assert_eq!(live_step(Seq(u64::MAX - 1), Seq(u64::MAX)), LiveStep::Send);
}

#[test]
fn a_sign_in_stamped_near_the_ends_of_time_is_stale_not_a_wrap() {
    let skew = 300_000;
    assert!(fresh(T0, T0, skew));
    assert!(fresh(T0, T0 - 300_000, skew));
    assert!(!fresh(T0, T0 - 300_001, skew));
    // `(now - ts).abs()` wrapped for these in release builds and let them through.
    assert!(!fresh(T0, T0.wrapping_sub(i64::MAX).wrapping_sub(1), skew));
    assert!(!fresh(T0, i64::MIN, skew));
    assert!(!fresh(T0, i64::MAX, skew));
    assert!(!fresh(i64::MIN, i64::MAX, u64::MAX - 1));
    assert!(fresh(i64::MIN, i64::MAX, u64::MAX));
}

proptest! {
    #[test]
    fn freshness_is_the_true_distance(now in any::<i64>(), ts in any::<i64>(), skew in any::<u64>()) {
        let distance = (i128::from(now) - i128::from(ts)).unsigned_abs();
        prop_assert_eq!(fresh(now, ts, skew), distance <= u128::from(skew));
    }

    #[test]
    fn live_steps_never_overflow(delivered in any::<u64>(), seq in any::<u64>()) {
        let step = live_step(Seq(delivered), Seq(seq));
        let expected = if seq <= delivered {
            LiveStep::Skip
        } else if u128::from(seq) == u128::from(delivered) + 1 {
            LiveStep::Send
        } else {
            LiveStep::Fill(Seq(delivered))
        };
        prop_assert_eq!(step, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// The adversarial-member suite: every role × every message type, with hostile payloads.
// ---------------------------------------------------------------------------------------------

/// Who acts: a device of the owner other than the laptop (the phone), the member therapist, a
/// therapist the owner removed, another client, and a device that never signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    OwnPhone,
    Therapist,
    RemovedTherapist,
    OtherClient,
    Unregistered,
}

const ROLES: [Party; 5] = [
    Party::OwnPhone,
    Party::Therapist,
    Party::RemovedTherapist,
    Party::OtherClient,
    Party::Unregistered,
];

/// The parties beyond [`World::new`]'s: the phone (device 4 of the client's account) and a
/// removed therapist (device 5, account 5, once a member).
struct Arena {
    world: World,
    phone: Connection,
    removed: Connection,
    unregistered: Connection,
    /// The owner's log (seq → bytes) and membership when the attack began.
    log_before: Vec<(u64, Vec<u8>)>,
    /// Whether the therapist left the document (its own right; it ends only its own access).
    therapist_left: bool,
}

impl Arena {
    fn new() -> Self {
        let mut world = World::new();
        let client = AccountId([1; 16]);
        world
            .store
            .register_device(&DeviceRecord {
                device: device(4),
                account: client,
                signing_pub: [4; 32],
                certificate: vec![4],
                registered_at_ms: T0,
            })
            .unwrap();
        let removed_account = AccountId([5; 16]);
        let removed_identity = IdentityKeypair::generate(&mut rand::rng());
        world
            .store
            .create_account(
                removed_account,
                removed_identity.public().0,
                AccountRole::Therapist,
                T0,
            )
            .unwrap();
        world
            .store
            .register_device(&DeviceRecord {
                device: device(5),
                account: removed_account,
                signing_pub: [5; 32],
                certificate: vec![5],
                registered_at_ms: T0,
            })
            .unwrap();
        world.store.add_member(world.doc, removed_account).unwrap();
        world
            .store
            .remove_member(world.doc, removed_account)
            .unwrap();
        // The owner's current list (serial 1, epoch 2) and envelopes for both members' devices.
        let list = world.membership(1, 2);
        let effects = world.send(
            laptop,
            ClientMessage::PutMembership {
                request: RequestId(1),
                doc: world.doc,
                membership: list,
            },
        );
        assert!(refused(&effects).is_none());
        for recipient in [2, 4] {
            let effects = world.send(laptop, put_keys(world.doc, 2, recipient, b"real key"));
            assert!(refused(&effects).is_none());
        }
        let signed_in = |n: u8, account: AccountId| {
            let mut conn = Connection::new(Challenge([0; 32]));
            conn.signed_in = Some(SignedIn {
                account,
                device: device(n),
            });
            conn
        };
        let log_before = Self::log_of(&world);
        Arena {
            phone: signed_in(4, client),
            removed: signed_in(5, removed_account),
            unregistered: Connection::new(Challenge([3; 32])),
            world,
            log_before,
            therapist_left: false,
        }
    }

    fn log_of(world: &World) -> Vec<(u64, Vec<u8>)> {
        world
            .store
            .bundles_since(world.doc, Seq::ZERO, 10_000, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|b| (b.seq.0, b.bytes))
            .collect()
    }

    fn connection(&mut self, role: Party) -> &mut Connection {
        match role {
            Party::OwnPhone => &mut self.phone,
            Party::Therapist => &mut self.world.therapist,
            Party::RemovedTherapist => &mut self.removed,
            Party::OtherClient => &mut self.world.stranger,
            Party::Unregistered => &mut self.unregistered,
        }
    }

    /// The device id (one repeated byte) a role signs as.
    fn device_byte(role: Party) -> u8 {
        match role {
            Party::OwnPhone => 4,
            Party::Therapist => 2,
            Party::RemovedTherapist => 5,
            Party::OtherClient => 3,
            Party::Unregistered => 6,
        }
    }

    fn act(&mut self, role: Party, message: ClientMessage) -> Effects {
        let mut conn = self.connection(role).clone();
        let effects = handle(
            &mut Ctx {
                now_ms: T0,
                new_id: [8; 16],
                policy: &self.world.policy,
                conn: &mut conn,
                store: &mut self.world.store,
            },
            message,
        )
        .unwrap();
        *self.connection(role) = conn;
        effects
    }
}

/// The message kinds (of [`hostile`]) that are the owner's rights: compaction, key envelopes,
/// membership, deletion, removing a device.
const OWNER_RIGHTS: [u8; 5] = [1, 2, 3, 9, 11];

/// A hostile message of kind `kind` from `role`, its payload picked by `pick` and `bytes`.
fn hostile(arena: &Arena, role: Party, kind: u8, pick: u8, bytes: Vec<u8>) -> ClientMessage {
    let w = &arena.world;
    let me = Arena::device_byte(role);
    let request = RequestId(u64::from(pick));
    let doc = match pick % 3 {
        0 | 1 => w.doc,
        _ => DocId([pick; 16]),
    };
    let seq = [0, 1, 3, 4, u64::MAX - 1, u64::MAX][usize::from(pick % 6)];
    let epoch = [0, 1, 2, 3, u32::MAX][usize::from(pick % 5)];
    let replayed = arena.log_before[usize::from(pick) % arena.log_before.len()]
        .1
        .clone();
    let bundle = match pick % 5 {
        0 => bytes,
        1 => sealed(BundleKind::Changes, doc, me, u64::from(pick)),
        2 => sealed(BundleKind::Changes, doc, 1, u64::from(pick)),
        3 => replayed,
        _ => sealed(BundleKind::Snapshot, doc, me, u64::from(pick)),
    };
    match kind % 22 {
        0 => ClientMessage::Push {
            request,
            doc,
            bundle,
        },
        1 => ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(seq),
            // Whole, the first of two parts, or the second.
            part: u32::from(pick % 3 == 2),
            parts: 1 + u32::from(!pick.is_multiple_of(3)),
            snapshot: bundle,
        },
        2 => ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: vec![KeyEnvelope {
                epoch,
                recipient: DeviceId([[2, 4, me][usize::from(pick % 3)]; 16]),
                envelope: bundle,
            }],
        },
        3 => ClientMessage::PutMembership {
            request,
            doc,
            membership: match pick % 3 {
                0 => bundle,
                // Signed by someone who is not the owner.
                1 => SignedMembership::sign(&w.therapist_identity, doc, 9, 9, &[])
                    .unwrap()
                    .to_bytes(),
                // The owner's own list, replayed (its serial is not new).
                _ => w.membership(1, 2),
            },
        },
        4 => ClientMessage::Subscribe {
            request,
            doc,
            since: Seq(seq),
        },
        5 => ClientMessage::GetKeyEnvelopes { request, doc },
        6 => ClientMessage::GetMembership { request, doc },
        7 => ClientMessage::GetAudit {
            request,
            doc: Some(doc),
            after: seq,
            limit: u32::MAX,
        },
        8 => ClientMessage::GetAudit {
            request,
            doc: None,
            after: seq,
            limit: u32::from(pick),
        },
        9 => ClientMessage::DeleteDocument { request, doc },
        10 => ClientMessage::LeaveDocument { request, doc },
        11 => ClientMessage::RevokeDevice {
            request,
            device: DeviceId([[1, 4, 2][usize::from(pick % 3)]; 16]),
        },
        12 => ClientMessage::GetAccount {
            request,
            account: Some(AccountId([pick % 6; 16])),
        },
        13 => ClientMessage::CreateInvite {
            request,
            invite_hash: [pick; 32],
            expires_at_ms: [i64::MIN, 0, T0 + 1, i64::MAX][usize::from(pick % 4)],
        },
        14 => ClientMessage::PutPairing {
            request,
            mailbox: between_shared::protocol::Mailbox([pick; 32]),
            payload: bundle,
            expires_at_ms: [i64::MIN, T0, i64::MAX][usize::from(pick % 3)],
        },
        15 => ClientMessage::TakePairing {
            request,
            mailbox: between_shared::protocol::Mailbox([pick; 32]),
        },
        16 => ClientMessage::CreateDocument { request, doc },
        17 => ClientMessage::ListDocuments { request },
        18 => ClientMessage::ListDevices { request },
        19 => ClientMessage::Unsubscribe { request, doc },
        20 => ClientMessage::SignIn {
            device: DeviceId([[1, me][usize::from(pick % 2)]; 16]),
            timestamp_ms: [i64::MIN, T0, i64::MAX][usize::from(pick % 3)],
            signature: [pick; 64],
        },
        _ => ClientMessage::Ping {
            nonce: u64::from(pick),
        },
    }
}

/// What a party that is not a member of `doc` must never receive about it.
fn leaks_document(effects: &Effects, doc: DocId) -> bool {
    effects
        .replies
        .iter()
        .chain(&effects.forward)
        .any(|reply| match reply {
            ServerMessage::Bundle { doc: d, .. }
            | ServerMessage::Snapshot { doc: d, .. }
            | ServerMessage::KeyEnvelopes { doc: d, .. }
            | ServerMessage::Membership { doc: d, .. } => *d == doc,
            ServerMessage::Audit { doc: Some(d), .. } => *d == doc,
            _ => false,
        })
        || effects.catch_up.is_some_and(|c| c.doc == doc)
}

/// After a hostile message: nothing the owner stored is lost or replaced, no non-member learned
/// anything of the document, and the owner's devices can still write and read it.
fn assert_nobody_overreached(arena: &mut Arena, role: Party, effects: &Effects) {
    let doc = arena.world.doc;
    let store = &arena.world.store;
    assert!(
        store.document(doc).unwrap().is_some(),
        "the document is gone"
    );
    // Every bundle of the owner's log is still served (others may have appended after it).
    let now = Arena::log_of(&arena.world);
    assert!(
        now.starts_with(&arena.log_before),
        "the owner's log lost entries: {:?}",
        now.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert!(
        store.snapshot(doc).unwrap().is_none(),
        "someone compacted the owner's log"
    );
    let list = store.membership(doc).unwrap().unwrap();
    assert_eq!(
        list.bytes,
        arena.world.membership(1, 2),
        "the membership list changed"
    );
    assert_eq!(envelopes_of(&arena.world, 4), [(2, b"real key".to_vec())]);
    if !arena.therapist_left {
        assert_eq!(envelopes_of(&arena.world, 2), [(2, b"real key".to_vec())]);
        assert!(store.is_member(doc, AccountId([2; 16])).unwrap());
    }
    for owned in [1, 4] {
        let entry = store.device(device(owned)).unwrap().unwrap();
        assert!(!entry.disabled, "the owner's device {owned} was disabled");
    }
    let account = arena.connection(role).signed_in().map(|s| s.account);
    let store = &arena.world.store;
    let member = match account {
        Some(account) => store.is_member(doc, account).unwrap(),
        None => false,
    };
    if !member {
        assert!(
            !leaks_document(effects, doc),
            "{role:?} learned about the document: {effects:?}"
        );
    }
    // Invariant 4: what is refused is recorded as refused, what is served is recorded.
    for record in &effects.audit {
        assert!(!record.action.is_empty());
    }
}

/// Every role × every message kind × 60 payload picks (other documents, future and absurd
/// epochs, extreme `covers`/`seq`/times, random bytes, forged authors, replays of the owner's
/// bundles and list), each checked on its own arena so one kind's effects do not mask another's.
#[test]
fn every_role_sends_every_message_with_hostile_payloads() {
    for role in ROLES {
        for kind in 0..22_u8 {
            if role == Party::OwnPhone && OWNER_RIGHTS.contains(&kind) {
                continue;
            }
            let mut arena = Arena::new();
            for pick in 0..60_u8 {
                let bytes = (0..pick).map(|i| i.wrapping_mul(37) ^ kind).collect();
                let message = hostile(&arena, role, kind, pick, bytes);
                let leaving = matches!(message, ClientMessage::LeaveDocument { doc, .. } if doc == arena.world.doc);
                let effects = arena.act(role, message);
                if role == Party::Therapist && leaving && refused(&effects).is_none() {
                    arena.therapist_left = true;
                }
                assert_nobody_overreached(&mut arena, role, &effects);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn no_member_can_wipe_starve_or_read_another(
        actions in proptest::collection::vec(
            (0..ROLES.len(), any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..120)),
            1..24,
        )
    ) {
        let mut arena = Arena::new();
        for (role, kind, pick, bytes) in actions {
            let role = ROLES[role];
            // The owner's own devices may compact, rotate keys, change members, remove a device
            // and delete the document: those are the owner's rights, tested on their own above.
            if role == Party::OwnPhone && OWNER_RIGHTS.contains(&(kind % 22)) {
                continue;
            }
            let message = hostile(&arena, role, kind, pick, bytes);
            let leaving = matches!(message, ClientMessage::LeaveDocument { doc, .. } if doc == arena.world.doc);
            let effects = arena.act(role, message);
            if role == Party::Therapist && leaving && refused(&effects).is_none() {
                arena.therapist_left = true;
            }
            assert_nobody_overreached(&mut arena, role, &effects);
        }
        // The owner still converges: its laptop appends and its phone reads everything.
        let doc = arena.world.doc;
        let effects = arena.world.send(
            laptop,
            ClientMessage::Push {
                request: RequestId(99),
                doc,
                bundle: sealed(BundleKind::Changes, doc, 1, 1_000),
            },
        );
        let appended = matches!(effects.replies.as_slice(), [ServerMessage::Ack { .. }]);
        prop_assert!(appended, "the owner could not push: {:?}", effects);
        let effects = arena.act(
            Party::OwnPhone,
            ClientMessage::Subscribe { request: RequestId(98), doc, since: Seq(0) },
        );
        prop_assert!(effects.catch_up.is_some(), "the owner's phone could not subscribe: {:?}", effects);
    }
}
