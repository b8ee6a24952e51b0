//! The app's JSON API (documented in `docs/app-api.md`): what the pages read and every change
//! they make. Reads open the profile's store as a `between` command does and reuse the
//! commands' views; changes go through the open [`crate::live::LiveProfile`], so each is
//! stored before the answer and leaves for the relay at once.
//!
//! Errors are JSON too, `{"error": "...", "field": "..."}`: `field` names the form field a
//! refused value belongs to, so the page shows the message beside it. A refused change stored
//! nothing.

use std::convert::Infallible;
use std::sync::Arc;

use automerge::ChangeHash;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use between_shared::document::{AssignmentAdjustment, EntryUpdate, NewAssignment, NewEntry};
use between_shared::model::{AssignmentStatus, CommentTarget, Frequency, GoalStatus, Schedule};
use between_shared::reminders::TimeOfDay;
use between_shared::template::builtin::{field, slug};
use between_shared::template::{EntryKind, FieldDef, FieldKind, FieldValue, Template};
use between_shared::{
    AssignmentId, CommentId, DocError, DocumentId, EntryId, GoalId, HomeworkDoc, Role, TemplateId,
    ValidationError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{assets, views, App};
use crate::cli::{AuditArgs, ExportFormat, ScheduleArgs};
use crate::clock::Clock;
use crate::commands::{
    audit_json, caseload_json, export_text, find_comment, mark_seen, new_client_invite,
    new_pairing, parse_day, schedule_from, tell_news, whois_json,
};
use crate::live::LiveError;
use crate::profile::{Place, Session, Workspace};

/// An answer that refuses: a status and a message for the person, and the field it is about.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn about(mut self, field: Option<&str>) -> Self {
        self.field = field.map(str::to_owned);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.message, "field": self.field })),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    /// A record that is not there is 404; a relay that cannot be reached for something that
    /// needs it now is 503; trouble with the store or the sync is 500; anything else was the
    /// request's own fault (a date, a schedule, a template it names) and is 422, with the
    /// reason.
    fn from(err: anyhow::Error) -> Self {
        let message = err
            .chain()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        let status = if err.chain().any(|e| {
            matches!(
                e.downcast_ref::<DocError>(),
                Some(DocError::NotFound { .. })
            )
        }) {
            StatusCode::NOT_FOUND
        } else if err.chain().any(|e| e.is::<crate::commands::Unreachable>()) {
            StatusCode::SERVICE_UNAVAILABLE
        } else if err.chain().any(|e| {
            e.is::<crate::store::StoreError>()
                || e.is::<std::io::Error>()
                || e.is::<crate::sync::driver::DriverError>()
                || matches!(
                    e.downcast_ref::<DocError>(),
                    Some(
                        DocError::Corrupt(_)
                            | DocError::Shape(_)
                            | DocError::Write(_)
                            | DocError::NewerSchema { .. }
                    )
                )
        }) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError::new(status, message)
    }
}

impl From<LiveError> for ApiError {
    fn from(err: LiveError) -> Self {
        match err {
            LiveError::Refused(DocError::Invalid(ValidationError::Incomplete { missing })) => {
                let message = ValidationError::Incomplete {
                    missing: missing.clone(),
                }
                .to_string();
                // The first unanswered field, as its id (`id (label)`).
                let first = missing
                    .first()
                    .and_then(|m| m.split_whitespace().next())
                    .map(str::to_owned);
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message,
                    field: first,
                }
            }
            LiveError::Refused(err @ DocError::NotFound { .. }) => {
                ApiError::new(StatusCode::NOT_FOUND, err.to_string())
            }
            LiveError::Refused(err) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
            }
            LiveError::UnknownDocument { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, err.to_string())
            }
            LiveError::Profile(_) | LiveError::Sync(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
            }
        }
    }
}

type Answer = Result<Json<Value>, ApiError>;

