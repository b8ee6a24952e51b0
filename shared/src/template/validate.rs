//! Checking values against a template's fields, and checking a therapist's custom template.
//!
//! Every value written into an entry passes [`validate_value`]; [`validate_values`] checks a
//! whole set of values and, when an entry is being completed, that every required field is
//! answered. Drafts may leave any field empty. [`validate_template`] checks a custom template
//! before it is stored. Errors name the field by its label and say what is allowed.

use super::input::describe_kind;
use super::{FieldDef, FieldKind, FieldValue, Template, Thought};
use crate::error::ValidationError;
use chrono::NaiveDateTime;
use std::collections::{BTreeMap, BTreeSet};

/// The longest name of a rated item (an emotion in a person's own words).
pub const MAX_RATED_NAME_CHARS: usize = 60;

/// The format of date-time values.
pub const DATE_TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

/// Checks that a value fits a field: the right kind, within bounds, names from the allowed lists.
///
/// Empty values (blank text, nothing ticked, no ratings, no thoughts) are accepted: they count as
/// "not answered", which [`validate_values`] rejects only for required fields of a completed
/// entry.
pub fn validate_value(field: &FieldDef, value: &FieldValue) -> Result<(), ValidationError> {
    let label = field.label.as_str();
    match (&field.kind, value) {
        (FieldKind::ShortText, FieldValue::Text(_))
        | (FieldKind::LongText, FieldValue::LongText(_)) => Ok(()),
        (FieldKind::Scale { min, max }, FieldValue::Number(n)) => in_range(label, *n, *min, *max),
        (FieldKind::YesNo, FieldValue::YesNo(_)) => Ok(()),
        (FieldKind::DateTime, FieldValue::DateTime(s)) => check_date_time(label, s),
        (FieldKind::SingleChoice { options }, FieldValue::Choice(choice)) => {
            if choice.trim().is_empty() {
                Ok(())
            } else {
                in_list(label, choice, options)
            }
        }
        (FieldKind::MultiChoice { options }, FieldValue::Choices(chosen)) => chosen
            .keys()
            .try_for_each(|name| in_list(label, name, options)),
        (FieldKind::Checklist { items }, FieldValue::Checks(checks)) => checks
            .keys()
            .try_for_each(|name| in_list(label, name, items)),
        (
            FieldKind::RatedItems {
                min,
                max,
                vocabulary,
                open,
            },
            FieldValue::Ratings(ratings),
        ) => check_ratings(label, ratings, *min, *max, vocabulary, *open),
        (FieldKind::Thoughts { min, max }, FieldValue::Thoughts(thoughts)) => {
            check_thoughts(label, thoughts, *min, *max)
        }
        (kind, value) => Err(wrong_kind(
            label,
            format!(
                "expected {}, but got {}",
                describe_kind(kind),
                value_kind_name(value)
            ),
        )),
    }
}

/// A date-time value: blank (not answered) or in [`DATE_TIME_FORMAT`]; the error shows the
/// format by example, as a person types it.
fn check_date_time(label: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() || NaiveDateTime::parse_from_str(value, DATE_TIME_FORMAT).is_ok() {
        Ok(())
    } else {
        Err(wrong_kind(
            label,
            format!(
                "'{value}' is not a valid date and time; write it as YYYY-MM-DD HH:MM, e.g. 2026-03-14 18:30"
            ),
        ))
    }
}

/// Rated items: each has a name of at most [`MAX_RATED_NAME_CHARS`] characters, from
/// `vocabulary` unless the field is `open` or has none, and a rating within the field's bounds.
fn check_ratings(
    label: &str,
    ratings: &BTreeMap<String, i64>,
    min: i64,
    max: i64,
    vocabulary: &[String],
    open: bool,
) -> Result<(), ValidationError> {
    ratings.iter().try_for_each(|(name, rating)| {
        if name.trim().is_empty() {
            return Err(wrong_kind(
                label,
                format!(
                    "every rating needs a name, e.g. {}",
                    rated_example(vocabulary)
                ),
            ));
        }
        if name.chars().count() > MAX_RATED_NAME_CHARS {
            return Err(wrong_kind(
                label,
                format!(
                    "'{name}' is longer than {MAX_RATED_NAME_CHARS} characters; use a word or two"
                ),
            ));
        }
        if !vocabulary.is_empty() && !open {
            in_list(label, name, vocabulary)?;
        }
        in_range(&format!("{label} ({name})"), *rating, min, max)
    })
}

