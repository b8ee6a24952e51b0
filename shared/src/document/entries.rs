//! Entries: creating (shared or private), updating fields, splicing long text, completing, and moving an entry between documents.

use super::*;

impl HomeworkDoc {
    /// Starts an entry, as a draft or complete. Only the client writes entries.
    ///
    /// Every collaborative field (long text, selections, ratings, thoughts) is created up front,
    /// empty, so that two devices filling the same entry later edit the same objects and both
    /// keep what they typed.
    pub fn create_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        new: NewEntry,
        complete: bool,
    ) -> Result<EntryId, DocError> {
        self.create_entry_in(by, now, new, complete, None)
    }

    /// Starts an entry in a client's **private** document (one only their own devices hold).
    /// The entry may do an assignment of `shared`, the client's shared document, and follow one
    /// of its custom templates; such a template is copied into this document, so the private
    /// document alone can validate, edit and show the entry.
    pub fn create_private_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        new: NewEntry,
        complete: bool,
        shared: &HomeworkData,
    ) -> Result<EntryId, DocError> {
        self.create_entry_in(by, now, new, complete, Some(shared))
    }

    fn create_entry_in(
        &mut self,
        by: &Author,
        now: Timestamp,
        new: NewEntry,
        complete: bool,
        shared: Option<&HomeworkData>,
    ) -> Result<EntryId, DocError> {
        check_writer(by)?;
        let id = EntryId::random();
        let needs = Needs {
            templates: vec![new.template.as_str().to_owned()],
            ..Needs::default()
        }
        .assignment(new.assignment.as_ref());
        self.change_parts("create entry", now, needs, |data| {
            let template = match (Self::template_in(data, &new.template), shared) {
                (Ok(template), _) => template,
                (Err(_), Some(shared)) => {
                    let template = Self::template_in(shared, &new.template)?;
                    data.templates.insert(template.id.clone(), template.clone());
                    template
                }
                (Err(err), None) => return Err(err),
            };
            if let Some(assignment) = &new.assignment {
                let assignment = data
                    .assignments
                    .get(assignment)
                    .or_else(|| shared.and_then(|s| s.assignments.get(assignment)))
                    .ok_or_else(|| not_found("assignment", assignment.as_str()))?;
                if assignment.template != new.template {
                    return Err(ValidationError::Invalid(format!(
                        "this assignment uses the template '{}', not '{}'",
                        assignment.template, new.template
                    ))
                    .into());
                }
            }
            let values = template
                .fields
                .iter()
                .filter_map(|f| empty_value(&f.kind).map(|v| (f.id.clone(), v)))
                .collect();
            let mut entry = Entry {
                assignment: new.assignment,
                template: new.template,
                kind: template.kind,
                date: new.date,
                status: EntryStatus::Draft,
                values,
                difficulty: None,
                obstacles: BTreeMap::new(),
                created_by: by.clone(),
                created_at: now,
                updated_by: by.clone(),
                updated_at: now,
                completed_at: None,
            };
            apply_update(&mut entry, &template, new.update)?;
            finish(&mut entry, &template, complete, now)?;
            data.entries.insert(id.clone(), entry);
            Ok(id)
        })
    }

    /// Changes an entry's fields, and completes it when `complete` is true.
    pub fn update_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &EntryId,
        update: EntryUpdate,
        complete: bool,
    ) -> Result<(), DocError> {
        check_writer(by)?;
        let needs = self.entry_needs(id)?;
        self.change_parts("edit entry", now, needs, |data| {
            let entry = data
                .entries
                .get(id)
                .cloned()
                .ok_or_else(|| not_found("entry", id.as_str()))?;
            let template = Self::template_in(data, &entry.template)?;
            let mut entry = entry;
            apply_update(&mut entry, &template, update)?;
            finish(&mut entry, &template, complete, now)?;
            entry.updated_by = by.clone();
            entry.updated_at = now;
            data.entries.insert(id.clone(), entry);
            Ok(())
        })
    }

    /// Types into a long-text field of an entry, as an editor does on every keystroke: deletes
    /// `delete` characters at `index` and inserts `insert` there, as one change. Unlike
    /// [`HomeworkDoc::update_entry`] it touches only that text and the entry's "changed by/at"
    /// (no hydration of the whole document), so its cost does not grow with the document.
    /// `index` and `delete` count Unicode code points.
    #[allow(clippy::too_many_arguments)]
    pub fn splice_entry_text(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &EntryId,
        field: &str,
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<(), DocError> {
        check_writer(by)?;
        let (entry, text) = self.entry_text_object(id, field)?;
        let length = self.doc.length(&text);
        if index.saturating_add(delete) > length {
            return Err(ValidationError::Invalid(format!(
                "the field '{field}' holds {length} characters; cannot replace {delete} at position {index}"
            ))
            .into());
        }
        let after = length - delete + insert.chars().count();
        if after > MAX_TEXT_CHARS {
            return Err(ValidationError::Invalid(format!(
                "the field '{field}' would hold {after} characters; at most {MAX_TEXT_CHARS} fit in one field. Split it into several entries"
            ))
            .into());
        }
        let delete = isize::try_from(delete).map_err(|_| {
            ValidationError::Invalid(format!("cannot delete {delete} characters at once"))
        })?;
        let written = self
            .doc
            .splice_text(&text, index, delete, insert)
            .map_err(DocError::from)
            .and_then(|()| {
                autosurgeon::reconcile_prop(&mut self.doc, &entry, "updated_by", by)?;
                autosurgeon::reconcile_prop(&mut self.doc, &entry, "updated_at", now)?;
                Ok(())
            });
        if let Err(err) = written {
            self.doc.rollback();
            return Err(err);
        }
        self.doc.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message("type in entry")
                .with_time(now.as_secs()),
        );
        Ok(())
    }

    /// [`HomeworkDoc::splice_entry_text`] for an editor that saw the text as it was at `base`
    /// (the document's heads when it last read it) while other devices may have changed it
    /// since: `index` and `delete` count code points in the text at `base`, and are moved to
    /// where those characters are now, so the edit lands among the same words and both sides'
    /// typing is kept. Returns the text after the edit.
    #[allow(clippy::too_many_arguments)]
    pub fn splice_entry_text_since(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &EntryId,
        field: &str,
        base: &[ChangeHash],
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<String, DocError> {
        let (_, text) = self.entry_text_object(id, field)?;
        let known = base
            .iter()
            .all(|h| self.doc.get_change_by_hash(h).is_some());
        let (start, end) = if known {
            let then = self.doc.length_at(&text, base);
            if index.saturating_add(delete) > then {
                return Err(ValidationError::Invalid(format!(
                    "the field '{field}' held {then} characters; cannot replace {delete} at position {index}"
                ))
                .into());
            }
            let at = |i: usize, moving| self.position_now(&text, i, base, moving);
            let start = if delete > 0 {
                at(index, automerge::MoveCursor::After)?
            } else if index > 0 {
                // Just after the character before the gap: typing at a word's end stays there.
                at(index - 1, automerge::MoveCursor::Before)? + 1
            } else if then > 0 {
                at(0, automerge::MoveCursor::After)?
            } else {
                0
            };
            let end = if delete > 0 {
                (at(index + delete - 1, automerge::MoveCursor::Before)? + 1).max(start)
            } else {
                start
            };
            (start, end)
        } else {
            // A version this device never had: the positions are taken as they are now.
            (index, index.saturating_add(delete))
        };
        self.splice_entry_text(by, now, id, field, start, end - start, insert)?;
        let (_, text) = self.entry_text_object(id, field)?;
        Ok(self.doc.text(&text)?)
    }

    /// Where the character at code point `index` of the text at `base` is now; if it was
    /// deleted since, the neighbour `moving` says.
    fn position_now(
        &self,
        text: &automerge::ObjId,
        index: usize,
        base: &[ChangeHash],
        moving: automerge::MoveCursor,
    ) -> Result<usize, DocError> {
        let cursor = self
            .doc
            .get_cursor_moving(text, index, Some(base), moving)?;
        let now = self.doc.get_cursor_position(text, &cursor, None)?;
        Ok(now.min(self.doc.length(text)))
    }

    /// How many characters a long-text field of an entry holds, without reading the text.
    pub fn entry_text_len(&self, id: &EntryId, field: &str) -> Result<usize, DocError> {
        let (_, text) = self.entry_text_object(id, field)?;
        Ok(self.doc.length(&text))
    }

    /// The Automerge objects of an entry and of one of its long-text fields.
    fn entry_text_object(
        &self,
        id: &EntryId,
        field: &str,
    ) -> Result<(automerge::ObjId, automerge::ObjId), DocError> {
        let object = |parent: &automerge::ObjId, key: &str| -> Option<automerge::ObjId> {
            match self.doc.get(parent, key) {
                Ok(Some((automerge::Value::Object(_), obj))) => Some(obj),
                _ => None,
            }
        };
        let entry = object(&automerge::ROOT, "entries")
            .and_then(|entries| object(&entries, id.as_str()))
            .ok_or_else(|| not_found("entry", id.as_str()))?;
        let text = object(&entry, "values")
            .and_then(|values| object(&values, field))
            .and_then(|value| object(&value, "long-text"))
            .ok_or_else(|| {
                DocError::from(ValidationError::Invalid(format!(
                    "the entry has no long-text field '{field}' to type into"
                )))
            })?;
        Ok((entry, text))
    }

    /// Completes a draft entry, after checking every required field is answered.
    pub fn complete_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &EntryId,
    ) -> Result<(), DocError> {
        check_writer(by)?;
        let status = parts::entry(&self.doc, id)?
            .map(|e| e.status)
            .ok_or_else(|| not_found("entry", id.as_str()))?;
        if status == EntryStatus::Complete {
            return Err(DocError::NotAllowed(
                "that entry is already complete".into(),
            ));
        }
        self.update_entry(by, now, id, EntryUpdate::default(), true)
    }

    /// Removes an entry and every comment on it (replies included) from this document — the
    /// client's private one, when they share the entry — and returns them unchanged, for
    /// [`HomeworkDoc::adopt_entry`] on the shared document.
    pub fn take_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &EntryId,
    ) -> Result<MovedEntry, DocError> {
        check_writer(by)?;
        self.change("share entry: remove the private copy", now, |data| {
            let entry = data
                .entries
                .remove(id)
                .ok_or_else(|| not_found("entry", id.as_str()))?;
            let on_it: Vec<CommentId> = data
                .comments
                .iter()
                .filter(|(_, c)| matches!(&c.target, CommentTarget::Entry { id: t, .. } if t == id))
                .map(|(cid, _)| cid.clone())
                .collect();
            let comments = on_it
                .into_iter()
                .filter_map(|cid| data.comments.remove(&cid).map(|c| (cid, c)))
                .collect();
            Ok(MovedEntry {
                id: id.clone(),
                entry,
                comments,
            })
        })
    }

    /// Adds an entry taken from the client's private document ([`HomeworkDoc::take_entry`]),
    /// with its id, fields, texts, difficulty and comments exactly as they were, so every
    /// reference to it still holds. Refuses an entry or comment id this document already has,
    /// and an entry whose template or assignment this document does not know.
    pub fn adopt_entry(
        &mut self,
        by: &Author,
        now: Timestamp,
        moved: MovedEntry,
    ) -> Result<(), DocError> {
        check_writer(by)?;
        self.change("share entry", now, |data| {
            let MovedEntry {
                id,
                entry,
                comments,
            } = moved;
            if data.entries.contains_key(&id) {
                return Err(DocError::NotAllowed(format!(
                    "the entry {} is already in this document",
                    id.short()
                )));
            }
            Self::template_in(data, &entry.template)?;
            if let Some(assignment) = &entry.assignment {
                if !data.assignments.contains_key(assignment) {
                    return Err(not_found("assignment", assignment.as_str()));
                }
            }
            if let Some(taken) = comments.keys().find(|c| data.comments.contains_key(*c)) {
                return Err(DocError::NotAllowed(format!(
                    "the comment {} is already in this document",
                    taken.short()
                )));
            }
            data.entries.insert(id, detach_entry(entry));
            data.comments.extend(
                comments
                    .into_iter()
                    .map(|(cid, c)| (cid, detach_comment(c))),
            );
            Ok(())
        })
    }
}
