//! Reminders: an assignment may carry a time of day at which the client's device reminds them
//! that it is due. This module decides, from the document and the device's local date and time
//! (passed in: no clock here), which reminders are due now and when the next one falls; the
//! CLI's `between remind` raises them through the platform's notification service and
//! remembers which it raised, so each is raised once per day.
//!
//! A reminder is due on a day when the assignment is due that day and not done yet (the items
//! of [`crate::schedule::due_today`] that are due, in progress or overdue), once the time of day
//! has come. A device that was off at that time raises it when it next looks, the same day.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::ValidationError;
use crate::model::HomeworkData;
use crate::schedule::{due_today, DueState};
use crate::time::Day;
use crate::AssignmentId;

/// A time of day, to the minute, on the client's own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    /// 00:00.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { hour: 0, minute: 0 };

    /// Minutes since midnight (0 to 1439).
    pub fn minutes_since_midnight(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }

    /// 00:00 to 23:59; `None` out of range.
    pub fn new(hour: u32, minute: u32) -> Option<Self> {
        match (u8::try_from(hour), u8::try_from(minute)) {
            (Ok(hour), Ok(minute)) if hour < 24 && minute < 60 => Some(Self { hour, minute }),
            _ => None,
        }
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl FromStr for TimeOfDay {
    type Err = ValidationError;

    /// `HH:MM` on the 24-hour clock ("7:30" and "19:05" both work).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            ValidationError::Invalid(format!(
                "'{}' is not a time of day; write it as HH:MM on the 24-hour clock, e.g. 19:30",
                text.trim()
            ))
        };
        let (hour, minute) = text.trim().split_once(':').ok_or_else(wrong)?;
        let number = |part: &str| -> Option<u32> {
            (!part.is_empty() && part.len() <= 2 && part.chars().all(|c| c.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        match (number(hour), number(minute)) {
            (Some(h), Some(m)) if minute.len() == 2 => Self::new(h, m).ok_or_else(wrong),
            _ => Err(wrong()),
        }
    }
}

/// One reminder to raise: an assignment due today and not done, whose time has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// The assignment.
    pub assignment: AssignmentId,
    /// Its title.
    pub title: String,
    /// The day it is due (an overdue once-assignment's due day is in the past).
    pub due: Day,
    /// Due, in progress (a draft exists) or overdue.
    pub state: DueState,
    /// Its time of day.
    pub at: TimeOfDay,
}

impl Reminder {
    /// What the notification says.
    pub fn describe(&self, today: Day) -> String {
        match self.state {
            DueState::InProgress => format!("{}: your draft is waiting to be finished", self.title),
            DueState::Overdue => {
                format!("{}: it was due {} and is still open", self.title, self.due)
            }
            _ if self.due == today => format!("{}: due today", self.title),
            _ => format!("{}: due {}", self.title, self.due),
        }
    }
}

/// The reminder times of the assignments that are due on `today` and not done, with the items.
fn candidates(data: &HomeworkData, today: Day) -> Vec<Reminder> {
    due_today(data, today)
        .into_iter()
        .filter(|item| {
            matches!(
                item.state,
                DueState::Due | DueState::InProgress | DueState::Overdue
            )
        })
        .filter_map(|item| {
            let at = data
                .assignments
                .get(&item.assignment)?
                .remind_at
                .as_deref()?
                .parse::<TimeOfDay>()
                // A time another program wrote badly is no reminder, not an error.
                .ok()?;
            Some(Reminder {
                assignment: item.assignment,
                title: item.title,
                due: item.day,
                state: item.state,
                at,
            })
        })
        .collect()
}

/// The reminders due at `now` on `today`: homework due today, not done, whose time of day has
/// come. The caller drops those it already raised today.
pub fn due_reminders(data: &HomeworkData, today: Day, now: TimeOfDay) -> Vec<Reminder> {
    let mut due: Vec<Reminder> = candidates(data, today)
        .into_iter()
        .filter(|r| r.at <= now)
        .collect();
    due.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.title.cmp(&b.title)));
    due
}

