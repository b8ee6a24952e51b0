//! The built-in templates that ship with Between: thought record, behavioural activation, mood
//! check-in, journal, mindfulness log, affirmations, self-care routine, weekly reflection, and the
//! PHQ-9 and GAD-7 measures.
//!
//! They are built in code rather than stored in the document and are looked up by slug
//! ([`builtin`]). Their slugs and field ids ([`slug`], [`field`]) are part of the document format:
//! entries store values under them and progress views read them, so never rename them.

use super::vocab::{
    ACTIVITY_TYPES, DISTORTIONS, EMOTIONS, JOURNAL_PROMPTS, MINDFULNESS_PRACTICES, REPEAT_OPTIONS,
    SELF_CARE_ITEMS,
};
use super::{EntryKind, FieldDef, FieldKind, Template};
use crate::ids::TemplateId;
use crate::measures::{self, Measure, ANSWER_ANCHORS, ITEM_MAX, STEM};

/// Slugs (template ids) of the built-in templates.
pub mod slug {
    /// CBT thought record.
    pub const THOUGHT_RECORD: &str = "thought-record";
    /// Behavioural activation.
    pub const BEHAVIOURAL_ACTIVATION: &str = "behavioural-activation";
    /// Mood check-in.
    pub const MOOD_CHECK_IN: &str = "mood-check-in";
    /// Journal.
    pub const JOURNAL: &str = "journal";
    /// Mindfulness practice log.
    pub const MINDFULNESS: &str = "mindfulness";
    /// Daily affirmations and positive self-talk.
    pub const AFFIRMATIONS: &str = "affirmations";
    /// Self-care routine.
    pub const SELF_CARE: &str = "self-care";
    /// Weekly reflection.
    pub const WEEKLY_REFLECTION: &str = "weekly-reflection";
    /// PHQ-9 depression questionnaire.
    pub const PHQ9: &str = "phq-9";
    /// GAD-7 anxiety questionnaire.
    pub const GAD7: &str = "gad-7";

    /// Every built-in slug, in the order templates are listed.
    pub const ALL: &[&str] = &[
        THOUGHT_RECORD,
        BEHAVIOURAL_ACTIVATION,
        MOOD_CHECK_IN,
        JOURNAL,
        MINDFULNESS,
        AFFIRMATIONS,
        SELF_CARE,
        WEEKLY_REFLECTION,
        PHQ9,
        GAD7,
    ];
}

/// Field ids of the built-in templates. Some ids (`emotions`, `note`) appear in several.
pub mod field {
    /// Thought record: what happened.
    pub const SITUATION: &str = "situation";
    /// Thought record and mood check-in: emotions rated 0–100.
    pub const EMOTIONS: &str = "emotions";
    /// Thought record: automatic thoughts with belief and the hot thought.
    pub const THOUGHTS: &str = "thoughts";
    /// Thought record: cognitive distortions noticed.
    pub const DISTORTIONS: &str = "distortions";
    /// Thought record: evidence supporting the hot thought.
    pub const EVIDENCE_FOR: &str = "evidence_for";
    /// Thought record: evidence against the hot thought.
    pub const EVIDENCE_AGAINST: &str = "evidence_against";
    /// Thought record: the balanced thought.
    pub const BALANCED_THOUGHT: &str = "balanced_thought";
    /// Thought record: belief in the balanced thought, 0–100.
    pub const BALANCED_BELIEF: &str = "balanced_belief";
    /// Thought record: emotions re-rated afterwards, 0–100.
    pub const EMOTIONS_AFTER: &str = "emotions_after";

