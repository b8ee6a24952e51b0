//! A device profile: where it lives, who it belongs to, and the open homework documents.
//!
//! A profile is one device of one person: a folder holding the local store. [`Session`] opens it
//! and picks the homework document a command acts on (a client has one; a therapist has one per
//! client and names it with `--client`). A client also has a **private** document, which only
//! their own devices hold (its keys are never wrapped for anyone else): entries kept private
//! live there. [`Workspace`] loads it next to the shared one, [`Homework`] is what the client
//! sees of both, and [`Workspace::save`] appends the command's new changes to both documents
//! in one transaction before the command returns, and compacts from time to time.
//!
//! Only one device may ever create a document (the initialisation race). A profile set up
//! before private documents existed gets one on first use, but only on a device that cannot
//! race another: one that does not sync, or the account's first device (the one that created
//! the shared document). Devices paired from it afterwards receive it with the pairing.

use crate::audience::Audience;
use crate::clock::Clock;
use crate::provenance::Provenance;
use crate::salvage::{explain, salvage};
use crate::store::{Compaction, DocumentKind, DocumentRecord, ProfileRecord, Store, SyncRecord};
use crate::sync::account::DeviceDirectory;
use anyhow::{bail, Context, Result};
use between_shared::crypto::EpochKey;
use between_shared::model::HomeworkData;
use between_shared::protocol::{DeviceId, DocId};
use between_shared::sync::SyncState;
use between_shared::template::{builtin, Template};
use between_shared::{Author, CommentId, EntryId, HomeworkDoc, Role, TemplateId};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// File name of the local store inside a profile folder.
const STORE_FILE: &str = "store.sqlite3";

/// Resolves the folder of a profile.
pub(crate) fn profile_dir(data_dir: Option<&Path>, profile: &str) -> Result<PathBuf> {
    if profile.is_empty()
        || !profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("'{profile}' is not a valid profile name; use letters, digits, '-' and '_'");
    }
    let base = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => directories::ProjectDirs::from("org", "Between", "between")
            .context("could not find a home directory for the profile; pass --data-dir")?
            .data_dir()
            .to_path_buf(),
    };
    Ok(base.join("profiles").join(profile))
}

/// The folder and store file for a new profile, refusing a name that is already taken.
pub(crate) fn vacant_profile(data_dir: Option<&Path>, profile: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = profile_dir(data_dir, profile)?;
    let path = store_path(&dir);
    if path.exists() {
        bail!(
            "a profile named '{profile}' already exists at {}; choose another with --profile NAME",
            path.display()
        );
    }
    Ok((dir, path))
}

/// The path of the store file of a profile folder.
pub(crate) fn store_path(dir: &Path) -> PathBuf {
    dir.join(STORE_FILE)
}

/// The first epoch of a document this device creates.
const FIRST_EPOCH: u32 = 1;

/// The local label of a client's private document.
pub(crate) fn private_label(name: &str) -> String {
    format!("{} (private)", name.trim())
}

/// The sync state of a document this device has just created: the first epoch with a fresh
/// key, not yet on the relay (the next sync creates its log there and pushes it).
pub(crate) fn new_sync_record(id: DocId) -> Result<SyncRecord> {
    let key = EpochKey::generate(&mut rand::rng());
    Ok(SyncRecord {
        document_id: id,
        epoch: FIRST_EPOCH,
        on_relay: false,
        state: serde_json::to_string(&SyncState::default())?,
        keys: vec![(FIRST_EPOCH, *key.as_bytes())],
    })
}

/// Parses a stored role name.
pub(crate) fn parse_role(role: &str) -> Result<Role> {
    match role {
        "client" => Ok(Role::Client),
        "therapist" => Ok(Role::Therapist),
        other => {
            bail!("the profile has an unknown role '{other}'; it may come from a newer Between")
        }
    }
}

/// Bytes a process adds to its profile's actor id (see [`process_actor`]).
const PROCESS_ACTOR_SUFFIX: usize = 8;

