//! W5's life: what one client and their therapist write into the client's shared document day
//! by day, deterministic from a seed. A client checks in their mood every day, keeps a journal
//! on most days (about 1,500 characters, typed in bursts with corrections, each burst its own
//! change, as the app sends what was typed after a pause), fills two thought records and plans
//! two activities a week and answers PHQ-9 and GAD-7 every week, works on goals step by step and
//! answers some of the therapist's comments; the therapist comments on about a third of the
//! week's entries and sets a new goal now and then. Every value goes through the same parsing
//! and validation as `--set FIELD=VALUE` ([`parse_input`]), so the entries are what people make.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use between_shared::document::{EntryUpdate, NewAssignment, NewEntry};
use between_shared::model::{CommentTarget, Frequency, Schedule};
use between_shared::template::input::parse_input;
use between_shared::template::{FieldKind, Template};
use between_shared::{
    Author, CommentId, Day, EntryId, GoalId, HomeworkDoc, StepId, TemplateId, Timestamp,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Characters of a journal entry, about.
const JOURNAL_CHARS: usize = 1_500;
/// Characters of each long answer of a thought record or a mood note, about.
const ANSWER_CHARS: usize = 220;
/// A burst of typing (what the app sends after a 300 ms pause): this many characters at most.
const BURST_CHARS: usize = 60;

/// Words the generated text is made of (a few hundred, so it compresses as prose does).
const WORDS: &[&str] = &[
    "I",
    "felt",
    "tired",
    "after",
    "work",
    "and",
    "went",
    "for",
    "a",
    "walk",
    "in",
    "the",
    "park",
    "it",
    "was",
    "quiet",
    "my",
    "sister",
    "called",
    "we",
    "talked",
    "about",
    "mum",
    "noticed",
    "thought",
    "that",
    "nobody",
    "cares",
    "then",
    "remembered",
    "what",
    "said",
    "last",
    "week",
    "breathing",
    "helped",
    "bit",
    "slept",
    "badly",
    "woke",
    "early",
    "worried",
    "meeting",
    "tomorrow",
    "manager",
    "might",
    "be",
    "angry",
    "but",
    "evidence",
    "says",
    "otherwise",
    "cooked",
    "dinner",
    "with",
    "friend",
    "laughed",
    "once",
    "or",
    "twice",
    "anxious",
    "morning",
    "calmer",
    "evening",
    "kept",
    "going",
    "even",
    "though",
    "wanted",
    "to",
    "stay",
    "home",
    "bed",
    "phone",
    "scrolling",
    "again",
    "stopped",
    "myself",
    "rain",
    "bus",
    "late",
    "office",
    "coffee",
    "colleague",
    "smiled",
    "this",
    "small",
    "thing",
    "mattered",
    "more",
    "than",
    "expected",
    "plan",
    "tried",
    "new",
    "recipe",
    "garden",
    "weeds",
    "sun",
    "out",
    "lunch",
    "alone",
    "read",
    "book",
    "chapter",
    "music",
    "headphones",
    "train",
    "crowded",
    "heart",
    "racing",
    "counted",
    "breaths",
    "passed",
    "minutes",
    "later",
    "proud",
    "of",
    "not",
    "leaving",
    "early",
    "gym",
    "swim",
    "lengths",
    "sore",
    "legs",
    "good",
    "kind",
    "hard",
    "day",
    "easier",
    "than",
    "feared",
    "message",
    "replied",
    "waited",
    "hours",
    "worst",
    "case",
    "did",
    "happen",
    "instead",
    "cleaned",
    "kitchen",
    "laundry",
    "finished",
    "report",
    "deadline",
    "asked",
    "help",
    "got",
    "it",
    "list",
    "ticked",
    "three",
    "things",
    "grateful",
    "for",
    "neighbour",
    "dog",
    "wave",
];

/// The assignments the therapist sets at the start: (title, template, weekdays or daily).
const ASSIGNMENTS: &[(&str, &str, &[&str])] = &[
    ("Mood check-in", "mood-check-in", &[]),
    ("Evening journal", "journal", &[]),
    ("Thought record", "thought-record", &["tue", "fri"]),
    (
        "Plan a good thing",
        "behavioural-activation",
        &["mon", "thu"],
    ),
    ("PHQ-9", "phq-9", &["sun"]),
    ("GAD-7", "gad-7", &["sun"]),
];

/// One person's side of the life: a seeded source of what they write.
pub(crate) struct Life {
    rng: StdRng,
}

/// What the therapist set up on the first day, which the client's entries refer to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Template id → the assignment that asks for it.
    pub(crate) assignments: BTreeMap<String, between_shared::AssignmentId>,
    /// Goals and their steps not yet done.
    pub(crate) goals: Vec<(GoalId, Vec<StepId>)>,
}

