//! What goes to the relay: the outbox sealed into bundles and pushed, the relay's answers to
//! pushes and snapshot uploads, and when to compact the log behind a snapshot.

use super::*;

impl DocSync {
    pub(super) fn push_outbox(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        if !self.connected || !self.caught_up || self.resync || !self.in_flight.is_empty() {
            return Ok(());
        }
        let known = to_hashes(&self.state.relay_heads);
        let changes = doc.get_changes(&known);
        if changes.is_empty() {
            // Everything is on the relay: the document's heads say so most compactly.
            let heads = to_raw(&doc.get_heads());
            if heads != self.state.relay_heads {
                self.state.relay_heads = heads;
                events.push(Event::Persist);
            }
            return Ok(());
        }
        // A large outbox (a journal typed offline key by key) goes as the whole document in
        // Automerge's compressed save format when that is smaller: a save is columnar, so it
        // costs about what the text does, where single changes cost ~150 bytes of header per
        // keystroke. Receivers merge it like any changes. Small outboxes (live edits) go as
        // the changes themselves.
        let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        let whole = (raw > COMPRESS_OUTBOX_ABOVE)
            .then(|| doc.save())
            .filter(|save| save.len() < raw && save.len() <= MAX_BUNDLE_PLAINTEXT);
        let groups: Vec<(Vec<u8>, Vec<ChangeHash>)> = match whole {
            Some(save) => vec![(save, doc.get_heads())],
            None => {
                let mut heads: BTreeSet<ChangeHash> = known.into_iter().collect();
                split(&changes)
                    .into_iter()
                    .map(|group| {
                        let mut plaintext = Vec::new();
                        for change in group {
                            plaintext.extend_from_slice(change.raw_bytes());
                            for dep in change.deps() {
                                heads.remove(dep);
                            }
                            heads.insert(change.hash());
                        }
                        (plaintext, heads.iter().copied().collect())
                    })
                    .collect()
            }
        };
        let mut sends = Vec::new();
        for (plaintext, heads_after) in groups {
            self.state.last_counter = next_counter(self.state.last_counter)?;
            let bundle = envelope.seal(BundleKind::Changes, self.state.last_counter, &plaintext)?;
            let request = self.next_request;
            self.next_request += 1;
            self.in_flight.push_back(InFlight {
                request,
                heads_after,
                digest: digest(&bundle),
                bytes: len_u64(&bundle),
            });
            sends.push(Event::Send(ToRelay::Push { request, bundle }));
        }
        // The counters are persisted before any bundle carrying them leaves the device.
        events.push(Event::Persist);
        events.extend(sends);
        Ok(())
    }

    /// `Ack`: one part of this device's snapshot upload was stored, or the oldest push in
    /// flight was appended at `seq`. The relay answers pushes in the order they were sent, so an
    /// acknowledgement of anything else is its error. Once nothing is in flight, what waited for
    /// the answers goes: a read of a gap seen meanwhile, the next push, a due snapshot.
    pub(super) fn acknowledged(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        request: u64,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        if let Some(upload) = self.snapshot_upload.filter(|u| u.owns(request)) {
            // Only the last part's acknowledgement means the snapshot is stored.
            if request == upload.last {
                self.snapshot_upload = None;
                self.state.snapshot_covers = self.state.snapshot_covers.max(upload.covers);
                self.state.snapshot_bytes = upload.bytes;
                self.state.log_bytes = self.state.log_bytes.saturating_sub(upload.log_bytes);
                events.push(Event::Persist);
            }
            return Ok(());
        }
        let Some(front) = self.in_flight.pop_front() else {
            return Err(SyncError::Protocol(format!(
                "acknowledgement {request} for nothing in flight"
            )));
        };
        if front.request != request {
            return Err(SyncError::Protocol(format!(
                "acknowledgement {request} out of order (expected {})",
                front.request
            )));
        }
        check_position(seq, 1, "an acknowledgement at")?;
        // Union, not replace: bundles received while this push was in flight are on
        // the relay too. Redundant heads are harmless and pruned when the outbox empties.
        let mut heads: BTreeSet<[u8; 32]> = self.state.relay_heads.iter().copied().collect();
        heads.extend(to_raw(&front.heads_after));
        self.state.relay_heads = heads.into_iter().collect();
        self.state.acked_seq = self.state.acked_seq.max(seq);
        self.state.log_bytes = self.state.log_bytes.saturating_add(front.bytes);
        if seq > self.state.cursor {
            self.ahead.insert(seq, front.digest);
            self.advance_over_held();
        }
        events.push(Event::Persist);
        if self.in_flight.is_empty() {
            self.reread_if_gap(events);
            self.push_outbox(doc, envelope, events)?;
            if !self.snapshots_when_quiet {
                self.maybe_compact(doc, envelope, events)?;
            }
        }
        Ok(())
    }

