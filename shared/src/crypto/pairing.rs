//! Pairing a new device, and invite secrets for registration.
//!
//! **Pairing.** An existing device shows a [`PairingSecret`] as a code; the person types it on
//! the new device. Both derive, with HKDF-SHA256, a *mailbox* id (which the relay indexes by)
//! and an XChaCha20-Poly1305 key (which never leaves the devices). Each side leaves sealed
//! messages in the mailbox for the other, so the two devices never need to be online at the same
//! time. The relay sees the mailbox id and ciphertext only; with a 128-bit secret it can neither
//! read nor forge a message, so it cannot slip its own keys into the exchange. Messages are
//! bound to the mailbox (it is the associated data), but both directions share one key: payloads
//! must say which side wrote them, so a message reflected back to its sender is recognised.
//!
//! **Invites.** An [`InviteSecret`] is given to the invitee out of band; the relay stores only
//! its [`InviteSecret::hash`], so a leak of the relay's database does not leak usable invites.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::code;
use super::identity::array_at;
use super::{
    CryptoError, CryptoRng, TAG_INVITE, TAG_LEN, TAG_PAIRING_KEY, TAG_PAIRING_MAILBOX, XNONCE_LEN,
};

/// Version byte that starts a sealed pairing message.
const PAIRING_VERSION: u8 = 1;
/// Largest sealed pairing message accepted or produced: 64 KiB.
pub const MAX_PAIRING_MESSAGE: usize = 64 * 1024;
const PAIRING_OVERHEAD: usize = 1 + XNONCE_LEN + TAG_LEN;
const WHAT: &str = "pairing message";

/// The 128-bit secret behind a pairing code. Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PairingSecret([u8; 16]);

impl PairingSecret {
    /// A fresh random pairing secret.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = [0u8; 16];
        rng.fill_bytes(&mut secret);
        Self(secret)
    }

    /// Wraps raw secret bytes (for a device that keeps an unfinished pairing in its store).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes. Do not log or send them.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The code to show and type: 26 Crockford base-32 digits and a check symbol, in groups of
    /// four, like `4TV6-B1R9-FAVY-GADC-3G9X-BPCF-WXK`.
    pub fn to_code(&self) -> String {
        code::encode(&self.0)
    }

    /// Reads a typed code. Case, spaces and dashes do not matter, and `O`, `I`, `L` are read as
    /// `0`, `1`, `1`. A typo gives [`CryptoError::BadPairingCode`] saying what is wrong.
    pub fn from_code(text: &str) -> Result<Self, CryptoError> {
        code::decode::<16>(text)
            .map(Self)
            .map_err(CryptoError::BadPairingCode)
    }

    fn derive(&self, info: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        // HKDF-Expand only fails for outputs over 255 * 32 bytes.
        let _ = Hkdf::<Sha256>::new(None, &self.0).expand(info, out.as_mut());
        out
    }

    /// The mailbox id the relay files this pairing's messages under:
    /// `HKDF-SHA256(salt = none, ikm = secret, info = TAG_PAIRING_MAILBOX)`. It reveals nothing
    /// about the encryption key.
    pub fn mailbox(&self) -> [u8; 32] {
        *self.derive(TAG_PAIRING_MAILBOX)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key = self.derive(TAG_PAIRING_KEY);
        let key: &[u8; 32] = &key;
        XChaCha20Poly1305::new(key.into())
    }

    /// Seals a message for the other device: `version (1) || nonce (24) || ciphertext+tag`,
    /// XChaCha20-Poly1305 under the derived key with the mailbox id as associated data.
    /// Fails with [`CryptoError::TooLong`] over [`MAX_PAIRING_MESSAGE`].
    pub fn seal(&self, rng: &mut impl CryptoRng, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let len = PAIRING_OVERHEAD.saturating_add(plaintext.len());
        if len > MAX_PAIRING_MESSAGE {
            return Err(CryptoError::TooLong {
                what: WHAT,
                max: MAX_PAIRING_MESSAGE,
                actual: len,
            });
        }
        let mut nonce = [0u8; XNONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mailbox = self.mailbox();
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &mailbox,
                },
            )
            .map_err(|_| CryptoError::EncryptFailed { what: WHAT })?;
        let mut out = Vec::with_capacity(len);
        out.push(PAIRING_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a message sealed with the same secret. Fails with [`CryptoError::DecryptFailed`]
    /// if it was sealed with another secret or altered.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() > MAX_PAIRING_MESSAGE {
            return Err(CryptoError::TooLong {
                what: WHAT,
                max: MAX_PAIRING_MESSAGE,
                actual: sealed.len(),
            });
        }
        let Some(&version) = sealed.first() else {
            return Err(CryptoError::TooShort {
                what: WHAT,
                expected: PAIRING_OVERHEAD,
                actual: 0,
            });
        };
        if version != PAIRING_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what: WHAT,
                version,
                supported: PAIRING_VERSION,
            });
        }
        if sealed.len() < PAIRING_OVERHEAD {
            return Err(CryptoError::TooShort {
                what: WHAT,
                expected: PAIRING_OVERHEAD,
                actual: sealed.len(),
            });
        }
        let nonce: [u8; XNONCE_LEN] = array_at(sealed, 1);
        let mailbox = self.mailbox();
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + XNONCE_LEN..],
                    aad: &mailbox,
                },
            )
            .map_err(|_| CryptoError::DecryptFailed { what: WHAT })
    }
}

