//! The driver against the relay's real rules in process ([`LocalRelay`]: the relay core over a
//! real SQLite store), with real stores in temporary folders and no sockets: edits travel between
//! two devices of one account, a device the other has never heard of is looked up before its
//! bundles are opened, a relay that forges a device's certificate is not believed, and a driver
//! restarted from its store resumes where it left off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use automerge::AutoCommit;
use between_relay::local::{LocalConnection, LocalRelay};
use between_shared::crypto::{DeviceCertificate, DeviceKeypair, EpochKey, IdentityKeypair};
use between_shared::protocol::{AccountId, ClientMessage, DeviceId, DocId, ServerMessage};
use between_shared::sync::SyncState;
use between_shared::{Author, HomeworkDoc, Role, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tempfile::TempDir;

use super::driver::{Driver, Mode};
use super::worker::Core;
use crate::store::{
    AccountRecord, DeviceRecord, DocumentKind, NewDocument, NewSyncedProfile, ProfileRecord,
    Registration, Store, SyncRecord, COMPACT_AFTER_CHUNKS,
};

/// What a hostile relay changes in the frames one device reads.
type Tamper = (usize, Box<dyn FnMut(&mut ServerMessage)>);

/// The relay, in process, and the devices' connections to it.
struct Relay {
    local: LocalRelay,
    _dir: TempDir,
    account: AccountId,
    connections: Vec<Option<LocalConnection>>,
    tamper: Option<Tamper>,
}

impl Relay {
    /// Frames `from` sent; returns what each device receives because of them.
    fn handle(&mut self, from: usize, sent: Vec<ClientMessage>) -> Vec<Vec<ServerMessage>> {
        if let Some(connection) = self.connections[from] {
            for message in sent {
                self.local.send(connection, message).unwrap();
            }
        }
        let mut out = vec![Vec::new(); self.connections.len()];
        for (to, connection) in self.connections.iter().enumerate() {
            let Some(connection) = *connection else {
                continue;
            };
            while let Some(mut message) = self.local.receive(connection) {
                if let Some((victim, tamper)) = self.tamper.as_mut() {
                    if *victim == to {
                        tamper(&mut message);
                    }
                }
                out[to].push(message);
            }
        }
        out
    }

    /// How many positions the document's log holds (in bundles, or covered by a snapshot).
    fn head(&self, doc: DocId) -> u64 {
        let (covered, bundles) = self.local.log_positions(doc).unwrap();
        bundles
            .last()
            .copied()
            .unwrap_or(0)
            .max(covered.unwrap_or(0))
    }
}

struct Device {
    _dir: TempDir,
    path: PathBuf,
    actor: Vec<u8>,
    driver: Option<Driver>,
}

struct World {
    relay: Relay,
    devices: Vec<Device>,
    doc_id: DocId,
}

fn certificate(identity: &IdentityKeypair, device: &DeviceKeypair) -> DeviceCertificate {
    identity.certify(&device.public(), Role::Client, Timestamp(1))
}

fn profile_at(
    path: &Path,
    identity: &IdentityKeypair,
    device: &DeviceKeypair,
    known: &[&DeviceKeypair],
    doc_id: DocId,
    snapshot: Vec<u8>,
    on_relay: bool,
) {
    let cert = certificate(identity, device);
    let devices = std::iter::once((device, true))
        .chain(known.iter().map(|d| (*d, false)))
        .map(|(d, this_device)| DeviceRecord {
            device_id: d.device_id(),
            certificate: certificate(identity, d).to_bytes().to_vec(),
            this_device,
            name: None,
            registered_at_ms: None,
            listed: false,
        })
        .collect();
    let synced = NewSyncedProfile {
        account: AccountRecord {
            relay_ca_pem: None,
            therapist_commitment: None,
            relay_url: "ws://127.0.0.1:9".into(),
            account_id: Some(between_shared::protocol::AccountId([1; 16])),
            identity_keypair: identity.to_bytes().to_vec(),
            device_keypair: device.to_bytes().to_vec(),
            device_certificate: cert.to_bytes().to_vec(),
            registration: Registration::Done,
            last_sync_ms: None,
            devices_listed_ms: None,
        },
        documents: vec![NewDocument {
            id: doc_id,
            label: "Sam".into(),
            created_at_ms: 1,
            snapshot,
            kind: DocumentKind::Shared,
            sync: SyncRecord {
                document_id: doc_id,
                epoch: 1,
                on_relay,
                state: serde_json::to_string(&SyncState::default()).unwrap(),
                keys: vec![(1, [7; 32])],
            },
        }],
        devices,
    };
    Store::create_synced(
        path,
        &ProfileRecord {
            role: "client".into(),
            display_name: "Sam".into(),
            actor_id: device.device_id().0.to_vec(),
            created_at_ms: 1,
        },
        &synced,
    )
    .unwrap();
}

impl World {
    /// A laptop that created the document, and a phone paired from it. When `phone_known` is
    /// false the laptop has never heard of the phone (it was paired while the laptop slept).
    fn new(phone_known: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(3);
        let identity = IdentityKeypair::generate(&mut rng);
        let laptop = DeviceKeypair::generate(&mut rng);
        let phone = DeviceKeypair::generate(&mut rng);
        let _ = EpochKey::generate(&mut rng);
        let me = Author::new(Role::Client, "Sam");
        let mut doc = HomeworkDoc::create(&laptop.device_id().0, "Sam", &me, Timestamp(1)).unwrap();
        let doc_id = doc.data().unwrap().meta.document_id;
        let mut devices = Vec::new();
        for (i, device) in [&laptop, &phone].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.sqlite3");
            let (snapshot, known): (Vec<u8>, Vec<&DeviceKeypair>) = if i == 0 {
                (doc.save(), if phone_known { vec![&phone] } else { vec![] })
            } else {
                (AutoCommit::new().save(), vec![&laptop])
            };
            profile_at(&path, &identity, device, &known, doc_id, snapshot, i == 1);
            devices.push(Device {
                _dir: dir,
                path,
                actor: device.device_id().0.to_vec(),
                driver: None,
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let mut local = LocalRelay::open(&dir.path().join("relay.db")).unwrap();
        let account = local
            .add_account(identity.public().0, Role::Client)
            .unwrap();
        for device in [&laptop, &phone] {
            local
                .add_device(
                    account,
                    device.device_id(),
                    device.public().signing,
                    certificate(&identity, device).to_bytes().to_vec(),
                )
                .unwrap();
        }
        let relay = Relay {
            local,
            _dir: dir,
            account,
            connections: vec![None, None],
            tamper: None,
        };
        Self {
            relay,
            devices,
            doc_id,
        }
    }

    /// Opens device `i`'s driver and connects it; runs the network until it is quiet.
    fn connect(&mut self, i: usize) {
        let mut driver = Driver::open(&self.devices[i].path, Mode::Once).unwrap();
        let step = driver.connected();
        self.devices[i].driver = Some(driver);
        let device = DeviceId(self.devices[i].actor.as_slice().try_into().unwrap());
        self.relay.connections[i] = Some(self.relay.local.connect_as(self.relay.account, device));
        self.run(i, step.send);
    }

    /// Drops device `i`'s driver (as if the process ended) without any goodbye.
    fn disconnect(&mut self, i: usize) {
        self.devices[i].driver = None;
        if let Some(connection) = self.relay.connections[i].take() {
            self.relay.local.disconnect(connection);
        }
    }

    /// The document's id on the wire.
    fn doc(&self) -> DocId {
        self.doc_id
    }

    fn run(&mut self, from: usize, sent: Vec<ClientMessage>) {
        let mut queue = vec![(from, sent)];
        while let Some((from, sent)) = queue.pop() {
            let replies = self.relay.handle(from, sent);
            for (to, batch) in replies.into_iter().enumerate() {
                if batch.is_empty() {
                    continue;
                }
                if let Some(driver) = self.devices[to].driver.as_mut() {
                    let step = driver.receive(batch).unwrap();
                    assert!(!step.reconnect);
                    if !step.send.is_empty() {
                        queue.push((to, step.send));
                    }
                }
            }
        }
    }

    /// A `between goal create` on device `i`, as another process would do it.
    fn edit(&mut self, i: usize, title: &str) {
        let mut store = Store::open(&self.devices[i].path).unwrap();
        let bytes = store.load_document(self.doc_id).unwrap();
        let mut doc = HomeworkDoc::load(&bytes, &self.devices[i].actor).unwrap();
        let me = Author::new(Role::Client, "Sam");
        doc.create_goal(&me, Timestamp(2), title, "", &[]).unwrap();
        store
            .append_changes(self.doc_id, &doc.save_incremental())
            .unwrap();
        if let Some(driver) = self.devices[i].driver.as_mut() {
            let step = driver.poll_local().unwrap();
            self.run(i, step.send);
        }
    }

    fn goals(&self, i: usize) -> Vec<String> {
        let store = Store::open(&self.devices[i].path).unwrap();
        let bytes = store.load_document(self.doc_id).unwrap();
        let doc = HomeworkDoc::load(&bytes, b"reader").unwrap();
        let mut titles: Vec<_> = doc
            .data()
            .unwrap()
            .goals
            .values()
            .map(|g| g.title.clone())
            .collect();
        titles.sort();
        titles
    }

    fn summary(&mut self, i: usize) -> super::driver::Summary {
        self.devices[i].driver.as_mut().unwrap().summary()
    }
}

#[test]
fn edits_travel_both_ways_and_survive_restarts() {
    let mut world = World::new(true);
    world.connect(0);
    assert_eq!(world.relay.head(world.doc()), 1);
    world.edit(0, "Sleep better");
    world.connect(1);
    assert_eq!(world.goals(1), ["Sleep better"]);
    world.edit(1, "Walk daily");
    // The laptop is connected and receives the phone's change live.
    assert_eq!(world.goals(0), ["Sleep better", "Walk daily"]);
    let received: BTreeMap<DeviceId, usize> = world.summary(0).received;
    // Only the phone's goal: the phone does not echo back what it received from the laptop.
    assert_eq!(received.values().sum::<usize>(), 1, "{received:?}");

    // The phone stops; the laptop writes while it is away; the phone resumes from its store.
    world.disconnect(1);
    world.edit(0, "Call a friend");
    world.connect(1);
    assert_eq!(
        world.goals(1),
        ["Call a friend", "Sleep better", "Walk daily"]
    );
    assert_eq!(world.summary(1).pending_changes, 0);
    // Each device recorded the other's changes as coming from the other's device.
    let store = Store::open(&world.devices[0].path).unwrap();
    let authors = store.change_authors().unwrap();
    assert_eq!(
        authors
            .get(&world.devices[1].actor)
            .map(DeviceId::to_string),
        Some(hex::encode(&world.devices[1].actor))
    );
    assert!(store.account().unwrap().unwrap().last_sync_ms.is_some());
}

/// A sync that finds nothing new, neither on the relay nor in the store, loads no document
/// (the stored heads are known and all on the relay); a change stored by another process, or
/// one the relay brings, loads it and syncs as ever.
#[test]
fn a_sync_with_nothing_new_loads_no_document() {
    let mut world = World::new(true);
    world.connect(0);
    world.edit(0, "Sleep better");
    world.connect(1);
    assert_eq!(world.goals(1), ["Sleep better"]);
    world.disconnect(0);
    world.disconnect(1);
    let loaded =
        |world: &World, i: usize| world.devices[i].driver.as_ref().unwrap().loaded_documents();

    world.connect(0);
    assert_eq!(loaded(&world, 0), 0, "an idle sync loaded the document");
    assert!(world.devices[0].driver.as_mut().unwrap().is_settled());
    assert_eq!(world.summary(0).pending_changes, 0);
    assert!(world.summary(0).empty.is_empty());
    world.disconnect(0);

    // `between goal create` while no sync runs: the next sync must load and push it.
    world.edit(0, "Walk daily");
    world.connect(0);
    assert_eq!(loaded(&world, 0), 1);
    world.disconnect(0);
    // The phone's relay log moved on: it loads and receives.
    world.connect(1);
    assert_eq!(loaded(&world, 1), 1);
    assert_eq!(world.goals(1), ["Sleep better", "Walk daily"]);
    world.disconnect(1);
    // Idle again on both.
    world.connect(0);
    assert_eq!(loaded(&world, 0), 0);
    world.connect(1);
    assert_eq!(loaded(&world, 1), 0);
    // A change while the laptop's idle sync is connected (another process, then its poll)
    // loads the document and pushes the change live to the phone.
    world.edit(0, "Call a friend");
    assert_eq!(loaded(&world, 0), 1);
    assert_eq!(
        world.goals(1),
        ["Call a friend", "Sleep better", "Walk daily"]
    );
}

#[test]
fn a_device_paired_while_this_one_slept_is_looked_up_before_its_bundles_open() {
    let mut world = World::new(false);
    world.connect(0);
    world.disconnect(0);
    world.connect(1);
    world.edit(1, "From the phone");
    // The laptop's store does not know the phone; the relay's device list does, and the
    // laptop checks the phone's certificate against the identity before opening its bundle.
    world.connect(0);
    assert_eq!(world.goals(0), ["From the phone"]);
    let summary = world.summary(0);
    assert_eq!(summary.skipped, 0);
    let store = Store::open(&world.devices[0].path).unwrap();
    assert_eq!(store.devices().unwrap().len(), 2);
}

#[test]
fn bundles_from_devices_the_relay_cannot_vouch_for_are_skipped() {
    let mut world = World::new(false);
    // To the laptop, which never met the phone, the relay lists the phone with a certificate
    // signed by another identity (its own, say): the laptop must not believe it.
    let stranger = IdentityKeypair::generate(&mut StdRng::seed_from_u64(99));
    let phone = DeviceId(world.devices[1].actor.as_slice().try_into().unwrap());
    let forge = move |message: &mut ServerMessage| {
        if let ServerMessage::Devices { devices, .. } = message {
            for listed in devices.iter_mut().filter(|d| d.device == phone) {
                let honest = DeviceCertificate::from_bytes(&listed.certificate).unwrap();
                listed.certificate = stranger
                    .certify(&honest.device, Role::Client, Timestamp(1))
                    .to_bytes()
                    .to_vec();
            }
        }
    };
    world.relay.tamper = Some((0, Box::new(forge)));
    world.connect(0);
    world.disconnect(0);
    world.connect(1);
    world.edit(1, "From the phone");
    world.connect(0);
    assert!(world.goals(0).is_empty());
    // The phone's bundle (its goal) was not opened.
    assert_eq!(world.summary(0).skipped, 1);
    let store = Store::open(&world.devices[0].path).unwrap();
    assert_eq!(store.devices().unwrap().len(), 1);
}

/// Chunks stored for the shared document on device `i`.
fn stored_chunks(world: &World, i: usize) -> u64 {
    let store = Store::open(&world.devices[i].path).unwrap();
    let docs = store.documents().unwrap();
    docs.iter()
        .find(|d| d.id == world.doc_id)
        .unwrap()
        .chunks
        .into()
}

#[test]
fn a_stream_of_changes_is_compacted_only_once_quiet() {
    let mut world = World::new(true);
    world.connect(0);
    world.connect(1);
    let titles: Vec<String> = (0..COMPACT_AFTER_CHUNKS + 6)
        .map(|n| format!("Goal {n:03}"))
        .collect();
    for title in &titles {
        world.edit(1, title);
    }
    // The laptop stored each change as it came (one chunk each) and compacted none of them
    // while they streamed in: a compaction saves the whole document.
    assert!(stored_chunks(&world, 0) > COMPACT_AFTER_CHUNKS);
    let laptop = world.devices[0].driver.as_mut().unwrap();
    // The first poll sees that changes were written since the last one: not quiet yet.
    laptop.poll_local().unwrap();
    assert!(stored_chunks(&world, 0) > COMPACT_AFTER_CHUNKS);
    let laptop = world.devices[0].driver.as_mut().unwrap();
    laptop.poll_local().unwrap();
    assert_eq!(stored_chunks(&world, 0), 0);
    assert_eq!(world.goals(0), titles);

    // A driver that ends without a quiet poll (a `between sync`) compacts as its thread closes.
    world.disconnect(1);
    assert!(stored_chunks(&world, 1) > COMPACT_AFTER_CHUNKS);
    drop(Core::start(world.devices[1].path.clone(), Mode::Once).unwrap());
    assert_eq!(stored_chunks(&world, 1), 0);
    assert_eq!(world.goals(1), titles);
}