/// Automatic thoughts: each has text and a belief rating (if any) within the field's bounds,
/// and at most one is the hot thought (the one carrying most emotion).
fn check_thoughts(
    label: &str,
    thoughts: &[Thought],
    min: i64,
    max: i64,
) -> Result<(), ValidationError> {
    for thought in thoughts {
        if thought.text.trim().is_empty() {
            return Err(wrong_kind(
                label,
                "every thought needs some text; remove the empty one".into(),
            ));
        }
        if let Some(belief) = thought.belief {
            in_range(&format!("{label} (belief)"), belief, min, max)?;
        }
    }
    let hot = thoughts.iter().filter(|t| t.hot).count();
    if hot > 1 {
        return Err(wrong_kind(
            label,
            format!(
                "{hot} thoughts are marked as the hot thought; mark only one, the thought that upset you most"
            ),
        ));
    }
    Ok(())
}

/// A value that does not fit its field `label`, and what is allowed instead.
fn wrong_kind(label: &str, problem: String) -> ValidationError {
    ValidationError::WrongKind {
        field: label.to_string(),
        problem,
    }
}

/// Checks a set of values against a template.
///
/// Every field id must belong to the template and every value must fit its field. When
/// `completing`, every required field must also be present and not empty; the error names the
/// first missing one in the template's order.
pub fn validate_values(
    template: &Template,
    values: &BTreeMap<String, FieldValue>,
    completing: bool,
) -> Result<(), ValidationError> {
    for (id, value) in values {
        let field = template
            .field(id)
            .ok_or_else(|| ValidationError::UnknownField {
                field: id.clone(),
                fields: template.field_ids(),
            })?;
        validate_value(field, value)?;
    }
    if completing {
        let missing: Vec<String> = template
            .fields
            .iter()
            .filter(|f| f.required)
            .filter(|f| values.get(&f.id).is_none_or(FieldValue::is_empty))
            .map(|f| format!("{} ({})", f.id, f.label))
            .collect();
        if !missing.is_empty() {
            return Err(ValidationError::Incomplete { missing });
        }
    }
    Ok(())
}

/// Checks a custom template: a name, at least one field, unique field ids made of lowercase
/// letters, digits and `_`, a label for every field, bounds with min below max, and non-empty,
/// unique options and items.
pub fn validate_template(template: &Template) -> Result<(), ValidationError> {
    if template.name.trim().is_empty() {
        return Err(invalid("the template needs a name".into()));
    }
    if template.fields.is_empty() {
        return Err(invalid(format!(
            "template '{}' has no fields; add at least one question",
            template.name
        )));
    }
    let mut seen = BTreeSet::new();
    for field in &template.fields {
        let id = field.id.as_str();
        if id.is_empty() {
            return Err(invalid(format!(
                "the field '{}' needs an id (lowercase letters, digits and _)",
                field.label
            )));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(format!(
                "field id '{id}' may only contain lowercase letters a-z, digits 0-9 and _, e.g. 'sleep_hours'"
            )));
        }
        if !seen.insert(id) {
            return Err(invalid(format!(
                "two fields have the id '{id}'; every field needs its own id"
            )));
        }
        if field.label.trim().is_empty() {
            return Err(invalid(format!(
                "field '{id}' needs a label: the question shown to the client"
            )));
        }
        validate_kind(field)?;
    }
    Ok(())
}

