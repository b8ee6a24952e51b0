//! Sealed bundles: the only form in which document changes and snapshots leave a device.
//!
//! A bundle is encrypted with the document's epoch key (XChaCha20-Poly1305, random 24-byte
//! nonce) with its [`BundleHeader`] as associated data, then signed by the author device over
//! `TAG_BUNDLE || header || nonce || ciphertext`. The AEAD alone would let any member forge a
//! bundle in another member's name (they share the key); the signature says which device wrote
//! it. The header binds format version, kind, document, epoch, author and counter, so a bundle
//! moved to another document or epoch fails to open, and a replayed one is recognisable by its
//! (author, counter) — rejecting replays and rollbacks is the sync layer's job.
//!
//! Encoding (big-endian integers):
//!
//! | offset | len | field |
//! | --- | --- | --- |
//! | 0 | 46 | header (starts with the format version byte) |
//! | 46 | 24 | nonce |
//! | 70 | n + 16 | ciphertext with Poly1305 tag |
//! | end − 64 | 64 | Ed25519 signature over `TAG_BUNDLE || bytes[0 .. end − 64]` |

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::identity::{array_at, verify_strict};
use super::{
    CryptoError, CryptoRng, DeviceKeypair, EpochKey, SIGNATURE_LEN, TAG_BUNDLE, TAG_LEN, XNONCE_LEN,
};
use crate::protocol::{DeviceId, DocId};

/// The bundle format version this build writes and reads.
pub const BUNDLE_FORMAT_VERSION: u8 = 1;
/// Length of an encoded [`BundleHeader`].
pub const BUNDLE_HEADER_LEN: usize = 1 + 1 + 16 + 4 + 16 + 8;
/// Largest encoded [`SealedBundle`] of changes accepted or produced: 1 MiB.
pub const MAX_SEALED_BUNDLE: usize = 1024 * 1024;
/// Largest encoded [`SealedBundle`] holding a snapshot: 16 MiB. A snapshot is the whole document
/// (about 2.7 MB after five years of daily homework), so it may be larger than a bundle of
/// changes; the protocol carries it in parts of at most one bundle's size.
pub const MAX_SEALED_SNAPSHOT: usize = 16 * MAX_SEALED_BUNDLE;
/// Smallest possible encoded [`SealedBundle`] (empty plaintext).
pub const MIN_SEALED_BUNDLE: usize = BUNDLE_HEADER_LEN + XNONCE_LEN + TAG_LEN + SIGNATURE_LEN;
const WHAT: &str = "sealed bundle";

/// What a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleKind {
    /// Incremental Automerge changes (byte value 1).
    Changes,
    /// A full document snapshot (byte value 2).
    Snapshot,
}

impl BundleKind {
    fn code(self) -> u8 {
        match self {
            BundleKind::Changes => 1,
            BundleKind::Snapshot => 2,
        }
    }

    /// The largest encoded sealed bundle of this kind.
    pub fn max_sealed(self) -> usize {
        match self {
            BundleKind::Changes => MAX_SEALED_BUNDLE,
            BundleKind::Snapshot => MAX_SEALED_SNAPSHOT,
        }
    }

    fn from_code(code: u8) -> Result<Self, CryptoError> {
        match code {
            1 => Ok(BundleKind::Changes),
            2 => Ok(BundleKind::Snapshot),
            other => Err(CryptoError::UnknownBundleKind(other)),
        }
    }
}

/// The authenticated, unencrypted header of a bundle (46 bytes):
/// `format_version (1) || kind (1) || doc_id (16) || epoch (u32 BE) || author (16) ||
/// counter (u64 BE)`. Its encoding is the AEAD associated data.
///
/// The relay can read it (it needs the document and epoch to route, and the counter to order),
/// but cannot change it without breaking both the AEAD tag and the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleHeader {
    format_version: u8,
    kind: BundleKind,
    doc_id: DocId,
    epoch: u32,
    author: DeviceId,
    counter: u64,
}

impl BundleHeader {
    /// A header in the current format version.
    pub fn new(
        kind: BundleKind,
        doc_id: DocId,
        epoch: u32,
        author: DeviceId,
        counter: u64,
    ) -> Self {
        Self {
            format_version: BUNDLE_FORMAT_VERSION,
            kind,
            doc_id,
            epoch,
            author,
            counter,
        }
    }

    /// The format version (always [`BUNDLE_FORMAT_VERSION`] for a header this build accepts).
    pub fn format_version(&self) -> u8 {
        self.format_version
    }

    /// Changes or snapshot.
    pub fn kind(&self) -> BundleKind {
        self.kind
    }

