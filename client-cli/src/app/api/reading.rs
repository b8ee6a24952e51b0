//! The read-only pages' data: the caseload, today and the week, the plan, templates, progress and
//! its charts, entries.

use super::*;

pub(super) async fn caseload(State(app): State<Arc<App>>) -> Answer {
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
pub(super) struct TodayQuery {
    /// `week=true` (or `1`): the whole week, Monday to Sunday, instead of today. Anything
    /// else is today, so a link that is a little off never fails.
    pub(super) week: Option<String>,
}

pub(super) async fn today(
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

pub(super) async fn plan(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::plan(ws))
        .await
        .map(Json)
}

pub(super) async fn templates(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::templates(ws))
        .await
        .map(Json)
}

pub(super) async fn progress(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    let today = clock()?.today();
    with_workspace(&app, &doc, move |ws| views::progress(ws, today))
        .await
        .map(Json)
}

pub(super) async fn chart(
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

pub(super) async fn entries(State(app): State<Arc<App>>, Path(doc): Path<String>) -> Answer {
    with_workspace(&app, &doc, |ws| views::entries(ws))
        .await
        .map(Json)
}

pub(super) async fn entry(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
) -> Answer {
    let id = EntryId::from(entry);
    with_workspace(&app, &doc, move |ws| views::entry(ws, &id))
        .await
        .map(Json)
}
