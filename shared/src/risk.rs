//! Risk flags: which completed questionnaires a therapist must see, and why, until they
//! acknowledge them.
//!
//! A completed PHQ-9 or GAD-7 in the shared homework raises a flag when
//!
//! - PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is answered above 0,
//!   whatever the total;
//! - the total is in the top band: PHQ-9 [`SEVERE_PHQ9`] or more, GAD-7 [`SEVERE_GAD7`] or more;
//! - a PHQ-9 total rose by [`RISE`] or more since the client's previous completed PHQ-9.
//!
//! A flag stays until the therapist acknowledges it (`HomeworkDoc::acknowledge_risk`), which is
//! itself recorded in the document (who, when, an optional note), so every device of the client
//! and the therapist sees the same state, offline. Everything here is computed from the document
//! alone.

use std::fmt;

use serde::Serialize;

use crate::ids::EntryId;
use crate::measures::{entry_score, Measure, MeasureScore, ANSWER_ANCHORS};
use crate::model::{HomeworkData, RiskAcknowledgement};
use crate::time::{Day, Timestamp};

/// What a device shows for help at once until the practice sets its own crisis resources
/// (`HomeworkDoc::set_crisis_resources`).
pub const DEFAULT_CRISIS_RESOURCES: &str = "If you are in danger now, or might act on thoughts of \
harming yourself, call your local emergency number: 112 in the European Union, 999 in the UK, \
911 in the US and Canada, 000 in Australia. You can talk to someone at any hour: in the US call \
or text 988 (Suicide & Crisis Lifeline); in the UK and Ireland call Samaritans on 116 123. \
Elsewhere, your local emergency number can put you through to a crisis line. Tell your \
therapist too.";

/// The crisis resources of `data`: the practice's, or [`DEFAULT_CRISIS_RESOURCES`].
pub fn crisis_resources(data: &HomeworkData) -> &str {
    data.crisis_resources
        .as_ref()
        .map_or(DEFAULT_CRISIS_RESOURCES, |c| c.text.as_str())
}

/// A PHQ-9 total from which a flag is raised (the "severe" band).
pub const SEVERE_PHQ9: i64 = 20;
/// A GAD-7 total from which a flag is raised (the "severe" band).
pub const SEVERE_GAD7: i64 = 15;
/// A rise of the PHQ-9 total since the previous one that raises a flag.
pub const RISE: i64 = 5;

/// Why a questionnaire is flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RiskReason {
    /// PHQ-9 item 9 answered above 0.
    Item9 {
        /// The answer, 1 to 3.
        answer: i64,
        /// What the answer means ("several days").
        meaning: &'static str,
    },
    /// A total in the top band.
    SevereTotal {
        /// The total.
        total: i64,
        /// The threshold it reached.
        threshold: i64,
    },
    /// The PHQ-9 total rose by [`RISE`] or more since the previous one.
    Rise {
        /// The previous total.
        from: i64,
        /// This total.
        to: i64,
        /// The day of the previous questionnaire.
        since: Day,
    },
}

impl fmt::Display for RiskReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RiskReason::Item9 { answer, meaning } => write!(
                f,
                "item 9 (thoughts of being better off dead or of self-harm) answered {answer}, \"{meaning}\""
            ),
            RiskReason::SevereTotal { total, threshold } => {
                write!(f, "total {total}, severe ({threshold} or more)")
            }
            RiskReason::Rise { from, to, since } => {
                write!(f, "total rose by {} since {since} ({from} → {to})", to - from)
            }
        }
    }
}

/// One flagged questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskFlag {
    /// The entry.
    pub entry: EntryId,
    /// The day it is for.
    pub date: Day,
    /// When the client completed it (last changed it).
    pub at: Timestamp,
    /// Its score and band.
    pub score: MeasureScore,
    /// Why it is flagged, in the order of the module docs.
    pub reasons: Vec<RiskReason>,
    /// The therapist's acknowledgement, once given.
    pub acknowledged: Option<RiskAcknowledgement>,
}

impl RiskFlag {
    /// The reasons in one line: "item 9 … answered 1, \"several days\"; total 21, severe …".
    pub fn describe(&self) -> String {
        let reasons: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        format!(
            "{} on {}: {}",
            self.score.measure.name(),
            self.date,
            reasons.join("; ")
        )
    }
}