/// A JSON request body; one that is not JSON, or not what the route takes, is refused with the
/// API's own error shape (axum's would be plain text).
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the request is not what this part of the app takes ({}); reload the page",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// Every route of the app: its pages, assets and API.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/session", get(session))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/caseload", get(caseload))
        .route("/api/docs/{doc}/today", get(today))
        .route("/api/docs/{doc}/plan", get(plan))
        .route(
            "/api/docs/{doc}/templates",
            get(templates).post(new_template),
        )
        .route("/api/docs/{doc}/progress", get(progress))
        .route("/api/docs/{doc}/charts/{chart}", get(chart))
        .route("/api/docs/{doc}/entries", get(entries).post(new_entry))
        .route("/api/docs/{doc}/entries/{entry}", get(entry))
        .route("/api/docs/{doc}/entries/{entry}/value", post(set_value))
        .route("/api/docs/{doc}/entries/{entry}/splice", post(splice))
        .route("/api/docs/{doc}/entries/{entry}/complete", post(complete))
        .route("/api/docs/{doc}/mood", post(mood))
        .route("/api/docs/{doc}/comments", post(comment))
        .route("/api/docs/{doc}/assignments", post(assign))
        .route(
            "/api/docs/{doc}/assignments/{assignment}/adjust",
            post(adjust),
        )
        .route("/api/docs/{doc}/goals/{goal}/steps/{step}", post(tick_step))
        .route("/api/docs/{doc}/looked", post(looked))
        .route("/api/docs/{doc}/entries/{entry}/share", post(share))
        .route("/api/docs/{doc}/goals", post(new_goal))
        .route("/api/docs/{doc}/goals/{goal}/steps", post(add_step))
        .route(
            "/api/docs/{doc}/risk/{entry}/acknowledge",
            post(acknowledge),
        )
        .route("/api/docs/{doc}/export/{format}", get(export))
        .route("/api/privacy", get(privacy))
        .route("/api/audit", get(audit))
        .route("/api/pairing", post(pairing))
        .route("/api/reopen", post(reopen))
        .route("/api/invite", post(invite))
        .route(
            "/api/crisis-resources",
            get(crisis_resources).post(set_crisis_resources),
        )
        .route(
            "/api/docs/{doc}/assignments/{assignment}/status",
            post(assignment_status),
        )
        .route(
            "/api/docs/{doc}/assignments/{assignment}/remind",
            post(remind),
        )
        .route(
            "/api/docs/{doc}/entries/{entry}/difficulty",
            post(difficulty),
        )
        .route("/api/docs/{doc}/comments/{comment}/resolved", post(resolve))
        .route("/api/docs/{doc}/goals/{goal}/status", post(goal_status))
}

/// Runs `read` on a fresh view of the profile's store, off the async threads.
async fn with_session<T: Send + 'static>(
    app: &App,
    read: impl FnOnce(Session) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let path = app.store_path.clone();
    tokio::task::spawn_blocking(move || read(Session::open_store(&path)?))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// [`with_session`] for work that talks to the relay itself (the audit, a pairing): the
/// `between` commands it shares run their own network runtime, which cannot start on one of
/// the app's threads, so it runs on a thread of its own.
async fn with_session_online<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(Session) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let path = app.store_path.clone();
    let (done, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(Session::open_store(&path).and_then(work));
    });
    answer
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// Runs `read` on the homework `doc` (with a client's private entries), as a command sees it.
async fn with_workspace<T: Send + 'static>(
    app: &App,
    doc: &str,
    read: impl FnOnce(&mut Workspace) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let doc = shared_doc(app, doc).await?.to_string();
    with_session(app, move |session| {
        let mut ws = session.workspace(Some(&doc))?;
        read(&mut ws)
    })
    .await
}

/// The shared homework `doc` names, if this device syncs it (a client's private document is
/// reached through the shared one's entries, never by its own id).
async fn shared_doc(app: &App, doc: &str) -> Result<DocumentId, ApiError> {
    if let Some(found) = app
        .live()
        .await
        .documents()
        .await?
        .into_iter()
        .find(|d| !d.private && d.id.as_str() == doc)
    {
        return Ok(found.id);
    }
    // Homework that arrived after the app started (a `between sync` beside it brought a new
    // client's): the profile holds it, but this app does not sync it yet.
    let wanted = doc.to_owned();
    let arrived = with_session(app, move |session| {
        Ok(session
            .shared_records()?
            .into_iter()
            .find(|r| r.id == wanted)
            .map(|r| r.label))
    })
    .await?;
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        match arrived {
            Some(name) => format!(
                "{name}'s homework arrived after the app started; press \"Look for new clients\" on the Clients page (or start `between app` again) to open it"
            ),
            None => format!("this device holds no homework with the id {doc}"),
        },
    ))
}