impl fmt::Debug for PairingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingSecret(<redacted>)")
    }
}

/// A 256-bit one-time invite secret. The relay stores only its [`InviteSecret::hash`].
/// Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct InviteSecret([u8; 32]);

impl InviteSecret {
    /// A fresh random invite secret.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self(secret)
    }

    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes. Do not log them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The code to hand over: 52 Crockford base-32 digits and a check symbol, in groups of four.
    pub fn to_code(&self) -> String {
        code::encode(&self.0)
    }

    /// Reads a code, as forgivingly as [`PairingSecret::from_code`]; a typo gives
    /// [`CryptoError::BadInviteCode`].
    pub fn from_code(text: &str) -> Result<Self, CryptoError> {
        code::decode::<32>(text)
            .map(Self)
            .map_err(CryptoError::BadInviteCode)
    }

    /// What the relay stores and compares: `SHA-256(TAG_INVITE || secret)`.
    pub fn hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(TAG_INVITE);
        hasher.update(self.0);
        array_at(&hasher.finalize(), 0)
    }
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::CodeProblem;

    #[test]
    fn pairing_code_round_trips_and_derives_the_same_mailbox() {
        let secret = PairingSecret::generate(&mut rng(40));
        let code = secret.to_code();
        let typed = PairingSecret::from_code(&code.to_lowercase().replace('-', " ")).unwrap();
        assert_eq!(typed.as_bytes(), secret.as_bytes());
        assert_eq!(typed.mailbox(), secret.mailbox());
        assert_ne!(&typed.mailbox()[..16], secret.as_bytes());
    }

    #[test]
    fn a_typo_is_reported_as_a_bad_pairing_code() {
        let code = PairingSecret::generate(&mut rng(41)).to_code();
        let mut chars: Vec<char> = code.chars().collect();
        chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        let err = PairingSecret::from_code(&typo).unwrap_err();
        assert_eq!(
            err,
            CryptoError::BadPairingCode(CodeProblem::ChecksumMismatch)
        );
        assert!(err
            .to_string()
            .starts_with("that pairing code is not right: "));
        assert!(matches!(
            PairingSecret::from_code("ABCD"),
            Err(CryptoError::BadPairingCode(CodeProblem::WrongLength { .. }))
        ));
    }

    #[test]
    fn sealed_messages_open_only_with_the_same_secret() {
        let secret = PairingSecret::generate(&mut rng(42));
        let other = PairingSecret::generate(&mut rng(43));
        let sealed = secret.seal(&mut rng(44), b"device keys").unwrap();
        assert_eq!(secret.open(&sealed).unwrap(), b"device keys");
        assert!(matches!(
            other.open(&sealed),
            Err(CryptoError::DecryptFailed { .. })
        ));
        for i in 1..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x80;
            assert!(matches!(
                secret.open(&tampered),
                Err(CryptoError::DecryptFailed { .. })
            ));
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(matches!(
            secret.open(&v2),
            Err(CryptoError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            secret.open(&sealed[..20]),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(matches!(
            secret.open(&[]),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(matches!(
            secret.seal(&mut rng(45), &vec![0; MAX_PAIRING_MESSAGE]),
            Err(CryptoError::TooLong { .. })
        ));
    }

    #[test]
    fn invite_code_round_trips_and_hash_is_stable() {
        let invite = InviteSecret::generate(&mut rng(46));
        let back = InviteSecret::from_code(&invite.to_code()).unwrap();
        assert_eq!(back.hash(), invite.hash());
        assert_ne!(&invite.hash(), invite.as_bytes());
        let mut code: Vec<char> = invite.to_code().chars().collect();
        code.swap(0, 1);
        if code[0] != code[1] {
            assert!(matches!(
                InviteSecret::from_code(&code.into_iter().collect::<String>()),
                Err(CryptoError::BadInviteCode(_))
            ));
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        assert_eq!(
            format!("{:?}", PairingSecret::from_bytes([1; 16])),
            "PairingSecret(<redacted>)"
        );
        assert_eq!(
            format!("{:?}", InviteSecret::from_bytes([1; 32])),
            "InviteSecret(<redacted>)"
        );
    }
}
