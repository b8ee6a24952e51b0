//! Turning what a person types into a field value, and a value back into text they can edit.
//!
//! The same one-line syntax serves interactive prompts and `--set FIELD=VALUE` on the command
//! line:
//!
//! | field kind      | typed as                                                   |
//! |-----------------|------------------------------------------------------------|
//! | short text      | the text (trimmed)                                         |
//! | long text       | the text, as is                                            |
//! | scale           | a whole number: `7`                                        |
//! | yes / no        | `yes`, `no`, `y`, `n`, `true`, `false`, `done`, `not-done` |
//! | date and time   | `2026-03-14 18:30`                                         |
//! | single choice   | the option, a unique start of it, or its number: `2`       |
//! | multi choice    | several of those, separated by commas                      |
//! | checklist       | the ticked items, separated by commas                      |
//! | rated items     | `anxious=80, sad=40` (or `anxious:80`, `anxious 80`)       |
//! | thoughts        | `*I will fail=90; they think I'm stupid=60`                |
//!
//! Options are matched ignoring case, and spaces count as hyphens, so `mind reading` finds
//! `mind-reading`. In lists a backslash escapes a separator that belongs to a name (`\,`, `\;`,
//! `\=`, `\:`, a leading `\*`, and `\\` for a backslash); [`format_input`] writes those escapes, so
//! `parse_input(field, &format_input(&value))` gives the value back (thoughts get fresh ids).

use super::validate::{validate_value, DATE_TIME_FORMAT};
use super::{FieldDef, FieldKind, FieldValue, Thought};
use crate::error::ValidationError;
use autosurgeon::Text;
use chrono::NaiveDateTime;
use std::collections::BTreeMap;

/// Characters a backslash escapes in lists.
const SPECIAL: &[char] = &['\\', ',', ';', '=', ':', '*'];

/// A typed character and whether it was escaped with a backslash.
type Typed = (char, bool);

/// Parses what a person typed for a field, and checks the result with [`validate_value`].
///
/// Blank input gives an empty value for text, choices, checklists, ratings and thoughts (an
/// unanswered field); for a number, yes/no, a date or a single choice it is an error.
pub fn parse_input(field: &FieldDef, text: &str) -> Result<FieldValue, ValidationError> {
    let value = parse_unchecked(field, text)?;
    validate_value(field, &value)?;
    Ok(value)
}

fn parse_unchecked(field: &FieldDef, text: &str) -> Result<FieldValue, ValidationError> {
    let label = field.label.as_str();
    let trimmed = text.trim();
    let wrong = |problem: String| ValidationError::WrongKind {
        field: label.to_string(),
        problem,
    };
    match &field.kind {
        FieldKind::ShortText => Ok(FieldValue::Text(trimmed.to_string())),
        FieldKind::LongText => Ok(FieldValue::LongText(Text::with_value(text))),
        FieldKind::Scale { min, max } => trimmed.parse::<i64>().map(FieldValue::Number).map_err(|_| {
            wrong(if trimmed.is_empty() {
                format!("enter a whole number from {min} to {max}")
            } else {
                format!("'{trimmed}' is not a whole number; enter a whole number from {min} to {max}")
            })
        }),
        FieldKind::YesNo => match trimmed.to_lowercase().as_str() {
            "yes" | "y" | "true" | "done" => Ok(FieldValue::YesNo(true)),
            "no" | "n" | "false" | "not-done" | "not done" => Ok(FieldValue::YesNo(false)),
            _ => Err(wrong(format!(
                "'{trimmed}' is not yes or no; answer yes or no (y, n, done and not-done work too)"
            ))),
        },
        FieldKind::DateTime => parse_date_time(trimmed)
            .map(FieldValue::DateTime)
            .ok_or_else(|| {
                wrong(format!(
                    "'{trimmed}' is not a date and time; write it as YYYY-MM-DD HH:MM, e.g. 2026-03-14 18:30"
                ))
            }),
        FieldKind::SingleChoice { options } => {
            if trimmed.is_empty() {
                return Err(wrong(format!("choose one of: {}", numbered(options))));
            }
            match_option(label, trimmed, options, true).map(FieldValue::Choice)
        }
        FieldKind::MultiChoice { options } => {
            parse_selection(label, trimmed, options).map(FieldValue::Choices)
        }
        FieldKind::Checklist { items } => {
            parse_selection(label, trimmed, items).map(FieldValue::Checks)
        }
        FieldKind::RatedItems {
            vocabulary, open, ..
        } => parse_ratings(label, trimmed, vocabulary, *open).map(FieldValue::Ratings),
        FieldKind::Thoughts { .. } => parse_thoughts(label, trimmed).map(FieldValue::Thoughts),
    }
}

