//! The fixed cast every target works with: one client account with two devices, its therapist
//! with one device, a stranger's device, the document's epoch keys, its signed membership and a
//! pairing secret.
//!
//! Real keys, made once from fixed seeds, so a target can open, unwrap and verify what a peer
//! sends — the paths past the first length check are where a decoder's mistakes hide — and so a
//! crashing input replays identically on any machine.

use std::sync::{Mutex, OnceLock};

use between_shared::crypto::{
    seal_bundle, BundleHeader, BundleKind, DeviceCertificate, DeviceKeypair, EpochKey,
    IdentityKeypair, Member, PairingSecret, SealedBundle, SignedMembership,
};
use between_shared::protocol::{DeviceId, DocId};
use between_shared::sync::KeyedEnvelope;
use between_shared::{Role, Timestamp};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The document every target's bundles, keys and lists are about.
pub const DOC: DocId = DocId([7; 16]);
/// The epoch the receiving device seals under; epoch [`OLD_EPOCH`] is known too.
pub const EPOCH: u32 = 2;
/// An earlier epoch whose key the receiving device still holds.
pub const OLD_EPOCH: u32 = 1;

/// The cast (see the module docs).
pub struct Fixture {
    /// The client: owner of the document.
    pub owner: IdentityKeypair,
    /// The client's therapist, a member.
    pub therapist: IdentityKeypair,
    /// The receiving device (the client's laptop): every target decodes as this device.
    pub laptop: DeviceKeypair,
    /// The client's other device.
    pub phone: DeviceKeypair,
    /// The therapist's device.
    pub therapist_device: DeviceKeypair,
    /// A device nobody certified for this document.
    pub stranger: DeviceKeypair,
    /// Certificates of laptop, phone and therapist device, in that order.
    pub certificates: [DeviceCertificate; 3],
    /// The membership list in force: owner and therapist, epoch [`EPOCH`], serial 2.
    pub membership: SignedMembership,
    /// Keys of [`OLD_EPOCH`] and [`EPOCH`].
    keys: [EpochKey; 2],
    /// The secret of a pairing code in progress.
    pub pairing: PairingSecret,
    /// The laptop's envelope, knowing phone and therapist device as members. Behind a lock
    /// because sealing draws nonces from its generator; targets run one input at a time.
    envelope: Mutex<KeyedEnvelope<StdRng>>,
}

/// Deterministic randomness for fixture keys and nonces.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The cast, made on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

impl Fixture {
    fn new() -> Self {
        let owner = IdentityKeypair::generate(&mut rng(1));
        let therapist = IdentityKeypair::generate(&mut rng(2));
        let laptop = DeviceKeypair::generate(&mut rng(3));
        let phone = DeviceKeypair::generate(&mut rng(4));
        let therapist_device = DeviceKeypair::generate(&mut rng(5));
        let stranger = DeviceKeypair::generate(&mut rng(6));
        let certificates = [
            owner.certify(&laptop.public(), Role::Client, Timestamp(1_700_000_000_000)),
            owner.certify(&phone.public(), Role::Client, Timestamp(1_700_000_000_001)),
            therapist.certify(
                &therapist_device.public(),
                Role::Therapist,
                Timestamp(1_700_000_000_002),
            ),
        ];
        let therapist_member = Member {
            identity: therapist.public(),
            role: Role::Therapist,
        };
        let membership = SignedMembership::sign(&owner, DOC, 2, EPOCH, &[therapist_member])
            .unwrap_or_else(|err| unreachable!("the fixture's membership list is valid: {err}"));
        let keys = [
            EpochKey::generate(&mut rng(7)),
            EpochKey::generate(&mut rng(8)),
        ];
        let mut envelope =
            KeyedEnvelope::new(DOC, EPOCH, keys[1].clone(), copy_device(&laptop), rng(9));
        envelope.add_epoch_key(OLD_EPOCH, keys[0].clone());
        for (certificate, issuer) in [(&certificates[1], &owner), (&certificates[2], &therapist)] {
            if let Err(err) = envelope.add_member(certificate, &issuer.public()) {
                unreachable!("the fixture's certificates verify: {err}");
            }
        }
        Self {
            owner,
            therapist,
            laptop,
            phone,
            therapist_device,
            stranger,
            certificates,
            membership,
            keys,
            pairing: PairingSecret::from_bytes([0x5a; 16]),
            envelope: Mutex::new(envelope),
        }
    }

    /// The key of `epoch`, if the laptop holds one.
    pub fn key(&self, epoch: u32) -> Option<&EpochKey> {
        match epoch {
            OLD_EPOCH => Some(&self.keys[0]),
            EPOCH => Some(&self.keys[1]),
            _ => None,
        }
    }

    /// Runs `f` with the laptop's envelope.
    pub fn with_envelope<T>(&self, f: impl FnOnce(&mut KeyedEnvelope<StdRng>) -> T) -> T {
        // A panic inside `f` is a finding and ends the run, so a poisoned lock is never reused.
        let mut guard = self
            .envelope
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The fixture device whose id is `id`, if any.
    pub fn device(&self, id: DeviceId) -> Option<&DeviceKeypair> {
        [
            &self.laptop,
            &self.phone,
            &self.therapist_device,
            &self.stranger,
        ]
        .into_iter()
        .find(|d| d.device_id() == id)
    }

    /// The fixture identity whose public key is `public`, if any.
    pub fn identity(&self, public: &[u8; 32]) -> Option<&IdentityKeypair> {
        [&self.owner, &self.therapist]
            .into_iter()
            .find(|i| i.public().0 == *public)
    }

    /// A bundle sealed by `author` with a header it chooses: what a member device (or a
    /// stranger holding a leaked key) can really send. `None` if the plaintext is too large.
    pub fn seal(
        &self,
        author: &DeviceKeypair,
        kind: BundleKind,
        epoch: u32,
        counter: u64,
        plaintext: &[u8],
    ) -> Option<Vec<u8>> {
        let key = self.key(epoch).unwrap_or(&self.keys[1]);
        let header = BundleHeader::new(kind, DOC, epoch, author.device_id(), counter);
        seal_bundle(&mut rng(counter), header, key, author, plaintext)
            .ok()
            .map(|sealed: SealedBundle| sealed.to_bytes())
    }
}

/// A second handle on a device's keys (the envelope owns one; the fixture keeps the other).
pub fn copy_device(device: &DeviceKeypair) -> DeviceKeypair {
    DeviceKeypair::from_bytes(device.to_bytes().as_ref())
        .unwrap_or_else(|err| unreachable!("a device's own store bytes read back: {err}"))
}
