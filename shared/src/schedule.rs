//! When homework is due: parsing and describing frequencies, the days a schedule falls on,
//! whether an assignment was active (not paused, done or archived) on a day, and what is due.
//!
//! Everything here is computed from the document and a `today` passed in by the caller, so
//! reminders need no server and no clock.
//!
//! Rules, in short:
//!
//! - A schedule occurs on a day within `starts_on..=ends_on`: every day (`daily`), on the listed
//!   weekdays (`weekly`), or only on its due day (`once`). A number of times a week
//!   (`3/week`) is tied to no day: it has one item per week (Monday to Sunday) with its count,
//!   due until done that many times, missed only once the week is over.
//! - An assignment is *active* on a day when the status in effect at the end of that day was
//!   `active`, read from the status changes in its history (their UTC date) and its current
//!   status. Before its first recorded status change it counts as having that change's old status
//!   from `starts_on` on, whenever it was created.
//! - An occurrence of a daily or weekly assignment is *done* when a complete entry for the
//!   assignment is dated on that day; a once-assignment is done by any complete entry for it.
//!   A draft that matches the same way makes the occurrence *in progress*.
//! - A weekday occurrence not done on its day is done by a complete entry on a day of the same
//!   week that is not itself scheduled: the earliest open weekday on or before that day (made
//!   up), else the earliest after it (done early); the item says on which day. Daily homework
//!   does not move: two check-ins on Tuesday do not make up for Monday.
//! - Entries dated after `today` never count as done before their day.
//! - A once-assignment is *overdue* when its due day has passed and it is not done.

use crate::error::ValidationError;
use crate::ids::{AssignmentId, TemplateId};
use crate::model::{
    AdjustmentKind, Assignment, AssignmentStatus, EntryStatus, Frequency, HomeworkData, Schedule,
};
use crate::time::{parse_weekday, weekday_name, Day, Timestamp};
use chrono::Weekday;
use serde::Serialize;

/// The formats [`Frequency::parse`] accepts, for error messages.
const ACCEPTED: &str =
    "write `daily`, `weekly:mon,wed,fri` (or `weekly mon wed fri`), `3/week` (or `3 times a week`), `once:2026-03-14` (or `once 2026-03-14`) or `once:+3` (due in 3 days)";

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

impl Frequency {
    /// Reads a frequency as people type it: `daily`, `weekly:mon,wed,fri` (also
    /// `weekly mon wed`, full day names allowed) or `once:2026-03-14` (also `once 2026-03-14`).
    ///
    /// Weekdays are stored as three-letter lowercase names, Monday first, without repeats.
    pub fn parse(text: &str) -> Result<Frequency, ValidationError> {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        if let Some(times) = times_a_week(&lower) {
            return match times {
                Some(times) if (1..=7).contains(&times) => Ok(Frequency::TimesAWeek { times }),
                _ => Err(invalid(format!(
                    "'{trimmed}': a week has room for 1 to 7 times, e.g. `3/week`"
                ))),
            };
        }
        let (head, rest) = match lower.find(|c: char| c == ':' || c.is_whitespace()) {
            Some(at) => (
                &lower[..at],
                lower[at..]
                    .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
                    .trim(),
            ),
            None => (lower.as_str(), ""),
        };
        match head {
            "daily" if rest.is_empty() => Ok(Frequency::Daily),
            "daily" => Err(invalid(format!(
                "'{trimmed}': `daily` takes no days or date; {ACCEPTED}"
            ))),
            "weekly" => parse_weekly(trimmed, rest),
            "once" => {
                if rest.is_empty() {
                    return Err(invalid(format!(
                        "'{trimmed}': `once` needs a due date, e.g. `once:2026-03-14` or `once:+3` (in 3 days)"
                    )));
                }
                rest.parse::<Day>()
                    .map(|due| Frequency::Once { due })
                    .map_err(|_| {
                        invalid(format!(
                            "'{trimmed}': '{rest}' is not a date; write it as YYYY-MM-DD, e.g. `once:2026-03-14`"
                        ))
                    })
            }
            _ => Err(invalid(format!(
                "'{trimmed}' is not a frequency; {ACCEPTED}"
            ))),
        }
    }

    /// [`Frequency::parse`], also taking a due date relative to `today`: `once:+3` is due in 3
    /// days (`once:+0` today), so a written example never goes stale.
    pub fn parse_on(text: &str, today: Day) -> Result<Frequency, ValidationError> {
        let lower = text.trim().to_ascii_lowercase();
        let relative = lower
            .strip_prefix("once")
            .map(|rest| rest.trim_start_matches(|c: char| c == ':' || c.is_whitespace()))
            .and_then(|rest| rest.strip_prefix('+'));
        let Some(days) = relative else {
            return Frequency::parse(text);
        };
        match days.trim().parse::<i64>() {
            Ok(n) if (0..=3660).contains(&n) => Ok(Frequency::Once {
                due: today.add_days(n),
            }),
            _ => Err(invalid(format!(
                "'{}': `once:+N` takes a number of days from today, 0 to 3660",
                text.trim()
            ))),
        }
    }

    /// A short description for people: "every day", "every Mon, Wed, Fri", "once, due 2026-03-14".
    pub fn describe(&self) -> String {
        match self {
            Frequency::Daily => "every day".to_string(),
            Frequency::TimesAWeek { times: 1 } => "once a week".to_string(),
            Frequency::TimesAWeek { times } => format!("{times} times a week"),
            Frequency::Once { due } => format!("once, due {due}"),
            Frequency::Weekly { days } => {
                let names: Vec<&str> = WEEK
                    .iter()
                    .filter(|w| days.iter().any(|d| parse_weekday(d) == Some(**w)))
                    .map(|w| title_weekday(*w))
                    .collect();
                if names.is_empty() {
                    "weekly, on no days".to_string()
                } else {
                    format!("every {}", names.join(", "))
                }
            }
        }
    }
}

/// `Some` when `lower` asks for a number of times a week — `3/week`, `3 times a week`, `3x a
/// week`, `3 per week`, `once a week`, `twice a week` — with the number (`None` when it is
/// not one); `None` when it is another kind of frequency.
fn times_a_week(lower: &str) -> Option<Option<i64>> {
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '/')
        .filter(|w| !w.is_empty())
        .collect();
    let (count, rest) = words.split_first()?;
    let rest: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|w| !matches!(*w, "times" | "time" | "x" | "a" | "per" | "each" | "every"))
        .collect();
    if !matches!(rest.as_slice(), ["week"] | ["wk"]) {
        return None;
    }
    Some(match *count {
        "once" => Some(1),
        "twice" => Some(2),
        number => number.trim_end_matches('x').parse().ok(),
    })
}

fn invalid(message: String) -> ValidationError {
    ValidationError::Invalid(message)
}

fn parse_weekly(original: &str, rest: &str) -> Result<Frequency, ValidationError> {
    let mut found = [false; 7];
    let mut any = false;
    for word in rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let day = strict_weekday(word).ok_or_else(|| {
            invalid(format!(
                "'{original}': '{word}' is not a weekday; use mon, tue, wed, thu, fri, sat, sun, e.g. `weekly:mon,wed,fri`"
            ))
        })?;
        found[day.num_days_from_monday() as usize] = true;
        any = true;
    }
    if !any {
        return Err(invalid(format!(
            "'{original}': `weekly` needs at least one weekday, e.g. `weekly:mon,wed,fri`"
        )));
    }
    let days = WEEK
        .iter()
        .filter(|w| found[w.num_days_from_monday() as usize])
        .map(|w| weekday_name(*w).to_string())
        .collect();
    Ok(Frequency::Weekly { days })
}