fn validate_kind(field: &FieldDef) -> Result<(), ValidationError> {
    let name = if field.label.trim().is_empty() {
        field.id.as_str()
    } else {
        field.label.as_str()
    };
    match &field.kind {
        FieldKind::ShortText | FieldKind::LongText | FieldKind::YesNo | FieldKind::DateTime => {
            Ok(())
        }
        FieldKind::Scale { min, max } | FieldKind::Thoughts { min, max } => {
            bounds(name, *min, *max)
        }
        FieldKind::RatedItems {
            min,
            max,
            vocabulary,
            ..
        } => {
            bounds(name, *min, *max)?;
            unique_names(name, "names", vocabulary, true)
        }
        FieldKind::SingleChoice { options } | FieldKind::MultiChoice { options } => {
            unique_names(name, "options", options, false)
        }
        FieldKind::Checklist { items } => unique_names(name, "items", items, false),
    }
}

fn bounds(name: &str, min: i64, max: i64) -> Result<(), ValidationError> {
    if min < max {
        Ok(())
    } else {
        Err(invalid(format!(
            "{name}: the lowest value ({min}) must be below the highest ({max})"
        )))
    }
}

fn unique_names(
    name: &str,
    what: &str,
    list: &[String],
    may_be_empty: bool,
) -> Result<(), ValidationError> {
    if list.is_empty() && !may_be_empty {
        return Err(invalid(format!("{name}: give at least one of its {what}")));
    }
    let mut seen = BTreeSet::new();
    for entry in list {
        if entry.trim().is_empty() {
            return Err(invalid(format!(
                "{name}: one of its {what} is blank; remove it or fill it in"
            )));
        }
        if entry.trim() != entry {
            return Err(invalid(format!(
                "{name}: '{entry}' starts or ends with spaces; remove them"
            )));
        }
        if !seen.insert(entry.to_lowercase()) {
            return Err(invalid(format!(
                "{name}: '{entry}' is listed twice; each of its {what} must be different"
            )));
        }
    }
    Ok(())
}

fn invalid(message: String) -> ValidationError {
    ValidationError::Invalid(message)
}

fn in_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field: field.to_string(),
            value,
            min,
            max,
        })
    }
}

fn in_list(field: &str, name: &str, allowed: &[String]) -> Result<(), ValidationError> {
    if allowed.iter().any(|a| a == name) {
        Ok(())
    } else {
        Err(ValidationError::UnknownOption {
            field: field.to_string(),
            value: name.to_string(),
            allowed: allowed.join(", "),
        })
    }
}

fn rated_example(vocabulary: &[String]) -> String {
    match vocabulary {
        [first, second, ..] => format!("{first}=80, {second}=40"),
        [first] => format!("{first}=80"),
        [] => "worry=80".to_string(),
    }
}

