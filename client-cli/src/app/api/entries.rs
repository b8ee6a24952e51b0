//! Writing homework: new entries, a field's value, typing spliced into long text, completing,
//! a mood check-in, sharing a private entry, difficulty, and what a therapist has looked at.

use super::*;

/// An edit stored: the person's other open pages redraw.
pub(super) fn stored<T>(app: &App, value: T) -> T {
    app.events.changed();
    value
}

#[derive(Deserialize)]
pub(super) struct NewEntryBody {
    pub(super) assignment: Option<String>,
    pub(super) template: Option<String>,
    #[serde(default)]
    pub(super) private: bool,
    pub(super) date: Option<String>,
}

pub(super) async fn new_entry(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<NewEntryBody>,
) -> Answer {
    let clock = clock()?;
    let date = match &body.date {
        Some(text) => parse_day("date", text).map_err(|e| ApiError::from(e).about(Some("date")))?,
        None => clock.today(),
    };
    let (assignment, template) = (body.assignment.clone(), body.template.clone());
    let (new, shared) = with_workspace(&app, &doc, move |ws| {
        let data = ws.doc.data()?;
        let (assignment, template) = match (assignment, template) {
            (Some(a), _) => {
                let id = AssignmentId::from(a);
                let Some(assigned) = data.assignments.get(&id) else {
                    anyhow::bail!(DocError::NotFound {
                        what: "assignment",
                        id: id.to_string()
                    });
                };
                (Some(id), assigned.template.clone())
            }
            (None, Some(t)) => (None, ws.homework()?.template(&TemplateId::from(t))?.id),
            (None, None) => anyhow::bail!(DocError::Invalid(ValidationError::Invalid(
                "say what the entry is: an assignment or a template".to_owned()
            ))),
        };
        let new = NewEntry {
            template,
            assignment,
            date,
            update: EntryUpdate::default(),
        };
        Ok((new, data))
    })
    .await?;
    let now = clock.now();
    let id = if body.private {
        app.live()
            .await
            .edit(private_doc(&app).await?, move |doc, me| {
                doc.create_private_entry(me, now, new, false, &shared)
            })
            .await?
    } else {
        app.live()
            .await
            .edit(shared_doc(&app, &doc).await?, move |doc, me| {
                doc.create_entry(me, now, new, false)
            })
            .await?
    };
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct ValueBody {
    pub(super) field: String,
    /// `null` clears the field.
    pub(super) value: Option<FieldValue>,
}

pub(super) async fn set_value(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
    Body(body): Body<ValueBody>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    let field = body.field.clone();
    let mut update = EntryUpdate::default();
    match body.value {
        Some(value) => {
            update.values.insert(body.field.clone(), value);
        }
        None => update.clear.push(body.field.clone()),
    }
    app.live()
        .await
        .edit(home, move |doc, me| {
            doc.update_entry(me, now, &id, update, false)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(&field)))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct SpliceBody {
    pub(super) field: String,
    /// The document's heads (hex) when the page last read this text: `index` and `delete`
    /// are positions in the text as it was then.
    #[serde(default)]
    pub(super) base: Vec<String>,
    /// Where, in Unicode code points.
    pub(super) index: usize,
    /// How many code points to remove there.
    pub(super) delete: usize,
    pub(super) insert: String,
}

/// Types into a long text: one splice, placed among the same words even if another device's
/// typing arrived since the page read the text, so both merge character by character. The
/// answer is the text now, with the heads it is at, for the page's next splice.
pub(super) async fn splice(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
    Body(body): Body<SpliceBody>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    let field = body.field.clone();
    let base = body
        .base
        .iter()
        .map(|h| h.parse::<ChangeHash>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the page sent a version it cannot have read; reload the page",
            )
        })?;
    let (text, heads) = app
        .live()
        .await
        .edit(home, move |doc: &mut HomeworkDoc, me| {
            let text = match doc.entry_text_len(&id, &body.field) {
                Ok(_) => doc.splice_entry_text_since(
                    me,
                    now,
                    &id,
                    &body.field,
                    &base,
                    body.index,
                    body.delete,
                    &body.insert,
                )?,
                // The field's first words: the text starts with them.
                Err(_) if body.index == 0 && body.delete == 0 => {
                    let mut update = EntryUpdate::default();
                    update.values.insert(
                        body.field.clone(),
                        FieldValue::LongText(body.insert.as_str().into()),
                    );
                    doc.update_entry(me, now, &id, update, false)?;
                    body.insert.clone()
                }
                Err(err) => return Err(err),
            };
            Ok((text, hex_heads(doc)))
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(&field)))?;
    Ok(stored(&app, Json(json!({ "text": text, "heads": heads }))))
}

