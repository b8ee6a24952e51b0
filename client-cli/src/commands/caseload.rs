//! A therapist's caseload: `between clients` lists every client's homework with what is new,
//! what needs attention first. "New" is per record: `show` records on a therapist's profile
//! which records it displayed, and `clients --seen NAME` marks a client's homework all seen.
//!
//! What is new is computed from each document alone (`between_shared::caseload`), offline.
//! What the therapist saw is kept per document in this device's store and never leaves it:
//! looking on the laptop does not mark a client seen on the phone.

use super::print_json;
use crate::cli::ClientsArgs;
use crate::profile::{Session, Workspace};
use crate::store::DocumentRecord;
use anyhow::{bail, Result};
use between_shared::caseload::{whats_new, LastLooked, SeenRecords, WhatsNew};
use between_shared::lookup::{find_record, RecordRef};
use between_shared::model::CommentTarget;
use between_shared::model::HomeworkData;
use between_shared::protocol::DocId;
use between_shared::{HomeworkDoc, Role, Timestamp};
use serde::Serialize;
use std::collections::HashMap;

/// Runs `between show ID`, then records on a therapist's profile that they were shown that
/// record and the comments shown with it: those are no longer new in `between clients`, and
/// nothing else is cleared (a client's profile records nothing).
pub(crate) fn showing(
    mut ws: Workspace,
    id: &str,
    view: impl FnOnce(&mut Workspace) -> Result<()>,
) -> Result<()> {
    view(&mut ws)?;
    if ws.me().role == Role::Therapist {
        let shown = shown_records(&ws.homework()?.data, id);
        let now = ws.session.clock.now().0;
        // The record was shown already: failing to remember that is worth a note, not an error.
        if let Err(err) = ws.session.store.record_seen(ws.record.id, &shown, now) {
            eprintln!(
                "Note: could not note that you saw this in {}'s homework ({err}); `between clients` may still show it as new.",
                ws.record.label
            );
        }
    }
    Ok(())
}

/// The records `between show PREFIX` displays: the record, and the comments on it.
fn shown_records(data: &HomeworkData, prefix: &str) -> Vec<String> {
    let Ok(record) = find_record(data, prefix) else {
        return Vec::new();
    };
    let (id, target): (String, Option<CommentTarget>) = match record {
        RecordRef::Entry(id) => (
            id.to_string(),
            Some(CommentTarget::Entry { id, field: None }),
        ),
        RecordRef::Assignment(id) => (id.to_string(), Some(CommentTarget::Assignment { id })),
        RecordRef::Goal(id) => (id.to_string(), Some(CommentTarget::Goal { id })),
        RecordRef::Comment(id) => (id.to_string(), None),
        RecordRef::Template(_) => return Vec::new(),
    };
    let on_it = |c: &CommentTarget| match (c, &target) {
        // An entry's comments include those on one of its fields.
        (CommentTarget::Entry { id, .. }, Some(CommentTarget::Entry { id: shown, .. })) => {
            id == shown
        }
        (c, Some(t)) => c == t,
        (_, None) => false,
    };
    let mut shown = vec![id];
    shown.extend(
        data.comments
            .iter()
            .filter(|(_, c)| on_it(&c.target))
            .map(|(cid, _)| cid.to_string()),
    );
    shown
}

/// Records that the therapist looked at `record` now.
pub(crate) fn mark_seen(session: &mut Session, record: &DocumentRecord) -> Result<()> {
    let clock = session.clock;
    session
        .store
        .record_looked_at(record.id, clock.now().0, &clock.today().to_string())?;
    Ok(())
}

/// What this profile holds of one client's homework.
enum Holding {
    /// Loaded, with what is new.
    Ready(Box<WhatsNew>),
    /// Stored but still empty on this device until a sync brings it.
    NotArrived,
    /// Stored, but it does not load.
    Unreadable(String),
}

/// One client of the caseload.
struct Row {
    record: DocumentRecord,
    looked: Option<LastLooked>,
    holding: Holding,
    ended: Option<SharingEnded>,
}

/// When sharing a client's homework ended, and who ended it.
#[derive(Debug, Clone, Copy, Serialize)]
struct SharingEnded {
    at: Timestamp,
    /// `client` (they took it back) or `you` (`between client end`).
    by: &'static str,
}

impl SharingEnded {
    fn describe(self) -> String {
        let day = self.at.to_datetime().format("%Y-%m-%d");
        match self.by {
            "you" => format!("you ended sharing on {day}; your copy stays on this device but no longer syncs"),
            _ => format!("the client stopped sharing on {day}; your copy stays on this device but no longer syncs"),
        }
    }
}

