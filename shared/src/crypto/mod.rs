//! End-to-end encryption for sync: keys, certificates, key wrapping, sealed bundles, pairing
//! and sign-in.
//!
//! # Why this layer exists
//!
//! The relay that moves changes between devices is treated as hostile: it may read everything it
//! stores, replay, reorder, drop, roll back, and hand out the wrong public keys. Everything it
//! stores for a document is therefore ciphertext, signed by the device that wrote it, under a
//! key the relay never sees. This module is the only place that knows how those bytes are laid
//! out; `docs/envelope.md` describes every layout byte by byte, and the vectors in
//! `docs/vectors/` (made by an independent Python implementation over libsodium and pyhpke) pin
//! them down.
//!
//! # The pieces
//!
//! - [`IdentityKeypair`] — one Ed25519 key per person. It signs [`DeviceCertificate`]s, which is
//!   how a device is trusted (cross-signing). People compare its [`IdentityPublic::fingerprint`]
//!   out of band.
//! - [`DeviceKeypair`] — per device: an Ed25519 signing key (bundles, sign-in) and an X25519 key
//!   (receiving wrapped document keys). Its id, the wire protocol's
//!   [`DeviceId`](crate::protocol::DeviceId), is a hash of the signing key (derived here, by
//!   `DeviceId::from_signing_key`), so an id and a key cannot be mixed and matched.
//! - [`EpochKey`] — the symmetric key of one document epoch, wrapped for each member device with
//!   HPKE (RFC 9180) under a [`KeyContext`] naming the document, epoch and recipient, inside a
//!   [`SignedEnvelope`] that carries the wrapping device's certificate and signature, so a
//!   recipient takes a key only from a device of the document's owner.
//! - [`seal_bundle`] / [`open_bundle`] — XChaCha20-Poly1305 with the [`BundleHeader`] as
//!   associated data, then an Ed25519 signature by the author device. Opening checks the
//!   signature strictly *before* decrypting.
//! - [`PairingSecret`] / [`InviteSecret`] — human-typable secrets for adding a device and for
//!   registering; the relay only sees values derived from them.
//! - [`sign_in_message`] / [`verify_device_signature`] — challenge-response sign-in.
//! - [`SignedMembership`] — who may hold a document's keys, signed by its owner; devices trust
//!   another person's device only through it.
//! - [`ClientInvite`] — a therapist's invite for a client: the relay's address, the one-time
//!   secret, and a commitment to the therapist's identity key, so the client seals the document
//!   key to the right person even if the relay lies.
//!
//! # Rules this module keeps
//!
//! - No primitives of our own: Ed25519 (`ed25519-dalek`, strict verification only), X25519
//!   (`x25519-dalek`), HPKE (`hpke`), XChaCha20-Poly1305 (`chacha20poly1305`), SHA-2 and HKDF
//!   (RustCrypto).
//! - No IO: randomness comes in as a `&mut impl CryptoRng`, time as an argument.
//! - Every signed or hashed message starts with its own domain-separation tag (see the `TAG_*`
//!   constants), each ending in a NUL byte so that no tag is a prefix of another.
//! - Secret keys are zeroized on drop and their `Debug` output is redacted.
//! - Every decoder checks lengths and version bytes and returns a typed [`CryptoError`]; none
//!   panics on any input.
//! - Replay, rollback and counter semantics are the caller's: this module authenticates a
//!   bundle's header, and the sync layer decides whether that header is acceptable.

mod bundle;
mod certificate;
mod code;
mod epoch;
mod error;
mod hex;
mod identity;
mod invite;
mod membership;
mod pairing;
mod signed_envelope;
mod signin;
#[cfg(test)]
mod test_rng;
#[cfg(test)]
mod vectors;

