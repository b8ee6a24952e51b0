//! The crypto decoders: sealed bundles and snapshots, membership lists, device certificates,
//! wrapped epoch keys, typed codes and invites, and pairing messages.
//!
//! Each target's first byte picks a mode: the fuzzer's bytes as a peer would send them, or
//! (where a signature or AEAD would turn every mutation away at once) the fuzzer's choices
//! signed or sealed with a fixture key first, checking that what a legitimate peer makes is
//! accepted as it was made.

use between_shared::crypto::{
    unwrap_epoch_key, wrap_epoch_key, BundleHeader, BundleKind, ClientInvite, DeviceCertificate,
    DeviceKeypair, EpochKey, IdentityPublic, InviteSecret, KeyContext, Member, PairingSecret,
    SignedMembership, WrappedKey, MIN_SEALED_BUNDLE, SIGNATURE_LEN, TAG_BUNDLE,
};
use between_shared::protocol::{DeviceId, DocId};
use between_shared::sync::{Envelope, Opened, SyncError};
use between_shared::Role;

use crate::fixture::{fixture, rng, Fixture, DOC, EPOCH, OLD_EPOCH};
use crate::input::Input;

/// A sealed bundle or snapshot as the relay serves it, opened by the laptop's envelope (header
/// checks, membership, strict signature, then XChaCha20-Poly1305).
pub fn bundle(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    match input.byte() % 3 {
        0 => {
            let _ = open(f, input.rest());
        }
        1 => {
            let mut bytes = input.rest().to_vec();
            resign_bundle(f, &mut bytes);
            let _ = open(f, &bytes);
        }
        _ => sealed_by_a_device(f, &mut input),
    }
}

fn open(f: &Fixture, bytes: &[u8]) -> Result<Opened, SyncError> {
    let _ = BundleHeader::from_bytes(bytes);
    f.with_envelope(|envelope| envelope.open(bytes))
}

/// Signs the bytes again as the device the header names (or the phone), so a mutated header,
/// nonce or ciphertext reaches decryption instead of stopping at the signature.
fn resign_bundle(f: &Fixture, bytes: &mut [u8]) {
    if bytes.len() < MIN_SEALED_BUNDLE {
        return;
    }
    let mut author = [0u8; 16];
    author.copy_from_slice(&bytes[22..38]);
    let signer = f.device(DeviceId(author)).unwrap_or(&f.phone);
    let at = bytes.len() - SIGNATURE_LEN;
    let signature = signer.sign(&[TAG_BUNDLE, &bytes[..at]].concat());
    bytes[at..].copy_from_slice(&signature);
}

/// A bundle sealed properly by a fixture device under a header the fuzzer picks: it opens, with
/// exactly what was sealed, if and only if the author is a member and the epoch's key is held.
fn sealed_by_a_device(f: &Fixture, input: &mut Input<'_>) {
    let author = pick_device(f, input.byte());
    let kind = if !input.flag() {
        BundleKind::Changes
    } else {
        BundleKind::Snapshot
    };
    let epoch = match input.byte() % 3 {
        0 => EPOCH,
        1 => OLD_EPOCH,
        _ => input.u32(),
    };
    let counter = input.number(0);
    let plaintext = input.rest();
    let Some(sealed) = f.seal(author, kind, epoch, counter, plaintext) else {
        return;
    };
    let opened = open(f, &sealed);
    let member = author.device_id() != f.stranger.device_id();
    if member && f.key(epoch).is_some() {
        let opened = opened.unwrap_or_else(|err| panic!("a member's bundle was refused: {err}"));
        let expected = Opened {
            author: author.device_id(),
            counter,
            kind,
            plaintext: plaintext.to_vec(),
        };
        assert_eq!(opened, expected, "a member's bundle opened differently");
    } else {
        assert!(
            opened.is_err(),
            "a bundle a non-member or unknown epoch made was opened"
        );
    }
}

fn pick_device(f: &Fixture, choice: u8) -> &DeviceKeypair {
    match choice % 4 {
        0 => &f.phone,
        1 => &f.therapist_device,
        2 => &f.laptop,
        _ => &f.stranger,
    }
}

/// A membership list from the relay: decoded (shape and owner's signature), then every check a
/// device makes before trusting it.
pub fn membership(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    if !input.flag() {
        if let Ok(list) = SignedMembership::from_bytes(input.rest()) {
            check_membership(f, &list);
        }
        return;
    }
    // A list the owner really signed, with contents the fuzzer picks: it must read back as
    // signed, and the rules on it (rollback, rotation, vouching) run on any contents.
    let doc = if !input.flag() {
        DOC
    } else {
        DocId(input.array())
    };
    let serial = input.number(f.membership.serial());
    let epoch = match input.byte() % 3 {
        0 => EPOCH,
        1 => EPOCH + 1,
        _ => input.u32(),
    };
    let count = usize::from(input.byte() % 10);
    let others: Vec<Member> = (0..count)
        .map(|_| Member {
            identity: match input.byte() % 3 {
                0 => f.therapist.public(),
                1 => f.owner.public(),
                _ => IdentityPublic(input.array()),
            },
            role: if !input.flag() {
                Role::Client
            } else {
                Role::Therapist
            },
        })
        .collect();
    let Ok(list) = SignedMembership::sign(&f.owner, doc, serial, epoch, &others) else {
        return;
    };
    let back = SignedMembership::from_bytes(&list.to_bytes())
        .unwrap_or_else(|err| panic!("a list the owner signed does not read back: {err}"));
    assert_eq!(back, list, "a signed list read back differently");
    check_membership(f, &back);
}

