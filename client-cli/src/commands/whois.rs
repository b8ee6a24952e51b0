//! `between whois`: safety numbers to compare out of band.
//!
//! A safety number is the fingerprint of a person's identity key. Two people who read theirs
//! to each other (in person, or on a call where they recognise each other's voice) know that
//! the relay did not substitute a key: the keys this device encrypts for are the ones the
//! signed membership list names. This shows the person's own number and, for every shared
//! document, the other members' numbers from the membership list stored with it (signed by the
//! client who owns the document and checked when it was accepted) — all from the local store,
//! offline.

use super::print_json;
use crate::profile::Session;
use crate::store::DocumentRecord;
use crate::sync::account::{AccountKeys, DeviceDirectory};
use anyhow::Result;
use between_shared::crypto::{DeviceCertificate, IdentityPublic, Member, SignedMembership};
use between_shared::model::HomeworkData;
use between_shared::protocol::DocId;
use between_shared::{HomeworkDoc, Role};
use serde::Serialize;
use std::collections::HashMap;

/// How to compare, in one line.
const HOW_TO_COMPARE: &str = "Compare each number with that person: read them aloud to each other, in person or on a call (they see theirs with `between whois`). If a number differs, stop and tell your practice.";

/// Another member of a shared document.
#[derive(Serialize)]
struct MemberView {
    role: Role,
    /// Their name as the document knows it, when it does.
    name: Option<String>,
    /// Whether they own the document (the client who decides who may read it).
    owner: bool,
    safety_number: String,
    /// Their devices this device knows and the list vouches for (short ids).
    devices: Vec<String>,
}

/// One shared document and who else holds it.
#[derive(Serialize)]
struct DocumentView {
    id: DocId,
    name: String,
    /// Whether a signed membership list is stored for it (it is shared through the relay).
    shared: bool,
    /// Whether this person is still a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<bool>,
    members: Vec<MemberView>,
    /// Why the stored list could not be used, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// The names a document gives its client and therapist, when this device holds it.
struct Names {
    client: String,
    therapist: Option<String>,
}

/// The document's names: from its small fields, which record the therapist's name once a
/// therapist opened it; only an older document without one is read whole, for the therapist
/// who wrote last.
fn names_in(session: &Session, record: &DocumentRecord) -> Option<Names> {
    let bytes = session.store.load_document(record.id).ok()?;
    let doc = HomeworkDoc::load(&bytes, &session.actor).ok()?;
    let meta = doc.meta().ok()?;
    let therapist = match meta.therapist_name {
        Some(name) => Some(name),
        None => last_therapist(&doc.data().ok()?),
    };
    Some(Names {
        client: meta.client_name,
        therapist,
    })
}

/// [`names_in`], from homework already read whole.
fn names_of_data(data: &HomeworkData) -> Names {
    Names {
        client: data.meta.client_name.clone(),
        therapist: data
            .meta
            .therapist_name
            .clone()
            .or_else(|| last_therapist(data)),
    }
}

/// The therapist who last assigned or commented, by the name they wrote under.
fn last_therapist(data: &HomeworkData) -> Option<String> {
    let assignments = data
        .assignments
        .values()
        .map(|a| (a.created_at, &a.created_by));
    let comments = data.comments.values().map(|c| (c.created_at, &c.author));
    assignments
        .chain(comments)
        .filter(|(_, by)| by.role == Role::Therapist)
        .max_by_key(|(at, _)| *at)
        .map(|(_, by)| by.name.clone())
}

/// The name of a member in `role`, as the document knows it: the client's name, or the
/// therapist's (from the document's meta, else the name their latest assignment or comment
/// carries).
fn name_of(role: Role, names: Option<&Names>, record: &DocumentRecord) -> Option<String> {
    let Some(names) = names else {
        // The document has not arrived; a therapist's label for it is the client's name once
        // sync has named it.
        return (role == Role::Client).then(|| record.label.clone());
    };
    match role {
        Role::Client => Some(names.client.clone()),
        Role::Therapist => names.therapist.clone(),
    }
}

/// The names of the other people this profile shares homework with, by their identity's
/// safety number: each signed membership list says who holds a document in which role, and the
/// document names the client and the therapist. Used to name their devices ("Dr Rivera's
/// device") in `status`, `sync` and `audit`, where certificates carry no names.
pub(crate) fn people(session: &Session) -> Result<HashMap<String, String>> {
    people_reading(session, |record| names_in(session, record))
}

/// [`people`], with each document's names from `names` (`None`: only what the profile knows
/// without reading the document — the client's name is the homework's label).
fn people_reading(
    session: &Session,
    names_of: impl Fn(&DocumentRecord) -> Option<Names>,
) -> Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    for record in session.shared_records()? {
        let Some(bytes) = session.store.membership(record.id)? else {
            continue;
        };
        let Ok(list) = SignedMembership::from_bytes(&bytes) else {
            continue;
        };
        let known = names_of(&record);
        for member in list.members() {
            if let Some(name) = name_of(member.role, known.as_ref(), &record) {
                names.entry(member.identity.fingerprint()).or_insert(name);
            }
        }
    }
    Ok(names)
}

