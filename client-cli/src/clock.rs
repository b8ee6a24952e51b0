//! The one place the CLI reads the time of day.
//!
//! The shared crate never reads a clock; commands pass `now` and `today` in from here.
//! `BETWEEN_NOW` (RFC 3339, e.g. `2026-03-02T09:00:00+01:00`) pins the homework's time
//! ([`Clock`]), which scripted walkthroughs and the end-to-end tests use to replay a week of
//! homework. What the relay and the app must see as the real time — sign-in challenges, when a
//! document was last synced or found deleted, when the app went online — reads [`real_unix_ms`],
//! which nothing pins. Timeouts and intervals wait on tokio's monotonic `Instant`, which is no
//! time of day and so not read here.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use between_shared::reminders::TimeOfDay;
use between_shared::{Day, Timestamp};
use chrono::{DateTime, FixedOffset, Local, Utc};

/// The device's real clock in Unix milliseconds, whatever `BETWEEN_NOW` pins: a sign-in must
/// be fresh for the relay, and sync records are about the device's own life, not the homework's.
pub(crate) fn real_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The current time and the local calendar day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    now: DateTime<FixedOffset>,
}

impl Clock {
    /// The real clock, unless `BETWEEN_NOW` pins it.
    pub(crate) fn from_env() -> Result<Self> {
        let now = match std::env::var("BETWEEN_NOW") {
            Ok(text) if !text.trim().is_empty() => DateTime::parse_from_rfc3339(text.trim())
                .with_context(|| {
                    format!("BETWEEN_NOW='{text}' is not an RFC 3339 time such as 2026-03-02T09:00:00+01:00")
                })?,
            _ => Local::now().fixed_offset(),
        };
        Ok(Self { now })
    }

    /// Now, as stored in the document.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_datetime(self.now.with_timezone(&Utc))
    }

    /// Today in the person's calendar.
    pub(crate) fn today(&self) -> Day {
        Day(self.now.date_naive())
    }

    /// The time of day on the person's clock, to the minute.
    pub(crate) fn time_of_day(&self) -> TimeOfDay {
        use chrono::Timelike;
        // chrono's hour and minute are always in range.
        TimeOfDay::new(self.now.hour(), self.now.minute()).unwrap_or(TimeOfDay::MIDNIGHT)
    }
}
