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

/// A calendar of `from..=to` in weeks (rows, Monday first) by weekday (columns), each day
/// shaded by how its homework went: all done, some done, not done (a past day), to do (today or
/// later), or nothing due. `items` are what [`crate::schedule::due_between`] returns for the
/// window.
///
/// "N times a week" items stand for a whole week rather than a day, so they do not shade a day.
/// Colours are soft on purpose (a missed day is a muted grey-amber, not red): the calendar is
/// for noticing patterns, not for a wall of failure. Done days also carry a tick, so the states
/// do not rest on colour alone. Today's cell is outlined. At most the last
/// [`MAX_CALENDAR_WEEKS`] weeks are drawn.
pub fn adherence_calendar(items: &[DueItem], from: Day, to: Day, today: Day) -> String {
    let (from, to) = window(from, to);
    let last_monday = to.week_start();
    let mut first_monday = from.week_start();
    let mut from = from;
    if last_monday.days_since(first_monday) / 7 >= MAX_CALENDAR_WEEKS {
        first_monday = last_monday.add_days(-7 * (MAX_CALENDAR_WEEKS - 1));
        from = from.max(first_monday);
    }
    let weeks = (last_monday.days_since(first_monday) / 7 + 1).clamp(1, MAX_CALENDAR_WEEKS);

    // (done, due) per day; a times-a-week item stands for its week, so it shades no day.
    let mut per_day: BTreeMap<Day, (u32, u32)> = BTreeMap::new();
    for item in items
        .iter()
        .filter(|i| i.week.is_none() && i.day >= from && i.day <= to)
    {
        let slot = per_day.entry(item.day).or_insert((0, 0));
        slot.1 = slot.1.saturating_add(1);
        if item.state == DueState::Done {
            slot.0 = slot.0.saturating_add(1);
        }
    }

    let left = 34.0;
    let pitch = 46.0;
    let cell = 42.0;
    let grid_top = 54.0;
    let grid_bottom = grid_top + weeks as f64 * pitch;
    let height = grid_bottom + 50.0;

    let mut cells = String::new();
    let mut tally: BTreeMap<Shade, u32> = BTreeMap::new();
    let mut shown_today = false;
    for week in 0..weeks {
        let y = grid_top + week as f64 * pitch;
        let monday = first_monday.add_days(7 * week);
        let mut month_label: Option<Day> = None;
        for column in 0..7 {
            let day = monday.add_days(column);
            if day < from || day > to {
                continue;
            }
            if month_label.is_none() && (week == 0 || day.0.day() == 1 || day == from) {
                month_label = Some(day);
            }
            let (done, due) = per_day.get(&day).copied().unwrap_or((0, 0));
            let shade = shade(done, due, day, today);
            let slot = tally.entry(shade).or_insert(0);
            *slot = slot.saturating_add(1);
            let x = left + f64::from(day.weekday().num_days_from_monday()) * pitch;
            let is_today = day == today;
            shown_today |= is_today;
            let outline = if is_today {
                format!(r#" stroke="{BLUE}" stroke-width="2""#)
            } else {
                format!(r#" stroke="{GRID}" stroke-width="1""#)
            };
            w!(
                cells,
                r#"<rect class="adherence-day adherence-{}" data-day="{day}" x="{}" y="{}" width="{cell}" height="{cell}" rx="4" fill="{}"{outline}><title>{}{}: {}</title></rect>"#,
                shade.class(),
                num(x),
                num(y),
                shade.fill(),
                day_name(day),
                if is_today { " (today)" } else { "" },
                shade.tooltip(done, due)
            );
            w!(
                cells,
                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{INK}">{}</text>"#,
                num(x + cell / 2.0),
                num(y + cell / 2.0 + 4.0),
                day.0.day()
            );
            tick(&mut cells, shade, x + cell - 13.0, y + 5.0);
        }
        if let Some(day) = month_label {
            w!(
                cells,
                r#"<text x="4" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
                num(y + cell / 2.0 + 3.5),
                day.0.format("%b")
            );
        }
    }

    let title = "Homework calendar";
    let mut desc = format!("{title} from {}:", period(from, to));
    let counts: Vec<String> = Shade::ALL
        .iter()
        .map(|s| {
            let n = tally.get(s).copied().unwrap_or(0);
            format!(
                "{} {}",
                plural(usize::try_from(n).unwrap_or(usize::MAX), "day", "days"),
                s.in_words()
            )
        })
        .collect();
    w!(desc, " {}.", counts.join(", "));
    if shown_today {
        w!(desc, " Today is {}.", day_name(today));
    }
    w!(
        desc,
        " Assignments asked a number of times a week are not tied to a day and not shown here."
    );

    let prefix = "adherence";
    let mut out = String::new();
    open(&mut out, prefix, height, title, &desc);
    for (column, weekday) in WEEKDAYS.iter().enumerate() {
        let x = left + column as f64 * pitch + cell / 2.0;
        w!(
            out,
            r#"<text x="{}" y="46" font-size="11" text-anchor="middle" fill="{MUTED}">{weekday}</text>"#,
            num(x)
        );
    }
    out.push_str(&cells);
    // The legend, in two rows so that it fits a phone's width.
    for (i, shade) in Shade::ALL.iter().enumerate() {
        let (x, y) = (
            12.0 + (i % 3) as f64 * 116.0,
            grid_bottom + 8.0 + (i / 3) as f64 * 20.0,
        );
        w!(
            out,
            r#"<rect class="adherence-key adherence-{}" x="{}" y="{}" width="14" height="14" rx="2" fill="{}" stroke="{GRID}"/>"#,
            shade.class(),
            num(x),
            num(y),
            shade.fill()
        );
        tick(&mut out, *shade, x + 2.0, y + 2.0);
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{INK}">{}</text>"#,
            num(x + 20.0),
            num(y + 11.0),
            shade.label()
        );
    }
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

/// Escapes text for SVG content and attribute values. Characters XML 1.0 does not allow (most
/// control characters) become U+FFFD, because one of them in a title would make the whole
/// picture unreadable to an XML parser.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push('\u{FFFD}');
            }
            c => out.push(c),
        }
    }
    out
}

