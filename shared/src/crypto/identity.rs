//! Identity keys (one per person) and device keys (one set per device).
//!
//! A person's identity key never signs data, only [`DeviceCertificate`](super::DeviceCertificate)s:
//! that keeps it usable on a device that is rarely online, and means the many signatures the
//! relay sees (bundles, sign-ins) come from device keys, which can be revoked one at a time.
//!
//! A device holds two keys because Ed25519 and X25519 do different jobs: the signing key signs
//! bundles and sign-in challenges, and the agreement key receives HPKE-wrapped epoch keys. The
//! two are generated independently (no conversion between curve forms).

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, Zeroizing};

use super::hex::{hex32, hex_newtype};
use super::{CryptoError, CryptoRng, SIGNATURE_LEN, TAG_DEVICE_ID, TAG_FINGERPRINT};
use crate::protocol::DeviceId;

/// Version byte of the local-store encodings of [`IdentityKeypair`] and [`DeviceKeypair`].
const KEYPAIR_STORE_VERSION: u8 = 1;
/// Length of [`IdentityKeypair::to_bytes`]: version byte and 32-byte Ed25519 seed.
pub const IDENTITY_KEYPAIR_LEN: usize = 1 + 32;
/// Length of [`DeviceKeypair::to_bytes`]: version byte, Ed25519 seed, X25519 secret.
pub const DEVICE_KEYPAIR_LEN: usize = 1 + 32 + 32;

/// Groups of five digits in a full fingerprint.
const FINGERPRINT_GROUPS: usize = 12;
/// Groups of five digits in a short fingerprint.
const SHORT_FINGERPRINT_GROUPS: usize = 4;

/// Verifies an Ed25519 signature with `verify_strict`: rejects non-canonical signatures,
/// small-order public keys and small-order `R`, so one message has one valid signature per key.
pub(crate) fn verify_strict(
    public: &[u8; 32],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
    what: &'static str,
) -> Result<(), CryptoError> {
    let key =
        VerifyingKey::from_bytes(public).map_err(|_| CryptoError::InvalidPublicKey { what })?;
    let signature = Signature::from_bytes(signature);
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature { what })
}

