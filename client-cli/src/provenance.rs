//! Which device wrote which record, for `show`.
//!
//! Every Automerge operation carries the actor id of the process that made it. A profile that
//! syncs writes with its device id (followed by a per-process suffix, see
//! [`crate::profile::process_actor`]) as actor, so a record's creating operation names its device
//! directly; for actors that are not device ids (older profiles, documents merged from files)
//! the store remembers which device's bundle first carried their changes. Devices are then
//! named from what this device knows of them (`laptop a1b2c3d4`, or `device a1b2c3d4`).
//! A profile that never synced knows no devices, and `show` says nothing extra.

use std::collections::HashMap;

use automerge::{AutoCommit, ObjId, ReadDoc, Value, ROOT};

use crate::profile::actor_device;
use crate::store::{Store, StoreError};
use crate::sync::account::{hex, DeviceDirectory};

/// The maps of the homework document whose records are attributed.
const RECORD_MAPS: &[&str] = &["entries", "comments", "assignments", "goals"];

/// Device labels of records, by record id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    created: HashMap<String, String>,
    updated: HashMap<String, String>,
}

impl Provenance {
    /// Works out which device created each record (and last updated each entry).
    pub(crate) fn of(doc: &AutoCommit, store: &Store) -> Result<Self, StoreError> {
        let devices = store.devices()?;
        if devices.is_empty() {
            return Ok(Self::default());
        }
        let directory = DeviceDirectory::new(&devices);
        let authors = store.change_authors()?;
        let label = |id: &ObjId| -> Option<String> {
            let ObjId::Id(_, actor, _) = id else {
                return None;
            };
            let bytes = actor.to_bytes();
            if let Some(as_device) = actor_device(bytes).map(hex) {
                if directory.knows(&as_device) {
                    return Some(directory.label(&as_device).to_string());
                }
            }
            authors
                .get(bytes)
                .map(|device| directory.label(device).to_string())
        };
        let mut out = Self::default();
        for map in RECORD_MAPS {
            let Ok(Some((Value::Object(_), records))) = doc.get(ROOT, *map) else {
                continue;
            };
            for key in doc.keys(&records) {
                let Ok(Some((_, record))) = doc.get(&records, key.as_str()) else {
                    continue;
                };
                if let Some(device) = label(&record) {
                    out.created.insert(key.clone(), device);
                }
                if *map == "entries" {
                    if let Ok(Some((_, op))) = doc.get(&record, "updated_at") {
                        if let Some(device) = label(&op) {
                            out.updated.insert(key.clone(), device);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// " on laptop a1b2c3d4" for the device that created a record, or "" if unknown.
    pub(crate) fn created_on(&self, id: &str) -> String {
        self.created
            .get(id)
            .map(|d| format!(" on {d}"))
            .unwrap_or_default()
    }

    /// " on laptop a1b2c3d4" for the device that last changed an entry, or "" if unknown.
    pub(crate) fn updated_on(&self, id: &str) -> String {
        self.updated
            .get(id)
            .map(|d| format!(" on {d}"))
            .unwrap_or_default()
    }
}
