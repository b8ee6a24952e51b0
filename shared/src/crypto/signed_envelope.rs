//! Signed key envelopes: a wrapped epoch key that says, verifiably, which device wrapped it.
//!
//! HPKE base mode ([`wrap_epoch_key`]) hides the key from everyone but the recipient, but does
//! not authenticate the sender: any member could wrap a key of its own choosing for another
//! device (for an epoch the owner has not started yet, say) and the recipient could not tell.
//! A [`SignedEnvelope`] therefore carries the wrapping device's [`DeviceCertificate`] and an
//! Ed25519 signature by that device over the [`KeyContext`] and the wrapped key. A recipient
//! accepts an epoch key only from an envelope whose certificate was issued by the identity it
//! expects — the document owner's — and whose signature verifies ([`SignedEnvelope::open`]).
//!
//! Layout (316 bytes, see `docs/envelope.md`):
//!
//! | offset | len | field |
//! | --- | --- | --- |
//! | 0 | 1 | version = 1 |
//! | 1 | 170 | the wrapping device's certificate |
//! | 171 | 81 | the wrapped key ([`WrappedKey::to_bytes`]) |
//! | 252 | 64 | Ed25519 signature by the wrapping device over `TAG_KEY_ENVELOPE || context (36) || bytes[0..252]` |
//!
//! The context (document, epoch, recipient) is not stored in the envelope — the relay files the
//! envelope under it — but it is signed, so an envelope refiled under another document, epoch or
//! device fails verification before HPKE is even tried.

use super::epoch::{unwrap_epoch_key, wrap_epoch_key};
use super::identity::{array_at, check_fixed, verify_strict};
use super::{
    CryptoError, CryptoRng, DeviceCertificate, DeviceKeypair, DevicePublic, EpochKey,
    IdentityPublic, KeyContext, WrappedKey, CERTIFICATE_LEN, SIGNATURE_LEN, TAG_KEY_ENVELOPE,
    WRAPPED_KEY_LEN,
};

/// The signed-envelope format version this build writes and reads.
pub const SIGNED_ENVELOPE_VERSION: u8 = 1;
/// Length of an encoded [`SignedEnvelope`].
pub const SIGNED_ENVELOPE_LEN: usize = BODY_LEN + SIGNATURE_LEN;
/// Length of the part the signature covers after the context.
const BODY_LEN: usize = 1 + CERTIFICATE_LEN + WRAPPED_KEY_LEN;
const WHAT: &str = "key envelope";

/// An epoch key wrapped for one device and signed by the device that wrapped it (see the module
/// docs). Build it with [`SignedEnvelope::seal`]; check and open it with
/// [`SignedEnvelope::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEnvelope {
    certificate: DeviceCertificate,
    wrapped: WrappedKey,
    signature: [u8; SIGNATURE_LEN],
}

impl SignedEnvelope {
    /// Wraps `key` for `recipient` under `context` and signs it as `sender`, whose certificate
    /// travels with it.
    ///
    /// Fails with [`CryptoError::SignerMismatch`] if `certificate` is not `sender`'s, and with
    /// [`CryptoError::RecipientMismatch`] if `context` does not name `recipient`.
    pub fn seal(
        rng: &mut impl CryptoRng,
        key: &EpochKey,
        recipient: &DevicePublic,
        context: &KeyContext,
        sender: &DeviceKeypair,
        certificate: &DeviceCertificate,
    ) -> Result<Self, CryptoError> {
        if certificate.device != sender.public() {
            return Err(CryptoError::SignerMismatch {
                certificate: certificate.device_id(),
                key: sender.device_id(),
            });
        }
        let wrapped = wrap_epoch_key(rng, key, recipient, context)?;
        let mut envelope = Self {
            certificate: certificate.clone(),
            wrapped,
            signature: [0; SIGNATURE_LEN],
        };
        envelope.signature = sender.sign(&envelope.signed_message(context));
        Ok(envelope)
    }

