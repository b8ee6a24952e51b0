//! Progress charts for the local web app, drawn here as complete SVG text.
//!
//! The charts are drawn on the server side, from the same [`crate::progress`] and
//! [`crate::schedule`] values the CLI prints, rather than in the browser: the picture then works
//! offline, needs no chart library and no script (the page's Content-Security-Policy forbids
//! scripts and inline styles, so everything here uses SVG presentation attributes), and looks
//! the same on every device. Like the rest of the crate this module does no IO and reads no
//! clock: the window (`from`, `to`) and `today` come in as arguments, so the output is a pure,
//! deterministic function of its input.
//!
//! Every chart is a standalone `<svg role="img">` that scales to the width of its container
//! (`width="100%"` with a `viewBox` about as wide as a phone screen). Its `<title>` and `<desc>`
//! say in words what the picture shows, because a screen reader cannot read a line. Ids are
//! prefixed with the chart kind so that several charts can share one page. Text that comes from
//! the document (titles, distortion names) is escaped, since it is typed by people.
//!
//! No input makes a chart panic: values outside the scale are drawn at its edge, values that are
//! not numbers are left out, a reversed window is read the right way round, and a chart with
//! nothing to show says a calm "Nothing recorded yet" instead of drawing an empty grid alone.

use crate::measures::{Measure, Severity};
use crate::progress::{MeasurePoint, Trend};
use crate::schedule::{DueItem, DueState};
use crate::template::vocab::distortion_label;
use crate::time::Day;
use chrono::Datelike;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Writes to a `String`, which cannot fail, so the `fmt::Result` carries nothing to handle.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = write!($out, $($arg)*);
    };
}

/// Width of every chart in viewBox units: close to a phone's 390 px, so that text drawn at
/// 10–14 units reads at about that many pixels there and scales up on wider screens.
const WIDTH: f64 = 360.0;
const FONT: &str = "system-ui, sans-serif";
/// What an empty chart says: a fact, not a reproach.
const NOTHING_YET: &str = "Nothing recorded yet";

const INK: &str = "#374151";
const MUTED: &str = "#6b7280";
const GRID: &str = "#e5e7eb";
const AXIS: &str = "#9ca3af";
const BLUE: &str = "#2f6690";
const OCHRE: &str = "#a65e1c";
const SLATE: &str = "#30475e";

/// Longest title or label drawn in full; longer ones are cut with "…" in the picture (never in
/// the `<title>` or `<desc>`) so they cannot run off a phone screen.
const MAX_LABEL_CHARS: usize = 44;
/// Bars drawn at most by [`distortion_chart`]; the rest are counted in its description.
const MAX_BARS: usize = 10;
/// Weeks drawn at most by [`adherence_calendar`] (the latest ones): a year is as much as a
/// phone can show, and a window from a bad date must not produce megabytes.
pub const MAX_CALENDAR_WEEKS: i64 = 53;

mod calendar;
mod svg;
#[cfg(test)]
mod tests;

pub use calendar::adherence_calendar;
use svg::*;

/// A line chart of one value over the days `from..=to`, with `min..max` as its vertical scale
/// and a few labelled gridlines: mood (0–10), mastery or pleasure (0–10).
///
/// Each day of `trend` inside the window is a dot, joined by a line; days outside the window
/// are left out, values outside `min..max` are drawn at the edge. The description gives the
/// number of days recorded, the latest value, the average, lowest and highest of the days
/// shown. Ids start with `trend-` and the title, so a mood and a mastery chart can share a page.
pub fn trend_chart(title: &str, trend: &Trend, min: f64, max: f64, from: Day, to: Day) -> String {
    let (from, to) = window(from, to);
    let (min, max) = value_range(min, max);
    let series = Series {
        name: title,
        points: in_window(trend, from, to),
        colour: BLUE,
        marker: Marker::Circle,
        dash: None,
    };
    let desc = if series.points.is_empty() {
        format!("{title}: nothing recorded yet from {}.", period(from, to))
    } else {
        format!(
            "{title}, {} from {}; {}.",
            days_recorded(series.points.len()),
            period(from, to),
            summary(&series.points, max)
        )
    };
    let prefix = format!("trend-{}", slug(title));
    let mut out = String::new();
    let height = 220.0;
    open(&mut out, &prefix, height, title, &desc);
    let frame = Frame::plot(height, from, to, min, max);
    frame.draw_grid(&mut out, &ticks(min, max));
    frame.draw_series(&mut out, std::slice::from_ref(&series));
    out.push_str("</svg>");
    out
}