fn clock() -> Result<Clock, ApiError> {
    Clock::from_env().map_err(ApiError::from)
}

async fn session(State(app): State<Arc<App>>) -> Answer {
    let docs = app.live().await.documents().await?;
    let me = app.live().await.me().clone();
    let shared: Vec<Value> = docs
        .iter()
        .filter(|d| !d.private)
        .map(|d| json!({ "id": d.id, "label": d.label }))
        .collect();
    Ok(Json(json!({
        "csrf": app.secrets.csrf(),
        "me": { "name": me.name, "role": me.role },
        "documents": shared,
        "has_private": docs.iter().any(|d| d.private),
    })))
}

async fn status(State(app): State<Arc<App>>) -> Answer {
    let sync = app.events.state();
    let pending = with_session(&app, |session| {
        crate::commands::pending_changes(&session.store)
    })
    .await?;
    let waiting: usize = pending.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({ "sync": sync, "waiting": waiting })))
}

async fn events(State(app): State<Arc<App>>) -> impl IntoResponse {
    use tokio::sync::broadcast::error::RecvError;
    let first = super::events::Event::Sync(app.events.state());
    let (receiver, stopping) = app.events.subscribe();
    let stream = futures_util::stream::unfold(
        (Some(first), receiver, stopping),
        |(first, mut receiver, mut stopping)| async move {
            let event = match first {
                Some(event) => event,
                None => tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(event) => event,
                        // Fell behind: a redraw covers whatever was missed.
                        Err(RecvError::Lagged(_)) => super::events::Event::Changed,
                        Err(RecvError::Closed) => return None,
                    },
                    _ = stopping.wait_for(|stop| *stop) => return None,
                },
            };
            let data = serde_json::to_string(&event).unwrap_or_default();
            Some((
                Ok::<_, Infallible>(SseEvent::default().data(data)),
                (None, receiver, stopping),
            ))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn caseload(State(app): State<Arc<App>>) -> Answer {
    with_session(&app, |session| {
        if session.me.role != Role::Therapist {
            anyhow::bail!("the caseload is a therapist's view");
        }
        caseload_json(&session)
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct TodayQuery {
    /// `week=true` (or `1`): the whole week, Monday to Sunday, instead of today. Anything
    /// else is today, so a link that is a little off never fails.
    week: Option<String>,
}

async fn today(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    axum::extract::Query(query): axum::extract::Query<TodayQuery>,
) -> Answer {
    with_workspace(&app, &doc, move |ws| {
        let homework = ws.homework()?;
        let told = tell_news(ws, &homework.data)?;
        let week = matches!(query.week.as_deref(), Some("true" | "1"));
        views::today(ws, &homework, told, week)
    })
    .await
    .map(Json)
}

async fn plan(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::plan(ws))
        .await
        .map(Json)
}

async fn templates(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::templates(ws))
        .await
        .map(Json)
}

async fn progress(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    let today = clock()?.today();
    with_workspace(&app, &doc, move |ws| views::progress(ws, today))
        .await
        .map(Json)
}

async fn chart(
    State(app): State<Arc<App>>,
    Path((doc, chart)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let today = clock()?.today();
    let name = chart.strip_suffix(".svg").unwrap_or(&chart).to_owned();
    let svg = with_workspace(&app, &doc, move |ws| views::chart(ws, &name, today)).await?;
    match svg {
        Some(svg) => Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("there is no chart '{chart}'"),
        )),
    }
}

async fn entries(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::entries(ws))
        .await
        .map(Json)
}

async fn entry(State(app): State<Arc<App>>, Path((doc, entry)): Path<(String, String)>) -> Answer {
    let id = EntryId::from(entry);
    with_workspace(&app, &doc, move |ws| views::entry(ws, &id))
        .await
        .map(Json)
}

