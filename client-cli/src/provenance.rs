//! Which device wrote which record, for `show`, and whether a record's claimed author holds.
//!
//! Every Automerge operation carries the actor id of the process that made it; Between's
//! processes write as their device id followed by a per-process suffix
//! ([`crate::profile::process_actor`]; older ones as the bare device id). Anyone can put any
//! bytes there, and a record's `author` (name and role) is whatever its writer typed, so neither
//! proves who wrote it. What does is a signature: the store remembers which device's signed
//! bundle first brought each actor's changes (`change_authors`, filled by the sync driver per
//! run of one device's bundles). A record is attributed to a device only when both agree: the
//! actor names device D **and** D's own signed bundle brought it; or when this device wrote it.
//! Otherwise it is shown as unverified: a record that came from a file (`doc merge`,
//! `init --document`, `client import`), or one another device carried. A comment signed by a
//! client's device that calls itself the therapist's is flagged the same way.

use std::collections::HashMap;

use automerge::{AutoCommit, ObjId, ReadDoc, Value, ROOT};
use between_shared::crypto::DeviceCertificate;
use between_shared::protocol::DeviceId;
use between_shared::{Author, Role};

use crate::profile::{actor_device, actor_device_id};
use crate::store::{Store, StoreError};
use crate::sync::account::DeviceDirectory;

/// The maps of the homework document whose records are attributed.
const RECORD_MAPS: &[&str] = &["entries", "comments", "assignments", "goals"];

/// Where a record's creating change came from, as far as this device can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// Written on this device.
    ThisDevice,
    /// Signed by the device its actor names.
    Signed(DeviceId),
    /// Brought by this device's signed bundle, but its actor names another device or none:
    /// sent on by that device (merged there from a file, or pushed again after a relay lost it).
    CarriedBy(DeviceId),
    /// Never came through the relay: from a file, or before this device kept track.
    Unknown,
}

/// Origins of records, by record id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    created: HashMap<String, Origin>,
    updated: HashMap<String, Origin>,
    directory: DeviceDirectory,
    /// The roles other people's devices' certificates give them (signed by their account).
    peer_roles: HashMap<DeviceId, Role>,
}

impl Provenance {
    /// Works out where each record was created (and each entry last updated). `own_actor` is
    /// the profile's actor id (its device id on a profile that syncs).
    pub(crate) fn of(
        doc: &AutoCommit,
        store: &Store,
        own_actor: &[u8],
    ) -> Result<Self, StoreError> {
        let directory = DeviceDirectory::new(&store.devices()?);
        let peer_roles = store
            .peer_devices()?
            .iter()
            .filter_map(|bytes| DeviceCertificate::from_bytes(bytes).ok())
            .filter(|certificate| certificate.verify().is_ok())
            .map(|certificate| (certificate.device_id(), certificate.role))
            .collect();
        let authors = store.change_authors()?;
        let origin = |id: &ObjId| -> Option<Origin> {
            let ObjId::Id(_, actor, _) = id else {
                return None;
            };
            let bytes = actor.to_bytes();
            if actor_device(bytes) == Some(own_actor) {
                return Some(Origin::ThisDevice);
            }
            Some(match authors.get(bytes) {
                Some(&sealer) if actor_device_id(bytes) == Some(sealer) => Origin::Signed(sealer),
                Some(&sealer) => Origin::CarriedBy(sealer),
                None => Origin::Unknown,
            })
        };
        let mut out = Self {
            directory,
            peer_roles,
            ..Self::default()
        };
        for map in RECORD_MAPS {
            let Ok(Some((Value::Object(_), records))) = doc.get(ROOT, *map) else {
                continue;
            };
            for key in doc.keys(&records) {
                let Ok(Some((_, record))) = doc.get(&records, key.as_str()) else {
                    continue;
                };
                if let Some(found) = origin(&record) {
                    out.created.insert(key.clone(), found);
                }
                if *map == "entries" {
                    if let Ok(Some((_, op))) = doc.get(&record, "updated_at") {
                        if let Some(found) = origin(&op) {
                            out.updated.insert(key.clone(), found);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// " on laptop a1b2c3d4" for the device whose signature shows it created a record (or
    /// this device, when it knows its own name), or "".
    pub(crate) fn created_on(&self, id: &str) -> String {
        self.on(self.created.get(id))
    }

    /// " on laptop a1b2c3d4" for the device that last changed an entry, as for
    /// [`Provenance::created_on`].
    pub(crate) fn updated_on(&self, id: &str) -> String {
        self.on(self.updated.get(id))
    }

    fn on(&self, origin: Option<&Origin>) -> String {
        match origin {
            Some(Origin::Signed(device)) => format!(" on {}", self.directory.label(*device)),
            Some(Origin::ThisDevice) => self
                .directory
                .this_device()
                .map(|label| format!(" on {label}"))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// " (unverified: why)" when record `id`'s claimed author does not hold as far as this
    /// device can check (see [`Provenance::unverified`]), to show right after the author; or "".
    pub(crate) fn author_check(&self, id: &str, claimed: &Author) -> String {
        self.unverified(id, claimed)
            .map(|why| format!(" (unverified: {why})"))
            .unwrap_or_default()
    }

    /// Why record `id`'s claimed author cannot be confirmed, or `None` when it holds: written
    /// here, or signed by a device whose certificate gives the role the record claims.
    pub(crate) fn unverified(&self, id: &str, claimed: &Author) -> Option<String> {
        match self.created.get(id)? {
            Origin::ThisDevice => None,
            Origin::Signed(device) => {
                let label = self.directory.label(*device);
                match label.role.or_else(|| self.peer_roles.get(device).copied()) {
                    Some(role) if role != claimed.role => Some(format!(
                        "written on {label}, a {role}'s device, not a {}'s",
                        claimed.role
                    )),
                    _ => None,
                }
            }
            Origin::CarriedBy(device) => Some(format!(
                "not signed by the writer's device; {} sent it on",
                self.directory.label(*device)
            )),
            Origin::Unknown => Some("it came from a file, not signed through the relay".to_owned()),
        }
    }
}
