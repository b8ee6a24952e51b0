//! The pairing payload: what an existing device hands a new one through the relay's mailbox.
//!
//! It is sealed with a key derived from the pairing code (`PairingSecret::seal`), so the relay
//! sees only ciphertext and the mailbox id; the code itself never leaves the two devices. It
//! carries everything the new device needs to join the account without the old one being
//! online: the account's identity keypair (so the new device can certify itself), the known
//! devices' certificates, and for every document its id, local label, epoch and epoch keys, and
//! whether it is the client's private document (which only the account's own devices hold).
//!
//! Both directions of a mailbox would share one key, so the payload says which side wrote it
//! (`from`); a new device refuses a payload that is not from an existing device.

use between_shared::crypto::{CryptoError, PairingSecret};
use between_shared::protocol::DocId;
use serde::{Deserialize, Serialize};

/// The format of the payload; bump it when the shape changes incompatibly.
pub(crate) const PAIRING_FORMAT: u32 = 1;

/// Which side of a pairing wrote a payload.
pub(crate) const FROM_EXISTING_DEVICE: &str = "existing-device";

/// A document as the new device needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PairedDocument {
    /// The document id (its hex text in the message).
    pub(crate) id: DocId,
    /// The local label on the existing device.
    pub(crate) label: String,
    /// The epoch new bundles are sealed under.
    pub(crate) epoch: u32,
    /// Every epoch key: `(epoch, key)`.
    pub(crate) keys: Vec<(u32, [u8; 32])>,
    /// Whether it is the client's private document. A payload from a device that predates
    /// private documents lacks it: its documents are all shared.
    #[serde(default)]
    pub(crate) private: bool,
}

/// A device of the account, as the existing device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PairedDevice {
    /// Its certificate bytes (the new device verifies it against the identity).
    pub(crate) certificate: Vec<u8>,
    /// Its local name, if the existing device knows one.
    pub(crate) name: Option<String>,
    /// Whether it is the device that made the pairing code.
    pub(crate) sender: bool,
}

/// The sealed content of a pairing mailbox (see the module docs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PairingPayload {
    /// [`PAIRING_FORMAT`].
    pub(crate) format: u32,
    /// [`FROM_EXISTING_DEVICE`].
    pub(crate) from: String,
    /// The relay the account lives on.
    pub(crate) relay_url: String,
    /// The relay's account id. Raw bytes rather than `AccountId`, whose serde form is made for
    /// the wire's CBOR byte strings: this payload is JSON, and its format (an array of 16
    /// numbers) is what devices of earlier builds write and read.
    pub(crate) account_id: [u8; 16],
    /// The account's identity keypair (`IdentityKeypair::to_bytes`).
    pub(crate) identity_keypair: Vec<u8>,
    /// The person's display name on the existing device.
    pub(crate) display_name: String,
    /// The account's devices.
    pub(crate) devices: Vec<PairedDevice>,
    /// The documents to sync.
    pub(crate) documents: Vec<PairedDocument>,
}

impl std::fmt::Debug for PairingPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingPayload")
            .field("format", &self.format)
            .field("from", &self.from)
            .field("relay_url", &self.relay_url)
            .field("devices", &self.devices.len())
            .field("documents", &self.documents.len())
            .finish_non_exhaustive()
    }
}

/// Why a pairing payload could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PairingError {
    /// It does not open with this code: the relay altered it, or it is not from this code.
    #[error("the pairing message could not be opened with this code ({0}); make a new code with `between device add` on your other device")]
    Open(CryptoError),
    /// It opened but is not a pairing payload this version understands.
    #[error("the pairing message is not one this version of Between understands ({0}); update Between on both devices")]
    Format(String),
    /// It was written by a new device, not an existing one.
    #[error("the pairing message was not written by an existing device; make a new code with `between device add` on your other device")]
    WrongSide,
    /// Sealing failed (too large).
    #[error("could not seal the pairing message: {0}")]
    Seal(CryptoError),
}

impl PairingPayload {
    /// Seals the payload for the mailbox of `secret`.
    pub(crate) fn seal(
        &self,
        secret: &PairingSecret,
        rng: &mut impl between_shared::crypto::CryptoRng,
    ) -> Result<Vec<u8>, PairingError> {
        let json = serde_json::to_vec(self).map_err(|err| PairingError::Format(err.to_string()))?;
        secret.seal(rng, &json).map_err(PairingError::Seal)
    }

    /// Opens and checks a sealed payload.
    pub(crate) fn open(secret: &PairingSecret, sealed: &[u8]) -> Result<Self, PairingError> {
        let json = secret.open(sealed).map_err(PairingError::Open)?;
        let payload: Self =
            serde_json::from_slice(&json).map_err(|err| PairingError::Format(err.to_string()))?;
        if payload.format != PAIRING_FORMAT {
            return Err(PairingError::Format(format!(
                "format {}, expected {PAIRING_FORMAT}",
                payload.format
            )));
        }
        if payload.from != FROM_EXISTING_DEVICE {
            return Err(PairingError::WrongSide);
        }
        Ok(payload)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn payload() -> PairingPayload {
        PairingPayload {
            format: PAIRING_FORMAT,
            from: FROM_EXISTING_DEVICE.to_owned(),
            relay_url: "ws://127.0.0.1:1".to_owned(),
            account_id: [1; 16],
            identity_keypair: vec![1; 33],
            display_name: "Sam".to_owned(),
            devices: vec![PairedDevice {
                certificate: vec![2; 170],
                name: Some("laptop".to_owned()),
                sender: true,
            }],
            documents: vec![PairedDocument {
                id: DocId([0xab; 16]),
                label: "Sam".to_owned(),
                epoch: 1,
                keys: vec![(1, [3; 32])],
                private: false,
            }],
        }
    }

    #[test]
    fn a_payload_opens_only_with_its_code_and_from_the_right_side() {
        let mut rng = StdRng::seed_from_u64(1);
        let secret = PairingSecret::generate(&mut rng);
        let sealed = payload().seal(&secret, &mut rng).unwrap();
        assert!(PairingPayload::open(&secret, &sealed).unwrap() == payload());
        // The identity secret is not in the clear.
        assert!(!sealed.windows(33).any(|w| w == [1; 33]));
        let other = PairingSecret::generate(&mut rng);
        assert!(matches!(
            PairingPayload::open(&other, &sealed),
            Err(PairingError::Open(_))
        ));
        let mut reflected = payload();
        reflected.from = "new-device".to_owned();
        let sealed = reflected.seal(&secret, &mut rng).unwrap();
        assert!(matches!(
            PairingPayload::open(&secret, &sealed),
            Err(PairingError::WrongSide)
        ));
        let garbage = secret.seal(&mut rng, b"not json").unwrap();
        assert!(matches!(
            PairingPayload::open(&secret, &garbage),
            Err(PairingError::Format(_))
        ));
        assert!(!format!("{:?}", payload()).contains("identity_keypair: ["));
    }

    #[test]
    fn a_document_without_the_private_mark_is_shared() {
        // As a device from before private documents wrote it.
        let old = r#"{"id":"abababababababababababababababab","label":"Sam","epoch":1,"keys":[[1,[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3]]]}"#;
        let doc: PairedDocument = serde_json::from_str(old).unwrap();
        assert!(!doc.private);
        let mut private = doc.clone();
        private.private = true;
        let round: PairedDocument =
            serde_json::from_str(&serde_json::to_string(&private).unwrap()).unwrap();
        assert!(round.private);
    }
}
