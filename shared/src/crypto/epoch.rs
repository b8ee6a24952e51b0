//! Document epoch keys and their HPKE wrapping for member devices.
//!
//! Each document has one symmetric key per epoch; removing a member or a lost device starts a
//! new epoch. The owner wraps the epoch key for every member device with HPKE (RFC 9180) base
//! mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305, and the relay stores
//! the wrapped keys without being able to open them.
//!
//! The [`KeyContext`] (document, epoch, recipient device) is bound into the HPKE key schedule as
//! `info` and again as the AEAD associated data, so a wrapped key the relay moves to another
//! document, epoch or device does not open. Base mode does not authenticate the sender: what
//! the relay stores is a [`SignedEnvelope`](super::SignedEnvelope), which adds the wrapping
//! device's certificate and signature.

use std::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::identity::check_fixed;
use super::{CryptoError, CryptoRng, DeviceKeypair, DevicePublic, TAG_EPOCH_KEY, TAG_LEN};
use crate::protocol::{DeviceId, DocId};

/// The wrapped-key format version this build writes and reads.
pub const WRAPPED_KEY_VERSION: u8 = 1;
/// Length of an encoded [`WrappedKey`]: version, 32-byte encapsulated key, 32-byte key + tag.
pub const WRAPPED_KEY_LEN: usize = 1 + ENCAPSULATED_LEN + CIPHERTEXT_LEN;
const ENCAPSULATED_LEN: usize = 32;
const CIPHERTEXT_LEN: usize = 32 + TAG_LEN;
const WHAT: &str = "wrapped epoch key";
/// Length of an encoded [`KeyContext`].
const CONTEXT_LEN: usize = 16 + 4 + 16;

type Kem = X25519HkdfSha256;

/// The symmetric key of one document epoch: 32 bytes for XChaCha20-Poly1305.
///
/// Zeroized on drop; `Debug` prints no key material.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochKey([u8; 32]);

impl EpochKey {
    /// A fresh random epoch key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Wraps key bytes read from the device's local store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key bytes, for the device's local store. Do not log or send them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKey(<redacted>)")
    }
}

/// What a wrapped epoch key is for: the document, the epoch and the device it is wrapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyContext {
    /// The document.
    pub doc_id: DocId,
    /// The epoch number.
    pub epoch: u32,
    /// The device the key is wrapped for.
    pub recipient: DeviceId,
}

impl KeyContext {
    /// `doc_id (16) || epoch (u32 BE) || recipient (16)`, 36 bytes.
    pub fn to_bytes(&self) -> [u8; CONTEXT_LEN] {
        let mut out = [0u8; CONTEXT_LEN];
        out[..16].copy_from_slice(&self.doc_id.0);
        out[16..20].copy_from_slice(&self.epoch.to_be_bytes());
        out[20..].copy_from_slice(&self.recipient.0);
        out
    }

    /// `TAG_EPOCH_KEY || context`: the HPKE `info` and the AEAD associated data.
    fn info(&self) -> Vec<u8> {
        [TAG_EPOCH_KEY, &self.to_bytes()].concat()
    }
}

/// An epoch key encrypted to one device with HPKE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// HPKE `enc`: the sender's ephemeral X25519 public key (32 bytes).
    pub encapsulated: Vec<u8>,
    /// HPKE ciphertext: the 32-byte key and a 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl WrappedKey {
    /// `version (1) || encapsulated (32) || ciphertext (48)`, 81 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAPPED_KEY_VERSION);
        out.extend_from_slice(&self.encapsulated);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes [`WrappedKey::to_bytes`], checking the version and exact length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        check_fixed(bytes, WHAT, WRAPPED_KEY_VERSION, WRAPPED_KEY_LEN)?;
        Ok(Self {
            encapsulated: bytes[1..1 + ENCAPSULATED_LEN].to_vec(),
            ciphertext: bytes[1 + ENCAPSULATED_LEN..].to_vec(),
        })
    }
}

/// Wraps `key` for `recipient` under `context` (HPKE base mode, one 32-byte ephemeral seed drawn
/// from `rng`).
///
/// Fails with [`CryptoError::RecipientMismatch`] if `context.recipient` is not the id of
/// `recipient`, so a key is never labelled for one device and readable by another.
pub fn wrap_epoch_key(
    rng: &mut impl CryptoRng,
    key: &EpochKey,
    recipient: &DevicePublic,
    context: &KeyContext,
) -> Result<WrappedKey, CryptoError> {
    let key_owner = recipient.device_id();
    if context.recipient != key_owner {
        return Err(CryptoError::RecipientMismatch {
            context: context.recipient,
            key: key_owner,
        });
    }
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.agreement)
        .map_err(|_| CryptoError::EncryptFailed { what: WHAT })?;
    let info = context.info();
    let (encapsulated, ciphertext) = hpke::single_shot_seal_with_rng::<
        ChaCha20Poly1305,
        HkdfSha256,
        Kem,
    >(&OpModeS::Base, &public, &info, &key.0, &info, rng)
    .map_err(|_| CryptoError::EncryptFailed { what: WHAT })?;
    Ok(WrappedKey {
        encapsulated: encapsulated.to_bytes().to_vec(),
        ciphertext,
    })
}

