//! What the relay says, handled: welcome, the device list, bundles, acks, refusals, and the
//! engines' events turned into store writes and messages.

use super::*;

impl Driver {
    /// One message from the relay, after sign-in.
    pub(super) fn handle(
        &mut self,
        msg: ServerMessage,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        match msg {
            ServerMessage::Devices { request, devices } => {
                self.requests.remove(&request.0);
                self.devices_listed(&devices)?;
                self.after_devices(step)?;
            }
            ServerMessage::Done { request } => self.done(request, step)?,
            ServerMessage::Ack { request, seq, .. } => self.acked(request, seq, step)?,
            ServerMessage::Bundle { doc, seq, bundle } => {
                self.relay_message(&doc, FromRelay::Bundle { seq: seq.0, bundle }, step)?;
            }
            ServerMessage::Snapshot {
                doc,
                covers,
                part,
                parts,
                snapshot,
            } => {
                self.relay_message(
                    &doc,
                    FromRelay::Snapshot {
                        covers: covers.0,
                        part,
                        parts,
                        snapshot,
                    },
                    step,
                )?;
            }
            ServerMessage::CaughtUp { request, doc, head } => {
                self.requests.remove(&request.0);
                self.relay_message(&doc, FromRelay::CaughtUp { head: head.0 }, step)?;
            }
            ServerMessage::Error {
                request,
                code,
                message,
            } => {
                let pending = request.and_then(|r| self.requests.remove(&r.0));
                self.refused(pending, code, &message, step)?;
                if request.is_none() || code.fatal() {
                    return Err(DriverError::Refused { code, message });
                }
            }
            ServerMessage::Pong { .. } => {}
            ServerMessage::Pairing { .. }
            | ServerMessage::KeyEnvelopes { .. }
            | ServerMessage::Audit { .. }
            | ServerMessage::Account { .. }
            | ServerMessage::Membership { .. }
            | ServerMessage::Documents { .. } => {}
            other @ (ServerMessage::Challenge { .. } | ServerMessage::Welcome { .. }) => {
                return Err(DriverError::Protocol(format!(
                    "an unexpected {} in the middle of a connection",
                    other.name()
                )));
            }
        }
        Ok(())
    }