fn value_kind_name(value: &FieldValue) -> &'static str {
    match value {
        FieldValue::Text(_) => "a short text",
        FieldValue::LongText(_) => "a long text",
        FieldValue::Number(_) => "a number",
        FieldValue::YesNo(_) => "a yes or no",
        FieldValue::DateTime(_) => "a date and time",
        FieldValue::Choice(_) => "a single choice",
        FieldValue::Choices(_) => "a multiple choice",
        FieldValue::Checks(_) => "a checklist",
        FieldValue::Ratings(_) => "ratings",
        FieldValue::Thoughts(_) => "thoughts",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::ids::TemplateId;
    use crate::template::builtin::{builtin, field, slug};
    use crate::template::{EntryKind, Thought};
    use autosurgeon::Text;

    fn thought_record() -> Template {
        builtin(slug::THOUGHT_RECORD).unwrap()
    }

    fn def(kind: FieldKind) -> FieldDef {
        FieldDef {
            id: "f".into(),
            label: "The field".into(),
            help: String::new(),
            kind,
            required: true,
        }
    }

    fn ratings(pairs: &[(&str, i64)]) -> FieldValue {
        FieldValue::Ratings(pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
    }

    fn choices(names: &[&str]) -> FieldValue {
        FieldValue::Choices(names.iter().map(|n| ((*n).to_string(), true)).collect())
    }

    fn long(text: &str) -> FieldValue {
        FieldValue::LongText(Text::with_value(text))
    }

    fn complete_thought_record() -> BTreeMap<String, FieldValue> {
        BTreeMap::from([
            (field::SITUATION.to_string(), long("Meeting at work")),
            (field::EMOTIONS.to_string(), ratings(&[("anxious", 80)])),
            (
                field::THOUGHTS.to_string(),
                FieldValue::Thoughts(vec![Thought::new("I will mess up", Some(90), true)]),
            ),
            (
                field::DISTORTIONS.to_string(),
                choices(&["fortune-telling"]),
            ),
            (field::BALANCED_THOUGHT.to_string(), long("I have prepared")),
            (field::BALANCED_BELIEF.to_string(), FieldValue::Number(60)),
            (
                field::EMOTIONS_AFTER.to_string(),
                ratings(&[("anxious", 40)]),
            ),
        ])
    }

    #[test]
    fn out_of_range_rating_is_rejected() {
        let t = thought_record();
        let emotions = t.field(field::EMOTIONS).unwrap();
        assert!(validate_value(emotions, &ratings(&[("anxious", 100), ("sad", 0)])).is_ok());
        let err = validate_value(emotions, &ratings(&[("anxious", 101)])).unwrap_err();
        assert!(matches!(
            err,
            ValidationError::OutOfRange {
                value: 101,
                min: 0,
                max: 100,
                ..
            }
        ));
        assert!(err.to_string().contains("from 0 to 100"), "{err}");
        assert!(validate_value(emotions, &ratings(&[("sad", -1)])).is_err());
    }

    #[test]
    fn a_closed_vocabulary_refuses_other_names_with_the_allowed_list() {
        let t = thought_record();
        let open = t.field(field::EMOTIONS).unwrap();
        // The built-in worksheets take a person's own word for an emotion.
        assert!(validate_value(open, &ratings(&[("hangry", 50)])).is_ok());
        let emotions = &FieldDef {
            kind: FieldKind::RatedItems {
                min: 0,
                max: 100,
                vocabulary: vec!["anxious".into(), "sad".into()],
                open: false,
            },
            ..open.clone()
        };
        let err = validate_value(emotions, &ratings(&[("hangry", 50)])).unwrap_err();
        match &err {
            ValidationError::UnknownOption {
                value,
                allowed,
                field,
            } => {
                assert_eq!(value, "hangry");
                assert!(allowed.contains("anxious"));
                assert_eq!(field, &emotions.label);
            }
            other => panic!("unexpected {other:?}"),
        }
        // An empty vocabulary allows any name.
        let free = def(FieldKind::RatedItems {
            min: 0,
            max: 10,
            vocabulary: vec![],
            open: false,
        });
        assert!(validate_value(&free, &ratings(&[("hangry", 5)])).is_ok());
        assert!(validate_value(&free, &ratings(&[(" ", 5)])).is_err());
    }

    #[test]
    fn unknown_distortion_is_rejected() {
        let t = thought_record();
        let d = t.field(field::DISTORTIONS).unwrap();
        assert!(validate_value(d, &choices(&["mind-reading", "labelling"])).is_ok());
        let err = validate_value(d, &choices(&["mind-reading", "wishful-thinking"])).unwrap_err();
        assert!(
            matches!(err, ValidationError::UnknownOption { ref value, .. } if value == "wishful-thinking")
        );
        assert!(err.to_string().contains("catastrophising"));
        // Nothing chosen is fine.
        assert!(validate_value(d, &FieldValue::Choices(BTreeMap::new())).is_ok());
    }

    #[test]
    fn value_kind_must_match_field_kind() {
        let scale = def(FieldKind::Scale { min: 0, max: 10 });
        assert!(validate_value(&scale, &FieldValue::Number(10)).is_ok());
        let err = validate_value(&scale, &FieldValue::Text("7".into())).unwrap_err();
        assert!(matches!(err, ValidationError::WrongKind { .. }));
        assert!(err.to_string().contains("a number from 0 to 10"), "{err}");

        let short = def(FieldKind::ShortText);
        assert!(validate_value(&short, &FieldValue::Text("x".into())).is_ok());
        assert!(validate_value(&short, &long("x")).is_err());
        let long_field = def(FieldKind::LongText);
        assert!(validate_value(&long_field, &long("x")).is_ok());
        assert!(validate_value(&long_field, &FieldValue::Text("x".into())).is_err());
        let yes_no = def(FieldKind::YesNo);
        assert!(validate_value(&yes_no, &FieldValue::YesNo(false)).is_ok());
        assert!(validate_value(&yes_no, &FieldValue::Number(1)).is_err());
    }

    #[test]
    fn date_times_must_parse() {
        let dt = def(FieldKind::DateTime);
        assert!(validate_value(&dt, &FieldValue::DateTime("2026-03-14 18:30".into())).is_ok());
        assert!(validate_value(&dt, &FieldValue::DateTime(String::new())).is_ok());
        for bad in [
            "2026-03-14",
            "2026-02-30 10:00",
            "14/03/2026 18:30",
            "2026-03-14 25:00",
        ] {
            let err = validate_value(&dt, &FieldValue::DateTime(bad.into())).unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD HH:MM"), "{err}");
        }
    }

    #[test]
    fn choices_and_checklists() {
        let single = def(FieldKind::SingleChoice {
            options: vec!["none".into(), "daily".into()],
        });
        assert!(validate_value(&single, &FieldValue::Choice("daily".into())).is_ok());
        assert!(validate_value(&single, &FieldValue::Choice("hourly".into())).is_err());
        let check = def(FieldKind::Checklist {
            items: vec!["sleep".into(), "rest".into()],
        });
        let ticks = |pairs: &[(&str, bool)]| {
            FieldValue::Checks(pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect())
        };
        assert!(validate_value(&check, &ticks(&[("sleep", true), ("rest", false)])).is_ok());
        assert!(validate_value(&check, &ticks(&[("gym", true)])).is_err());
        assert!(validate_value(&check, &choices(&["sleep"])).is_err());
    }

    #[test]
    fn thoughts_rules() {
        let f = def(FieldKind::Thoughts { min: 0, max: 100 });
        let ok = FieldValue::Thoughts(vec![
            Thought::new("I will fail", Some(90), true),
            Thought::new("They think I'm stupid", None, false),
        ]);
        assert!(validate_value(&f, &ok).is_ok());
        let two_hot = FieldValue::Thoughts(vec![
            Thought::new("a", Some(1), true),
            Thought::new("b", Some(2), true),
        ]);
        let err = validate_value(&f, &two_hot).unwrap_err();
        assert!(err.to_string().contains("only one"), "{err}");
        let blank = FieldValue::Thoughts(vec![Thought::new("  ", Some(1), false)]);
        assert!(validate_value(&f, &blank).is_err());
        let high = FieldValue::Thoughts(vec![Thought::new("a", Some(101), false)]);
        assert!(matches!(
            validate_value(&f, &high),
            Err(ValidationError::OutOfRange { value: 101, .. })
        ));
    }

    #[test]
    fn missing_required_on_completion_but_allowed_as_draft() {
        let t = thought_record();
        let mut values = complete_thought_record();
        assert!(validate_values(&t, &values, true).is_ok());

        values.remove(field::BALANCED_THOUGHT);
        assert!(validate_values(&t, &values, false).is_ok());
        let err = validate_values(&t, &values, true).unwrap_err();
        let label = t.field(field::BALANCED_THOUGHT).unwrap().label.clone();
        assert_eq!(
            err,
            ValidationError::Incomplete {
                missing: vec![format!("{} ({label})", field::BALANCED_THOUGHT)]
            }
        );

        // Present but empty counts as missing too.
        values.insert(field::BALANCED_THOUGHT.into(), long("   "));
        assert!(validate_values(&t, &values, false).is_ok());
        assert!(matches!(
            validate_values(&t, &values, true),
            Err(ValidationError::Incomplete { .. })
        ));

        // Optional fields may stay empty.
        let mut values = complete_thought_record();
        values.remove(field::DISTORTIONS);
        assert!(validate_values(&t, &values, true).is_ok());

        // An empty draft is fine.
        assert!(validate_values(&t, &BTreeMap::new(), false).is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_values_in_a_set() {
        let t = thought_record();
        let mut values = complete_thought_record();
        values.insert("mood".into(), FieldValue::Number(5));
        let err = validate_values(&t, &values, false).unwrap_err();
        match err {
            ValidationError::UnknownField { field, fields } => {
                assert_eq!(field, "mood");
                assert!(fields.contains("balanced_thought"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut values = complete_thought_record();
        values.insert(field::BALANCED_BELIEF.into(), FieldValue::Number(150));
        assert!(matches!(
            validate_values(&t, &values, false),
            Err(ValidationError::OutOfRange { value: 150, .. })
        ));
    }

    fn custom(fields: Vec<FieldDef>) -> Template {
        Template {
            id: TemplateId::custom(),
            name: "Sleep diary".into(),
            description: String::new(),
            kind: EntryKind::Custom,
            fields,
            created_by: None,
            created_at: None,
        }
    }

    fn field_def(id: &str, kind: FieldKind) -> FieldDef {
        FieldDef {
            id: id.into(),
            label: format!("Question {id}"),
            help: String::new(),
            kind,
            required: false,
        }
    }

    #[test]
    fn custom_template_rules() {
        let good = custom(vec![
            field_def("hours", FieldKind::Scale { min: 0, max: 24 }),
            field_def(
                "quality_1",
                FieldKind::SingleChoice {
                    options: vec!["poor".into(), "good".into()],
                },
            ),
            field_def("note", FieldKind::LongText),
            field_def(
                "feelings",
                FieldKind::RatedItems {
                    min: 0,
                    max: 10,
                    vocabulary: vec![],
                    open: false,
                },
            ),
        ]);
        assert!(validate_template(&good).is_ok());

        let mut t = good.clone();
        t.name = "  ".into();
        assert!(validate_template(&t).is_err());

        assert!(validate_template(&custom(vec![])).is_err());

        for bad_id in ["", "Hours", "sleep-hours", "sleep hours", "é"] {
            let t = custom(vec![field_def(bad_id, FieldKind::ShortText)]);
            assert!(validate_template(&t).is_err(), "id {bad_id:?}");
        }

        let dup = custom(vec![
            field_def("a", FieldKind::ShortText),
            field_def("a", FieldKind::LongText),
        ]);
        let err = validate_template(&dup).unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");

        for kind in [
            FieldKind::Scale { min: 5, max: 5 },
            FieldKind::Scale { min: 10, max: 0 },
            FieldKind::Thoughts { min: 1, max: 0 },
            FieldKind::RatedItems {
                min: 3,
                max: 3,
                vocabulary: vec![],
                open: false,
            },
            FieldKind::SingleChoice { options: vec![] },
            FieldKind::MultiChoice {
                options: vec!["a".into(), "".into()],
            },
            FieldKind::MultiChoice {
                options: vec!["a".into(), "A".into()],
            },
            FieldKind::Checklist { items: vec![] },
            FieldKind::Checklist {
                items: vec!["x".into(), "x".into()],
            },
            FieldKind::RatedItems {
                min: 0,
                max: 3,
                vocabulary: vec!["x".into(), "x".into()],
                open: false,
            },
        ] {
            let t = custom(vec![field_def("q", kind.clone())]);
            assert!(validate_template(&t).is_err(), "{kind:?}");
        }

        let mut unlabelled = field_def("q", FieldKind::ShortText);
        unlabelled.label = String::new();
        assert!(validate_template(&custom(vec![unlabelled])).is_err());
    }
}
