//! Signed document membership: who may hold a document's keys, decided by its owner and never
//! by the relay.
//!
//! The owner (the client) signs, with their identity key, the list of identities that are
//! members of a document and the epoch in force. Devices check every list against the owner
//! identity they pinned when they first got the document, refuse a list whose serial number
//! goes backwards (a relay replaying an old list), and trust a device only when its certificate
//! is signed by a listed identity in the listed role. So a relay that injects a member or
//! substitutes a device key is caught: neither is signed by the owner.
//!
//! Layout (big-endian integers):
//!
//! | offset | len | field |
//! | --- | --- | --- |
//! | 0 | 1 | version = 1 |
//! | 1 | 16 | document id |
//! | 17 | 8 | serial: grows by at least one with every change |
//! | 25 | 4 | epoch in force |
//! | 29 | 32 | owner's identity key |
//! | 61 | 1 | member count `n`, 1 to [`MAX_MEMBERS`] (the owner is always one) |
//! | 62 | 33·n | per member: identity key (32), role (1: client, 2: therapist) |
//! | 62 + 33·n | 64 | Ed25519 signature by the owner over `TAG_MEMBERSHIP || bytes[..62 + 33·n]` |

use super::certificate::{role_code, role_from_code};
use super::identity::{array_at, verify_strict};
use super::{CryptoError, DeviceCertificate, IdentityKeypair, IdentityPublic, SIGNATURE_LEN};
use crate::protocol::{DeviceId, DocId};
use crate::Role;

/// Domain tag of a membership list's signature.
pub const TAG_MEMBERSHIP: &[u8] = b"between/membership/v1\0";
/// The membership format version this build writes and reads.
pub const MEMBERSHIP_VERSION: u8 = 1;
/// Most identities one document can have as members (the client, their therapist, and room
/// for a supervisor or a handover).
pub const MAX_MEMBERS: usize = 8;

const HEADER_LEN: usize = 1 + 16 + 8 + 4 + 32 + 1;
const MEMBER_LEN: usize = 33;
const WHAT: &str = "membership list";

/// One member: a person's identity and the role they act in on this document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Their identity key.
    pub identity: IdentityPublic,
    /// Their role.
    pub role: Role,
}

/// Why a membership list or a device was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The bytes do not decode or the signature does not check.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Signed by someone other than the owner this device pinned.
    #[error("the membership list is signed by {actual}, not by the document's owner {expected}")]
    WrongOwner {
        /// The pinned owner.
        expected: IdentityPublic,
        /// Who signed.
        actual: IdentityPublic,
    },
    /// For another document.
    #[error("the membership list is for another document")]
    WrongDocument,
    /// Older than (or as old as) one already accepted: the relay replayed an old list.
    #[error("the membership list is older (serial {got}) than one already accepted (serial {seen}): the relay served an old list")]
    Rollback {
        /// The serial already accepted.
        seen: u64,
        /// The serial offered.
        got: u64,
    },
    /// Someone was removed but the epoch did not advance, so they could still read new bundles.
    #[error("the membership list removes a member without moving to a new epoch")]
    RemovalWithoutRotation,
    /// The epoch went backwards.
    #[error("the membership list goes back from epoch {seen} to {got}")]
    EpochBackwards {
        /// The epoch already accepted.
        seen: u32,
        /// The epoch offered.
        got: u32,
    },
    /// No members, too many, a duplicate, or the owner missing or not a client.
    #[error("the membership list is malformed: {0}")]
    Malformed(&'static str),
    /// A device whose certificate is not signed by a member in the member's role.
    #[error("device {device} is not vouched for by a member of this document ({why})")]
    NotAMemberDevice {
        /// The device.
        device: DeviceId,
        /// Why.
        why: &'static str,
    },
}

/// A membership list signed by the document's owner (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMembership {
    doc_id: DocId,
    serial: u64,
    epoch: u32,
    owner: IdentityPublic,
    members: Vec<Member>,
    signature: [u8; SIGNATURE_LEN],
}

fn check_members(owner: &IdentityPublic, members: &[Member]) -> Result<(), MembershipError> {
    if members.is_empty() || members.len() > MAX_MEMBERS {
        return Err(MembershipError::Malformed("it must list 1 to 8 members"));
    }
    for (i, member) in members.iter().enumerate() {
        if members[..i].iter().any(|m| m.identity == member.identity) {
            return Err(MembershipError::Malformed("it lists an identity twice"));
        }
    }
    match members.iter().find(|m| m.identity == *owner) {
        Some(m) if m.role == Role::Client => Ok(()),
        Some(_) => Err(MembershipError::Malformed("the owner must be a client")),
        None => Err(MembershipError::Malformed("the owner must be a member")),
    }
}

