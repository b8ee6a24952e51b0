//! Opening a document whose stored chunks no longer load together, keeping every change that
//! still fits.
//!
//! Before each process wrote as its own Automerge actor (see [`crate::profile::process_actor`]),
//! two `between` commands run at once on one profile could both write change N+1 of the
//! profile's actor: two different changes with one number. Each was appended to the store as
//! its own chunk, and from then on the document did not load at all ("duplicate seq").
//! [`salvage`] loads the snapshot and then each chunk in the order they were stored, keeps every
//! chunk that applies, and moves the ones that cannot (the later of two conflicting changes,
//! and chunks that build only on those) to the store's set-aside table: the document opens
//! again with everything else, and nothing is deleted.

use automerge::AutoCommit;
use between_shared::protocol::DocId;

use crate::store::{Store, StoreError};

/// Why chunks are set aside, as stored beside them.
const REASON: &str = "its changes are numbered like changes already in the document: two \
                      processes wrote as one Automerge actor at the same moment";

/// Tries to make document `id` loadable again. Returns how many chunks were set aside, or
/// `None` when the chunks are not what stops it loading (the caller then reports its error and
/// the store is left untouched).
pub(crate) fn salvage(
    store: &mut Store,
    id: DocId,
    now_ms: i64,
) -> Result<Option<usize>, StoreError> {
    let parts = store.document_parts(id)?;
    let Ok(mut doc) = AutoCommit::load(&parts.snapshot) else {
        return Ok(None);
    };
    let mut refused = Vec::new();
    let mut waiting = Vec::new();
    for (seq, chunk) in &parts.chunks {
        match doc.load_incremental(chunk) {
            Err(_) => refused.push(*seq),
            // Nothing applied and something is missing: it builds on changes not in the
            // document (a refused chunk's) unless a later chunk brings them.
            Ok(0) if !doc.get_missing_deps(&[]).is_empty() => waiting.push(*seq),
            Ok(_) => {}
        }
    }
    if refused.is_empty() {
        return Ok(None);
    }
    if doc.get_missing_deps(&[]).is_empty() {
        waiting.clear();
    }
    refused.extend(waiting);
    refused.sort_unstable();
    store.set_aside_chunks(id, &refused, REASON, now_ms)?;
    Ok(Some(refused.len()))
}

/// What to tell the person after [`salvage`] set `count` chunks of document `label` aside.
pub(crate) fn explain(label: &str, count: usize, store: &Store) -> String {
    let edits = if count == 1 {
        "the edits of 1 command".to_owned()
    } else {
        format!("the edits of {count} commands")
    };
    format!(
        "'{label}' did not open because two `between` commands once saved it at the same moment \
         (a fault of older versions). Everything else was kept; {edits} could not be merged and \
         were set aside (still inside {}, not deleted). Check your latest entries and enter again \
         anything missing.",
        store.path().display()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::{ProfileRecord, Store};
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ReadDoc, ROOT};

    fn writer(snapshot: &[u8]) -> AutoCommit {
        AutoCommit::load(snapshot)
            .unwrap()
            .with_actor(ActorId::from(&[7_u8; 16][..]))
    }

    /// The damage the issue describes: two processes load one state and write as one actor.
    #[test]
    fn a_document_two_processes_wrote_as_one_actor_opens_with_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let profile = ProfileRecord {
            role: "client".into(),
            display_name: "Sam".into(),
            actor_id: vec![7; 16],
            created_at_ms: 0,
        };
        let mut store = Store::create(&path, &profile).unwrap();
        let mut base = AutoCommit::new().with_actor(ActorId::from(&[7_u8; 16][..]));
        base.put(ROOT, "created", 1).unwrap();
        let snapshot = base.save();
        store
            .add_document(DocId([0xd; 16]), "Sam", 0, &snapshot)
            .unwrap();
        let (mut first, mut second) = (writer(&snapshot), writer(&snapshot));
        first.put(ROOT, "first", 1).unwrap();
        second.put(ROOT, "second", 2).unwrap();
        store
            .append_changes(DocId([0xd; 16]), &first.save_incremental())
            .unwrap();
        store
            .append_changes(DocId([0xd; 16]), &second.save_incremental())
            .unwrap();
        // The second process goes on writing on top of its conflicting change.
        second.put(ROOT, "second again", 3).unwrap();
        store
            .append_changes(DocId([0xd; 16]), &second.save_incremental())
            .unwrap();
        // Another device's change, stored after the damage, is independent of it.
        let mut other = AutoCommit::load(&snapshot)
            .unwrap()
            .with_actor(ActorId::from(&[9_u8; 16][..]));
        other.put(ROOT, "phone", 4).unwrap();
        store
            .append_changes(DocId([0xd; 16]), &other.save_incremental())
            .unwrap();
        assert!(AutoCommit::load(&store.load_document(DocId([0xd; 16])).unwrap()).is_err());

        assert_eq!(salvage(&mut store, DocId([0xd; 16]), 5).unwrap(), Some(2));
        let doc = AutoCommit::load(&store.load_document(DocId([0xd; 16])).unwrap()).unwrap();
        let keys: Vec<String> = doc.keys(ROOT).collect();
        assert_eq!(keys, ["created", "first", "phone"]);
        assert_eq!(store.set_aside_count(DocId([0xd; 16])).unwrap(), 2);
        // A document that loads is left alone.
        assert_eq!(salvage(&mut store, DocId([0xd; 16]), 6).unwrap(), None);
        assert_eq!(store.set_aside_count(DocId([0xd; 16])).unwrap(), 2);
    }
}
