//! The seed corpus: for every target, a few inputs a real peer would send, made with the fixture's
//! real keys (sealed bundles and snapshots of real Automerge changes, a signed membership list,
//! certificates, a wrapped key, codes, a pairing message, whole sync conversations), so the
//! fuzzer starts from deep paths instead of having to discover a valid signature.
//!
//! Deterministic: `cargo run -p between-fuzz --bin between-fuzz-seeds` writes the same files
//! every time, and a test checks the committed copy in `fuzz/seeds/` is up to date.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use between_shared::crypto::{
    wrap_epoch_key, BundleKind, ClientInvite, InviteSecret, KeyContext, SignedMembership,
};
use between_shared::protocol::{
    encode_client, encode_server, AccountId, AuditEvent, Challenge, ClientMessage, DeviceId,
    DeviceInfo, DocumentInfo, ErrorCode, KeyEnvelope, Mailbox, RequestId, Seq, ServerMessage,
};

use crate::fixture::{fixture, rng, Fixture, DOC, EPOCH};

/// Every target's seeds, by target name (the names of [`crate::TARGETS`]).
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let f = fixture();
    let peer = PeerData::new(f);
    vec![
        ("wire_client", wire_client(f, &peer)),
        ("wire_server", wire_server(f, &peer)),
        ("bundle", bundle(&peer)),
        ("membership", membership(f)),
        ("certificate", certificate(f)),
        ("key_envelope", key_envelope(&peer)),
        ("codes", codes(f)),
        ("pairing", pairing(&peer)),
        ("engine", engine(&peer)),
    ]
}

/// A libFuzzer dictionary for the wire targets: every message name, and the frame's keys.
pub fn wire_dictionary() -> String {
    let names = ClientMessage::NAMES.iter().chain(ServerMessage::NAMES);
    ["v", "msg"]
        .iter()
        .chain(names)
        .map(|name| format!("\"{name}\"\n"))
        .collect()
}

/// Real payloads a phone of the account would produce.
struct PeerData {
    /// Automerge changes the phone made.
    changes: Vec<u8>,
    /// The phone's whole document.
    save: Vec<u8>,
    /// `changes` sealed by the phone.
    bundle: Vec<u8>,
    /// `save` sealed by the phone as a snapshot.
    snapshot: Vec<u8>,
    /// The epoch key wrapped for the laptop.
    wrapped: Vec<u8>,
    /// A pairing message sealed with the fixture's pairing secret.
    pairing: Vec<u8>,
}

impl PeerData {
    fn new(f: &Fixture) -> Self {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([2u8; 16]));
        let puts = [("mood", 7), ("sleep", 6)];
        for (key, value) in puts {
            if let Err(err) = doc.put(ROOT, key, value) {
                unreachable!("a put on a fresh document failed: {err}");
            }
        }
        let changes = doc.save_incremental();
        let save = doc.save();
        let seal = |kind, counter, plaintext: &[u8]| {
            f.seal(&f.phone, kind, EPOCH, counter, plaintext)
                .unwrap_or_default()
        };
        let context = KeyContext {
            doc_id: DOC,
            epoch: EPOCH,
            recipient: f.laptop.device_id(),
        };
        let wrapped = f
            .key(EPOCH)
            .and_then(|key| wrap_epoch_key(&mut rng(10), key, &f.laptop.public(), &context).ok())
            .map(|w| w.to_bytes())
            .unwrap_or_default();
        let payload = br#"{"format":1,"from":"existing-device","relay_url":"wss://relay"}"#;
        Self {
            bundle: seal(BundleKind::Changes, 1, &changes),
            snapshot: seal(BundleKind::Snapshot, 2, &save),
            changes,
            save,
            wrapped,
            pairing: f.pairing.seal(&mut rng(11), payload).unwrap_or_default(),
        }
    }
}

fn frames<M>(messages: &[M], encode: impl Fn(&M) -> Option<Vec<u8>>) -> Vec<Vec<u8>> {
    messages.iter().filter_map(encode).collect()
}