/// The Automerge actor id this process writes a profile's documents as: the profile's own actor
/// id (on a profile that syncs, its device id) followed by random bytes drawn once per process.
///
/// Why per process: Automerge numbers each actor's changes 1, 2, 3…, and two processes that
/// loaded the same state and wrote as one actor would both write change N+1, different
/// changes with one number, after which the document no longer loads ("duplicate seq").
/// Any number of `between` commands, `sync --watch` and an app holding the profile open
/// (`LiveProfile`) may write one profile at once; each only appends its own chunk of changes
/// to the store, so with one actor each their changes merge like any two devices' do. The
/// prefix keeps the device recognisable in the document (see [`actor_device`]).
pub(crate) fn process_actor(profile_actor: &[u8]) -> Vec<u8> {
    static SUFFIX: std::sync::OnceLock<[u8; PROCESS_ACTOR_SUFFIX]> = std::sync::OnceLock::new();
    let suffix = SUFFIX.get_or_init(rand::random);
    let mut actor = profile_actor.to_vec();
    actor.extend_from_slice(suffix);
    actor
}

/// The profile actor id an actor id of [`process_actor`] starts with: a device id (16 bytes)
/// for an actor of 16 bytes (written before per-process actors) or of 24.
pub(crate) fn actor_device(actor: &[u8]) -> Option<&[u8]> {
    const DEVICE_ID: usize = 16;
    match actor.len() {
        DEVICE_ID => Some(actor),
        len if len == DEVICE_ID + PROCESS_ACTOR_SUFFIX => actor.get(..DEVICE_ID),
        _ => None,
    }
}

/// The device an actor id of [`process_actor`] names, on a profile that syncs (where the
/// profile actor is the device id).
pub(crate) fn actor_device_id(actor: &[u8]) -> Option<DeviceId> {
    actor_device(actor)
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .map(DeviceId)
}

/// An opened profile.
pub(crate) struct Session {
    pub(crate) store: Store,
    pub(crate) me: Author,
    /// The profile's actor id (a synced profile's device id).
    pub(crate) profile_actor: Vec<u8>,
    /// What this process writes as ([`process_actor`]).
    pub(crate) actor: Vec<u8>,
    pub(crate) clock: Clock,
}

impl Session {
    /// Opens an existing profile's store.
    pub(crate) fn open(data_dir: Option<&Path>, profile: &str) -> Result<Self> {
        Self::open_store(&store_path(&profile_dir(data_dir, profile)?))
    }

    /// Opens the profile whose store is at `path`.
    pub(crate) fn open_store(path: &Path) -> Result<Self> {
        let store = Store::open(path)?;
        let ProfileRecord {
            role,
            display_name,
            actor_id,
            ..
        } = store.profile()?;
        Ok(Self {
            me: Author::new(parse_role(&role)?, display_name),
            actor: process_actor(&actor_id),
            profile_actor: actor_id,
            store,
            clock: Clock::from_env()?,
        })
    }

    /// The client's private document, if this profile has one.
    pub(crate) fn private_record(&self) -> Result<Option<DocumentRecord>> {
        Ok(self
            .store
            .documents()?
            .into_iter()
            .find(|d| d.kind == DocumentKind::Private))
    }

    /// The shared homework documents: the client's one, or a therapist's one per client.
    pub(crate) fn shared_records(&self) -> Result<Vec<DocumentRecord>> {
        let mut docs = self.store.documents()?;
        docs.retain(|d| d.kind == DocumentKind::Shared);
        Ok(docs)
    }

