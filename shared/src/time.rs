//! Points in time and calendar days as they are stored in the document.
//!
//! A [`Timestamp`] is milliseconds since the Unix epoch in UTC (an Automerge integer). A [`Day`] is
//! a calendar date in the person's local calendar, stored as `YYYY-MM-DD` text so that an exported
//! document stays readable. Nothing here reads the clock: callers pass `now` and `today` in.

use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A moment, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Converts from a chrono UTC time.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_millis())
    }

    /// Converts to a chrono UTC time (the epoch if the value is out of chrono's range).
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// Whole seconds since the epoch, as Automerge change metadata wants them.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%d %H:%M UTC"))
    }
}

impl Reconcile for Timestamp {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.i64(self.0)
    }
}

impl Hydrate for Timestamp {
    fn hydrate_int(i: i64) -> Result<Self, HydrateError> {
        Ok(Self(i))
    }
    fn hydrate_uint(u: u64) -> Result<Self, HydrateError> {
        i64::try_from(u)
            .map(Self)
            .map_err(|_| HydrateError::unexpected("a timestamp", "an out-of-range integer".into()))
    }
}

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Day(pub NaiveDate);

impl Day {
    /// Builds a day from its parts; `None` for an impossible date.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    /// The day after this one.
    pub fn succ(self) -> Self {
        Self(self.0.succ_opt().unwrap_or(self.0))
    }

    /// The day before this one.
    pub fn pred(self) -> Self {
        Self(self.0.pred_opt().unwrap_or(self.0))
    }

    /// This day moved by a number of days (negative goes back); at the calendar's limits it
    /// stays where it is, so a date from a document never makes arithmetic panic.
    pub fn add_days(self, days: i64) -> Self {
        chrono::TimeDelta::try_days(days)
            .and_then(|delta| self.0.checked_add_signed(delta))
            .map_or(self, Self)
    }

    /// Days from `earlier` to this day (negative if `earlier` is later).
    pub fn days_since(self, earlier: Day) -> i64 {
        (self.0 - earlier.0).num_days()
    }

    /// The weekday of this day.
    pub fn weekday(self) -> Weekday {
        self.0.weekday()
    }

    /// The Monday of the week this day falls in.
    pub fn week_start(self) -> Day {
        self.add_days(-i64::from(self.0.weekday().num_days_from_monday()))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A day that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date; write it as YYYY-MM-DD, e.g. 2026-03-14")]
pub struct BadDay(pub String);

impl FromStr for Day {
    type Err = BadDay;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Self)
            .map_err(|_| BadDay(s.to_string()))
    }
}

impl Reconcile for Day {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        reconciler.str(self.to_string())
    }
}

impl Hydrate for Day {
    fn hydrate_string(text: &str) -> Result<Self, HydrateError> {
        text.parse()
            .map_err(|_| HydrateError::unexpected("a YYYY-MM-DD date", text.to_string()))
    }
}

/// Parses a weekday name as people type it (`mon`, `Monday`, `tue`, ...).
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.trim().to_ascii_lowercase();
    let day = match lower.get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

/// The three-letter lowercase name of a weekday, as stored in schedules.
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}