/// Checks a version byte and an exact length, in that order, so that a newer format with a
/// different length reports "unsupported version" rather than "wrong length".
pub(crate) fn check_fixed(
    bytes: &[u8],
    what: &'static str,
    version: u8,
    len: usize,
) -> Result<(), CryptoError> {
    let Some(&found) = bytes.first() else {
        return Err(CryptoError::TooShort {
            what,
            expected: len,
            actual: 0,
        });
    };
    if found != version {
        return Err(CryptoError::UnsupportedVersion {
            what,
            version: found,
            supported: version,
        });
    }
    if bytes.len() < len {
        return Err(CryptoError::TooShort {
            what,
            expected: len,
            actual: bytes.len(),
        });
    }
    if bytes.len() > len {
        return Err(CryptoError::TooLong {
            what,
            max: len,
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// Copies `N` bytes starting at `at`; callers have checked the length.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// A person's long-term Ed25519 identity key, created on their first device.
///
/// It signs device certificates and nothing else. The secret is zeroized on drop and never
/// printed.
pub struct IdentityKeypair {
    signing: SigningKey,
}

impl IdentityKeypair {
    /// A fresh identity key from the given randomness.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half, shared with everyone the person works with.
    pub fn public(&self) -> IdentityPublic {
        IdentityPublic(self.signing.verifying_key().to_bytes())
    }

    /// The secret for the device's local store: version byte `1` then the 32-byte Ed25519 seed.
    /// The returned buffer is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; IDENTITY_KEYPAIR_LEN]> {
        let mut out = Zeroizing::new([0u8; IDENTITY_KEYPAIR_LEN]);
        out[0] = KEYPAIR_STORE_VERSION;
        let mut seed = self.signing.to_bytes();
        out[1..].copy_from_slice(&seed);
        seed.zeroize();
        out
    }

    /// Reads what [`IdentityKeypair::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        check_fixed(
            bytes,
            "identity keypair",
            KEYPAIR_STORE_VERSION,
            IDENTITY_KEYPAIR_LEN,
        )?;
        let seed = Zeroizing::new(array_at::<32>(bytes, 1));
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Signs an already domain-separated message (crate-internal: only certificates).
    pub(crate) fn sign_raw(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for IdentityKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The public Ed25519 identity key of a person.
///
/// Text form (`Display`, `FromStr`, serde) is 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityPublic(pub [u8; 32]);

hex_newtype!(IdentityPublic, 32, "identity public key");

impl fmt::Debug for IdentityPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublic({self})")
    }
}

impl IdentityPublic {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The safety number two people compare out of band (in person, on a call) to be sure the
    /// relay did not substitute a key: 60 digits in 12 groups of 5, separated by spaces.
    ///
    /// Each group is a 5-byte big-endian chunk of `SHA-512(TAG_FINGERPRINT || key)` taken
    /// modulo 100000 (as Signal's safety numbers do), so the whole number carries about 199
    /// bits of the hash.
    pub fn fingerprint(&self) -> String {
        self.fingerprint_groups(FINGERPRINT_GROUPS)
    }

    /// The first 4 groups of [`IdentityPublic::fingerprint`] (about 66 bits): enough to tell keys
    /// apart on screen, not a substitute for comparing the full number.
    pub fn short_fingerprint(&self) -> String {
        self.fingerprint_groups(SHORT_FINGERPRINT_GROUPS)
    }

    fn fingerprint_groups(&self, groups: usize) -> String {
        let mut hasher = Sha512::new();
        hasher.update(TAG_FINGERPRINT);
        hasher.update(self.0);
        let digest = hasher.finalize();
        let parts: Vec<String> = digest
            .chunks_exact(5)
            .take(groups)
            .map(|chunk| {
                let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                format!("{:05}", value % 100_000)
            })
            .collect();
        parts.join(" ")
    }
}

/// A device's own keys: Ed25519 for signing and X25519 for receiving wrapped keys. Created on the
/// device and never sent anywhere. Secrets are zeroized on drop and never printed.
pub struct DeviceKeypair {
    signing: SigningKey,
    agreement: StaticSecret,
}

impl DeviceKeypair {
    /// A fresh device keypair: 32 random bytes for the Ed25519 seed, then 32 for the X25519
    /// secret.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let signing = SigningKey::from_bytes(&seed);
        rng.fill_bytes(seed.as_mut());
        let agreement = StaticSecret::from(*seed);
        Self { signing, agreement }
    }

    /// The public keys, registered with the relay and certified by the owner's identity key.
    pub fn public(&self) -> DevicePublic {
        DevicePublic {
            signing: self.signing.verifying_key().to_bytes(),
            agreement: x25519_dalek::PublicKey::from(&self.agreement).to_bytes(),
        }
    }

    /// This device's id (a hash of its signing key).
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_signing_key(&self.signing.verifying_key().to_bytes())
    }

    /// The secrets for the device's local store: version byte `1`, the 32-byte Ed25519 seed,
    /// the 32-byte X25519 secret. The returned buffer is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; DEVICE_KEYPAIR_LEN]> {
        let mut out = Zeroizing::new([0u8; DEVICE_KEYPAIR_LEN]);
        out[0] = KEYPAIR_STORE_VERSION;
        let mut seed = self.signing.to_bytes();
        out[1..33].copy_from_slice(&seed);
        seed.zeroize();
        out[33..].copy_from_slice(self.agreement.as_bytes());
        out
    }

    /// Reads what [`DeviceKeypair::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        check_fixed(
            bytes,
            "device keypair",
            KEYPAIR_STORE_VERSION,
            DEVICE_KEYPAIR_LEN,
        )?;
        let seed = Zeroizing::new(array_at::<32>(bytes, 1));
        let secret = Zeroizing::new(array_at::<32>(bytes, 33));
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
            agreement: StaticSecret::from(*secret),
        })
    }

    /// Signs a message with the device's Ed25519 key.
    ///
    /// Only sign messages built by this module (such as [`sign_in_message`](super::sign_in_message)),
    /// which start with their own domain tag: signing bytes chosen by someone else could produce a
    /// signature that is valid in another context.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }

    /// The X25519 secret as an HPKE private key (crate-internal, for unwrapping).
    pub(crate) fn hpke_private_key(
        &self,
    ) -> Result<<hpke::kem::X25519HkdfSha256 as hpke::Kem>::PrivateKey, CryptoError> {
        use hpke::Deserializable;
        let secret = Zeroizing::new(self.agreement.to_bytes());
        <hpke::kem::X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret.as_ref())
            .map_err(|_| CryptoError::UnwrapFailed)
    }
}

impl fmt::Debug for DeviceKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeypair")
            .field("device_id", &self.device_id())
            .finish_non_exhaustive()
    }
}

/// A device's public keys. Text forms use lowercase hex for both keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DevicePublic {
    /// Ed25519 key that verifies the device's bundles and sign-ins.
    #[serde(with = "hex32")]
    pub signing: [u8; 32],
    /// X25519 key that epoch keys are wrapped to.
    #[serde(with = "hex32")]
    pub agreement: [u8; 32],
}

