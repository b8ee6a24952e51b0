//! Standard word lists the built-in templates offer: emotions, cognitive distortions, activity
//! types, journal prompts, mindfulness practices and self-care items.
//!
//! The lists are stored in entries by name, so the names are part of the document format: they
//! are lowercase, kebab-case where they have several words, and must not be renamed once
//! released. Add new names at the end of a list. [`distortion_label`] and
//! [`distortion_explanation`] give the readable forms shown to people.

/// Emotions a client is offered to name and rate (thought records, mood check-ins): suggestions,
/// since any word of their own is accepted too.
pub const EMOTIONS: &[&str] = &[
    "anxious",
    "worried",
    "nervous",
    "panicky",
    "afraid",
    "sad",
    "lonely",
    "hopeless",
    "disappointed",
    "hurt",
    "angry",
    "irritable",
    "frustrated",
    "jealous",
    "ashamed",
    "guilty",
    "embarrassed",
    "overwhelmed",
    "numb",
    "happy",
    "calm",
    "content",
    "hopeful",
    "proud",
    "relieved",
    "excited",
    "grateful",
    "depressed",
    "stressed",
    "scared",
    "insecure",
    "tired",
    "confused",
    "rejected",
    "restless",
    "empty",
    "loved",
    "confident",
    "peaceful",
];

/// The cognitive distortions ("thinking traps") a thought record can tick.
pub const DISTORTIONS: &[&str] = &[
    "all-or-nothing",
    "overgeneralisation",
    "mind-reading",
    "fortune-telling",
    "magnifying-the-negative",
    "minimising-the-positive",
    "catastrophising",
    "emotional-reasoning",
    "should-statements",
    "labelling",
    "self-blame",
    "blaming-others",
    "mental-filter",
];

/// Name, readable label and one-line explanation of every distortion, in [`DISTORTIONS`] order.
const DISTORTION_INFO: &[(&str, &str, &str)] = &[
    (
        "all-or-nothing",
        "All-or-nothing thinking",
        "Seeing things in black and white: if it is not perfect, it is a failure.",
    ),
    (
        "overgeneralisation",
        "Overgeneralisation",
        "Taking one thing that went wrong as proof that it always goes wrong.",
    ),
    (
        "mind-reading",
        "Mind reading",
        "Assuming you know what others think, usually that they think badly of you.",
    ),
    (
        "fortune-telling",
        "Fortune telling",
        "Predicting that things will turn out badly, as if it were certain.",
    ),
    (
        "magnifying-the-negative",
        "Magnifying the negative",
        "Blowing up the importance of problems and mistakes.",
    ),
    (
        "minimising-the-positive",
        "Minimising the positive",
        "Playing down good things and successes as if they did not count.",
    ),
    (
        "catastrophising",
        "Catastrophising",
        "Jumping to the worst possible outcome and feeling you could not cope with it.",
    ),
    (
        "emotional-reasoning",
        "Emotional reasoning",
        "Believing something is true because it feels true: \"I feel stupid, so I am stupid\".",
    ),
    (
        "should-statements",
        "Should statements",
        "Holding rigid rules about how you or others \"should\" or \"must\" be.",
    ),
    (
        "labelling",
        "Labelling",
        "Putting a harsh label on yourself or others (\"I'm a loser\") instead of describing what happened.",
    ),
    (
        "self-blame",
        "Self-blame",
        "Blaming yourself for things that were not entirely, or not at all, in your control.",
    ),
    (
        "blaming-others",
        "Blaming others",
        "Putting all the responsibility on other people and overlooking your own part or options.",
    ),
    (
        "mental-filter",
        "Mental filter",
        "Dwelling on one negative detail until it colours everything, like a drop of ink in water.",
    ),
];

fn distortion_info(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let name = name.trim();
    DISTORTION_INFO
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
}

/// The readable label of a distortion name from [`DISTORTIONS`] ("Mind reading" for
/// `mind-reading`); an empty string for a name that is not in the list.
pub fn distortion_label(name: &str) -> &'static str {
    distortion_info(name).map_or("", |(_, label, _)| label)
}

