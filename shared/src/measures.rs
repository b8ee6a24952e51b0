//! Standard measures scored on the device: the PHQ-9 (depression) and the GAD-7 (anxiety).
//!
//! Both ask how often, over the last two weeks, the person has been bothered by each of a few
//! problems, answered 0 (not at all) to 3 (nearly every day). The total places the person in a
//! severity band. The item wording lives here, next to the scoring, and the built-in `phq-9` and
//! `gad-7` templates ([`crate::template::builtin`]) are built from it, with the items stored
//! under the field ids `item_1`, `item_2`, ...
//!
//! PHQ-9 item 9 asks about thoughts of being better off dead or of self-harm. Any answer above 0
//! sets [`MeasureScore::item9_positive`] so that clients can show a safety note and the
//! therapist sees it, whatever the total.

use crate::error::ValidationError;
use crate::template::FieldValue;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Highest answer to any item ("nearly every day").
pub const ITEM_MAX: i64 = 3;

/// What each answer from 0 to 3 means.
pub const ANSWER_ANCHORS: [&str; 4] = [
    "not at all",
    "several days",
    "more than half the days",
    "nearly every day",
];

/// The field id of the closing question both measures ask after their items (not scored).
pub const DAILY_LIFE_FIELD: &str = "daily_life";

/// The closing question of the PHQ-9 and the GAD-7, as the instruments word it.
pub const DAILY_LIFE_QUESTION: &str = "If you checked off any problems, how difficult have these \
problems made it for you to do your work, take care of things at home, or get along with other \
people?";

/// What each answer from 0 to 3 to the closing question means.
pub const DAILY_LIFE_ANCHORS: [&str; 4] = [
    "not difficult at all",
    "somewhat difficult",
    "very difficult",
    "extremely difficult",
];

/// What answer `value` to field `field` of a measure means, as the instrument labels it
/// ("several days"), or `None` for a field that is not one of the measure's questions.
pub fn answer_label(field: &str, value: i64) -> Option<&'static str> {
    let anchors = if field == DAILY_LIFE_FIELD {
        &DAILY_LIFE_ANCHORS
    } else if field.starts_with("item_") {
        &ANSWER_ANCHORS
    } else {
        return None;
    };
    usize::try_from(value)
        .ok()
        .and_then(|i| anchors.get(i))
        .copied()
}

/// An answer of a measure as it is shown: "2 — more than half the days", or the bare number
/// for a field that is not one of the measure's questions.
pub fn shown_answer(field: &str, value: i64) -> String {
    match answer_label(field, value) {
        Some(label) => format!("{value} — {label}"),
        None => value.to_string(),
    }
}

/// The score of a completed questionnaire entry; `None` for other entries, drafts, and answers
/// that do not score.
pub fn entry_score(entry: &crate::model::Entry) -> Option<MeasureScore> {
    let measure = Measure::from_template(entry.template.as_str())?;
    if entry.status != crate::model::EntryStatus::Complete {
        return None;
    }
    score(measure, &entry.values).ok()
}

/// The question both measures put before each item.
pub const STEM: &str = "Over the last 2 weeks, how often have you been bothered by";

/// The nine PHQ-9 items, in order.
pub const PHQ9_ITEMS: [&str; 9] = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite: being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
];

/// The seven GAD-7 items, in order.
pub const GAD7_ITEMS: [&str; 7] = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid as if something awful might happen",
];

/// The field id of item `n` (1-based) of a measure template: `item_1`, `item_2`, ...
pub fn item_field(n: usize) -> String {
    format!("item_{n}")
}