/// Loads a stored document's records; `Ok(None)` while it has not arrived on this device.
fn load(session: &Session, record: &DocumentRecord) -> Result<Option<HomeworkData>> {
    let bytes = session.store.load_document(record.id)?;
    match HomeworkDoc::load(&bytes, &session.actor) {
        Ok(doc) => Ok(Some(doc.data()?)),
        // A received document stays empty until the first sync fills it.
        Err(_)
            if automerge::AutoCommit::load(&bytes).is_ok_and(|mut d| d.get_heads().is_empty()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// The caseload: every shared document with what is new, the most pressing first.
fn rows(session: &Session) -> Result<Vec<Row>> {
    let looked: HashMap<DocId, LastLooked> = session
        .store
        .looked_at()?
        .into_iter()
        .filter_map(|(id, (at, day))| {
            // A day that does not read back counts as never looked: everything shows as new.
            let day = day.parse().ok()?;
            Some((
                id,
                LastLooked {
                    at: Timestamp(at),
                    day,
                },
            ))
        })
        .collect();
    let today = session.clock.today();
    let ended = session.store.sharing_ended()?;
    let mut rows = Vec::new();
    for record in session.shared_records()? {
        let ended = ended.get(&record.id).map(|(at, by_us)| SharingEnded {
            at: Timestamp(*at),
            by: if *by_us { "you" } else { "client" },
        });
        let looked = looked.get(&record.id).copied();
        let seen: SeenRecords = session
            .store
            .seen_records(record.id)?
            .into_iter()
            .map(|(id, at)| (id, Timestamp(at)))
            .collect();
        let holding = match load(session, &record) {
            Ok(Some(data)) => Holding::Ready(Box::new(whats_new(&data, looked, &seen, today))),
            Ok(None) => Holding::NotArrived,
            Err(err) => Holding::Unreadable(format!("{err:#}")),
        };
        rows.push(Row {
            record,
            looked,
            holding,
            ended,
        });
    }
    rows.sort_by(|a, b| match (&a.holding, &b.holding) {
        (Holding::Ready(x), Holding::Ready(y)) => x
            .by_attention(y)
            .then_with(|| a.record.label.cmp(&b.record.label)),
        (Holding::Ready(_), _) => std::cmp::Ordering::Less,
        (_, Holding::Ready(_)) => std::cmp::Ordering::Greater,
        _ => a.record.label.cmp(&b.record.label),
    });
    Ok(rows)
}

/// One client in `clients --json`.
#[derive(Serialize)]
struct RowJson<'a> {
    id: &'a DocId,
    name: &'a str,
    /// `ready`, `not-arrived` (run `between sync`) or `unreadable`.
    status: &'static str,
    last_looked: Option<LastLooked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nothing_new: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    needs_attention: Option<bool>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    news: Option<&'a WhatsNew>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sharing_ended: Option<SharingEnded>,
}

impl<'a> RowJson<'a> {
    fn new(row: &'a Row) -> Self {
        let (status, news, error) = match &row.holding {
            Holding::Ready(news) => ("ready", Some(news.as_ref()), None),
            Holding::NotArrived => ("not-arrived", None, None),
            Holding::Unreadable(err) => ("unreadable", None, Some(err.as_str())),
        };
        Self {
            id: &row.record.id,
            name: &row.record.label,
            status,
            last_looked: row.looked,
            nothing_new: news.map(WhatsNew::nothing_new),
            needs_attention: news.map(WhatsNew::needs_attention),
            news,
            error,
            sharing_ended: row.ended,
        }
    }
}

/// The caseload as `clients --json` prints it (and the app shows it): every client with what
/// needs attention, the most pressing first.
pub(crate) fn caseload_json(session: &Session) -> Result<serde_json::Value> {
    let rows = rows(session)?;
    Ok(serde_json::to_value(
        rows.iter().map(RowJson::new).collect::<Vec<_>>(),
    )?)
}

/// How long ago `at` was, in a few characters ("just now", "5m ago", "3h ago", "2d ago"); older
/// than two weeks, or in the future (another device's clock), the date.
fn ago(at: Timestamp, now: Timestamp) -> String {
    let minutes = (now.0 - at.0) / 60_000;
    match minutes {
        m if m < 0 => at.to_datetime().format("%Y-%m-%d").to_string(),
        0 => "just now".to_owned(),
        m if m < 60 => format!("{m}m ago"),
        m if m < 24 * 60 => format!("{}h ago", m / 60),
        m if m < 14 * 24 * 60 => format!("{}d ago", m / (24 * 60)),
        _ => at.to_datetime().format("%Y-%m-%d").to_string(),
    }
}

/// A count for the table: a dash for none, so what needs attention stands out.
fn count(n: usize) -> String {
    if n == 0 {
        "-".to_owned()
    } else {
        n.to_string()
    }
}

/// `between clients [--seen NAME]`.
pub(crate) fn clients(mut session: Session, args: &ClientsArgs, json: bool) -> Result<()> {
    if session.me.role != Role::Therapist {
        bail!("`between clients` lists a therapist's clients; this profile is a client's. `between today` shows what is due, and `between whois` your therapist's safety number");
    }
    if let Some(name) = &args.seen {
        return mark_client_seen(&mut session, name, json);
    }
    if json {
        return print_json(&caseload_json(&session)?);
    }
    let rows = rows(&session)?;
    if rows.is_empty() {
        outln!("You have no clients yet. `between client invite` makes an invite for a new client; their homework arrives with `between sync`.");
        return Ok(());
    }
    let now = session.clock.now();
    let width = rows
        .iter()
        .map(|r| r.record.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 24);
    outln!(
        "  {:<width$}  {:>7}  {:>8}  {:>10}  {:>7}  {:>6}  {:<10}  LOOKED",
        "CLIENT",
        "ENTRIES",
        "COMMENTS",
        "UNANSWERED",
        "OVERDUE",
        "MISSED",
        "ACTIVE"
    );
    let mut notes = Footnotes::default();
    for row in &rows {
        print_row(row, width, now, &mut notes)?;
    }
    print_legend(notes)
}

/// `between clients --seen NAME`: marks all of a client's homework seen as of now.
fn mark_client_seen(session: &mut Session, name: &str, json: bool) -> Result<()> {
    let record = session.select(Some(name))?;
    mark_seen(session, &record)?;
    if json {
        return print_json(&serde_json::json!({
            "id": record.id,
            "name": record.label,
            "seen_at": session.clock.now(),
        }));
    }
    outln!(
        "Marked {}'s homework as seen: `between clients` counts what is new from now on.",
        record.label
    );
    Ok(())
}

/// The marks of the caseload table that only some rows carry: the legend explains each one
/// only when it appears.
#[derive(Default, Clone, Copy)]
struct Footnotes {
    /// A client changed earlier entries ("1+2").
    edited: bool,
    /// A questionnaire raised a risk flag.
    risky: bool,
}

/// One client's line of the caseload table, with their risk flags and whether sharing ended
/// under it; notes in `notes` which marks the legend must explain.
fn print_row(row: &Row, width: usize, now: Timestamp, notes: &mut Footnotes) -> Result<()> {
    let name: String = row.record.label.chars().take(width).collect();
    let looked = row
        .looked
        .map_or_else(|| "never".to_owned(), |l| ago(l.at, now));
    match &row.holding {
        Holding::Ready(news) => {
            let mark = if news.needs_attention() { "!" } else { " " };
            let mut entries = count(news.new_entries.len());
            if !news.updated_entries.is_empty() {
                notes.edited = true;
                entries = format!("{}+{}", news.new_entries.len(), news.updated_entries.len());
            }
            let active = news
                .last_client_activity
                .map_or_else(|| "-".to_owned(), |at| ago(at, now));
            outln!(
                "{mark} {name:<width$}  {entries:>7}  {:>8}  {:>10}  {:>7}  {:>6}  {active:<10}  {looked}",
                count(news.new_comments.len()),
                count(news.unanswered_comments.len()),
                count(news.overdue.len()),
                count(news.missed.len()),
            );
            for flag in &news.risk {
                notes.risky = true;
                outln!("    {}", crate::render::risk_flag(flag));
            }
            if let Some(ended) = row.ended {
                outln!("    {}", ended.describe());
            }
        }
        Holding::NotArrived => {
            outln!("  {name:<width$}  homework not on this device yet — run `between sync`")
        }
        Holding::Unreadable(err) => {
            outln!("! {name:<width$}  could not be read: {err}")
        }
    }
    Ok(())
}

/// The legend under the caseload table: what the columns count, and the marks that appear.
fn print_legend(notes: Footnotes) -> Result<()> {
    outln!();
    outln!("! needs attention. New since you last looked: ENTRIES, COMMENTS and MISSED days by the client; until dealt with: UNANSWERED comments, OVERDUE homework.");
    if notes.risky {
        outln!("⚠ a questionnaire's risk flag: it stays until you acknowledge it with `between -c NAME risk ack ENTRY --note \"what you did\"`.");
    }
    if notes.edited {
        outln!("1+2: one new entry, and two earlier ones the client changed since.");
    }
    outln!("New is per record: `between show ID` marks what it shows seen; `between clients --seen NAME` marks all of a client's homework seen.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short_and_fall_back_to_the_date() {
        let now = Timestamp(1_772_442_000_000); // 2026-03-02 09:00 UTC
        let minutes = |m: i64| Timestamp(now.0 - m * 60_000);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(minutes(5), now), "5m ago");
        assert_eq!(ago(minutes(3 * 60), now), "3h ago");
        assert_eq!(ago(minutes(2 * 24 * 60), now), "2d ago");
        assert_eq!(ago(minutes(20 * 24 * 60), now), "2026-02-10");
        assert_eq!(ago(minutes(-90), now), "2026-03-02");
        assert_eq!(count(0), "-");
        assert_eq!(count(3), "3");
    }
}
