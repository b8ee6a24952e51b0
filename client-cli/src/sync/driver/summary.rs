//! What a sync run did (or, while watching, what happened since the last report), added up by
//! the driver and told to the person in one paragraph.

use std::collections::BTreeMap;

use between_shared::protocol::DeviceId;

use crate::render::plural;
use crate::sync::account::DeviceDirectory;

/// What happened in a sync run (or, while watching, since the last report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Changes the relay acknowledged.
    pub(crate) pushed_changes: usize,
    /// Bundles the relay acknowledged.
    pub(crate) pushed_bundles: usize,
    /// Bundles applied, per author device id.
    pub(crate) received: BTreeMap<DeviceId, usize>,
    /// Bundles that could not be opened or applied.
    pub(crate) skipped: usize,
    /// Pushes the relay refused, with its reasons.
    pub(crate) refused: Vec<String>,
    /// Whether the relay was found to serve an older state than it acknowledged.
    pub(crate) rolled_back: bool,
    /// Documents that could not be synced, with the reasons.
    pub(crate) failed: Vec<String>,
    /// Local changes the relay does not hold yet (at the end).
    pub(crate) pending_changes: usize,
    /// Documents that hold nothing yet at the end, by label: none of their changes arrived.
    pub(crate) empty: Vec<String>,
}

impl Summary {
    /// Adds what a later run did: its counts, refusals and failures; its pending changes are
    /// the ones left at the end.
    pub(crate) fn then(&mut self, later: Summary) {
        self.pushed_changes += later.pushed_changes;
        self.pushed_bundles += later.pushed_bundles;
        for (device, count) in later.received {
            *self.received.entry(device).or_default() += count;
        }
        self.skipped += later.skipped;
        self.refused.extend(later.refused);
        self.rolled_back |= later.rolled_back;
        self.failed.extend(later.failed);
        self.pending_changes = later.pending_changes;
        self.empty = later.empty;
    }

    /// Whether nothing moved.
    pub(crate) fn is_quiet(&self) -> bool {
        self.pushed_bundles == 0 && self.received.is_empty() && self.skipped == 0
    }

    fn received_total(&self) -> usize {
        self.received.values().sum()
    }

    /// A one-line account of what moved, naming the devices.
    pub(crate) fn describe(&self, devices: &DeviceDirectory) -> String {
        let mut parts = Vec::new();
        if self.pushed_bundles > 0 {
            parts.push(format!(
                "sent {} in {}",
                plural(self.pushed_changes, "change"),
                plural(self.pushed_bundles, "bundle")
            ));
        }
        if !self.received.is_empty() {
            let from: Vec<String> = self
                .received
                .iter()
                .map(|(device, n)| format!("{n} from {}", devices.label(*device)))
                .collect();
            parts.push(format!(
                "received {} ({})",
                plural(self.received_total(), "bundle"),
                from.join(", ")
            ));
        }
        if self.skipped > 0 {
            parts.push(format!(
                "skipped {} that could not be opened",
                plural(self.skipped, "bundle")
            ));
        }
        if parts.is_empty() {
            "nothing new to send or receive".to_owned()
        } else {
            parts.join("; ")
        }
    }
}
