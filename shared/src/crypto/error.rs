//! The one error type of the crypto layer.
//!
//! Variants are split by what the caller should do about them: a malformed or unknown-version
//! input (reject the message), a failed signature or decryption (treat the sender or relay as
//! misbehaving), a context mismatch (a bug in the caller), or a mistyped code (ask the person
//! to retype it). Messages never contain secret material.

use super::code::CodeProblem;
use super::identity::IdentityPublic;
use crate::protocol::DeviceId;

/// Everything that can go wrong while encoding, decoding, signing, verifying, encrypting or
/// decrypting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The input ended before the format's fixed fields did.
    #[error("{what} is too short: expected at least {expected} bytes, got {actual}")]
    TooShort {
        /// Which encoding was being read.
        what: &'static str,
        /// The smallest valid length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The input is longer than the format allows (trailing bytes, or over a size limit).
    #[error("{what} is too long: at most {max} bytes are allowed, got {actual}")]
    TooLong {
        /// Which encoding was being read or written.
        what: &'static str,
        /// The largest valid length.
        max: usize,
        /// The length given.
        actual: usize,
    },
    /// The version byte names a format this build does not know.
    #[error("{what} has format version {version}, but this build understands only version {supported}; update the app")]
    UnsupportedVersion {
        /// Which encoding was being read.
        what: &'static str,
        /// The version byte found.
        version: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A bundle header with a kind byte that is neither changes nor snapshot.
    #[error("unknown bundle kind {0}: expected 1 (changes) or 2 (snapshot)")]
    UnknownBundleKind(u8),
    /// A device certificate with a role byte that is neither client nor therapist.
    #[error("unknown role {0} in device certificate: expected 1 (client) or 2 (therapist)")]
    UnknownRole(u8),
    /// 32 bytes that do not decode to an Ed25519 public key.
    #[error("{what} is not a valid Ed25519 public key")]
    InvalidPublicKey {
        /// Whose key it was meant to be.
        what: &'static str,
    },
    /// A signature that strict Ed25519 verification rejects: wrong key, altered message,
    /// non-canonical encoding or a small-order (weak) key or point.
    #[error("bad signature on {what}: it was not made by the expected key, or the signed bytes were altered")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// A bundle whose header names a different author than the key it is checked against.
    #[error("bundle header names author device {header}, but it was checked against the key of device {key}")]
    AuthorMismatch {
        /// The author named in the header.
        header: DeviceId,
        /// The device whose signing key was supplied.
        key: DeviceId,
    },
    /// A certificate issued by an identity other than the one expected.
    #[error("device certificate was issued by identity {actual}, not by the expected identity {expected}")]
    WrongOwner {
        /// The identity the caller expected.
        expected: IdentityPublic,
        /// The identity in the certificate.
        actual: IdentityPublic,
    },
    /// Authenticated decryption failed: the key is wrong, or the ciphertext, nonce or
    /// associated data were altered.
    #[error("could not decrypt {what}: wrong key, or the ciphertext or its header was altered")]
    DecryptFailed {
        /// What was being decrypted.
        what: &'static str,
    },
    /// HPKE could not open a wrapped epoch key: it was wrapped for another device, document or
    /// epoch, or it was altered.
    #[error("could not unwrap the epoch key: it was not wrapped for this device, document and epoch, or it was altered")]
    UnwrapFailed,
    /// A [`KeyContext`](super::KeyContext) naming a different device than the key used with it.
    #[error("the key context names device {context}, but the key belongs to device {key}")]
    RecipientMismatch {
        /// The recipient named in the context.
        context: DeviceId,
        /// The device that owns the key.
        key: DeviceId,
    },
    /// A certificate handed in to sign with that is not the signing device's own.
    #[error(
        "the certificate is for device {certificate}, but the signing key belongs to device {key}"
    )]
    SignerMismatch {
        /// The device the certificate names.
        certificate: DeviceId,
        /// The device that owns the signing key.
        key: DeviceId,
    },
    /// Encryption failed (only possible for inputs far beyond any size limit, or an invalid
    /// recipient key in HPKE).
    #[error("could not encrypt {what}")]
    EncryptFailed {
        /// What was being encrypted.
        what: &'static str,
    },
    /// A pairing code that does not decode; the person should retype it.
    #[error("that pairing code is not right: {0}")]
    BadPairingCode(CodeProblem),
    /// An invite code that does not decode; the person should retype or re-paste it.
    #[error("that invite code is not right: {0}")]
    BadInviteCode(CodeProblem),
    /// Text that should be lowercase or uppercase hex of a fixed length.
    #[error("{what} must be {expected} hexadecimal characters")]
    BadHex {
        /// What was being parsed.
        what: &'static str,
        /// The number of hex characters expected.
        expected: usize,
    },
}