    /// Picks the shared homework document to act on: the client's own, or on a therapist's
    /// profile the one named by `--client` (a name or id prefix; optional when there is only
    /// one). A client's private document is never picked here: see [`Workspace::private`].
    pub(crate) fn select(&self, client: Option<&str>) -> Result<DocumentRecord> {
        let docs = self.shared_records()?;
        if docs.is_empty() {
            match self.me.role {
                Role::Therapist => bail!(
                    "you have no clients yet; start one with `between client new NAME` or import one with `between client import FILE`"
                ),
                Role::Client => bail!("this profile holds no homework document; it may be damaged"),
            }
        }
        let Some(wanted) = client.map(str::trim).filter(|c| !c.is_empty()) else {
            if docs.len() == 1 {
                return docs.into_iter().next().context("one document");
            }
            let names: Vec<_> = docs.iter().map(|d| d.label.as_str()).collect();
            bail!(
                "you have several clients; say which with --client NAME (one of: {})",
                names.join(", ")
            );
        };
        let lower = wanted.to_lowercase();
        let exact: Vec<_> = docs
            .iter()
            .filter(|d| d.label.to_lowercase() == lower || d.id.to_string() == wanted)
            .collect();
        if let [one] = exact.as_slice() {
            return Ok((*one).clone());
        }
        let partial: Vec<_> = docs
            .iter()
            .filter(|d| {
                d.label.to_lowercase().starts_with(&lower) || d.id.to_string().starts_with(wanted)
            })
            .collect();
        match partial.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let names: Vec<_> = docs.iter().map(|d| d.label.as_str()).collect();
                bail!(
                    "no client '{wanted}'; your clients are: {}",
                    names.join(", ")
                )
            }
            many => {
                let names: Vec<_> = many.iter().map(|d| d.label.as_str()).collect();
                bail!(
                    "'{wanted}' matches several clients ({}); type more of the name",
                    names.join(", ")
                )
            }
        }
    }

    /// Loads a stored document; `None` while it has not arrived on this (paired) device. A
    /// document whose chunks conflict is salvaged first (see [`crate::salvage`]), with a warning.
    fn load(&mut self, record: &DocumentRecord) -> Result<Option<HomeworkDoc>> {
        let mut bytes = self.store.load_document(record.id)?;
        let mut loaded = HomeworkDoc::load(&bytes, &self.actor);
        if loaded.is_err() && automerge::AutoCommit::load(&bytes).is_err() {
            if let Some(count) = salvage(&mut self.store, record.id, self.clock.now().0)? {
                eprintln!("warning: {}", explain(&record.label, count, &self.store));
                bytes = self.store.load_document(record.id)?;
                loaded = HomeworkDoc::load(&bytes, &self.actor);
            }
        }
        match loaded {
            Ok(doc) => Ok(Some(doc)),
            // A paired device holds an empty document until the first sync brings it.
            Err(_)
                if automerge::AutoCommit::load(&bytes)
                    .is_ok_and(|mut d| d.get_heads().is_empty()) =>
            {
                Ok(None)
            }
            Err(err) => Err(err).with_context(|| {
                format!(
                    "the homework document '{}' in {} could not be read; it was left untouched",
                    record.label,
                    self.store.path().display()
                )
            }),
        }
    }

    /// Opens the selected homework document, and on a client's profile their private one.
    pub(crate) fn workspace(self, client: Option<&str>) -> Result<Workspace> {
        let record = self.select(client)?;
        self.arrived_workspace(record)
    }

    /// The workspace of the shared homework with this id.
    pub(crate) fn workspace_by_id(self, id: DocId) -> Result<Workspace> {
        let record = self
            .shared_records()?
            .into_iter()
            .find(|record| record.id == id)
            .with_context(|| format!("this device holds no homework with the id {id}"))?;
        self.arrived_workspace(record)
    }

    /// [`Session::workspace_of`], or an error saying to sync while it has not arrived.
    fn arrived_workspace(self, record: DocumentRecord) -> Result<Workspace> {
        let label = record.label.clone();
        match self.workspace_of(record)? {
            Some(ws) => Ok(ws),
            None => bail!(
                "{label}'s homework has not arrived on this device yet; run `between sync` to fetch it"
            ),
        }
    }

    /// The workspace of a document this profile stores (one of [`Session::shared_records`]),
    /// or `None` while it has not arrived on this paired device.
    pub(crate) fn workspace_of(mut self, record: DocumentRecord) -> Result<Option<Workspace>> {
        let Some(doc) = self.load(&record)? else {
            return Ok(None);
        };
        let mut private = PrivatePart::Absent;
        if self.me.role == Role::Client {
            if let Some(record) = self.private_record()? {
                private = match self.load(&record)? {
                    Some(doc) => PrivatePart::Loaded(Box::new(PrivateDoc {
                        record,
                        doc,
                        unstored: None,
                    })),
                    None => PrivatePart::NotArrived,
                };
            }
        }
        Ok(Some(Workspace {
            session: self,
            record,
            doc,
            private,
        }))
    }
}

