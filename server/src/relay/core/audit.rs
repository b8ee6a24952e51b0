//! Reading the audit trail: a document's events (members only), or the caller's account's.
//!
//! Reading is itself recorded, once per listing (on its first page).

use super::{Ctx, Effects};
use crate::store::{AuditEntry, StoreError};
use between_shared::protocol::audit::{is_valid_action, AuditAction};
use between_shared::protocol::limits::MAX_AUDIT_EVENTS;
use between_shared::protocol::{AuditEvent, DocId, RequestId, ServerMessage};

/// An audit row as a device receives it. A row whose action is not a token (it cannot come from
/// this relay; `between-relay audit verify` reports such tampering) is shown as `invalid` rather
/// than dropped, so paging still sees every row.
fn audit_event(entry: AuditEntry) -> AuditEvent {
    let record = entry.record;
    AuditEvent {
        id: entry.id,
        at_ms: record.at_ms,
        account: record.account,
        device: record.device,
        doc: record.doc,
        action: if is_valid_action(&record.action) {
            record.action
        } else {
            "invalid".to_owned()
        },
    }
}

/// `GetAudit`: events after row `after`, at most `limit` (capped at [`MAX_AUDIT_EVENTS`]).
pub(crate) fn get_audit(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: Option<DocId>,
    after: u64,
    limit: u32,
) -> Result<Effects, StoreError> {
    let limit = usize::try_from(limit)
        .unwrap_or(MAX_AUDIT_EVENTS)
        .min(MAX_AUDIT_EVENTS);
    let entries = match doc {
        Some(doc) => {
            if let Err(refused) = ctx.member(request, doc, AuditAction::ReadAudit)? {
                return Ok(*refused);
            }
            ctx.store.audit_for_doc(doc, after, limit)?
        }
        None => {
            let me = match ctx.enabled_me()? {
                Ok(me) => me,
                Err(refused) => return Ok(*refused),
            };
            ctx.store.audit_for_account(me.account, after, limit)?
        }
    };
    let events = entries.into_iter().map(audit_event).collect();
    let mut effects = Effects::reply(ServerMessage::Audit {
        request,
        doc,
        events,
    });
    if after == 0 {
        ctx.record(&mut effects, doc, AuditAction::ReadAudit);
    }
    Ok(effects)
}
