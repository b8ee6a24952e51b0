//! Challenge-response sign-in: no passwords, no bearer tokens.
//!
//! The relay sends a fresh 32-byte challenge; the device signs
//! [`sign_in_message`]`(challenge, relay_origin, timestamp_ms)` with its Ed25519 key, and the relay
//! checks it with [`verify_device_signature`] against the key registered for the device. The
//! origin stops a signature made for one relay from being replayed to another, the timestamp
//! lets the relay refuse stale answers, and the domain tag stops a hostile relay from passing
//! off a bundle or certificate as a "challenge" to get it signed.
//!
//! Message layout: `TAG_SIGN_IN || challenge (32) || origin length (u64 BE) || origin (UTF-8) ||
//! timestamp_ms (i64 BE)`.

use super::identity::verify_strict;
use super::{CryptoError, SIGNATURE_LEN, TAG_SIGN_IN};

/// The bytes a device signs to answer a relay's sign-in challenge.
pub fn sign_in_message(challenge: &[u8; 32], relay_origin: &str, timestamp_ms: i64) -> Vec<u8> {
    let origin = relay_origin.as_bytes();
    let mut out = Vec::with_capacity(TAG_SIGN_IN.len() + 32 + 8 + origin.len() + 8);
    out.extend_from_slice(TAG_SIGN_IN);
    out.extend_from_slice(challenge);
    // usize is at most 64 bits on every supported target.
    out.extend_from_slice(&(origin.len() as u64).to_be_bytes());
    out.extend_from_slice(origin);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out
}

/// Checks a device's Ed25519 signature over `message` with strict verification (rejects
/// non-canonical signatures and small-order keys or points).
pub fn verify_device_signature(
    signing: &[u8; 32],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), CryptoError> {
    verify_strict(signing, message, signature, "device signature")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::DeviceKeypair;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    /// The Ed25519 group order ℓ, little-endian.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    #[test]
    fn sign_in_round_trip_and_binding() {
        let device = DeviceKeypair::generate(&mut rng(50));
        let key = device.public().signing;
        let msg = sign_in_message(&[9; 32], "https://relay.example", 1_700_000_000_000);
        let sig = device.sign(&msg);
        verify_device_signature(&key, &msg, &sig).unwrap();
        for other in [
            sign_in_message(&[8; 32], "https://relay.example", 1_700_000_000_000),
            sign_in_message(&[9; 32], "https://evil.example", 1_700_000_000_000),
            sign_in_message(&[9; 32], "https://relay.example", 1_700_000_000_001),
        ] {
            assert!(matches!(
                verify_device_signature(&key, &other, &sig),
                Err(CryptoError::BadSignature { .. })
            ));
        }
        let stranger = DeviceKeypair::generate(&mut rng(51)).public().signing;
        assert!(verify_device_signature(&stranger, &msg, &sig).is_err());
    }

    #[test]
    fn origin_is_length_prefixed() {
        // Moving a byte between origin and timestamp must change the message.
        let a = sign_in_message(&[0; 32], "ab", 0);
        let b = sign_in_message(&[0; 32], "a", 0);
        assert_ne!(a[..a.len() - 8], b[..]);
        assert_eq!(a.len(), TAG_SIGN_IN.len() + 32 + 8 + 2 + 8);
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        let device = DeviceKeypair::generate(&mut rng(52));
        let key = device.public().signing;
        let msg = sign_in_message(&[1; 32], "https://relay.example", 5);
        let mut sig = device.sign(&msg);
        // s + ℓ is the same scalar mod ℓ but a different (non-canonical) encoding.
        let mut carry = 0u16;
        for (s, l) in sig[32..].iter_mut().zip(ELL) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "s + ℓ fits in 253 bits");
        assert!(matches!(
            verify_device_signature(&key, &msg, &sig),
            Err(CryptoError::BadSignature { .. })
        ));
    }

    #[test]
    fn small_order_key_passes_lax_but_not_strict_verification() {
        // Public key = identity point, R = identity point, s = 0: [s]B = R + [k]A holds for any
        // message. ed25519-dalek's non-strict `verify` accepts it; we must not.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let msg = sign_in_message(&[2; 32], "https://relay.example", 6);
        let lax = VerifyingKey::from_bytes(&identity_point)
            .unwrap()
            .verify(&msg, &Signature::from_bytes(&sig));
        assert!(
            lax.is_ok(),
            "the constructed signature should fool lax verification"
        );
        assert!(matches!(
            verify_device_signature(&identity_point, &msg, &sig),
            Err(CryptoError::BadSignature { .. })
        ));
    }

    #[test]
    fn invalid_key_bytes_are_reported() {
        // y = 2 is not on the curve.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        let err = verify_device_signature(&bad, b"m", &[0; 64]).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::InvalidPublicKey { .. } | CryptoError::BadSignature { .. }
        ));
    }
}