/// Mastery and pleasure of behavioural-activation records over `from..=to`, on one 0–10 scale.
///
/// The two series differ in colour and also in marker and line (mastery: blue dots on a solid
/// line; pleasure: ochre squares on a dashed line), and a legend names them, so the chart reads
/// without telling colours apart.
pub fn mastery_pleasure_chart(mastery: &Trend, pleasure: &Trend, from: Day, to: Day) -> String {
    let (from, to) = window(from, to);
    let title = "Mastery and pleasure";
    let series = [
        Series {
            name: "Mastery",
            points: in_window(mastery, from, to),
            colour: BLUE,
            marker: Marker::Circle,
            dash: None,
        },
        Series {
            name: "Pleasure",
            points: in_window(pleasure, from, to),
            colour: OCHRE,
            marker: Marker::Square,
            dash: Some("5 3"),
        },
    ];
    let mut desc = format!("{title} from {}, out of 10.", period(from, to));
    for s in &series {
        if s.points.is_empty() {
            w!(desc, " {}: nothing recorded yet.", s.name);
        } else {
            w!(
                desc,
                " {}: {}; {}.",
                s.name,
                days_recorded(s.points.len()),
                summary(&s.points, 10.0)
            );
        }
    }
    let prefix = "mastery-pleasure";
    let height = 236.0;
    let mut out = String::new();
    open(&mut out, prefix, height, title, &desc);
    // The legend shows each line's dash and marker, not only its colour.
    let mut x = 40.0;
    for s in &series {
        let y = 40.0;
        w!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{}/>"#,
            num(x),
            num(y),
            num(x + 24.0),
            num(y),
            s.colour,
            dash_attr(s.dash)
        );
        marker(&mut out, s.marker, x + 12.0, y, s.colour, None);
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="12" fill="{INK}">{}</text>"#,
            num(x + 30.0),
            num(y + 4.0),
            escape(s.name)
        );
        x += 110.0;
    }
    let frame = Frame {
        left: 34.0,
        right: WIDTH - 14.0,
        top: 54.0,
        bottom: height - 28.0,
        from,
        to,
        min: 0.0,
        max: 10.0,
    };
    frame.draw_grid(&mut out, &ticks(0.0, 10.0));
    frame.draw_series(&mut out, &series);
    out.push_str("</svg>");
    out
}