    /// Checks the envelope and unwraps the key, in this order: the certificate was issued by
    /// `owner` (strictly verified), the certifying device signed this envelope for `context`,
    /// and only then HPKE opens it for `me`. An envelope that fails any check yields no key.
    pub fn open(
        &self,
        me: &DeviceKeypair,
        owner: &IdentityPublic,
        context: &KeyContext,
    ) -> Result<EpochKey, CryptoError> {
        self.certificate.verify_owner(owner)?;
        verify_strict(
            &self.certificate.device.signing,
            &self.signed_message(context),
            &self.signature,
            WHAT,
        )?;
        unwrap_epoch_key(me, &self.wrapped, context)
    }

    /// The certificate of the device that wrapped and signed the key (not yet verified: only
    /// [`SignedEnvelope::open`] says whether to trust it).
    pub fn certificate(&self) -> &DeviceCertificate {
        &self.certificate
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BODY_LEN);
        out.push(SIGNED_ENVELOPE_VERSION);
        out.extend_from_slice(&self.certificate.to_bytes());
        out.extend_from_slice(&self.wrapped.to_bytes());
        out
    }

    /// `TAG_KEY_ENVELOPE || doc_id || epoch || recipient || body`.
    fn signed_message(&self, context: &KeyContext) -> Vec<u8> {
        [TAG_KEY_ENVELOPE, &context.to_bytes(), &self.body()].concat()
    }

    /// The 316-byte encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.body().as_slice(), &self.signature].concat()
    }

    /// Decodes [`SignedEnvelope::to_bytes`], checking the version, the exact length and the
    /// embedded encodings. This does not verify anything: use [`SignedEnvelope::open`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        check_fixed(bytes, WHAT, SIGNED_ENVELOPE_VERSION, SIGNED_ENVELOPE_LEN)?;
        let wrapped_at = 1 + CERTIFICATE_LEN;
        Ok(Self {
            certificate: DeviceCertificate::from_bytes(&bytes[1..wrapped_at])?,
            wrapped: WrappedKey::from_bytes(&bytes[wrapped_at..BODY_LEN])?,
            signature: array_at(bytes, BODY_LEN),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::IdentityKeypair;
    use crate::protocol::DocId;
    use crate::{Role, Timestamp};

    struct Setup {
        owner: IdentityKeypair,
        laptop: DeviceKeypair,
        laptop_cert: DeviceCertificate,
        phone: DeviceKeypair,
        key: EpochKey,
        context: KeyContext,
        envelope: SignedEnvelope,
    }

    fn setup() -> Setup {
        let mut r = rng(40);
        let owner = IdentityKeypair::generate(&mut r);
        let laptop = DeviceKeypair::generate(&mut r);
        let phone = DeviceKeypair::generate(&mut r);
        let laptop_cert = owner.certify(&laptop.public(), Role::Client, Timestamp(5));
        let key = EpochKey::generate(&mut r);
        let context = KeyContext {
            doc_id: DocId([3; 16]),
            epoch: 2,
            recipient: phone.device_id(),
        };
        let envelope = SignedEnvelope::seal(
            &mut r,
            &key,
            &phone.public(),
            &context,
            &laptop,
            &laptop_cert,
        )
        .unwrap();
        Setup {
            owner,
            laptop,
            laptop_cert,
            phone,
            key,
            context,
            envelope,
        }
    }

    #[test]
    fn sealed_envelope_round_trips_and_opens_for_the_owner() {
        let s = setup();
        let bytes = s.envelope.to_bytes();
        assert_eq!(bytes.len(), SIGNED_ENVELOPE_LEN);
        assert_eq!(SIGNED_ENVELOPE_LEN, 316);
        assert_eq!(bytes[0], SIGNED_ENVELOPE_VERSION);
        assert_eq!(&bytes[1..171], s.laptop_cert.to_bytes().as_slice());
        let back = SignedEnvelope::from_bytes(&bytes).unwrap();
        assert_eq!(back, s.envelope);
        assert_eq!(back.certificate(), &s.laptop_cert);
        let key = back.open(&s.phone, &s.owner.public(), &s.context).unwrap();
        assert_eq!(key.as_bytes(), s.key.as_bytes());
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let s = setup();
        let bytes = s.envelope.to_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.clone();
                tampered[i] ^= 1 << bit;
                // Either it no longer decodes (version, role) or it no longer opens.
                if let Ok(decoded) = SignedEnvelope::from_bytes(&tampered) {
                    assert!(
                        decoded
                            .open(&s.phone, &s.owner.public(), &s.context)
                            .is_err(),
                        "bit {bit} of byte {i} went unnoticed"
                    );
                }
            }
        }
    }

    #[test]
    fn another_document_epoch_or_recipient_is_refused_by_the_signature() {
        let s = setup();
        let contexts = [
            KeyContext {
                doc_id: DocId([4; 16]),
                ..s.context
            },
            KeyContext {
                epoch: 3,
                ..s.context
            },
        ];
        for context in contexts {
            assert_eq!(
                s.envelope
                    .open(&s.phone, &s.owner.public(), &context)
                    .unwrap_err(),
                CryptoError::BadSignature { what: WHAT }
            );
        }
        // Refiled for the laptop: the signature fails before the recipient check could matter.
        let laptops = KeyContext {
            recipient: s.laptop.device_id(),
            ..s.context
        };
        assert_eq!(
            s.envelope
                .open(&s.laptop, &s.owner.public(), &laptops)
                .unwrap_err(),
            CryptoError::BadSignature { what: WHAT }
        );
    }

    #[test]
    fn a_device_of_another_identity_is_not_the_owner() {
        // A member (say, a therapist) wraps a key of its own choosing and signs it properly
        // with its own certified device: the recipient still refuses it.
        let s = setup();
        let mut r = rng(41);
        let member = IdentityKeypair::generate(&mut r);
        let device = DeviceKeypair::generate(&mut r);
        let cert = member.certify(&device.public(), Role::Therapist, Timestamp(6));
        let their_key = EpochKey::generate(&mut r);
        let squat = SignedEnvelope::seal(
            &mut r,
            &their_key,
            &s.phone.public(),
            &s.context,
            &device,
            &cert,
        )
        .unwrap();
        assert!(matches!(
            squat.open(&s.phone, &s.owner.public(), &s.context),
            Err(CryptoError::WrongOwner { .. })
        ));
        // The same envelope with its certificate relabelled as the owner's: the certificate's
        // signature fails.
        let mut relabelled = squat.clone();
        relabelled.certificate.owner = s.owner.public();
        assert_eq!(
            relabelled
                .open(&s.phone, &s.owner.public(), &s.context)
                .unwrap_err(),
            CryptoError::BadSignature {
                what: "device certificate"
            }
        );
    }

    #[test]
    fn a_wrong_signer_is_refused() {
        let s = setup();
        let mut r = rng(42);
        // The owner's own certificate, but signed by a device key that is not the certified one.
        let other = DeviceKeypair::generate(&mut r);
        assert!(matches!(
            SignedEnvelope::seal(
                &mut r,
                &s.key,
                &s.phone.public(),
                &s.context,
                &other,
                &s.laptop_cert
            ),
            Err(CryptoError::SignerMismatch { .. })
        ));
        let mut forged = s.envelope.clone();
        forged.signature = other.sign(&forged.signed_message(&s.context));
        assert_eq!(
            forged
                .open(&s.phone, &s.owner.public(), &s.context)
                .unwrap_err(),
            CryptoError::BadSignature { what: WHAT }
        );
        // A signature over the body without the context does not verify either.
        let mut contextless = s.envelope.clone();
        contextless.signature = s
            .laptop
            .sign(&[TAG_KEY_ENVELOPE, &contextless.body()].concat());
        assert!(contextless
            .open(&s.phone, &s.owner.public(), &s.context)
            .is_err());
    }

    #[test]
    fn decoding_rejects_bad_lengths_and_versions() {
        let s = setup();
        let bytes = s.envelope.to_bytes();
        assert!(matches!(
            SignedEnvelope::from_bytes(&bytes[..315]),
            Err(CryptoError::TooShort {
                expected: 316,
                actual: 315,
                ..
            })
        ));
        assert!(matches!(
            SignedEnvelope::from_bytes(&[bytes.as_slice(), &[0]].concat()),
            Err(CryptoError::TooLong { .. })
        ));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert!(matches!(
            SignedEnvelope::from_bytes(&v2),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
        // An unsigned (version 1, 81-byte) wrapped key from an older build is not an envelope.
        assert!(matches!(
            SignedEnvelope::from_bytes(&s.envelope.wrapped.to_bytes()),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(SignedEnvelope::from_bytes(&[]).is_err());
    }
}
