//! Profiles and documents: `init`, a therapist's `client` commands, and `doc save`/`doc merge`
//! for handing a homework document between devices by file. A client's private document never
//! leaves their devices this way: `doc save` writes the shared document only.

use super::print_json;
use crate::cli::{ClientCommand, DocCommand, InitArgs, RoleArg};
use crate::clock::Clock;
use crate::profile::{private_label, vacant_profile, Session, Workspace};
use crate::store::{ProfileRecord, Store};
use anyhow::{bail, Context, Result};
use between_shared::{Author, HomeworkDoc, Role, Timestamp};
use std::path::Path;

/// `between init`: creates this device's profile (and a client's homework document and private
/// document).
pub(crate) fn init(data_dir: Option<&Path>, profile: &str, args: &InitArgs) -> Result<()> {
    let name = args.name.trim();
    if name.is_empty() {
        bail!("--name cannot be empty: it is how the other person sees you");
    }
    let role = match args.role {
        Some(RoleArg::Client) => Role::Client,
        Some(RoleArg::Therapist) => Role::Therapist,
        None => bail!("say whose profile this is with --role client or --role therapist"),
    };
    if role == Role::Therapist && args.document.is_some() {
        bail!("--document is for a client's first device; a therapist adds clients with `between client import FILE`");
    }
    let (dir, path) = vacant_profile(data_dir, profile)?;
    let clock = Clock::from_env()?;
    let me = Author::new(role, name);
    let actor = uuid::Uuid::new_v4().as_bytes().to_vec();
    // Read (or create) the document before touching the disk, so a bad file leaves nothing behind.
    let document = match (role, &args.document) {
        (Role::Client, Some(file)) => Some(read_document(file, &actor)?),
        (Role::Client, None) => Some(HomeworkDoc::create(&actor, name, &me, clock.now())?),
        (Role::Therapist, _) => None,
    };
    // This device is the client's first, so it creates their private document (no other
    // device ever does: see `profile`).
    let private = match role {
        Role::Client => Some(HomeworkDoc::create(&actor, name, &me, clock.now())?),
        Role::Therapist => None,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("could not create the profile folder {}", dir.display()))?;
    let mut store = Store::create(
        &path,
        &ProfileRecord {
            role: role.as_str().to_string(),
            display_name: name.to_string(),
            actor_id: actor,
            created_at_ms: clock.now().0,
        },
    )?;
    if let Some(mut doc) = document {
        let meta = doc.meta()?;
        store.add_document(
            meta.document_id,
            &meta.client_name,
            clock.now().0,
            &doc.save(),
        )?;
    }
    if let Some(mut doc) = private {
        let meta = doc.meta()?;
        store.add_private_document(
            meta.document_id,
            &private_label(name),
            clock.now().0,
            &doc.save(),
            None,
        )?;
    }
    outln!(
        "Created the {role} profile '{profile}' for {name} at {}.",
        dir.display()
    );
    match role {
        Role::Client => {
            outln!("Next: `between today` shows what is due; `between goal create` sets a goal.")
        }
        Role::Therapist => outln!("Next: `between client new NAME` starts a client's homework."),
    }
    Ok(())
}

/// Reads a homework document file, checking it really is one and that every entry in it fits
/// its template (a file may come from a program outside Between).
fn read_document(file: &Path, actor: &[u8]) -> Result<HomeworkDoc> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("could not read the document file {}", file.display()))?;
    let doc = HomeworkDoc::load(&bytes, actor).with_context(|| {
        format!(
            "{} is not a Between homework document (or it is damaged)",
            file.display()
        )
    })?;
    let problems = doc.entry_problems()?;
    if !problems.is_empty() {
        bail!(
            "{} holds entries Between cannot accept, so nothing was read from it:\n  {}\nCorrect them in the program that wrote the file, or ask for a fresh copy.",
            file.display(),
            problems.join("\n  ")
        );
    }
    Ok(doc)
}