/// Every flagged questionnaire of `data`, oldest first (acknowledged ones included; see
/// [`open_flags`]).
pub fn risk_flags(data: &HomeworkData) -> Vec<RiskFlag> {
    let mut scored: Vec<(Day, Timestamp, &EntryId, MeasureScore)> = data
        .entries
        .iter()
        .filter_map(|(id, e)| Some((e.date, e.updated_at, id, entry_score(e)?)))
        .collect();
    scored.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut flags = Vec::new();
    let mut previous_phq9: Option<(i64, Day)> = None;
    for (date, at, id, score) in scored {
        let mut reasons = Vec::new();
        if score.measure == Measure::Phq9 {
            if let Some(answer) = data.entries[id]
                .number(&crate::measures::item_field(9))
                .filter(|a| *a > 0)
            {
                let meaning = usize::try_from(answer)
                    .ok()
                    .and_then(|i| ANSWER_ANCHORS.get(i))
                    .copied()
                    .unwrap_or("");
                reasons.push(RiskReason::Item9 { answer, meaning });
            }
        }
        let threshold = match score.measure {
            Measure::Phq9 => SEVERE_PHQ9,
            Measure::Gad7 => SEVERE_GAD7,
        };
        if score.total >= threshold {
            reasons.push(RiskReason::SevereTotal {
                total: score.total,
                threshold,
            });
        }
        if score.measure == Measure::Phq9 {
            if let Some((from, since)) = previous_phq9 {
                if score.total - from >= RISE {
                    reasons.push(RiskReason::Rise {
                        from,
                        to: score.total,
                        since,
                    });
                }
            }
            previous_phq9 = Some((score.total, date));
        }
        if !reasons.is_empty() {
            flags.push(RiskFlag {
                entry: id.clone(),
                date,
                at,
                score,
                reasons,
                acknowledged: data.risk_acknowledgements.get(id).cloned(),
            });
        }
    }
    flags
}