/// Unwraps an epoch key wrapped for this device under `context`.
///
/// Fails with [`CryptoError::RecipientMismatch`] if the context names another device, and with
/// [`CryptoError::UnwrapFailed`] if the key was wrapped for another device, document or epoch,
/// or altered.
pub fn unwrap_epoch_key(
    me: &DeviceKeypair,
    wrapped: &WrappedKey,
    context: &KeyContext,
) -> Result<EpochKey, CryptoError> {
    let mine = me.device_id();
    if context.recipient != mine {
        return Err(CryptoError::RecipientMismatch {
            context: context.recipient,
            key: mine,
        });
    }
    let encapsulated = <Kem as hpke::Kem>::EncappedKey::from_bytes(&wrapped.encapsulated)
        .map_err(|_| CryptoError::UnwrapFailed)?;
    let private = me.hpke_private_key()?;
    let info = context.info();
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &private,
            &encapsulated,
            &info,
            &wrapped.ciphertext,
            &info,
        )
        .map_err(|_| CryptoError::UnwrapFailed)?,
    );
    let bytes: [u8; 32] = plaintext
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::UnwrapFailed)?;
    Ok(EpochKey(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;

    struct Setup {
        alice: DeviceKeypair,
        bob: DeviceKeypair,
        key: EpochKey,
        context: KeyContext,
        wrapped: WrappedKey,
    }

    fn setup() -> Setup {
        let mut r = rng(20);
        let alice = DeviceKeypair::generate(&mut r);
        let bob = DeviceKeypair::generate(&mut r);
        let key = EpochKey::generate(&mut r);
        let context = KeyContext {
            doc_id: DocId([7; 16]),
            epoch: 3,
            recipient: alice.device_id(),
        };
        let wrapped = wrap_epoch_key(&mut r, &key, &alice.public(), &context).unwrap();
        Setup {
            alice,
            bob,
            key,
            context,
            wrapped,
        }
    }

    #[test]
    fn wrap_then_unwrap_round_trips() {
        let s = setup();
        let back = unwrap_epoch_key(&s.alice, &s.wrapped, &s.context).unwrap();
        assert_eq!(back.as_bytes(), s.key.as_bytes());
        let decoded = WrappedKey::from_bytes(&s.wrapped.to_bytes()).unwrap();
        assert_eq!(decoded, s.wrapped);
        assert_eq!(s.wrapped.to_bytes().len(), WRAPPED_KEY_LEN);
    }

    #[test]
    fn another_device_cannot_unwrap() {
        let s = setup();
        // Bob with Alice's context: refused before any decryption.
        assert!(matches!(
            unwrap_epoch_key(&s.bob, &s.wrapped, &s.context),
            Err(CryptoError::RecipientMismatch { .. })
        ));
        // Bob claiming the envelope is his: HPKE fails (wrong key and wrong info).
        let bobs = KeyContext {
            recipient: s.bob.device_id(),
            ..s.context
        };
        assert_eq!(
            unwrap_epoch_key(&s.bob, &s.wrapped, &bobs).unwrap_err(),
            CryptoError::UnwrapFailed
        );
    }

    #[test]
    fn moved_to_another_document_or_epoch_fails() {
        let s = setup();
        let other_doc = KeyContext {
            doc_id: DocId([8; 16]),
            ..s.context
        };
        let other_epoch = KeyContext {
            epoch: 4,
            ..s.context
        };
        for context in [other_doc, other_epoch] {
            assert_eq!(
                unwrap_epoch_key(&s.alice, &s.wrapped, &context).unwrap_err(),
                CryptoError::UnwrapFailed
            );
        }
    }

    #[test]
    fn tampered_wrapped_key_fails() {
        let s = setup();
        let bytes = s.wrapped.to_bytes();
        for i in 1..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let decoded = WrappedKey::from_bytes(&tampered).unwrap();
            assert_eq!(
                unwrap_epoch_key(&s.alice, &decoded, &s.context).unwrap_err(),
                CryptoError::UnwrapFailed,
                "byte {i}"
            );
        }
    }

    #[test]
    fn wrapping_for_a_mislabelled_recipient_is_refused() {
        let s = setup();
        let mut r = rng(21);
        assert!(matches!(
            wrap_epoch_key(&mut r, &s.key, &s.bob.public(), &s.context),
            Err(CryptoError::RecipientMismatch { .. })
        ));
    }

    #[test]
    fn wrapped_key_decoding_rejects_bad_input() {
        let s = setup();
        let bytes = s.wrapped.to_bytes();
        assert!(matches!(
            WrappedKey::from_bytes(&bytes[..80]),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(matches!(
            WrappedKey::from_bytes(&[bytes.as_slice(), &[0]].concat()),
            Err(CryptoError::TooLong { .. })
        ));
        let mut v2 = bytes;
        v2[0] = 2;
        assert!(matches!(
            WrappedKey::from_bytes(&v2),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
        // Wrong-length fields built by hand are an unwrap failure, not a panic.
        let odd = WrappedKey {
            encapsulated: vec![1; 5],
            ciphertext: vec![2; 3],
        };
        assert_eq!(
            unwrap_epoch_key(&s.alice, &odd, &s.context).unwrap_err(),
            CryptoError::UnwrapFailed
        );
    }

    #[test]
    fn epoch_key_debug_is_redacted() {
        let key = EpochKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "EpochKey(<redacted>)");
    }
}