/// `between client ...` on a therapist's profile.
pub(crate) fn client(mut session: Session, command: &ClientCommand, json: bool) -> Result<()> {
    if session.me.role != Role::Therapist && !matches!(command, ClientCommand::List) {
        bail!("only a therapist's profile holds several clients; this profile is a client's");
    }
    let now = session.clock.now();
    match command {
        ClientCommand::End { name, yes } => {
            super::relay::client_end(&session, name, *yes)?;
        }
        ClientCommand::Invite { expires_in_days } => {
            super::relay::client_invite(&session, *expires_in_days, json)?;
        }
        ClientCommand::New { name } => new_client(&mut session, name, now, json)?,
        ClientCommand::Import { file, name } => {
            import_client(&mut session, file, name.as_deref(), now, json)?;
        }
        ClientCommand::Rename { name, new_name } => {
            let record = session.select(Some(name))?;
            let new_name = new_name.trim();
            if new_name.is_empty() {
                bail!("the new name cannot be empty");
            }
            session.store.rename_document(record.id, new_name)?;
            outln!("{} is now listed as {new_name}.", record.label);
        }
        ClientCommand::List => {
            let docs = session.shared_records()?;
            if json {
                let list: Vec<_> = docs
                    .iter()
                    .map(|d| serde_json::json!({"id": d.id, "name": d.label}))
                    .collect();
                return print_json(&list);
            }
            for doc in docs {
                outln!("{:<24} {}", doc.label, doc.id.short());
            }
        }
    }
    Ok(())
}

/// `between client new NAME`: starts a client's homework on this profile, with the practice's
/// crisis resources when it has them.
fn new_client(session: &mut Session, name: &str, now: Timestamp, json: bool) -> Result<()> {
    let mut doc = HomeworkDoc::create(&session.actor, name, &session.me, now)?;
    if let Some(text) = session.store.practice_crisis_resources()? {
        doc.set_crisis_resources(&session.me, now, &text)?;
    }
    let meta = doc.meta()?;
    session
        .store
        .add_document(meta.document_id, name.trim(), now.0, &doc.save())?;
    if json {
        return print_json(&serde_json::json!({ "id": meta.document_id, "name": name.trim() }));
    }
    outln!(
        "Started homework for {} (document {}). Give it to their device with `between doc save FILE --client \"{}\"`.",
        name.trim(),
        meta.document_id.short(),
        name.trim()
    );
    Ok(())
}

/// `between client import FILE`: adds a client's homework handed over by file, listed under
/// `name` or the name in it; fills in this therapist's name and the practice's crisis
/// resources where the document lacks them.
fn import_client(
    session: &mut Session,
    file: &Path,
    name: Option<&str>,
    now: Timestamp,
    json: bool,
) -> Result<()> {
    let mut doc = read_document(file, &session.actor)?;
    let meta = doc.meta()?;
    if meta.therapist_name.is_none() {
        doc.set_therapist_name(now, &session.me.name)?;
    }
    if let Some(text) = session.store.practice_crisis_resources()? {
        if doc.data()?.crisis_resources.is_none() {
            doc.set_crisis_resources(&session.me, now, &text)?;
        }
    }
    let label = name.unwrap_or(&meta.client_name).trim().to_string();
    session
        .store
        .add_document(meta.document_id, &label, now.0, &doc.save())?;
    if json {
        return print_json(&serde_json::json!({ "id": meta.document_id, "name": label }));
    }
    outln!(
        "Added {label}'s homework (document {}).",
        meta.document_id.short()
    );
    Ok(())
}

/// `between doc save|merge`: hands a document between devices by file.
pub(crate) fn doc(mut ws: Workspace, command: &DocCommand) -> Result<()> {
    match command {
        DocCommand::Save { file } => {
            let bytes = ws.doc.save();
            let tmp = file.with_extension("between-tmp");
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, file))
                .with_context(|| format!("could not write {}", file.display()))?;
            outln!(
                "Saved {}'s homework to {} ({} bytes).",
                ws.record.label,
                file.display(),
                bytes.len()
            );
            let private = ws.homework()?.private_count();
            if private > 0 {
                outln!(
                    "Your {} not in it: private entries stay on your own devices (`between entry share ID` shares one).",
                    if private == 1 { "private entry is".to_owned() } else { format!("{private} private entries are") }
                );
            }
        }
        DocCommand::Merge { file } => {
            let mut other = read_document(file, &ws.session.actor)?;
            let before = ws.doc.heads();
            ws.doc.merge_checked(&mut other)?;
            if ws.doc.heads() == before {
                outln!("Nothing new in {}.", file.display());
                return Ok(());
            }
            ws.save()?;
            outln!(
                "Merged {} into {}'s homework.",
                file.display(),
                ws.record.label
            );
        }
    }
    Ok(())
}