/// A client's private document, loaded.
pub(crate) struct PrivateDoc {
    pub(crate) record: DocumentRecord,
    pub(crate) doc: HomeworkDoc,
    /// Created by this command and not stored yet: [`Workspace::save`] stores it (with this
    /// sync state, on a profile that syncs), so a command that fails creates nothing.
    unstored: Option<Option<SyncRecord>>,
}

/// What this profile holds of the client's private document.
enum PrivatePart {
    /// None: a therapist's profile, or a client's from before private documents.
    Absent,
    /// Stored, but still empty on this paired device until a sync brings it.
    NotArrived,
    /// Loaded (boxed: a document is large next to the other variants).
    Loaded(Box<PrivateDoc>),
}

/// An opened profile with the homework document a command acts on (and a client's private
/// document, when they have one).
pub(crate) struct Workspace {
    pub(crate) session: Session,
    pub(crate) record: DocumentRecord,
    pub(crate) doc: HomeworkDoc,
    private: PrivatePart,
}

/// Where an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The shared homework document: the therapist can see it.
    Shared,
    /// The client's private document: only their own devices hold it.
    Private,
}

impl Workspace {
    /// Who is acting.
    pub(crate) fn me(&self) -> &Author {
        &self.session.me
    }

    /// Who sees the entries of the shared homework (on a client's profile).
    pub(crate) fn audience(&self) -> Result<Audience> {
        Audience::of(&self.session, &self.record, &self.doc.data()?)
    }

    /// The client's private document, if this device holds it.
    pub(crate) fn private(&self) -> Option<&PrivateDoc> {
        match &self.private {
            PrivatePart::Loaded(private) => Some(private),
            PrivatePart::Absent | PrivatePart::NotArrived => None,
        }
    }

    /// Whether the private document is stored here but has not arrived from the relay yet.
    pub(crate) fn private_not_arrived(&self) -> bool {
        matches!(self.private, PrivatePart::NotArrived)
    }

    /// The document an entry in `place` lives in, for changing it. For [`Place::Private`] this
    /// is the client's private document, created first if this profile predates it and this
    /// device may create it (see the module documentation); otherwise a clear refusal.
    pub(crate) fn doc_at(&mut self, place: Place) -> Result<&mut HomeworkDoc> {
        match place {
            Place::Shared => Ok(&mut self.doc),
            Place::Private => Ok(&mut self.private_for_writing()?.doc),
        }
    }

    fn private_for_writing(&mut self) -> Result<&mut PrivateDoc> {
        if self.session.me.role != Role::Client {
            bail!("only a client keeps private entries; everything on a therapist's profile is shared with the client");
        }
        match &self.private {
            PrivatePart::Loaded(_) => {}
            PrivatePart::NotArrived => bail!(
                "your private entries have not arrived on this device yet; run `between sync` to fetch them (and on the device that holds them, if it has not synced since)"
            ),
            PrivatePart::Absent => {
                let created = self.create_private()?;
                self.private = PrivatePart::Loaded(Box::new(created));
            }
        }
        match &mut self.private {
            PrivatePart::Loaded(private) => Ok(private),
            PrivatePart::Absent | PrivatePart::NotArrived => {
                bail!("the private document could not be opened")
            }
        }
    }