/// Writes a value the way [`parse_input`] reads it, e.g. to pre-fill a prompt with the current
/// answer.
pub fn format_input(value: &FieldValue) -> String {
    match value {
        FieldValue::Text(s) | FieldValue::DateTime(s) | FieldValue::Choice(s) => s.clone(),
        FieldValue::LongText(t) => t.as_str().to_string(),
        FieldValue::Number(n) => n.to_string(),
        FieldValue::YesNo(b) => if *b { "yes" } else { "no" }.to_string(),
        FieldValue::Choices(_) | FieldValue::Checks(_) => value
            .selected()
            .iter()
            .map(|name| escape(name.trim(), &[',']))
            .collect::<Vec<_>>()
            .join(", "),
        FieldValue::Ratings(ratings) => ratings
            .iter()
            .map(|(name, rating)| format!("{}={rating}", escape(name.trim(), &[',', '=', ':'])))
            .collect::<Vec<_>>()
            .join(", "),
        FieldValue::Thoughts(thoughts) => thoughts
            .iter()
            .map(|t| {
                let mut text = escape(t.text.trim(), &[';', '=']);
                if text.starts_with('*') {
                    text.insert(0, '\\');
                }
                let hot = if t.hot { "*" } else { "" };
                let belief = t.belief.map(|b| format!("={b}")).unwrap_or_default();
                format!("{hot}{text}{belief}")
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A short hint of what to type for a field of this kind, for prompts and help.
pub fn describe_kind(kind: &FieldKind) -> String {
    match kind {
        FieldKind::ShortText => "a short answer on one line".into(),
        FieldKind::LongText => "free text".into(),
        FieldKind::Scale { min, max } => format!("a number from {min} to {max}"),
        FieldKind::YesNo => "yes or no".into(),
        FieldKind::DateTime => "a date and time as YYYY-MM-DD HH:MM, e.g. 2026-03-14 18:30".into(),
        FieldKind::SingleChoice { options } => {
            format!("one of: {} (or its number)", options.join(", "))
        }
        FieldKind::MultiChoice { options } => format!(
            "any of: {}, separated by commas (numbers work too)",
            options.join(", ")
        ),
        FieldKind::Checklist { items } => format!(
            "the items done, separated by commas: {}",
            items.join(", ")
        ),
        FieldKind::RatedItems {
            min,
            max,
            vocabulary,
            open,
        } => {
            let span = max.saturating_sub(*min);
            let high = min.saturating_add(span / 5 * 4);
            let low = min.saturating_add(span / 5 * 2);
            let example = match vocabulary.as_slice() {
                [first, second, ..] => format!("{first}={high}, {second}={low}"),
                [first] => format!("{first}={high}"),
                [] => format!("worry={high}, tension={low}"),
            };
            let names = match (vocabulary.is_empty(), open) {
                (true, _) => String::new(),
                (false, true) => format!(
                    "; any word of your own, or one of: {}",
                    vocabulary.join(", ")
                ),
                (false, false) => format!("; one of: {}", vocabulary.join(", ")),
            };
            format!("name=rating pairs, e.g. {example} ({min}–{max}){names}")
        }
        FieldKind::Thoughts { min, max } => format!(
            "thoughts separated by ';', each as text=belief ({min}–{max}); mark the hot thought with a leading *, e.g. *I will fail=90; they think I'm stupid=60"
        ),
    }
}

fn parse_date_time(text: &str) -> Option<String> {
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| at.format(DATE_TIME_FORMAT).to_string())
}

/// Lowercase, with spaces and underscores as hyphens, for matching typed names to options.
fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

fn numbered(options: &[String]) -> String {
    options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{} {o}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the option a person meant: the option itself (any case), its 1-based number when
/// `by_number`, or the one option starting with what they typed.
fn match_option(
    label: &str,
    typed: &str,
    options: &[String],
    by_number: bool,
) -> Result<String, ValidationError> {
    let key = normalise(typed);
    if let Some(option) = options.iter().find(|o| normalise(o) == key) {
        return Ok(option.clone());
    }
    if by_number {
        if let Ok(n) = typed.trim().parse::<usize>() {
            return n
                .checked_sub(1)
                .and_then(|i| options.get(i))
                .cloned()
                .ok_or_else(|| ValidationError::WrongKind {
                    field: label.to_string(),
                    problem: format!(
                        "there is no option {n}; choose a number from 1 to {}: {}",
                        options.len(),
                        numbered(options)
                    ),
                });
        }
    }
    let matches: Vec<&String> = options
        .iter()
        .filter(|o| !key.is_empty() && normalise(o).starts_with(&key))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ValidationError::UnknownOption {
            field: label.to_string(),
            value: typed.trim().to_string(),
            allowed: options.join(", "),
        }),
        several => Err(ValidationError::WrongKind {
            field: label.to_string(),
            problem: format!(
                "'{}' could be {}; type more of it",
                typed.trim(),
                several
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        }),
    }
}

fn parse_selection(
    label: &str,
    text: &str,
    options: &[String],
) -> Result<BTreeMap<String, bool>, ValidationError> {
    let mut chosen = BTreeMap::new();
    if text.is_empty() {
        return Ok(chosen);
    }
    // An option that itself contains a comma, typed whole.
    if let Some(option) = options.iter().find(|o| normalise(o) == normalise(text)) {
        chosen.insert(option.clone(), true);
        return Ok(chosen);
    }
    let typed = decode(text);
    for piece in typed.split(|&(c, escaped)| c == ',' && !escaped) {
        let name = to_text(piece);
        if name.is_empty() {
            continue;
        }
        chosen.insert(match_option(label, &name, options, true)?, true);
    }
    Ok(chosen)
}

fn parse_ratings(
    label: &str,
    text: &str,
    vocabulary: &[String],
    open: bool,
) -> Result<BTreeMap<String, i64>, ValidationError> {
    let wrong = |problem: String| ValidationError::WrongKind {
        field: label.to_string(),
        problem,
    };
    let mut ratings = BTreeMap::new();
    let typed = decode(text);
    for piece in typed.split(|&(c, escaped)| c == ',' && !escaped) {
        let piece = trim(piece);
        if piece.is_empty() {
            continue;
        }
        let split =
            rsplit(piece, |c| c == '=' || c == ':').or_else(|| rsplit(piece, char::is_whitespace));
        let Some((name, rating)) = split else {
            return Err(wrong(format!(
                "give a rating for '{}', e.g. {}=80",
                to_text(piece),
                to_text(piece)
            )));
        };
        let (name, rating) = (to_text(name), to_text(rating));
        if name.is_empty() {
            return Err(wrong(format!(
                "the rating {rating} has no name; write name=rating, e.g. anxious=80"
            )));
        }
        let number = rating
            .trim_end_matches('%')
            .trim()
            .parse::<i64>()
            .map_err(|_| {
                wrong(format!(
                    "'{rating}' is not a whole number; rate {name} like this: {name}=80"
                ))
            })?;
        let name = if vocabulary.is_empty() {
            name
        } else if open {
            // A suggestion when it is one (spelled any case); otherwise the person's own word,
            // in lower case so that "Stressed" and "stressed" count as one in progress. No
            // prefix matching: "hope" is a word of its own, not "hopeless" or "hopeful".
            let key = normalise(&name);
            vocabulary
                .iter()
                .find(|v| normalise(v) == key)
                .cloned()
                .unwrap_or_else(|| name.to_lowercase())
        } else {
            match_option(label, &name, vocabulary, false)?
        };
        ratings.insert(name, number);
    }
    Ok(ratings)
}

fn parse_thoughts(label: &str, text: &str) -> Result<Vec<Thought>, ValidationError> {
    let mut thoughts = Vec::new();
    let typed = decode(text);
    for piece in typed.split(|&(c, escaped)| c == ';' && !escaped) {
        let mut piece = trim(piece);
        if piece.is_empty() {
            continue;
        }
        let hot = piece.first() == Some(&('*', false));
        if hot {
            piece = trim(piece.get(1..).unwrap_or_default());
        }
        let (text, belief) = match rsplit(piece, |c| c == '=') {
            Some((left, right)) => {
                let right = to_text(right);
                let number = right.trim_end_matches('%').trim();
                if right.is_empty() {
                    (to_text(left), None)
                } else if let Ok(belief) = number.parse::<i64>() {
                    (to_text(left), Some(belief))
                } else {
                    // Not a belief rating: the '=' is part of the thought.
                    (to_text(piece), None)
                }
            }
            None => (to_text(piece), None),
        };
        if text.is_empty() {
            return Err(ValidationError::WrongKind {
                field: label.to_string(),
                problem: "a thought has no text; write each as text=belief, e.g. I will fail=90"
                    .into(),
            });
        }
        thoughts.push(Thought::new(text, belief, hot));
    }
    Ok(thoughts)
}

/// Reads backslash escapes: `\` before a special character makes it ordinary.
fn decode(text: &str) -> Vec<Typed> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if SPECIAL.contains(&next) {
                    chars.next();
                    out.push((next, true));
                    continue;
                }
            }
        }
        out.push((c, false));
    }
    out
}

