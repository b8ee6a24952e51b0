//! Editing part of a homework document. Hydrating the whole document and reconciling it back
//! costs time in proportion to everything the client ever wrote: after a year of homework that
//! is most of a second per mood check-in. An edit that names the records it reads ([`Needs`])
//! sees a [`HomeworkData`] holding only those records (and the document's few small fields),
//! and only the records it changed are reconciled back, so its cost follows what it touches.
//!
//! The records it leaves out are absent from what the edit sees: an edit must name every
//! record it looks up, or it would wrongly find it missing. A record it only inserts need not
//! be named.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value, ROOT};
use autosurgeon::{Hydrate, Reconcile};

use crate::error::DocError;
use crate::ids::{AssignmentId, EntryId, GoalId};
use crate::model::{Entry, HomeworkData};

/// The records, by id, one edit reads or changes.
#[derive(Debug, Default, Clone)]
pub(super) struct Needs {
    pub(super) goals: Vec<String>,
    pub(super) assignments: Vec<String>,
    pub(super) entries: Vec<String>,
    pub(super) comments: Vec<String>,
    pub(super) templates: Vec<String>,
    pub(super) risk_acknowledgements: Vec<String>,
}

impl Needs {
    /// Also a goal.
    pub(super) fn goal(mut self, id: &GoalId) -> Self {
        self.goals.push(id.as_str().to_owned());
        self
    }

    /// Also an assignment, when there is one.
    pub(super) fn assignment(mut self, id: Option<&AssignmentId>) -> Self {
        self.assignments.extend(id.map(|a| a.as_str().to_owned()));
        self
    }
}

/// The named records and the document's small fields, hydrated from `doc`.
pub(super) fn hydrate(doc: &AutoCommit, needs: &Needs) -> Result<HomeworkData, DocError> {
    Ok(HomeworkData {
        schema: autosurgeon::hydrate_prop(doc, ROOT, "schema")?,
        meta: autosurgeon::hydrate_prop(doc, ROOT, "meta")?,
        goals: records(doc, "goals", &needs.goals)?,
        assignments: records(doc, "assignments", &needs.assignments)?,
        entries: records(doc, "entries", &needs.entries)?,
        comments: records(doc, "comments", &needs.comments)?,
        templates: records(doc, "templates", &needs.templates)?,
        risk_acknowledgements: records(doc, "risk_acknowledgements", &needs.risk_acknowledgements)?,
        crisis_resources: match doc.get(ROOT, "crisis_resources")? {
            Some(_) => autosurgeon::hydrate_prop(doc, ROOT, "crisis_resources")?,
            None => None,
        },
    })
}

/// Writes back into `doc` what an edit changed from `before` to `after` (both from
/// [`hydrate`] with the same needs): changed and new records, removed ones deleted.
pub(super) fn reconcile(
    doc: &mut AutoCommit,
    before: &HomeworkData,
    after: &HomeworkData,
) -> Result<(), DocError> {
    if before.schema != after.schema {
        autosurgeon::reconcile_prop(doc, ROOT, "schema", after.schema)?;
    }
    if before.meta != after.meta {
        autosurgeon::reconcile_prop(doc, ROOT, "meta", &after.meta)?;
    }
    if before.crisis_resources != after.crisis_resources {
        autosurgeon::reconcile_prop(doc, ROOT, "crisis_resources", &after.crisis_resources)?;
    }
    reconcile_records(doc, "goals", &before.goals, &after.goals)?;
    reconcile_records(doc, "assignments", &before.assignments, &after.assignments)?;
    reconcile_records(doc, "entries", &before.entries, &after.entries)?;
    reconcile_records(doc, "comments", &before.comments, &after.comments)?;
    reconcile_records(doc, "templates", &before.templates, &after.templates)?;
    reconcile_records(
        doc,
        "risk_acknowledgements",
        &before.risk_acknowledgements,
        &after.risk_acknowledgements,
    )
}

/// One entry, if the document has it.
pub(super) fn entry(doc: &AutoCommit, id: &EntryId) -> Result<Option<Entry>, DocError> {
    Ok(records::<EntryId, Entry>(doc, "entries", &[id.as_str().to_owned()])?.remove(id))
}

/// The map object of a collection at the root, if the document has one.
fn collection(doc: &AutoCommit, name: &str) -> Result<Option<ObjId>, DocError> {
    Ok(match doc.get(ROOT, name)? {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

/// The records `keys` of collection `name` that exist.
fn records<K, V>(doc: &AutoCommit, name: &str, keys: &[String]) -> Result<BTreeMap<K, V>, DocError>
where
    K: Ord + From<String>,
    V: Hydrate,
{
    let mut found = BTreeMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let Some(map) = collection(doc, name)? else {
        return Ok(found);
    };
    for key in keys {
        if doc.get(&map, key.as_str())?.is_some() {
            let record = autosurgeon::hydrate_prop(doc, &map, key.as_str())?;
            found.insert(K::from(key.clone()), record);
        }
    }
    Ok(found)
}

fn reconcile_records<K, V>(
    doc: &mut AutoCommit,
    name: &str,
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
) -> Result<(), DocError>
where
    K: Ord + AsRef<str>,
    V: Reconcile + PartialEq,
{
    if before == after {
        return Ok(());
    }
    let Some(map) = collection(doc, name)? else {
        // A document written before this collection existed: it holds only what was added.
        autosurgeon::reconcile_prop(doc, ROOT, name, after)?;
        return Ok(());
    };
    for (key, record) in after {
        if before.get(key) != Some(record) {
            autosurgeon::reconcile_prop(doc, &map, key.as_ref(), record)?;
        }
    }
    for key in before.keys().filter(|key| !after.contains_key(*key)) {
        doc.delete(&map, key.as_ref())?;
    }
    Ok(())
}