    /// Creates the private document of a profile that predates private documents, when this
    /// device may: only one device may ever create it, so on a profile that syncs only the
    /// device that created the shared document (the account's first device) does.
    fn create_private(&mut self) -> Result<PrivateDoc> {
        let account = self.session.store.account()?;
        if account.is_some() {
            let creator = self
                .doc
                .automerge()
                .get_changes_meta(&[])
                .iter()
                .find(|c| c.deps.is_empty())
                .map(|c| c.actor.to_bytes().to_vec());
            let by_this_device = creator.as_deref().and_then(actor_device)
                == Some(self.session.profile_actor.as_slice());
            if !by_this_device {
                let devices = self.session.store.devices()?;
                let directory = DeviceDirectory::new(&devices);
                let first = creator
                    .as_deref()
                    .and_then(actor_device_id)
                    .filter(|id| directory.knows(*id))
                    .map(|id| format!(" ({})", directory.label(id)))
                    .unwrap_or_default();
                bail!(
                    "this device cannot start your private entries: only one device may create the private document, and that is the device you set up first{first}. Run the command there; devices you pair from it afterwards hold your private entries too. Nothing was changed"
                );
            }
        }
        let now = self.session.clock.now();
        let me = self.session.me.clone();
        let doc = HomeworkDoc::create(&self.session.actor, &me.name, &me, now)?;
        let id = doc.meta()?.document_id;
        let sync = account.map(|_| new_sync_record(id)).transpose()?;
        Ok(PrivateDoc {
            record: DocumentRecord {
                id,
                kind: DocumentKind::Private,
                label: private_label(&me.name),
                created_at_ms: now.0,
                chunks: 0,
                bytes: 0,
            },
            doc,
            unstored: Some(sync),
        })
    }

    /// Which device wrote which record of the document at `place`.
    pub(crate) fn provenance(&mut self, place: Place) -> Result<Provenance> {
        let doc = match (place, &mut self.private) {
            (Place::Shared, _) => &mut self.doc,
            (Place::Private, PrivatePart::Loaded(private)) => &mut private.doc,
            (Place::Private, PrivatePart::Absent | PrivatePart::NotArrived) => {
                return Ok(Provenance::default())
            }
        };
        Ok(Provenance::of(
            doc.automerge(),
            &self.session.store,
            &self.session.profile_actor,
        )?)
    }

    /// Finds an entry by id (or prefix) in the shared and the private document.
    pub(crate) fn find_entry(&self, prefix: &str) -> Result<(Place, EntryId)> {
        let homework = self.homework()?;
        let id = between_shared::lookup::find_entry(&homework.data, prefix)?;
        let place = if homework.is_private(&id) {
            Place::Private
        } else {
            Place::Shared
        };
        Ok((place, id))
    }

    /// What the person sees: the shared document, with a client's private entries and the
    /// comments on them added (an entry found in both — shared while another device still
    /// edited its private copy — counts as shared).
    pub(crate) fn homework(&self) -> Result<Homework> {
        let private = self.private().map(|p| p.doc.data()).transpose()?;
        Ok(Homework::combine(self.doc.data()?, private))
    }

    /// Persists the changes made since the documents were loaded — the shared document's and
    /// the private one's together, in one transaction, so a command that moves an entry from
    /// one to the other stores both changes or neither — compacting the stored history of each
    /// when it has grown.
    pub(crate) fn save(&mut self) -> Result<()> {
        if let PrivatePart::Loaded(p) = &mut self.private {
            if let Some(sync) = p.unstored.take() {
                // A new private document is stored whole; only this command changed it.
                let snapshot = p.doc.save();
                self.session.store.add_private_document(
                    p.record.id,
                    &p.record.label,
                    p.record.created_at_ms,
                    &snapshot,
                    sync.as_ref(),
                )?;
                let store = &self.session.store;
                if sync.is_some() && store.devices()?.iter().any(|d| !d.this_device) {
                    // Keys reach other devices only through pairing, and those were paired
                    // before the private document existed.
                    eprintln!(
                        "Note: your private entries start on this device now. Devices you paired before do not hold them; pair a device again (`between device add`) to give it your private entries."
                    );
                }
            }
        }
        let shared = self.doc.save_incremental();
        let private = match &mut self.private {
            PrivatePart::Loaded(p) => Some((p.record.id, p.doc.save_incremental())),
            PrivatePart::Absent | PrivatePart::NotArrived => None,
        };
        let store = &mut self.session.store;
        match &private {
            Some((id, changes)) => store.append_changes_together(&[
                (self.record.id, shared.as_slice()),
                (*id, changes.as_slice()),
            ])?,
            None => store.append_changes(self.record.id, &shared)?,
        }
        store.compact_if(self.record.id, Compaction::Due, || self.doc.save())?;
        if let PrivatePart::Loaded(p) = &mut self.private {
            store.compact_if(p.record.id, Compaction::Due, || p.doc.save())?;
        }
        Ok(())
    }
}

