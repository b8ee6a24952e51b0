//! The adherence calendar: a week per row, each day shaded by how much of its homework was
//! done.

use super::*;

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
    let grid = Grid::new(from, to);
    let per_day = done_and_due(items, grid.from, grid.to);
    let mut cells = String::new();
    let mut tally: BTreeMap<Shade, u32> = BTreeMap::new();
    for week in 0..grid.weeks {
        draw_week(&mut cells, &grid, week, &per_day, today, &mut tally);
    }
    let title = "Homework calendar";
    let desc = describe(title, &grid, &tally, today);
    let mut out = String::new();
    open(&mut out, "adherence", grid.bottom() + 50.0, title, &desc);
    for (column, weekday) in WEEKDAYS.iter().enumerate() {
        let x = LEFT + column as f64 * PITCH + CELL / 2.0;
        w!(
            out,
            r#"<text x="{}" y="46" font-size="11" text-anchor="middle" fill="{MUTED}">{weekday}</text>"#,
            num(x)
        );
    }
    out.push_str(&cells);
    legend(&mut out, grid.bottom());
    out.push_str("</svg>");
    out
}

/// Where the first column starts, the distance between cells, a cell's side, and the top of the
/// first week's row.
const LEFT: f64 = 34.0;
const PITCH: f64 = 46.0;
const CELL: f64 = 42.0;
const GRID_TOP: f64 = 54.0;

/// The days drawn and the weeks they fill: at most the last [`MAX_CALENDAR_WEEKS`] weeks of the
/// window, Monday first.
struct Grid {
    from: Day,
    to: Day,
    first_monday: Day,
    weeks: i64,
}

impl Grid {
    fn new(from: Day, to: Day) -> Grid {
        let (mut from, to) = window(from, to);
        let last_monday = to.week_start();
        let mut first_monday = from.week_start();
        if last_monday.days_since(first_monday) / 7 >= MAX_CALENDAR_WEEKS {
            first_monday = last_monday.add_days(-7 * (MAX_CALENDAR_WEEKS - 1));
            from = from.max(first_monday);
        }
        let weeks = (last_monday.days_since(first_monday) / 7 + 1).clamp(1, MAX_CALENDAR_WEEKS);
        Grid {
            from,
            to,
            first_monday,
            weeks,
        }
    }

    /// Below the last week's row.
    fn bottom(&self) -> f64 {
        GRID_TOP + self.weeks as f64 * PITCH
    }
}

/// (done, due) per day of `from..=to`; a times-a-week item stands for its week, so it counts
/// for no day.
fn done_and_due(items: &[DueItem], from: Day, to: Day) -> BTreeMap<Day, (u32, u32)> {
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
    per_day
}

/// One week's row: a shaded cell per day in the window (today outlined), its number and tick,
/// and the month's name where a month starts; counts each day's shade in `tally`.
fn draw_week(
    cells: &mut String,
    grid: &Grid,
    week: i64,
    per_day: &BTreeMap<Day, (u32, u32)>,
    today: Day,
    tally: &mut BTreeMap<Shade, u32>,
) {
    let y = GRID_TOP + week as f64 * PITCH;
    let monday = grid.first_monday.add_days(7 * week);
    let mut month_label: Option<Day> = None;
    for column in 0..7 {
        let day = monday.add_days(column);
        if day < grid.from || day > grid.to {
            continue;
        }
        if month_label.is_none() && (week == 0 || day.0.day() == 1 || day == grid.from) {
            month_label = Some(day);
        }
        let (done, due) = per_day.get(&day).copied().unwrap_or((0, 0));
        let shade = shade(done, due, day, today);
        let slot = tally.entry(shade).or_insert(0);
        *slot = slot.saturating_add(1);
        let x = LEFT + f64::from(day.weekday().num_days_from_monday()) * PITCH;
        let is_today = day == today;
        let outline = if is_today {
            format!(r#" stroke="{BLUE}" stroke-width="2""#)
        } else {
            format!(r#" stroke="{GRID}" stroke-width="1""#)
        };
        w!(
            cells,
            r#"<rect class="adherence-day adherence-{}" data-day="{day}" x="{}" y="{}" width="{CELL}" height="{CELL}" rx="4" fill="{}"{outline}><title>{}{}: {}</title></rect>"#,
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
            num(x + CELL / 2.0),
            num(y + CELL / 2.0 + 4.0),
            day.0.day()
        );
        tick(cells, shade, x + CELL - 13.0, y + 5.0);
    }
    if let Some(day) = month_label {
        w!(
            cells,
            r#"<text x="4" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
            num(y + CELL / 2.0 + 3.5),
            day.0.format("%b")
        );
    }
}

/// The calendar in words, for screen readers: the window, how many days had each shade, today.
fn describe(title: &str, grid: &Grid, tally: &BTreeMap<Shade, u32>, today: Day) -> String {
    let mut desc = format!("{title} from {}:", period(grid.from, grid.to));
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
    // Every day of the window is drawn, so today is shown exactly when it is in the window.
    if grid.from <= today && today <= grid.to {
        w!(desc, " Today is {}.", day_name(today));
    }
    w!(
        desc,
        " Assignments asked a number of times a week are not tied to a day and not shown here."
    );
    desc
}

/// The legend, in two rows so that it fits a phone's width.
fn legend(out: &mut String, grid_bottom: f64) {
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
        tick(out, *shade, x + 2.0, y + 2.0);
        w!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{INK}">{}</text>"#,
            num(x + 20.0),
            num(y + 11.0),
            shade.label()
        );
    }
}

pub(super) const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// How a day of the calendar went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Shade {
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

    pub(super) fn class(self) -> &'static str {
        match self {
            Shade::AllDone => "all-done",
            Shade::SomeDone => "some-done",
            Shade::NotDone => "not-done",
            Shade::ToDo => "to-do",
            Shade::NothingDue => "nothing-due",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Shade::AllDone => "All done",
            Shade::SomeDone => "Some done",
            Shade::NotDone => "Not done",
            Shade::ToDo => "To do",
            Shade::NothingDue => "Nothing due",
        }
    }

    pub(super) fn in_words(self) -> &'static str {
        match self {
            Shade::AllDone => "all done",
            Shade::SomeDone => "some done",
            Shade::NotDone => "not done",
            Shade::ToDo => "still to do",
            Shade::NothingDue => "with nothing due",
        }
    }

    pub(super) fn fill(self) -> &'static str {
        match self {
            Shade::AllDone => "#7fb996",
            Shade::SomeDone => "#cde6d5",
            // Grey-amber: visible, but not the red of an error.
            Shade::NotDone => "#e3d6b8",
            Shade::ToDo => "#d6e4f2",
            Shade::NothingDue => "#f4f5f7",
        }
    }

    pub(super) fn tooltip(self, done: u32, due: u32) -> String {
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
pub(super) fn shade(done: u32, due: u32, day: Day, today: Day) -> Shade {
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
pub(super) fn tick(out: &mut String, shade: Shade, x: f64, y: f64) {
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
