//! Which events of the relay's access record `between audit` shows: a time window (`--since`,
//! `--until`), one device (`--device`: its name, the start of its id, or `this`), and kinds
//! (`--kind sign-in,read,write,refused,other`). Times are read in this device's time zone.

use anyhow::{bail, Result};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

use crate::cli::{AuditArgs, AuditKind};

/// The events `between audit` keeps.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// From this time on (Unix milliseconds).
    since_ms: Option<i64>,
    /// Up to this time (Unix milliseconds, inclusive).
    until_ms: Option<i64>,
    /// A device's name or the start of its id, in lower case.
    device: Option<String>,
    /// Kinds to keep; all when empty.
    kinds: Vec<AuditKind>,
}

/// One event as the filter sees it.
pub(crate) struct Seen<'a> {
    pub(crate) at_ms: i64,
    /// The device's id (hex), if the event names one.
    pub(crate) device: Option<String>,
    /// Whether it is this device.
    pub(crate) this_device: bool,
    /// Who it was, in words ("Your phone", "Dr Rivera's device (1a2b3c4d)").
    pub(crate) who: String,
    /// `sign_in`, `read`, `write` or `other`.
    pub(crate) kind: &'a str,
    pub(crate) refused: bool,
}

impl Filter {
    /// The filter the person asked for; `now_ms` anchors spans such as `7d`.
    pub(crate) fn new(args: &AuditArgs, now_ms: i64) -> Result<Self> {
        let since_ms = args
            .since
            .as_deref()
            .map(|t| moment("--since", t, now_ms, false))
            .transpose()?;
        let until_ms = args
            .until
            .as_deref()
            .map(|t| moment("--until", t, now_ms, true))
            .transpose()?;
        if let (Some(since), Some(until)) = (since_ms, until_ms) {
            if since > until {
                bail!("--since is after --until; nothing could match");
            }
        }
        Ok(Self {
            since_ms,
            until_ms,
            device: args
                .device
                .as_deref()
                .map(|d| d.trim().to_lowercase())
                .filter(|d| !d.is_empty()),
            kinds: args.kind.clone(),
        })
    }

    /// Whether anything is filtered out.
    pub(crate) fn is_active(&self) -> bool {
        self.since_ms.is_some()
            || self.until_ms.is_some()
            || self.device.is_some()
            || !self.kinds.is_empty()
    }

    /// Whether `event` is shown.
    pub(crate) fn keeps(&self, event: &Seen<'_>) -> bool {
        if self.since_ms.is_some_and(|since| event.at_ms < since)
            || self.until_ms.is_some_and(|until| event.at_ms > until)
        {
            return false;
        }
        if let Some(wanted) = &self.device {
            let by_id = event
                .device
                .as_deref()
                .is_some_and(|id| id.starts_with(wanted.as_str()));
            let by_name = event.who.to_lowercase().contains(wanted.as_str());
            let this = wanted == "this" && event.this_device;
            if !(by_id || by_name || this) {
                return false;
            }
        }
        self.kinds.is_empty()
            || self.kinds.iter().any(|kind| match kind {
                AuditKind::Refused => event.refused,
                AuditKind::SignIn => event.kind == "sign_in",
                AuditKind::Read => event.kind == "read",
                AuditKind::Write => event.kind == "write",
                AuditKind::Other => event.kind == "other",
            })
    }
}

/// A moment as typed: `7d`, `12h` or `30m` back from now, a date (its start, or its end for
/// `--until`), or a date and time, in this device's time zone.
fn moment(flag: &str, text: &str, now_ms: i64, end_of_day: bool) -> Result<i64> {
    let text = text.trim();
    let span = |unit_ms: i64, digits: &str| -> Option<i64> {
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .and_then(|ms| now_ms.checked_sub(ms))
    };
    let relative = match text.char_indices().last() {
        Some((at, 'd')) => span(24 * 60 * 60 * 1000, &text[..at]),
        Some((at, 'h')) => span(60 * 60 * 1000, &text[..at]),
        Some((at, 'm')) => span(60 * 1000, &text[..at]),
        _ => None,
    };
    if let Some(ms) = relative {
        return Ok(ms);
    }
    let local = |naive: NaiveDateTime| -> Option<i64> {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t: DateTime<Local>| t.timestamp_millis())
    };
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .ok()
        .and_then(local)
        .or_else(|| {
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            let time = if end_of_day {
                NaiveTime::from_hms_milli_opt(23, 59, 59, 999)?
            } else {
                NaiveTime::MIN
            };
            local(day.and_time(time))
        });
    match parsed {
        Some(ms) => Ok(ms),
        None => bail!(
            "{flag} '{text}' is not a time: write a date (2026-03-02), a date and time (2026-03-02 18:00), or a span back from now (7d, 12h, 30m)"
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_772_442_000_000;

    fn seen<'a>(at_ms: i64, who: &str, kind: &'a str, refused: bool) -> Seen<'a> {
        Seen {
            at_ms,
            device: Some("1a2b3c4d00000000".to_owned()),
            this_device: false,
            who: who.to_owned(),
            kind,
            refused,
        }
    }

    fn filter(args: AuditArgs) -> Filter {
        Filter::new(&args, NOW).unwrap()
    }

    #[test]
    fn keeps_what_the_window_device_and_kinds_allow() {
        let f = filter(AuditArgs {
            since: Some("2d".into()),
            ..AuditArgs::default()
        });
        assert!(f.keeps(&seen(NOW - 60_000, "Your phone", "read", false)));
        assert!(!f.keeps(&seen(NOW - 3 * 86_400_000, "Your phone", "read", false)));

        let f = filter(AuditArgs {
            device: Some("Dr Rivera".into()),
            ..AuditArgs::default()
        });
        assert!(f.keeps(&seen(NOW, "Dr Rivera's device (1a2b3c4d)", "read", false)));
        assert!(!f.keeps(&seen(NOW, "Your phone", "read", false)));
        let f = filter(AuditArgs {
            device: Some("1A2B".into()),
            ..AuditArgs::default()
        });
        assert!(f.keeps(&seen(NOW, "Your phone", "read", false)));

        let f = filter(AuditArgs {
            kind: vec![AuditKind::Refused, AuditKind::SignIn],
            ..AuditArgs::default()
        });
        assert!(f.keeps(&seen(NOW, "Someone else", "read", true)));
        assert!(f.keeps(&seen(NOW, "Your phone", "sign_in", false)));
        assert!(!f.keeps(&seen(NOW, "Your phone", "write", false)));
        assert!(!filter(AuditArgs::default()).is_active());
    }

    #[test]
    fn times_are_dates_moments_or_spans_and_anything_else_is_refused() {
        let day = moment("--since", "2026-03-02", NOW, false).unwrap();
        let end = moment("--until", "2026-03-02", NOW, true).unwrap();
        assert_eq!(end - day, 86_400_000 - 1);
        assert!(moment("--since", "2026-03-02 18:00", NOW, false).unwrap() > day);
        assert_eq!(
            moment("--since", "12h", NOW, false).unwrap(),
            NOW - 43_200_000
        );
        let err = moment("--since", "last tuesday", NOW, false).unwrap_err();
        assert!(err.to_string().contains("7d"), "{err}");
        assert!(Filter::new(
            &AuditArgs {
                since: Some("2026-03-05".into()),
                until: Some("2026-03-01".into()),
                ..AuditArgs::default()
            },
            NOW
        )
        .is_err());
    }
}