/// What a client sees of their homework: the shared document's records with the private
/// entries (and the comments on them) added, and which of them are private.
pub(crate) struct Homework {
    /// Every record: shared and private together.
    pub(crate) data: HomeworkData,
    /// The private document's records, when it holds any.
    pub(crate) private: Option<HomeworkData>,
    private_entries: BTreeSet<EntryId>,
    private_comments: BTreeSet<CommentId>,
}

impl Homework {
    /// What the person sees of `shared` and (on a client's device) their `private` document:
    /// the private entries, and the comments on them, added to the shared records (an entry
    /// found in both — shared while another device still edited its private copy — counts as
    /// shared).
    pub(crate) fn combine(mut data: HomeworkData, private: Option<HomeworkData>) -> Self {
        let mut private_entries = BTreeSet::new();
        let mut private_comments = BTreeSet::new();
        let mut private_data = None;
        if let Some(mine) = private {
            for (id, entry) in &mine.entries {
                if !data.entries.contains_key(id) {
                    private_entries.insert(id.clone());
                    data.entries.insert(id.clone(), entry.clone());
                }
            }
            for (id, comment) in &mine.comments {
                if !data.comments.contains_key(id) {
                    private_comments.insert(id.clone());
                    data.comments.insert(id.clone(), comment.clone());
                }
            }
            for (id, template) in &mine.templates {
                data.templates
                    .entry(id.clone())
                    .or_insert_with(|| template.clone());
            }
            if !mine.entries.is_empty() || !mine.comments.is_empty() {
                private_data = Some(mine);
            }
        }
        Homework {
            data,
            private: private_data,
            private_entries,
            private_comments,
        }
    }

    /// Whether an entry is private (only on the client's devices).
    pub(crate) fn is_private(&self, id: &EntryId) -> bool {
        self.private_entries.contains(id)
    }

    /// Whether a comment is private (written on a private entry).
    pub(crate) fn is_private_comment(&self, id: &CommentId) -> bool {
        self.private_comments.contains(id)
    }

    /// How many entries are private.
    pub(crate) fn private_count(&self) -> usize {
        self.private_entries.len()
    }

    /// The ids of the private entries.
    pub(crate) fn private_entries(&self) -> &BTreeSet<EntryId> {
        &self.private_entries
    }

    /// The shared records only: what the therapist can see.
    pub(crate) fn shared_only(&self) -> HomeworkData {
        let mut data = self.data.clone();
        data.entries.retain(|id, _| !self.is_private(id));
        data.comments.retain(|id, _| !self.is_private_comment(id));
        data
    }

    /// A template by id: built-in, or custom from either document.
    pub(crate) fn template(&self, id: &TemplateId) -> Result<Template> {
        builtin::builtin(id.as_str())
            .or_else(|| self.data.templates.get(id).cloned())
            .with_context(|| format!("the template '{id}' is not in this profile"))
    }

