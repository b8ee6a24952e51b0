//! Tests of the charts: what each draws for real data and for none, and that every text is
//! escaped.

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
    assert!(
        svg.contains("Mood &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
    );
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
    assert!(
        desc(&gad).starts_with("GAD-7, 1 score from 1 Nov to 30 Nov; latest 12 of 21 (moderate).")
    );

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