/// The opening of a chart: the root element with its accessible name and description, and the
/// visible title.
fn open(out: &mut String, prefix: &str, height: f64, title: &str, desc: &str) {
    w!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-labelledby="{prefix}-title {prefix}-desc" font-family="{FONT}" class="chart chart-{prefix}">"#,
        num(WIDTH),
        num(height)
    );
    w!(
        out,
        r#"<title id="{prefix}-title">{}</title><desc id="{prefix}-desc">{}</desc>"#,
        escape(title),
        escape(desc)
    );
    w!(
        out,
        r#"<text x="12" y="20" font-size="14" font-weight="600" fill="{INK}">{}</text>"#,
        escape(&shorten(title))
    );
}

fn nothing_yet(out: &mut String, x: f64, y: f64) {
    w!(
        out,
        r#"<text x="{}" y="{}" font-size="13" text-anchor="middle" fill="{MUTED}">{NOTHING_YET}</text>"#,
        num(x),
        num(y)
    );
}

/// One line of a chart.
struct Series<'a> {
    name: &'a str,
    points: Vec<(Day, f64)>,
    colour: &'static str,
    marker: Marker,
    dash: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
}

/// The plotting area of a line chart and the scales that map days and values into it.
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    from: Day,
    to: Day,
    min: f64,
    max: f64,
}

impl Frame {
    /// The plotting area of a chart `height` high, with room for the title above and the day
    /// labels below.
    fn plot(height: f64, from: Day, to: Day, min: f64, max: f64) -> Self {
        Frame {
            left: 34.0,
            right: WIDTH - 14.0,
            top: 36.0,
            bottom: height - 28.0,
            from,
            to,
            min,
            max,
        }
    }

    fn x(&self, day: Day) -> f64 {
        let span = self.to.days_since(self.from);
        if span <= 0 {
            return (self.left + self.right) / 2.0;
        }
        let t = (day.days_since(self.from) as f64 / span as f64).clamp(0.0, 1.0);
        self.left + t * (self.right - self.left)
    }

    fn y(&self, value: f64) -> f64 {
        let t = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        let t = if t.is_finite() { t } else { 0.0 };
        self.bottom - t * (self.bottom - self.top)
    }

