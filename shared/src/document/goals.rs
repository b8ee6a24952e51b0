//! Goals and their small steps.

use super::*;

impl HomeworkDoc {
    /// Sets a new goal with its small steps.
    pub fn create_goal(
        &mut self,
        by: &Author,
        now: Timestamp,
        title: &str,
        why: &str,
        steps: &[String],
    ) -> Result<GoalId, DocError> {
        let title = non_empty("the goal's title", title)?;
        check_length("why it matters", why)?;
        let steps = steps
            .iter()
            .map(|s| new_step(s))
            .collect::<Result<Vec<_>, _>>()?;
        let id = GoalId::random();
        self.change_parts("create goal", now, Needs::default(), |data| {
            data.goals.insert(
                id.clone(),
                Goal {
                    title,
                    why: Text::with_value(why.trim()),
                    steps,
                    status: GoalStatus::Active,
                    created_by: by.clone(),
                    created_at: now,
                },
            );
            Ok(id)
        })
    }

    /// Adds a small step to a goal.
    pub fn add_step(
        &mut self,
        now: Timestamp,
        goal: &GoalId,
        text: &str,
    ) -> Result<StepId, DocError> {
        let step = new_step(text)?;
        let id = step.id.clone();
        self.change_parts("add goal step", now, Needs::default().goal(goal), |data| {
            goal_mut(data, goal)?.steps.push(step);
            Ok(id)
        })
    }

    /// Ticks a step off (or un-ticks it).
    pub fn set_step_done(
        &mut self,
        by: &Author,
        now: Timestamp,
        goal: &GoalId,
        step: &StepId,
        done: bool,
    ) -> Result<(), DocError> {
        self.change_parts("tick goal step", now, Needs::default().goal(goal), |data| {
            let goal = goal_mut(data, goal)?;
            let step = goal
                .steps
                .iter_mut()
                .find(|s| &s.id == step)
                .ok_or_else(|| not_found("step", step.as_str()))?;
            step.done = done;
            step.done_at = done.then_some(now);
            step.done_by = done.then(|| by.clone());
            Ok(())
        })
    }

    /// Marks a goal achieved, dropped or active again.
    pub fn set_goal_status(
        &mut self,
        now: Timestamp,
        goal: &GoalId,
        status: GoalStatus,
    ) -> Result<(), DocError> {
        self.change_parts(
            "set goal status",
            now,
            Needs::default().goal(goal),
            |data| {
                goal_mut(data, goal)?.status = status;
                Ok(())
            },
        )
    }
}
