//! Device certificates: an identity key vouching for one of its person's devices.
//!
//! Devices are trusted only through a certificate (cross-signing), never because the relay says
//! so. The certificate carries keys, a role and a time — no names, so the relay can store and
//! serve it without learning who anyone is.
//!
//! Layout (170 bytes, big-endian integers):
//!
//! | offset | len | field |
//! | --- | --- | --- |
//! | 0 | 1 | version = 1 |
//! | 1 | 32 | device Ed25519 signing key |
//! | 33 | 32 | device X25519 agreement key |
//! | 65 | 32 | owner's identity key |
//! | 97 | 1 | role: 1 client, 2 therapist |
//! | 98 | 8 | issued at, ms since the Unix epoch (i64) |
//! | 106 | 64 | Ed25519 signature by the owner over `TAG_CERTIFICATE || bytes[0..106]` |

use super::identity::{array_at, check_fixed, verify_strict};
use super::{
    CryptoError, DevicePublic, IdentityKeypair, IdentityPublic, SIGNATURE_LEN, TAG_CERTIFICATE,
};
use crate::protocol::DeviceId;
use crate::{Role, Timestamp};

/// The certificate format version this build writes and reads.
pub const CERTIFICATE_VERSION: u8 = 1;
/// Length of an encoded certificate.
pub const CERTIFICATE_LEN: usize = BODY_LEN + SIGNATURE_LEN;
/// Length of the signed part (everything before the signature).
const BODY_LEN: usize = 1 + 32 + 32 + 32 + 1 + 8;
const WHAT: &str = "device certificate";

/// A statement, signed by a person's identity key, that a device belongs to them and acts in a
/// role. Check it with [`DeviceCertificate::verify_owner`] before trusting the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    /// The certified device's public keys.
    pub device: DevicePublic,
    /// The identity that issued (signed) the certificate.
    pub owner: IdentityPublic,
    /// The role the owner acts in from this device.
    pub role: Role,
    /// When the owner issued it.
    pub issued_at: Timestamp,
    /// Ed25519 signature by `owner` over the domain-separated body.
    pub signature: [u8; SIGNATURE_LEN],
}

pub(crate) fn role_code(role: Role) -> u8 {
    match role {
        Role::Client => 1,
        Role::Therapist => 2,
    }
}

pub(crate) fn role_from_code(code: u8) -> Result<Role, CryptoError> {
    match code {
        1 => Ok(Role::Client),
        2 => Ok(Role::Therapist),
        other => Err(CryptoError::UnknownRole(other)),
    }
}

impl IdentityKeypair {
    /// Certifies a device as belonging to this identity, acting in `role`, from `issued_at`
    /// (the "sign certificate" operation: the signature covers `TAG_CERTIFICATE` and the body).
    #[doc(alias = "sign_certificate")]
    pub fn certify(
        &self,
        device: &DevicePublic,
        role: Role,
        issued_at: Timestamp,
    ) -> DeviceCertificate {
        let mut cert = DeviceCertificate {
            device: *device,
            owner: self.public(),
            role,
            issued_at,
            signature: [0u8; SIGNATURE_LEN],
        };
        cert.signature = self.sign_raw(&cert.signed_message());
        cert
    }
}

impl DeviceCertificate {
    fn body(&self) -> [u8; BODY_LEN] {
        let mut out = [0u8; BODY_LEN];
        out[0] = CERTIFICATE_VERSION;
        out[1..33].copy_from_slice(&self.device.signing);
        out[33..65].copy_from_slice(&self.device.agreement);
        out[65..97].copy_from_slice(&self.owner.0);
        out[97] = role_code(self.role);
        out[98..106].copy_from_slice(&self.issued_at.0.to_be_bytes());
        out
    }

    fn signed_message(&self) -> Vec<u8> {
        [TAG_CERTIFICATE, &self.body()].concat()
    }

    /// Checks the owner's signature (strictly). This says only that `owner` issued the
    /// certificate; use [`DeviceCertificate::verify_owner`] to also check *who* the owner is.
    pub fn verify(&self) -> Result<(), CryptoError> {
        verify_strict(&self.owner.0, &self.signed_message(), &self.signature, WHAT)
    }

    /// Checks the signature and that the certificate was issued by `expected` — the identity
    /// whose fingerprint the person compared out of band. This is the check to use before
    /// trusting a device.
    pub fn verify_owner(&self, expected: &IdentityPublic) -> Result<(), CryptoError> {
        if self.owner != *expected {
            return Err(CryptoError::WrongOwner {
                expected: *expected,
                actual: self.owner,
            });
        }
        self.verify()
    }

    /// The certified device's id.
    pub fn device_id(&self) -> DeviceId {
        self.device.device_id()
    }