    /// Behavioural activation: the planned activity.
    pub const ACTIVITY: &str = "activity";
    /// Behavioural activation: its type.
    pub const ACTIVITY_TYPE: &str = "activity_type";
    /// Behavioural activation: when it is planned (`YYYY-MM-DD HH:MM`).
    pub const PLANNED_FOR: &str = "planned_for";
    /// Behavioural activation: whether it repeats (none, daily, weekly).
    pub const REPEAT: &str = "repeat";
    /// Behavioural activation: mood expected afterwards, 0–10.
    pub const PREDICTED_MOOD: &str = "predicted_mood";
    /// Behavioural activation: whether it was done.
    pub const DONE: &str = "done";
    /// Behavioural activation: sense of achievement, 0–10.
    pub const MASTERY: &str = "mastery";
    /// Behavioural activation: enjoyment, 0–10.
    pub const PLEASURE: &str = "pleasure";
    /// Behavioural activation: mood afterwards, 0–10.
    pub const ACTUAL_MOOD: &str = "actual_mood";

    /// Mood check-in: mood 0–10.
    pub const MOOD: &str = "mood";
    /// Mood check-in: what set the mood off.
    pub const TRIGGERS: &str = "triggers";
    /// Mood check-in and self-care: a free note.
    pub const NOTE: &str = "note";
    /// Mood check-in: when (`YYYY-MM-DD HH:MM`).
    pub const TIME: &str = "time";

    /// Journal: the chosen prompt.
    pub const PROMPT: &str = "prompt";
    /// Journal: the text.
    pub const TEXT: &str = "text";

    /// Mindfulness: the practice.
    pub const PRACTICE: &str = "practice";
    /// Mindfulness: minutes practised, 1–240.
    pub const MINUTES: &str = "minutes";
    /// Mindfulness: what was noticed.
    pub const NOTICED: &str = "noticed";

    /// Affirmations: the affirmations.
    pub const AFFIRMATIONS: &str = "affirmations";
    /// Affirmations: a negative thought reframed in kinder words.
    pub const SELF_TALK: &str = "self_talk";

    /// Self-care: the routine checklist.
    pub const ROUTINE: &str = "routine";

    /// Weekly reflection: what has improved.
    pub const IMPROVED: &str = "improved";
    /// Weekly reflection: what was hard.
    pub const HARD: &str = "hard";
    /// Weekly reflection: what needs attention.
    pub const NEEDS_ATTENTION: &str = "needs_attention";

    /// Measures: the field id of item `n` (1-based): `item_1`, `item_2`, ...
    pub fn item(n: usize) -> String {
        crate::measures::item_field(n)
    }
}

/// Every built-in template, in listing order.
pub fn builtin_templates() -> Vec<Template> {
    slug::ALL.iter().filter_map(|id| builtin(id)).collect()
}

/// The built-in template with this slug, if there is one.
pub fn builtin(id: &str) -> Option<Template> {
    let template = match id {
        slug::THOUGHT_RECORD => thought_record(),
        slug::BEHAVIOURAL_ACTIVATION => behavioural_activation(),
        slug::MOOD_CHECK_IN => mood_check_in(),
        slug::JOURNAL => journal(),
        slug::MINDFULNESS => mindfulness(),
        slug::AFFIRMATIONS => affirmations(),
        slug::SELF_CARE => self_care(),
        slug::WEEKLY_REFLECTION => weekly_reflection(),
        slug::PHQ9 => measure(Measure::Phq9),
        slug::GAD7 => measure(Measure::Gad7),
        _ => return None,
    };
    Some(template)
}

/// The answers of a behavioural-activation record that describe doing the activity (mastery,
/// pleasure, mood afterwards) when the record says it was not done: a contradiction to ask the
/// client about, since progress would otherwise count ratings of something that did not happen.
/// Empty for every other entry.
pub fn rated_but_not_done(
    kind: EntryKind,
    values: &std::collections::BTreeMap<String, super::FieldValue>,
) -> Vec<&'static str> {
    if kind != EntryKind::BehaviouralActivation
        || values.get(field::DONE) != Some(&super::FieldValue::YesNo(false))
    {
        return Vec::new();
    }
    [field::MASTERY, field::PLEASURE, field::ACTUAL_MOOD]
        .into_iter()
        .filter(|id| values.get(*id).is_some_and(|v| !v.is_empty()))
        .collect()
}

