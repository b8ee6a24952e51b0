//! Documents and their logs: creating a document, appending a bundle, subscribing (catch-up
//! then live), storing a snapshot, deleting a document and listing an account's documents.
//!
//! The relay never reads a bundle's content; it checks only the sealed header (which document,
//! which author device, which kind) as defence in depth, so that a member cannot plant a bundle
//! or a snapshot that claims another document or another device.

use super::{
    refusal, CatchUp, Connection, Ctx, Effects, HubChange, SignedIn, ACCOUNT_DISABLED,
    DEVICE_REMOVED, DOCUMENT_DELETED, NOT_MEMBER, UNKNOWN_DOCUMENT,
};
use crate::store::{self, Conflict, PushOutcome, PushRefusal, StoreError};
use between_shared::crypto::{BundleHeader, BundleKind};
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::limits::MAX_DOCUMENTS;
use between_shared::protocol::{
    DeviceId, DocId, DocumentInfo, ErrorCode, RequestId, Seq, ServerMessage,
};
use tracing::{info, warn};

/// How many log entries one catch-up page reads from the store.
pub(crate) const CATCH_UP_PAGE: usize = 256;
/// How many bytes one catch-up page reads from the store at most.
pub(crate) const CATCH_UP_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// `CreateDocument`: a new document owned by the caller's account. Creating again from the
/// same account is harmless (a retry after a lost answer); from anyone else it is refused. A
/// deleted document's id stays retired, even for its owner.
pub(crate) fn create_document(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
) -> Result<Effects, StoreError> {
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    match ctx.store.create_document(doc, me.account, ctx.now_ms) {
        Ok(()) => {
            let mut effects = Effects::reply(ServerMessage::Done { request });
            ctx.record(&mut effects, Some(doc), AuditAction::Create);
            Ok(effects)
        }
        Err(StoreError::Conflict(conflict)) => {
            if ctx.store.is_member(doc, me.account)? {
                return Ok(Effects::reply(ServerMessage::Done { request }));
            }
            let (code, message) = match conflict {
                Conflict::DocumentDeleted(_) => {
                    (ErrorCode::DocumentDeleted, DOCUMENT_DELETED.to_owned())
                }
                other => (ErrorCode::Conflict, other.to_string()),
            };
            Ok(ctx.refuse(request, Some(doc), AuditAction::Create, code, message))
        }
        Err(err) => Err(err),
    }
}

/// What is wrong with a sealed bundle's header, for the device that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadBundle {
    /// The header does not parse: a protocol violation that ends the connection.
    Malformed(String),
    /// It parses, but names another document or author device, or is of the wrong kind.
    Mismatch(&'static str),
}

/// Checks a sealed bundle's header: it must be of `kind`, for `doc`, by the signed-in device.
fn check_header(
    bundle: &[u8],
    doc: DocId,
    device: &DeviceId,
    kind: BundleKind,
) -> Result<(), BadBundle> {
    let header = BundleHeader::from_bytes(bundle)
        .map_err(|err| BadBundle::Malformed(format!("the bundle header is not valid: {err}")))?;
    if header.doc_id() != doc || header.author() != *device {
        return Err(BadBundle::Mismatch(
            "the bundle names another document or another author device",
        ));
    }
    if header.kind() != kind {
        return Err(BadBundle::Mismatch(match kind {
            BundleKind::Snapshot => "a snapshot must be sealed as a snapshot",
            BundleKind::Changes => "a pushed bundle must be sealed as changes",
        }));
    }
    Ok(())
}

/// What the session does with a `Push`.
#[derive(Debug)]
pub(crate) enum PushPlan {
    /// Append it through the store (the store checks device and membership in the same
    /// transaction), then call [`pushed`].
    Commit(store::Push),
    /// The header is wrong: answer with [`refuse_bundle`].
    Refuse(BadBundle),
}