impl Life {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The therapist's first session: the week's assignments and two goals.
    pub(crate) fn therapist_sets_up(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        day: Day,
    ) -> Result<Plan> {
        let mut plan = Plan::default();
        let now = at(day, 10, 0);
        for (title, template, days) in ASSIGNMENTS {
            let frequency = if days.is_empty() {
                Frequency::Daily
            } else {
                Frequency::Weekly {
                    days: days.iter().map(|d| (*d).to_owned()).collect(),
                }
            };
            let instructions = self.prose(ANSWER_CHARS);
            let id = hw.create_assignment(
                me,
                now,
                NewAssignment {
                    title: (*title).to_owned(),
                    template: TemplateId::from_string(*template),
                    instructions,
                    schedule: Schedule {
                        frequency,
                        starts_on: day,
                        ends_on: None,
                    },
                    minutes: Some(15),
                    focus: None,
                    goal: None,
                    remind_at: None,
                },
            )?;
            plan.assignments.insert((*template).to_owned(), id);
        }
        for _ in 0..2 {
            plan.goals.push(self.new_goal(hw, me, now)?);
        }
        Ok(plan)
    }

    /// A goal with four small steps.
    fn new_goal(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        now: Timestamp,
    ) -> Result<(GoalId, Vec<StepId>)> {
        let title = self.prose(40);
        let why = self.prose(120);
        let steps: Vec<String> = (0..4).map(|_| self.prose(50)).collect();
        let goal = hw.create_goal(me, now, &title, &why, &steps)?;
        let data = hw.data()?;
        let steps = data
            .goals
            .get(&goal)
            .context("the goal just set")?
            .steps
            .iter()
            .map(|s| s.id.clone())
            .collect();
        Ok((goal, steps))
    }

    /// The client's day `day`: a mood check-in, usually a journal entry, and the homework of the
    /// weekday; now and then a goal step done and an answer to a comment of the therapist's.
    pub(crate) fn client_day(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        plan: &mut Plan,
        day: Day,
        comments: &[CommentId],
    ) -> Result<Vec<EntryId>> {
        let mut entries = Vec::new();
        let weekday = day.weekday().to_string().to_lowercase();
        let mut templates = vec!["mood-check-in"];
        if self.rng.random_bool(0.8) {
            templates.push("journal");
        }
        for (_, template, days) in ASSIGNMENTS {
            if days.contains(&weekday.as_str()) {
                templates.push(template);
            }
        }
        for (minute, template) in (0..).step_by(20).zip(templates) {
            let now = at(day, 19, minute);
            entries.push(self.entry(hw, me, plan, day, now, template)?);
        }
        if self.rng.random_bool(0.05) {
            if let Some((goal, steps)) = plan.goals.first_mut() {
                if let Some(step) = steps.pop() {
                    hw.set_step_done(me, at(day, 21, 0), goal, &step, true)?;
                }
                if steps.is_empty() {
                    plan.goals.remove(0);
                }
            }
        }
        for comment in comments {
            if self.rng.random_bool(0.5) {
                let text = self.prose(120);
                hw.add_comment(me, at(day, 21, 30), None, Some(comment.clone()), &text)?;
            }
        }
        Ok(entries)
    }

    /// One mood check-in on `day`, as on any day of the life.
    pub(crate) fn check_in(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        plan: &mut Plan,
        day: Day,
    ) -> Result<EntryId> {
        self.entry(hw, me, plan, day, at(day, 12, 0), "mood-check-in")
    }

    /// The therapist's weekly look at `entries` (the last week's): a comment on about a third,
    /// the older comments resolved, and a new goal every quarter or so.
    pub(crate) fn therapist_week(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        plan: &mut Plan,
        day: Day,
        entries: &[EntryId],
    ) -> Result<Vec<CommentId>> {
        let now = at(day, 9, 0);
        let mut comments = Vec::new();
        for entry in entries {
            if self.rng.random_bool(1.0 / 3.0) {
                let text = self.prose(160);
                let target = CommentTarget::Entry {
                    id: entry.clone(),
                    field: None,
                };
                comments.push(hw.add_comment(me, now, Some(target), None, &text)?);
            }
        }
        if self.rng.random_bool(1.0 / 13.0) || plan.goals.is_empty() {
            plan.goals.push(self.new_goal(hw, me, now)?);
        }
        Ok(comments)
    }

    /// One entry of `template` on `day`: every field answered, long answers typed in bursts.
    fn entry(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        plan: &Plan,
        day: Day,
        now: Timestamp,
        template: &str,
    ) -> Result<EntryId> {
        let template = hw.template(&TemplateId::from_string(template))?;
        let mut values = BTreeMap::new();
        let mut long = Vec::new();
        for field in &template.fields {
            if matches!(field.kind, FieldKind::LongText) {
                long.push(field.id.clone());
                continue;
            }
            let typed = self.answer(&template, &field.id, &field.kind, day);
            let value =
                parse_input(field, &typed).with_context(|| format!("{} = {typed:?}", field.id))?;
            values.insert(field.id.clone(), value);
        }
        let id = hw.create_entry(
            me,
            now,
            NewEntry {
                template: template.id.clone(),
                assignment: plan.assignments.get(template.id.as_str()).cloned(),
                date: day,
                update: EntryUpdate {
                    values,
                    ..EntryUpdate::default()
                },
            },
            false,
        )?;
        for field in long {
            let chars = if template.id.as_str() == "journal" {
                JOURNAL_CHARS
            } else {
                ANSWER_CHARS
            };
            self.type_text(hw, me, now, &id, &field, chars)?;
        }
        hw.complete_entry(me, now, &id)?;
        Ok(id)
    }

