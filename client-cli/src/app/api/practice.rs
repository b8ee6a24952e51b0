//! The person's and the practice's settings: export, privacy and the relay's record, pairing a
//! device, inviting a client, crisis resources, a therapist's own worksheets, opening the
//! profile again.

use super::*;

/// The homework as a file to keep: JSON that reads back, or a readable Markdown report.
pub(super) async fn export(
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
pub(super) async fn privacy(State(app): State<Arc<App>>) -> Answer {
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
pub(super) async fn audit(State(app): State<Arc<App>>) -> Answer {
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
pub(super) async fn pairing(State(app): State<Arc<App>>) -> Answer {
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

/// A one-time invite for a new client (therapist).
pub(super) async fn invite(State(app): State<Arc<App>>) -> Answer {
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
pub(super) async fn crisis_resources(State(app): State<Arc<App>>) -> Answer {
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
pub(super) struct CrisisBody {
    pub(super) text: String,
}

/// The practice's crisis resources (therapist): kept on the profile for clients added later
/// and written into every client's homework now.
pub(super) async fn set_crisis_resources(
    State(app): State<Arc<App>>,
    Body(body): Body<CrisisBody>,
) -> Answer {
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
            .edit(doc.id, move |doc, me| {
                doc.set_crisis_resources(me, now, &text)
            })
            .await?;
        clients += 1;
    }
    Ok(stored(&app, Json(json!({ "clients": clients }))))
}

#[derive(Deserialize)]
pub(super) struct TemplateBody {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) fields: Vec<QuestionBody>,
}

#[derive(Deserialize)]
pub(super) struct QuestionBody {
    pub(super) label: String,
    #[serde(default)]
    pub(super) help: String,
    pub(super) kind: FieldKind,
    #[serde(default)]
    pub(super) required: bool,
}

/// A field id from a question's words: lowercase letters and digits joined by `_`, kept apart
/// from the ids taken before it (`urge`, `urge_2`).
pub(super) fn field_id(label: &str, taken: &[String]) -> String {
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
pub(super) async fn new_template(
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
        .edit(shared_doc(&app, &doc).await?, move |doc, me| {
            doc.add_template(me, now, template)
        })
        .await
        .map_err(|e| ApiError::from(e).about(Some("name")))?;
    Ok(stored(&app, Json(json!({ "id": id }))))
}

/// Opens the profile again: the sharing pass runs (homework newly shared with this device
/// arrives, sharing that ended is noticed) and the app syncs every document the profile now
/// holds. Requests wait meanwhile; nothing typed is lost (edits are stored before they answer).
pub(super) async fn reopen(State(app): State<Arc<App>>) -> Answer {
    let documents = app.ask_to_reopen().await?;
    Ok(stored(&app, Json(json!({ "documents": documents }))))
}