/// `Push`, first step (no store): checks the header and builds the append.
pub(crate) fn plan_push(now_ms: i64, me: &SignedIn, doc: DocId, bundle: Vec<u8>) -> PushPlan {
    match check_header(&bundle, doc, &me.device, BundleKind::Changes) {
        Ok(()) => PushPlan::Commit(store::Push {
            doc,
            device: me.device,
            bundle,
            at_ms: now_ms,
            action: AuditAction::Append.token(),
        }),
        Err(bad) => PushPlan::Refuse(bad),
    }
}

/// `Push` with a bad header: a non-member is told only that it is not a member (it learns
/// nothing about headers); a member's malformed bundle ends the connection, a mismatched one is
/// refused. Both are recorded.
pub(crate) fn refuse_bundle(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    bad: BadBundle,
    action: AuditAction,
) -> Result<Effects, StoreError> {
    if let Err(refused) = ctx.member(request, doc, action)? {
        return Ok(*refused);
    }
    Ok(match bad {
        BadBundle::Malformed(message) => {
            let mut effects = Effects::fatal(Some(request), ErrorCode::Malformed, message);
            ctx.conn.record(
                &mut effects,
                ctx.now_ms,
                Some(doc),
                action.refused_token().to_owned(),
            );
            effects.refusals = 1;
            effects
        }
        BadBundle::Mismatch(message) => {
            ctx.refuse(request, Some(doc), action, ErrorCode::BadRequest, message)
        }
    })
}

/// `Push`, last step: the answer to what the store did. An appended bundle is acknowledged and
/// forwarded to the document's other live devices (the store recorded it in the same
/// transaction); a refusal is answered like [`Ctx::member`]'s.
pub(crate) fn pushed(
    conn: &Connection,
    now_ms: i64,
    request: RequestId,
    doc: DocId,
    outcome: PushOutcome,
    bundle: Vec<u8>,
) -> Effects {
    let (code, message) = match outcome {
        PushOutcome::Appended { seq, .. } => {
            let mut effects = Effects::reply(ServerMessage::Ack { request, doc, seq });
            effects.forward = Some(ServerMessage::Bundle { doc, seq, bundle });
            return effects;
        }
        PushOutcome::Refused(PushRefusal::UnknownDevice) => {
            return Effects::fatal(None, ErrorCode::DeviceRevoked, DEVICE_REMOVED);
        }
        PushOutcome::Refused(PushRefusal::Disabled { account_disabled }) => {
            let message = if account_disabled {
                ACCOUNT_DISABLED
            } else {
                DEVICE_REMOVED
            };
            return Effects::fatal(None, ErrorCode::DeviceRevoked, message);
        }
        PushOutcome::Refused(PushRefusal::NotMember) => (ErrorCode::NotMember, NOT_MEMBER),
        PushOutcome::Refused(PushRefusal::NoDocument { deleted: true }) => {
            (ErrorCode::DocumentDeleted, DOCUMENT_DELETED)
        }
        PushOutcome::Refused(PushRefusal::NoDocument { deleted: false }) => {
            (ErrorCode::UnknownDocument, UNKNOWN_DOCUMENT)
        }
    };
    refusal(
        conn,
        now_ms,
        request,
        Some(doc),
        AuditAction::Append,
        code,
        message,
    )
}

/// `Push` in one transaction of its own (see [`super::handle`]): [`plan_push`], the store's
/// append, then [`pushed`].
pub(crate) fn push(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    bundle: Vec<u8>,
) -> Result<Effects, StoreError> {
    let me = match ctx.me() {
        Ok(me) => me,
        Err(fatal) => return Ok(*fatal),
    };
    match plan_push(ctx.now_ms, &me, doc, bundle) {
        PushPlan::Commit(push) => {
            let outcome = ctx.store.push(&push)?;
            Ok(pushed(
                ctx.conn,
                ctx.now_ms,
                request,
                doc,
                outcome,
                push.bundle,
            ))
        }
        PushPlan::Refuse(bad) => refuse_bundle(ctx, request, doc, bad, AuditAction::Append),
    }
}