/// A one-line explanation of a distortion from [`DISTORTIONS`], for help text; an empty string
/// for a name that is not in the list.
pub fn distortion_explanation(name: &str) -> &'static str {
    distortion_info(name).map_or("", |(_, _, explanation)| explanation)
}

/// Types of activity for behavioural activation.
pub const ACTIVITY_TYPES: &[&str] = &[
    "pleasure",
    "achievement",
    "social",
    "physical",
    "routine",
    "values",
];

/// How often a behavioural-activation activity is meant to repeat.
pub const REPEAT_OPTIONS: &[&str] = &["none", "daily", "weekly"];

/// Prompts a client can pick for a journal entry.
pub const JOURNAL_PROMPTS: &[&str] = &[
    "What went well today, and what part did I play in it?",
    "What is on my mind right now?",
    "What was the hardest moment today, and how did I get through it?",
    "What am I grateful for today?",
    "What would I say to a friend who was in my situation?",
    "What did I learn about myself this week?",
    "What do I need more of, and less of, right now?",
    "What small step can I take tomorrow towards something that matters to me?",
];

/// Kinds of mindfulness or meditation practice.
pub const MINDFULNESS_PRACTICES: &[&str] = &[
    "breathing",
    "body-scan",
    "mindful-walking",
    "loving-kindness",
    "sitting",
    "other",
];

/// The items of the self-care routine checklist.
pub const SELF_CARE_ITEMS: &[&str] = &[
    "sleep",
    "regular-meals",
    "movement",
    "time-outside",
    "connection",
    "rest",
    "hygiene",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn assert_clean(list: &[&str]) {
        let unique: BTreeSet<&str> = list.iter().copied().collect();
        assert_eq!(unique.len(), list.len(), "duplicates in {list:?}");
        for name in list {
            assert!(!name.is_empty());
            assert_eq!(name.trim(), *name);
        }
    }

    #[test]
    fn lists_have_no_duplicates_or_blanks() {
        for list in [
            EMOTIONS,
            DISTORTIONS,
            ACTIVITY_TYPES,
            REPEAT_OPTIONS,
            JOURNAL_PROMPTS,
            MINDFULNESS_PRACTICES,
            SELF_CARE_ITEMS,
        ] {
            assert_clean(list);
        }
    }

    #[test]
    fn names_are_lowercase_kebab_case() {
        for list in [
            EMOTIONS,
            DISTORTIONS,
            ACTIVITY_TYPES,
            REPEAT_OPTIONS,
            MINDFULNESS_PRACTICES,
            SELF_CARE_ITEMS,
        ] {
            for name in list {
                assert!(
                    name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                    "{name} is not kebab-case"
                );
            }
        }
    }

    #[test]
    fn the_standard_distortions_include_burns_list() {
        assert_eq!(DISTORTIONS.len(), 13);
        assert!(DISTORTIONS.contains(&"mind-reading"));
        assert!(DISTORTIONS.contains(&"mental-filter"));
        assert_eq!(distortion_label("mental-filter"), "Mental filter");
        for common in ["depressed", "stressed", "scared", "insecure", "tired"] {
            assert!(EMOTIONS.contains(&common), "{common}");
        }
        assert!(DISTORTIONS.contains(&"blaming-others"));
        assert!(EMOTIONS.len() >= 25);
    }

    #[test]
    fn every_distortion_has_a_label_and_explanation() {
        let info: Vec<&str> = DISTORTION_INFO.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(info, DISTORTIONS);
        for name in DISTORTIONS {
            assert!(!distortion_label(name).is_empty());
            assert!(!distortion_explanation(name).is_empty());
        }
        assert_eq!(distortion_label("mind-reading"), "Mind reading");
        assert_eq!(distortion_label(" Catastrophising "), "Catastrophising");
        assert_eq!(distortion_label("wishful-thinking"), "");
        assert_eq!(distortion_explanation("wishful-thinking"), "");
    }
}