    /// The document the bundle belongs to.
    pub fn doc_id(&self) -> DocId {
        self.doc_id
    }

    /// The key epoch the bundle is encrypted under.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The device that wrote and signed the bundle.
    pub fn author(&self) -> DeviceId {
        self.author
    }

    /// The author's per-document counter; the sync layer rejects repeats and gaps it cannot
    /// explain.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The fixed 46-byte encoding.
    pub fn to_bytes(&self) -> [u8; BUNDLE_HEADER_LEN] {
        let mut out = [0u8; BUNDLE_HEADER_LEN];
        out[0] = self.format_version;
        out[1] = self.kind.code();
        out[2..18].copy_from_slice(&self.doc_id.0);
        out[18..22].copy_from_slice(&self.epoch.to_be_bytes());
        out[22..38].copy_from_slice(&self.author.0);
        out[38..46].copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// Decodes a header from the first 46 bytes of `bytes` (extra bytes are ignored; a sealed
    /// bundle continues after the header). Checks the version byte first.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let what = "bundle header";
        let Some(&version) = bytes.first() else {
            return Err(CryptoError::TooShort {
                what,
                expected: BUNDLE_HEADER_LEN,
                actual: 0,
            });
        };
        if version != BUNDLE_FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what,
                version,
                supported: BUNDLE_FORMAT_VERSION,
            });
        }
        if bytes.len() < BUNDLE_HEADER_LEN {
            return Err(CryptoError::TooShort {
                what,
                expected: BUNDLE_HEADER_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            format_version: version,
            kind: BundleKind::from_code(bytes[1])?,
            doc_id: DocId(array_at(bytes, 2)),
            epoch: u32::from_be_bytes(array_at(bytes, 18)),
            author: DeviceId(array_at(bytes, 22)),
            counter: u64::from_be_bytes(array_at(bytes, 38)),
        })
    }
}

/// An encrypted, signed bundle as stored and served by the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBundle {
    /// The authenticated header.
    pub header: BundleHeader,
    /// The random XChaCha20-Poly1305 nonce.
    pub nonce: [u8; XNONCE_LEN],
    /// Ciphertext followed by the 16-byte Poly1305 tag.
    pub ciphertext: Vec<u8>,
    /// The author device's Ed25519 signature.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SealedBundle {
    /// `header || nonce || ciphertext`: the signed part, without the tag.
    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BUNDLE_HEADER_LEN + XNONCE_LEN + self.ciphertext.len());
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    fn signed_message(&self) -> Vec<u8> {
        [TAG_BUNDLE, &self.signed_part()].concat()
    }

    /// The encoding described in the module docs; its first byte is the format version.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a sealed bundle, checking the size limit (of its kind), version byte, kind and
    /// minimum length. Does not verify or decrypt anything; use [`open_bundle`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        // The largest of any kind first, so nothing larger is even looked at.
        check_sealed_len(bytes.len(), MAX_SEALED_SNAPSHOT)?;
        let header = BundleHeader::from_bytes(bytes).map_err(|e| match e {
            CryptoError::TooShort { actual, .. } => CryptoError::TooShort {
                what: WHAT,
                expected: MIN_SEALED_BUNDLE,
                actual,
            },
            other => other,
        })?;
        check_sealed_len(bytes.len(), header.kind.max_sealed())?;
        if bytes.len() < MIN_SEALED_BUNDLE {
            return Err(CryptoError::TooShort {
                what: WHAT,
                expected: MIN_SEALED_BUNDLE,
                actual: bytes.len(),
            });
        }
        let signature_at = bytes.len() - SIGNATURE_LEN;
        Ok(Self {
            header,
            nonce: array_at(bytes, BUNDLE_HEADER_LEN),
            ciphertext: bytes[BUNDLE_HEADER_LEN + XNONCE_LEN..signature_at].to_vec(),
            signature: array_at(bytes, signature_at),
        })
    }
}

/// Refuses a sealed bundle longer than `max`.
fn check_sealed_len(len: usize, max: usize) -> Result<(), CryptoError> {
    if len > max {
        return Err(CryptoError::TooLong {
            what: WHAT,
            max,
            actual: len,
        });
    }
    Ok(())
}

fn cipher(key: &EpochKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.as_bytes().into())
}

