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
use between_shared::protocol::DocId;
use between_shared::reminders::TimeOfDay;
use between_shared::template::builtin::{field, slug};
use between_shared::template::{EntryKind, FieldDef, FieldKind, FieldValue, Template};
use between_shared::{
    AssignmentId, CommentId, DocError, EntryId, GoalId, HomeworkDoc, Role, TemplateId,
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

mod entries;
mod plan;
mod practice;
mod reading;

pub(crate) use entries::hex_heads;
use entries::*;
use plan::*;
use practice::*;
use reading::*;

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
    let doc = shared_doc(app, doc).await?;
    with_session(app, move |session| {
        let mut ws = session.workspace_by_id(doc)?;
        read(&mut ws)
    })
    .await
}

/// The shared homework `doc` names, if this device syncs it (a client's private document is
/// reached through the shared one's entries, never by its own id).
async fn shared_doc(app: &App, doc: &str) -> Result<DocId, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("this device holds no homework with the id {doc}"),
        )
    };
    let wanted: DocId = doc.parse().map_err(|_| unknown())?;
    if let Some(found) = app
        .live()
        .await
        .documents()
        .await?
        .into_iter()
        .find(|d| !d.private && d.id == wanted)
    {
        return Ok(found.id);
    }
    // Homework that arrived after the app started (a `between sync` beside it brought a new
    // client's): the profile holds it, but this app does not sync it yet.
    let arrived = with_session(app, move |session| {
        Ok(session
            .shared_records()?
            .into_iter()
            .find(|r| r.id == wanted)
            .map(|r| r.label))
    })
    .await?;
    Err(match arrived {
        Some(name) => ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "{name}'s homework arrived after the app started; press \"Look for new clients\" on the Clients page (or start `between app` again) to open it"
            ),
        ),
        None => unknown(),
    })
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

/// Where a change to an entry goes: the shared homework or the client's private document.
async fn entry_home(app: &App, doc: &str, entry: &EntryId) -> Result<DocId, ApiError> {
    let wanted = entry.to_string();
    let place = with_workspace(app, doc, move |ws| Ok(ws.find_entry(&wanted)?.0)).await?;
    home(app, doc, place).await
}

/// Where a comment lives: the shared homework, or the client's private document for a
/// comment on a private entry.
async fn comment_home(app: &App, doc: &str, comment: &CommentId) -> Result<DocId, ApiError> {
    let wanted = comment.to_string();
    let place = with_workspace(app, doc, move |ws| Ok(find_comment(ws, &wanted)?.0)).await?;
    home(app, doc, place).await
}

/// The document of `place`: the shared homework `doc`, or the client's private one.
async fn home(app: &App, doc: &str, place: Place) -> Result<DocId, ApiError> {
    match place {
        Place::Private => private_doc(app).await,
        Place::Shared => shared_doc(app, doc).await,
    }
}

async fn private_doc(app: &App) -> Result<DocId, ApiError> {
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