fn wire_client(f: &Fixture, peer: &PeerData) -> Vec<Vec<u8>> {
    let request = RequestId(3);
    let doc = DOC;
    let certificate = f.certificates[1].to_bytes().to_vec();
    let messages = [
        ClientMessage::SignIn {
            device: f.laptop.device_id(),
            timestamp_ms: 1_700_000_000_000,
            signature: [9; 64],
        },
        ClientMessage::Register {
            invite: vec![4; 32],
            identity: f.owner.public().0,
            certificate: certificate.clone(),
            timestamp_ms: 1_700_000_000_000,
            signature: [9; 64],
        },
        ClientMessage::RegisterDevice {
            certificate,
            timestamp_ms: 1,
            signature: [9; 64],
        },
        ClientMessage::PutPairing {
            request,
            mailbox: Mailbox(f.pairing.mailbox()),
            payload: peer.pairing.clone(),
            expires_at_ms: 1_700_000_600_000,
        },
        ClientMessage::Push {
            request,
            doc,
            bundle: peer.bundle.clone(),
        },
        ClientMessage::Subscribe {
            request,
            doc,
            since: Seq(4),
        },
        ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(2),
            part: 0,
            parts: 1,
            snapshot: peer.snapshot.clone(),
        },
        ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: vec![key_envelope_entry(f, peer)],
        },
        ClientMessage::GetAudit {
            request,
            doc: Some(doc),
            after: 0,
            limit: 50,
        },
        ClientMessage::PutMembership {
            request,
            doc,
            membership: f.membership.to_bytes(),
        },
        ClientMessage::GetAccount {
            request,
            account: Some(AccountId([5; 16])),
        },
        ClientMessage::Ping { nonce: 8 },
    ];
    frames(&messages, |m| encode_client(m).ok())
}

fn key_envelope_entry(f: &Fixture, peer: &PeerData) -> KeyEnvelope {
    KeyEnvelope {
        epoch: EPOCH,
        recipient: f.laptop.device_id(),
        envelope: peer.wrapped.clone(),
    }
}

fn wire_server(f: &Fixture, peer: &PeerData) -> Vec<Vec<u8>> {
    let request = RequestId(3);
    let doc = DOC;
    let device = DeviceInfo {
        device: f.phone.device_id(),
        certificate: f.certificates[1].to_bytes().to_vec(),
        registered_at_ms: 1_700_000_000_000,
    };
    let messages = [
        ServerMessage::Challenge {
            challenge: Challenge([1; 32]),
            relay_origin: "wss://relay.example".into(),
            server_time_ms: 1_700_000_000_000,
            min_version: 1,
            max_version: 1,
        },
        ServerMessage::Ack {
            request,
            doc,
            seq: Seq(7),
        },
        ServerMessage::Bundle {
            doc,
            seq: Seq(8),
            bundle: peer.bundle.clone(),
        },
        ServerMessage::Snapshot {
            doc,
            covers: Seq(6),
            part: 1,
            parts: 2,
            snapshot: peer.snapshot.clone(),
        },
        ServerMessage::CaughtUp {
            request,
            doc,
            head: Seq(8),
        },
        ServerMessage::Pairing {
            request,
            payload: peer.pairing.clone(),
        },
        ServerMessage::KeyEnvelopes {
            request,
            doc,
            envelopes: vec![key_envelope_entry(f, peer)],
        },
        ServerMessage::Account {
            request,
            account: AccountId([5; 16]),
            identity: f.owner.public().0,
            devices: vec![device],
        },
        ServerMessage::Audit {
            request,
            doc: Some(doc),
            events: vec![AuditEvent {
                id: 1,
                at_ms: 1_700_000_000_000,
                account: Some(AccountId([5; 16])),
                device: Some(DeviceId([6; 16])),
                doc: Some(doc),
                action: "push".into(),
            }],
        },
        ServerMessage::Membership {
            request,
            doc,
            membership: Some(f.membership.to_bytes()),
        },
        ServerMessage::Documents {
            request,
            documents: vec![DocumentInfo {
                doc,
                owner: AccountId([5; 16]),
            }],
        },
        ServerMessage::Error {
            request: Some(request),
            code: ErrorCode::TooLarge,
            message: "the frame is too large".into(),
        },
    ];
    frames(&messages, |m| encode_server(m).ok())
}

/// `mode || rest`, the shape of every crypto target's input.
fn moded(mode: u8, rest: &[u8]) -> Vec<u8> {
    [&[mode][..], rest].concat()
}

fn bundle(peer: &PeerData) -> Vec<Vec<u8>> {
    vec![
        moded(0, &peer.bundle),
        moded(0, &peer.snapshot),
        moded(1, &peer.bundle),
        // Sealed by the phone (0), changes (0), current epoch (0), counter 1, the changes.
        [&[2, 0, 0, 0, 0, 1][..], &peer.changes].concat(),
    ]
}

