//! Progress views derived from the homework document: adherence per assignment (done vs
//! scheduled) with streaks, the overall streak, mood and mastery/pleasure trends, the most
//! frequent cognitive distortions, measure scores over time, goal steps done and this week's
//! entry count.
//!
//! Everything is computed from the document and a `today` passed in, so the client and the
//! therapist see the same numbers on every device. Entries dated after `today` are ignored by
//! the trends, streaks and counts.
//!
//! Adherence rules (see [`Adherence`]): an occurrence of an assignment counts as *scheduled* when
//! its schedule falls on the day (see [`crate::schedule::occurs_on`]) and either it is done, or
//! the day is before today and the assignment was active that day. So an undone occurrence today
//! is not a miss yet, pausing removes days instead of counting them as missed, and practice done
//! on the day an assignment was paused or finished still counts. A once-assignment done before its
//! due day counts as scheduled and done at once.

use crate::ids::{AssignmentId, GoalId, TemplateId};
use crate::model::{Entry, EntryStatus, Frequency, GoalStatus, HomeworkData};
use crate::schedule::{
    active_on, assignment_occurrences, done_on, first_day, schedule_on, times_done_in_week,
};
use crate::template::{EntryKind, FieldValue};
use crate::time::Day;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Field ids of the built-in templates that progress reads.
use crate::measures::{self, Measure};
use crate::template::builtin::field::{DISTORTIONS, DONE, MASTERY, MOOD, PLEASURE};

/// A change of at least this much between the last 7 days' average and the 7 days before counts
/// as improving or worsening.
pub const TREND_THRESHOLD: f64 = 0.5;

/// Everything the progress view shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressReport {
    /// The day the report was computed for.
    pub today: Day,
    /// Done vs scheduled per assignment, ordered by title.
    pub adherence: Vec<Adherence>,
    /// Consecutive days, ending today (or yesterday, if nothing is done yet today), with at least
    /// one complete entry of any kind.
    pub overall_streak: u32,
    /// Mood from complete mood check-ins (field `mood`, 0–10).
    pub mood: Trend,
    /// Mastery from complete behavioural-activation entries whose activity was done.
    pub mastery: Trend,
    /// Pleasure from complete behavioural-activation entries whose activity was done.
    pub pleasure: Trend,
    /// Cognitive distortions ticked in thought records (complete and draft) with how often, most
    /// frequent first, ties in alphabetical order.
    pub distortions: Vec<(String, u32)>,
    /// Scores of complete standard measures (PHQ-9, GAD-7), oldest first.
    pub measures: Vec<MeasurePoint>,
    /// Steps done per goal, oldest goal first.
    pub goals: Vec<GoalProgress>,
    /// Complete entries dated from Monday of today's week up to today.
    pub entries_this_week: u32,
}

/// How well one assignment has been kept up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adherence {
    /// The assignment.
    pub assignment: AssignmentId,
    /// Its title.
    pub title: String,
    /// Occurrences so far that count: from `starts_on` up to today (or `ends_on`), on days the
    /// assignment was active; today's only once done.
    pub scheduled: u32,
    /// Of those, how many a complete entry fulfils.
    pub done: u32,
    /// `done / scheduled`, or `None` when nothing was scheduled yet.
    pub rate: Option<f64>,
    /// Scheduled occurrences done in a row up to the latest one (unscheduled days do not count).
    pub current_streak: u32,
    /// The longest run of scheduled occurrences done in a row.
    pub longest_streak: u32,
}

/// Which way a trend is going (for all trends here, higher is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The last 7 days average at least [`TREND_THRESHOLD`] above the 7 before.
    Improving,
    /// Within [`TREND_THRESHOLD`] of the 7 days before.
    Steady,
    /// The last 7 days average at least [`TREND_THRESHOLD`] below the 7 before.
    Worsening,
}

/// One day of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The day.
    pub day: Day,
    /// The average of that day's values.
    pub value: f64,
}

/// A value over time, one point per day that has one.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Trend {
    /// Per-day averages, oldest first.
    pub points: Vec<TrendPoint>,
    /// The last 7 days (today and the 6 before) compared with the 7 days before those, by the
    /// average of their daily points; `None` unless both weeks have at least one point.
    pub direction: Option<Direction>,
    /// The most recent day's value.
    pub latest: Option<f64>,
    /// The average of all recorded values (each entry weighs the same).
    pub average: Option<f64>,
}

/// One score of a standard measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasurePoint {
    /// Which measure (`phq-9`, `gad-7`).
    pub template: TemplateId,
    /// The day the entry is for.
    pub day: Day,
    /// The total score (sum of the items).
    pub total: i64,
    /// The severity band of the total ("minimal", "mild", "moderate", ...).
    pub severity: String,
}