/// Encrypts and signs `plaintext` as a bundle with the given header.
///
/// Draws the 24-byte nonce from `rng`. Fails with [`CryptoError::TooLong`] if the result would
/// exceed the largest of its kind ([`MAX_SEALED_BUNDLE`] for changes, [`MAX_SEALED_SNAPSHOT`]
/// for a snapshot), and with [`CryptoError::AuthorMismatch`] if the header's author
/// is not `author`.
pub fn seal_bundle(
    rng: &mut impl CryptoRng,
    header: BundleHeader,
    key: &EpochKey,
    author: &DeviceKeypair,
    plaintext: &[u8],
) -> Result<SealedBundle, CryptoError> {
    check_sealed_len(
        MIN_SEALED_BUNDLE.saturating_add(plaintext.len()),
        header.kind.max_sealed(),
    )?;
    let author_id = author.device_id();
    if header.author != author_id {
        return Err(CryptoError::AuthorMismatch {
            header: header.author,
            key: author_id,
        });
    }
    let mut nonce = [0u8; XNONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let aad = header.to_bytes();
    let ciphertext = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::EncryptFailed { what: WHAT })?;
    let mut sealed = SealedBundle {
        header,
        nonce,
        ciphertext,
        signature: [0u8; SIGNATURE_LEN],
    };
    sealed.signature = author.sign(&sealed.signed_message());
    Ok(sealed)
}

