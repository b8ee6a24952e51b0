//! [`KeyedEnvelope`]: the real [`Envelope`] — sealed bundles with the document's epoch keys,
//! signed by this device, opened only from member devices.
//!
//! The engine ([`DocSync`](super::DocSync)) is indifferent to how bundles are sealed; this is
//! where the crypto layer's rules meet the sync layer's (see `docs/envelope.md`, "Opening"):
//!
//! - Sealing uses the document's **current** epoch key, this device's signing key, and the
//!   counter the engine hands in (persisted before the bundle leaves the device).
//! - Opening refuses, before any decryption, a bundle whose header names **another document**
//!   (a bundle moved between logs by the relay), an **epoch** this device holds no key for, or
//!   an **author that is not a member device**. Only then does [`open_bundle`] check the
//!   signature strictly and decrypt.
//! - Member devices are known only through certificates verified against the account's
//!   identity key ([`DeviceCertificate::verify_owner`]); the relay's word that a device
//!   belongs to the account counts for nothing.
//!
//! The envelope holds no IO: randomness (for nonces) comes in as any [`CryptoRng`].

use std::collections::BTreeMap;

use super::engine::{BundleKind, Envelope, Opened, SyncError};
use crate::crypto::{
    open_bundle, seal_bundle, BundleHeader, CryptoError, CryptoRng, DeviceCertificate,
    DeviceKeypair, EpochKey, IdentityPublic, SealedBundle,
};
use crate::protocol::{DeviceId, DocId};

/// Seals and opens one document's bundles with its epoch keys (see the module docs).
pub struct KeyedEnvelope<R> {
    doc_id: DocId,
    epoch: u32,
    keys: BTreeMap<u32, EpochKey>,
    device: DeviceKeypair,
    me: DeviceId,
    members: BTreeMap<DeviceId, [u8; 32]>,
    rng: R,
}

impl<R> std::fmt::Debug for KeyedEnvelope<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedEnvelope")
            .field("doc_id", &self.doc_id)
            .field("epoch", &self.epoch)
            .field("epochs", &self.keys.keys().collect::<Vec<_>>())
            .field("device", &self.me)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> KeyedEnvelope<R> {
    /// An envelope for document `doc_id` that seals with `key` (epoch `epoch`) as `device`.
    ///
    /// This device is a member from the start (it holds its own signing key); add the other
    /// devices with [`KeyedEnvelope::add_member`] and older epochs with
    /// [`KeyedEnvelope::add_epoch_key`].
    pub fn new(doc_id: DocId, epoch: u32, key: EpochKey, device: DeviceKeypair, rng: R) -> Self {
        let me = device.device_id();
        let mut members = BTreeMap::new();
        members.insert(me, device.public().signing);
        let mut keys = BTreeMap::new();
        keys.insert(epoch, key);
        Self {
            doc_id,
            epoch,
            keys,
            me,
            device,
            members,
            rng,
        }
    }
}

impl<R> KeyedEnvelope<R> {
    /// Keeps the key of another (older) epoch, so bundles sealed under it can still be opened.
    /// The current epoch's key is not replaced.
    pub fn add_epoch_key(&mut self, epoch: u32, key: EpochKey) {
        if epoch != self.epoch {
            self.keys.insert(epoch, key);
        }
    }

    /// Admits a device as a member after checking its certificate was issued by `owner` (the
    /// account's identity key, whose fingerprint was compared out of band). A certificate that
    /// does not verify is refused and changes nothing.
    pub fn add_member(
        &mut self,
        certificate: &DeviceCertificate,
        owner: &IdentityPublic,
    ) -> Result<DeviceId, CryptoError> {
        certificate.verify_owner(owner)?;
        let id = certificate.device_id();
        self.members.insert(id, certificate.device.signing);
        Ok(id)
    }

    /// Whether bundles from this device are accepted.
    pub fn is_member(&self, device: &DeviceId) -> bool {
        self.members.contains_key(device)
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.me
    }

    /// The document this envelope seals for.
    pub fn doc_id(&self) -> DocId {
        self.doc_id
    }

    /// The epoch new bundles are sealed under.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }
}

impl<R: CryptoRng> Envelope for KeyedEnvelope<R> {
    fn me(&self) -> DeviceId {
        self.me
    }