/// Total scores of one standard measure over `from..=to`, on a scale from 0 to the measure's
/// highest total, over its severity bands shaded and named ("minimal" ... "severe").
///
/// Only points whose template is this measure are drawn. The bands come from
/// [`Measure::severity`] itself, so the picture cannot drift from the scoring.
pub fn measure_chart(measure: Measure, points: &[MeasurePoint], from: Day, to: Day) -> String {
    let (from, to) = window(from, to);
    let max_total = measure.max_total();
    let mut shown: Vec<(Day, i64)> = points
        .iter()
        .filter(|p| Measure::from_template(p.template.as_str()) == Some(measure))
        .filter(|p| p.day >= from && p.day <= to)
        .map(|p| (p.day, p.total))
        .collect();
    // Stable, so two scores on one day keep the order they came in.
    shown.sort_by_key(|(day, _)| *day);
    let bands = bands(measure);

    let title = format!("{} scores", measure.name());
    let mut desc = if let Some((_, latest)) = shown.last() {
        let lowest = shown.iter().map(|(_, t)| *t).min().unwrap_or(*latest);
        let highest = shown.iter().map(|(_, t)| *t).max().unwrap_or(*latest);
        let mut text = format!(
            "{}, {} from {}; latest {latest} of {max_total} ({})",
            measure.name(),
            plural(shown.len(), "score", "scores"),
            period(from, to),
            measure.severity(*latest).label()
        );
        if shown.len() > 1 {
            w!(text, ", lowest {lowest}, highest {highest}");
        }
        text.push('.');
        text
    } else {
        format!(
            "{}: nothing recorded yet from {}.",
            measure.name(),
            period(from, to)
        )
    };
    let names: Vec<String> = bands
        .iter()
        .map(|(low, high, severity)| format!("{low}–{high} {}", severity.label()))
        .collect();
    w!(desc, " Bands: {}.", names.join(", "));

    let prefix = format!("measure-{}", slug(measure.template_id()));
    let height = 240.0;
    let mut out = String::new();
    open(&mut out, &prefix, height, &title, &desc);
    let frame = Frame::plot(height, from, to, 0.0, max_total as f64);
    for (low, high, severity) in &bands {
        // Scores are whole numbers; a band reaches half a point beyond its ends so that a score on
        // a band's edge sits inside it, not on the line between two.
        let (low, high) = (*low as f64 - 0.5, *high as f64 + 0.5);
        let top = frame.y(high);
        let bottom = frame.y(low);
        w!(
            out,
            r#"<rect class="{prefix}-band" x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
            num(frame.left),
            num(top),
            num(frame.right - frame.left),
            num(bottom - top),
            band_fill(*severity)
        );
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
            num(frame.left + 6.0),
            num((top + bottom) / 2.0 + 3.5),
            severity.label()
        );
    }
    let mut marks: Vec<f64> = bands.iter().map(|(low, _, _)| *low as f64).collect();
    marks.push(max_total as f64);
    frame.draw_grid(&mut out, &marks);
    let series = Series {
        name: measure.name(),
        points: shown.iter().map(|(d, t)| (*d, *t as f64)).collect(),
        colour: SLATE,
        marker: Marker::Circle,
        dash: None,
    };
    frame.draw_series(&mut out, std::slice::from_ref(&series));
    out.push_str("</svg>");
    out
}

/// Horizontal bars of how often each cognitive distortion ("thinking trap") was ticked, in the
/// order given (most frequent first, as [`crate::progress`] sorts them), each labelled with its
/// readable name and count. A name that is not in the vocabulary is shown as written.
pub fn distortion_chart(counts: &[(String, u32)]) -> String {
    let title = "Thinking traps";
    let shown = &counts[..counts.len().min(MAX_BARS)];
    let label = |name: &str| -> String {
        match distortion_label(name) {
            "" => name.trim().to_string(),
            label => label.to_string(),
        }
    };
    let desc = if shown.is_empty() {
        format!("{title}: nothing recorded yet.")
    } else {
        let parts: Vec<String> = shown
            .iter()
            .map(|(name, n)| {
                format!(
                    "{} {}",
                    label(name),
                    plural(usize::try_from(*n).unwrap_or(usize::MAX), "time", "times")
                )
            })
            .collect();
        let mut text = format!(
            "{title} noticed in thought records, most frequent first: {}.",
            parts.join(", ")
        );
        if counts.len() > shown.len() {
            w!(
                text,
                " {} not shown.",
                plural(counts.len() - shown.len(), "other", "others")
            );
        }
        text
    };

    let prefix = "distortions";
    let row = 36.0;
    let height = if shown.is_empty() {
        120.0
    } else {
        44.0 + shown.len() as f64 * row
    };
    let mut out = String::new();
    open(&mut out, prefix, height, title, &desc);
    if shown.is_empty() {
        nothing_yet(&mut out, WIDTH / 2.0, 72.0);
    }
    let most = shown.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let left = 12.0;
    let full = WIDTH - left - 48.0;
    for (i, (name, n)) in shown.iter().enumerate() {
        let y = 44.0 + i as f64 * row;
        let length = if most == 0 {
            0.0
        } else {
            full * f64::from(*n) / f64::from(most)
        };
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="12" fill="{INK}">{}</text>"#,
            num(left),
            num(y),
            escape(&shorten(&label(name)))
        );
        w!(
            out,
            r#"<rect class="{prefix}-bar" x="{}" y="{}" width="{}" height="12" rx="2" fill="{BLUE}"/>"#,
            num(left),
            num(y + 5.0),
            num(length)
        );
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="12" fill="{INK}">{n}</text>"#,
            num(left + length + 6.0),
            num(y + 15.0)
        );
    }
    out.push_str("</svg>");
    out
}