/// Verifies and decrypts a bundle written by the device whose Ed25519 signing key is
/// `author_signing`.
///
/// In order: the header's version must be known ([`CryptoError::UnsupportedVersion`]); the
/// header's author must be the device of `author_signing` ([`CryptoError::AuthorMismatch`]); the
/// signature must pass strict verification ([`CryptoError::BadSignature`]) — checked *before*
/// any decryption; then the AEAD must open ([`CryptoError::DecryptFailed`]: wrong epoch key or
/// altered bytes).
///
/// The caller still checks that the header's document, epoch and counter are the ones it
/// expects (replay and rollback protection live in the sync layer).
pub fn open_bundle(
    sealed: &SealedBundle,
    key: &EpochKey,
    author_signing: &[u8; 32],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.header.format_version != BUNDLE_FORMAT_VERSION {
        return Err(CryptoError::UnsupportedVersion {
            what: WHAT,
            version: sealed.header.format_version,
            supported: BUNDLE_FORMAT_VERSION,
        });
    }
    let key_owner = DeviceId::from_signing_key(author_signing);
    if sealed.header.author != key_owner {
        return Err(CryptoError::AuthorMismatch {
            header: sealed.header.author,
            key: key_owner,
        });
    }
    verify_strict(
        author_signing,
        &sealed.signed_message(),
        &sealed.signature,
        WHAT,
    )?;
    cipher(key)
        .decrypt(
            &XNonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &sealed.header.to_bytes(),
            },
        )
        .map_err(|_| CryptoError::DecryptFailed { what: WHAT })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;
    use proptest::prelude::*;

    struct Setup {
        author: DeviceKeypair,
        key: EpochKey,
        sealed: SealedBundle,
    }

    const PLAINTEXT: &[u8] = b"automerge changes: entry 'felt anxious before the meeting'";

    fn setup() -> Setup {
        let mut r = rng(30);
        let author = DeviceKeypair::generate(&mut r);
        let key = EpochKey::generate(&mut r);
        let header = BundleHeader::new(
            BundleKind::Changes,
            DocId([5; 16]),
            2,
            author.device_id(),
            9,
        );
        let sealed = seal_bundle(&mut r, header, &key, &author, PLAINTEXT).unwrap();
        Setup {
            author,
            key,
            sealed,
        }
    }

    fn signing(author: &DeviceKeypair) -> [u8; 32] {
        author.public().signing
    }

    #[test]
    fn seal_then_open_round_trips() {
        let s = setup();
        let bytes = s.sealed.to_bytes();
        assert_eq!(bytes[0], BUNDLE_FORMAT_VERSION);
        assert_eq!(bytes.len(), MIN_SEALED_BUNDLE + PLAINTEXT.len());
        let decoded = SealedBundle::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, s.sealed);
        assert_eq!(
            open_bundle(&decoded, &s.key, &signing(&s.author)).unwrap(),
            PLAINTEXT
        );
        let h = decoded.header;
        assert_eq!(
            (
                h.kind(),
                h.doc_id(),
                h.epoch(),
                h.author(),
                h.counter(),
                h.format_version()
            ),
            (
                BundleKind::Changes,
                DocId([5; 16]),
                2,
                s.author.device_id(),
                9,
                1
            )
        );
    }

    #[test]
    fn empty_and_snapshot_bundles_work() {
        let s = setup();
        let mut r = rng(31);
        let header = BundleHeader::new(
            BundleKind::Snapshot,
            DocId([1; 16]),
            0,
            s.author.device_id(),
            0,
        );
        let sealed = seal_bundle(&mut r, header, &s.key, &s.author, b"").unwrap();
        assert_eq!(sealed.to_bytes().len(), MIN_SEALED_BUNDLE);
        let decoded = SealedBundle::from_bytes(&sealed.to_bytes()).unwrap();
        assert_eq!(
            open_bundle(&decoded, &s.key, &signing(&s.author)).unwrap(),
            b""
        );
        assert_eq!(decoded.header.kind(), BundleKind::Snapshot);
    }

    #[test]
    fn tampering_any_byte_fails() {
        let s = setup();
        let bytes = s.sealed.to_bytes();
        let sig_at = bytes.len() - SIGNATURE_LEN;
        let regions = [
            ("header", 1..BUNDLE_HEADER_LEN),
            ("nonce", BUNDLE_HEADER_LEN..BUNDLE_HEADER_LEN + XNONCE_LEN),
            ("ciphertext", BUNDLE_HEADER_LEN + XNONCE_LEN..sig_at),
            ("signature", sig_at..bytes.len()),
        ];
        for (name, range) in regions {
            for i in range {
                let mut tampered = bytes.clone();
                tampered[i] ^= 0x40;
                let outcome = SealedBundle::from_bytes(&tampered)
                    .and_then(|b| open_bundle(&b, &s.key, &signing(&s.author)));
                let err = outcome.expect_err(&format!("{name} byte {i} went unnoticed"));
                // Flipping an author byte is caught as a mismatch, a kind byte as unknown, and
                // everything else by the signature — never by decryption first.
                assert!(
                    matches!(
                        err,
                        CryptoError::BadSignature { .. }
                            | CryptoError::AuthorMismatch { .. }
                            | CryptoError::UnknownBundleKind(_)
                    ),
                    "{name} byte {i}: {err:?}"
                );
            }
        }
        let mut version = bytes;
        version[0] = 2;
        assert!(matches!(
            SealedBundle::from_bytes(&version),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
    }

    #[test]
    fn tampered_ciphertext_with_a_fresh_signature_fails_decryption() {
        // A member who shares the epoch key but alters another's ciphertext cannot re-sign it;
        // here the author itself re-signs altered bytes to show the AEAD is checked too.
        let s = setup();
        let mut sealed = s.sealed.clone();
        sealed.ciphertext[0] ^= 1;
        sealed.signature = s.author.sign(&sealed.signed_message());
        assert_eq!(
            open_bundle(&sealed, &s.key, &signing(&s.author)).unwrap_err(),
            CryptoError::DecryptFailed { what: WHAT }
        );
    }

    #[test]
    fn a_bundle_moved_to_another_document_or_epoch_fails() {
        let s = setup();
        let h = s.sealed.header;
        let moved_doc =
            BundleHeader::new(h.kind(), DocId([6; 16]), h.epoch(), h.author(), h.counter());
        let moved_epoch =
            BundleHeader::new(h.kind(), h.doc_id(), h.epoch() + 1, h.author(), h.counter());
        let replayed_counter = BundleHeader::new(h.kind(), h.doc_id(), h.epoch(), h.author(), 8);
        for header in [moved_doc, moved_epoch, replayed_counter] {
            let mut moved = s.sealed.clone();
            moved.header = header;
            assert!(matches!(
                open_bundle(&moved, &s.key, &signing(&s.author)),
                Err(CryptoError::BadSignature { .. })
            ));
            // Even if the author re-signed it, the AEAD (header as associated data) refuses.
            moved.signature = s.author.sign(&moved.signed_message());
            assert!(matches!(
                open_bundle(&moved, &s.key, &signing(&s.author)),
                Err(CryptoError::DecryptFailed { .. })
            ));
        }
    }

    #[test]
    fn wrong_epoch_key_fails() {
        let s = setup();
        let other = EpochKey::generate(&mut rng(32));
        assert!(matches!(
            open_bundle(&s.sealed, &other, &signing(&s.author)),
            Err(CryptoError::DecryptFailed { .. })
        ));
    }

    #[test]
    fn another_devices_key_is_refused() {
        let s = setup();
        let other = DeviceKeypair::generate(&mut rng(33));
        assert!(matches!(
            open_bundle(&s.sealed, &s.key, &signing(&other)),
            Err(CryptoError::AuthorMismatch { .. })
        ));
        // Another device cannot seal under someone else's author id either.
        let header = s.sealed.header;
        assert!(matches!(
            seal_bundle(&mut rng(34), header, &s.key, &other, b"x"),
            Err(CryptoError::AuthorMismatch { .. })
        ));
    }

    #[test]
    fn sizes_are_limited() {
        let s = setup();
        let max_plaintext = vec![0u8; MAX_SEALED_BUNDLE - MIN_SEALED_BUNDLE];
        let sealed = seal_bundle(
            &mut rng(35),
            s.sealed.header,
            &s.key,
            &s.author,
            &max_plaintext,
        )
        .unwrap();
        assert_eq!(sealed.to_bytes().len(), MAX_SEALED_BUNDLE);
        assert!(SealedBundle::from_bytes(&sealed.to_bytes()).is_ok());
        let too_big = vec![0u8; max_plaintext.len() + 1];
        assert!(matches!(
            seal_bundle(&mut rng(35), s.sealed.header, &s.key, &s.author, &too_big),
            Err(CryptoError::TooLong { .. })
        ));
        assert!(matches!(
            SealedBundle::from_bytes(&vec![1u8; MAX_SEALED_BUNDLE + 1]),
            Err(CryptoError::TooLong { .. })
        ));
        // Changes one byte over their limit, with a valid header, are refused too.
        let mut over = sealed.to_bytes();
        over.push(0);
        assert!(matches!(
            SealedBundle::from_bytes(&over),
            Err(CryptoError::TooLong { max, .. }) if max == MAX_SEALED_BUNDLE
        ));
    }

    #[test]
    fn a_snapshot_may_be_larger_than_a_bundle_of_changes_up_to_its_own_limit() {
        let s = setup();
        let header = BundleHeader::new(
            BundleKind::Snapshot,
            s.sealed.header.doc_id(),
            s.sealed.header.epoch(),
            s.author.device_id(),
            9,
        );
        let plaintext = vec![3u8; MAX_SEALED_SNAPSHOT - MIN_SEALED_BUNDLE];
        let sealed = seal_bundle(&mut rng(36), header, &s.key, &s.author, &plaintext).unwrap();
        let bytes = sealed.to_bytes();
        assert_eq!(bytes.len(), MAX_SEALED_SNAPSHOT);
        let parsed = SealedBundle::from_bytes(&bytes).unwrap();
        assert_eq!(
            open_bundle(&parsed, &s.key, &signing(&s.author)).unwrap(),
            plaintext
        );
        let too_big = vec![0u8; plaintext.len() + 1];
        assert!(matches!(
            seal_bundle(&mut rng(36), header, &s.key, &s.author, &too_big),
            Err(CryptoError::TooLong { max, .. }) if max == MAX_SEALED_SNAPSHOT
        ));
        assert!(matches!(
            SealedBundle::from_bytes(&[bytes.as_slice(), &[0]].concat()),
            Err(CryptoError::TooLong { .. })
        ));
    }

    #[test]
    fn short_or_unknown_input_gets_typed_errors() {
        let s = setup();
        let bytes = s.sealed.to_bytes();
        assert!(matches!(
            SealedBundle::from_bytes(&[]),
            Err(CryptoError::TooShort { .. })
        ));
        assert!(matches!(
            SealedBundle::from_bytes(&bytes[..MIN_SEALED_BUNDLE - 1]),
            Err(CryptoError::TooShort {
                expected: MIN_SEALED_BUNDLE,
                ..
            })
        ));
        assert!(matches!(
            SealedBundle::from_bytes(&bytes[..10]),
            Err(CryptoError::TooShort {
                expected: MIN_SEALED_BUNDLE,
                actual: 10,
                ..
            })
        ));
        let mut kind = bytes;
        kind[1] = 0;
        assert_eq!(
            SealedBundle::from_bytes(&kind),
            Err(CryptoError::UnknownBundleKind(0))
        );
    }

    #[test]
    fn small_order_signature_is_rejected() {
        // A bundle "signed" by the identity point: R = identity, s = 0 satisfies the cofactorless
        // equation for any message under the identity-point key; strict verification refuses.
        let s = setup();
        let mut weak_key = [0u8; 32];
        weak_key[0] = 1;
        let mut sealed = s.sealed.clone();
        sealed.header = BundleHeader::new(
            BundleKind::Changes,
            DocId([5; 16]),
            2,
            DeviceId::from_signing_key(&weak_key),
            9,
        );
        sealed.signature = [0u8; 64];
        sealed.signature[0] = 1;
        assert!(matches!(
            open_bundle(&sealed, &s.key, &weak_key),
            Err(CryptoError::BadSignature { .. })
        ));
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SealedBundle::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_never_panics_on_plausible_prefixes(
            kind in 0u8..4,
            rest in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let bytes = [&[BUNDLE_FORMAT_VERSION, kind][..], &rest].concat();
            if let Ok(bundle) = SealedBundle::from_bytes(&bytes) {
                prop_assert_eq!(bundle.to_bytes(), bytes);
            }
        }
    }
}