/// A weekday from a word that is at least three letters of its English name (`mon`, `tues`,
/// `thursday`); stricter than [`parse_weekday`], which only looks at the first three letters.
fn strict_weekday(word: &str) -> Option<Weekday> {
    let day = parse_weekday(word)?;
    let full = match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    };
    full.starts_with(&word.to_ascii_lowercase()).then_some(day)
}

fn title_weekday(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

/// Whether `day` lies within the schedule's `starts_on..=ends_on`.
fn in_window(schedule: &Schedule, day: Day) -> bool {
    day >= schedule.starts_on && schedule.ends_on.is_none_or(|end| day <= end)
}

/// Whether the schedule falls on `day`: within `starts_on..=ends_on`, and every day (daily), on a
/// listed weekday (weekly) or on the due day (once).
pub fn occurs_on(schedule: &Schedule, day: Day) -> bool {
    if !in_window(schedule, day) {
        return false;
    }
    match &schedule.frequency {
        Frequency::Daily => true,
        // Any day of the week will do: not tied to a day (see `due_today`, `due_between`).
        Frequency::TimesAWeek { .. } => false,
        Frequency::Weekly { days } => {
            let weekday = day.weekday();
            days.iter().any(|d| parse_weekday(d) == Some(weekday))
        }
        Frequency::Once { due } => *due == day,
    }
}

/// Every day from `from` to `to` (inclusive) that the schedule falls on, oldest first.
pub fn occurrences(schedule: &Schedule, from: Day, to: Day) -> Vec<Day> {
    if let Frequency::Once { due } = &schedule.frequency {
        let due = *due;
        return if due >= from && due <= to && occurs_on(schedule, due) {
            vec![due]
        } else {
            Vec::new()
        };
    }
    let start = from.max(schedule.starts_on);
    let end = match schedule.ends_on {
        Some(last) => to.min(last),
        None => to,
    };
    let mut days = Vec::new();
    let mut day = start;
    while day <= end {
        if occurs_on(schedule, day) {
            days.push(day);
        }
        let next = day.succ();
        if next == day {
            break;
        }
        day = next;
    }
    days
}

/// The schedule that applied to the assignment on `day`.
///
/// A frequency change keeps the schedule it replaced (`previous_schedule`); the new schedule
/// applies from the (UTC) day of the change on, the old one before it. So changing a daily
/// assignment to weekly does not turn the daily days already kept into misses.
pub fn schedule_on(assignment: &Assignment, day: Day) -> &Schedule {
    let mut changes: Vec<(&Timestamp, &Schedule)> = assignment
        .history
        .iter()
        .filter(|adj| adj.kind == AdjustmentKind::Frequency)
        .filter_map(|adj| adj.previous_schedule.as_ref().map(|prev| (&adj.at, prev)))
        .collect();
    changes.sort_by_key(|(at, _)| **at);
    changes
        .into_iter()
        .find(|(at, _)| Day(at.to_datetime().date_naive()) > day)
        .map_or(&assignment.schedule, |(_, previous)| previous)
}

/// Every day from `from` to `to` (inclusive) the assignment was scheduled on, by the schedule
/// that applied on each day (see [`schedule_on`]), oldest first.
pub fn assignment_occurrences(assignment: &Assignment, from: Day, to: Day) -> Vec<Day> {
    let mut boundaries: Vec<Day> = assignment
        .history
        .iter()
        .filter(|adj| adj.kind == AdjustmentKind::Frequency && adj.previous_schedule.is_some())
        .map(|adj| Day(adj.at.to_datetime().date_naive()))
        .filter(|day| *day > from && *day <= to)
        .collect();
    boundaries.sort();
    boundaries.dedup();
    let mut days = Vec::new();
    let mut start = from;
    for boundary in boundaries.into_iter().chain(std::iter::once(to.succ())) {
        let end = boundary.pred();
        if start <= end {
            days.extend(occurrences(schedule_on(assignment, start), start, end));
        }
        start = boundary;
    }
    days.dedup();
    days
}

/// The earliest day any schedule of the assignment (current or replaced) starts.
pub fn first_day(assignment: &Assignment) -> Day {
    assignment
        .history
        .iter()
        .filter_map(|adj| adj.previous_schedule.as_ref())
        .map(|s| s.starts_on)
        .fold(assignment.schedule.starts_on, Day::min)
}

fn parse_status(name: &str) -> Option<AssignmentStatus> {
    match name.trim().to_ascii_lowercase().as_str() {
        "active" => Some(AssignmentStatus::Active),
        "paused" => Some(AssignmentStatus::Paused),
        "done" => Some(AssignmentStatus::Done),
        "archived" => Some(AssignmentStatus::Archived),
        _ => None,
    }
}

/// The assignment's status in effect at the end of `day`.
///
/// Status changes are read from the history (kind `status`, dated by the UTC date of `at`,
/// ordered by time). Before the first change the assignment had that change's `from` status
/// (active if unreadable); from the day of the last change on, the current status applies (it is
/// the merged truth even if concurrent changes left the history out of order). Without any
/// recorded status change the current status applies throughout.
pub fn status_on(assignment: &Assignment, day: Day) -> AssignmentStatus {
    // (when, history position, day in UTC, new status, old status)
    let mut changes: Vec<(
        Timestamp,
        usize,
        Day,
        AssignmentStatus,
        Option<AssignmentStatus>,
    )> = assignment
        .history
        .iter()
        .enumerate()
        .filter(|(_, adj)| adj.kind == AdjustmentKind::Status)
        .filter_map(|(index, adj)| {
            let to = parse_status(&adj.to)?;
            let on = Day(adj.at.to_datetime().date_naive());
            Some((adj.at, index, on, to, parse_status(&adj.from)))
        })
        .collect();
    // Order by time, keeping history order for changes at the same instant.
    changes.sort_by_key(|(at, index, _, _, _)| (*at, *index));
    let Some(first) = changes.first() else {
        return assignment.status;
    };
    let last_index = changes.len() - 1;
    match changes.iter().rposition(|(_, _, on, _, _)| *on <= day) {
        None => first.4.unwrap_or(AssignmentStatus::Active),
        Some(i) if i == last_index => assignment.status,
        Some(i) => changes[i].3,
    }
}

/// Whether the assignment was active on `day`: its status in effect at the end of that day was
/// `active` (see [`status_on`]). Says nothing about whether the schedule falls on the day.
pub fn active_on(assignment: &Assignment, day: Day) -> bool {
    status_on(assignment, day) == AssignmentStatus::Active
}

/// Where one occurrence of an assignment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DueState {
    /// A complete entry fulfils it.
    Done,
    /// A draft entry for it exists, but nothing complete.
    InProgress,
    /// Not done yet.
    Due,
    /// A once-assignment whose due day has passed without a complete entry.
    Overdue,
    /// A daily or weekly occurrence on a past day that was not done.
    Missed,
}