    /// Types about `chars` characters into a long text in bursts, now and then taking back the
    /// end of a burst and typing it again.
    fn type_text(
        &mut self,
        hw: &mut HomeworkDoc,
        me: &Author,
        now: Timestamp,
        entry: &EntryId,
        field: &str,
        chars: usize,
    ) -> Result<()> {
        let text = self.prose(chars);
        let mut length = 0;
        let letters: Vec<char> = text.chars().collect();
        while length < letters.len() {
            let burst = self
                .rng
                .random_range(5..=BURST_CHARS)
                .min(letters.len() - length);
            let typed: String = letters[length..length + burst].iter().collect();
            hw.splice_entry_text(me, now, entry, field, length, 0, &typed)?;
            if burst > 8 && self.rng.random_bool(0.15) {
                // A correction: the last few characters deleted and typed again.
                let back = self.rng.random_range(1..=6);
                hw.splice_entry_text(me, now, entry, field, length + burst - back, back, "")?;
                let again: String = letters[length + burst - back..length + burst]
                    .iter()
                    .collect();
                hw.splice_entry_text(me, now, entry, field, length + burst - back, 0, &again)?;
            }
            length += burst;
        }
        Ok(())
    }

    /// What the client types for a field that is not long text, in `--set` syntax.
    fn answer(&mut self, template: &Template, field: &str, kind: &FieldKind, day: Day) -> String {
        match kind {
            FieldKind::ShortText => self.prose(40),
            FieldKind::LongText => self.prose(ANSWER_CHARS),
            FieldKind::Scale { min, max } => {
                // A measure's last PHQ-9 item (thoughts of self-harm) stays 0: W5 is a
                // client without a risk flag, the common case.
                if template.id.as_str() == "phq-9" && field.ends_with('9') {
                    min.to_string()
                } else {
                    self.rng.random_range(*min..=*max).to_string()
                }
            }
            FieldKind::YesNo => if self.rng.random_bool(0.7) {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            FieldKind::DateTime => format!("{day} 18:30"),
            FieldKind::SingleChoice { options } => {
                options[self.rng.random_range(0..options.len())].clone()
            }
            FieldKind::MultiChoice { options } => self.some_of(options),
            FieldKind::Checklist { items } => self.some_of(items),
            FieldKind::RatedItems {
                min,
                max,
                vocabulary,
                ..
            } => {
                let names: Vec<String> = if vocabulary.is_empty() {
                    vec!["anxious".into(), "hopeful".into()]
                } else {
                    (0..2)
                        .map(|_| vocabulary[self.rng.random_range(0..vocabulary.len())].clone())
                        .collect()
                };
                let mut ratings: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n}={}", self.rng.random_range(*min..=*max)))
                    .collect();
                ratings.dedup_by(|a, b| a.split('=').next() == b.split('=').next());
                ratings.join(", ")
            }
            FieldKind::Thoughts { min, max } => {
                let hot = self.prose(45).replace(['=', ';', ',', ':', '*'], " ");
                let other = self.prose(35).replace(['=', ';', ',', ':', '*'], " ");
                format!(
                    "*{hot}={}; {other}={}",
                    self.rng.random_range(*min..=*max),
                    self.rng.random_range(*min..=*max)
                )
            }
        }
    }

    /// One or two of `options`, comma-separated (escaped as `--set` wants).
    fn some_of(&mut self, options: &[String]) -> String {
        if options.is_empty() {
            return String::new();
        }
        let first = self.rng.random_range(0..options.len());
        let second = self.rng.random_range(0..options.len());
        let mut chosen = vec![first];
        if second != first {
            chosen.push(second);
        }
        chosen
            .into_iter()
            .map(|i| options[i].replace(',', "\\,"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// About `chars` characters of sentences.
    fn prose(&mut self, chars: usize) -> String {
        let mut text = String::with_capacity(chars + 40);
        while text.len() < chars {
            let words = self.rng.random_range(6..=18);
            for w in 0..words {
                let word = WORDS[self.rng.random_range(0..WORDS.len())];
                if w == 0 {
                    let mut letters = word.chars();
                    if let Some(first) = letters.next() {
                        text.extend(first.to_uppercase());
                        text.push_str(letters.as_str());
                    }
                } else {
                    text.push(' ');
                    text.push_str(word);
                }
            }
            text.push_str(". ");
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// `day` at `hour:minute` UTC, as documents record it.
pub(crate) fn at(day: Day, hour: u32, minute: u32) -> Timestamp {
    let time = day
        .0
        .and_hms_opt(hour, minute.min(59), 0)
        .unwrap_or_default()
        .and_utc();
    Timestamp::from_datetime(time)
}
