//! This device's account as the sync code needs it: the keys read (and checked) from the store,
//! and a directory of the account's devices for telling people which device wrote what.

use std::collections::BTreeMap;

use between_shared::crypto::{DeviceCertificate, DeviceKeypair, IdentityKeypair, IdentityPublic};
use between_shared::protocol::{AccountId, DeviceId};
use between_shared::Role;

use super::connection::{RelayError, RelayUrl};
use crate::store::{AccountRecord, DeviceRecord, Registration};

/// The account's keys, decoded from the store.
pub(crate) struct AccountKeys {
    /// The relay.
    pub(crate) relay: RelayUrl,
    /// The person's identity keypair.
    pub(crate) identity: IdentityKeypair,
    /// This device's keypair.
    pub(crate) device: DeviceKeypair,
    /// This device's certificate.
    pub(crate) certificate: DeviceCertificate,
    /// Whether the relay has registered this device yet.
    pub(crate) registration: Registration,
    /// The relay's account id, once known.
    pub(crate) account_id: Option<AccountId>,
}

/// Why the stored account cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// A stored key or certificate does not decode or does not match.
    #[error("this profile's sync keys are damaged ({0}); pair this device again with `between device add` on another device")]
    Damaged(String),
    /// The stored relay URL is not usable.
    #[error(transparent)]
    Relay(#[from] RelayError),
}

impl AccountKeys {
    /// Decodes and cross-checks the stored account: the certificate must be this device's and
    /// signed by this identity.
    pub(crate) fn from_record(record: &AccountRecord) -> Result<Self, AccountError> {
        let damaged = |what: &str, err: &dyn std::fmt::Display| {
            AccountError::Damaged(format!("{what}: {err}"))
        };
        let identity = IdentityKeypair::from_bytes(&record.identity_keypair)
            .map_err(|e| damaged("identity key", &e))?;
        let device = DeviceKeypair::from_bytes(&record.device_keypair)
            .map_err(|e| damaged("device key", &e))?;
        let certificate = DeviceCertificate::from_bytes(&record.device_certificate)
            .map_err(|e| damaged("device certificate", &e))?;
        certificate
            .verify_owner(&identity.public())
            .map_err(|e| damaged("device certificate", &e))?;
        if certificate.device != device.public() {
            return Err(AccountError::Damaged(
                "the device certificate is for another device".to_owned(),
            ));
        }
        Ok(Self {
            relay: RelayUrl::parse(&record.relay_url)?
                .with_practice_ca(record.relay_ca_pem.clone()),
            identity,
            device,
            certificate,
            registration: record.registration.clone(),
            account_id: record.account_id,
        })
    }
}

/// One device as shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceLabel {
    /// The first 8 hex digits of the id.
    pub(crate) short: String,
    /// The local name, if known.
    pub(crate) name: Option<String>,
    /// The role its certificate gives it.
    pub(crate) role: Option<Role>,
    /// Whether it is this device.
    pub(crate) this_device: bool,
    /// Whose device it is, for another person's device whose name the shared homework gives.
    pub(crate) person: Option<String>,
}

impl std::fmt::Display for DeviceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.person, &self.name) {
            (Some(person), _) => write!(f, "{person}'s device {}", self.short)?,
            (None, Some(name)) => write!(f, "{name} {}", self.short)?,
            (None, None) => write!(f, "device {}", self.short)?,
        }
        if self.this_device {
            write!(f, " (this device)")?;
        }
        Ok(())
    }
}

/// The devices this device knows, by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeviceDirectory {
    devices: BTreeMap<DeviceId, DeviceLabel>,
}

impl DeviceDirectory {
    /// Builds the directory from the store's device records.
    pub(crate) fn new(records: &[DeviceRecord]) -> Self {
        let devices = records
            .iter()
            .map(|record| {
                let role = DeviceCertificate::from_bytes(&record.certificate)
                    .ok()
                    .map(|c| c.role);
                (
                    record.device_id,
                    DeviceLabel {
                        short: record.device_id.short(),
                        name: record.name.clone(),
                        role,
                        this_device: record.this_device,
                        person: None,
                    },
                )
            })
            .collect();
        Self { devices }
    }

    /// The label of a device (an unknown one is shown by its short id).
    pub(crate) fn label(&self, device_id: DeviceId) -> DeviceLabel {
        self.devices
            .get(&device_id)
            .cloned()
            .unwrap_or_else(|| DeviceLabel {
                short: device_id.short(),
                name: None,
                role: None,
                this_device: false,
                person: None,
            })
    }

    /// Adds other people's devices (certificates a signed membership list vouched for), each
    /// named after its owner where `person` knows them.
    pub(crate) fn with_peers(
        mut self,
        peers: &[DeviceCertificate],
        person: impl Fn(&IdentityPublic) -> Option<String>,
    ) -> Self {
        for cert in peers {
            let id = cert.device_id();
            self.devices.entry(id).or_insert_with(|| DeviceLabel {
                short: id.short(),
                name: None,
                role: Some(cert.role),
                this_device: false,
                person: person(&cert.owner),
            });
        }
        self
    }

    /// This device's label, if the directory holds it.
    pub(crate) fn this_device(&self) -> Option<DeviceLabel> {
        self.devices.values().find(|d| d.this_device).cloned()
    }

    /// Whether the device is known.
    pub(crate) fn knows(&self, device_id: DeviceId) -> bool {
        self.devices.contains_key(&device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device id made of `word` four times, so its short form is `word` in hex.
    fn repeated(word: [u8; 4]) -> DeviceId {
        DeviceId(std::array::from_fn(|i| word[i % 4]))
    }

    #[test]
    fn labels_say_which_device() {
        let records = [DeviceRecord {
            device_id: repeated([0xa1, 0xb2, 0xc3, 0xd4]),
            certificate: vec![],
            this_device: true,
            name: Some("laptop".to_owned()),
            registered_at_ms: None,
            listed: true,
        }];
        let directory = DeviceDirectory::new(&records);
        assert_eq!(
            directory.label(records[0].device_id).to_string(),
            "laptop a1b2c3d4 (this device)"
        );
        assert_eq!(
            directory
                .label(repeated([0xe5, 0xf6, 0xa7, 0xb8]))
                .to_string(),
            "device e5f6a7b8"
        );
        assert!(directory.knows(records[0].device_id));
    }
}