/// The other people's devices this profile knows (certificates a signed list vouched for).
fn peer_certificates(session: &Session) -> Result<Vec<DeviceCertificate>> {
    Ok(session
        .store
        .peer_devices()?
        .iter()
        .filter_map(|bytes| DeviceCertificate::from_bytes(bytes).ok())
        .collect())
}

/// `directory` with the other people's devices this profile knows, named after them as
/// `homework` (what a sync brought, already read, by document id) names them: a device that
/// sent something is named by the homework it sent it to.
pub(crate) fn with_people(
    session: &Session,
    directory: DeviceDirectory,
    homework: &HashMap<DocId, &HomeworkData>,
) -> Result<DeviceDirectory> {
    let names = people_reading(session, |record| {
        homework.get(&record.id).map(|data| names_of_data(data))
    })?;
    let peers = peer_certificates(session)?;
    Ok(directory.with_peers(&peers, |owner| names.get(&owner.fingerprint()).cloned()))
}

/// What this device can say about one shared document.
fn document(
    session: &Session,
    me: &between_shared::crypto::IdentityPublic,
    peers: &[DeviceCertificate],
    record: &DocumentRecord,
) -> Result<DocumentView> {
    let mut view = DocumentView {
        id: record.id,
        name: record.label.clone(),
        shared: false,
        member: None,
        members: Vec::new(),
        problem: None,
    };
    let Some(bytes) = session.store.membership(record.id)? else {
        return Ok(view);
    };
    view.shared = true;
    let list = match SignedMembership::from_bytes(&bytes) {
        Ok(list) if list.doc_id() == record.id => list,
        Ok(_) => {
            view.problem = Some("the stored membership list is for another document".to_owned());
            return Ok(view);
        }
        Err(err) => {
            view.problem = Some(format!("the stored membership list is damaged: {err}"));
            return Ok(view);
        }
    };
    view.member = Some(list.role_of(me).is_some());
    let names = names_in(session, record);
    view.members = list
        .members()
        .iter()
        .filter(|m| m.identity != *me)
        .map(|&Member { identity, role }| MemberView {
            role,
            name: name_of(role, names.as_ref(), record),
            owner: identity == list.owner(),
            safety_number: identity.fingerprint(),
            devices: peers
                .iter()
                .filter(|c| c.owner == identity && list.vouch_for(c).is_ok())
                .map(|c| c.device_id().short())
                .collect(),
        })
        .collect();
    Ok(view)
}

/// This person's identity and, per shared homework, who holds it; `None` on a profile that
/// does not sync.
fn members(session: &Session) -> Result<Option<(IdentityPublic, Vec<DocumentView>)>> {
    let Some(record) = session.store.account()? else {
        return Ok(None);
    };
    let keys = AccountKeys::from_record(&record)?;
    let me = keys.identity.public();
    let peers = peer_certificates(session)?;
    let documents = session
        .shared_records()?
        .iter()
        .map(|record| document(session, &me, &peers, record))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((me, documents)))
}

/// What `whois --json` prints: this person's safety number and, per homework, the other
/// members' with how to compare them.
pub(crate) fn whois_json(session: &Session) -> Result<serde_json::Value> {
    let Some((me, documents)) = members(session)? else {
        return Ok(serde_json::json!({ "syncs": false }));
    };
    Ok(serde_json::json!({
        "syncs": true,
        "me": {
            "name": session.me.name,
            "role": session.me.role,
            "safety_number": me.fingerprint(),
        },
        "documents": documents,
        "how_to_compare": HOW_TO_COMPARE,
    }))
}

/// `between whois`.
pub(crate) fn whois(session: &Session, json: bool) -> Result<()> {
    if json {
        return print_json(&whois_json(session)?);
    }
    let Some((me, documents)) = members(session)? else {
        outln!("This profile does not sync with a relay, so it has no safety number: nothing is shared through a relay to check.");
        return Ok(());
    };
    outln!(
        "Your safety number ({}, {}):",
        session.me.name,
        session.me.role
    );
    outln!("  {}", me.fingerprint());
    let client = session.me.role == Role::Client;
    for doc in &documents {
        outln!();
        let whose = if client {
            "Your homework".to_owned()
        } else {
            format!("{}'s homework", doc.name)
        };
        if let Some(problem) = &doc.problem {
            outln!("{whose}: {problem}. Run `between sync`; if this stays, tell your practice.");
            continue;
        }
        if !doc.shared {
            outln!("{whose} is not shared with anyone through the relay yet.");
            continue;
        }
        if doc.member == Some(false) {
            outln!("{whose}: you are no longer a member; the client removed you.");
        }
        if doc.members.is_empty() {
            outln!("{whose} is shared with no one else.");
            continue;
        }
        outln!("{whose} is shared with:");
        for m in &doc.members {
            let name = m.name.as_deref().unwrap_or("name not known yet");
            let owner = if m.owner { ", owns the homework" } else { "" };
            outln!("  {name} ({}{owner})", m.role);
            outln!("    safety number  {}", m.safety_number);
            if m.devices.is_empty() {
                outln!("    devices        none known yet (`between sync` fetches them)");
            } else {
                outln!("    devices        {}", m.devices.join(", "));
            }
        }
    }
    outln!();
    outln!("{HOW_TO_COMPARE}");
    Ok(())
}