/// The next reminder time later today than `now`, if any: when `between remind` needs to look
/// again.
pub fn next_reminder(data: &HomeworkData, today: Day, now: TimeOfDay) -> Option<TimeOfDay> {
    candidates(data, today)
        .into_iter()
        .map(|r| r.at)
        .filter(|at| *at > now)
        .min()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schedule::testkit::{d, Doc};

    fn t(text: &str) -> TimeOfDay {
        text.parse().unwrap()
    }

    #[test]
    fn times_of_day_are_read_strictly() {
        assert_eq!(t("19:30").to_string(), "19:30");
        assert_eq!(t("7:05").to_string(), "07:05");
        for bad in [
            "24:00", "7", "7:5", "19:60", "ab:cd", "", "19:30:00", "-1:30",
        ] {
            let err = bad.parse::<TimeOfDay>().unwrap_err().to_string();
            assert!(err.contains("HH:MM"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_reminder_is_due_once_its_time_came_and_until_the_homework_is_done() {
        let mut doc = Doc::new();
        let mood = doc.assign(
            "Mood check-in",
            "mood-check-in",
            "daily",
            "2026-03-02",
            None,
        );
        let walk = doc.assign(
            "Walk",
            "behavioural-activation",
            "daily",
            "2026-03-02",
            None,
        );
        let quiet = doc.assign("Journal", "journal", "daily", "2026-03-02", None);
        doc.data.assignments.get_mut(&mood).unwrap().remind_at = Some("19:30".into());
        doc.data.assignments.get_mut(&walk).unwrap().remind_at = Some("08:00".into());
        doc.data.assignments.get_mut(&quiet).unwrap().remind_at = Some("not a time".into());
        let today = d("2026-03-03");

        assert!(due_reminders(&doc.data, today, t("07:59")).is_empty());
        assert_eq!(
            next_reminder(&doc.data, today, t("07:59")),
            Some(t("08:00"))
        );
        let at_eight: Vec<String> = due_reminders(&doc.data, today, t("08:00"))
            .iter()
            .map(|r| r.describe(today))
            .collect();
        assert_eq!(at_eight, vec!["Walk: due today".to_owned()]);
        assert_eq!(
            next_reminder(&doc.data, today, t("08:00")),
            Some(t("19:30"))
        );
        assert_eq!(due_reminders(&doc.data, today, t("20:00")).len(), 2);
        assert_eq!(next_reminder(&doc.data, today, t("20:00")), None);

        // Done: no reminder. A draft: a reminder to finish it.
        doc.done(&walk, "2026-03-03");
        doc.draft(&mood, "2026-03-03");
        let evening: Vec<String> = due_reminders(&doc.data, today, t("20:00"))
            .iter()
            .map(|r| r.describe(today))
            .collect();
        assert_eq!(
            evening,
            vec!["Mood check-in: your draft is waiting to be finished".to_owned()]
        );
    }

    #[test]
    fn an_overdue_once_assignment_is_reminded_daily_and_a_paused_one_never() {
        let mut doc = Doc::new();
        let record = doc.assign(
            "Thought record",
            "thought-record",
            "once:2026-03-04",
            "2026-03-02",
            None,
        );
        doc.data.assignments.get_mut(&record).unwrap().remind_at = Some("18:00".into());
        let later = d("2026-03-06");
        let due = due_reminders(&doc.data, later, t("18:00"));
        assert_eq!(
            due.iter().map(|r| r.describe(later)).collect::<Vec<_>>(),
            vec!["Thought record: it was due 2026-03-04 and is still open".to_owned()]
        );
        doc.set_status(
            &record,
            "2026-03-05",
            crate::model::AssignmentStatus::Paused,
        );
        assert!(due_reminders(&doc.data, later, t("18:00")).is_empty());
    }
}