/// Where a change to an entry goes: the shared homework or the client's private document.
async fn entry_home(app: &App, doc: &str, entry: &EntryId) -> Result<DocumentId, ApiError> {
    let wanted = entry.to_string();
    let place = with_workspace(app, doc, move |ws| Ok(ws.find_entry(&wanted)?.0)).await?;
    home(app, doc, place).await
}

/// Where a comment lives: the shared homework, or the client's private document for a
/// comment on a private entry.
async fn comment_home(app: &App, doc: &str, comment: &CommentId) -> Result<DocumentId, ApiError> {
    let wanted = comment.to_string();
    let place = with_workspace(app, doc, move |ws| Ok(find_comment(ws, &wanted)?.0)).await?;
    home(app, doc, place).await
}

/// The document of `place`: the shared homework `doc`, or the client's private one.
async fn home(app: &App, doc: &str, place: Place) -> Result<DocumentId, ApiError> {
    match place {
        Place::Private => private_doc(app).await,
        Place::Shared => shared_doc(app, doc).await,
    }
}

async fn private_doc(app: &App) -> Result<DocumentId, ApiError> {
    app.live().await
        .documents()
        .await?
        .into_iter()
        .find(|d| d.private)
        .map(|d| d.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this device cannot keep private entries yet: your private entries start on the device you set up first. Save it as shared, or start it there",
            )
        })
}

/// An edit stored: the person's other open pages redraw.
fn stored<T>(app: &App, value: T) -> T {
    app.events.changed();
    value
}

#[derive(Deserialize)]
struct NewEntryBody {
    assignment: Option<String>,
    template: Option<String>,
    #[serde(default)]
    private: bool,
    date: Option<String>,
}

async fn new_entry(
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
            .edit(&private_doc(&app).await?, move |doc, me| {
                doc.create_private_entry(me, now, new, false, &shared)
            })
            .await?
    } else {
        app.live()
            .await
            .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
                doc.create_entry(me, now, new, false)
            })
            .await?
    };
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct ValueBody {
    field: String,
    /// `null` clears the field.
    value: Option<FieldValue>,
}