/// One occurrence of an assignment that is (or was) due.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DueItem {
    /// The assignment.
    pub assignment: AssignmentId,
    /// Its title.
    pub title: String,
    /// The template its entries follow.
    pub template: TemplateId,
    /// The day the occurrence is for (the due day for once-assignments, also when overdue; for
    /// a number of times a week, the first day of the week the item stands for).
    pub day: Day,
    /// Done, in progress, due, overdue or missed.
    pub state: DueState,
    /// For a weekday occurrence done on another day of its week: that day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_on: Option<Day>,
    /// For a number of times a week: how many are done this week, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub week: Option<WeekCount>,
}

/// How far a week of "N times a week" has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeekCount {
    /// Times done this week (at most `of`).
    pub done: u32,
    /// Times asked for.
    pub of: u32,
}

/// Whether a complete entry counts as the homework done: every kind does, except a
/// behavioural-activation record saying the planned activity was not done.
fn fulfils(entry: &crate::model::Entry) -> bool {
    !(entry.kind == crate::template::EntryKind::BehaviouralActivation
        && entry.values.get(crate::template::builtin::field::DONE)
            == Some(&crate::template::FieldValue::YesNo(false)))
}

/// The days of the complete entries that do assignment `id`, dated up to `today` (an entry
/// dated in the future counts from its day on, never before), oldest first, one per entry.
fn done_days(data: &HomeworkData, id: &AssignmentId, today: Day) -> Vec<Day> {
    let mut days: Vec<Day> = data
        .entries
        .values()
        .filter(|e| {
            e.assignment.as_ref() == Some(id)
                && e.status == EntryStatus::Complete
                && e.date <= today
                && fulfils(e)
        })
        .map(|e| e.date)
        .collect();
    days.sort();
    days
}

/// How the weekday occurrences of `assignment` in the week starting `monday` were done, as
/// scheduled day → the day it was done. A complete entry on a scheduled day does that day. A
/// complete entry on a day of the week that is not scheduled does the earliest scheduled day
/// of that week still open on or before it (making up for one missed), else the earliest one
/// after it (done early). Only days scheduled by a weekday schedule move: two entries on one
/// day of a daily schedule do not make up for another day.
fn week_fill(
    data: &HomeworkData,
    id: &AssignmentId,
    assignment: &Assignment,
    monday: Day,
    today: Day,
) -> std::collections::BTreeMap<Day, Day> {
    let sunday = monday.add_days(6);
    let weekday_slots: Vec<Day> = assignment_occurrences(assignment, monday, sunday)
        .into_iter()
        .filter(|day| {
            active_on(assignment, *day)
                && matches!(
                    schedule_on(assignment, *day).frequency,
                    Frequency::Weekly { .. }
                )
        })
        .collect();
    let mut fill = std::collections::BTreeMap::new();
    let mut spare = Vec::new();
    for day in done_days(data, id, today)
        .into_iter()
        .filter(|d| *d >= monday && *d <= sunday)
    {
        if weekday_slots.contains(&day) {
            fill.entry(day).or_insert(day);
        } else if !assignment_occurrences(assignment, day, day).contains(&day) {
            spare.push(day);
        }
    }
    for done in spare {
        let open = |slot: &&Day| !fill.contains_key(*slot);
        let slot = weekday_slots
            .iter()
            .filter(open)
            .filter(|slot| **slot <= done)
            .min()
            .or_else(|| weekday_slots.iter().filter(open).min())
            .copied();
        if let Some(slot) = slot {
            fill.insert(slot, done);
        }
    }
    fill
}

/// How far the entries for `assignment` go towards its occurrence on `day`, seen on `today`:
/// `Some(Done)` (with the day it was done when that is another day of the week),
/// `Some(InProgress)`, `Some(Due)` for a behavioural-activation record that says the activity
/// was not done, or `None` when nothing matches. See the module docs for the rules.
fn occurrence_state(
    data: &HomeworkData,
    id: &AssignmentId,
    assignment: &Assignment,
    day: Day,
    today: Day,
) -> (Option<DueState>, Option<Day>) {
    let once = matches!(assignment.schedule.frequency, Frequency::Once { .. });
    if once {
        if !done_days(data, id, today).is_empty() {
            return (Some(DueState::Done), None);
        }
    } else if let Some(done) = week_fill(data, id, assignment, day.week_start(), today).get(&day) {
        return (Some(DueState::Done), (*done != day).then_some(*done));
    } else if done_days(data, id, today).contains(&day) {
        return (Some(DueState::Done), None);
    }
    let mut state = None;
    for entry in data.entries.values() {
        if entry.assignment.as_ref() != Some(id) || !(once || entry.date == day) {
            continue;
        }
        match entry.status {
            // A behavioural-activation record that says the activity was not done is honest
            // homework, but the activity is still to do.
            EntryStatus::Complete => state = state.or(Some(DueState::Due)),
            EntryStatus::Draft => state = Some(DueState::InProgress),
        }
    }
    (state, None)
}

/// Whether the occurrence of `assignment` on `day` is done, seen on `today`.
pub(crate) fn done_on(
    data: &HomeworkData,
    id: &AssignmentId,
    assignment: &Assignment,
    day: Day,
    today: Day,
) -> bool {
    occurrence_state(data, id, assignment, day, today).0 == Some(DueState::Done)
}

/// Times an "N times a week" assignment was done in the week starting `monday`, up to `today`.
pub(crate) fn times_done_in_week(
    data: &HomeworkData,
    id: &AssignmentId,
    monday: Day,
    today: Day,
) -> usize {
    let sunday = monday.add_days(6);
    done_days(data, id, today)
        .into_iter()
        .filter(|d| *d >= monday && *d <= sunday)
        .count()
}

/// The item of an "N times a week" assignment for the week starting `monday`, standing on
/// `day`; `None` when it is not active on any day of that week within its window.
fn week_item(
    data: &HomeworkData,
    id: &AssignmentId,
    assignment: &Assignment,
    monday: Day,
    today: Day,
) -> Option<DueItem> {
    let sunday = monday.add_days(6);
    let day = (0..7)
        .map(|n| monday.add_days(n))
        .find(|d| in_window(schedule_on(assignment, *d), *d) && active_on(assignment, *d))?;
    let Frequency::TimesAWeek { times } = schedule_on(assignment, day).frequency else {
        return None;
    };
    // A week the assignment is active on fewer days than N (its first or last, or around a
    // pause) asks no more than those days, as progress counts it.
    let active_days = (0..7)
        .map(|n| monday.add_days(n))
        .filter(|d| in_window(schedule_on(assignment, *d), *d) && active_on(assignment, *d))
        .count();
    let of = u32::try_from(times.clamp(1, 7))
        .unwrap_or(1)
        .min(u32::try_from(active_days).unwrap_or(7).max(1));
    let done = u32::try_from(times_done_in_week(data, id, monday, today)).unwrap_or(u32::MAX);
    let drafting = data.entries.values().any(|e| {
        e.assignment.as_ref() == Some(id)
            && e.status == EntryStatus::Draft
            && e.date >= monday
            && e.date <= sunday.min(today)
    });
    let state = if done >= of {
        DueState::Done
    } else if sunday < today {
        DueState::Missed
    } else if drafting {
        DueState::InProgress
    } else {
        DueState::Due
    };
    let mut item = item(id, assignment, day, state);
    item.week = Some(WeekCount {
        done: done.min(of),
        of,
    });
    Some(item)
}

fn item(id: &AssignmentId, assignment: &Assignment, day: Day, state: DueState) -> DueItem {
    DueItem {
        assignment: id.clone(),
        title: assignment.title.clone(),
        template: assignment.template.clone(),
        day,
        state,
        done_on: None,
        week: None,
    }
}

