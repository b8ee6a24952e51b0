//! Changes made on this device beside the driver (other commands, the app): taken in from the
//! store, and homework that arrived under a placeholder named.

use super::*;

impl Driver {
    /// Takes in what other processes stored since (see [`Driver::take_in_stored`]), queueing its
    /// pushes; returns whether any document changed.
    pub(crate) fn take_in_local(&mut self) -> Result<bool, DriverError> {
        let before: Vec<_> = self.docs.iter_mut().map(Slot::heads).collect();
        let step = self.take_in_stored(Step::default())?;
        self.pushes.extend(step.send);
        let changed = self
            .docs
            .iter_mut()
            .zip(before)
            .any(|(slot, heads)| slot.heads() != heads);
        Ok(self.name_arrived()? || changed)
    }

    /// Homework that arrived under a placeholder label takes the client's name once its
    /// content is here, as after `between sync` ([`crate::sync::sharing::name_arrived`]); returns
    /// whether a name changed.
    pub(super) fn name_arrived(&mut self) -> Result<bool, DriverError> {
        // Nothing to name, nothing to read (this runs every time an app looks for changes).
        let placeholder = |slot: &Slot| {
            slot.kind == DocumentKind::Shared
                && slot
                    .label
                    .starts_with(crate::sync::sharing::ARRIVING_LABEL_PREFIX)
        };
        if !self.docs.iter().any(placeholder) {
            return Ok(false);
        }
        crate::sync::sharing::name_arrived(&mut self.store)?;
        let labels: HashMap<DocId, String> = self
            .store
            .documents()?
            .into_iter()
            .map(|d| (d.id, d.label))
            .collect();
        let mut renamed = false;
        for slot in &mut self.docs {
            if let Some(label) = labels.get(&slot.id).filter(|l| **l != slot.label) {
                slot.label = label.clone();
                renamed = true;
            }
        }
        Ok(renamed)
    }

    /// The connection loop's regular poll: when nothing was written since the last one, does
    /// what waits for a quiet moment ([`Driver::compact_due`], a due snapshot); then takes in
    /// what other processes stored ([`Driver::take_in_stored`]).
    pub(crate) fn poll_local(&mut self) -> Result<Step, DriverError> {
        let mut step = Step::default();
        if !std::mem::take(&mut self.wrote_since_poll) {
            self.quiet(&mut step)?;
        }
        self.take_in_stored(step)
    }

    /// Checks whether another `between` command changed the store, and if so pushes its
    /// changes (added to `step`).
    pub(super) fn take_in_stored(&mut self, mut step: Step) -> Result<Step, DriverError> {
        let version = self.store.data_version()?;
        if version == self.data_version {
            return if step.send.is_empty() {
                Ok(step)
            } else {
                self.finish(step)
            };
        }
        self.data_version = version;
        for i in 0..self.docs.len() {
            let before = if self.docs[i].doc.is_some() {
                // What changed since, not the whole document again.
                let bytes = self.store.load_changes_since_seen(self.docs[i].id)?;
                let slot = &mut self.docs[i];
                let doc = held(&mut slot.doc, &slot.label)?;
                let before = doc.get_heads();
                doc.load_incremental(&bytes)
                    .map_err(|e| DriverError::Document {
                        label: slot.label.clone(),
                        detail: e.to_string(),
                    })?;
                before
            } else {
                // Not loaded: unless another process stored something for it, nothing to do.
                let slot = &self.docs[i];
                let known = self.store.known_heads(slot.id)?.map(|h| to_hashes(&h));
                if known.as_ref() == Some(&slot.stored_heads) {
                    continue;
                }
                let before = slot.stored_heads.clone();
                self.ensure_loaded(i)?;
                before
            };
            // Everything in memory is now in the store: it was flushed before, and the rest
            // was just read from it.
            let slot = &mut self.docs[i];
            let doc = held(&mut slot.doc, &slot.label)?;
            slot.stored_heads = doc.get_heads();
            slot.stored_changes = change_count(doc);
            if slot.stored_heads != before {
                // Stored by another process: the recorded heads no longer match.
                slot.heads_recorded = false;
                if self.phase == Phase::Running {
                    let events = slot.sync.local_change(doc, &mut slot.envelope)?;
                    self.handle_events(i, events, None, &mut step)?;
                }
            }
        }
        self.finish(step)
    }
}
