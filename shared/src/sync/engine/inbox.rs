//! What comes from the relay, checked and applied: bundles in order (gaps read again, lost
//! entries skipped), snapshots, the end of a catch-up, and a relay that rolled back.

use super::*;

impl DocSync {
    /// Checks and records one bundle of the log; returns what is to be applied (another
    /// device's changes), which [`DocSync::apply`] then loads.
    ///
    /// The cursor moves only to the entry right after it. A bundle further on (the relay
    /// committed an entry but never forwarded it) is applied and held in `ahead`; while live,
    /// the engine then reads the log again from the cursor ([`DocSync::reread_if_gap`]).
    pub(super) fn accept_bundle(
        &mut self,
        envelope: &dyn Envelope,
        seq: u64,
        bundle: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<Option<Incoming>, SyncError> {
        check_position(seq, 1, "a bundle at")?;
        self.no_snapshot_under_way("a bundle")?;
        let hash = digest(bundle);
        if self.verify_at == Some(seq) {
            self.verify_at = None;
            if self.state.cursor_digest != Some(hash) {
                // The relay serves a different entry where we saw one: its log diverged.
                let expected = self.state.acked_seq.max(self.state.cursor);
                self.rolled_back(seq.saturating_sub(1), expected, events);
            }
            return Ok(None);
        }
        if seq <= self.state.cursor || self.ahead.contains_key(&seq) {
            return Ok(None);
        }
        let incoming = self.open_entry(envelope, seq, bundle, events);
        self.state.log_bytes = self.state.log_bytes.saturating_add(len_u64(bundle));
        if Some(seq) == self.state.cursor.checked_add(1) {
            self.state.cursor = seq;
            self.state.cursor_digest = Some(hash);
            self.advance_over_held();
        } else {
            self.ahead.insert(seq, hash);
            if self.caught_up {
                self.gap_seen = true;
                self.reread_if_gap(events);
            }
        }
        events.push(Event::Persist);
        Ok(incoming)
    }

    /// Opens one log entry: another device's changes to apply, or `None` (our own, or a
    /// bundle that does not open, reported as skipped).
    pub(super) fn open_entry(
        &mut self,
        envelope: &dyn Envelope,
        seq: u64,
        bundle: &[u8],
        events: &mut Vec<Event>,
    ) -> Option<Incoming> {
        let mut incoming = None;
        match envelope.open(bundle) {
            Err(err) => events.push(Event::Skipped {
                seq,
                reason: err.to_string(),
            }),
            Ok(opened) if opened.kind != BundleKind::Changes => events.push(Event::Skipped {
                seq,
                reason: "a snapshot where a bundle of changes was expected".into(),
            }),
            Ok(opened) => {
                let seen = self.state.authors.entry(opened.author).or_default();
                *seen = (*seen).max(opened.counter);
                // Our own bundles are already in the document; others' are applied (Automerge
                // ignores changes it already has, so a replayed bundle does no harm).
                if opened.author != envelope.me() {
                    incoming = Some(Incoming {
                        seq,
                        author: opened.author,
                        plaintext: opened.plaintext,
                    });
                }
            }
        }
        incoming
    }

    /// After a live bundle arrived past a gap, and once no push is in flight (whose
    /// acknowledgement could fill it): if the gap is still there, subscribe again from the
    /// cursor so the relay serves the entries that never arrived.
    pub(super) fn reread_if_gap(&mut self, events: &mut Vec<Event>) {
        if !self.gap_seen || !self.caught_up || !self.in_flight.is_empty() {
            return;
        }
        self.gap_seen = false;
        // `ahead` holds nothing right after the cursor, so anything in it lies past a gap.
        if self.ahead.is_empty() {
            return;
        }
        self.caught_up = false;
        self.verify_at = None;
        events.push(Event::Send(ToRelay::Subscribe {
            since: self.state.cursor,
        }));
    }

    /// `CaughtUp`: the catch-up served everything up to the relay's `head`. A head behind what
    /// this device saw or had acknowledged means the relay lost entries (a restored backup);
    /// otherwise entries it skipped are reported lost, and then the outbox is pushed and a
    /// snapshot uploaded if one is due, which both wait for the catch-up to end.
    pub(super) fn end_of_catch_up(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &mut dyn Envelope,
        head: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), SyncError> {
        self.no_snapshot_under_way("the end of a catch-up")?;
        check_position(head, 0, "a log head of")?;
        self.caught_up = true;
        self.verify_at = None;
        let expected = self.state.acked_seq.max(self.state.cursor);
        if head < expected {
            self.rolled_back(head, expected, events);
        } else {
            self.skip_lost(head, events);
        }
        self.push_outbox(doc, envelope, events)?;
        self.maybe_compact(doc, envelope, events)
    }

    /// At the end of a catch-up: entries up to `head` that the relay did not serve although
    /// it served later ones are lost on the relay; reading again would bring nothing, so they
    /// are reported and the cursor moves on to the entries held after them. Entries past
    /// `head` stay held: they are live ones that arrived early.
    pub(super) fn skip_lost(&mut self, head: u64, events: &mut Vec<Event>) {
        let Some(&next) = self.ahead.keys().next() else {
            return;
        };
        let from = self.state.cursor.saturating_add(1);
        let to = next.saturating_sub(1).min(head);
        if to < from {
            return;
        }
        events.push(Event::Skipped {
            seq: from,
            reason: format!(
                "the relay did not serve log entries {from} to {to} although its log goes on to {head}: it has lost them"
            ),
        });
        self.state.cursor = to;
        self.state.cursor_digest = None;
        self.advance_over_held();
        events.push(Event::Persist);
    }

    /// Loads other devices' changes into `doc`. Several bundles go in one
    /// `load_incremental`: applying remote changes costs Automerge time in proportion to the
    /// document's size, once per call, so a device that fell behind catches up in one pass
    /// instead of one pass per bundle. If the joined load fails, each bundle is loaded on its
    /// own, so only a bad one is skipped (changes already applied are ignored the second time).
    pub(super) fn apply(
        &mut self,
        doc: &mut AutoCommit,
        incoming: Vec<Incoming>,
        events: &mut Vec<Event>,
    ) {
        // Automerge's `load_incremental` ignores whatever follows a chunk it cannot parse, so
        // a malformed bundle would pass as applied and, joined with others, hide the ones
        // after it: each is checked on its own first (microseconds for a few changes).
        let before = doc.get_heads();
        let mut checked = Vec::with_capacity(incoming.len());
        // The largest bundle that loaded whole (its index, size and document): it may become
        // the document (see `adopt_if_complete`); the others are then loaded into it.
        let mut largest: Option<(usize, usize, AutoCommit)> = None;
        for one in incoming {
            match well_formed(&one.plaintext) {
                Ok(loaded) => {
                    let size = one.plaintext.len();
                    if let Some(loaded) = loaded {
                        if largest.as_ref().is_none_or(|(_, most, _)| size > *most) {
                            largest = Some((checked.len(), size, loaded));
                        }
                    }
                    checked.push(one);
                }
                Err(reason) => events.push(Event::Skipped {
                    seq: one.seq,
                    reason: SyncError::BadChanges(reason).to_string(),
                }),
            }
        }
        let incoming = checked;
        if incoming.is_empty() {
            return;
        }
        let (base, mut loaded) = largest.map_or((None, None), |(at, _, doc)| (Some(at), Some(doc)));
        let adopted = base.filter(|_| adopt_if_complete(doc, &mut loaded));
        let rest: Vec<u8> = incoming
            .iter()
            .enumerate()
            .filter(|(at, _)| Some(*at) != adopted)
            .flat_map(|(_, i)| i.plaintext.iter().copied())
            .collect();
        let together = if rest.is_empty() {
            Ok(0)
        } else {
            doc.load_incremental(&rest)
        }
        .map_err(|e| e.to_string());
        match together {
            Ok(_) => {
                self.relay_has(doc, &before);
                events.extend(
                    incoming
                        .into_iter()
                        .map(|i| Event::Applied { author: i.author }),
                );
            }
            Err(err) if incoming.len() == 1 => {
                if let Some(one) = incoming.into_iter().next() {
                    events.push(Event::Skipped {
                        seq: one.seq,
                        reason: SyncError::BadChanges(err).to_string(),
                    });
                }
            }
            Err(_) => {
                for one in incoming {
                    self.apply(doc, vec![one], events);
                }
            }
        }
    }

    pub(super) fn receive_snapshot(
        &mut self,
        doc: &mut AutoCommit,
        envelope: &dyn Envelope,
        covers: u64,
        snapshot: &[u8],
        events: &mut Vec<Event>,
    ) {
        // The relay compacted past our cursor, so the entry at the cursor cannot be checked.
        self.verify_at = None;
        let before = doc.get_heads();
        let loaded = match envelope.open(snapshot) {
            Ok(opened) if opened.kind == BundleKind::Snapshot => well_formed(&opened.plaintext)
                .and_then(|mut loaded| {
                    if adopt_if_complete(doc, &mut loaded) {
                        return Ok(0);
                    }
                    doc.load_incremental(&opened.plaintext)
                        .map_err(|err| err.to_string())
                })
                .map(|_| opened.author)
                .map_err(|err| SyncError::BadChanges(err).to_string()),
            Ok(_) => Err("it is a bundle of changes, not a snapshot".to_owned()),
            Err(err) => Err(err.to_string()),
        };
        match loaded {
            Ok(author) => {
                self.relay_has(doc, &before);
                events.push(Event::Applied { author });
                self.state.snapshot_covers = self.state.snapshot_covers.max(covers);
                self.state.snapshot_bytes = len_u64(snapshot);
                self.state.log_bytes = 0;
            }
            Err(reason) => self.snapshot_unreadable(doc, covers, reason, events),
        }
        // Either way the entries up to `covers` are no longer in the relay's log.
        self.state.cursor = self.state.cursor.max(covers);
        self.state.cursor_digest = None;
        self.advance_over_held();
        events.push(Event::Persist);
    }

    /// The relay's snapshot cannot be used, and the entries it replaced are gone from its log:
    /// push everything this device holds again and, if this device may, replace the snapshot
    /// with its own once the log is settled (see [`Event::UnreadableSnapshot`]).
    pub(super) fn snapshot_unreadable(
        &mut self,
        doc: &mut AutoCommit,
        covers: u64,
        reason: String,
        events: &mut Vec<Event>,
    ) {
        events.push(Event::UnreadableSnapshot { covers, reason });
        self.push_everything_again();
        // A device that holds nothing has nothing to heal the log with.
        self.replace_snapshot = self.compacts && !doc.get_heads().is_empty();
    }

    /// Forgets which changes the relay holds, so the outbox becomes the whole document: after
    /// a rollback or an unreadable snapshot the relay may have lost any of them.
    pub(super) fn push_everything_again(&mut self) {
        self.state.relay_heads.clear();
    }

    /// Records that the changes applied since `before` came from the relay, so they are not
    /// pushed back to it (their dependencies are on the relay too: authors push in causal order).
    pub(super) fn relay_has(&mut self, doc: &mut AutoCommit, before: &[ChangeHash]) {
        let mut relay_heads = to_hashes(&self.state.relay_heads);
        relay_heads.sort();
        let mut before = before.to_vec();
        before.sort();
        if relay_heads == before {
            // The relay held everything this device had: now it holds everything.
            self.state.relay_heads = to_raw(&doc.get_heads());
            return;
        }
        // Metadata only (hashes and dependencies): a year of changes arriving at once is not
        // decoded again here.
        let added = doc.get_changes_meta(&before);
        if added.is_empty() {
            return;
        }
        let mut heads: BTreeSet<ChangeHash> = relay_heads.into_iter().collect();
        for change in &added {
            for dep in &change.deps {
                heads.remove(dep);
            }
            heads.insert(change.hash);
        }
        self.state.relay_heads = to_raw(&heads.into_iter().collect::<Vec<_>>());
    }

    /// Moves the cursor over the held entries that directly follow it.
    pub(super) fn advance_over_held(&mut self) {
        while let Some(next) = self.state.cursor.checked_add(1) {
            let Some(digest) = self.ahead.remove(&next) else {
                break;
            };
            self.state.cursor = next;
            self.state.cursor_digest = Some(digest);
        }
        let cursor = self.state.cursor;
        self.ahead.retain(|seq, _| *seq > cursor);
    }

    pub(super) fn rolled_back(&mut self, relay_head: u64, expected: u64, events: &mut Vec<Event>) {
        events.push(Event::RelayRolledBack {
            relay_head,
            expected,
        });
        // What the relay holds now may include entries this device never saw (pushed by others
        // after the restore), so read its whole log again; and push everything this device has,
        // whatever the relay lost.
        self.state.cursor = 0;
        self.state.cursor_digest = None;
        self.push_everything_again();
        self.state.acked_seq = relay_head;
        self.state.snapshot_covers = 0;
        self.state.log_bytes = 0;
        self.in_flight.clear();
        self.ahead.clear();
        self.gap_seen = false;
        self.resync = true;
        events.push(Event::Persist);
        events.push(Event::Reconnect);
    }
}