async fn set_value(
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
        .edit(&home, move |doc, me| {
            doc.update_entry(me, now, &id, update, false)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(&field)))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct SpliceBody {
    field: String,
    /// The document's heads (hex) when the page last read this text: `index` and `delete`
    /// are positions in the text as it was then.
    #[serde(default)]
    base: Vec<String>,
    /// Where, in Unicode code points.
    index: usize,
    /// How many code points to remove there.
    delete: usize,
    insert: String,
}

/// Types into a long text: one splice, placed among the same words even if another device's
/// typing arrived since the page read the text, so both merge character by character. The
/// answer is the text now, with the heads it is at, for the page's next splice.
async fn splice(
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
        .edit(&home, move |doc: &mut HomeworkDoc, me| {
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

async fn complete(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
) -> Answer {
    let id = EntryId::from(entry);
    let home = entry_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    let done = id.clone();
    app.live()
        .await
        .edit(&home, move |doc, me| doc.complete_entry(me, now, &done))
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
struct MoodBody {
    mood: i64,
}

/// The one-tap mood check-in: a complete entry for today, for today's mood assignment if one
/// is due.
async fn mood(
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
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_entry(me, now, new, true)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(field::MOOD)))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct CommentBody {
    entry: Option<String>,
    field: Option<String>,
    assignment: Option<String>,
    goal: Option<String>,
    reply_to: Option<String>,
    text: String,
}

async fn comment(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<CommentBody>,
) -> Answer {
    let now = clock()?.now();
    let (target, home) = match (&body.entry, &body.assignment, &body.goal) {
        (Some(entry), _, _) => {
            let id = EntryId::from(entry.clone());
            let home = entry_home(&app, &doc, &id).await?;
            (
                Some(CommentTarget::Entry {
                    id,
                    field: body.field.clone().filter(|f| !f.is_empty()),
                }),
                home,
            )
        }
        (None, Some(assignment), _) => (
            Some(CommentTarget::Assignment {
                id: AssignmentId::from(assignment.clone()),
            }),
            shared_doc(&app, &doc).await?,
        ),
        (None, None, Some(goal)) => (
            Some(CommentTarget::Goal {
                id: GoalId::from(goal.clone()),
            }),
            shared_doc(&app, &doc).await?,
        ),
        // A reply lives where the comment it answers does (a private entry's, privately).
        (None, None, None) => match &body.reply_to {
            Some(parent) => (
                None,
                comment_home(&app, &doc, &CommentId::from(parent.clone())).await?,
            ),
            None => (None, shared_doc(&app, &doc).await?),
        },
    };
    let reply_to = body.reply_to.map(CommentId::from);
    if target.is_none() && reply_to.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "say what the comment is about: an entry, an assignment, a goal or a comment to answer",
        ));
    }
    let text = body.text;
    let id = app
        .live()
        .await
        .edit(&home, move |doc, me| {
            doc.add_comment(me, now, target, reply_to, &text)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("text")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct AssignBody {
    template: String,
    title: Option<String>,
    #[serde(default)]
    instructions: String,
    every: Option<String>,
    starts: Option<String>,
    ends: Option<String>,
    minutes: Option<i64>,
    focus: Option<String>,
}

fn blank_to_none(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

async fn assign(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<AssignBody>,
) -> Answer {
    let clock = clock()?;
    let today = clock.today();
    let args = ScheduleArgs {
        every: blank_to_none(body.every),
        starts: blank_to_none(body.starts),
        ends: blank_to_none(body.ends),
    };
    let base = Schedule {
        frequency: Frequency::Daily,
        starts_on: today,
        ends_on: None,
    };
    let schedule =
        schedule_from(&args, base, today).map_err(|e| ApiError::from(e).about(Some("every")))?;
    shared_doc(&app, &doc).await?;
    let wanted = body.template.clone();
    let template = with_workspace(&app, &doc, move |ws| {
        ws.homework()?.template(&TemplateId::from(wanted))
    })
    .await
    .map_err(|e| e.about(Some("template")))?;
    let new = NewAssignment {
        title: blank_to_none(body.title).unwrap_or_else(|| template.name.clone()),
        template: template.id,
        instructions: body.instructions,
        schedule,
        minutes: body.minutes,
        focus: blank_to_none(body.focus),
        goal: None,
        remind_at: None,
    };
    let now = clock.now();
    let id = app
        .live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_assignment(me, now, new)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct AdjustBody {
    every: Option<String>,
    starts: Option<String>,
    ends: Option<String>,
    minutes: Option<i64>,
    focus: Option<String>,
    why: String,
}

async fn adjust(
    State(app): State<Arc<App>>,
    Path((doc, assignment)): Path<(String, String)>,
    Body(body): Body<AdjustBody>,
) -> Answer {
    let clock = clock()?;
    let today = clock.today();
    let id = AssignmentId::from(assignment);
    let wanted = id.clone();
    let current = with_workspace(&app, &doc, move |ws| {
        let data = ws.doc.data()?;
        data.assignments
            .get(&wanted)
            .map(|a| a.schedule.clone())
            .ok_or_else(|| {
                DocError::NotFound {
                    what: "assignment",
                    id: wanted.to_string(),
                }
                .into()
            })
    })
    .await?;
    let args = ScheduleArgs {
        every: blank_to_none(body.every),
        starts: blank_to_none(body.starts),
        ends: blank_to_none(body.ends),
    };
    let changes_schedule = args.every.is_some() || args.starts.is_some() || args.ends.is_some();
    let schedule = if changes_schedule {
        Some(
            schedule_from(&args, current, today)
                .map_err(|e| ApiError::from(e).about(Some("every")))?,
        )
    } else {
        None
    };
    let adjustment = AssignmentAdjustment {
        schedule,
        minutes: body.minutes.map(|m| (m != 0).then_some(m)),
        focus: body.focus.map(|f| Some(f).filter(|f| !f.trim().is_empty())),
    };
    let now = clock.now();
    let why = body.why;
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.adjust_assignment(me, now, &id, adjustment, &why)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("why")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct StepBody {
    done: bool,
}

async fn tick_step(
    State(app): State<Arc<App>>,
    Path((doc, goal, step)): Path<(String, String, String)>,
    Body(body): Body<StepBody>,
) -> Answer {
    let now = clock()?.now();
    let (goal, step) = (GoalId::from(goal), between_shared::StepId::from(step));
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.set_step_done(me, now, &goal, &step, body.done)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

/// The therapist looked at a client's homework: the caseload counts what is new from now.
async fn looked(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
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
async fn share(State(app): State<Arc<App>>, Path((doc, entry)): Path<(String, String)>) -> Answer {
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
        .read(&home, move |doc| {
            // A throwaway copy gives the entry with its comments; the private document
            // keeps it until the shared one holds it.
            doc.fork(b"share-copy").take_entry(&me, now, &wanted)
        })
        .await?
        .map_err(LiveError::Refused)?;
    app.live()
        .await
        .edit(&shared, move |doc, me| doc.adopt_entry(me, now, moved))
        .await?;
    app.live()
        .await
        .edit(&home, move |doc, me| {
            doc.take_entry(me, now, &id).map(|_| ())
        })
        .await?;
    Ok(stored(&app, Json(json!({ "private": false }))))
}

#[derive(Deserialize)]
struct GoalBody {
    title: String,
    #[serde(default)]
    why: String,
    #[serde(default)]
    steps: Vec<String>,
}

async fn new_goal(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<GoalBody>,
) -> Answer {
    let now = clock()?.now();
    let steps: Vec<String> = body
        .steps
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    let id = app
        .live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_goal(me, now, &body.title, &body.why, &steps)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("title")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct NewStepBody {
    text: String,
}

async fn add_step(
    State(app): State<Arc<App>>,
    Path((doc, goal)): Path<(String, String)>,
    Body(body): Body<NewStepBody>,
) -> Answer {
    let now = clock()?.now();
    let goal = GoalId::from(goal);
    let id = app
        .live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, _| {
            doc.add_step(now, &goal, &body.text)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("step")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct AcknowledgeBody {
    #[serde(default)]
    note: String,
}

/// The therapist has seen a risk flag (and says what they did): it leaves the caseload's top.
async fn acknowledge(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
    Body(body): Body<AcknowledgeBody>,
) -> Answer {
    let now = clock()?.now();
    let entry = EntryId::from(entry);
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.acknowledge_risk(me, now, &entry, &body.note)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("note")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

/// The homework as a file to keep: JSON that reads back, or a readable Markdown report.
async fn export(
    State(app): State<Arc<App>>,
    Path((doc, format)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (format, kind, extension) = match format.as_str() {
        "json" => (ExportFormat::Json, "application/json", "json"),
        "markdown" => (ExportFormat::Markdown, "text/markdown; charset=utf-8", "md"),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "export as json or markdown",
            ))
        }
    };
    let text = with_workspace(&app, &doc, move |ws| export_text(ws, format)).await?;
    let file = format!("attachment; filename=\"between-homework.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        text,
    )
        .into_response())
}

/// Who is who: this person's safety number, the other members', and this account's devices.
async fn privacy(State(app): State<Arc<App>>) -> Answer {
    with_session(&app, |session| {
        let devices: Vec<Value> = session
            .store
            .devices()?
            .into_iter()
            .map(|d| json!({ "name": d.name, "this_device": d.this_device, "id": d.device_id }))
            .collect();
        Ok(json!({ "whois": whois_json(&session)?, "devices": devices }))
    })
    .await
    .map(Json)
}

/// What the relay recorded of this account's homework: sign-ins, reads, writes, refusals.
async fn audit(State(app): State<Arc<App>>) -> Answer {
    with_session_online(&app, |session| {
        let args = AuditArgs {
            since: Some("30d".to_owned()),
            until: None,
            device: None,
            kind: Vec::new(),
        };
        audit_json(&session, &args)
    })
    .await
    .map(Json)
}

/// A code (and its QR code) for pairing a new device of this account.
async fn pairing(State(app): State<Arc<App>>) -> Answer {
    let made = with_session_online(&app, |session| new_pairing(&session)).await?;
    let qr = qrcode::QrCode::new(made.code.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let ca = if made.needs_ca_file {
        " --ca-file PRACTICE-CA.pem"
    } else {
        ""
    };
    Ok(Json(json!({
        "code": made.code,
        "expires": made.expires,
        "command": format!("between init --relay {} --pair {} --name \"{}\"{ca}", made.relay, made.code, app.live().await.me().name),
        "qr_svg": qr,
    })))
}

#[derive(Deserialize)]
struct StatusBody {
    status: AssignmentStatus,
    #[serde(default)]
    why: String,
}

/// Pause, resume, finish or archive an assignment, with why (the client sees it).
async fn assignment_status(
    State(app): State<Arc<App>>,
    Path((doc, assignment)): Path<(String, String)>,
    Body(body): Body<StatusBody>,
) -> Answer {
    let now = clock()?.now();
    let id = AssignmentId::from(assignment);
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.set_assignment_status(me, now, &id, body.status, &body.why)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("why")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct RemindBody {
    /// `HH:MM`, or none to stop reminding.
    at: Option<String>,
}

/// The time of day the client's devices remind them of an assignment (`between remind`).
async fn remind(
    State(app): State<Arc<App>>,
    Path((doc, assignment)): Path<(String, String)>,
    Body(body): Body<RemindBody>,
) -> Answer {
    let now = clock()?.now();
    let at = body
        .at
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<TimeOfDay>())
        .transpose()
        .map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).about(Some("at"))
        })?;
    let id = AssignmentId::from(assignment);
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, _| {
            doc.set_reminder(now, &id, at)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct DifficultyBody {
    difficulty: Option<i64>,
    obstacles: Option<Vec<String>>,
}

/// How hard the homework was and what got in the way.
async fn difficulty(
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
        .edit(&home, move |doc, me| {
            doc.update_entry(me, now, &id, update, false)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some(field)))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct ResolveBody {
    resolved: bool,
}

/// Resolves a comment's thread (or opens it again).
async fn resolve(
    State(app): State<Arc<App>>,
    Path((doc, comment)): Path<(String, String)>,
    Body(body): Body<ResolveBody>,
) -> Answer {
    let id = CommentId::from(comment);
    let home = comment_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    app.live()
        .await
        .edit(&home, move |doc, me| {
            doc.set_comment_resolved(me, now, &id, body.resolved)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
struct GoalStatusBody {
    status: GoalStatus,
}

async fn goal_status(
    State(app): State<Arc<App>>,
    Path((doc, goal)): Path<(String, String)>,
    Body(body): Body<GoalStatusBody>,
) -> Answer {
    let now = clock()?.now();
    let goal = GoalId::from(goal);
    app.live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, _| {
            doc.set_goal_status(now, &goal, body.status)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

/// A one-time invite for a new client (therapist).
async fn invite(State(app): State<Arc<App>>) -> Answer {
    let made = with_session_online(&app, |session| new_client_invite(&session, 14)).await?;
    let ca = if made.needs_ca_file {
        " --ca-file PRACTICE-CA.pem"
    } else {
        ""
    };
    Ok(Json(json!({
        "invite": made.text,
        "expires": chrono::DateTime::from_timestamp_millis(made.expires_at_ms)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string()),
        "fingerprint": made.fingerprint,
        "command": format!("between init --invite '{}' --name \"THEIR NAME\"{ca}", made.text),
    })))
}

/// The crisis resources a client sees: the homework's, or on a therapist's profile the
/// practice's.
async fn crisis_resources(State(app): State<Arc<App>>) -> Answer {
    with_session(&app, |session| {
        let text = match session.me.role {
            Role::Therapist => session.store.practice_crisis_resources()?,
            // What the client's device shows with a risky answer: always something, offline.
            // Never an error here: without the homework (not arrived, unreadable), the
            // built-in resources, as `between help-now` shows.
            Role::Client => Some(
                session
                    .workspace(None)
                    .and_then(|ws| Ok(ws.doc.data()?))
                    .map(|data| between_shared::risk::crisis_resources(&data).to_owned())
                    .unwrap_or_else(|_| between_shared::risk::DEFAULT_CRISIS_RESOURCES.to_owned()),
            ),
        };
        let from_practice = text
            .as_deref()
            .is_some_and(|t| t != between_shared::risk::DEFAULT_CRISIS_RESOURCES);
        Ok(json!({ "text": text, "from_practice": from_practice }))
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct CrisisBody {
    text: String,
}

/// The practice's crisis resources (therapist): kept on the profile for clients added later
/// and written into every client's homework now.
async fn set_crisis_resources(State(app): State<Arc<App>>, Body(body): Body<CrisisBody>) -> Answer {
    let text = body.text.trim().to_owned();
    if app.live().await.me().role != Role::Therapist {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the crisis resources are set by your therapist's practice",
        ));
    }
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the crisis resources cannot be empty: give the numbers and hours a client can call",
        )
        .about(Some("text")));
    }
    let kept = text.clone();
    with_session(&app, move |mut session| {
        Ok(session.store.set_practice_crisis_resources(&kept)?)
    })
    .await?;
    let now = clock()?.now();
    let mut clients = 0;
    for doc in app
        .live()
        .await
        .documents()
        .await?
        .into_iter()
        .filter(|d| !d.private)
    {
        let text = text.clone();
        app.live()
            .await
            .edit(&doc.id, move |doc, me| {
                doc.set_crisis_resources(me, now, &text)
            })
            .await?;
        clients += 1;
    }
    Ok(stored(&app, Json(json!({ "clients": clients }))))
}

#[derive(Deserialize)]
struct TemplateBody {
    name: String,
    #[serde(default)]
    description: String,
    fields: Vec<QuestionBody>,
}

#[derive(Deserialize)]
struct QuestionBody {
    label: String,
    #[serde(default)]
    help: String,
    kind: FieldKind,
    #[serde(default)]
    required: bool,
}

/// A field id from a question's words: lowercase letters and digits joined by `_`, kept apart
/// from the ids taken before it (`urge`, `urge_2`).
fn field_id(label: &str, taken: &[String]) -> String {
    let words: Vec<String> = label
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_lowercase)
        .collect();
    let base = if words.is_empty() {
        "question".to_owned()
    } else {
        words.join("_")
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// A custom worksheet (therapist), in this client's homework: checked like one from
/// `between template create` before anything is stored.
async fn new_template(
    State(app): State<Arc<App>>,
    Path(doc): Path<String>,
    Body(body): Body<TemplateBody>,
) -> Answer {
    let now = clock()?.now();
    let mut fields: Vec<FieldDef> = Vec::new();
    for question in body.fields {
        let taken: Vec<String> = fields.iter().map(|f| f.id.clone()).collect();
        fields.push(FieldDef {
            id: field_id(&question.label, &taken),
            label: question.label.trim().to_owned(),
            help: question.help.trim().to_owned(),
            kind: question.kind,
            required: question.required,
        });
    }
    let template = Template {
        id: TemplateId::from_string(""),
        name: body.name.trim().to_owned(),
        description: body.description.trim().to_owned(),
        kind: EntryKind::Custom,
        fields,
        created_by: None,
        created_at: None,
    };
    let id = app
        .live()
        .await
        .edit(&shared_doc(&app, &doc).await?, move |doc, me| {
            doc.add_template(me, now, template)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("name")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

/// Opens the profile again: the sharing pass runs (homework newly shared with this device
/// arrives, sharing that ended is noticed) and the app syncs every document the profile now
/// holds. Requests wait meanwhile; nothing typed is lost (edits are stored before they answer).
async fn reopen(State(app): State<Arc<App>>) -> Answer {
    let documents = app.ask_to_reopen().await?;
    Ok(stored(&app, Json(json!({ "documents": documents }))))
}

#[cfg(test)]
mod tests {
    use super::field_id;

    #[test]
    fn field_ids_come_from_the_words_and_stay_apart() {
        assert_eq!(
            field_id("How strong was the urge?", &[]),
            "how_strong_was_the"
        );
        assert_eq!(field_id("Urge", &["urge".to_owned()]), "urge_2");
        assert_eq!(
            field_id("Urge!", &["urge".to_owned(), "urge_2".to_owned()]),
            "urge_3"
        );
        assert_eq!(field_id("?!", &[]), "question");
        assert_eq!(field_id("Schlaf gut", &[]), "schlaf_gut");
    }
}