/// The points of `trend` inside `from..=to` that are numbers, oldest first.
fn in_window(trend: &Trend, from: Day, to: Day) -> Vec<(Day, f64)> {
    let mut points: Vec<(Day, f64)> = trend
        .points
        .iter()
        .filter(|p| p.day >= from && p.day <= to && p.value.is_finite())
        .map(|p| (p.day, p.value))
        .collect();
    points.sort_by_key(|(day, _)| *day);
    points
}

/// "latest 6 of 10, average 5.4, lowest 3, highest 8" for points that are not empty.
fn summary(points: &[(Day, f64)], max: f64) -> String {
    let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let Some(latest) = values.last() else {
        return String::new();
    };
    let average = values.iter().sum::<f64>() / values.len() as f64;
    let mut text = format!("latest {} of {}", num(*latest), num(max));
    if values.len() > 1 {
        let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        w!(
            text,
            ", average {}, lowest {}, highest {}",
            num(average),
            num(lowest),
            num(highest)
        );
    }
    text
}

fn days_recorded(n: usize) -> String {
    format!("{} recorded", plural(n, "day", "days"))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The window the right way round.
fn window(from: Day, to: Day) -> (Day, Day) {
    if to < from {
        (to, from)
    } else {
        (from, to)
    }
}

/// A usable value scale from what the caller gave: finite, lowest below highest.
fn value_range(min: f64, max: f64) -> (f64, f64) {
    match (min.is_finite(), max.is_finite()) {
        (true, true) if max > min => (min, max),
        (true, true) if max < min => (max, min),
        (true, _) => (min, min + 1.0),
        (false, true) => (max - 1.0, max),
        (false, false) => (0.0, 1.0),
    }
}

/// Gridline values for `min..max`: a round step (1, 2 or 5 times a power of ten) giving about
/// five intervals.
fn ticks(min: f64, max: f64) -> Vec<f64> {
    let raw = (max - min) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    if !step.is_finite() || step <= 0.0 {
        return vec![min, max];
    }
    let first = (min / step).ceil() * step;
    (0..=12)
        .map(|i| first + f64::from(i) * step)
        .take_while(|v| *v <= max + step * 1e-9)
        .collect()
}

/// The severity bands of a measure as (lowest total, highest total, severity), read from
/// [`Measure::severity`] over every possible total.
fn bands(measure: Measure) -> Vec<(i64, i64, Severity)> {
    let mut out: Vec<(i64, i64, Severity)> = Vec::new();
    for total in 0..=measure.max_total() {
        let severity = measure.severity(total);
        match out.last_mut() {
            Some(last) if last.2 == severity => last.1 = total,
            _ => out.push((total, total, severity)),
        }
    }
    out
}

/// Soft, warming tints: the bands are context for the line, not an alarm.
fn band_fill(severity: Severity) -> &'static str {
    match severity {
        Severity::Minimal => "#eef5f0",
        Severity::Mild => "#f3f5e9",
        Severity::Moderate => "#f8f1e1",
        Severity::ModeratelySevere => "#f7e9dc",
        Severity::Severe => "#f3e1d8",
    }
}
