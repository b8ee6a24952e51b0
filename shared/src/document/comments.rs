//! Comments on entries, fields, assignments and goals, with replies and resolving.

use super::*;

impl HomeworkDoc {
    /// Comments on an assignment, an entry (or one of its fields) or a goal; or replies to a
    /// comment when `reply_to` is given (the reply takes the parent's target).
    pub fn add_comment(
        &mut self,
        by: &Author,
        now: Timestamp,
        target: Option<CommentTarget>,
        reply_to: Option<CommentId>,
        text: &str,
    ) -> Result<CommentId, DocError> {
        let text = non_empty("the comment", text)?;
        let id = CommentId::random();
        let needs = self.comment_needs(target.as_ref(), reply_to.as_ref())?;
        self.change_parts("add comment", now, needs, |data| {
            let target = match (&reply_to, target) {
                (Some(parent), _) => data
                    .comments
                    .get(parent)
                    .map(|c| c.target.clone())
                    .ok_or_else(|| not_found("comment", parent.as_str()))?,
                (None, Some(target)) => target,
                (None, None) => {
                    return Err(ValidationError::Invalid(
                        "say what the comment is about: an assignment, an entry (or one of its fields) or a goal".into(),
                    )
                    .into())
                }
            };
            check_target(data, &target)?;
            data.comments.insert(
                id.clone(),
                Comment {
                    target,
                    reply_to,
                    author: by.clone(),
                    text: Text::with_value(text),
                    created_at: now,
                    resolved: false,
                    resolved_by: None,
                },
            );
            Ok(id)
        })
    }

    /// Marks a comment thread resolved (or open again).
    pub fn set_comment_resolved(
        &mut self,
        by: &Author,
        now: Timestamp,
        id: &CommentId,
        resolved: bool,
    ) -> Result<(), DocError> {
        let needs = Needs {
            comments: vec![id.as_str().to_owned()],
            ..Needs::default()
        };
        self.change_parts("resolve comment", now, needs, |data| {
            let comment = data
                .comments
                .get_mut(id)
                .ok_or_else(|| not_found("comment", id.as_str()))?;
            comment.resolved = resolved;
            comment.resolved_by = resolved.then(|| by.clone());
            Ok(())
        })
    }
}