    /// The relay carried out a request that answers `done`: a document created on the relay
    /// starts syncing; a stored snapshot is acknowledged to its engine.
    fn done(&mut self, request: RequestId, step: &mut Step) -> Result<(), DriverError> {
        match self.requests.remove(&request.0) {
            Some(Pending::CreateDocument(i)) => {
                self.store.mark_on_relay(self.docs[i].id)?;
                self.docs[i].on_relay = true;
                self.start(i, step)?;
            }
            Some(Pending::Snapshot(i, request, covers)) => {
                self.feed(
                    i,
                    FromRelay::Ack {
                        request,
                        seq: covers,
                    },
                    step,
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The relay committed a push (or a snapshot) at `seq`.
    fn acked(&mut self, request: RequestId, seq: Seq, step: &mut Step) -> Result<(), DriverError> {
        let (i, engine_request, push) = match self.requests.remove(&request.0) {
            Some(Pending::Push(i, engine_request)) => (i, engine_request, true),
            Some(Pending::Snapshot(i, engine_request, _)) => (i, engine_request, false),
            _ => {
                return Err(DriverError::Protocol(format!(
                    "an acknowledgement for request {request}, which was not a push"
                )))
            }
        };
        // Only a push counts as changes sent, measured by the relay heads it moved.
        let before = push.then(|| self.docs[i].sync.state().relay_heads.clone());
        let ack = FromRelay::Ack {
            request: engine_request,
            seq: seq.0,
        };
        self.feed(i, ack, step)?;
        if let Some(before) = before {
            self.count_pushed(i, &before);
        }
        Ok(())
    }

    /// A refusal of one request.
    pub(super) fn refused(
        &mut self,
        pending: Option<Pending>,
        code: ErrorCode,
        message: &str,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        let reason = format!("{message} ({code})");
        match pending {
            Some(Pending::Push(i, request) | Pending::Snapshot(i, request, _)) => {
                self.feed(i, FromRelay::Refused { request, reason }, step)?;
            }
            Some(Pending::Subscribe(i) | Pending::CreateDocument(i))
                if code == ErrorCode::DocumentDeleted =>
            {
                // Its owner deleted it from the relay: it never syncs again (see
                // `super::deleted`); the copy here stays.
                let slot = &mut self.docs[i];
                self.store
                    .mark_deleted_from_relay(&[slot.id], real_unix_ms(), false)?;
                let text = format!(
                    "{}'s homework was deleted from the relay by its owner; the copy on this device stays but no longer syncs",
                    slot.label
                );
                slot.failed = Some(reason);
                self.tell(NoticeKind::Sharing, text);
            }
            Some(Pending::Subscribe(i) | Pending::CreateDocument(i)) => {
                let slot = &mut self.docs[i];
                let text = format!(
                    "the relay would not sync {}'s homework: {reason}",
                    slot.label
                );
                self.summary
                    .failed
                    .push(format!("{}: {reason}", slot.label));
                slot.failed = Some(reason);
                self.tell(NoticeKind::Failed, text);
            }
            Some(Pending::ListDevices) => {
                self.tell(NoticeKind::Other, format!(
                    "the relay did not list this account's devices ({reason}); using the devices this device already knows"
                ));
                self.devices_pending = false;
                self.after_devices(step)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Records the relay's device list, trusting only certificates signed by the account's
    /// identity.
    pub(super) fn devices_listed(&mut self, devices: &[DeviceInfo]) -> Result<(), DriverError> {
        self.devices_pending = false;
        let identity = self.keys.identity.public();
        let mut verified = Vec::new();
        for info in devices {
            let cert = match DeviceCertificate::from_bytes(&info.certificate) {
                Ok(cert) => cert,
                Err(err) => {
                    self.tell(NoticeKind::Other, format!(
                        "ignored device {} from the relay's list: its certificate is damaged ({err})",
                        info.device
                    ));
                    continue;
                }
            };
            if let Err(err) = cert.verify_owner(&identity) {
                self.tell(
                    NoticeKind::Other,
                    format!(
                        "ignored device {} from the relay's list: {err}",
                        info.device
                    ),
                );
                continue;
            }
            if cert.device_id() != info.device {
                self.tell(NoticeKind::Other, format!(
                    "ignored device {} from the relay's list: its certificate is for another device",
                    info.device
                ));
                continue;
            }
            let device_id = cert.device_id();
            for slot in &mut self.docs {
                let _ = slot.envelope.add_member(&cert, &identity);
            }
            verified.push(DeviceRecord {
                this_device: device_id == self.me,
                device_id,
                certificate: info.certificate.clone(),
                name: None,
                registered_at_ms: Some(info.registered_at_ms),
                listed: true,
            });
        }
        self.store
            .record_listed_devices(&verified, real_unix_ms())?;
        self.directory = DeviceDirectory::new(&self.store.devices()?);
        Ok(())
    }

    /// After a device list (or its refusal): start the documents, then release held messages.
    pub(super) fn after_devices(&mut self, step: &mut Step) -> Result<(), DriverError> {
        if self.phase == Phase::ListingDevices {
            self.phase = Phase::Running;
            for i in 0..self.docs.len() {
                if self.docs[i].on_relay {
                    self.start(i, step)?;
                } else {
                    let doc = self.docs[i].id;
                    let request = self.next_id(Pending::CreateDocument(i));
                    step.send
                        .push(ClientMessage::CreateDocument { request, doc });
                }
            }
        }
        for i in 0..self.docs.len() {
            while let Some(msg) = self.docs[i].held.pop_front() {
                self.feed(i, msg, step)?;
                if step.reconnect {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub(super) fn start(&mut self, i: usize, step: &mut Step) -> Result<(), DriverError> {
        let events = self.docs[i].sync.connected();
        self.handle_events(i, events, None, step)
    }

    /// A bundle, snapshot or catch-up for a document: hold it while its author is unknown (or
    /// earlier messages are held), otherwise hand it to the engine.
    pub(super) fn relay_message(
        &mut self,
        doc: &DocId,
        msg: FromRelay,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        let Some(i) = self.slot_of(doc) else {
            self.tell(
                NoticeKind::Other,
                format!(
                "the relay sent data for document {doc}, which this device does not sync; ignored"
            ),
            );
            return Ok(());
        };
        let slot = &mut self.docs[i];
        let sealed = match &msg {
            FromRelay::Bundle { bundle, .. } => Some(bundle.as_slice()),
            FromRelay::Snapshot { snapshot, .. } => Some(snapshot.as_slice()),
            _ => None,
        };
        let unknown_author = sealed
            .and_then(|bytes| BundleHeader::from_bytes(bytes).ok())
            .is_some_and(|header| !slot.envelope.is_member(&header.author()));
        if unknown_author || !slot.held.is_empty() {
            slot.held.push_back(msg);
            if unknown_author {
                self.list_devices(step);
            }
            return Ok(());
        }
        self.feed(i, msg, step)
    }

    /// Hands one message to a document's engine and carries out its events.
    pub(super) fn feed(
        &mut self,
        i: usize,
        msg: FromRelay,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        if self.docs[i].doc.is_none() {
            // A catch-up that brings nothing needs no document; anything else loads it.
            if let Some(events) = self.docs[i].sync.receive_idle(&msg) {
                return self.handle_events(i, events, None, step);
            }
            self.ensure_loaded(i)?;
        }
        if matches!(msg, FromRelay::Bundle { .. }) {
            self.docs[i].queued.push(msg);
            return Ok(());
        }
        self.apply_queued(i, step)?;
        let slot = &mut self.docs[i];
        let doc = held(&mut slot.doc, &slot.label)?;
        let applies = matches!(msg, FromRelay::Snapshot { .. });
        let before = applies.then(|| doc.get_heads());
        if applies {
            self.progress.received(1);
        }
        let events = slot.sync.receive(doc, &mut slot.envelope, msg)?;
        if before.as_ref().is_some_and(|b| *b != doc.get_heads()) {
            slot.received = true;
        }
        self.handle_events_of(i, events, before.as_deref(), applies, step)
    }

    /// Applies the bundles [`Driver::feed`] queued for document `i`: each run of consecutive
    /// bundles sealed by one device together, so the changes a run brings are attributed to
    /// exactly the device that signed it ([`Driver::note_authors`]).
    pub(super) fn apply_queued(&mut self, i: usize, step: &mut Step) -> Result<(), DriverError> {
        let queued = std::mem::take(&mut self.docs[i].queued);
        if queued.is_empty() {
            return Ok(());
        }
        self.progress
            .received(u64::try_from(queued.len()).unwrap_or(u64::MAX));
        for run in runs_by_sealer(queued) {
            let slot = &mut self.docs[i];
            let doc = held(&mut slot.doc, &slot.label)?;
            let before = doc.get_heads();
            let events = slot.sync.receive_many(doc, &mut slot.envelope, run)?;
            if doc.get_heads() != before {
                slot.received = true;
            }
            self.handle_events(i, events, Some(&before), step)?;
        }
        Ok(())
    }

    pub(super) fn handle_events(
        &mut self,
        i: usize,
        events: Vec<Event>,
        before: Option<&[ChangeHash]>,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        self.handle_events_of(i, events, before, false, step)
    }

    /// [`Driver::handle_events`] for events of a message that `from_snapshot` says was the
    /// relay's snapshot.
    pub(super) fn handle_events_of(
        &mut self,
        i: usize,
        events: Vec<Event>,
        before: Option<&[ChangeHash]>,
        from_snapshot: bool,
        step: &mut Step,
    ) -> Result<(), DriverError> {
        for event in events {
            match event {
                Event::Persist => self.docs[i].dirty = true,
                Event::Send(message) => {
                    let msg = self.message_for_relay(i, message);
                    step.send.push(msg);
                }
                Event::Applied { author } => {
                    *self.summary.received.entry(author).or_default() += 1;
                    *self.report.received.entry(author).or_default() += 1;
                    if let Some(before) = before {
                        self.note_authors(i, before, author, from_snapshot);
                    }
                }
                Event::Skipped { seq, reason } => {
                    self.summary.skipped += 1;
                    self.report.skipped += 1;
                    let text = format!(
                        "skipped entry {seq} of {}'s log on the relay: {reason}",
                        self.docs[i].label
                    );
                    self.tell(NoticeKind::Skipped, text);
                }
                Event::RelayRolledBack {
                    relay_head,
                    expected,
                } => {
                    self.summary.rolled_back = true;
                    let text = format!(
                        "the relay serves an older copy of {}'s homework than it confirmed earlier (its log ends at {relay_head}, this device had seen {expected}). It was probably restored from a backup. This device will send everything it has again, so nothing is lost; tell whoever runs the relay.",
                        self.docs[i].label
                    );
                    self.tell(NoticeKind::RelayRolledBack, text);
                }
                Event::Reconnect => step.reconnect = true,
                Event::UnreadableSnapshot { covers, reason } => {
                    let text = format!(
                        "the relay's snapshot of {}'s homework (up to entry {covers}) could not be used: {reason}. This device sends everything it has again, so devices added later still get it; tell whoever runs the relay.",
                        self.docs[i].label
                    );
                    self.tell(NoticeKind::Skipped, text);
                }
                Event::Refused { reason } => {
                    let text = format!(
                        "the relay refused {}'s changes: {reason}; they stay on this device and will be sent next time",
                        self.docs[i].label
                    );
                    self.tell(NoticeKind::Refused, text);
                    self.summary.refused.push(reason);
                }
            }
        }
        Ok(())
    }

    /// An engine's message for the relay, as the wire's message with a request id the driver
    /// remembers (so the relay's answer finds its engine).
    fn message_for_relay(&mut self, i: usize, message: ToRelay) -> ClientMessage {
        let pending = match &message {
            ToRelay::Subscribe { .. } => Pending::Subscribe(i),
            ToRelay::Push { request, .. } => {
                self.progress.queued(1);
                Pending::Push(i, *request)
            }
            ToRelay::PutSnapshot {
                request, covers, ..
            } => Pending::Snapshot(i, *request, *covers),
        };
        let request = self.next_id(pending);
        message.into_message(self.docs[i].id, request)
    }

    /// Records which device's signed bundle brought the changes of actors not seen before
    /// (what `provenance` checks a record's claimed author against). A bundle of changes is
    /// one device's signature over them. A snapshot is the document as the client's device that
    /// uploaded it held it (only the owner's devices may): an actor in it whose id names a device
    /// this one knows is recorded as that device's, as the uploader would show it, any other as
    /// the uploader's.
    pub(super) fn note_authors(
        &mut self,
        i: usize,
        before: &[ChangeHash],
        author: DeviceId,
        snapshot: bool,
    ) {
        let slot = &mut self.docs[i];
        // Changes were applied, so the document is loaded.
        let Some(doc) = slot.doc.as_mut() else {
            return;
        };
        let mut actors: Vec<Vec<u8>> = doc
            .get_changes_meta(before)
            .iter()
            .map(|change| change.actor.to_bytes().to_vec())
            .collect();
        actors.sort();
        actors.dedup();
        for actor in actors {
            if self.known_actors.insert(actor.clone()) {
                let named = actor_device_id(&actor)
                    .filter(|device| snapshot && self.directory.knows(*device));
                let device = named.unwrap_or(author);
                slot.authors.push((actor, device));
            }
        }
    }

    pub(super) fn count_pushed(&mut self, i: usize, before: &[[u8; 32]]) {
        let slot = &mut self.docs[i];
        let before = to_hashes(before);
        let after = to_hashes(&slot.sync.state().relay_heads);
        // A push was acknowledged, so the document is loaded.
        let changes = slot.doc.as_mut().map_or(0, |doc| {
            doc.get_changes_meta(&before)
                .len()
                .saturating_sub(doc.get_changes_meta(&after).len())
        });
        for summary in [&mut self.summary, &mut self.report] {
            summary.pushed_bundles += 1;
            summary.pushed_changes += changes;
        }
        self.progress.acked(1);
    }

    /// Persists, then says whether everything is settled.
    pub(super) fn finish(&mut self, mut step: Step) -> Result<Step, DriverError> {
        self.flush()?;
        step.settled = !step.reconnect && self.is_settled();
        if step.settled && (!self.was_settled || !self.report.is_quiet()) {
            // Staying connected, every received change settles the sync again; recording the
            // time each time would cost an fsync per change for a `status` line.
            let due = !self.mode.stays_connected()
                || self
                    .last_sync_recorded
                    .is_none_or(|at| at.elapsed() >= RECORD_LAST_SYNC_EVERY);
            if due {
                self.store.set_last_sync(real_unix_ms())?;
                self.last_sync_recorded = Some(std::time::Instant::now());
            }
            if self.mode == Mode::Watch && !self.report.is_quiet() {
                let line = self.report.describe(&self.directory);
                say(&format!(
                    "{}: {line}",
                    chrono::Local::now().format("%H:%M:%S")
                ));
            }
            self.report = Summary::default();
        }
        self.was_settled = step.settled;
        Ok(step)
    }
}
