//! What the therapist sets for the whole document: acknowledged risk flags, their own worksheets, crisis resources and their name.

use super::*;

impl HomeworkDoc {
    /// Records that the therapist saw the risk flag of questionnaire `entry` ([`crate::risk`]),
    /// with what they did about it (`note`, may be empty). Only a therapist acknowledges, and only
    /// a flag that is raised and still open.
    pub fn acknowledge_risk(
        &mut self,
        by: &Author,
        now: Timestamp,
        entry: &EntryId,
        note: &str,
    ) -> Result<(), DocError> {
        if by.role != Role::Therapist {
            return Err(DocError::NotAllowed(
                "only the therapist acknowledges a risk flag; if you need help now, run `between help-now`".into(),
            ));
        }
        let note = note.trim();
        if note.chars().count() > MAX_TEXT_CHARS {
            return Err(ValidationError::Invalid(format!(
                "the note is longer than {MAX_TEXT_CHARS} characters"
            ))
            .into());
        }
        self.change("acknowledge risk flag", now, |data| {
            let flag = crate::risk::risk_flags(data)
                .into_iter()
                .find(|f| &f.entry == entry)
                .ok_or_else(|| {
                    DocError::NotAllowed(format!(
                        "entry {} raises no risk flag; `between risk list` shows the flags",
                        entry.short()
                    ))
                })?;
            if let Some(done) = flag.acknowledged {
                return Err(DocError::NotAllowed(format!(
                    "that flag was already acknowledged by {} at {}",
                    done.by, done.at
                )));
            }
            data.risk_acknowledgements.insert(
                entry.clone(),
                RiskAcknowledgement {
                    by: by.clone(),
                    at: now,
                    note: note.to_owned(),
                },
            );
            Ok(())
        })
    }

    // ----- templates -----

    /// Adds a therapist's custom template, after checking it is well-formed.
    pub fn add_template(
        &mut self,
        by: &Author,
        now: Timestamp,
        mut template: Template,
    ) -> Result<TemplateId, DocError> {
        if by.role != Role::Therapist {
            return Err(DocError::NotAllowed(
                "only the therapist defines custom templates; clients can set their own assignments from any template".into(),
            ));
        }
        template.id = TemplateId::custom();
        template.created_by = Some(by.clone());
        template.created_at = Some(now);
        validate::validate_template(&template)?;
        let id = template.id.clone();
        self.change("add template", now, |data| {
            if data
                .templates
                .values()
                .any(|t| t.name.eq_ignore_ascii_case(&template.name))
            {
                return Err(ValidationError::Invalid(format!(
                    "a template named '{}' already exists; choose another name",
                    template.name
                ))
                .into());
            }
            data.templates.insert(id.clone(), template);
            Ok(id)
        })
    }

    /// Sets the practice's crisis resources in this client's document (therapist only): what
    /// the client's devices show with a risky answer and on `between help-now`.
    pub fn set_crisis_resources(
        &mut self,
        by: &Author,
        now: Timestamp,
        text: &str,
    ) -> Result<(), DocError> {
        if by.role != Role::Therapist {
            return Err(DocError::NotAllowed(
                "the crisis resources are set by your therapist's practice; `between help-now` shows them".into(),
            ));
        }
        let text = non_empty("the crisis resources", text)?;
        self.change_parts("set crisis resources", now, Needs::default(), |data| {
            data.crisis_resources = Some(CrisisResources {
                text,
                set_by: by.clone(),
                set_at: now,
            });
            Ok(())
        })
    }

    /// Records the therapist's name in the document (when a therapist first opens it).
    pub fn set_therapist_name(&mut self, now: Timestamp, name: &str) -> Result<(), DocError> {
        let name = non_empty("the therapist's name", name)?;
        self.change_parts("set therapist", now, Needs::default(), |data| {
            data.meta.therapist_name = Some(name);
            Ok(())
        })
    }
}
