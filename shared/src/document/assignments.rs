//! Assignments: creating, adjusting (with the reason kept), status, reminders and instructions.

use super::*;

impl HomeworkDoc {
    /// Assigns homework. Therapists assign; clients may set their own.
    pub fn create_assignment(
        &mut self,
        by: &Author,
        now: Timestamp,
        new: NewAssignment,
    ) -> Result<AssignmentId, DocError> {
        let title = non_empty("the assignment's title", &new.title)?;
        check_length("the instructions", &new.instructions)?;
        check_schedule(&new.schedule)?;
        check_minutes(new.minutes)?;
        let id = AssignmentId::random();
        let needs = Needs {
            templates: vec![new.template.as_str().to_owned()],
            goals: new.goal.iter().map(|g| g.as_str().to_owned()).collect(),
            ..Needs::default()
        };
        self.change_parts("create assignment", now, needs, |data| {
            Self::template_in(data, &new.template)?;
            if let Some(goal) = &new.goal {
                goal_mut(data, goal)?;
            }
            data.assignments.insert(
                id.clone(),
                Assignment {
                    title,
                    template: new.template,
                    instructions: Text::with_value(new.instructions.trim()),
                    schedule: new.schedule,
                    minutes: new.minutes,
                    focus: new
                        .focus
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty()),
                    status: AssignmentStatus::Active,
                    goal: new.goal,
                    history: Vec::new(),
                    created_by: by.clone(),
                    created_at: now,
                    remind_at: new.remind_at.map(|t| t.to_string()),
                },
            );
            Ok(id)
        })
    }

    /// Changes an assignment's frequency, duration or focus, recording each change with who,
    /// when and why.
    pub fn adjust_assignment(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &AssignmentId,
        adjustment: AssignmentAdjustment,
        why: &str,
    ) -> Result<(), DocError> {
        let why = non_empty("the reason for the change", why)?;
        if let Some(schedule) = &adjustment.schedule {
            check_schedule(schedule)?;
        }
        if let Some(minutes) = adjustment.minutes {
            check_minutes(minutes)?;
        }
        self.change_parts("adjust assignment", now, Needs::default().assignment(Some(id)), |data| {
            let assignment = assignment_mut(data, id)?;
            let mut history = Vec::new();
            let mut record = |kind, from: String, to: String, previous_schedule| {
                history.push(Adjustment {
                    id: AdjustmentId::random(),
                    kind,
                    from,
                    to,
                    previous_schedule,
                    why: why.clone(),
                    by: by.clone(),
                    at: now,
                });
            };
            let mut changed = false;
            if let Some(schedule) = adjustment.schedule {
                if schedule != assignment.schedule {
                    record(
                        AdjustmentKind::Frequency,
                        describe_schedule(&assignment.schedule),
                        describe_schedule(&schedule),
                        Some(assignment.schedule.clone()),
                    );
                    assignment.schedule = schedule;
                    changed = true;
                }
            }
            if let Some(minutes) = adjustment.minutes {
                if minutes != assignment.minutes {
                    record(
                        AdjustmentKind::Duration,
                        describe_minutes(assignment.minutes),
                        describe_minutes(minutes),
                        None,
                    );
                    assignment.minutes = minutes;
                    changed = true;
                }
            }
            if let Some(focus) = adjustment.focus {
                let focus = focus.map(|f| f.trim().to_string()).filter(|f| !f.is_empty());
                if focus != assignment.focus {
                    record(
                        AdjustmentKind::Focus,
                        assignment.focus.clone().unwrap_or_else(|| "(none)".into()),
                        focus.clone().unwrap_or_else(|| "(none)".into()),
                        None,
                    );
                    assignment.focus = focus;
                    changed = true;
                }
            }
            if changed {
                assignment.history.extend(history);
                Ok(())
            } else {
                Err(DocError::NotAllowed(
                    "nothing to change: give a new frequency, duration or focus that differs from the current one".into(),
                ))
            }
        })
    }

    /// Pauses, resumes, completes or archives an assignment, recording why.
    pub fn set_assignment_status(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &AssignmentId,
        status: AssignmentStatus,
        why: &str,
    ) -> Result<(), DocError> {
        self.change_parts(
            "set assignment status",
            now,
            Needs::default().assignment(Some(id)),
            |data| {
                let assignment = assignment_mut(data, id)?;
                if assignment.status == status {
                    return Err(DocError::NotAllowed(format!(
                        "the assignment is already {}",
                        status.as_str()
                    )));
                }
                assignment.history.push(Adjustment {
                    id: AdjustmentId::random(),
                    kind: AdjustmentKind::Status,
                    from: assignment.status.as_str().to_string(),
                    to: status.as_str().to_string(),
                    previous_schedule: None,
                    why: why.trim().to_string(),
                    by: by.clone(),
                    at: now,
                });
                assignment.status = status;
                Ok(())
            },
        )
    }

    /// Sets (or with `None` stops) the daily reminder of an assignment.
    pub fn set_reminder(
        &mut self,
        now: Timestamp,
        id: &AssignmentId,
        at: Option<TimeOfDay>,
    ) -> Result<(), DocError> {
        self.change_parts(
            "set reminder",
            now,
            Needs::default().assignment(Some(id)),
            |data| {
                assignment_mut(data, id)?.remind_at = at.map(|t| t.to_string());
                Ok(())
            },
        )
    }

    /// Rewrites an assignment's instructions (merged character by character).
    pub fn set_instructions(
        &mut self,
        now: Timestamp,
        id: &AssignmentId,
        instructions: &str,
    ) -> Result<(), DocError> {
        check_length("the instructions", instructions)?;
        self.change_parts(
            "edit instructions",
            now,
            Needs::default().assignment(Some(id)),
            |data| {
                assignment_mut(data, id)?.instructions.update(instructions);
                Ok(())
            },
        )
    }
}
