//! The plan: comments and their resolving, assigning and adjusting homework, goals and their
//! steps, an assignment's status and reminder, acknowledging a risk answer.

use super::*;

pub(super) async fn comment(
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
        .edit(home, move |doc, me| {
            doc.add_comment(me, now, target, reply_to, &text)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("text")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct AssignBody {
    pub(super) template: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) instructions: String,
    pub(super) every: Option<String>,
    pub(super) starts: Option<String>,
    pub(super) ends: Option<String>,
    pub(super) minutes: Option<i64>,
    pub(super) focus: Option<String>,
}

pub(super) fn blank_to_none(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

pub(super) async fn assign(
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
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_assignment(me, now, new)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct AdjustBody {
    pub(super) every: Option<String>,
    pub(super) starts: Option<String>,
    pub(super) ends: Option<String>,
    pub(super) minutes: Option<i64>,
    pub(super) focus: Option<String>,
    pub(super) why: String,
}

pub(super) async fn adjust(
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
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.adjust_assignment(me, now, &id, adjustment, &why)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("why")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct StepBody {
    pub(super) done: bool,
}

pub(super) async fn tick_step(
    State(app): State<Arc<App>>,
    Path((doc, goal, step)): Path<(String, String, String)>,
    Body(body): Body<StepBody>,
) -> Answer {
    let now = clock()?.now();
    let (goal, step) = (GoalId::from(goal), between_shared::StepId::from(step));
    app.live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.set_step_done(me, now, &goal, &step, body.done)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct GoalBody {
    pub(super) title: String,
    #[serde(default)]
    pub(super) why: String,
    #[serde(default)]
    pub(super) steps: Vec<String>,
}

pub(super) async fn new_goal(
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
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.create_goal(me, now, &body.title, &body.why, &steps)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("title")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct NewStepBody {
    pub(super) text: String,
}

pub(super) async fn add_step(
    State(app): State<Arc<App>>,
    Path((doc, goal)): Path<(String, String)>,
    Body(body): Body<NewStepBody>,
) -> Answer {
    let now = clock()?.now();
    let goal = GoalId::from(goal);
    let id = app
        .live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, _| {
            doc.add_step(now, &goal, &body.text)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("step")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub(super) struct AcknowledgeBody {
    #[serde(default)]
    pub(super) note: String,
}

/// The therapist has seen a risk flag (and says what they did): it leaves the caseload's top.
pub(super) async fn acknowledge(
    State(app): State<Arc<App>>,
    Path((doc, entry)): Path<(String, String)>,
    Body(body): Body<AcknowledgeBody>,
) -> Answer {
    let now = clock()?.now();
    let entry = EntryId::from(entry);
    app.live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.acknowledge_risk(me, now, &entry, &body.note)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("note")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct StatusBody {
    pub(super) status: AssignmentStatus,
    #[serde(default)]
    pub(super) why: String,
}

/// Pause, resume, finish or archive an assignment, with why (the client sees it).
pub(super) async fn assignment_status(
    State(app): State<Arc<App>>,
    Path((doc, assignment)): Path<(String, String)>,
    Body(body): Body<StatusBody>,
) -> Answer {
    let now = clock()?.now();
    let id = AssignmentId::from(assignment);
    app.live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.set_assignment_status(me, now, &id, body.status, &body.why)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("why")))?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct RemindBody {
    /// `HH:MM`, or none to stop reminding.
    pub(super) at: Option<String>,
}

/// The time of day the client's devices remind them of an assignment (`between remind`).
pub(super) async fn remind(
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
        .edit(shared_doc(&app, &doc).await?, move |doc, _| {
            doc.set_reminder(now, &id, at)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct ResolveBody {
    pub(super) resolved: bool,
}

/// Resolves a comment's thread (or opens it again).
pub(super) async fn resolve(
    State(app): State<Arc<App>>,
    Path((doc, comment)): Path<(String, String)>,
    Body(body): Body<ResolveBody>,
) -> Answer {
    let id = CommentId::from(comment);
    let home = comment_home(&app, &doc, &id).await?;
    let now = clock()?.now();
    app.live()
        .await
        .edit(home, move |doc, me| {
            doc.set_comment_resolved(me, now, &id, body.resolved)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}

#[derive(Deserialize)]
pub(super) struct GoalStatusBody {
    pub(super) status: GoalStatus,
}

pub(super) async fn goal_status(
    State(app): State<Arc<App>>,
    Path((doc, goal)): Path<(String, String)>,
    Body(body): Body<GoalStatusBody>,
) -> Answer {
    let now = clock()?.now();
    let goal = GoalId::from(goal);
    app.live()
        .await
        .edit(shared_doc(&app, &doc).await?, move |doc, _| {
            doc.set_goal_status(now, &goal, body.status)
        })
        .await?;
    Ok(stored(&app, Json(json!({ "saved": true }))))
}