/// `Subscribe`: a member's device joins the document's live set and then catches up from
/// `since` (the session streams the catch-up, page by page, with [`catch_up_page`]). The
/// session runs this with the document's ordering lock held and carries out the join before
/// releasing it, so a membership change committed before is seen here and one committed after
/// ends the subscription.
pub(crate) fn subscribe(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    since: Seq,
) -> Result<Effects, StoreError> {
    if let Err(refused) = ctx.member(request, doc, AuditAction::Read)? {
        return Ok(*refused);
    }
    let mut effects = Effects {
        hub: vec![HubChange::Join(doc)],
        catch_up: Some(CatchUp {
            request,
            doc,
            since,
            announce: true,
        }),
        ..Effects::default()
    };
    ctx.record(&mut effects, Some(doc), AuditAction::Read);
    Ok(effects)
}

/// One page of a catch-up: the snapshot (when `since` is older than what it covers) and the
/// bundles after it, then either the next page's [`CatchUp`] or `CaughtUp`. The device's
/// membership is checked again for every page, so a device removed while it catches up stops
/// receiving at once (and leaves the live set).
pub(crate) fn catch_up_page(ctx: &mut Ctx<'_>, catch_up: CatchUp) -> Result<Effects, StoreError> {
    let CatchUp {
        request,
        doc,
        since,
        announce,
    } = catch_up;
    if let Err(mut refused) = ctx.member(request, doc, AuditAction::Read)? {
        refused.hub.push(HubChange::Leave(doc));
        return Ok(*refused);
    }
    let page = ctx
        .store
        .read_log(doc, since, CATCH_UP_PAGE, CATCH_UP_PAGE_BYTES)?;
    let mut effects = Effects::default();
    let mut at = since;
    if let Some(snapshot) = page.snapshot {
        let covers = snapshot.covers;
        at = at.max(covers);
        // Sent in the parts it was uploaded in, each within one frame.
        let parts = u32::try_from(snapshot.parts.len()).unwrap_or(u32::MAX);
        for (part, bytes) in (0..).zip(snapshot.parts) {
            effects.replies.push(ServerMessage::Snapshot {
                doc,
                covers,
                part,
                parts,
                snapshot: bytes,
            });
        }
    }
    let empty = page.bundles.is_empty();
    for bundle in page.bundles {
        at = at.max(bundle.seq);
        effects.replies.push(ServerMessage::Bundle {
            doc,
            seq: bundle.seq,
            bundle: bundle.bytes,
        });
    }
    if empty || at >= page.head {
        if announce {
            effects.replies.push(ServerMessage::CaughtUp {
                request,
                doc,
                head: page.head.max(at),
            });
        }
    } else {
        effects.catch_up = Some(CatchUp {
            request,
            doc,
            since: at,
            announce,
        });
    }
    Ok(effects)
}

/// One part of a `PutSnapshot` upload.
#[derive(Debug)]
pub(crate) struct SnapshotPart {
    /// The last log position the snapshot includes.
    pub(crate) covers: Seq,
    /// Which part this is, from 0.
    pub(crate) part: u32,
    /// How many parts the snapshot has.
    pub(crate) parts: u32,
    /// The part's bytes of the sealed snapshot.
    pub(crate) bytes: Vec<u8>,
}