fn check_membership(f: &Fixture, list: &SignedMembership) {
    let _ = list.verify(&f.owner.public(), DOC);
    let _ = list.check_follows(&f.membership);
    let _ = f.membership.check_follows(list);
    for certificate in &f.certificates {
        let _ = list.vouch_for(certificate);
    }
    let _ = list.role_of(&f.therapist.public());
}

/// A device certificate from the relay (device lists, account lookups, registration): decoded,
/// then verified against its owner and vouched for by the membership list.
pub fn certificate(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    let resign = input.flag();
    let bytes = input.rest();
    let Ok(certificate) = DeviceCertificate::from_bytes(bytes) else {
        return;
    };
    assert_eq!(
        certificate.to_bytes().as_slice(),
        bytes,
        "a certificate decoded from non-canonical bytes"
    );
    let certificate = match f.identity(&certificate.owner.0) {
        Some(issuer) if resign => {
            let again =
                issuer.certify(&certificate.device, certificate.role, certificate.issued_at);
            if let Err(err) = again.verify_owner(&issuer.public()) {
                panic!("a certificate its owner signed does not verify: {err}");
            }
            again
        }
        _ => certificate,
    };
    let _ = certificate.verify_owner(&f.owner.public());
    let _ = f.membership.vouch_for(&certificate);
    let _ = certificate.device_id();
}

/// A wrapped epoch key from the relay, unwrapped by the laptop (HPKE) under the context the
/// relay's message names.
pub fn key_envelope(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    let recipient = f.laptop.device_id();
    if !input.flag() {
        let context = KeyContext {
            doc_id: DOC,
            epoch: input.u32(),
            recipient,
        };
        if let Ok(wrapped) = WrappedKey::from_bytes(input.rest()) {
            let _ = unwrap_epoch_key(&f.laptop, &wrapped, &context);
        }
        return;
    }
    // A key wrapped for the laptop opens to itself; with any byte altered it does not open.
    let context = KeyContext {
        doc_id: DocId(input.array()),
        epoch: input.u32(),
        recipient,
    };
    let key = EpochKey::from_bytes(input.array());
    let wrapped = wrap_epoch_key(&mut rng(0), &key, &f.laptop.public(), &context)
        .unwrap_or_else(|err| panic!("wrapping for the laptop failed: {err}"));
    let mut bytes = wrapped.to_bytes();
    let mask = input.rest();
    for (byte, flip) in bytes.iter_mut().skip(1).zip(mask) {
        *byte ^= flip;
    }
    let altered = mask.iter().take(bytes.len() - 1).any(|b| *b != 0);
    let Ok(received) = WrappedKey::from_bytes(&bytes) else {
        panic!("a wrapped key of the right length and version did not decode");
    };
    match unwrap_epoch_key(&f.laptop, &received, &context) {
        Ok(opened) => {
            assert!(!altered, "an altered wrapped key was unwrapped");
            assert_eq!(opened.as_bytes(), key.as_bytes(), "unwrapped another key");
        }
        Err(err) => assert!(altered, "an intact wrapped key was refused: {err}"),
    }
}

/// Text a person types or pastes: pairing codes, invite codes, client invites with their relay
/// address, device ids and identity keys. What reads must write back to the same value.
pub fn codes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(secret) = PairingSecret::from_code(&text) {
        let again = PairingSecret::from_code(&secret.to_code()).map(|s| *s.as_bytes());
        assert_eq!(again.ok(), Some(*secret.as_bytes()), "pairing code");
    }
    if let Ok(secret) = InviteSecret::from_code(&text) {
        let again = InviteSecret::from_code(&secret.to_code()).map(|s| *s.as_bytes());
        assert_eq!(again.ok(), Some(*secret.as_bytes()), "invite code");
    }
    if let Some(Ok(invite)) = ClientInvite::parse(&text) {
        let again = ClientInvite::parse(&invite.to_text()).and_then(Result::ok);
        let same = again.is_some_and(|a| {
            a.relay_url == invite.relay_url
                && a.secret.as_bytes() == invite.secret.as_bytes()
                && a.therapist == invite.therapist
        });
        assert!(same, "client invite {invite:?} does not read back");
    }
    let _ = text.parse::<DeviceId>();
    let _ = text.parse::<IdentityPublic>();
}

/// A pairing message from the relay's mailbox, opened with the code's secret; and a message
/// sealed with the secret opens to what was sealed.
pub fn pairing(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    if !input.flag() {
        let _ = f.pairing.open(input.rest());
        return;
    }
    let plaintext = input.rest();
    if let Ok(sealed) = f.pairing.seal(&mut rng(0), plaintext) {
        let opened = f.pairing.open(&sealed);
        assert_eq!(
            opened.ok().as_deref(),
            Some(plaintext),
            "pairing round trip"
        );
    }
}