fn membership(f: &Fixture) -> Vec<Vec<u8>> {
    let removal = SignedMembership::sign(&f.owner, DOC, 3, EPOCH + 1, &[])
        .map(|list| list.to_bytes())
        .unwrap_or_default();
    vec![
        moded(0, &f.membership.to_bytes()),
        moded(0, &removal),
        // Signed by the owner: this document, serial 3, next epoch, one therapist member.
        vec![1, 0, 0, 3, 1, 1, 0, 1],
    ]
}

fn certificate(f: &Fixture) -> Vec<Vec<u8>> {
    f.certificates
        .iter()
        .flat_map(|c| [moded(0, &c.to_bytes()), moded(1, &c.to_bytes())])
        .collect()
}

fn key_envelope(peer: &PeerData) -> Vec<Vec<u8>> {
    vec![
        [&[0][..], &EPOCH.to_be_bytes(), &peer.wrapped].concat(),
        [&[1][..], &DOC.0, &EPOCH.to_be_bytes(), &[3; 32]].concat(),
    ]
}

fn codes(f: &Fixture) -> Vec<Vec<u8>> {
    let invite = InviteSecret::from_bytes([3; 32]);
    let client_invite = ClientInvite::new(
        "wss://relay.example:8443".into(),
        InviteSecret::from_bytes([4; 32]),
        &f.therapist.public(),
    );
    [
        f.pairing.to_code(),
        invite.to_code(),
        client_invite.to_text(),
        f.laptop.device_id().to_string(),
        f.owner.public().to_string(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn pairing(peer: &PeerData) -> Vec<Vec<u8>> {
    vec![moded(0, &peer.pairing), moded(1, b"{\"format\":1}")]
}

/// Builds an input of the engine target step by step (the format `targets/engine.rs` reads).
struct Conversation(Vec<u8>);

impl Conversation {
    fn new(compact_after: u8) -> Self {
        Self(vec![compact_after - 1])
    }
    fn connect(mut self) -> Self {
        self.0.push(0);
        self
    }
    fn edit(mut self, value: u8) -> Self {
        self.0.extend([2, value]);
        self
    }
    /// One relay message: the message tag, then its fields.
    fn receive(mut self, message: &[u8]) -> Self {
        self.0.push(3);
        self.0.extend_from_slice(message);
        self
    }
}

/// A small number as `Input::number` reads it.
fn small(n: u8) -> [u8; 2] {
    [0, n]
}

fn blob(bytes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    [&len.to_be_bytes()[..], bytes].concat()
}

fn engine(peer: &PeerData) -> Vec<Vec<u8>> {
    let caught_up = |head| [&[2][..], &small(head)].concat();
    let ack = |request, seq| [&[3][..], &small(request), &small(seq)].concat();
    // A bundle (tag 0) at `seq`, sealed by the phone (choice 1) with counter 1.
    let phone_bundle =
        |seq, plaintext: &[u8]| [&[0][..], &small(seq), &[1], &small(1), &blob(plaintext)].concat();
    // A snapshot (tag 1) covering `covers`, sealed by the phone (choice 2) with counter 2.
    let phone_snapshot =
        |covers, save: &[u8]| [&[1][..], &small(covers), &[2], &small(2), &blob(save)].concat();
    // Our own push echoed back (tag 0, choice 4).
    let echo = |seq| [&[0][..], &small(seq), &[4, 0]].concat();
    vec![
        Conversation::new(4)
            .connect()
            .receive(&caught_up(0))
            .edit(5)
            .receive(&ack(1, 1))
            .receive(&phone_bundle(2, &peer.changes))
            .receive(&echo(1))
            .0,
        Conversation::new(1)
            .connect()
            .receive(&phone_snapshot(3, &peer.save))
            .receive(&phone_bundle(4, &peer.changes))
            .receive(&caught_up(4))
            .edit(1)
            .receive(&ack(1, 5))
            .0,
        Conversation::new(2)
            .edit(9)
            .connect()
            .receive(&phone_bundle(1, &peer.changes))
            .receive(&caught_up(1))
            .receive(&ack(1, 2))
            .connect()
            .receive(&echo(1))
            .0,
    ]
}