    /// Gridlines with their values on the left, the date axis with the window's first, middle
    /// and last day below.
    fn draw_grid(&self, out: &mut String, values: &[f64]) {
        for value in values {
            let y = self.y(*value);
            w!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GRID}" stroke-width="1"/>"#,
                num(self.left),
                num(y),
                num(self.right),
                num(y)
            );
            w!(
                out,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="end" fill="{MUTED}">{}</text>"#,
                num(self.left - 5.0),
                num(y + 3.5),
                num2(*value)
            );
        }
        w!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/>"#,
            num(self.left),
            num(self.bottom),
            num(self.right),
            num(self.bottom)
        );
        let span = self.to.days_since(self.from);
        let with_year = self.from.0.year() != self.to.0.year();
        let mut labels = vec![(self.from, "start")];
        if span >= 4 {
            labels.push((self.from.add_days(span / 2), "middle"));
        }
        if span > 0 {
            labels.push((self.to, "end"));
        }
        for (day, anchor) in labels {
            let anchor = if span == 0 { "middle" } else { anchor };
            w!(
                out,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="{anchor}" fill="{MUTED}">{}</text>"#,
                num(self.x(day)),
                num(self.bottom + 16.0),
                short_day(day, with_year)
            );
        }
    }

    /// Lines and markers of each series, or the calm empty message when none has a point.
    fn draw_series(&self, out: &mut String, series: &[Series<'_>]) {
        if series.iter().all(|s| s.points.is_empty()) {
            nothing_yet(
                out,
                (self.left + self.right) / 2.0,
                (self.top + self.bottom) / 2.0,
            );
            return;
        }
        for s in series {
            if s.points.len() > 1 {
                let coordinates: Vec<String> = s
                    .points
                    .iter()
                    .map(|(day, value)| format!("{},{}", num(self.x(*day)), num(self.y(*value))))
                    .collect();
                w!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"{}/>"#,
                    coordinates.join(" "),
                    s.colour,
                    dash_attr(s.dash)
                );
            }
        }
        for s in series {
            for (day, value) in &s.points {
                let tip = format!("{} on {}: {}", s.name, day_name(*day), num2(*value));
                marker(
                    out,
                    s.marker,
                    self.x(*day),
                    self.y(*value),
                    s.colour,
                    Some(&tip),
                );
            }
        }
    }
}

/// A data marker; with a `tip`, it carries a `<title>` that shows on hover.
fn marker(out: &mut String, shape: Marker, x: f64, y: f64, colour: &str, tip: Option<&str>) {
    let (open, close) = match shape {
        Marker::Circle => (
            format!(
                r#"<circle cx="{}" cy="{}" r="3.5" fill="{colour}" stroke="white" stroke-width="1""#,
                num(x),
                num(y)
            ),
            "</circle>",
        ),
        Marker::Square => (
            format!(
                r#"<rect x="{}" y="{}" width="7" height="7" fill="{colour}" stroke="white" stroke-width="1""#,
                num(x - 3.5),
                num(y - 3.5)
            ),
            "</rect>",
        ),
    };
    out.push_str(&open);
    match tip {
        Some(tip) => {
            w!(out, "><title>{}</title>{close}", escape(tip));
        }
        None => out.push_str("/>"),
    }
}

fn dash_attr(dash: Option<&str>) -> String {
    dash.map(|d| format!(r#" stroke-dasharray="{d}""#))
        .unwrap_or_default()
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

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// How a day of the calendar went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shade {
    AllDone,
    SomeDone,
    NotDone,
    ToDo,
    NothingDue,
}

impl Shade {
    const ALL: [Shade; 5] = [
        Shade::AllDone,
        Shade::SomeDone,
        Shade::NotDone,
        Shade::ToDo,
        Shade::NothingDue,
    ];

    fn class(self) -> &'static str {
        match self {
            Shade::AllDone => "all-done",
            Shade::SomeDone => "some-done",
            Shade::NotDone => "not-done",
            Shade::ToDo => "to-do",
            Shade::NothingDue => "nothing-due",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Shade::AllDone => "All done",
            Shade::SomeDone => "Some done",
            Shade::NotDone => "Not done",
            Shade::ToDo => "To do",
            Shade::NothingDue => "Nothing due",
        }
    }

    fn in_words(self) -> &'static str {
        match self {
            Shade::AllDone => "all done",
            Shade::SomeDone => "some done",
            Shade::NotDone => "not done",
            Shade::ToDo => "still to do",
            Shade::NothingDue => "with nothing due",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Shade::AllDone => "#7fb996",
            Shade::SomeDone => "#cde6d5",
            // Grey-amber: visible, but not the red of an error.
            Shade::NotDone => "#e3d6b8",
            Shade::ToDo => "#d6e4f2",
            Shade::NothingDue => "#f4f5f7",
        }
    }

    fn tooltip(self, done: u32, due: u32) -> String {
        match self {
            Shade::AllDone | Shade::SomeDone => format!("{done} of {due} done"),
            Shade::NotDone => format!("not done (0 of {due})"),
            Shade::ToDo => format!("{due} to do"),
            Shade::NothingDue => "nothing due".to_string(),
        }
    }
}