    fn seal(
        &mut self,
        kind: BundleKind,
        counter: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SyncError> {
        let key = self.keys.get(&self.epoch).ok_or_else(|| {
            SyncError::Envelope(format!("no key for the current epoch {}", self.epoch))
        })?;
        let header = BundleHeader::new(
            kind,
            self.doc_id,
            self.epoch,
            self.device.device_id(),
            counter,
        );
        let sealed = seal_bundle(&mut self.rng, header, key, &self.device, plaintext)
            .map_err(|err| SyncError::Envelope(err.to_string()))?;
        Ok(sealed.to_bytes())
    }

    fn open(&self, sealed: &[u8]) -> Result<Opened, SyncError> {
        let sealed =
            SealedBundle::from_bytes(sealed).map_err(|err| SyncError::Envelope(err.to_string()))?;
        let header = sealed.header;
        if header.doc_id() != self.doc_id {
            return Err(SyncError::Envelope(format!(
                "it belongs to another document ({}), not this one ({})",
                header.doc_id(),
                self.doc_id
            )));
        }
        let Some(key) = self.keys.get(&header.epoch()) else {
            return Err(SyncError::Envelope(format!(
                "it is sealed under key epoch {}, for which this device holds no key",
                header.epoch()
            )));
        };
        let author = header.author();
        let Some(signing) = self.members.get(&author) else {
            return Err(SyncError::Envelope(format!(
                "its author, device {author}, is not a known member device of this account"
            )));
        };
        let plaintext = open_bundle(&sealed, key, signing)
            .map_err(|err| SyncError::Envelope(err.to_string()))?;
        Ok(Opened {
            author,
            counter: header.counter(),
            kind: header.kind(),
            plaintext,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::IdentityKeypair;
    use crate::{Role, Timestamp};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const DOC: DocId = DocId([7; 16]);

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    struct Account {
        identity: IdentityKeypair,
        laptop: KeyedEnvelope<StdRng>,
        phone: KeyedEnvelope<StdRng>,
        phone_cert: DeviceCertificate,
        laptop_cert: DeviceCertificate,
    }

    /// One account with two certified devices that know each other, sharing one epoch key.
    fn account() -> Account {
        let identity = IdentityKeypair::generate(&mut rng(1));
        let laptop_keys = DeviceKeypair::generate(&mut rng(2));
        let phone_keys = DeviceKeypair::generate(&mut rng(3));
        let laptop_cert = identity.certify(&laptop_keys.public(), Role::Client, Timestamp(1));
        let phone_cert = identity.certify(&phone_keys.public(), Role::Client, Timestamp(2));
        let key = EpochKey::from_bytes([9; 32]);
        let mut laptop = KeyedEnvelope::new(
            DOC,
            1,
            EpochKey::from_bytes(*key.as_bytes()),
            laptop_keys,
            rng(4),
        );
        let mut phone = KeyedEnvelope::new(DOC, 1, key, phone_keys, rng(5));
        laptop.add_member(&phone_cert, &identity.public()).unwrap();
        phone.add_member(&laptop_cert, &identity.public()).unwrap();
        Account {
            identity,
            laptop,
            phone,
            phone_cert,
            laptop_cert,
        }
    }

    #[test]
    fn a_member_opens_what_another_member_sealed() {
        let mut a = account();
        let sealed = a.laptop.seal(BundleKind::Changes, 3, b"changes").unwrap();
        let opened = a.phone.open(&sealed).unwrap();
        assert_eq!(
            opened,
            Opened {
                author: a.laptop.device_id(),
                counter: 3,
                kind: BundleKind::Changes,
                plaintext: b"changes".to_vec(),
            }
        );
        assert_eq!(a.laptop.me(), a.laptop.device_id());
        // The author can read its own bundle back (after a rollback it is served again).
        assert_eq!(a.laptop.open(&sealed).unwrap().plaintext, b"changes");
        let snapshot = a.phone.seal(BundleKind::Snapshot, 4, b"full").unwrap();
        assert_eq!(a.laptop.open(&snapshot).unwrap().kind, BundleKind::Snapshot);
    }

    #[test]
    fn a_bundle_from_a_non_member_device_is_refused() {
        let mut a = account();
        // A device of the same account whose certificate this device never saw: the relay
        // could claim anything about it.
        let stranger_keys = DeviceKeypair::generate(&mut rng(20));
        let stranger_cert = a
            .identity
            .certify(&stranger_keys.public(), Role::Client, Timestamp(3));
        let mut stranger = KeyedEnvelope::new(
            DOC,
            1,
            EpochKey::from_bytes([9; 32]),
            stranger_keys,
            rng(21),
        );
        let sealed = stranger.seal(BundleKind::Changes, 1, b"hello").unwrap();
        let err = a.laptop.open(&sealed).unwrap_err();
        assert!(err.to_string().contains("not a known member"), "{err}");
        // Once its certificate is verified it is a member.
        a.laptop
            .add_member(&stranger_cert, &a.identity.public())
            .unwrap();
        assert_eq!(a.laptop.open(&sealed).unwrap().plaintext, b"hello");
    }

    #[test]
    fn a_certificate_from_another_identity_is_not_admitted() {
        let mut a = account();
        let mallory = IdentityKeypair::generate(&mut rng(30));
        let keys = DeviceKeypair::generate(&mut rng(31));
        let cert = mallory.certify(&keys.public(), Role::Client, Timestamp(4));
        let err = a
            .laptop
            .add_member(&cert, &a.identity.public())
            .unwrap_err();
        assert!(matches!(err, CryptoError::WrongOwner { .. }), "{err}");
        assert!(!a.laptop.is_member(&keys.device_id()));
        // Even knowing the epoch key, mallory's device cannot get a bundle opened.
        let mut forged = KeyedEnvelope::new(DOC, 1, EpochKey::from_bytes([9; 32]), keys, rng(32));
        let sealed = forged.seal(BundleKind::Changes, 1, b"forged").unwrap();
        assert!(a.laptop.open(&sealed).is_err());
        // A certificate whose signature was tampered with is refused too.
        let mut bad = a.phone_cert.clone();
        bad.signature[0] ^= 1;
        assert!(a.laptop.add_member(&bad, &a.identity.public()).is_err());
        assert!(a
            .laptop
            .add_member(&a.laptop_cert, &a.identity.public())
            .is_ok());
    }

    #[test]
    fn a_bundle_moved_from_another_document_is_refused() {
        let a = account();
        // The same devices and the same key, but another document's log.
        let phone_keys = DeviceKeypair::generate(&mut rng(3));
        let mut other_doc = KeyedEnvelope::new(
            DocId([8; 16]),
            1,
            EpochKey::from_bytes([9; 32]),
            phone_keys,
            rng(40),
        );
        let sealed = other_doc
            .seal(BundleKind::Changes, 1, b"elsewhere")
            .unwrap();
        let err = a.laptop.open(&sealed).unwrap_err();
        assert!(err.to_string().contains("another document"), "{err}");
        // Rewriting the header to name this document breaks the signature.
        let mut moved = sealed.clone();
        moved[2..18].copy_from_slice(&DOC.0);
        let err = a.laptop.open(&moved).unwrap_err();
        assert!(err.to_string().contains("bad signature"), "{err}");
    }

    #[test]
    fn unknown_epochs_and_tampering_are_refused() {
        let mut a = account();
        let phone_keys = DeviceKeypair::generate(&mut rng(3));
        let mut epoch2 =
            KeyedEnvelope::new(DOC, 2, EpochKey::from_bytes([10; 32]), phone_keys, rng(50));
        let sealed = epoch2.seal(BundleKind::Changes, 1, b"later").unwrap();
        let err = a.laptop.open(&sealed).unwrap_err();
        assert!(err.to_string().contains("epoch 2"), "{err}");
        // With that epoch's key added it opens; the current epoch stays the one it had.
        a.laptop.add_epoch_key(2, EpochKey::from_bytes([10; 32]));
        assert_eq!(a.laptop.open(&sealed).unwrap().plaintext, b"later");
        assert_eq!(a.laptop.epoch(), 1);
        // The wrong key for a known epoch fails decryption.
        a.laptop.add_epoch_key(2, EpochKey::from_bytes([11; 32]));
        assert!(a.laptop.open(&sealed).is_err());

        let mut sealed = a.phone.seal(BundleKind::Changes, 5, b"text").unwrap();
        let last = sealed.len() - 70;
        sealed[last] ^= 1;
        assert!(a.laptop.open(&sealed).is_err());
        assert!(a.laptop.open(b"short").is_err());
        assert!(a.laptop.open(&[]).is_err());
    }

    #[test]
    fn the_engine_skips_what_the_envelope_refuses_and_applies_the_rest() {
        use crate::sync::{DocSync, Event, FromRelay, SyncState};
        use automerge::transaction::Transactable;
        use automerge::{AutoCommit, ReadDoc, ROOT};

        let mut a = account();
        let mut written = AutoCommit::new();
        written.put(ROOT, "word", "hello").unwrap();
        let changes = written.save_incremental();
        let good = a.phone.seal(BundleKind::Changes, 1, &changes).unwrap();
        let phone_keys = DeviceKeypair::generate(&mut rng(3));
        let mut other_doc = KeyedEnvelope::new(
            DocId([8; 16]),
            1,
            EpochKey::from_bytes([9; 32]),
            phone_keys,
            rng(60),
        );
        let moved = other_doc.seal(BundleKind::Changes, 2, &changes).unwrap();

        let mut doc = AutoCommit::new();
        let mut sync = DocSync::new(SyncState::default());
        sync.connected();
        let events = sync
            .receive(
                &mut doc,
                &mut a.laptop,
                FromRelay::Bundle {
                    seq: 1,
                    bundle: moved,
                },
            )
            .unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Skipped { seq: 1, .. })),
            "{events:?}"
        );
        assert!(doc.get(ROOT, "word").unwrap().is_none());
        let events = sync
            .receive(
                &mut doc,
                &mut a.laptop,
                FromRelay::Bundle {
                    seq: 2,
                    bundle: good,
                },
            )
            .unwrap();
        let phone = a.phone.device_id();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Applied { author } if *author == phone)),
            "{events:?}"
        );
        assert!(doc.get(ROOT, "word").unwrap().is_some());
    }

    #[test]
    fn a_snapshot_that_does_not_open_is_reported_and_everything_is_pushed_again() {
        use crate::sync::{DocSync, Event, FromRelay, SyncState, ToRelay};
        use automerge::transaction::Transactable;
        use automerge::{AutoCommit, ROOT};

        // A snapshot sealed by a device that is not a member (or with another key).
        let stranger_keys = DeviceKeypair::generate(&mut rng(70));
        let mut stranger = KeyedEnvelope::new(
            DOC,
            1,
            EpochKey::from_bytes([9; 32]),
            stranger_keys,
            rng(71),
        );
        let planted = stranger.seal(BundleKind::Snapshot, 1, b"empty").unwrap();

        for owner in [true, false] {
            let mut a = account();
            let mut doc = AutoCommit::new();
            doc.put(ROOT, "word", "kept").unwrap();
            doc.commit();
            // Everything this device holds is on the relay, up to entry 3.
            let state = SyncState {
                cursor: 3,
                relay_heads: doc.get_heads().iter().map(|h| h.0).collect(),
                ..SyncState::default()
            };
            let mut sync = DocSync::new(state);
            if !owner {
                sync = sync.without_snapshots();
            }
            sync.connected();
            let events = sync
                .receive_many(
                    &mut doc,
                    &mut a.laptop,
                    vec![
                        FromRelay::Snapshot {
                            covers: 5,
                            part: 0,
                            parts: 1,
                            snapshot: planted.clone(),
                        },
                        FromRelay::CaughtUp { head: 5 },
                    ],
                )
                .unwrap();
            assert!(
                events.iter().any(
                    |e| matches!(e, Event::UnreadableSnapshot { covers: 5, reason } if reason.contains("not a known member"))
                ),
                "{events:?}"
            );
            assert_eq!(sync.state().cursor, 5);
            let request = events
                .iter()
                .find_map(|e| match e {
                    Event::Send(ToRelay::Push { request, .. }) => Some(*request),
                    _ => None,
                })
                .expect("everything is pushed again");
            let events = sync
                .receive(&mut doc, &mut a.laptop, FromRelay::Ack { request, seq: 6 })
                .unwrap();
            let replaced = events
                .iter()
                .any(|e| matches!(e, Event::Send(ToRelay::PutSnapshot { covers: 6, .. })));
            assert_eq!(replaced, owner, "{events:?}");
        }
    }

    #[test]
    fn debug_output_shows_no_keys() {
        let a = account();
        let text = format!("{:?}", a.laptop);
        assert!(text.contains("KeyedEnvelope"));
        assert!(!text.contains("[9, 9"), "{text}");
    }
}