    /// Every template: built-ins, then custom ones.
    pub(crate) fn templates(&self) -> Vec<Template> {
        let mut all = builtin::builtin_templates();
        all.extend(self.data.templates.values().cloned());
        all
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{AccountRecord, NewDocument, NewSyncedProfile, Registration};
    use between_shared::document::{EntryUpdate, NewEntry};
    use between_shared::Timestamp;

    const FIRST_DEVICE: [u8; 16] = [1; 16];
    const PAIRED_DEVICE: [u8; 16] = [2; 16];

    fn sam() -> Author {
        Author::new(Role::Client, "Sam")
    }

    fn profile_record(actor: &[u8]) -> ProfileRecord {
        ProfileRecord {
            role: "client".to_owned(),
            display_name: "Sam".to_owned(),
            actor_id: actor.to_vec(),
            created_at_ms: 1,
        }
    }

    /// A client's profile "phone" from before private documents: one shared document, created
    /// by `FIRST_DEVICE`, and — when `synced` — an account on a relay.
    fn legacy_profile(dir: &Path, actor: &[u8], synced: bool) {
        let folder = profile_dir(Some(dir), "phone").unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        let mut doc = HomeworkDoc::create(&FIRST_DEVICE, "Sam", &sam(), Timestamp(1)).unwrap();
        let id = doc.data().unwrap().meta.document_id;
        if synced {
            let synced = NewSyncedProfile {
                account: AccountRecord {
                    relay_url: "ws://127.0.0.1:9".to_owned(),
                    relay_ca_pem: None,
                    therapist_commitment: None,
                    account_id: Some(between_shared::protocol::AccountId([3; 16])),
                    identity_keypair: vec![1; 33],
                    device_keypair: vec![2; 65],
                    device_certificate: vec![4; 10],
                    registration: Registration::Done,
                    last_sync_ms: None,
                    devices_listed_ms: None,
                },
                documents: vec![NewDocument {
                    id,
                    label: "Sam".to_owned(),
                    created_at_ms: 1,
                    snapshot: doc.save(),
                    kind: DocumentKind::Shared,
                    sync: new_sync_record(id).unwrap(),
                }],
                devices: Vec::new(),
            };
            Store::create_synced(&store_path(&folder), &profile_record(actor), &synced).unwrap();
        } else {
            let mut store = Store::create(&store_path(&folder), &profile_record(actor)).unwrap();
            store.add_document(id, "Sam", 1, &doc.save()).unwrap();
        }
    }

    fn journal(text: &str) -> NewEntry {
        NewEntry {
            template: TemplateId::from_string("journal"),
            assignment: None,
            date: between_shared::Day::from_ymd(2026, 3, 2).unwrap(),
            update: EntryUpdate {
                values: std::collections::BTreeMap::from([(
                    "text".to_owned(),
                    between_shared::template::FieldValue::LongText(autosurgeon::Text::with_value(
                        text,
                    )),
                )]),
                ..EntryUpdate::default()
            },
        }
    }

    /// Writes a private journal entry the way `entry new --private` does.
    fn write_private(dir: &Path, text: &str) -> Result<EntryId> {
        let mut ws = Session::open(Some(dir), "phone")?.workspace(None)?;
        let shared = ws.doc.data()?;
        let id = ws.doc_at(Place::Private)?.create_private_entry(
            &sam(),
            Timestamp(2),
            journal(text),
            true,
            &shared,
        )?;
        ws.save()?;
        Ok(id)
    }

    #[test]
    fn select_picks_the_shared_document_and_the_private_one_is_found_apart() {
        let dir = tempfile::tempdir().unwrap();
        legacy_profile(dir.path(), &FIRST_DEVICE, false);
        let id = write_private(dir.path(), "only mine").unwrap();

        let session = Session::open(Some(dir.path()), "phone").unwrap();
        let shared = session.select(None).unwrap();
        assert_eq!(shared.kind, DocumentKind::Shared);
        assert_eq!(shared.label, "Sam");
        // Even named, the private document is never selected as the homework.
        assert!(session.select(Some("Sam (private)")).is_err());
        let private = session.private_record().unwrap().unwrap();
        assert_eq!(private.label, "Sam (private)");
        assert_ne!(private.id, shared.id);

        let ws = session.workspace(None).unwrap();
        let homework = ws.homework().unwrap();
        assert!(homework.is_private(&id));
        assert_eq!(homework.private_count(), 1);
        assert!(
            ws.doc.data().unwrap().entries.is_empty(),
            "not in the shared document"
        );
        assert_eq!(
            ws.find_entry(&id.as_str()[..8]).unwrap(),
            (Place::Private, id)
        );
    }

    #[test]
    fn a_local_profile_from_before_gets_its_private_document_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        legacy_profile(dir.path(), &FIRST_DEVICE, false);
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        assert!(session.private_record().unwrap().is_none());
        drop(session);
        write_private(dir.path(), "first").unwrap();
        write_private(dir.path(), "second").unwrap();
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        let docs = session.store.documents().unwrap();
        assert_eq!(docs.len(), 2, "one private document, created once");
        // A profile that does not sync keeps no sync state for it.
        assert!(session.store.sync_documents().unwrap().is_empty());
        let ws = session.workspace(None).unwrap();
        assert_eq!(ws.homework().unwrap().private_count(), 2);
    }

