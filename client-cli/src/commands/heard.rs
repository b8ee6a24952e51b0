//! What a sync brought, in words: before `between sync` each shared homework's stored bytes
//! are noted (a read of the store, not a load of the document, so a sync that brings nothing
//! costs nothing here); afterwards, when something arrived, the records by the other side that
//! were not in those bytes are news ([`between_shared::news`]) — the therapist's comments with their text, new
//! and changed homework for a client; a client's entries and comments for a therapist. Only
//! homework stored differently after the sync is read again, once, for its news and for the
//! names of who sent it ([`arrived`]): in a caseload, what one client sent does not load every
//! other client's homework.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use between_shared::model::HomeworkData;
use between_shared::news::{self, Item};
use between_shared::protocol::DocId;
use between_shared::{HomeworkDoc, Role};
use serde::Serialize;

use crate::profile::Session;
use crate::store::StoredVersion;

/// Each shared homework as stored before the sync, by document id: where its stored content
/// stood, and its bytes.
pub(crate) struct Before(HashMap<DocId, (StoredVersion, Vec<u8>)>);

impl Before {
    /// The shared homework stored differently now than before the sync: what it brought (or
    /// a compaction of what was there). The rest has no news and need not be loaded.
    pub(crate) fn changed(&self, session: &Session) -> Result<HashSet<DocId>> {
        let mut changed = HashSet::new();
        for record in session.shared_records()? {
            let now = session.store.stored_version(record.id)?;
            if self.0.get(&record.id).is_none_or(|(then, _)| *then != now) {
                changed.insert(record.id);
            }
        }
        Ok(changed)
    }
}

/// What arrived in one homework document.
#[derive(Serialize)]
pub(crate) struct Heard {
    /// The client's name (the homework's label on this profile).
    pub(crate) homework: String,
    /// What the other side did, oldest first.
    pub(crate) news: Vec<Item>,
}

/// Notes what each shared homework holds now.
pub(crate) fn before(store: &Path) -> Result<Before> {
    let session = Session::open_store(store)?;
    let mut stored = HashMap::new();
    for record in session.shared_records()? {
        let version = session.store.stored_version(record.id)?;
        let bytes = session.store.load_document(record.id)?;
        stored.insert(record.id, (version, bytes));
    }
    Ok(Before(stored))
}

/// The record keys of homework as it was stored; `None` if it had not arrived (or does not
/// load: then it has no news to tell, and the sync salvages or reports it).
fn keys_before(bytes: &[u8]) -> Option<BTreeSet<String>> {
    let doc = HomeworkDoc::load(bytes, b"heard-before").ok()?;
    Some(news::record_keys(&doc.data().ok()?))
}

/// The shared homework a sync changed, each loaded once after it: for its news and for the
/// names of the people who sent it ([`super::whois::with_people`]).
pub(crate) struct Arrived(Vec<ArrivedHomework>);

struct ArrivedHomework {
    id: DocId,
    /// The homework's label on this profile (a client's name for a therapist).
    label: String,
    /// The record keys it held before the sync; `None` if it had not arrived (then all of it
    /// is new, which the sync summary already says).
    known_before: Option<BTreeSet<String>>,
    data: HomeworkData,
}

/// Loads the shared homework stored differently now than [`before`] the sync (see
/// [`Before::changed`]); the rest has nothing new and is not read.
pub(crate) fn arrived(store: &Path, before: &Before) -> Result<Arrived> {
    let session = Session::open_store(store)?;
    let changed = before.changed(&session)?;
    let mut arrived = Vec::new();
    for record in session.shared_records()? {
        if !changed.contains(&record.id) {
            continue;
        }
        let Some(ws) = Session::open_store(store)?.workspace_of(record.clone())? else {
            continue;
        };
        arrived.push(ArrivedHomework {
            known_before: before
                .0
                .get(&record.id)
                .and_then(|(_, bytes)| keys_before(bytes)),
            data: ws.doc.data()?,
            id: record.id,
            label: record.label,
        });
    }
    Ok(Arrived(arrived))
}

impl Arrived {
    /// Nothing arrived (a sync that received nothing reads no homework).
    pub(crate) fn none() -> Self {
        Self(Vec::new())
    }

    /// What the other side wrote, per homework that held something before.
    pub(crate) fn news(&self, reader: Role) -> Vec<Heard> {
        self.0
            .iter()
            .filter_map(|homework| {
                let known = homework.known_before.as_ref()?;
                let news = news::news(&homework.data, reader, |key| known.contains(key));
                (!news.is_empty()).then(|| Heard {
                    homework: homework.label.clone(),
                    news,
                })
            })
            .collect()
    }

    /// Each arrived homework, by document id.
    pub(crate) fn homework(&self) -> HashMap<DocId, &HomeworkData> {
        self.0
            .iter()
            .map(|homework| (homework.id, &homework.data))
            .collect()
    }
}

/// The lines `between sync` prints for what arrived.
pub(crate) fn describe(heard: &[Heard], reader: Role) -> String {
    let mut out = String::new();
    for Heard { homework, news } in heard {
        let from = match reader {
            Role::Client => "From your therapist".to_owned(),
            Role::Therapist => format!("From {homework}'s homework"),
        };
        out.push_str(&format!("{from}:\n"));
        for item in news {
            out.push_str(&format!("  {}\n", item.news.describe()));
        }
    }
    out
}
