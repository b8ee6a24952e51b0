//! What a sync brought, in words: before `between sync` the keys of every record each shared
//! homework holds are noted; afterwards the records by the other side that were not there
//! before are news ([`between_shared::news`]) — the therapist's comments with their text, new
//! and changed homework for a client; a client's entries and comments for a therapist.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::Result;
use between_shared::news::{self, Item};
use between_shared::Role;
use serde::Serialize;

use crate::profile::Session;

/// The record keys of each shared homework on the profile, by document id; homework that has
/// not arrived on this device has none.
pub(crate) struct Before(HashMap<String, BTreeSet<String>>);

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
    let mut keys = HashMap::new();
    for record in session.shared_records()? {
        let Some(ws) = Session::open_store(store)?.workspace_if_arrived(Some(&record.id))? else {
            continue;
        };
        keys.insert(record.id, news::record_keys(&ws.doc.data()?));
    }
    Ok(Before(keys))
}

/// What the other side wrote since [`before`], per homework. Homework that had not arrived
/// before is left out: all of it is new, which the sync summary already says.
pub(crate) fn since(store: &Path, before: &Before) -> Result<Vec<Heard>> {
    let session = Session::open_store(store)?;
    let reader = session.me.role;
    let mut heard = Vec::new();
    for record in session.shared_records()? {
        let Some(known) = before.0.get(&record.id) else {
            continue;
        };
        let Some(ws) = Session::open_store(store)?.workspace_if_arrived(Some(&record.id))? else {
            continue;
        };
        let news = news::news(&ws.doc.data()?, reader, |key| known.contains(key));
        if !news.is_empty() {
            heard.push(Heard {
                homework: record.label,
                news,
            });
        }
    }
    Ok(heard)
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