    #[test]
    fn a_synced_profile_from_before_creates_it_only_on_the_device_set_up_first() {
        let dir = tempfile::tempdir().unwrap();
        legacy_profile(dir.path(), &PAIRED_DEVICE, true);
        let before =
            std::fs::read(store_path(&profile_dir(Some(dir.path()), "phone").unwrap())).unwrap();
        let err = write_private(dir.path(), "not here")
            .unwrap_err()
            .to_string();
        assert!(err.contains("the device you set up first"), "{err}");
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        assert!(session.private_record().unwrap().is_none());
        drop(session);
        let after =
            std::fs::read(store_path(&profile_dir(Some(dir.path()), "phone").unwrap())).unwrap();
        std::fs::write("/tmp/before.db", &before).unwrap();
        std::fs::write("/tmp/after.db", &after).unwrap();
        assert!(before == after, "a refusal writes nothing");

        let first = tempfile::tempdir().unwrap();
        legacy_profile(first.path(), &FIRST_DEVICE, true);
        write_private(first.path(), "on the first device").unwrap();
        let session = Session::open(Some(first.path()), "phone").unwrap();
        let private = session.private_record().unwrap().unwrap();
        // It syncs like the shared document: the next sync creates its log and pushes it.
        let sync = session.store.sync_documents().unwrap();
        let record = sync.iter().find(|r| r.document_id == private.id).unwrap();
        assert!(!record.on_relay);
        assert_eq!(record.keys.len(), 1);
    }

    #[test]
    fn a_command_that_fails_creates_no_private_document() {
        let dir = tempfile::tempdir().unwrap();
        legacy_profile(dir.path(), &FIRST_DEVICE, false);
        let mut ws = Session::open(Some(dir.path()), "phone")
            .unwrap()
            .workspace(None)
            .unwrap();
        let shared = ws.doc.data().unwrap();
        let mut bad = journal("x");
        bad.template = TemplateId::from_string("no-such-template");
        assert!(ws
            .doc_at(Place::Private)
            .unwrap()
            .create_private_entry(&sam(), Timestamp(2), bad, true, &shared)
            .is_err());
        drop(ws);
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        assert!(session.private_record().unwrap().is_none());
    }

    #[test]
    fn a_document_that_has_not_arrived_yet_says_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let folder = profile_dir(Some(dir.path()), "phone").unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        let mut store = Store::create(
            &store_path(&folder),
            &ProfileRecord {
                role: "client".to_owned(),
                display_name: "Sam".to_owned(),
                actor_id: vec![1; 16],
                created_at_ms: 1,
            },
        )
        .unwrap();
        let id = DocId([0xab; 16]);
        store
            .add_document(id, "Sam", 1, &automerge::AutoCommit::new().save())
            .unwrap();
        drop(store);
        let session = Session::open(Some(dir.path()), "phone").unwrap();
        let err = session.workspace(None).err().unwrap().to_string();
        assert!(err.contains("has not arrived on this device yet"), "{err}");
        assert!(err.contains("between sync"), "{err}");
    }
}