pub use bundle::{
    open_bundle, seal_bundle, BundleHeader, BundleKind, SealedBundle, BUNDLE_FORMAT_VERSION,
    BUNDLE_HEADER_LEN, MAX_SEALED_BUNDLE, MAX_SEALED_SNAPSHOT, MIN_SEALED_BUNDLE,
};
pub use certificate::{DeviceCertificate, CERTIFICATE_LEN, CERTIFICATE_VERSION};
pub use code::CodeProblem;
pub use epoch::{
    unwrap_epoch_key, wrap_epoch_key, EpochKey, KeyContext, WrappedKey, WRAPPED_KEY_LEN,
    WRAPPED_KEY_VERSION,
};
pub use error::CryptoError;
pub use identity::{
    DeviceKeypair, DevicePublic, IdentityKeypair, IdentityPublic, DEVICE_KEYPAIR_LEN,
    IDENTITY_KEYPAIR_LEN,
};
pub use invite::{ClientInvite, IdentityCommitment, TAG_IDENTITY_COMMITMENT};
pub use membership::{
    Member, MembershipError, SignedMembership, MAX_MEMBERS, MEMBERSHIP_VERSION, TAG_MEMBERSHIP,
};
pub use pairing::{InviteSecret, PairingSecret, MAX_PAIRING_MESSAGE};
pub use signed_envelope::{SignedEnvelope, SIGNED_ENVELOPE_LEN, SIGNED_ENVELOPE_VERSION};
pub use signin::{sign_in_message, verify_device_signature};

/// Randomness source accepted by every function that needs it (for example `rand::rng()`).
pub use rand_core::CryptoRng;

/// Domain tag hashed before a device's signing key to make its
/// [`DeviceId`](crate::protocol::DeviceId).
pub const TAG_DEVICE_ID: &[u8] = b"between/device-id/v1\0";
/// Domain tag hashed before an identity key to make its fingerprint.
pub const TAG_FINGERPRINT: &[u8] = b"between/fingerprint/v1\0";
/// Domain tag signed before a device certificate's body.
pub const TAG_CERTIFICATE: &[u8] = b"between/device-cert/v1\0";
/// Domain tag signed before a sealed bundle's header, nonce and ciphertext.
pub const TAG_BUNDLE: &[u8] = b"between/bundle/v1\0";
/// Domain tag that starts every sign-in message.
pub const TAG_SIGN_IN: &[u8] = b"between/sign-in/v1\0";
/// Domain tag that starts the HPKE `info` (and associated data) of a wrapped epoch key.
pub const TAG_EPOCH_KEY: &[u8] = b"between/epoch-key/v1\0";
/// Domain tag signed, with the key context, before a [`SignedEnvelope`]'s body.
pub const TAG_KEY_ENVELOPE: &[u8] = b"between/key-envelope/v1\0";
/// HKDF `info` that derives a pairing mailbox id from a pairing secret.
pub const TAG_PAIRING_MAILBOX: &[u8] = b"between/pairing/v1/mailbox\0";
/// HKDF `info` that derives a pairing encryption key from a pairing secret.
pub const TAG_PAIRING_KEY: &[u8] = b"between/pairing/v1/key\0";
/// Domain tag hashed before an invite secret to make the hash the relay stores.
pub const TAG_INVITE: &[u8] = b"between/invite/v1\0";

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an XChaCha20-Poly1305 nonce.
pub const XNONCE_LEN: usize = 24;
/// Length of a Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No decoder panics on any input, including inputs that start with a valid version byte.
        #[test]
        fn decoders_never_panic(
            first in prop_oneof![Just(1u8), any::<u8>()],
            rest in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let bytes = [&[first][..], &rest].concat();
            let _ = SealedBundle::from_bytes(&bytes);
            let _ = BundleHeader::from_bytes(&bytes);
            let _ = DeviceCertificate::from_bytes(&bytes);
            let _ = WrappedKey::from_bytes(&bytes);
            let _ = SignedEnvelope::from_bytes(&bytes);
            let _ = IdentityKeypair::from_bytes(&bytes);
            let _ = DeviceKeypair::from_bytes(&bytes);
            let _ = PairingSecret::from_bytes([7; 16]).open(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = PairingSecret::from_code(&text);
            let _ = InviteSecret::from_code(&text);
            let _ = text.parse::<crate::protocol::DeviceId>();
            let _ = text.parse::<IdentityPublic>();
        }
    }

    #[test]
    fn domain_tags_are_distinct_and_nul_terminated() {
        let tags = [
            TAG_DEVICE_ID,
            TAG_FINGERPRINT,
            TAG_CERTIFICATE,
            TAG_BUNDLE,
            TAG_SIGN_IN,
            TAG_EPOCH_KEY,
            TAG_KEY_ENVELOPE,
            TAG_PAIRING_MAILBOX,
            TAG_PAIRING_KEY,
            TAG_INVITE,
        ];
        for (i, a) in tags.iter().enumerate() {
            assert_eq!(a.last(), Some(&0));
            assert_eq!(a.iter().filter(|b| **b == 0).count(), 1);
            for b in &tags[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a));
            }
        }
    }
}