fn sort_items(items: &mut [DueItem]) {
    items.sort_by(|a, b| {
        a.day
            .cmp(&b.day)
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.assignment.cmp(&b.assignment))
    });
}

/// Whether assignment `id` is a once-assignment that has a complete entry dated up to
/// `today`: done, so it leaves the list of active homework (`between assignment list --all`
/// still shows it).
pub fn finished_once(data: &HomeworkData, id: &AssignmentId, today: Day) -> bool {
    let Some(assignment) = data.assignments.get(id) else {
        return false;
    };
    // The same test as the due logic: an activity record saying "not done" finishes nothing.
    matches!(assignment.schedule.frequency, Frequency::Once { .. })
        && !done_days(data, id, today).is_empty()
}

/// What is due on `today`: every assignment active today whose schedule falls on today (whatever
/// its state, so done ones can be shown ticked off); every "N times a week" assignment, as one
/// item for this week with its count; every once-assignment still to do whose window has opened
/// (`day` = its due day, state due or in progress); and every once-assignment whose due day has
/// passed without a complete entry (state [`DueState::Overdue`]). Sorted by day, then title.
pub fn due_today(data: &HomeworkData, today: Day) -> Vec<DueItem> {
    let mut items = Vec::new();
    for (id, assignment) in &data.assignments {
        if !active_on(assignment, today) {
            continue;
        }
        let schedule = schedule_on(assignment, today);
        if matches!(schedule.frequency, Frequency::TimesAWeek { .. }) {
            if in_window(schedule, today) {
                if let Some(mut item) = week_item(data, id, assignment, today.week_start(), today) {
                    item.day = today;
                    items.push(item);
                }
            }
        } else if occurs_on(schedule, today) {
            let (state, done_on) = occurrence_state(data, id, assignment, today, today);
            let mut item = item(id, assignment, today, state.unwrap_or(DueState::Due));
            item.done_on = done_on;
            items.push(item);
        } else if let Frequency::Once { due } = schedule.frequency {
            let (state, _) = occurrence_state(data, id, assignment, due, today);
            if state == Some(DueState::Done) || !occurs_on(schedule, due) {
                continue;
            }
            if due < today {
                items.push(item(id, assignment, due, DueState::Overdue));
            } else if schedule.starts_on <= today {
                items.push(item(id, assignment, due, state.unwrap_or(DueState::Due)));
            }
        }
    }
    sort_items(&mut items);
    items
}

/// Every occurrence from `from` to `to` (inclusive) of every assignment active on that day, for
/// views such as "this week". Past occurrences not done are [`DueState::Missed`] (or
/// [`DueState::Overdue`] for a once-assignment); today's and later ones are due, in progress or
/// done. An "N times a week" assignment has one item per week, missed only once its week is
/// over. Sorted by day, then title.
pub fn due_between(data: &HomeworkData, from: Day, to: Day, today: Day) -> Vec<DueItem> {
    let mut items = Vec::new();
    for (id, assignment) in &data.assignments {
        let mut monday = from.week_start();
        while monday <= to {
            if let Some(mut item) = week_item(data, id, assignment, monday, today) {
                if item.day <= to {
                    item.day = item.day.max(from);
                    items.push(item);
                }
            }
            let next = monday.add_days(7);
            if next == monday {
                break;
            }
            monday = next;
        }
        for day in assignment_occurrences(assignment, from, to) {
            if !active_on(assignment, day) {
                continue;
            }
            let (state, done_on) = occurrence_state(data, id, assignment, day, today);
            let state = match state {
                Some(state) if state == DueState::Done || day >= today => state,
                _ if day >= today => DueState::Due,
                _ if matches!(
                    schedule_on(assignment, day).frequency,
                    Frequency::Once { .. }
                ) =>
                {
                    DueState::Overdue
                }
                _ => DueState::Missed,
            };
            let mut item = item(id, assignment, day, state);
            item.done_on = done_on;
            items.push(item);
        }
    }
    sort_items(&mut items);
    items
}

#[cfg(test)]
pub(crate) mod testkit {
    //! A small builder for homework documents in tests.
    #![allow(clippy::unwrap_used)]

    use crate::author::{Author, Role};
    use crate::ids::{AdjustmentId, AssignmentId, EntryId, GoalId, StepId, TemplateId};
    use crate::model::{
        Adjustment, AdjustmentKind, Assignment, AssignmentStatus, Entry, EntryStatus, Frequency,
        Goal, GoalStatus, HomeworkData, Meta, Schedule, Step, SCHEMA_VERSION,
    };
    use crate::protocol::DocId;
    use crate::template::{EntryKind, FieldValue};
    use crate::time::{Day, Timestamp};
    use autosurgeon::Text;
    use std::collections::BTreeMap;

    /// A day from its text form.
    pub(crate) fn d(text: &str) -> Day {
        text.parse().unwrap()
    }

    /// Noon UTC on the given day.
    pub(crate) fn noon(text: &str) -> Timestamp {
        let day = d(text);
        Timestamp::from_datetime(day.0.and_hms_opt(12, 0, 0).unwrap().and_utc())
    }

    pub(crate) fn therapist() -> Author {
        Author::new(Role::Therapist, "Dr T")
    }

    fn client() -> Author {
        Author::new(Role::Client, "Sam")
    }

    /// Builds a [`HomeworkData`] step by step.
    pub(crate) struct Doc {
        pub(crate) data: HomeworkData,
        counter: u32,
    }

    impl Doc {
        pub(crate) fn new() -> Self {
            Self {
                data: HomeworkData {
                    schema: SCHEMA_VERSION,
                    meta: Meta {
                        document_id: DocId([1; 16]),
                        client_name: "Sam".into(),
                        therapist_name: Some("Dr T".into()),
                        created_by: client(),
                        created_at: noon("2026-01-01"),
                    },
                    goals: BTreeMap::new(),
                    assignments: BTreeMap::new(),
                    entries: BTreeMap::new(),
                    comments: BTreeMap::new(),
                    templates: BTreeMap::new(),
                    risk_acknowledgements: BTreeMap::new(),
                    crisis_resources: None,
                },
                counter: 0,
            }
        }

        fn next(&mut self, prefix: &str) -> String {
            self.counter += 1;
            format!("{prefix}{:04}", self.counter)
        }

        /// Adds an active assignment; returns its id.
        pub(crate) fn assign(
            &mut self,
            title: &str,
            template: &str,
            frequency: &str,
            starts_on: &str,
            ends_on: Option<&str>,
        ) -> AssignmentId {
            let id = AssignmentId::from_string(self.next("a"));
            self.data.assignments.insert(
                id.clone(),
                Assignment {
                    title: title.into(),
                    template: TemplateId::from_string(template),
                    instructions: Text::with_value(""),
                    schedule: Schedule {
                        frequency: Frequency::parse(frequency).unwrap(),
                        starts_on: d(starts_on),
                        ends_on: ends_on.map(d),
                    },
                    minutes: None,
                    focus: None,
                    status: AssignmentStatus::Active,
                    goal: None,
                    history: Vec::new(),
                    created_by: therapist(),
                    created_at: noon(starts_on),
                    remind_at: None,
                },
            );
            id
        }