fn template(
    id: &str,
    name: &str,
    description: &str,
    kind: EntryKind,
    fields: Vec<FieldDef>,
) -> Template {
    Template {
        id: TemplateId::from_string(id),
        name: name.to_string(),
        description: description.to_string(),
        kind,
        fields,
        created_by: None,
        created_at: None,
    }
}

fn def(id: &str, label: &str, help: &str, kind: FieldKind, required: bool) -> FieldDef {
    FieldDef {
        id: id.to_string(),
        label: label.to_string(),
        help: help.to_string(),
        kind,
        required,
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

fn scale(min: i64, max: i64) -> FieldKind {
    FieldKind::Scale { min, max }
}

fn emotions_kind() -> FieldKind {
    FieldKind::RatedItems {
        min: 0,
        max: 100,
        vocabulary: strings(EMOTIONS),
        open: true,
    }
}

fn thought_record() -> Template {
    template(
        slug::THOUGHT_RECORD,
        "CBT thought record",
        "Catch an upsetting thought, look at the evidence for and against it, and find a more \
         balanced way of seeing the situation. You can save it part-way and finish it later.",
        EntryKind::ThoughtRecord,
        vec![
            def(
                field::SITUATION,
                "What was the situation?",
                "Where were you, who were you with, what was happening? Stick to the facts, as a camera would have recorded them.",
                FieldKind::LongText,
                true,
            ),
            def(
                field::EMOTIONS,
                "What did you feel?",
                "Name each emotion and rate how strong it was, from 0 (not at all) to 100 (the strongest you can imagine).",
                emotions_kind(),
                true,
            ),
            def(
                field::THOUGHTS,
                "What went through your mind?",
                "The automatic thoughts or images, each with how much you believed it from 0 to 100. Mark the \"hot\" thought, the one that upset you most.",
                FieldKind::Thoughts { min: 0, max: 100 },
                true,
            ),
            def(
                field::DISTORTIONS,
                "Which thinking traps do you notice?",
                "Tick any that fit the thoughts above, such as catastrophising (expecting the worst) or mind reading (assuming you know what others think). Not sure? Leave it and go through it with your therapist.",
                FieldKind::MultiChoice {
                    options: strings(DISTORTIONS),
                },
                false,
            ),
            def(
                field::EVIDENCE_FOR,
                "What supports the hot thought?",
                "Facts only, not interpretations or feelings.",
                FieldKind::LongText,
                false,
            ),
            def(
                field::EVIDENCE_AGAINST,
                "What does not support it?",
                "What would you tell a friend who had this thought? Have there been times when it was not true?",
                FieldKind::LongText,
                false,
            ),
            def(
                field::BALANCED_THOUGHT,
                "What is a more balanced way to see it?",
                "Take the evidence on both sides into account. It does not have to be positive, just fair.",
                FieldKind::LongText,
                true,
            ),
            def(
                field::BALANCED_BELIEF,
                "How much do you believe the balanced thought?",
                "From 0 (not at all) to 100 (completely).",
                scale(0, 100),
                true,
            ),
            def(
                field::EMOTIONS_AFTER,
                "How strong are the emotions now?",
                "Re-rate the emotions from before, 0 to 100, and add any new ones.",
                emotions_kind(),
                true,
            ),
        ],
    )
}

fn behavioural_activation() -> Template {
    template(
        slug::BEHAVIOURAL_ACTIVATION,
        "Behavioural activation",
        "Plan an activity that could lift your mood or matter to you, guess how you will feel, then \
         record whether you did it and how it actually went.",
        EntryKind::BehaviouralActivation,
        vec![
            def(
                field::ACTIVITY,
                "What activity do you plan?",
                "Something small and specific, such as \"walk round the park for 15 minutes\".",
                FieldKind::ShortText,
                true,
            ),
            def(
                field::ACTIVITY_TYPE,
                "What kind of activity is it?",
                "Pleasure (enjoyable), achievement (a task done), social, physical, routine (daily life), or values (something that matters to you).",
                FieldKind::SingleChoice {
                    options: strings(ACTIVITY_TYPES),
                },
                false,
            ),
            def(
                field::PLANNED_FOR,
                "When will you do it?",
                "Date and time, for example 2026-03-14 18:30.",
                FieldKind::DateTime,
                true,
            ),
            def(
                field::REPEAT,
                "Does it repeat?",
                "None, daily or weekly.",
                FieldKind::SingleChoice {
                    options: strings(REPEAT_OPTIONS),
                },
                false,
            ),
            def(
                field::PREDICTED_MOOD,
                "How do you expect to feel afterwards?",
                "Your guess at your mood, from 0 (very low) to 10 (very good).",
                scale(0, 10),
                false,
            ),
            def(
                field::DONE,
                "Did you do it?",
                "Answer after the planned time. Not doing it is useful to know too.",
                FieldKind::YesNo,
                true,
            ),
            def(
                field::MASTERY,
                "How much of a sense of achievement did it give you?",
                "Mastery, from 0 (none) to 10 (a great deal). Count it against how you felt that day, not how you feel at your best.",
                scale(0, 10),
                false,
            ),
            def(
                field::PLEASURE,
                "How much did you enjoy it?",
                "Pleasure, from 0 (not at all) to 10 (very much).",
                scale(0, 10),
                false,
            ),
            def(
                field::ACTUAL_MOOD,
                "How was your mood afterwards?",
                "From 0 (very low) to 10 (very good). Compare it with what you expected.",
                scale(0, 10),
                false,
            ),
        ],
    )
}

fn mood_check_in() -> Template {
    template(
        slug::MOOD_CHECK_IN,
        "Mood check-in",
        "A quick note of how you feel right now, to see patterns over the weeks.",
        EntryKind::MoodCheckIn,
        vec![
            def(
                field::MOOD,
                "How is your mood?",
                "From 0 (the worst you can feel) to 10 (the best).",
                scale(0, 10),
                true,
            ),
            def(
                field::EMOTIONS,
                "Which emotions are there?",
                "Name each and rate how strong it is, from 0 to 100.",
                emotions_kind(),
                false,
            ),
            def(
                field::TRIGGERS,
                "What set it off?",
                "An event, a thought, a place or a person, if anything.",
                FieldKind::ShortText,
                false,
            ),
            def(
                field::NOTE,
                "Anything else?",
                "",
                FieldKind::LongText,
                false,
            ),
            def(
                field::TIME,
                "When was this?",
                "Date and time, for example 2026-03-14 18:30, if not now.",
                FieldKind::DateTime,
                false,
            ),
        ],
    )
}

fn journal() -> Template {
    template(
        slug::JOURNAL,
        "Journal",
        "Write freely, with or without a prompt to get you started.",
        EntryKind::Journal,
        vec![
            def(
                field::PROMPT,
                "Would you like a prompt?",
                "Pick one to start from, or skip it and write whatever comes.",
                FieldKind::SingleChoice {
                    options: strings(JOURNAL_PROMPTS),
                },
                false,
            ),
            def(
                field::TEXT,
                "Your journal entry",
                "There is no right or wrong way to write it.",
                FieldKind::LongText,
                true,
            ),
        ],
    )
}

fn mindfulness() -> Template {
    template(
        slug::MINDFULNESS,
        "Mindfulness practice log",
        "Record a mindfulness or meditation practice: what you did, for how long, and what you noticed.",
        EntryKind::Mindfulness,
        vec![
            def(
                field::PRACTICE,
                "Which practice did you do?",
                "",
                FieldKind::SingleChoice {
                    options: strings(MINDFULNESS_PRACTICES),
                },
                true,
            ),
            def(
                field::MINUTES,
                "For how many minutes?",
                "From 1 to 240.",
                scale(1, 240),
                true,
            ),
            def(
                field::NOTICED,
                "What did you notice?",
                "Thoughts, feelings, sensations, how often your mind wandered. Noticing it wander is the practice, not a failure.",
                FieldKind::LongText,
                false,
            ),
        ],
    )
}

fn affirmations() -> Template {
    template(
        slug::AFFIRMATIONS,
        "Daily affirmations and positive self-talk",
        "Write a few kind and believable things about yourself, and practise answering a harsh \
         thought the way a good friend would.",
        EntryKind::Affirmation,
        vec![
            def(
                field::AFFIRMATIONS,
                "Today's affirmations",
                "A few statements about yourself that are kind and that you can believe, such as \"I am doing my best with a hard situation\".",
                FieldKind::LongText,
                true,
            ),
            def(
                field::SELF_TALK,
                "A harsh thought, said more kindly",
                "Write a negative thought you had about yourself, then the same thing in kinder words, as you would say it to a friend.",
                FieldKind::LongText,
                false,
            ),
        ],
    )
}

fn self_care() -> Template {
    template(
        slug::SELF_CARE,
        "Self-care routine",
        "Tick off the basics that help you stay well today.",
        EntryKind::SelfCare,
        vec![
            def(
                field::ROUTINE,
                "What did you manage today?",
                "Sleep, regular meals, movement, time outside, connection with someone, rest, hygiene. Any of them counts.",
                FieldKind::Checklist {
                    items: strings(SELF_CARE_ITEMS),
                },
                true,
            ),
            def(
                field::NOTE,
                "Anything to note?",
                "What helped, or what got in the way.",
                FieldKind::LongText,
                false,
            ),
        ],
    )
}

fn weekly_reflection() -> Template {
    template(
        slug::WEEKLY_REFLECTION,
        "Weekly reflection",
        "Look back on the week's homework: what has improved, what was hard, and what needs \
         attention in your next session.",
        EntryKind::WeeklyReflection,
        vec![
            def(
                field::IMPROVED,
                "What has improved?",
                "However small.",
                FieldKind::LongText,
                true,
            ),
            def(
                field::HARD,
                "What was hard?",
                "In the homework or in the week.",
                FieldKind::LongText,
                true,
            ),
            def(
                field::NEEDS_ATTENTION,
                "What needs attention?",
                "Something to bring to your next session, or to change in the homework.",
                FieldKind::LongText,
                true,
            ),
        ],
    )
}

fn measure(measure: Measure) -> Template {
    let anchors = ANSWER_ANCHORS
        .iter()
        .enumerate()
        .map(|(n, anchor)| format!("{n} = {anchor}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (name, description) = match measure {
        Measure::Phq9 => (
            "PHQ-9 (depression questionnaire)",
            "Nine questions about the last two weeks, used to follow how low mood changes over \
             time. Scored on your device.",
        ),
        Measure::Gad7 => (
            "GAD-7 (anxiety questionnaire)",
            "Seven questions about the last two weeks, used to follow how anxiety changes over \
             time. Scored on your device.",
        ),
    };
    let fields = measure
        .items()
        .iter()
        .enumerate()
        .map(|(index, wording)| {
            let n = index + 1;
            let mut help = anchors.clone();
            if measure == Measure::Phq9 && n == 9 {
                help.push_str(
                    ". If you answer more than 0, please tell your therapist. If you might act \
                     on these thoughts, contact your local emergency number or a crisis line now.",
                );
            }
            FieldDef {
                id: measures::item_field(n),
                label: format!("{STEM}: {wording}"),
                help,
                kind: scale(0, ITEM_MAX),
                required: true,
            }
        })
        .chain(std::iter::once(FieldDef {
            id: measures::DAILY_LIFE_FIELD.to_owned(),
            label: measures::DAILY_LIFE_QUESTION.to_owned(),
            help: measures::DAILY_LIFE_ANCHORS
                .iter()
                .enumerate()
                .map(|(n, anchor)| format!("{n} = {anchor}"))
                .collect::<Vec<_>>()
                .join(", "),
            kind: scale(0, ITEM_MAX),
            required: false,
        }))
        .collect();
    template(
        measure.template_id(),
        name,
        description,
        EntryKind::Measure,
        fields,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::template::validate::validate_template;
    use std::collections::BTreeSet;

    #[test]
    fn every_builtin_is_a_valid_template() {
        let all = builtin_templates();
        assert_eq!(all.len(), slug::ALL.len());
        for t in &all {
            validate_template(t).unwrap_or_else(|e| panic!("{}: {e}", t.id));
            assert!(t.created_by.is_none() && t.created_at.is_none());
            assert!(!t.description.is_empty());
        }
    }

    #[test]
    fn field_ids_are_unique_within_each_template() {
        for t in builtin_templates() {
            let ids: BTreeSet<&str> = t.fields.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids.len(), t.fields.len(), "{}", t.id);
        }
    }

    #[test]
    fn lookup_by_slug() {
        for id in slug::ALL {
            assert_eq!(builtin(id).unwrap().id.as_str(), *id);
        }
        assert!(builtin("custom-123").is_none());
        assert!(builtin("").is_none());
    }

    #[test]
    fn kinds() {
        let kind = |id| builtin(id).unwrap().kind;
        assert_eq!(kind(slug::THOUGHT_RECORD), EntryKind::ThoughtRecord);
        assert_eq!(
            kind(slug::BEHAVIOURAL_ACTIVATION),
            EntryKind::BehaviouralActivation
        );
        assert_eq!(kind(slug::MOOD_CHECK_IN), EntryKind::MoodCheckIn);
        assert_eq!(kind(slug::JOURNAL), EntryKind::Journal);
        assert_eq!(kind(slug::MINDFULNESS), EntryKind::Mindfulness);
        assert_eq!(kind(slug::AFFIRMATIONS), EntryKind::Affirmation);
        assert_eq!(kind(slug::SELF_CARE), EntryKind::SelfCare);
        assert_eq!(kind(slug::WEEKLY_REFLECTION), EntryKind::WeeklyReflection);
        assert_eq!(kind(slug::PHQ9), EntryKind::Measure);
        assert_eq!(kind(slug::GAD7), EntryKind::Measure);
    }

    fn ids(id: &str) -> Vec<String> {
        builtin(id)
            .unwrap()
            .fields
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn field_ids_match_the_document_format() {
        assert_eq!(
            ids(slug::THOUGHT_RECORD),
            [
                "situation",
                "emotions",
                "thoughts",
                "distortions",
                "evidence_for",
                "evidence_against",
                "balanced_thought",
                "balanced_belief",
                "emotions_after"
            ]
        );
        assert_eq!(
            ids(slug::BEHAVIOURAL_ACTIVATION),
            [
                "activity",
                "activity_type",
                "planned_for",
                "repeat",
                "predicted_mood",
                "done",
                "mastery",
                "pleasure",
                "actual_mood"
            ]
        );
        assert_eq!(
            ids(slug::MOOD_CHECK_IN),
            ["mood", "emotions", "triggers", "note", "time"]
        );
        assert_eq!(ids(slug::JOURNAL), ["prompt", "text"]);
        assert_eq!(ids(slug::MINDFULNESS), ["practice", "minutes", "noticed"]);
        assert_eq!(ids(slug::AFFIRMATIONS), ["affirmations", "self_talk"]);
        assert_eq!(ids(slug::SELF_CARE), ["routine", "note"]);
        assert_eq!(
            ids(slug::WEEKLY_REFLECTION),
            ["improved", "hard", "needs_attention"]
        );
        let with_closing = |n: usize| -> Vec<String> {
            (1..=n)
                .map(field::item)
                .chain(std::iter::once(measures::DAILY_LIFE_FIELD.to_owned()))
                .collect()
        };
        assert_eq!(ids(slug::PHQ9), with_closing(9));
        assert_eq!(ids(slug::GAD7), with_closing(7));
    }

    #[test]
    fn field_kinds_and_requirements() {
        let tr = builtin(slug::THOUGHT_RECORD).unwrap();
        let required: Vec<&str> = tr
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(
            required,
            [
                "situation",
                "emotions",
                "thoughts",
                "balanced_thought",
                "balanced_belief",
                "emotions_after"
            ]
        );
        assert_eq!(
            tr.field(field::BALANCED_BELIEF).unwrap().kind,
            FieldKind::Scale { min: 0, max: 100 }
        );
        assert!(matches!(
            &tr.field(field::DISTORTIONS).unwrap().kind,
            FieldKind::MultiChoice { options } if options.len() == DISTORTIONS.len()
        ));

        let ba = builtin(slug::BEHAVIOURAL_ACTIVATION).unwrap();
        assert_eq!(ba.field(field::DONE).unwrap().kind, FieldKind::YesNo);
        assert!(ba.field(field::DONE).unwrap().required);
        for id in [
            field::MASTERY,
            field::PLEASURE,
            field::ACTUAL_MOOD,
            field::PREDICTED_MOOD,
        ] {
            assert_eq!(
                ba.field(id).unwrap().kind,
                FieldKind::Scale { min: 0, max: 10 }
            );
        }
        let mf = builtin(slug::MINDFULNESS).unwrap();
        assert_eq!(
            mf.field(field::MINUTES).unwrap().kind,
            FieldKind::Scale { min: 1, max: 240 }
        );
        assert!(
            !builtin(slug::JOURNAL)
                .unwrap()
                .field(field::PROMPT)
                .unwrap()
                .required
        );
    }

    #[test]
    fn measure_items_use_the_real_wording() {
        let phq = builtin(slug::PHQ9).unwrap();
        assert_eq!(phq.fields.len(), 10);
        let first = &phq.fields[0];
        assert_eq!(
            first.label,
            "Over the last 2 weeks, how often have you been bothered by: Little interest or pleasure in doing things"
        );
        assert!(first.help.contains("0 = not at all"));
        assert!(first.help.contains("3 = nearly every day"));
        assert!(phq.fields[8].label.contains("better off dead"));
        for f in &phq.fields[..9] {
            assert_eq!(f.kind, FieldKind::Scale { min: 0, max: 3 });
            assert!(f.required);
        }
        // The instruments' closing question, unscored and optional, with its own labels.
        let closing = &phq.fields[9];
        assert!(closing
            .label
            .starts_with("If you checked off any problems, how difficult"));
        assert!(closing.help.contains("3 = extremely difficult"));
        assert!(!closing.required);
        let gad = builtin(slug::GAD7).unwrap();
        assert_eq!(gad.fields.len(), 8);
        assert_eq!(gad.fields[7].id, measures::DAILY_LIFE_FIELD);
        assert!(gad.fields[0]
            .label
            .ends_with("Feeling nervous, anxious, or on edge"));
    }

    #[test]
    fn an_activity_not_done_with_ratings_is_a_contradiction() {
        use super::super::FieldValue;
        let values = |done: bool, rated: &[(&str, i64)]| {
            let mut values: std::collections::BTreeMap<String, FieldValue> = rated
                .iter()
                .map(|(id, n)| ((*id).to_owned(), FieldValue::Number(*n)))
                .collect();
            values.insert(field::DONE.to_owned(), FieldValue::YesNo(done));
            values
        };
        let ba = EntryKind::BehaviouralActivation;
        assert_eq!(
            rated_but_not_done(ba, &values(false, &[("mastery", 5), ("pleasure", 6)])),
            vec!["mastery", "pleasure"]
        );
        assert!(rated_but_not_done(ba, &values(true, &[("mastery", 5)])).is_empty());
        assert!(rated_but_not_done(ba, &values(false, &[("predicted_mood", 5)])).is_empty());
        assert!(
            rated_but_not_done(EntryKind::Custom, &values(false, &[("mastery", 5)])).is_empty()
        );
    }
}
