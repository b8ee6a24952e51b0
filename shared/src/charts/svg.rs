//! The SVG toolkit the charts share: escaping, the frame with its axes and grid, markers, and
//! the words and numbers a chart prints.

use super::*;

/// Escapes text for SVG content and attribute values. Characters XML 1.0 does not allow (most
/// control characters) become U+FFFD, because one of them in a title would make the whole
/// picture unreadable to an XML parser.
pub(super) fn escape(text: &str) -> String {
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
pub(super) fn open(out: &mut String, prefix: &str, height: f64, title: &str, desc: &str) {
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

pub(super) fn nothing_yet(out: &mut String, x: f64, y: f64) {
    w!(
        out,
        r#"<text x="{}" y="{}" font-size="13" text-anchor="middle" fill="{MUTED}">{NOTHING_YET}</text>"#,
        num(x),
        num(y)
    );
}

/// One line of a chart.
pub(super) struct Series<'a> {
    pub(super) name: &'a str,
    pub(super) points: Vec<(Day, f64)>,
    pub(super) colour: &'static str,
    pub(super) marker: Marker,
    pub(super) dash: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub(super) enum Marker {
    Circle,
    Square,
}

/// The plotting area of a line chart and the scales that map days and values into it.
pub(super) struct Frame {
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) bottom: f64,
    pub(super) from: Day,
    pub(super) to: Day,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Frame {
    /// The plotting area of a chart `height` high, with room for the title above and the day
    /// labels below.
    pub(super) fn plot(height: f64, from: Day, to: Day, min: f64, max: f64) -> Self {
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

    pub(super) fn x(&self, day: Day) -> f64 {
        let span = self.to.days_since(self.from);
        if span <= 0 {
            return (self.left + self.right) / 2.0;
        }
        let t = (day.days_since(self.from) as f64 / span as f64).clamp(0.0, 1.0);
        self.left + t * (self.right - self.left)
    }

    pub(super) fn y(&self, value: f64) -> f64 {
        let t = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        let t = if t.is_finite() { t } else { 0.0 };
        self.bottom - t * (self.bottom - self.top)
    }

    /// Gridlines with their values on the left, the date axis with the window's first, middle
    /// and last day below.
    pub(super) fn draw_grid(&self, out: &mut String, values: &[f64]) {
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
    pub(super) fn draw_series(&self, out: &mut String, series: &[Series<'_>]) {
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
pub(super) fn marker(
    out: &mut String,
    shape: Marker,
    x: f64,
    y: f64,
    colour: &str,
    tip: Option<&str>,
) {
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

pub(super) fn dash_attr(dash: Option<&str>) -> String {
    dash.map(|d| format!(r#" stroke-dasharray="{d}""#))
        .unwrap_or_default()
}

/// "Mon 3 Nov".
pub(super) fn day_name(day: Day) -> String {
    day.0.format("%a %-d %b").to_string()
}

/// "3 Nov", with the year when a window spans two.
pub(super) fn short_day(day: Day, with_year: bool) -> String {
    if with_year {
        day.0.format("%-d %b %Y").to_string()
    } else {
        day.0.format("%-d %b").to_string()
    }
}

/// "1 Nov to 30 Nov" ("… 2025 to … 2026" across a new year).
pub(super) fn period(from: Day, to: Day) -> String {
    let with_year = from.0.year() != to.0.year();
    format!(
        "{} to {}",
        short_day(from, with_year),
        short_day(to, with_year)
    )
}

/// A title turned into the [a-z0-9-] part of an id.
pub(super) fn slug(text: &str) -> String {
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

pub(super) fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(MAX_LABEL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// A coordinate or value with at most one decimal, without a trailing ".0" or a "-0".
pub(super) fn num(value: f64) -> String {
    decimals(value, 1)
}

/// A scale value with at most two decimals (a step of 0.25 stays exact).
pub(super) fn num2(value: f64) -> String {
    decimals(value, 2)
}

pub(super) fn decimals(value: f64, places: usize) -> String {
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