        /// Records a status change at noon UTC of `on`.
        pub(crate) fn set_status(&mut self, id: &AssignmentId, on: &str, to: AssignmentStatus) {
            let assignment = self.data.assignments.get_mut(id).unwrap();
            let adjustment = Adjustment {
                id: AdjustmentId::from_string(format!("adj{}", assignment.history.len())),
                kind: AdjustmentKind::Status,
                from: assignment.status.as_str().into(),
                to: to.as_str().into(),
                previous_schedule: None,
                why: String::new(),
                by: therapist(),
                at: noon(on),
            };
            assignment.history.push(adjustment);
            assignment.status = to;
        }

        /// Adds an entry with the given values; returns its id.
        pub(crate) fn entry(
            &mut self,
            assignment: Option<&AssignmentId>,
            template: &str,
            kind: EntryKind,
            date: &str,
            status: EntryStatus,
            values: Vec<(&str, FieldValue)>,
        ) -> EntryId {
            let id = EntryId::from_string(self.next("e"));
            let at = noon(date);
            self.data.entries.insert(
                id.clone(),
                Entry {
                    assignment: assignment.cloned(),
                    template: TemplateId::from_string(template),
                    kind,
                    date: d(date),
                    status,
                    values: values
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                    difficulty: None,
                    obstacles: BTreeMap::new(),
                    created_by: client(),
                    created_at: at,
                    updated_by: client(),
                    updated_at: at,
                    completed_at: (status == EntryStatus::Complete).then_some(at),
                },
            );
            id
        }

        /// A complete entry for an assignment with no values (a journal, say).
        pub(crate) fn done(&mut self, assignment: &AssignmentId, date: &str) -> EntryId {
            self.entry(
                Some(assignment),
                "journal",
                EntryKind::Journal,
                date,
                EntryStatus::Complete,
                Vec::new(),
            )
        }

        /// A draft entry for an assignment with no values.
        pub(crate) fn draft(&mut self, assignment: &AssignmentId, date: &str) -> EntryId {
            self.entry(
                Some(assignment),
                "journal",
                EntryKind::Journal,
                date,
                EntryStatus::Draft,
                Vec::new(),
            )
        }