impl DevicePublic {
    /// The device's id, derived from its signing key.
    pub fn device_id(&self) -> DeviceId {
        DeviceId::from_signing_key(&self.signing)
    }

    /// The 64-byte encoding: signing key then agreement key.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.signing);
        out[32..].copy_from_slice(&self.agreement);
        out
    }

    /// Reads the 64-byte encoding of [`DevicePublic::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self {
            signing: array_at::<32>(bytes, 0),
            agreement: array_at::<32>(bytes, 32),
        }
    }
}

/// A device's id is the wire protocol's [`DeviceId`], so the id a certificate or bundle header
/// names is the one the relay stores and its messages carry, with nothing to convert. Its
/// derivation from the signing key lives here, beside the keys, because it is part of the
/// cryptography: the id commits to the key.
impl DeviceId {
    /// The id of the device with this Ed25519 signing key: the first 16 bytes of
    /// `SHA-256(TAG_DEVICE_ID || ed25519 signing key)`.
    ///
    /// Because it is derived from the key, a relay cannot pair an id with a different key.
    pub fn from_signing_key(signing: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(TAG_DEVICE_ID);
        hasher.update(signing);
        let digest = hasher.finalize();
        Self(array_at::<16>(&digest, 0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;

    #[test]
    fn identity_round_trips_through_store_bytes() {
        let id = IdentityKeypair::generate(&mut rng(1));
        let back = IdentityKeypair::from_bytes(id.to_bytes().as_ref()).unwrap();
        assert_eq!(id.public(), back.public());
    }

    #[test]
    fn device_round_trips_through_store_bytes() {
        let dev = DeviceKeypair::generate(&mut rng(2));
        let back = DeviceKeypair::from_bytes(dev.to_bytes().as_ref()).unwrap();
        assert_eq!(dev.public(), back.public());
        assert_eq!(dev.device_id(), back.device_id());
        assert_eq!(dev.device_id(), dev.public().device_id());
        assert_eq!(
            DevicePublic::from_bytes(&dev.public().to_bytes()),
            dev.public()
        );
    }

    #[test]
    fn keypair_store_bytes_reject_bad_input() {
        let dev = DeviceKeypair::generate(&mut rng(3));
        let bytes = dev.to_bytes();
        assert!(matches!(
            DeviceKeypair::from_bytes(&bytes[..64]),
            Err(CryptoError::TooShort {
                expected: 65,
                actual: 64,
                ..
            })
        ));
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            DeviceKeypair::from_bytes(&long),
            Err(CryptoError::TooLong { .. })
        ));
        let mut v2 = bytes.to_vec();
        v2[0] = 2;
        assert!(matches!(
            DeviceKeypair::from_bytes(&v2),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
        assert!(matches!(
            IdentityKeypair::from_bytes(&[]),
            Err(CryptoError::TooShort { .. })
        ));
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let dev = DeviceKeypair::generate(&mut rng(4));
        let id = IdentityKeypair::generate(&mut rng(5));
        let dev_debug = format!("{dev:?}");
        let id_debug = format!("{id:?}");
        assert!(!dev_debug.contains(&::hex::encode(&dev.to_bytes()[1..33])));
        assert!(!dev_debug.contains(&::hex::encode(&dev.to_bytes()[33..])));
        assert!(!id_debug.contains(&::hex::encode(&id.to_bytes()[1..])));
        assert!(dev_debug.contains(&dev.device_id().to_string()));
    }

    #[test]
    fn device_id_and_public_keys_round_trip_as_text() {
        let id = DeviceKeypair::generate(&mut rng(6)).device_id();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<DeviceId>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<DeviceId>().unwrap(), id);
        assert!(matches!(
            "abc".parse::<DeviceId>(),
            Err(crate::protocol::ParseIdError { expected: 32, .. })
        ));

        let public = DeviceKeypair::generate(&mut rng(7)).public();
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(serde_json::from_str::<DevicePublic>(&json).unwrap(), public);
    }

    #[test]
    fn fingerprints_have_the_documented_shape() {
        let public = IdentityKeypair::generate(&mut rng(8)).public();
        let full = public.fingerprint();
        let groups: Vec<&str> = full.split(' ').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
        assert!(full.starts_with(&public.short_fingerprint()));
        assert_eq!(public.short_fingerprint().split(' ').count(), 4);
        let other = IdentityKeypair::generate(&mut rng(9)).public();
        assert_ne!(other.fingerprint(), full);
    }
}