/// `PutSnapshot`: compaction. Only a device of the document's owner may store a snapshot, and
/// only one sealed as a snapshot of this document by this device, covering no more than the log
/// holds: a snapshot lets the relay drop every bundle it covers, so accepting one from anyone
/// else would let a member wipe the client's log (the threat model says who may compact).
///
/// A snapshot larger than a frame comes in parts: every part is checked for the owner's device,
/// the first part's sealed header as above (it begins the sealed snapshot), and the store keeps
/// parts aside until the last one arrives, then swaps the log in one transaction. Each part is
/// acknowledged once stored; the audit trail records the snapshot when it is stored whole.
pub(crate) fn put_snapshot(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    upload: SnapshotPart,
) -> Result<Effects, StoreError> {
    let SnapshotPart {
        covers,
        part,
        parts,
        bytes: snapshot,
    } = upload;
    let action = AuditAction::Snapshot;
    let me = match ctx.owner(
        request,
        doc,
        action,
        "only the devices of the client whose homework this is may compact its log",
    )? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    if part == 0 {
        if let Err(bad) = check_header(&snapshot, doc, &me.device, BundleKind::Snapshot) {
            return refuse_bundle(ctx, request, doc, bad, action);
        }
    }
    let upload = store::SnapshotUpload {
        uploader: me.device,
        covers,
        parts,
    };
    match ctx.store.put_snapshot_part(doc, upload, part, &snapshot) {
        Ok(progress) => {
            let mut effects = Effects::reply(ServerMessage::Ack {
                request,
                doc,
                seq: covers,
            });
            if progress == store::SnapshotProgress::Stored {
                ctx.record(&mut effects, Some(doc), action);
            }
            Ok(effects)
        }
        Err(
            err @ (StoreError::SnapshotBeyondHead { .. }
            | StoreError::SnapshotOutdated { .. }
            | StoreError::SnapshotPartOutOfOrder { .. }
            | StoreError::Invalid(_)),
        ) => Ok(ctx.refuse(
            request,
            Some(doc),
            action,
            ErrorCode::BadRequest,
            err.to_string(),
        )),
        Err(err) => Err(err),
    }
}

/// `DeleteDocument`: the owner deletes a document from the relay for good (everything but the
/// audit trail, which holds ids only). Any other member — the therapist included — is refused:
/// the homework is the client's. Live subscriptions end with the deletion (the session runs
/// this with the document's ordering lock held).
pub(crate) fn delete_document(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
) -> Result<Effects, StoreError> {
    let action = AuditAction::DeleteDocument;
    if let Err(refused) = ctx.owner(
        request,
        doc,
        action,
        "only the client whose homework this is can delete it from the relay",
    )? {
        return Ok(*refused);
    }
    ctx.store.delete_document(doc, ctx.now_ms)?;
    info!(doc = %doc, "deleted a document at its owner's request");
    let mut effects = Effects {
        hub: vec![HubChange::EndDocument(doc)],
        replies: vec![ServerMessage::Done { request }],
        ..Effects::default()
    };
    ctx.record(&mut effects, Some(doc), action);
    Ok(effects)
}

/// `ListDocuments`: the documents the caller's account is a member of, with their owners.
pub(crate) fn list_documents(ctx: &mut Ctx<'_>, request: RequestId) -> Result<Effects, StoreError> {
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let found = ctx.store.documents_of(me.account)?;
    if found.len() > MAX_DOCUMENTS {
        warn!(
            account = %me.account,
            documents = found.len(),
            "an account is a member of more documents than one reply lists"
        );
    }
    let documents = found
        .into_iter()
        .take(MAX_DOCUMENTS)
        .map(|d| DocumentInfo {
            doc: d.doc,
            owner: d.owner,
        })
        .collect();
    let mut effects = Effects::reply(ServerMessage::Documents { request, documents });
    ctx.record(&mut effects, None, AuditAction::ListDocuments);
    Ok(effects)
}

/// Whether a live frame the hub forwarded should go out on a connection that has delivered
/// `delivered` of that document so far: bundles at or below it were already sent by the
/// catch-up (skip), the next one goes out, and a later one means entries were missed (the
/// connection fell behind the live stream): the session reads them from the log first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiveStep {
    /// Already delivered: drop it.
    Skip,
    /// The next entry: send it.
    Send,
    /// Entries between `delivered` and this one are missing: catch up from `delivered` first
    /// (the catch-up includes this one).
    Fill(Seq),
}

/// Decides a live frame's fate (see [`LiveStep`]).
pub(crate) fn live_step(delivered: Seq, seq: Seq) -> LiveStep {
    if seq.0 <= delivered.0 {
        LiveStep::Skip
    } else if Some(seq.0) == delivered.0.checked_add(1) {
        LiveStep::Send
    } else {
        LiveStep::Fill(delivered)
    }
}