/// A document's heads as hex, as pages hold them.
pub(crate) fn hex_heads(doc: &mut HomeworkDoc) -> Vec<String> {
    doc.heads().iter().map(ToString::to_string).collect()
}

pub(super) async fn complete(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    let done = id.clone();
    app.live()
        .await
        .edit(home, move |doc, me| doc.complete_entry(me, now, &done))
        .await?;
    stored(&app, ());
    // The answer is the entry as it is now: a questionnaire's score, and help at once when
    // an answer calls for it.
    let doc_id = doc.clone();
    with_workspace(&app, &doc_id, move |ws| views::entry(ws, &id))
        .await
        .map(Json)
}

#[derive(Deserialize)]
pub(super) struct MoodBody {
    pub(super) mood: i64,
}

/// The one-tap mood check-in: a complete entry for today, for today's mood assignment if one
/// is due.
pub(super) async fn mood(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<MoodBody>,
) -> Answer {
    let clock = clock()?;
    let today = clock.today();
    let assignment = with_workspace(&app, &doc, move |ws| {
        let data = ws.doc.data()?;
        Ok(crate::commands::due_items(&data, today, false)
            .into_iter()
            .find(|item| {
                data.assignments
                    .get(&item.assignment)
                    .is_some_and(|a| a.template.as_str() == slug::MOOD_CHECK_IN)
            })
            .map(|item| item.assignment))
    })
    .await?;
    let mut update = EntryUpdate::default();
    update
        .values
        .insert(field::MOOD.to_owned(), FieldValue::Number(body.mood));
    let new = NewEntry {
        template: TemplateId::from(slug::MOOD_CHECK_IN.to_owned()),
        assignment,
        date: today,
        update,
    };
    let now = clock.now();
    let id = app
        .live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_entry(me, now, new, true)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(field::MOOD)))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct CommentBody {
    pub(super) entry: Option<String>,
    pub(super) field: Option<String>,
    pub(super) assignment: Option<String>,
    pub(super) goal: Option<String>,
    pub(super) reply_to: Option<String>,
    pub(super) text: String,
}

/// The therapist looked at a client's homework: the caseload counts what is new from now.
pub(super) async fn looked(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| {
        let record = ws.record.clone();
        mark_seen(&mut ws.session, &record)
    })
    .await?;
    Ok(Json(json!({ "saved": true })))
}

/// Shares a private entry with the therapist, with its comments. The shared copy is stored
/// first and the private one removed after, so the entry is never in neither document (in
/// both for a moment, it counts as shared).
pub(super) async fn share(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let shared = shared_doc(&app, &doc).await?;
    if home == shared {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this entry is already shared with your therapist; nothing was changed",
        ));
    }
    let now = clock()?.now();
    let me = app.live().await.me().clone();
    let wanted = id.clone();
    let moved = app
        .live()
        .await
        .read(home, move |doc| {
            // A throwaway copy gives the entry with its comments; the private document
            // keeps it until the shared one holds it.
            doc.fork(b"share-copy").take_entry(&me, now, &wanted)
        })
        .await?
        .map_err(LiveError::Refused)?;
    app.live()
        .await
        .edit(shared, move |doc, me| doc.adopt_entry(me, now, moved))
        .await?;
    app.live()
        .await
        .edit(home, move |doc, me| {
            doc.take_entry(me, now, &id).map(|_| ())
        })
        .await?;
    Ok(stored(&app, Json(json!({ "private": false }))))
}

#[derive(Deserialize)]
pub(super) struct DifficultyBody {
    pub(super) difficulty: Option<i64>,
    pub(super) obstacles: Option<Vec<String>>,
}

/// How hard the homework was and what got in the way.
pub(super) async fn difficulty(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
    Body(body): Body<DifficultyBody>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    let field = if body.difficulty.is_some() {
        "difficulty"
    } else {
        "obstacles"
    };
    let update = EntryUpdate {
        difficulty: body.difficulty,
        obstacles: body.obstacles,
        ..EntryUpdate::default()
    };
    app.live()
        .await
        .edit(home, move |doc, me| {
            doc.update_entry(me, now, &id, update, false)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(field)))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}