/// How a day went: `done` of `due` items. A day not fully done is only "not done" once it is
/// over; today and later it is still to do.
fn shade(done: u32, due: u32, day: Day, today: Day) -> Shade {
    if due == 0 {
        Shade::NothingDue
    } else if done >= due {
        Shade::AllDone
    } else if done > 0 {
        Shade::SomeDone
    } else if day < today {
        Shade::NotDone
    } else {
        Shade::ToDo
    }
}

/// A tick for all done and half a tick for some done, so that the states can be told apart
/// without seeing colour.
fn tick(out: &mut String, shade: Shade, x: f64, y: f64) {
    let d = match shade {
        Shade::AllDone => format!("M{} {} l3 3 l6 -6", num(x), num(y + 4.0)),
        Shade::SomeDone => format!("M{} {} l3 3", num(x), num(y + 4.0)),
        _ => return,
    };
    w!(
        out,
        r#"<path d="{d}" fill="none" stroke="{INK}" stroke-width="1.5" stroke-linecap="round"/>"#
    );
}

/// "Mon 3 Nov".
fn day_name(day: Day) -> String {
    day.0.format("%a %-d %b").to_string()
}

/// "3 Nov", with the year when a window spans two.
fn short_day(day: Day, with_year: bool) -> String {
    if with_year {
        day.0.format("%-d %b %Y").to_string()
    } else {
        day.0.format("%-d %b").to_string()
    }
}

/// "1 Nov to 30 Nov" ("… 2025 to … 2026" across a new year).
fn period(from: Day, to: Day) -> String {
    let with_year = from.0.year() != to.0.year();
    format!(
        "{} to {}",
        short_day(from, with_year),
        short_day(to, with_year)
    )
}