/// How far along a goal is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalProgress {
    /// The goal.
    pub goal: GoalId,
    /// Its title.
    pub title: String,
    /// Steps ticked off.
    pub steps_done: u32,
    /// All steps.
    pub steps_total: u32,
    /// Active, achieved or dropped.
    pub status: GoalStatus,
}

/// Computes the progress views of a document as of `today`.
pub fn progress(data: &HomeworkData, today: Day) -> ProgressReport {
    let complete = |e: &Entry| e.status == EntryStatus::Complete && e.date <= today;
    let entries: Vec<&Entry> = data.entries.values().collect();

    let mood = trend(
        entries
            .iter()
            .filter(|e| complete(e))
            .filter(|e| e.kind == EntryKind::MoodCheckIn)
            .filter_map(|e| Some((e.date, e.number(MOOD)?))),
        today,
    );
    let activities: Vec<&&Entry> = entries
        .iter()
        .filter(|e| complete(e))
        .filter(|e| e.kind == EntryKind::BehaviouralActivation)
        .filter(|e| matches!(e.values.get(DONE), Some(FieldValue::YesNo(true))))
        .collect();
    let mastery = trend(
        activities
            .iter()
            .filter_map(|e| Some((e.date, e.number(MASTERY)?))),
        today,
    );
    let pleasure = trend(
        activities
            .iter()
            .filter_map(|e| Some((e.date, e.number(PLEASURE)?))),
        today,
    );

    let week_start = today.week_start();
    let entries_this_week = count(
        entries
            .iter()
            .filter(|e| complete(e))
            .filter(|e| e.date >= week_start)
            .count(),
    );

    ProgressReport {
        today,
        adherence: adherence(data, today),
        overall_streak: overall_streak(&entries, today),
        mood,
        mastery,
        pleasure,
        distortions: distortions(&entries),
        measures: measures(&entries, today),
        goals: goals(data),
        entries_this_week,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn adherence(data: &HomeworkData, today: Day) -> Vec<Adherence> {
    let mut rows: Vec<Adherence> = data
        .assignments
        .iter()
        .map(|(id, assignment)| {
            // A once-assignment may be done before its due day; other schedules only up to today.
            let until = match assignment.schedule.frequency {
                Frequency::Once { due } => due.max(today),
                _ => today,
            };
            let mut history: Vec<bool> = Vec::new();
            for day in assignment_occurrences(assignment, first_day(assignment), until) {
                let done = done_on(data, id, assignment, day, today);
                if done || (day < today && active_on(assignment, day)) {
                    history.push(done);
                }
            }
            times_a_week_history(data, id, assignment, today, &mut history);
            let scheduled = count(history.len());
            let done = count(history.iter().filter(|d| **d).count());
            let (current_streak, longest_streak) = streaks(&history);
            Adherence {
                assignment: id.clone(),
                title: assignment.title.clone(),
                scheduled,
                done,
                rate: (scheduled > 0).then(|| f64::from(done) / f64::from(scheduled)),
                current_streak,
                longest_streak,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.title
            .cmp(&b.title)
            .then_with(|| a.assignment.cmp(&b.assignment))
    });
    rows
}

/// Adds the weeks of an "N times a week" assignment to its `history`, one element per time
/// asked: the times done that week (up to N) as `true`, then, for a week that is over, the
/// times not done as `false`. The current week counts only what is done so far (as today's
/// occurrence of a daily assignment counts only once done). A week the assignment was active
/// on fewer days than N (its first or last, or around a pause) asks at most that many times.
/// Streaks are thus counted in times done in a row, across weeks.
fn times_a_week_history(
    data: &HomeworkData,
    id: &AssignmentId,
    assignment: &crate::model::Assignment,
    today: Day,
    history: &mut Vec<bool>,
) {
    let mut monday = first_day(assignment).week_start();
    while monday <= today {
        let days: Vec<Day> = (0..7)
            .map(|n| monday.add_days(n))
            .filter(|d| {
                let schedule = schedule_on(assignment, *d);
                matches!(schedule.frequency, Frequency::TimesAWeek { .. })
                    && *d >= schedule.starts_on
                    && schedule.ends_on.is_none_or(|end| *d <= end)
                    && active_on(assignment, *d)
            })
            .collect();
        if let Some(first) = days.first() {
            if let Frequency::TimesAWeek { times } = schedule_on(assignment, *first).frequency {
                let asked = usize::try_from(times).unwrap_or(0).min(days.len());
                let done = times_done_in_week(data, id, monday, today).min(asked);
                history.extend(std::iter::repeat_n(true, done));
                if monday.add_days(6) < today {
                    history.extend(std::iter::repeat_n(false, asked - done));
                }
            }
        }
        let next = monday.add_days(7);
        if next == monday {
            break;
        }
        monday = next;
    }
}

/// (current, longest) runs of `true`, the current one ending at the last element.
fn streaks(history: &[bool]) -> (u32, u32) {
    let mut run = 0u32;
    let mut longest = 0u32;
    for done in history {
        run = if *done { run.saturating_add(1) } else { 0 };
        longest = longest.max(run);
    }
    (run, longest)
}

fn overall_streak(entries: &[&Entry], today: Day) -> u32 {
    let days: BTreeSet<Day> = entries
        .iter()
        .filter(|e| e.status == EntryStatus::Complete && e.date <= today)
        .map(|e| e.date)
        .collect();
    let mut day = if days.contains(&today) {
        today
    } else {
        today.pred()
    };
    let mut streak = 0u32;
    while days.contains(&day) {
        streak = streak.saturating_add(1);
        let before = day.pred();
        if before == day {
            break;
        }
        day = before;
    }
    streak
}

fn trend(values: impl Iterator<Item = (Day, i64)>, today: Day) -> Trend {
    let mut by_day: BTreeMap<Day, (f64, u32)> = BTreeMap::new();
    let mut sum = 0.0;
    let mut n = 0u32;
    for (day, value) in values {
        // Scale values are small; the conversion is exact for them.
        #[allow(clippy::cast_precision_loss)]
        let value = value as f64;
        let slot = by_day.entry(day).or_insert((0.0, 0));
        slot.0 += value;
        slot.1 += 1;
        sum += value;
        n += 1;
    }
    let points: Vec<TrendPoint> = by_day
        .into_iter()
        .map(|(day, (total, k))| TrendPoint {
            day,
            value: total / f64::from(k),
        })
        .collect();
    let window = |from: i64, to: i64| -> Option<f64> {
        let first = today.add_days(-from);
        let last = today.add_days(-to);
        mean(
            points
                .iter()
                .filter(|p| p.day >= first && p.day <= last)
                .map(|p| p.value),
        )
    };
    let direction = match (window(6, 0), window(13, 7)) {
        (Some(recent), Some(before)) => {
            let change = recent - before;
            Some(if change >= TREND_THRESHOLD {
                Direction::Improving
            } else if change <= -TREND_THRESHOLD {
                Direction::Worsening
            } else {
                Direction::Steady
            })
        }
        _ => None,
    };
    Trend {
        latest: points.last().map(|p| p.value),
        average: (n > 0).then(|| sum / f64::from(n)),
        points,
        direction,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

fn distortions(entries: &[&Entry]) -> Vec<(String, u32)> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for entry in entries
        .iter()
        .filter(|e| e.kind == EntryKind::ThoughtRecord)
    {
        if let Some(value) = entry.values.get(DISTORTIONS) {
            for name in value.selected() {
                let slot = counts.entry(name.to_string()).or_insert(0);
                *slot = slot.saturating_add(1);
            }
        }
    }
    let mut list: Vec<(String, u32)> = counts.into_iter().collect();
    // The map is alphabetical already; a stable sort by count keeps ties in that order.
    list.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    list
}

/// Total and severity band of a complete PHQ-9 or GAD-7 entry; `None` for anything else (or an
/// entry that does not score, which completion validation prevents).
fn measure_score(template: &str, entry: &Entry) -> Option<(i64, &'static str)> {
    let measure = Measure::from_template(template)?;
    let score = measures::score(measure, &entry.values).ok()?;
    Some((score.total, score.severity.label()))
}

fn measures(entries: &[&Entry], today: Day) -> Vec<MeasurePoint> {
    let mut list: Vec<(MeasurePoint, crate::time::Timestamp)> = entries
        .iter()
        .filter(|e| {
            e.kind == EntryKind::Measure && e.status == EntryStatus::Complete && e.date <= today
        })
        .filter_map(|e| {
            let (total, severity) = measure_score(e.template.as_str(), e)?;
            Some((
                MeasurePoint {
                    template: e.template.clone(),
                    day: e.date,
                    total,
                    severity: severity.to_string(),
                },
                e.completed_at.unwrap_or(e.updated_at),
            ))
        })
        .collect();
    list.sort_by(|(a, at), (b, bt)| {
        a.day
            .cmp(&b.day)
            .then_with(|| at.cmp(bt))
            .then_with(|| a.template.cmp(&b.template))
    });
    list.into_iter().map(|(point, _)| point).collect()
}

fn goals(data: &HomeworkData) -> Vec<GoalProgress> {
    let mut list: Vec<(&crate::time::Timestamp, GoalProgress)> = data
        .goals
        .iter()
        .map(|(id, goal)| {
            (
                &goal.created_at,
                GoalProgress {
                    goal: id.clone(),
                    title: goal.title.clone(),
                    steps_done: count(goal.steps.iter().filter(|s| s.done).count()),
                    steps_total: count(goal.steps.len()),
                    status: goal.status,
                },
            )
        })
        .collect();
    list.sort_by(|(a_at, a), (b_at, b)| {
        a_at.cmp(b_at)
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.goal.cmp(&b.goal))
    });
    list.into_iter().map(|(_, g)| g).collect()
}

/// Draws values as a one-line bar chart with `▁▂▃▄▅▆▇█`, scaled so that `min` is the lowest bar
/// and `max` the highest (values outside are clamped). A value that is not a number is drawn as a
/// space; if `max` is not above `min` every value gets the lowest bar.
pub fn sparkline(values: &[f64], min: f64, max: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|v| {
            if !v.is_finite() {
                return ' ';
            }
            let span = max - min;
            if span.is_nan() || span <= 0.0 || span.is_infinite() {
                return BARS[0];
            }
            let t = ((v - min) / span).clamp(0.0, 1.0);
            // t is within 0..=1, so the index is within 0..=7.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let index = (t * 7.0).round() as usize;
            BARS.get(index).copied().unwrap_or(BARS[7])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::AssignmentStatus;
    use crate::schedule::testkit::{d, Doc};

    fn num(n: i64) -> FieldValue {
        FieldValue::Number(n)
    }

    fn choices(names: &[&str]) -> FieldValue {
        FieldValue::Choices(names.iter().map(|n| (n.to_string(), true)).collect())
    }

    fn mood(doc: &mut Doc, date: &str, value: i64) {
        doc.entry(
            None,
            "mood-check-in",
            EntryKind::MoodCheckIn,
            date,
            EntryStatus::Complete,
            vec![(MOOD, num(value))],
        );
    }

    fn row<'a>(report: &'a ProgressReport, title: &str) -> &'a Adherence {
        report.adherence.iter().find(|a| a.title == title).unwrap()
    }

    #[test]
    fn adherence_with_a_pause_in_the_middle() {
        let mut doc = Doc::new();
        // Daily from Sun 1 March; paused during the 5th, resumed during the 8th; today the 10th.
        let a = doc.assign("Walk", "journal", "daily", "2026-03-01", None);
        doc.set_status(&a, "2026-03-05", AssignmentStatus::Paused);
        doc.set_status(&a, "2026-03-08", AssignmentStatus::Active);
        for day in [
            "2026-03-01",
            "2026-03-02",
            "2026-03-04",
            "2026-03-08",
            "2026-03-09",
        ] {
            doc.done(&a, day);
        }
        doc.done(&a, "2026-03-06"); // done while paused: counts as scheduled and done
        doc.done(&a, "2026-03-12"); // dated in the future: ignored
        let report = progress(&doc.data, d("2026-03-10"));
        let walk = row(&report, "Walk");
        // Counted: 1,2,3(missed),4, 6 (done while paused), 8,9. Not: 5,7 (paused), 10 (today, undone).
        assert_eq!(walk.scheduled, 7);
        assert_eq!(walk.done, 6);
        assert_eq!(walk.rate, Some(6.0 / 7.0));
        // 4,6,8,9 in a row (the pause does not break it); 1,2 before the miss.
        assert_eq!(walk.current_streak, 4);
        assert_eq!(walk.longest_streak, 4);
        assert_eq!(walk.assignment, a);
    }

    #[test]
    fn today_counts_only_once_done() {
        let mut doc = Doc::new();
        let a = doc.assign("Check-in", "mood-check-in", "daily", "2026-03-08", None);
        doc.done(&a, "2026-03-08");
        doc.done(&a, "2026-03-09");
        let before = progress(&doc.data, d("2026-03-10"));
        let r = row(&before, "Check-in");
        assert_eq!((r.scheduled, r.done, r.current_streak), (2, 2, 2));
        assert_eq!(r.rate, Some(1.0));
        doc.done(&a, "2026-03-10");
        let after = progress(&doc.data, d("2026-03-10"));
        let r = row(&after, "Check-in");
        assert_eq!((r.scheduled, r.done, r.current_streak), (3, 3, 3));
        // A draft today is not done either.
        let mut doc = Doc::new();
        let b = doc.assign("Thoughts", "thought-record", "daily", "2026-03-10", None);
        doc.draft(&b, "2026-03-10");
        let r = progress(&doc.data, d("2026-03-10"));
        let r = row(&r, "Thoughts");
        assert_eq!((r.scheduled, r.done, r.rate), (0, 0, None));
    }

    #[test]
    fn streak_broken_by_a_missed_day() {
        let mut doc = Doc::new();
        let a = doc.assign("Breathing", "mindfulness", "daily", "2026-03-01", None);
        for day in [
            "2026-03-01",
            "2026-03-02",
            "2026-03-03",
            "2026-03-05",
            "2026-03-06",
        ] {
            doc.done(&a, day);
        }
        let report = progress(&doc.data, d("2026-03-07"));
        let r = row(&report, "Breathing");
        assert_eq!((r.scheduled, r.done), (6, 5));
        assert_eq!((r.current_streak, r.longest_streak), (2, 3));
        // Yesterday missed too: the current streak is gone.
        let report = progress(&doc.data, d("2026-03-08"));
        let r = row(&report, "Breathing");
        assert_eq!((r.scheduled, r.done), (7, 5));
        assert_eq!((r.current_streak, r.longest_streak), (0, 3));
    }

    #[test]
    fn times_a_week_counts_per_week_and_the_current_week_only_what_is_done() {
        let mut doc = Doc::new();
        // 2 times a week from Wednesday 4 March; today Wednesday 18 March.
        let a = doc.assign("Walk", "journal", "2/week", "2026-03-04", None);
        doc.done(&a, "2026-03-05"); // week 1 (Wed–Sun: 5 days, asks 2): 1 of 2
        doc.done(&a, "2026-03-09"); // week 2: 3, capped at 2 of 2
        doc.done(&a, "2026-03-10");
        doc.done(&a, "2026-03-11");
        doc.done(&a, "2026-03-16"); // this week: 1 so far
        doc.done(&a, "2026-03-20"); // dated after today: not counted
        let report = progress(&doc.data, d("2026-03-18"));
        let r = row(&report, "Walk");
        assert_eq!((r.scheduled, r.done), (5, 4));
        assert_eq!((r.current_streak, r.longest_streak), (3, 3));
    }

    #[test]
    fn weekly_schedule_counts_only_listed_days() {
        let mut doc = Doc::new();
        // Mon/Wed/Fri from Mon 2 March; today Wed 11 March.
        let a = doc.assign(
            "Walk",
            "behavioural-activation",
            "weekly:mon,wed,fri",
            "2026-03-02",
            None,
        );
        doc.done(&a, "2026-03-02");
        doc.done(&a, "2026-03-06");
        doc.done(&a, "2026-03-09");
        let report = progress(&doc.data, d("2026-03-11"));
        let r = row(&report, "Walk");
        // Occurrences: 2 (done), 4 (missed), 6 (done), 9 (done); 11 is today and undone.
        assert_eq!((r.scheduled, r.done), (4, 3));
        assert_eq!(r.rate, Some(0.75));
        assert_eq!((r.current_streak, r.longest_streak), (2, 2));

        // Done on Tuesday the 3rd instead (not a listed day): it counts for that week's open
        // Wednesday, so nothing is missed.
        doc.done(&a, "2026-03-03");
        let report = progress(&doc.data, d("2026-03-11"));
        let r = row(&report, "Walk");
        assert_eq!((r.scheduled, r.done), (4, 4));
        assert_eq!((r.current_streak, r.longest_streak), (4, 4));
    }

    #[test]
    fn ends_on_stops_counting() {
        let mut doc = Doc::new();
        let a = doc.assign(
            "Short",
            "journal",
            "daily",
            "2026-03-01",
            Some("2026-03-03"),
        );
        doc.done(&a, "2026-03-02");
        let report = progress(&doc.data, d("2026-03-20"));
        let r = row(&report, "Short");
        assert_eq!(
            (r.scheduled, r.done, r.current_streak, r.longest_streak),
            (3, 1, 0, 1)
        );
    }

    #[test]
    fn once_assignments() {
        let mut doc = Doc::new();
        let overdue = doc.assign("Letter", "journal", "once:2026-03-05", "2026-03-01", None);
        let early = doc.assign("Leaflet", "journal", "once:2026-03-20", "2026-03-01", None);
        let pending = doc.assign("Plan", "journal", "once:2026-03-20", "2026-03-01", None);
        let late = doc.assign("Call", "journal", "once:2026-03-04", "2026-03-01", None);
        doc.draft(&overdue, "2026-03-04");
        doc.done(&early, "2026-03-02");
        doc.set_status(&early, "2026-03-02", AssignmentStatus::Done);
        doc.done(&late, "2026-03-07"); // after the due day: still done
        let _ = pending;
        let report = progress(&doc.data, d("2026-03-10"));
        let got = |t: &str| {
            let r = row(&report, t);
            (r.scheduled, r.done, r.current_streak)
        };
        assert_eq!(got("Letter"), (1, 0, 0));
        assert_eq!(got("Leaflet"), (1, 1, 1));
        assert_eq!(got("Plan"), (0, 0, 0));
        assert_eq!(got("Call"), (1, 1, 1));
        // Ordered by title.
        let titles: Vec<&str> = report.adherence.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(titles, vec!["Call", "Leaflet", "Letter", "Plan"]);
    }

    #[test]
    fn overall_streak_counts_days_with_any_complete_entry() {
        let mut doc = Doc::new();
        mood(&mut doc, "2026-03-05", 5);
        mood(&mut doc, "2026-03-07", 5);
        mood(&mut doc, "2026-03-08", 6);
        mood(&mut doc, "2026-03-08", 7);
        doc.entry(
            None,
            "journal",
            EntryKind::Journal,
            "2026-03-09",
            EntryStatus::Complete,
            Vec::new(),
        );
        doc.entry(
            None,
            "journal",
            EntryKind::Journal,
            "2026-03-10",
            EntryStatus::Draft,
            Vec::new(),
        );
        // Nothing complete today yet: counts up to yesterday.
        assert_eq!(progress(&doc.data, d("2026-03-10")).overall_streak, 3);
        assert_eq!(progress(&doc.data, d("2026-03-09")).overall_streak, 3);
        // Two days without: broken.
        assert_eq!(progress(&doc.data, d("2026-03-11")).overall_streak, 0);
        mood(&mut doc, "2026-03-10", 4);
        assert_eq!(progress(&doc.data, d("2026-03-10")).overall_streak, 4);
        assert_eq!(progress(&doc.data, d("2026-03-11")).overall_streak, 4);
    }

    #[test]
    fn mood_trend_points_and_direction() {
        let mut doc = Doc::new();
        let today = "2026-03-14";
        // The 7 days before the last 7 (1–7 March): average 4.5.
        mood(&mut doc, "2026-03-01", 3);
        mood(&mut doc, "2026-03-04", 6);
        // Last 7 days (8–14 March): daily averages 5 and 4 → 4.5: steady.
        mood(&mut doc, "2026-03-10", 4);
        mood(&mut doc, "2026-03-10", 6);
        mood(&mut doc, "2026-03-12", 4);
        // Drafts and behavioural-activation moods are not mixed in.
        doc.entry(
            None,
            "mood-check-in",
            EntryKind::MoodCheckIn,
            "2026-03-13",
            EntryStatus::Draft,
            vec![(MOOD, num(0))],
        );
        doc.entry(
            None,
            "behavioural-activation",
            EntryKind::BehaviouralActivation,
            "2026-03-13",
            EntryStatus::Complete,
            vec![("actual_mood", num(10)), (DONE, FieldValue::YesNo(true))],
        );
        let report = progress(&doc.data, d(today));
        let points: Vec<(String, f64)> = report
            .mood
            .points
            .iter()
            .map(|p| (p.day.to_string(), p.value))
            .collect();
        assert_eq!(
            points,
            vec![
                ("2026-03-01".to_string(), 3.0),
                ("2026-03-04".to_string(), 6.0),
                ("2026-03-10".to_string(), 5.0),
                ("2026-03-12".to_string(), 4.0),
            ]
        );
        assert_eq!(report.mood.latest, Some(4.0));
        assert_eq!(report.mood.average, Some(23.0 / 5.0));
        assert_eq!(report.mood.direction, Some(Direction::Steady));

        // Exactly +0.5 counts as improving: (5 + 4 + 6) / 3 = 5.
        mood(&mut doc, "2026-03-14", 6);
        let report = progress(&doc.data, d(today));
        assert_eq!(report.mood.direction, Some(Direction::Improving));
        assert_eq!(report.mood.latest, Some(6.0));
        // Today's average becomes 4.5: (5 + 4 + 4.5) / 3 = 4.5, steady again.
        mood(&mut doc, "2026-03-14", 3);
        let report = progress(&doc.data, d(today));
        assert_eq!(report.mood.latest, Some(4.5));
        assert_eq!(report.mood.direction, Some(Direction::Steady));
        // (5 + 2 + 4 + 4.5) / 4 = 3.875 vs 4.5: worsening.
        mood(&mut doc, "2026-03-11", 2);
        let report = progress(&doc.data, d(today));
        assert_eq!(report.mood.direction, Some(Direction::Worsening));
        // Seen from the 13th, the last 7 days are 7–13 March (5, 2, 4 → 3.667) and the 7 before
        // are 28 February–6 March (3, 6 → 4.5): worsening, and the 14th's entries are ignored.
        let report = progress(&doc.data, d("2026-03-13"));
        assert_eq!(report.mood.direction, Some(Direction::Worsening));
        assert_eq!(report.mood.latest, Some(4.0));
        // Seen from a week later, the earlier week is empty: no direction.
        let report = progress(&doc.data, d("2026-03-25"));
        assert_eq!(report.mood.direction, None);
        // Exactly -0.5 counts as worsening: 5 the week before, 4.5 this week.
        let mut other = Doc::new();
        mood(&mut other, "2026-03-05", 5);
        mood(&mut other, "2026-03-12", 4);
        mood(&mut other, "2026-03-12", 5);
        let report = progress(&other.data, d(today));
        assert_eq!(report.mood.direction, Some(Direction::Worsening));
        // An empty trend.
        let empty = progress(&Doc::new().data, d(today)).mood;
        assert_eq!(empty, Trend::default());
    }

    #[test]
    fn mastery_and_pleasure_only_from_done_activities() {
        let mut doc = Doc::new();
        let ba = |doc: &mut Doc, date: &str, status, done: bool, m: i64, p: i64| {
            doc.entry(
                None,
                "behavioural-activation",
                EntryKind::BehaviouralActivation,
                date,
                status,
                vec![
                    (DONE, FieldValue::YesNo(done)),
                    (MASTERY, num(m)),
                    (PLEASURE, num(p)),
                ],
            );
        };
        ba(&mut doc, "2026-03-02", EntryStatus::Complete, true, 4, 6);
        ba(&mut doc, "2026-03-02", EntryStatus::Complete, true, 6, 8);
        ba(&mut doc, "2026-03-03", EntryStatus::Complete, false, 0, 0);
        ba(&mut doc, "2026-03-04", EntryStatus::Draft, true, 1, 1);
        ba(&mut doc, "2026-03-05", EntryStatus::Complete, true, 8, 3);
        let report = progress(&doc.data, d("2026-03-06"));
        let values = |t: &Trend| t.points.iter().map(|p| p.value).collect::<Vec<_>>();
        assert_eq!(values(&report.mastery), vec![5.0, 8.0]);
        assert_eq!(values(&report.pleasure), vec![7.0, 3.0]);
        assert_eq!(report.mastery.average, Some(6.0));
        assert_eq!(report.pleasure.latest, Some(3.0));
        assert!(report.mood.points.is_empty());
    }

    #[test]
    fn distortion_counts_include_drafts() {
        let mut doc = Doc::new();
        let tr = |doc: &mut Doc, status, names: &[&str]| {
            doc.entry(
                None,
                "thought-record",
                EntryKind::ThoughtRecord,
                "2026-03-02",
                status,
                vec![(DISTORTIONS, choices(names))],
            );
        };
        tr(
            &mut doc,
            EntryStatus::Complete,
            &["mind reading", "catastrophising"],
        );
        tr(
            &mut doc,
            EntryStatus::Draft,
            &["catastrophising", "labelling"],
        );
        tr(
            &mut doc,
            EntryStatus::Complete,
            &["catastrophising", "all-or-nothing"],
        );
        tr(&mut doc, EntryStatus::Complete, &["labelling"]);
        // Unticked options do not count.
        doc.entry(
            None,
            "thought-record",
            EntryKind::ThoughtRecord,
            "2026-03-03",
            EntryStatus::Complete,
            vec![(
                DISTORTIONS,
                FieldValue::Choices([("self-blame".to_string(), false)].into_iter().collect()),
            )],
        );
        let report = progress(&doc.data, d("2026-03-10"));
        let got: Vec<(&str, u32)> = report
            .distortions
            .iter()
            .map(|(n, c)| (n.as_str(), *c))
            .collect();
        assert_eq!(
            got,
            vec![
                ("catastrophising", 3),
                ("labelling", 2),
                ("all-or-nothing", 1),
                ("mind reading", 1),
            ]
        );
    }

    #[test]
    fn measure_scores_oldest_first() {
        let mut doc = Doc::new();
        let items = |n: usize, scores: &[i64]| -> Vec<(&'static str, FieldValue)> {
            const NAMES: [&str; 9] = [
                "item_1", "item_2", "item_3", "item_4", "item_5", "item_6", "item_7", "item_8",
                "item_9",
            ];
            NAMES[..n]
                .iter()
                .zip(scores)
                .map(|(k, v)| (*k, num(*v)))
                .collect()
        };
        doc.entry(
            None,
            "phq-9",
            EntryKind::Measure,
            "2026-03-09",
            EntryStatus::Complete,
            items(9, &[2, 2, 2, 2, 2, 1, 1, 1, 1]),
        );
        doc.entry(
            None,
            "gad-7",
            EntryKind::Measure,
            "2026-03-02",
            EntryStatus::Complete,
            items(7, &[3, 3, 3, 3, 3, 3, 3]),
        );
        doc.entry(
            None,
            "phq-9",
            EntryKind::Measure,
            "2026-03-02",
            EntryStatus::Complete,
            items(9, &[1, 1, 1, 1, 0, 0, 0, 0, 0]),
        );
        doc.entry(
            None,
            "phq-9",
            EntryKind::Measure,
            "2026-03-16",
            EntryStatus::Complete,
            items(9, &[3; 9]),
        );
        doc.entry(
            None,
            "gad-7",
            EntryKind::Measure,
            "2026-03-09",
            EntryStatus::Draft,
            items(7, &[1; 7]),
        );
        let report = progress(&doc.data, d("2026-03-16"));
        let got: Vec<(&str, String, i64, &str)> = report
            .measures
            .iter()
            .map(|m| {
                (
                    m.template.as_str(),
                    m.day.to_string(),
                    m.total,
                    m.severity.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("gad-7", "2026-03-02".to_string(), 21, "severe"),
                ("phq-9", "2026-03-02".to_string(), 4, "minimal"),
                ("phq-9", "2026-03-09".to_string(), 14, "moderate"),
                ("phq-9", "2026-03-16".to_string(), 27, "severe"),
            ]
        );
    }

    #[test]
    fn severity_bands() {
        let mut doc = Doc::new();
        let cases = [
            ("phq-9", 0, "minimal"),
            ("phq-9", 5, "mild"),
            ("phq-9", 9, "mild"),
            ("phq-9", 10, "moderate"),
            ("phq-9", 15, "moderately severe"),
            ("phq-9", 19, "moderately severe"),
            ("phq-9", 20, "severe"),
            ("gad-7", 4, "minimal"),
            ("gad-7", 9, "mild"),
            ("gad-7", 14, "moderate"),
            ("gad-7", 15, "severe"),
        ];
        for (template, total, band) in cases {
            let id = doc.entry(
                None,
                template,
                EntryKind::Measure,
                "2026-03-02",
                EntryStatus::Complete,
                Vec::new(),
            );
            // Spread the total over items worth at most 3.
            let entry = doc.data.entries.get_mut(&id).unwrap();
            let mut left = total;
            for i in 1..=9 {
                let v = left.min(3);
                left -= v;
                entry.values.insert(format!("item_{i}"), num(v));
            }
            let (got_total, got_band) = measure_score(template, entry).unwrap();
            let expected_total = if template == "gad-7" {
                total.min(21)
            } else {
                total
            };
            assert_eq!(
                (got_total, got_band),
                (expected_total, band),
                "{template} {total}"
            );
            doc.data.entries.remove(&id);
        }
    }

    #[test]
    fn goals_and_weekly_entry_count() {
        let mut doc = Doc::new();
        doc.goal(
            "Sleep better",
            "2026-02-01",
            GoalStatus::Active,
            &[
                ("No phone in bed", true),
                ("Same wake time", false),
                ("Wind down", true),
            ],
        );
        doc.goal(
            "Walk more",
            "2026-01-15",
            GoalStatus::Achieved,
            &[("Buy shoes", true)],
        );
        doc.goal("Empty", "2026-02-10", GoalStatus::Dropped, &[]);
        // Today is Wednesday 11 March; the week began Monday 9 March.
        mood(&mut doc, "2026-03-08", 5); // last week
        mood(&mut doc, "2026-03-09", 5);
        mood(&mut doc, "2026-03-11", 5);
        mood(&mut doc, "2026-03-12", 5); // future
        doc.entry(
            None,
            "journal",
            EntryKind::Journal,
            "2026-03-10",
            EntryStatus::Draft,
            Vec::new(),
        );
        let report = progress(&doc.data, d("2026-03-11"));
        assert_eq!(report.entries_this_week, 2);
        let got: Vec<(&str, u32, u32, GoalStatus)> = report
            .goals
            .iter()
            .map(|g| (g.title.as_str(), g.steps_done, g.steps_total, g.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Walk more", 1, 1, GoalStatus::Achieved),
                ("Sleep better", 2, 3, GoalStatus::Active),
                ("Empty", 0, 0, GoalStatus::Dropped),
            ]
        );
        // On a Monday only Monday counts.
        assert_eq!(progress(&doc.data, d("2026-03-09")).entries_this_week, 1);
    }

    #[test]
    fn sparkline_output() {
        assert_eq!(sparkline(&[0.0, 5.0, 10.0], 0.0, 10.0), "▁▅█");
        assert_eq!(
            sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 0.0, 7.0),
            "▁▂▃▄▅▆▇█"
        );
        // Clamped, not-a-number, empty, and a degenerate range.
        assert_eq!(sparkline(&[-3.0, 12.0, f64::NAN], 0.0, 10.0), "▁█ ");
        assert_eq!(sparkline(&[], 0.0, 10.0), "");
        assert_eq!(sparkline(&[4.0, 4.0], 4.0, 4.0), "▁▁");
    }

    #[test]
    fn report_serialises_with_kebab_case_enums() {
        let mut doc = Doc::new();
        mood(&mut doc, "2026-03-01", 2);
        mood(&mut doc, "2026-03-10", 8);
        let report = progress(&doc.data, d("2026-03-10"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["mood"]["direction"], "improving");
        assert_eq!(json["mood"]["points"][1]["day"], "2026-03-10");
        assert_eq!(json["mood"]["points"][1]["value"], 8.0);
        assert_eq!(json["entries_this_week"], 1);
        assert_eq!(json["today"], "2026-03-10");
    }
}