    /// The canonical 170-byte encoding (see the module docs).
    pub fn to_bytes(&self) -> [u8; CERTIFICATE_LEN] {
        let mut out = [0u8; CERTIFICATE_LEN];
        out[..BODY_LEN].copy_from_slice(&self.body());
        out[BODY_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Decodes the canonical encoding. This does not verify the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        check_fixed(bytes, WHAT, CERTIFICATE_VERSION, CERTIFICATE_LEN)?;
        Ok(Self {
            device: DevicePublic {
                signing: array_at(bytes, 1),
                agreement: array_at(bytes, 33),
            },
            owner: IdentityPublic(array_at(bytes, 65)),
            role: role_from_code(bytes[97])?,
            issued_at: Timestamp(i64::from_be_bytes(array_at(bytes, 98))),
            signature: array_at(bytes, BODY_LEN),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::DeviceKeypair;

    fn fixture() -> (IdentityKeypair, DeviceKeypair, DeviceCertificate) {
        let identity = IdentityKeypair::generate(&mut rng(10));
        let device = DeviceKeypair::generate(&mut rng(11));
        let cert = identity.certify(&device.public(), Role::Client, Timestamp(1_700_000_000_000));
        (identity, device, cert)
    }

    #[test]
    fn certificate_round_trips_and_verifies() {
        let (identity, device, cert) = fixture();
        cert.verify().unwrap();
        cert.verify_owner(&identity.public()).unwrap();
        assert_eq!(cert.device_id(), device.device_id());
        let back = DeviceCertificate::from_bytes(&cert.to_bytes()).unwrap();
        assert_eq!(back, cert);
        back.verify().unwrap();
    }

    #[test]
    fn every_flipped_bit_breaks_the_certificate() {
        let (_, _, cert) = fixture();
        let bytes = cert.to_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes;
                tampered[i] ^= 1 << bit;
                // Either it no longer decodes (version or role byte) or it no longer verifies.
                if let Ok(decoded) = DeviceCertificate::from_bytes(&tampered) {
                    assert!(
                        decoded.verify().is_err(),
                        "bit {bit} of byte {i} went unnoticed"
                    );
                }
            }
        }
    }

    #[test]
    fn changed_role_or_owner_is_rejected() {
        let (identity, _, cert) = fixture();
        let mut promoted = cert.clone();
        promoted.role = Role::Therapist;
        assert!(matches!(
            promoted.verify(),
            Err(CryptoError::BadSignature { .. })
        ));

        let stranger = IdentityKeypair::generate(&mut rng(12));
        let forged = stranger.certify(&cert.device, Role::Client, cert.issued_at);
        forged.verify().unwrap();
        assert!(matches!(
            forged.verify_owner(&identity.public()),
            Err(CryptoError::WrongOwner { .. })
        ));
        let mut relabelled = forged;
        relabelled.owner = identity.public();
        assert!(matches!(
            relabelled.verify(),
            Err(CryptoError::BadSignature { .. })
        ));
    }

    #[test]
    fn decoding_rejects_bad_lengths_versions_and_roles() {
        let (_, _, cert) = fixture();
        let bytes = cert.to_bytes();
        assert!(matches!(
            DeviceCertificate::from_bytes(&bytes[..169]),
            Err(CryptoError::TooShort {
                expected: 170,
                actual: 169,
                ..
            })
        ));
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            DeviceCertificate::from_bytes(&long),
            Err(CryptoError::TooLong {
                max: 170,
                actual: 171,
                ..
            })
        ));
        let mut v9 = bytes;
        v9[0] = 9;
        assert!(matches!(
            DeviceCertificate::from_bytes(&v9),
            Err(CryptoError::UnsupportedVersion {
                version: 9,
                supported: 1,
                ..
            })
        ));
        let mut role = bytes;
        role[97] = 3;
        assert_eq!(
            DeviceCertificate::from_bytes(&role),
            Err(CryptoError::UnknownRole(3))
        );
        assert!(matches!(
            DeviceCertificate::from_bytes(&[]),
            Err(CryptoError::TooShort { .. })
        ));
    }

    #[test]
    fn certificate_with_small_order_owner_key_is_rejected() {
        // The identity point (encoded as 1 followed by zeros) with R = identity and s = 0
        // satisfies the plain Ed25519 equation for every message; strict verification refuses it.
        let (_, _, mut cert) = fixture();
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        cert.owner = IdentityPublic(identity_point);
        cert.signature = [0u8; 64];
        cert.signature[0] = 1;
        assert!(matches!(
            cert.verify(),
            Err(CryptoError::BadSignature { .. })
        ));
    }
}