/// A title turned into the [a-z0-9-] part of an id.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 32 {
            break;
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "chart".to_string()
    } else {
        out.to_string()
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(MAX_LABEL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// A coordinate or value with at most one decimal, without a trailing ".0" or a "-0".
fn num(value: f64) -> String {
    decimals(value, 1)
}

/// A scale value with at most two decimals (a step of 0.25 stays exact).
fn num2(value: f64) -> String {
    decimals(value, 2)
}

fn decimals(value: f64, places: usize) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    let text = format!("{value:.places$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ids::{AssignmentId, TemplateId};
    use crate::progress::TrendPoint;
    use crate::schedule::due_between;
    use crate::schedule::testkit::{d, Doc};

    fn trend(points: &[(&str, f64)]) -> Trend {
        Trend {
            points: points
                .iter()
                .map(|(day, value)| TrendPoint {
                    day: d(day),
                    value: *value,
                })
                .collect(),
            latest: points.last().map(|(_, v)| *v),
            ..Trend::default()
        }
    }

    fn score(template: &str, day: &str, total: i64) -> MeasurePoint {
        MeasurePoint {
            template: TemplateId::from_string(template),
            day: d(day),
            total,
            severity: String::new(),
        }
    }

    /// The text of the `<desc>` element.
    fn desc(svg: &str) -> &str {
        let start = svg.find("<desc").unwrap();
        let start = start + svg[start..].find('>').unwrap() + 1;
        let end = svg.find("</desc>").unwrap();
        &svg[start..end]
    }

    /// The value of attribute `name` of the first element of `svg` whose tag or tooltip contains
    /// `marker`.
    fn attribute<'a>(svg: &'a str, marker: &str, name: &str) -> &'a str {
        let at = svg.find(marker).unwrap();
        let mut open = svg[..at].rfind('<').unwrap();
        // A marker's tooltip names it: the element is the one the `<title>` belongs to.
        if svg[open..].starts_with("<title>") {
            open = svg[..open].rfind('<').unwrap();
        }
        let tag = &svg[open..open + svg[open..].find('>').unwrap()];
        let key = format!(" {name}=\"");
        let start = tag.find(&key).unwrap() + key.len();
        let len = tag[start..].find('"').unwrap();
        &tag[start..start + len]
    }

    /// A small well-formedness check: tags balance, attribute quotes pair up, every `&` starts
    /// one of the entities `escape` writes, and nothing follows the root.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        let entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"];
        let check_amps = |text: &str| {
            for (i, _) in text.match_indices('&') {
                assert!(
                    entities.iter().any(|e| text[i..].starts_with(e)),
                    "bare & in {text}"
                );
            }
        };
        while let Some(start) = rest.find('<') {
            check_amps(&rest[..start]);
            let end = start + rest[start..].find('>').unwrap();
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "< inside a tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unpaired quote: {tag}");
            check_amps(tag);
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "closing {name}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap());
            }
            rest = &rest[end + 1..];
            if stack.is_empty() {
                assert!(rest.is_empty(), "text after the root: {rest}");
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    /// What every chart must be: well formed, accessible, scalable, CSP-safe, ids unique and
    /// prefixed with the chart kind.
    fn assert_chart(svg: &str, prefix: &str) {
        assert_well_formed(svg);
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(&format!(
            r#"aria-labelledby="{prefix}-title {prefix}-desc""#
        )));
        assert!(svg.contains(&format!(r#"<title id="{prefix}-title">"#)));
        assert!(svg.contains(&format!(r#"<desc id="{prefix}-desc">"#)));
        assert!(svg.contains(r#"viewBox="0 0 360 "#));
        assert!(svg.contains(r#"width="100%""#));
        assert!(svg.contains(r#"font-family="system-ui, sans-serif""#));
        assert!(!svg.contains("style="), "inline style in {svg}");
        assert!(!svg.contains("<script"), "script in {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let ids: Vec<&str> = svg
            .match_indices(" id=\"")
            .map(|(i, _)| {
                let rest = &svg[i + 5..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        for id in &ids {
            assert!(id.starts_with(prefix), "{id} not prefixed with {prefix}");
            assert_eq!(ids.iter().filter(|other| *other == id).count(), 1, "{id}");
        }
    }

    #[test]
    fn escape_neutralises_markup_quotes_and_control_characters() {
        let hostile = "<script>alert(\"1\" & '2')</script>\u{0}\u{1b}]\n";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(&quot;1&quot; &amp; &#39;2&#39;)&lt;/script&gt;\u{FFFD}\u{FFFD}]\n"
        );
        assert_eq!(escape("Grüße, 3 > 2"), "Grüße, 3 &gt; 2");
    }

    #[test]
    fn empty_trend_draws_a_frame_and_says_nothing_recorded_yet() {
        let svg = trend_chart(
            "Mood",
            &Trend::default(),
            0.0,
            10.0,
            d("2026-11-01"),
            d("2026-11-30"),
        );
        assert_chart(&svg, "trend-mood");
        assert!(svg.contains(">Nothing recorded yet</text>"));
        assert!(!svg.contains("<circle"));
        assert!(!svg.contains("<polyline"));
        assert_eq!(
            desc(&svg),
            "Mood: nothing recorded yet from 1 Nov to 30 Nov."
        );
        // Gridlines 0, 2, ... 10 are labelled.
        for label in [">0<", ">2<", ">4<", ">6<", ">8<", ">10<"] {
            assert!(svg.contains(label), "{label}");
        }
    }

    #[test]
    fn trend_draws_one_marker_per_point_in_the_window_only() {
        let mood = trend(&[
            ("2026-10-31", 1.0), // before the window
            ("2026-11-01", 4.0),
            ("2026-11-10", 5.0),
            ("2026-11-20", 7.0),
            ("2026-11-30", 6.0),
            ("2026-12-01", 9.0), // after it
        ]);
        let svg = trend_chart("Mood", &mood, 0.0, 10.0, d("2026-11-01"), d("2026-11-30"));
        assert_chart(&svg, "trend-mood");
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(!svg.contains("Nothing recorded yet"));
        assert!(!svg.contains("31 Oct") && !svg.contains("1 Dec"));
        assert!(svg.contains("<title>Mood on Sun 1 Nov: 4</title>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // The first point sits on the left edge of the plot, the last on the right.
        assert_eq!(attribute(&svg, "Mood on Sun 1 Nov", "cx"), "34");
        assert_eq!(attribute(&svg, "Mood on Mon 30 Nov", "cx"), "346");
        assert_eq!(
            desc(&svg),
            "Mood, 4 days recorded from 1 Nov to 30 Nov; latest 6 of 10, average 5.5, \
             lowest 4, highest 7."
        );
        // A reversed window reads the same.
        assert_eq!(
            svg,
            trend_chart("Mood", &mood, 0.0, 10.0, d("2026-11-30"), d("2026-11-01"))
        );
    }

    #[test]
    fn trend_clamps_out_of_range_values_and_skips_non_numbers() {
        let odd = trend(&[
            ("2026-11-02", 15.0),
            ("2026-11-03", -4.0),
            ("2026-11-04", f64::NAN),
            ("2026-11-05", f64::INFINITY),
        ]);
        let svg = trend_chart("Mood", &odd, 0.0, 10.0, d("2026-11-01"), d("2026-11-30"));
        assert_chart(&svg, "trend-mood");
        assert_eq!(svg.matches("<circle").count(), 2);
        // The plot runs from y 36 (10) to y 192 (0).
        assert_eq!(attribute(&svg, "Mood on Mon 2 Nov", "cy"), "36");
        assert_eq!(attribute(&svg, "Mood on Tue 3 Nov", "cy"), "192");
        assert!(desc(&svg).contains("latest -4 of 10"));

        // Degenerate scales and windows draw without numbers that are not numbers.
        let one = trend(&[("2026-11-02", 3.0)]);
        for (min, max) in [(5.0, 5.0), (10.0, 0.0), (f64::NAN, f64::INFINITY)] {
            let svg = trend_chart("Mood", &one, min, max, d("2026-11-02"), d("2026-11-02"));
            assert_chart(&svg, "trend-mood");
            assert_eq!(svg.matches("<circle").count(), 1);
            assert!(!svg.contains("<polyline"));
        }
        let far = trend_chart(
            "Mood",
            &one,
            0.0,
            10.0,
            Day(chrono::NaiveDate::MIN),
            Day(chrono::NaiveDate::MAX),
        );
        assert_chart(&far, "trend-mood");
    }

    #[test]
    fn hostile_title_is_escaped_and_ids_stay_plain() {
        let title = "Mood <script>alert('x')</script> & \"more\"";
        let one = trend(&[("2026-11-02", 3.0)]);
        let svg = trend_chart(title, &one, 0.0, 10.0, d("2026-11-01"), d("2026-11-30"));
        assert_chart(&svg, "trend-mood-script-alert-x-script-more");
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("'x'"));
        assert!(svg.contains(
            "Mood &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"
        ));
    }

    #[test]
    fn mastery_and_pleasure_differ_by_marker_and_dash_and_have_a_legend() {
        let mastery = trend(&[("2026-11-02", 5.0), ("2026-11-05", 8.0)]);
        let pleasure = trend(&[
            ("2026-11-02", 7.0),
            ("2026-11-05", 3.0),
            ("2026-11-09", 4.0),
        ]);
        let svg = mastery_pleasure_chart(&mastery, &pleasure, d("2026-11-01"), d("2026-11-14"));
        assert_chart(&svg, "mastery-pleasure");
        // Two mastery dots plus the legend's; three pleasure squares plus the legend's.
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches(r#"width="7" height="7""#).count(), 4);
        assert!(svg.contains(">Mastery</text>") && svg.contains(">Pleasure</text>"));
        // The pleasure line is dashed, in the legend and in the plot; mastery is not.
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
        assert!(attribute(&svg, "stroke-dasharray", "stroke") == OCHRE);
        assert_eq!(
            desc(&svg),
            "Mastery and pleasure from 1 Nov to 14 Nov, out of 10. Mastery: 2 days recorded; \
             latest 8 of 10, average 6.5, lowest 5, highest 8. Pleasure: 3 days recorded; \
             latest 4 of 10, average 4.7, lowest 3, highest 7."
        );
        let empty = mastery_pleasure_chart(
            &Trend::default(),
            &Trend::default(),
            d("2026-11-01"),
            d("2026-11-14"),
        );
        assert_chart(&empty, "mastery-pleasure");
        assert!(empty.contains("Nothing recorded yet"));
        // Only the legend's markers.
        assert_eq!(empty.matches("<circle").count(), 1);
    }

    #[test]
    fn measure_charts_shade_and_name_their_severity_bands() {
        let points = [
            score("phq-9", "2026-11-02", 4),
            score("gad-7", "2026-11-03", 12),
            score("phq-9", "2026-11-16", 14),
            score("phq-9", "2026-12-14", 20), // after the window
            score("journal", "2026-11-05", 3),
        ];
        let phq = measure_chart(Measure::Phq9, &points, d("2026-11-01"), d("2026-11-30"));
        assert_chart(&phq, "measure-phq-9");
        assert_eq!(phq.matches(r#"class="measure-phq-9-band""#).count(), 5);
        for band in ["minimal", "mild", "moderate", "moderately severe", "severe"] {
            assert!(phq.contains(&format!(">{band}</text>")), "{band}");
        }
        assert_eq!(phq.matches("<circle").count(), 2);
        assert_eq!(
            desc(&phq),
            "PHQ-9, 2 scores from 1 Nov to 30 Nov; latest 14 of 27 (moderate), lowest 4, \
             highest 14. Bands: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately \
             severe, 20–27 severe."
        );
        // The scale is labelled at each band's start and at the highest total.
        for label in [">0<", ">5<", ">10<", ">15<", ">20<", ">27<"] {
            assert!(phq.contains(label), "{label}");
        }

        let gad = measure_chart(Measure::Gad7, &points, d("2026-11-01"), d("2026-11-30"));
        assert_chart(&gad, "measure-gad-7");
        assert_eq!(gad.matches(r#"class="measure-gad-7-band""#).count(), 4);
        for band in ["minimal", "mild", "moderate", "severe"] {
            assert!(gad.contains(&format!(">{band}</text>")), "{band}");
        }
        assert!(!gad.contains("moderately severe"));
        assert_eq!(gad.matches("<circle").count(), 1);
        assert!(desc(&gad)
            .starts_with("GAD-7, 1 score from 1 Nov to 30 Nov; latest 12 of 21 (moderate)."));

        let none = measure_chart(Measure::Gad7, &[], d("2026-11-01"), d("2026-11-30"));
        assert_chart(&none, "measure-gad-7");
        assert!(none.contains("Nothing recorded yet"));
        // A total outside the scale is drawn at its edge.
        let odd = measure_chart(
            Measure::Gad7,
            &[score("gad-7", "2026-11-03", 99)],
            d("2026-11-01"),
            d("2026-11-30"),
        );
        assert_eq!(attribute(&odd, "GAD-7 on", "cy"), "36");
    }

    #[test]
    fn calendar_has_one_cell_per_day_shaded_by_what_was_done() {
        let mut doc = Doc::new();
        // Daily from Wednesday 4 March 2026; today is Tuesday 10 March.
        let walk = doc.assign("Walk", "journal", "daily", "2026-03-04", None);
        let read = doc.assign("Read", "journal", "weekly:mon,thu", "2026-03-04", None);
        let _weekly = doc.assign("Swim", "journal", "2/week", "2026-03-04", None);
        doc.done(&walk, "2026-03-04");
        doc.done(&walk, "2026-03-05"); // Thursday: Walk done, Read not
        doc.done(&walk, "2026-03-07");
        doc.done(&walk, "2026-03-09");
        doc.done(&read, "2026-03-09"); // Monday: both done
        let (from, to, today) = (d("2026-03-03"), d("2026-03-15"), d("2026-03-10"));
        let items = due_between(&doc.data, from, to, today);
        let svg = adherence_calendar(&items, from, to, today);
        assert_chart(&svg, "adherence");
        assert_eq!(svg.matches(r#"class="adherence-day "#).count(), 13);
        let state = |day: &str| attribute(&svg, &format!(r#"data-day="{day}""#), "class");
        assert_eq!(state("2026-03-03"), "adherence-day adherence-nothing-due");
        assert_eq!(state("2026-03-04"), "adherence-day adherence-all-done");
        assert_eq!(state("2026-03-05"), "adherence-day adherence-some-done");
        assert_eq!(state("2026-03-06"), "adherence-day adherence-not-done");
        assert_eq!(state("2026-03-09"), "adherence-day adherence-all-done");
        assert_eq!(state("2026-03-10"), "adherence-day adherence-to-do");
        assert_eq!(state("2026-03-12"), "adherence-day adherence-to-do");
        // Today is outlined and named.
        assert_eq!(
            attribute(&svg, r#"data-day="2026-03-10""#, "stroke-width"),
            "2"
        );
        assert!(svg.contains("<title>Tue 10 Mar (today): 1 to do</title>"));
        assert!(svg.contains("<title>Fri 6 Mar: not done (0 of 1)</title>"));
        assert!(!svg.contains("#c0392b") && !svg.contains("red"));
        // Weekday columns, Monday first, and the legend.
        let mon = svg.find(">Mon</text>").unwrap();
        let sun = svg.find(">Sun</text>").unwrap();
        assert!(mon < sun);
        for label in ["All done", "Some done", "Not done", "To do", "Nothing due"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert_eq!(
            desc(&svg),
            "Homework calendar from 3 Mar to 15 Mar: 3 days all done, 1 day some done, \
             2 days not done, 6 days still to do, 1 day with nothing due. Today is Tue 10 Mar. \
             Assignments asked a number of times a week are not tied to a day and not shown here."
        );
    }

    #[test]
    fn calendar_copes_with_any_window() {
        let item = DueItem {
            assignment: AssignmentId::from_string("a"),
            title: "Walk".into(),
            template: TemplateId::from_string("journal"),
            day: d("2026-03-04"),
            state: DueState::Missed,
            done_on: None,
            week: None,
        };
        // One day; reversed; as wide as the calendar goes (capped at the latest weeks).
        let one = adherence_calendar(
            std::slice::from_ref(&item),
            d("2026-03-04"),
            d("2026-03-04"),
            d("2026-03-10"),
        );
        assert_chart(&one, "adherence");
        assert_eq!(one.matches(r#"class="adherence-day "#).count(), 1);
        assert!(one.contains("adherence-not-done"));
        let reversed = adherence_calendar(&[], d("2026-03-15"), d("2026-03-01"), d("2026-03-10"));
        assert_eq!(reversed.matches(r#"class="adherence-day "#).count(), 15);
        let wide = adherence_calendar(
            &[item],
            Day(chrono::NaiveDate::MIN),
            Day(chrono::NaiveDate::MAX),
            d("2026-03-10"),
        );
        assert_chart(&wide, "adherence");
        let cells = wide.matches(r#"class="adherence-day "#).count();
        assert!(cells > 0 && cells <= 53 * 7, "{cells}");
    }

    #[test]
    fn distortion_bars_are_labelled_and_escaped() {
        let counts = vec![
            ("catastrophising".to_string(), 4),
            ("mind-reading".to_string(), 2),
            ("<b>\"mine\" & 'yours'</b>".to_string(), 1),
        ];
        let svg = distortion_chart(&counts);
        assert_chart(&svg, "distortions");
        assert_eq!(svg.matches(r#"class="distortions-bar""#).count(), 3);
        assert!(svg.contains(">Catastrophising</text>"));
        assert!(svg.contains(">Mind reading</text>"));
        assert!(svg.contains(">4</text>") && svg.contains(">2</text>"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;&quot;mine&quot; &amp; &#39;yours&#39;&lt;/b&gt;"));
        // The longest bar is the most frequent; the others in proportion.
        assert_eq!(
            attribute(&svg, r#"class="distortions-bar""#, "width"),
            "300"
        );
        assert_eq!(
            desc(&svg),
            "Thinking traps noticed in thought records, most frequent first: Catastrophising \
             4 times, Mind reading 2 times, &lt;b&gt;&quot;mine&quot; &amp; &#39;yours&#39;&lt;/b&gt; 1 time."
        );

        let empty = distortion_chart(&[]);
        assert_chart(&empty, "distortions");
        assert!(empty.contains("Nothing recorded yet"));

        let many: Vec<(String, u32)> = (0..14).map(|i| (format!("trap {i}"), 0)).collect();
        let svg = distortion_chart(&many);
        assert_chart(&svg, "distortions");
        assert_eq!(svg.matches(r#"class="distortions-bar""#).count(), 10);
        assert!(desc(&svg).ends_with(" 4 others not shown."));
    }

    #[test]
    fn numbers_have_at_most_two_decimals_and_no_negative_zero() {
        assert_eq!(num(5.0), "5");
        assert_eq!(num(5.4321), "5.4");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num2(2.25), "2.25");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let labels: Vec<String> = ticks(0.0, 1.0).into_iter().map(num2).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    }
}