/// A standard measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// Patient Health Questionnaire, 9 items (depression).
    #[serde(rename = "phq-9")]
    Phq9,
    /// Generalised Anxiety Disorder scale, 7 items.
    #[serde(rename = "gad-7")]
    Gad7,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 2] = [Measure::Phq9, Measure::Gad7];

    /// The measure a template scores, by the template's id (`phq-9`, `gad-7`).
    pub fn from_template(id: &str) -> Option<Measure> {
        match id.trim() {
            "phq-9" => Some(Measure::Phq9),
            "gad-7" => Some(Measure::Gad7),
            _ => None,
        }
    }

    /// The id of the built-in template for this measure.
    pub fn template_id(self) -> &'static str {
        match self {
            Measure::Phq9 => "phq-9",
            Measure::Gad7 => "gad-7",
        }
    }

    /// The name people know it by ("PHQ-9").
    pub fn name(self) -> &'static str {
        match self {
            Measure::Phq9 => "PHQ-9",
            Measure::Gad7 => "GAD-7",
        }
    }

    /// The item wording, in order.
    pub fn items(self) -> &'static [&'static str] {
        match self {
            Measure::Phq9 => &PHQ9_ITEMS,
            Measure::Gad7 => &GAD7_ITEMS,
        }
    }

    /// The highest possible total.
    pub fn max_total(self) -> i64 {
        // At most nine items, so the conversion cannot fail.
        i64::try_from(self.items().len()).unwrap_or(i64::MAX) * ITEM_MAX
    }

    /// The severity band of a total.
    pub fn severity(self, total: i64) -> Severity {
        match (self, total) {
            (_, ..=4) => Severity::Minimal,
            (_, 5..=9) => Severity::Mild,
            (_, 10..=14) => Severity::Moderate,
            (Measure::Phq9, 15..=19) => Severity::ModeratelySevere,
            _ => Severity::Severe,
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The severity band of a measure's total.
///
/// PHQ-9: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe.
/// GAD-7: 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Minimal symptoms.
    Minimal,
    /// Mild.
    Mild,
    /// Moderate.
    Moderate,
    /// Moderately severe (PHQ-9 only).
    ModeratelySevere,
    /// Severe.
    Severe,
}

impl Severity {
    /// The label shown to people ("moderately severe").
    pub fn label(self) -> &'static str {
        match self {
            Severity::Minimal => "minimal",
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::ModeratelySevere => "moderately severe",
            Severity::Severe => "severe",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The score of one completed measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MeasureScore {
    /// Which measure.
    pub measure: Measure,
    /// Sum of the item answers.
    pub total: i64,
    /// Highest possible total (27 for the PHQ-9, 21 for the GAD-7).
    pub max: i64,
    /// The severity band of the total.
    pub severity: Severity,
    /// PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0. Always
    /// false for the GAD-7.
    pub item9_positive: bool,
}

/// Scores a measure from an entry's values (`item_1` ... as numbers 0–3).
///
/// Every item must be answered; the error names the first one missing or out of range. Other
/// values are ignored.
pub fn score(
    measure: Measure,
    values: &BTreeMap<String, FieldValue>,
) -> Result<MeasureScore, ValidationError> {
    let mut total = 0;
    let mut item9_positive = false;
    for (index, wording) in measure.items().iter().enumerate() {
        let n = index + 1;
        let label = format!("{} item {n} ({wording})", measure.name());
        let answer = match values.get(&item_field(n)) {
            None => return Err(ValidationError::MissingRequired { field: label }),
            Some(FieldValue::Number(answer)) => *answer,
            Some(other) => {
                return Err(ValidationError::WrongKind {
                    field: label,
                    problem: format!(
                        "expected a number from 0 to {ITEM_MAX}, but the answer is '{}'",
                        other.display()
                    ),
                })
            }
        };
        if !(0..=ITEM_MAX).contains(&answer) {
            return Err(ValidationError::OutOfRange {
                field: label,
                value: answer,
                min: 0,
                max: ITEM_MAX,
            });
        }
        total += answer;
        if measure == Measure::Phq9 && n == 9 && answer > 0 {
            item9_positive = true;
        }
    }
    Ok(MeasureScore {
        measure,
        total,
        max: measure.max_total(),
        severity: measure.severity(total),
        item9_positive,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Answers that add up to `total`, filling items from the first with 3s.
    fn answers(measure: Measure, total: i64) -> BTreeMap<String, FieldValue> {
        let mut left = total;
        (1..=measure.items().len())
            .map(|n| {
                let answer = left.min(ITEM_MAX);
                left -= answer;
                (item_field(n), FieldValue::Number(answer))
            })
            .collect()
    }

    fn severity_of(measure: Measure, total: i64) -> Severity {
        let result = score(measure, &answers(measure, total)).unwrap();
        assert_eq!(result.total, total);
        result.severity
    }

    #[test]
    fn phq9_band_boundaries() {
        use Severity::*;
        let m = Measure::Phq9;
        for (total, band) in [
            (0, Minimal),
            (4, Minimal),
            (5, Mild),
            (9, Mild),
            (10, Moderate),
            (14, Moderate),
            (15, ModeratelySevere),
            (19, ModeratelySevere),
            (20, Severe),
            (27, Severe),
        ] {
            assert_eq!(severity_of(m, total), band, "PHQ-9 total {total}");
        }
    }

    #[test]
    fn gad7_band_boundaries() {
        use Severity::*;
        let m = Measure::Gad7;
        for (total, band) in [
            (0, Minimal),
            (4, Minimal),
            (5, Mild),
            (9, Mild),
            (10, Moderate),
            (14, Moderate),
            (15, Severe),
            (19, Severe),
            (21, Severe),
        ] {
            assert_eq!(severity_of(m, total), band, "GAD-7 total {total}");
        }
    }

    #[test]
    fn max_totals() {
        assert_eq!(Measure::Phq9.max_total(), 27);
        assert_eq!(Measure::Gad7.max_total(), 21);
        let s = score(Measure::Gad7, &answers(Measure::Gad7, 21)).unwrap();
        assert_eq!((s.total, s.max), (21, 21));
    }

    #[test]
    fn missing_item_is_named() {
        let mut values = answers(Measure::Phq9, 10);
        values.remove("item_3");
        let err = score(Measure::Phq9, &values).unwrap_err();
        match &err {
            ValidationError::MissingRequired { field } => {
                assert!(field.contains("item 3"), "{field}");
                assert!(
                    field.contains("Trouble falling or staying asleep"),
                    "{field}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("PHQ-9 item 3"));
    }

    #[test]
    fn out_of_range_and_wrong_kind_items_are_rejected() {
        let mut values = answers(Measure::Gad7, 0);
        values.insert(item_field(2), FieldValue::Number(4));
        let err = score(Measure::Gad7, &values).unwrap_err();
        assert!(matches!(
            err,
            ValidationError::OutOfRange {
                value: 4,
                min: 0,
                max: 3,
                ..
            }
        ));
        assert!(err.to_string().contains("from 0 to 3"));

        values.insert(item_field(2), FieldValue::Text("often".into()));
        let err = score(Measure::Gad7, &values).unwrap_err();
        assert!(matches!(err, ValidationError::WrongKind { .. }));
    }

    #[test]
    fn item9_flag() {
        let mut values = answers(Measure::Phq9, 0);
        assert!(!score(Measure::Phq9, &values).unwrap().item9_positive);
        values.insert(item_field(9), FieldValue::Number(1));
        let s = score(Measure::Phq9, &values).unwrap();
        assert!(s.item9_positive);
        assert_eq!(s.severity, Severity::Minimal);
        // The GAD-7 has no item 9; a stray value is ignored.
        let mut gad = answers(Measure::Gad7, 3);
        gad.insert(item_field(9), FieldValue::Number(3));
        let s = score(Measure::Gad7, &gad).unwrap();
        assert!(!s.item9_positive);
        assert_eq!(s.total, 3);
    }

    #[test]
    fn template_ids_and_serialisation() {
        for m in Measure::ALL {
            assert_eq!(Measure::from_template(m.template_id()), Some(m));
        }
        assert_eq!(Measure::from_template("journal"), None);
        let s = score(Measure::Phq9, &answers(Measure::Phq9, 17)).unwrap();
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["measure"], "phq-9");
        assert_eq!(json["severity"], "moderately-severe");
        assert_eq!(json["total"], 17);
        assert_eq!(json["max"], 27);
        assert_eq!(Severity::ModeratelySevere.to_string(), "moderately severe");
    }
}