fn escape(text: &str, specials: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || specials.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn trim(typed: &[Typed]) -> &[Typed] {
    let start = typed
        .iter()
        .position(|(c, _)| !c.is_whitespace())
        .unwrap_or(typed.len());
    let end = typed
        .iter()
        .rposition(|(c, _)| !c.is_whitespace())
        .map_or(start, |i| i + 1);
    typed.get(start..end).unwrap_or_default()
}

/// Splits at the last unescaped character matching `at`.
fn rsplit(typed: &[Typed], at: impl Fn(char) -> bool) -> Option<(&[Typed], &[Typed])> {
    let pos = typed.iter().rposition(|&(c, escaped)| !escaped && at(c))?;
    Some((typed.get(..pos)?, typed.get(pos + 1..)?))
}

fn to_text(typed: &[Typed]) -> String {
    trim(typed).iter().map(|(c, _)| *c).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::template::builtin::{builtin, field, slug};
    use crate::template::vocab::{DISTORTIONS, EMOTIONS};

    fn def(kind: FieldKind) -> FieldDef {
        FieldDef {
            id: "f".into(),
            label: "The field".into(),
            help: String::new(),
            kind,
            required: false,
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    /// Rated items limited to a vocabulary (a therapist's own worksheet may do this).
    fn emotions() -> FieldDef {
        def(FieldKind::RatedItems {
            min: 0,
            max: 100,
            vocabulary: strings(EMOTIONS),
            open: false,
        })
    }

    #[test]
    fn open_ratings_take_any_word_and_keep_suggestions_spelled_as_listed() {
        let template = builtin(slug::MOOD_CHECK_IN).unwrap();
        let field = template.field(field::EMOTIONS).unwrap();
        let value = parse_input(field, "Calm=60, tired=40, Worn Out=30, ANX=10").unwrap();
        let expected: BTreeMap<String, i64> = [
            ("calm".to_string(), 60),
            ("tired".to_string(), 40),
            ("worn out".to_string(), 30),
            // No prefix matching where any word is allowed: "anx" is kept as written.
            ("anx".to_string(), 10),
        ]
        .into();
        assert_eq!(value, FieldValue::Ratings(expected));
        assert!(validate_value(field, &value).is_ok());
        let hint = describe_kind(&field.kind);
        assert!(hint.contains("any word of your own"), "{hint}");
        assert!(hint.contains("stressed"), "{hint}");
        // Ratings are still checked, and a name must be a word or two, not a paragraph.
        assert!(parse_input(field, "calm=160")
            .and_then(|v| validate_value(field, &v))
            .is_err());
        let long = format!("{}=5", "x".repeat(61));
        assert!(parse_input(field, &long)
            .and_then(|v| validate_value(field, &v))
            .is_err());
    }

    fn thoughts_field() -> FieldDef {
        def(FieldKind::Thoughts { min: 0, max: 100 })
    }

    /// Thoughts without their random ids, for comparison.
    fn strip_ids(value: &FieldValue) -> FieldValue {
        match value {
            FieldValue::Thoughts(ts) => FieldValue::Thoughts(
                ts.iter()
                    .map(|t| Thought {
                        id: String::new(),
                        ..t.clone()
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn assert_round_trip(field: &FieldDef, value: FieldValue) {
        let text = format_input(&value);
        let back = parse_input(field, &text)
            .unwrap_or_else(|e| panic!("{text:?} did not parse back: {e}"));
        assert_eq!(strip_ids(&back), strip_ids(&value), "via {text:?}");
    }

    #[test]
    fn round_trip_every_kind() {
        let long_text = "Line one,\n  line two; with = signs\n";
        let cases: Vec<(FieldDef, FieldValue)> = vec![
            (
                def(FieldKind::ShortText),
                FieldValue::Text("Walk, then tea".into()),
            ),
            (
                def(FieldKind::LongText),
                FieldValue::LongText(Text::with_value(long_text)),
            ),
            (
                def(FieldKind::Scale { min: -5, max: 5 }),
                FieldValue::Number(-3),
            ),
            (def(FieldKind::YesNo), FieldValue::YesNo(true)),
            (def(FieldKind::YesNo), FieldValue::YesNo(false)),
            (
                def(FieldKind::DateTime),
                FieldValue::DateTime("2026-03-14 18:30".into()),
            ),
            (
                def(FieldKind::SingleChoice {
                    options: strings(&["none", "daily", "weekly"]),
                }),
                FieldValue::Choice("weekly".into()),
            ),
            (
                def(FieldKind::SingleChoice {
                    options: strings(&["Yes, a lot", "3", "1"]),
                }),
                FieldValue::Choice("1".into()),
            ),
            (
                def(FieldKind::MultiChoice {
                    options: strings(DISTORTIONS),
                }),
                FieldValue::Choices(
                    [
                        ("mind-reading".to_string(), true),
                        ("self-blame".to_string(), true),
                    ]
                    .into(),
                ),
            ),
            (
                def(FieldKind::MultiChoice {
                    options: strings(&["Yes, a lot", "No", "a\\b"]),
                }),
                FieldValue::Choices(
                    [("Yes, a lot".to_string(), true), ("a\\b".to_string(), true)].into(),
                ),
            ),
            (
                def(FieldKind::Checklist {
                    items: strings(&["sleep", "rest", "time-outside"]),
                }),
                FieldValue::Checks(
                    [
                        ("sleep".to_string(), true),
                        ("time-outside".to_string(), true),
                    ]
                    .into(),
                ),
            ),
            (
                def(FieldKind::Checklist {
                    items: strings(&["sleep"]),
                }),
                FieldValue::Checks(BTreeMap::new()),
            ),
            (
                emotions(),
                FieldValue::Ratings([("anxious".to_string(), 80), ("sad".to_string(), 0)].into()),
            ),
            (
                def(FieldKind::RatedItems {
                    min: 0,
                    max: 10,
                    vocabulary: vec![],
                    open: false,
                }),
                FieldValue::Ratings(
                    [("a=b, c:d".to_string(), 3), ("low mood".to_string(), 10)].into(),
                ),
            ),
            (
                thoughts_field(),
                FieldValue::Thoughts(vec![
                    Thought::new("I will fail", Some(90), true),
                    Thought::new("they think I'm stupid", Some(60), false),
                    Thought::new("no rating here", None, false),
                ]),
            ),
            (
                thoughts_field(),
                FieldValue::Thoughts(vec![
                    Thought::new("*stars*; semicolons = equals \\ backslash", Some(5), false),
                    Thought::new("2+2=5", None, true),
                ]),
            ),
            (thoughts_field(), FieldValue::Thoughts(vec![])),
        ];
        for (field, value) in cases {
            assert_round_trip(&field, value);
        }
    }

    #[test]
    fn round_trip_builtin_fields() {
        // Every field of every built-in template accepts the formatted form of a valid value.
        let t = builtin(slug::THOUGHT_RECORD).unwrap();
        let d = t.field(field::DISTORTIONS).unwrap();
        let all: BTreeMap<String, bool> =
            DISTORTIONS.iter().map(|n| (n.to_string(), true)).collect();
        assert_round_trip(d, FieldValue::Choices(all));
        let e = t.field(field::EMOTIONS_AFTER).unwrap();
        let all: BTreeMap<String, i64> = EMOTIONS.iter().map(|n| (n.to_string(), 50)).collect();
        assert_round_trip(e, FieldValue::Ratings(all));
        let j = builtin(slug::JOURNAL).unwrap();
        let prompt = j.field(field::PROMPT).unwrap();
        if let FieldKind::SingleChoice { options } = &prompt.kind {
            for option in options {
                assert_round_trip(prompt, FieldValue::Choice(option.clone()));
            }
        }
    }

    #[test]
    fn short_text_is_trimmed_and_long_text_kept() {
        assert_eq!(
            parse_input(&def(FieldKind::ShortText), "  the bus  ").unwrap(),
            FieldValue::Text("the bus".into())
        );
        assert_eq!(
            parse_input(&def(FieldKind::LongText), " a\nb ").unwrap(),
            FieldValue::LongText(Text::with_value(" a\nb "))
        );
    }

    #[test]
    fn scale_needs_a_whole_number_in_range() {
        let f = def(FieldKind::Scale { min: 0, max: 10 });
        assert_eq!(parse_input(&f, " 7 ").unwrap(), FieldValue::Number(7));
        let err = parse_input(&f, "seven").unwrap_err();
        assert!(matches!(err, ValidationError::WrongKind { .. }));
        assert!(
            err.to_string().contains("'seven' is not a whole number"),
            "{err}"
        );
        assert!(err.to_string().contains("from 0 to 10"), "{err}");
        assert!(parse_input(&f, "7.5").is_err());
        assert!(parse_input(&f, "").is_err());
        assert!(matches!(
            parse_input(&f, "11"),
            Err(ValidationError::OutOfRange { value: 11, .. })
        ));
    }

    #[test]
    fn yes_no_words() {
        let f = def(FieldKind::YesNo);
        for yes in ["yes", "Y", "TRUE", "done", " Yes "] {
            assert_eq!(
                parse_input(&f, yes).unwrap(),
                FieldValue::YesNo(true),
                "{yes}"
            );
        }
        for no in ["no", "N", "false", "not-done", "Not Done"] {
            assert_eq!(
                parse_input(&f, no).unwrap(),
                FieldValue::YesNo(false),
                "{no}"
            );
        }
        let err = parse_input(&f, "maybe").unwrap_err();
        assert!(err.to_string().contains("yes or no"), "{err}");
    }

    #[test]
    fn date_times() {
        let f = def(FieldKind::DateTime);
        assert_eq!(
            parse_input(&f, "2026-03-14 18:30").unwrap(),
            FieldValue::DateTime("2026-03-14 18:30".into())
        );
        assert_eq!(
            parse_input(&f, "2026-03-14T08:05").unwrap(),
            FieldValue::DateTime("2026-03-14 08:05".into())
        );
        for bad in [
            "tomorrow",
            "2026-03-14",
            "2026-13-01 10:00",
            "2026-03-14 24:00",
            "",
        ] {
            let err = parse_input(&f, bad).unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD HH:MM"), "{bad}: {err}");
        }
    }

    #[test]
    fn single_choice_by_name_prefix_or_number() {
        let f = def(FieldKind::SingleChoice {
            options: strings(&["breathing", "body-scan", "mindful-walking", "other"]),
        });
        let choice = |s: &str| parse_input(&f, s).unwrap();
        assert_eq!(choice("Breathing"), FieldValue::Choice("breathing".into()));
        assert_eq!(choice("body scan"), FieldValue::Choice("body-scan".into()));
        assert_eq!(choice("mind"), FieldValue::Choice("mindful-walking".into()));
        assert_eq!(choice("2"), FieldValue::Choice("body-scan".into()));
        assert_eq!(choice(" 4 "), FieldValue::Choice("other".into()));
        let err = parse_input(&f, "b").unwrap_err();
        assert!(err.to_string().contains("breathing or body-scan"), "{err}");
        let err = parse_input(&f, "yoga").unwrap_err();
        assert!(matches!(err, ValidationError::UnknownOption { .. }));
        assert!(err.to_string().contains("breathing, body-scan"), "{err}");
        let err = parse_input(&f, "5").unwrap_err();
        assert!(err.to_string().contains("no option 5"), "{err}");
        assert!(parse_input(&f, "0").is_err());
        assert!(parse_input(&f, "").is_err());
    }

    #[test]
    fn multi_choice_and_checklist_lists() {
        let f = def(FieldKind::MultiChoice {
            options: strings(DISTORTIONS),
        });
        let value = parse_input(&f, "mind reading, CATASTROPHISING, 1, self-b").unwrap();
        assert_eq!(
            value.selected(),
            [
                "all-or-nothing",
                "catastrophising",
                "mind-reading",
                "self-blame"
            ]
        );
        assert!(parse_input(&f, "").unwrap().is_empty());
        assert!(parse_input(&f, " , ").unwrap().is_empty());
        let err = parse_input(&f, "mind-reading, wishful-thinking").unwrap_err();
        assert!(
            matches!(err, ValidationError::UnknownOption { ref value, .. } if value == "wishful-thinking")
        );

        let c = def(FieldKind::Checklist {
            items: strings(&["sleep", "regular-meals", "rest"]),
        });
        let value = parse_input(&c, "sleep,2").unwrap();
        assert_eq!(
            value,
            FieldValue::Checks(
                [
                    ("sleep".to_string(), true),
                    ("regular-meals".to_string(), true)
                ]
                .into()
            )
        );
        // An option containing a comma can be typed whole.
        let y = def(FieldKind::MultiChoice {
            options: strings(&["Yes, a lot", "No"]),
        });
        assert_eq!(
            parse_input(&y, "yes, a lot").unwrap().selected(),
            ["Yes, a lot"]
        );
    }

    #[test]
    fn ratings() {
        let f = emotions();
        let value = parse_input(&f, "anxious=80, Sad:40, guilty 10, hopeful = 5%").unwrap();
        assert_eq!(
            value,
            FieldValue::Ratings(
                [
                    ("anxious".to_string(), 80),
                    ("sad".to_string(), 40),
                    ("guilty".to_string(), 10),
                    ("hopeful".to_string(), 5),
                ]
                .into()
            )
        );
        assert!(matches!(
            parse_input(&f, "anxious=101"),
            Err(ValidationError::OutOfRange { value: 101, .. })
        ));
        let err = parse_input(&f, "hangry=50").unwrap_err();
        assert!(matches!(err, ValidationError::UnknownOption { .. }));
        assert!(err.to_string().contains("anxious"), "{err}");
        assert!(parse_input(&f, "anxious")
            .unwrap_err()
            .to_string()
            .contains("anxious=80"));
        assert!(parse_input(&f, "anxious=lots").is_err());
        assert!(parse_input(&f, "=50").is_err());
        assert!(parse_input(&f, "").unwrap().is_empty());
        // A unique prefix names the emotion.
        assert_eq!(
            parse_input(&f, "overwh=70").unwrap(),
            FieldValue::Ratings([("overwhelmed".to_string(), 70)].into())
        );
    }

    #[test]
    fn thoughts() {
        let f = thoughts_field();
        let value = parse_input(
            &f,
            "*I will fail=90; they think I'm stupid=60;; it's hopeless",
        )
        .unwrap();
        let FieldValue::Thoughts(ts) = &value else {
            panic!("{value:?}")
        };
        assert_eq!(ts.len(), 3);
        assert_eq!(
            (ts[0].text.as_str(), ts[0].belief, ts[0].hot),
            ("I will fail", Some(90), true)
        );
        assert_eq!(
            (ts[1].text.as_str(), ts[1].belief, ts[1].hot),
            ("they think I'm stupid", Some(60), false)
        );
        assert_eq!(
            (ts[2].text.as_str(), ts[2].belief, ts[2].hot),
            ("it's hopeless", None, false)
        );
        assert_ne!(ts[0].id, ts[1].id);

        let err = parse_input(&f, "*a=10; *b=20").unwrap_err();
        assert!(err.to_string().contains("only one"), "{err}");
        assert!(matches!(
            parse_input(&f, "a=150"),
            Err(ValidationError::OutOfRange { value: 150, .. })
        ));
        assert!(parse_input(&f, "=50").is_err());
        assert!(parse_input(&f, "*").is_err());
        // "80%" is a belief; "x=y" text keeps its '='.
        let value = parse_input(&f, "* I can't cope = 80%; x=y").unwrap();
        let FieldValue::Thoughts(ts) = &value else {
            panic!("{value:?}")
        };
        assert_eq!(
            (ts[0].text.as_str(), ts[0].belief, ts[0].hot),
            ("I can't cope", Some(80), true)
        );
        assert_eq!((ts[1].text.as_str(), ts[1].belief), ("x=y", None));
    }

    #[test]
    fn hints() {
        assert_eq!(
            describe_kind(&FieldKind::Scale { min: 0, max: 100 }),
            "a number from 0 to 100"
        );
        assert_eq!(
            describe_kind(&FieldKind::SingleChoice {
                options: strings(&["a", "b", "c"])
            }),
            "one of: a, b, c (or its number)"
        );
        assert_eq!(
            describe_kind(&emotions().kind),
            format!(
                "name=rating pairs, e.g. anxious=80, worried=40 (0–100); one of: {}",
                EMOTIONS.join(", ")
            )
        );
        assert!(
            describe_kind(&FieldKind::Thoughts { min: 0, max: 100 }).contains("*I will fail=90")
        );
        assert!(describe_kind(&FieldKind::DateTime).contains("YYYY-MM-DD HH:MM"));
    }
}