    /// `Refused`: a part of this device's snapshot upload, or a push, was refused. The relay
    /// refuses every part after a refused one too: that is said once, and the upload ends
    /// only with the last part's answer, so that none is taken for a push's. A refused push
    /// drops everything in flight: the outbox keeps those changes.
    pub(super) fn refused(&mut self, request: u64, reason: String, events: &mut Vec<Event>) {
        if let Some(upload) = self.snapshot_upload.as_mut().filter(|u| u.owns(request)) {
            let first_refusal = !upload.refused;
            upload.refused = true;
            if request == upload.last {
                self.snapshot_upload = None;
            }
            if first_refusal {
                events.push(Event::Refused { reason });
            }
        } else {
            self.in_flight.clear();
            events.push(Event::Refused { reason });
        }
    }

    pub(super) fn maybe_compact(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        if !self.snapshot_due() || !self.is_settled() || !self.outbox_is_empty(doc) {
            return Ok(());
        }
        let save = doc.save();
        if save.len() > MAX_SNAPSHOT_PLAINTEXT {
            // Too large for one sealed snapshot: the log stays uncompacted (catch-up still
            // works, entry by entry) rather than sync failing.
            self.snapshot_skipped_at = Some(self.state.cursor);
            return Ok(());
        }
        self.state.last_counter = next_counter(self.state.last_counter)?;
        let sealed = envelope.seal(BundleKind::Snapshot, self.state.last_counter, &save)?;
        let Some(cut) = snapshot_parts::cut(&sealed, self.snapshot_part_bytes) else {
            self.snapshot_skipped_at = Some(self.state.cursor);
            return Ok(());
        };
        // `cut` returns 1 to MAX_SNAPSHOT_PARTS parts.
        let parts = u32::try_from(cut.len()).unwrap_or(u32::MAX);
        let covers = self.state.cursor;
        let first = self.next_request;
        self.next_request += u64::from(parts);
        self.snapshot_upload = Some(Upload {
            first,
            last: first + u64::from(parts) - 1,
            covers,
            bytes: len_u64(&sealed),
            log_bytes: self.state.log_bytes,
            refused: false,
        });
        self.replace_snapshot = false;
        events.push(Event::Persist);
        for ((request, part), snapshot) in (first..).zip(0..).zip(cut) {
            events.push(Event::Send(ToRelay::PutSnapshot {
                request,
                covers,
                part,
                parts,
                snapshot,
            }));
        }
        Ok(())
    }

    /// Whether this device would upload a snapshot now, as far as the log tells (the document
    /// must still have nothing the relay lacks).
    pub(super) fn snapshot_due(&self) -> bool {
        // `snapshot_covers` comes from the relay; past `u64::MAX` nothing is ever due.
        let due = self.replace_snapshot
            || self
                .state
                .snapshot_covers
                .checked_add(self.compact_after)
                .is_some_and(|at| self.state.cursor >= at)
            || self.state.log_bytes >= self.state.snapshot_bytes.max(COMPACT_AFTER_BYTES);
        let skipped_lately = self
            .snapshot_skipped_at
            .is_some_and(|at| self.state.cursor < at.saturating_add(self.compact_after));
        self.compacts && due && !skipped_lately
    }

    /// A relay sends a snapshot's parts one after another; `what` arriving between two of them
    /// is a relay error.
    pub(super) fn no_snapshot_under_way(&self, what: &str) -> Result<(), SyncError> {
        if self.incoming_snapshot.is_under_way() {
            return Err(SyncError::Protocol(format!(
                "{what} arrived between the parts of a snapshot"
            )));
        }
        Ok(())
    }
}