/// The flags the therapist has not acknowledged yet, oldest first.
pub fn open_flags(data: &HomeworkData) -> Vec<RiskFlag> {
    let mut flags = risk_flags(data);
    flags.retain(|f| f.acknowledged.is_none());
    flags
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::author::{Author, Role};
    use crate::document::{EntryUpdate, NewEntry};
    use crate::measures::item_field;
    use crate::template::FieldValue;
    use crate::{HomeworkDoc, TemplateId};

    fn client() -> Author {
        Author::new(Role::Client, "Sam")
    }

    fn therapist() -> Author {
        Author::new(Role::Therapist, "Dr Rivera")
    }

    fn doc() -> HomeworkDoc {
        HomeworkDoc::create(b"therapist", "Sam", &therapist(), Timestamp(0)).unwrap()
    }

    /// Saves a questionnaire on `day` (of March 2026) with these item answers.
    fn questionnaire(
        doc: &mut HomeworkDoc,
        measure: &str,
        day: u32,
        answers: &[i64],
        complete: bool,
    ) -> EntryId {
        let values = answers
            .iter()
            .enumerate()
            .map(|(i, a)| (item_field(i + 1), FieldValue::Number(*a)))
            .collect();
        doc.create_entry(
            &client(),
            Timestamp(i64::from(day) * 86_400_000),
            NewEntry {
                template: TemplateId::from_string(measure),
                assignment: None,
                date: Day::from_ymd(2026, 3, day).unwrap(),
                update: EntryUpdate {
                    values,
                    ..EntryUpdate::default()
                },
            },
            complete,
        )
        .unwrap()
    }

    fn reasons(doc: &HomeworkDoc) -> Vec<Vec<RiskReason>> {
        risk_flags(&doc.data().unwrap())
            .into_iter()
            .map(|f| f.reasons)
            .collect()
    }

    #[test]
    fn item_9_above_0_is_flagged_whatever_the_total() {
        let mut doc = doc();
        questionnaire(&mut doc, "phq-9", 2, &[1, 1, 1, 1, 1, 1, 1, 1, 1], true);
        let flags = risk_flags(&doc.data().unwrap());
        assert_eq!(flags.len(), 1);
        assert_eq!(
            flags[0].reasons,
            [RiskReason::Item9 {
                answer: 1,
                meaning: "several days"
            }]
        );
        assert!(
            flags[0].describe().contains("PHQ-9 on 2026-03-02: item 9"),
            "{}",
            flags[0].describe()
        );
        // Item 9 at 0 and a mild total: nothing.
        let mut calm = self::doc();
        questionnaire(&mut calm, "phq-9", 2, &[1, 1, 1, 1, 1, 1, 1, 1, 0], true);
        assert!(risk_flags(&calm.data().unwrap()).is_empty());
    }

    #[test]
    fn severe_totals_are_flagged_at_the_band_boundary() {
        let mut doc = doc();
        // PHQ-9 19 (not flagged) and 20 (flagged), item 9 at 0 in both.
        questionnaire(&mut doc, "phq-9", 2, &[3, 3, 3, 3, 3, 3, 1, 0, 0], true);
        questionnaire(&mut doc, "phq-9", 3, &[3, 3, 3, 3, 3, 3, 2, 0, 0], true);
        // GAD-7 14 (not flagged) and 15 (flagged).
        questionnaire(&mut doc, "gad-7", 2, &[3, 3, 3, 3, 2, 0, 0], true);
        questionnaire(&mut doc, "gad-7", 4, &[3, 3, 3, 3, 3, 0, 0], true);
        assert_eq!(
            reasons(&doc),
            [
                vec![RiskReason::SevereTotal {
                    total: 20,
                    threshold: SEVERE_PHQ9
                }],
                vec![RiskReason::SevereTotal {
                    total: 15,
                    threshold: SEVERE_GAD7
                }],
            ]
        );
    }

    #[test]
    fn a_rise_of_five_since_the_previous_phq9_is_flagged_and_four_is_not() {
        let mut doc = doc();
        questionnaire(&mut doc, "phq-9", 2, &[1, 1, 1, 1, 1, 1, 1, 1, 0], true); // 8
        questionnaire(&mut doc, "phq-9", 9, &[2, 2, 2, 1, 1, 1, 1, 1, 0], true); // 11: +3
        questionnaire(&mut doc, "phq-9", 16, &[2, 2, 2, 2, 2, 2, 2, 2, 0], true); // 16: +5
                                                                                  // A draft is no answer yet: it neither flags nor counts as the previous one.
        questionnaire(&mut doc, "phq-9", 20, &[3, 3, 3, 3, 3, 3, 3, 0, 0], false);
        assert_eq!(
            reasons(&doc),
            [vec![RiskReason::Rise {
                from: 11,
                to: 16,
                since: Day::from_ymd(2026, 3, 9).unwrap()
            }]]
        );
    }

    #[test]
    fn only_the_therapist_acknowledges_and_only_an_open_flag() {
        let mut doc = doc();
        let flagged = questionnaire(&mut doc, "phq-9", 2, &[0, 0, 0, 0, 0, 0, 0, 0, 2], true);
        let calm = questionnaire(&mut doc, "gad-7", 2, &[0, 0, 0, 0, 0, 0, 0], true);
        let now = Timestamp(5 * 86_400_000);
        let refused = doc
            .acknowledge_risk(&client(), now, &flagged, "")
            .unwrap_err();
        assert!(
            refused.to_string().contains("only the therapist"),
            "{refused}"
        );
        let refused = doc
            .acknowledge_risk(&therapist(), now, &calm, "")
            .unwrap_err();
        assert!(
            refused.to_string().contains("raises no risk flag"),
            "{refused}"
        );
        assert_eq!(open_flags(&doc.data().unwrap()).len(), 1);

        doc.acknowledge_risk(
            &therapist(),
            now,
            &flagged,
            "  Called Sam; safety plan reviewed. ",
        )
        .unwrap();
        let data = doc.data().unwrap();
        assert!(open_flags(&data).is_empty());
        let done = risk_flags(&data)[0].acknowledged.clone().unwrap();
        assert_eq!(done.by, therapist());
        assert_eq!(done.at, now);
        assert_eq!(done.note, "Called Sam; safety plan reviewed.");
        let again = doc
            .acknowledge_risk(&therapist(), now, &flagged, "")
            .unwrap_err();
        assert!(
            again.to_string().contains("already acknowledged"),
            "{again}"
        );
    }
}