impl SignedMembership {
    /// Signs a list: `owner` is the client who owns the document (always a member, as a
    /// client); `others` are the other members.
    pub fn sign(
        owner: &IdentityKeypair,
        doc_id: DocId,
        serial: u64,
        epoch: u32,
        others: &[Member],
    ) -> Result<Self, MembershipError> {
        let owner_public = owner.public();
        let mut members = vec![Member {
            identity: owner_public,
            role: Role::Client,
        }];
        members.extend_from_slice(others);
        check_members(&owner_public, &members)?;
        let mut list = Self {
            doc_id,
            serial,
            epoch,
            owner: owner_public,
            members,
            signature: [0; SIGNATURE_LEN],
        };
        list.signature = owner.sign_raw(&list.signed_message());
        Ok(list)
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + MEMBER_LEN * self.members.len());
        out.push(MEMBERSHIP_VERSION);
        out.extend_from_slice(&self.doc_id.0);
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.owner.0);
        // `check_members` keeps the count at most MAX_MEMBERS.
        out.push(u8::try_from(self.members.len()).unwrap_or(u8::MAX));
        for member in &self.members {
            out.extend_from_slice(&member.identity.0);
            out.push(role_code(member.role));
        }
        out
    }

    fn signed_message(&self) -> Vec<u8> {
        [TAG_MEMBERSHIP, &self.body()].concat()
    }

    /// The canonical encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes and checks the signature and shape. It does not check *who* the owner is: use
    /// [`SignedMembership::verify`] with the pinned owner before trusting it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MembershipError> {
        let too_short = |expected| CryptoError::TooShort {
            what: WHAT,
            expected,
            actual: bytes.len(),
        };
        let Some(&version) = bytes.first() else {
            return Err(too_short(HEADER_LEN + MEMBER_LEN + SIGNATURE_LEN).into());
        };
        if version != MEMBERSHIP_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what: WHAT,
                version,
                supported: MEMBERSHIP_VERSION,
            }
            .into());
        }
        if bytes.len() < HEADER_LEN {
            return Err(too_short(HEADER_LEN + MEMBER_LEN + SIGNATURE_LEN).into());
        }
        let count = usize::from(bytes[HEADER_LEN - 1]);
        let len = HEADER_LEN + MEMBER_LEN * count + SIGNATURE_LEN;
        if bytes.len() < len {
            return Err(too_short(len).into());
        }
        if bytes.len() > len {
            return Err(CryptoError::TooLong {
                what: WHAT,
                max: len,
                actual: bytes.len(),
            }
            .into());
        }
        let owner = IdentityPublic(array_at(bytes, 29));
        let mut members = Vec::with_capacity(count);
        for i in 0..count {
            let at = HEADER_LEN + MEMBER_LEN * i;
            members.push(Member {
                identity: IdentityPublic(array_at(bytes, at)),
                role: role_from_code(bytes[at + 32])?,
            });
        }
        check_members(&owner, &members)?;
        let list = Self {
            doc_id: DocId(array_at(bytes, 1)),
            serial: u64::from_be_bytes(array_at(bytes, 17)),
            epoch: u32::from_be_bytes(array_at(bytes, 25)),
            owner,
            members,
            signature: array_at(bytes, len - SIGNATURE_LEN),
        };
        verify_strict(&list.owner.0, &list.signed_message(), &list.signature, WHAT)?;
        Ok(list)
    }

    /// Checks that this list is for `doc_id` and signed by `owner`, the document's owner as this
    /// device knows them (pinned when it first got the document, never taken from the relay).
    pub fn verify(&self, owner: &IdentityPublic, doc_id: DocId) -> Result<(), MembershipError> {
        if self.owner != *owner {
            return Err(MembershipError::WrongOwner {
                expected: *owner,
                actual: self.owner,
            });
        }
        if self.doc_id != doc_id {
            return Err(MembershipError::WrongDocument);
        }
        verify_strict(&self.owner.0, &self.signed_message(), &self.signature, WHAT)?;
        Ok(())
    }

    /// Checks that this list may follow `previous` (already accepted): a larger serial, an
    /// epoch that does not go back, and a new epoch whenever someone was removed.
    pub fn check_follows(&self, previous: &SignedMembership) -> Result<(), MembershipError> {
        previous.verify(&self.owner, self.doc_id)?;
        if self.serial <= previous.serial {
            return Err(MembershipError::Rollback {
                seen: previous.serial,
                got: self.serial,
            });
        }
        if self.epoch < previous.epoch {
            return Err(MembershipError::EpochBackwards {
                seen: previous.epoch,
                got: self.epoch,
            });
        }
        let removed = previous
            .members
            .iter()
            .any(|old| self.role_of(&old.identity) != Some(old.role));
        if removed && self.epoch == previous.epoch {
            return Err(MembershipError::RemovalWithoutRotation);
        }
        Ok(())
    }

    /// The role `identity` holds on this document, if it is a member.
    pub fn role_of(&self, identity: &IdentityPublic) -> Option<Role> {
        self.members
            .iter()
            .find(|m| m.identity == *identity)
            .map(|m| m.role)
    }

    /// Checks that `certificate` is a device this document's keys may be given to and whose
    /// bundles may be accepted: signed (strictly) by a member, in that member's role.
    pub fn vouch_for(&self, certificate: &DeviceCertificate) -> Result<(), MembershipError> {
        let not_member = |why| MembershipError::NotAMemberDevice {
            device: certificate.device_id(),
            why,
        };
        let Some(role) = self.role_of(&certificate.owner) else {
            return Err(not_member("its owner is not a member"));
        };
        if role != certificate.role {
            return Err(not_member(
                "it acts in another role than its owner's membership",
            ));
        }
        certificate
            .verify()
            .map_err(|_| not_member("its certificate's signature does not check"))
    }

    /// The document.
    pub fn doc_id(&self) -> DocId {
        self.doc_id
    }

    /// The serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The epoch in force.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The owner.
    pub fn owner(&self) -> IdentityPublic {
        self.owner
    }

    /// Every member, the owner first.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::DeviceKeypair;
    use crate::Timestamp;

    const DOC: DocId = DocId([7; 16]);

    struct People {
        client: IdentityKeypair,
        therapist: IdentityKeypair,
        stranger: IdentityKeypair,
    }

    fn people() -> People {
        People {
            client: IdentityKeypair::generate(&mut rng(1)),
            therapist: IdentityKeypair::generate(&mut rng(2)),
            stranger: IdentityKeypair::generate(&mut rng(3)),
        }
    }

    fn therapist_member(p: &People) -> Member {
        Member {
            identity: p.therapist.public(),
            role: Role::Therapist,
        }
    }

    #[test]
    fn a_list_round_trips_and_verifies_against_the_pinned_owner() {
        let p = people();
        let list = SignedMembership::sign(&p.client, DOC, 1, 1, &[therapist_member(&p)]).unwrap();
        let back = SignedMembership::from_bytes(&list.to_bytes()).unwrap();
        assert_eq!(back, list);
        back.verify(&p.client.public(), DOC).unwrap();
        assert_eq!(back.role_of(&p.therapist.public()), Some(Role::Therapist));
        assert_eq!(back.role_of(&p.client.public()), Some(Role::Client));
        assert_eq!(back.role_of(&p.stranger.public()), None);
        assert_eq!(back.members().len(), 2);
        assert!(matches!(
            back.verify(&p.therapist.public(), DOC),
            Err(MembershipError::WrongOwner { .. })
        ));
        assert_eq!(
            back.verify(&p.client.public(), DocId([8; 16])),
            Err(MembershipError::WrongDocument)
        );
    }

    #[test]
    fn a_relay_cannot_inject_a_member_or_alter_a_list() {
        let p = people();
        let list = SignedMembership::sign(&p.client, DOC, 1, 1, &[therapist_member(&p)]).unwrap();
        let bytes = list.to_bytes();
        // Swap the therapist's identity for the stranger's: the signature no longer checks.
        let mut injected = bytes.clone();
        let at = HEADER_LEN + MEMBER_LEN;
        injected[at..at + 32].copy_from_slice(&p.stranger.public().0);
        assert!(matches!(
            SignedMembership::from_bytes(&injected),
            Err(MembershipError::Crypto(CryptoError::BadSignature { .. }))
        ));
        // A list the stranger signs naming themselves as owner is refused by the pinned owner.
        let forged = SignedMembership::sign(
            &p.stranger,
            DOC,
            9,
            1,
            &[Member {
                identity: p.client.public(),
                role: Role::Therapist,
            }],
        )
        .unwrap();
        let forged = SignedMembership::from_bytes(&forged.to_bytes()).unwrap();
        assert!(matches!(
            forged.verify(&p.client.public(), DOC),
            Err(MembershipError::WrongOwner { .. })
        ));
        // Every single-byte change is caught, and no truncation or extension decodes.
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x01;
            assert!(SignedMembership::from_bytes(&flipped)
                .and_then(|l| l.verify(&p.client.public(), DOC))
                .is_err());
        }
        for len in 0..bytes.len() {
            assert!(SignedMembership::from_bytes(&bytes[..len]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignedMembership::from_bytes(&longer).is_err());
    }

    #[test]
    fn only_member_devices_in_their_role_are_vouched_for() {
        let p = people();
        let list = SignedMembership::sign(&p.client, DOC, 1, 1, &[therapist_member(&p)]).unwrap();
        let device = DeviceKeypair::generate(&mut rng(10)).public();
        let at = Timestamp(1);
        list.vouch_for(&p.therapist.certify(&device, Role::Therapist, at))
            .unwrap();
        list.vouch_for(&p.client.certify(&device, Role::Client, at))
            .unwrap();
        for (cert, why) in [
            (
                p.stranger.certify(&device, Role::Therapist, at),
                "not a member",
            ),
            (
                p.therapist.certify(&device, Role::Client, at),
                "another role",
            ),
        ] {
            let err = list.vouch_for(&cert).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        // A certificate whose device key the relay swapped no longer checks.
        let mut swapped = p.therapist.certify(&device, Role::Therapist, at);
        swapped.device = DeviceKeypair::generate(&mut rng(11)).public();
        let err = list.vouch_for(&swapped).unwrap_err().to_string();
        assert!(err.contains("signature does not check"), "{err}");
    }

    #[test]
    fn lists_only_move_forward_and_removal_rotates_the_epoch() {
        let p = people();
        let first = SignedMembership::sign(&p.client, DOC, 1, 1, &[therapist_member(&p)]).unwrap();
        let same_again =
            SignedMembership::sign(&p.client, DOC, 1, 1, &[therapist_member(&p)]).unwrap();
        assert_eq!(
            same_again.check_follows(&first),
            Err(MembershipError::Rollback { seen: 1, got: 1 })
        );
        let removed_same_epoch = SignedMembership::sign(&p.client, DOC, 2, 1, &[]).unwrap();
        assert_eq!(
            removed_same_epoch.check_follows(&first),
            Err(MembershipError::RemovalWithoutRotation)
        );
        let removed = SignedMembership::sign(&p.client, DOC, 2, 2, &[]).unwrap();
        removed.check_follows(&first).unwrap();
        assert_eq!(
            first.check_follows(&removed),
            Err(MembershipError::Rollback { seen: 2, got: 1 })
        );
        let back_in_time =
            SignedMembership::sign(&p.client, DOC, 3, 1, &[therapist_member(&p)]).unwrap();
        assert_eq!(
            back_in_time.check_follows(&removed),
            Err(MembershipError::EpochBackwards { seen: 2, got: 1 })
        );
        // Adding someone needs no rotation.
        let added = SignedMembership::sign(&p.client, DOC, 3, 2, &[therapist_member(&p)]).unwrap();
        added.check_follows(&removed).unwrap();
    }

    #[test]
    fn malformed_lists_are_refused() {
        let p = people();
        let twice = SignedMembership::sign(
            &p.client,
            DOC,
            1,
            1,
            &[therapist_member(&p), therapist_member(&p)],
        );
        assert!(matches!(twice, Err(MembershipError::Malformed(_))));
        let owner_as_therapist = SignedMembership::sign(
            &p.client,
            DOC,
            1,
            1,
            &[Member {
                identity: p.client.public(),
                role: Role::Therapist,
            }],
        );
        assert!(matches!(
            owner_as_therapist,
            Err(MembershipError::Malformed(_))
        ));
        let many: Vec<Member> = (0..MAX_MEMBERS)
            .map(|i| Member {
                identity: IdentityKeypair::generate(&mut rng(100 + i as u64)).public(),
                role: Role::Therapist,
            })
            .collect();
        assert!(matches!(
            SignedMembership::sign(&p.client, DOC, 1, 1, &many),
            Err(MembershipError::Malformed(_))
        ));
    }
}