        /// Adds a goal with steps (text, done); returns its id.
        pub(crate) fn goal(
            &mut self,
            title: &str,
            created: &str,
            status: GoalStatus,
            steps: &[(&str, bool)],
        ) -> GoalId {
            let id = GoalId::from_string(self.next("g"));
            let steps = steps
                .iter()
                .enumerate()
                .map(|(i, (text, done))| Step {
                    id: StepId::from_string(format!("s{i}")),
                    text: (*text).into(),
                    done: *done,
                    done_at: None,
                    done_by: None,
                })
                .collect();
            self.data.goals.insert(
                id.clone(),
                Goal {
                    title: title.into(),
                    why: Text::with_value(""),
                    steps,
                    status,
                    created_by: client(),
                    created_at: noon(created),
                },
            );
            id
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::testkit::{d, noon, therapist, Doc};
    use super::*;
    use crate::ids::AdjustmentId;
    use crate::model::Adjustment;
    use crate::template::{EntryKind, FieldValue};

    fn schedule(frequency: &str, starts_on: &str, ends_on: Option<&str>) -> Schedule {
        Schedule {
            frequency: Frequency::parse(frequency).unwrap(),
            starts_on: d(starts_on),
            ends_on: ends_on.map(d),
        }
    }

    fn weekly(days: &[&str]) -> Frequency {
        Frequency::Weekly {
            days: days.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_once_assignment_is_finished_by_a_complete_entry_only() {
        let mut doc = Doc::new();
        let once = doc.assign("Letter", "journal", "once:2026-01-09", "2026-01-05", None);
        let daily = doc.assign("Mood", "journal", "daily", "2026-01-05", None);
        doc.entry(
            Some(&daily),
            "journal",
            EntryKind::Journal,
            "2026-01-06",
            EntryStatus::Complete,
            vec![],
        );
        assert!(
            !finished_once(&doc.data, &daily, d("2026-01-10")),
            "a daily assignment never finishes"
        );
        doc.entry(
            Some(&once),
            "journal",
            EntryKind::Journal,
            "2026-01-06",
            EntryStatus::Draft,
            vec![],
        );
        assert!(
            !finished_once(&doc.data, &once, d("2026-01-10")),
            "a draft does not finish it"
        );
        doc.entry(
            Some(&once),
            "journal",
            EntryKind::Journal,
            "2026-01-07",
            EntryStatus::Complete,
            vec![],
        );
        // Seen on a day before the entry's date, it is not finished yet.
        assert!(!finished_once(&doc.data, &once, d("2026-01-06")));
        assert!(finished_once(&doc.data, &once, d("2026-01-07")));
    }

    #[test]
    fn once_takes_a_due_date_relative_to_today() {
        let today = d("2026-12-05");
        assert_eq!(
            Frequency::parse_on("once:+3", today).unwrap(),
            Frequency::Once {
                due: d("2026-12-08")
            }
        );
        assert_eq!(
            Frequency::parse_on(" Once +0 ", today).unwrap(),
            Frequency::Once { due: today }
        );
        assert_eq!(
            Frequency::parse_on("daily", today).unwrap(),
            Frequency::Daily
        );
        for bad in ["once:+", "once:+-1", "once:+x", "once:+99999"] {
            let err = Frequency::parse_on(bad, today).unwrap_err().to_string();
            assert!(err.contains("number of days"), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_accepted_forms() {
        assert_eq!(Frequency::parse("daily").unwrap(), Frequency::Daily);
        assert_eq!(Frequency::parse("  Daily ").unwrap(), Frequency::Daily);
        assert_eq!(
            Frequency::parse("weekly:mon,wed,fri").unwrap(),
            weekly(&["mon", "wed", "fri"])
        );
        assert_eq!(
            Frequency::parse("weekly mon wed").unwrap(),
            weekly(&["mon", "wed"])
        );
        // Any order, repeats, full names and mixed separators; stored Monday first.
        assert_eq!(
            Frequency::parse("Weekly: Friday, mon tues,  MON").unwrap(),
            weekly(&["mon", "tue", "fri"])
        );
        assert_eq!(
            Frequency::parse("once:2026-03-14").unwrap(),
            Frequency::Once {
                due: d("2026-03-14")
            }
        );
        assert_eq!(
            Frequency::parse("once 2026-03-14").unwrap(),
            Frequency::Once {
                due: d("2026-03-14")
            }
        );
    }

    #[test]
    fn a_number_of_times_a_week_is_read_as_people_say_it() {
        for (text, times) in [
            ("3/week", 3),
            ("3 times a week", 3),
            ("3 times per week", 3),
            ("3x a week", 3),
            ("once a week", 1),
            ("Twice a week", 2),
            ("7/week", 7),
        ] {
            assert_eq!(
                Frequency::parse(text).unwrap(),
                Frequency::TimesAWeek { times },
                "{text}"
            );
        }
        assert_eq!(
            Frequency::TimesAWeek { times: 3 }.describe(),
            "3 times a week"
        );
        assert_eq!(Frequency::TimesAWeek { times: 1 }.describe(), "once a week");
        for bad in ["0/week", "8 times a week", "many times a week"] {
            let err = Frequency::parse(bad).unwrap_err().to_string();
            assert!(err.contains("1 to 7"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_number_of_times_a_week_counts_any_day_and_misses_only_a_week_that_is_over() {
        let mut doc = Doc::new();
        // From Monday 2 March, 3 times a week.
        let walk = doc.assign("Walk", "journal", "3/week", "2026-03-02", None);
        doc.done(&walk, "2026-03-03");
        doc.done(&walk, "2026-03-03"); // twice on one day counts twice
        let wednesday = d("2026-03-04");
        let today = due_today(&doc.data, wednesday);
        assert_eq!(today.len(), 1);
        assert_eq!(today[0].state, DueState::Due);
        assert_eq!(today[0].day, wednesday);
        assert_eq!(today[0].week, Some(WeekCount { done: 2, of: 3 }));
        doc.done(&walk, "2026-03-04");
        assert_eq!(due_today(&doc.data, wednesday)[0].state, DueState::Done);
        // The week view: one item per week; last week's is missed only once it is over.
        doc.done(&walk, "2026-03-10");
        let weeks = due_between(&doc.data, d("2026-03-02"), d("2026-03-15"), d("2026-03-12"));
        let states: Vec<(Day, DueState, Option<WeekCount>)> =
            weeks.iter().map(|i| (i.day, i.state, i.week)).collect();
        assert_eq!(
            states,
            vec![
                (
                    d("2026-03-02"),
                    DueState::Done,
                    Some(WeekCount { done: 3, of: 3 })
                ),
                (
                    d("2026-03-09"),
                    DueState::Due,
                    Some(WeekCount { done: 1, of: 3 })
                ),
            ]
        );
        let later = due_between(&doc.data, d("2026-03-09"), d("2026-03-15"), d("2026-03-16"));
        assert_eq!(later[0].state, DueState::Missed);
        // Nothing is tied to a day: no weekday occurrences.
        assert!(occurrences(
            &doc.data.assignments[&walk].schedule,
            d("2026-03-02"),
            d("2026-03-08")
        )
        .is_empty());
    }

    #[test]
    fn a_weekday_done_on_another_day_of_its_week_is_done_there_not_missed() {
        let mut doc = Doc::new();
        let walk = doc.assign("Walk", "journal", "weekly:mon,wed,fri", "2026-03-02", None);
        doc.done(&walk, "2026-03-03"); // Tuesday: makes up for Monday
        doc.done(&walk, "2026-03-04"); // Wednesday, on its day
        doc.done(&walk, "2026-03-07"); // Saturday: makes up for Friday
        doc.done(&walk, "2026-03-08"); // Sunday: nothing left open that week
        let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-08"), d("2026-03-09"));
        let seen: Vec<(Day, DueState, Option<Day>)> =
            week.iter().map(|i| (i.day, i.state, i.done_on)).collect();
        assert_eq!(
            seen,
            vec![
                (d("2026-03-02"), DueState::Done, Some(d("2026-03-03"))),
                (d("2026-03-04"), DueState::Done, None),
                (d("2026-03-06"), DueState::Done, Some(d("2026-03-07"))),
            ]
        );
        // Done early: Tuesday's entry counts for that week's Wednesday when Monday was done.
        let mut doc = Doc::new();
        let walk = doc.assign("Walk", "journal", "weekly:mon,wed", "2026-03-02", None);
        doc.done(&walk, "2026-03-02");
        doc.done(&walk, "2026-03-03");
        let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-08"), d("2026-03-03"));
        assert_eq!(week[1].state, DueState::Done);
        assert_eq!(week[1].done_on, Some(d("2026-03-03")));
        // Daily homework does not move: two on Tuesday leave Monday missed.
        let mut doc = Doc::new();
        let mood = doc.assign("Mood", "journal", "daily", "2026-03-02", None);
        doc.done(&mood, "2026-03-03");
        doc.done(&mood, "2026-03-03");
        let days = due_between(&doc.data, d("2026-03-02"), d("2026-03-03"), d("2026-03-04"));
        assert_eq!(days[0].state, DueState::Missed);
    }

    #[test]
    fn a_short_first_week_asks_no_more_than_its_days_and_a_not_done_record_finishes_nothing() {
        let mut doc = Doc::new();
        // 3 times a week from Saturday 7 March: that week has two days.
        let walk = doc.assign("Walk", "journal", "3/week", "2026-03-07", None);
        let item = &due_today(&doc.data, d("2026-03-07"))[0];
        assert_eq!(item.week, Some(WeekCount { done: 0, of: 2 }));
        doc.done(&walk, "2026-03-07");
        doc.done(&walk, "2026-03-08");
        let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-08"), d("2026-03-09"));
        assert_eq!(week[0].state, DueState::Done);

        // A behavioural-activation record saying "not done" does not finish a once-assignment.
        let plan = doc.assign(
            "Plan",
            "behavioural-activation",
            "once:2026-03-10",
            "2026-03-07",
            None,
        );
        doc.entry(
            Some(&plan),
            "behavioural-activation",
            EntryKind::BehaviouralActivation,
            "2026-03-09",
            EntryStatus::Complete,
            vec![("done", FieldValue::YesNo(false))],
        );
        assert!(!finished_once(&doc.data, &plan, d("2026-03-09")));
        // Days at the calendar's limits do not panic.
        assert_eq!(
            Day(chrono::NaiveDate::MAX).add_days(7),
            Day(chrono::NaiveDate::MAX)
        );
    }

    #[test]
    fn an_entry_dated_after_today_never_counts_today() {
        let mut doc = Doc::new();
        let letter = doc.assign("Letter", "journal", "once:2026-03-06", "2026-03-02", None);
        let walk = doc.assign("Walk", "journal", "weekly:mon,fri", "2026-03-02", None);
        doc.done(&letter, "2026-03-05");
        doc.done(&walk, "2026-03-03"); // Tuesday, seen on Monday: in the future
        let monday = d("2026-03-02");
        let today = due_today(&doc.data, monday);
        assert!(today.iter().all(|i| i.state == DueState::Due), "{today:?}");
        assert!(!finished_once(&doc.data, &letter, monday));
        // From its day on, it counts.
        assert!(finished_once(&doc.data, &letter, d("2026-03-05")));
    }

    proptest::proptest! {
        /// However entries fall in a week, a weekday schedule never shows more occurrences done
        /// than there are complete entries that week, nor more than it schedules.
        #[test]
        fn a_week_never_counts_more_done_than_entries_or_scheduled_days(
            days in proptest::collection::vec(0i64..7, 0..10),
            listed in proptest::sample::subsequence(vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 1..7),
        ) {
            let mut doc = Doc::new();
            let every = format!("weekly:{}", listed.join(","));
            let a = doc.assign("A", "journal", &every, "2026-03-02", None);
            for n in &days {
                doc.done(&a, &d("2026-03-02").add_days(*n).to_string());
            }
            let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-08"), d("2026-03-09"));
            let done = week.iter().filter(|i| i.state == DueState::Done).count();
            proptest::prop_assert!(done <= days.len());
            proptest::prop_assert!(done <= listed.len());
            proptest::prop_assert_eq!(week.len(), listed.len());
        }
    }

    #[test]
    fn parse_errors_say_what_is_accepted() {
        for bad in ["", "monthly", "every day", "sometimes:mon"] {
            let err = Frequency::parse(bad).unwrap_err().to_string();
            assert!(err.contains("daily"), "{bad}: {err}");
            assert!(err.contains("weekly:mon,wed,fri"), "{bad}: {err}");
            assert!(err.contains("once:2026-03-14"), "{bad}: {err}");
        }
        let err = Frequency::parse("weekly:mon,funday")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'funday' is not a weekday"), "{err}");
        let err = Frequency::parse("weekly:monkey").unwrap_err().to_string();
        assert!(err.contains("'monkey' is not a weekday"), "{err}");
        let err = Frequency::parse("weekly").unwrap_err().to_string();
        assert!(err.contains("at least one weekday"), "{err}");
        let err = Frequency::parse("once:14/03/2026").unwrap_err().to_string();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        let err = Frequency::parse("once").unwrap_err().to_string();
        assert!(err.contains("needs a due date"), "{err}");
        let err = Frequency::parse("daily:mon").unwrap_err().to_string();
        assert!(err.contains("takes no days"), "{err}");
        assert!(matches!(
            Frequency::parse("nope"),
            Err(ValidationError::Invalid(_))
        ));
    }

    #[test]
    fn describes_frequencies() {
        assert_eq!(Frequency::Daily.describe(), "every day");
        assert_eq!(
            Frequency::parse("weekly:fri,mon,wed").unwrap().describe(),
            "every Mon, Wed, Fri"
        );
        assert_eq!(
            Frequency::parse("once 2026-03-14").unwrap().describe(),
            "once, due 2026-03-14"
        );
        assert_eq!(weekly(&[]).describe(), "weekly, on no days");
        // Stored text from other versions is read leniently.
        assert_eq!(
            weekly(&["Sunday", "bogus", "tue"]).describe(),
            "every Tue, Sun"
        );
    }

    #[test]
    fn parse_then_describe_round_trips_through_storage() {
        for text in ["daily", "weekly:mon,thu,sun", "once:2026-12-31"] {
            let f = Frequency::parse(text).unwrap();
            let json = serde_json::to_string(&f).unwrap();
            let back: Frequency = serde_json::from_str(&json).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn daily_occurs_within_its_window() {
        let s = schedule("daily", "2026-03-02", Some("2026-03-04"));
        assert!(!occurs_on(&s, d("2026-03-01")));
        assert!(occurs_on(&s, d("2026-03-02")));
        assert!(occurs_on(&s, d("2026-03-04")));
        assert!(!occurs_on(&s, d("2026-03-05")));
        assert_eq!(
            occurrences(&s, d("2026-02-01"), d("2026-04-01")),
            vec![d("2026-03-02"), d("2026-03-03"), d("2026-03-04")]
        );
        let open = schedule("daily", "2026-03-02", None);
        assert_eq!(
            occurrences(&open, d("2026-03-10"), d("2026-03-11")).len(),
            2
        );
        assert!(occurrences(&open, d("2026-03-11"), d("2026-03-10")).is_empty());
    }

    #[test]
    fn weekly_occurs_on_listed_days() {
        // 2026-03-02 is a Monday.
        let s = schedule("weekly:mon,wed,fri", "2026-03-04", None);
        assert!(!occurs_on(&s, d("2026-03-02")), "before start");
        assert!(occurs_on(&s, d("2026-03-04")));
        assert!(!occurs_on(&s, d("2026-03-05")));
        assert_eq!(
            occurrences(&s, d("2026-03-01"), d("2026-03-15")),
            vec![
                d("2026-03-04"),
                d("2026-03-06"),
                d("2026-03-09"),
                d("2026-03-11"),
                d("2026-03-13")
            ]
        );
    }

    #[test]
    fn once_occurs_only_on_its_due_day() {
        let s = schedule("once:2026-03-14", "2026-03-01", None);
        assert!(occurs_on(&s, d("2026-03-14")));
        assert!(!occurs_on(&s, d("2026-03-13")));
        assert!(!occurs_on(&s, d("2026-03-15")));
        assert_eq!(
            occurrences(&s, d("2026-03-01"), d("2026-03-31")),
            vec![d("2026-03-14")]
        );
        assert!(occurrences(&s, d("2026-03-15"), d("2026-03-31")).is_empty());
    }

    #[test]
    fn pause_and_resume_follow_the_history() {
        let mut doc = Doc::new();
        let a = doc.assign(
            "Walk",
            "behavioural-activation",
            "daily",
            "2026-03-01",
            None,
        );
        doc.set_status(&a, "2026-03-05", AssignmentStatus::Paused);
        doc.set_status(&a, "2026-03-08", AssignmentStatus::Active);
        let assignment = &doc.data.assignments[&a];
        // Active from starts_on (even before created_at would matter) up to the day before pausing.
        assert!(active_on(assignment, d("2026-02-20")));
        assert!(active_on(assignment, d("2026-03-04")));
        // Paused at the end of the 5th, 6th and 7th.
        assert!(!active_on(assignment, d("2026-03-05")));
        assert!(!active_on(assignment, d("2026-03-07")));
        // Resumed during the 8th: active at its end.
        assert!(active_on(assignment, d("2026-03-08")));
        assert!(active_on(assignment, d("2026-04-01")));
        assert_eq!(
            status_on(assignment, d("2026-03-06")),
            AssignmentStatus::Paused
        );
    }

    #[test]
    fn same_day_pause_and_resume_counts_as_active() {
        let mut doc = Doc::new();
        let a = doc.assign("Walk", "journal", "daily", "2026-03-01", None);
        doc.set_status(&a, "2026-03-05", AssignmentStatus::Paused);
        doc.set_status(&a, "2026-03-05", AssignmentStatus::Active);
        assert!(active_on(&doc.data.assignments[&a], d("2026-03-05")));
    }

    #[test]
    fn without_history_the_current_status_applies() {
        let mut doc = Doc::new();
        let a = doc.assign("Walk", "journal", "daily", "2026-03-01", None);
        assert!(active_on(&doc.data.assignments[&a], d("2026-03-03")));
        doc.data.assignments.get_mut(&a).unwrap().status = AssignmentStatus::Archived;
        assert!(!active_on(&doc.data.assignments[&a], d("2026-03-03")));
    }

    #[test]
    fn current_status_wins_after_the_last_change() {
        // Concurrent pause and done merged: history says done last, the status register says paused.
        let mut doc = Doc::new();
        let a = doc.assign("Walk", "journal", "daily", "2026-03-01", None);
        doc.set_status(&a, "2026-03-05", AssignmentStatus::Paused);
        doc.set_status(&a, "2026-03-06", AssignmentStatus::Done);
        doc.data.assignments.get_mut(&a).unwrap().status = AssignmentStatus::Paused;
        let assignment = &doc.data.assignments[&a];
        assert_eq!(
            status_on(assignment, d("2026-03-05")),
            AssignmentStatus::Paused
        );
        assert_eq!(
            status_on(assignment, d("2026-03-09")),
            AssignmentStatus::Paused
        );
        assert_eq!(
            status_on(assignment, d("2026-03-04")),
            AssignmentStatus::Active
        );
    }

    #[test]
    fn due_today_lists_states_and_overdue_once() {
        let mut doc = Doc::new();
        let today = "2026-03-11"; // a Wednesday
        let daily = doc.assign(
            "Mood check-in",
            "mood-check-in",
            "daily",
            "2026-03-01",
            None,
        );
        let weekly_done = doc.assign(
            "Walk",
            "behavioural-activation",
            "weekly:mon,wed",
            "2026-03-01",
            None,
        );
        let weekly_other = doc.assign(
            "Swim",
            "behavioural-activation",
            "weekly:tue",
            "2026-03-01",
            None,
        );
        let drafty = doc.assign(
            "Thought record",
            "thought-record",
            "daily",
            "2026-03-01",
            None,
        );
        let overdue = doc.assign(
            "Write a letter",
            "journal",
            "once:2026-03-09",
            "2026-03-01",
            None,
        );
        let once_done = doc.assign(
            "Read leaflet",
            "journal",
            "once:2026-03-10",
            "2026-03-01",
            None,
        );
        let once_today = doc.assign(
            "Call friend",
            "journal",
            "once:2026-03-11",
            "2026-03-01",
            None,
        );
        let paused = doc.assign("Breathing", "mindfulness", "daily", "2026-03-01", None);
        let once_future = doc.assign(
            "Plan trip",
            "journal",
            "once:2026-03-20",
            "2026-03-01",
            None,
        );
        doc.set_status(&paused, "2026-03-10", AssignmentStatus::Paused);
        doc.done(&weekly_done, today);
        doc.done(&daily, "2026-03-10"); // yesterday: does not make today done
        doc.draft(&drafty, today);
        doc.done(&once_done, "2026-03-02"); // done early
        doc.draft(&overdue, "2026-03-08"); // a draft does not stop it being overdue
        let _ = weekly_other;

        let items = due_today(&doc.data, d(today));
        let got: Vec<(&str, String, DueState)> = items
            .iter()
            .map(|i| (i.title.as_str(), i.day.to_string(), i.state))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "Write a letter",
                    "2026-03-09".to_string(),
                    DueState::Overdue
                ),
                ("Call friend", today.to_string(), DueState::Due),
                ("Mood check-in", today.to_string(), DueState::Due),
                ("Thought record", today.to_string(), DueState::InProgress),
                ("Walk", today.to_string(), DueState::Done),
                // Due later, but its window is open, so it shows with its due day.
                ("Plan trip", "2026-03-20".to_string(), DueState::Due),
            ]
        );
        assert_eq!(items[5].assignment, once_future);
        assert_eq!(items[0].assignment, overdue);
        assert_eq!(items[0].template.as_str(), "journal");
        assert!(items
            .iter()
            .all(|i| i.assignment != once_today || i.state == DueState::Due));
    }

    #[test]
    fn paused_overdue_once_is_not_listed() {
        let mut doc = Doc::new();
        let a = doc.assign("Letter", "journal", "once:2026-03-09", "2026-03-01", None);
        doc.set_status(&a, "2026-03-10", AssignmentStatus::Paused);
        assert!(due_today(&doc.data, d("2026-03-11")).is_empty());
    }

    #[test]
    fn due_between_covers_a_week() {
        let mut doc = Doc::new();
        let walk = doc.assign(
            "Walk",
            "behavioural-activation",
            "weekly:mon,wed,fri",
            "2026-03-01",
            None,
        );
        let letter = doc.assign("Letter", "journal", "once:2026-03-12", "2026-03-01", None);
        let ended = doc.assign("Old", "journal", "daily", "2026-03-01", Some("2026-03-09"));
        doc.done(&walk, "2026-03-09");
        doc.draft(&walk, "2026-03-11");
        doc.set_status(&walk, "2026-03-13", AssignmentStatus::Paused);
        let _ = (letter, ended);
        let items = due_between(&doc.data, d("2026-03-09"), d("2026-03-15"), d("2026-03-10"));
        let got: Vec<(String, &str, DueState)> = items
            .iter()
            .map(|i| (i.day.to_string(), i.title.as_str(), i.state))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-03-09".to_string(), "Old", DueState::Missed),
                ("2026-03-09".to_string(), "Walk", DueState::Done),
                ("2026-03-11".to_string(), "Walk", DueState::InProgress),
                ("2026-03-12".to_string(), "Letter", DueState::Due),
                // Friday the 13th: paused that day, so not listed.
            ]
        );
    }

    #[test]
    fn due_state_serialises_kebab_case() {
        assert_eq!(
            serde_json::to_string(&DueState::InProgress).unwrap(),
            "\"in-progress\""
        );
        assert_eq!(
            serde_json::to_string(&DueState::Overdue).unwrap(),
            "\"overdue\""
        );
    }

    #[test]
    fn a_frequency_change_applies_from_its_day_on() {
        let mut doc = Doc::new();
        let a = doc.assign("Breathing", "mindfulness", "daily", "2026-03-02", None);
        // On Thursday the 5th the therapist makes it Mondays and Thursdays only.
        let assignment = doc.data.assignments.get_mut(&a).unwrap();
        let previous = assignment.schedule.clone();
        assignment.schedule.frequency = Frequency::parse("weekly:mon,thu").unwrap();
        assignment.history.push(Adjustment {
            id: AdjustmentId::from_string("freq"),
            kind: AdjustmentKind::Frequency,
            from: "every day".into(),
            to: "every Mon, Thu".into(),
            previous_schedule: Some(previous),
            why: String::new(),
            by: therapist(),
            at: noon("2026-03-05"),
        });
        let assignment = &doc.data.assignments[&a];
        let days: Vec<String> =
            assignment_occurrences(assignment, d("2026-03-02"), d("2026-03-12"))
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            days,
            [
                "2026-03-02",
                "2026-03-03",
                "2026-03-04",
                "2026-03-05",
                "2026-03-09",
                "2026-03-12"
            ]
        );
        assert_eq!(
            schedule_on(assignment, d("2026-03-04")).frequency,
            Frequency::Daily
        );
        assert!(matches!(
            schedule_on(assignment, d("2026-03-05")).frequency,
            Frequency::Weekly { .. }
        ));
        // The week view marks the undone past days missed and does not list Friday any more.
        let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-08"), d("2026-03-06"));
        let states: Vec<(String, DueState)> =
            week.iter().map(|i| (i.day.to_string(), i.state)).collect();
        assert_eq!(
            states,
            vec![
                ("2026-03-02".to_string(), DueState::Missed),
                ("2026-03-03".to_string(), DueState::Missed),
                ("2026-03-04".to_string(), DueState::Missed),
                ("2026-03-05".to_string(), DueState::Missed),
            ]
        );
    }

    #[test]
    fn an_activity_recorded_as_not_done_is_still_to_do() {
        let mut doc = Doc::new();
        let walk = doc.assign(
            "Walk",
            "behavioural-activation",
            "daily",
            "2026-03-02",
            None,
        );
        for (day, done) in [("2026-03-02", true), ("2026-03-03", false)] {
            doc.entry(
                Some(&walk),
                "behavioural-activation",
                EntryKind::BehaviouralActivation,
                day,
                EntryStatus::Complete,
                vec![("done", FieldValue::YesNo(done))],
            );
        }
        let a = &doc.data.assignments[&walk];
        assert!(done_on(
            &doc.data,
            &walk,
            a,
            d("2026-03-02"),
            d("2026-03-04")
        ));
        assert!(!done_on(
            &doc.data,
            &walk,
            a,
            d("2026-03-03"),
            d("2026-03-04")
        ));
        let today = due_today(&doc.data, d("2026-03-03"));
        assert_eq!(today[0].state, DueState::Due);
        let week = due_between(&doc.data, d("2026-03-02"), d("2026-03-03"), d("2026-03-04"));
        let states: Vec<DueState> = week.iter().map(|i| i.state).collect();
        assert_eq!(states, [DueState::Done, DueState::Missed]);
    }
}
