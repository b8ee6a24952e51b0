//! Who may read a document, and the keys that let them: signed membership lists, key
//! envelopes, leaving a document; and the account-level requests around them (accounts,
//! invites, devices, pairing payloads).
//!
//! The relay enforces membership as defence in depth; devices never take its word (they check
//! the owner's signature on every list). What the relay must never allow is a member acting for
//! the owner: only the owner's devices change who is a member and store key envelopes, and only
//! for epochs the owner's signed list has reached.

use super::{Ctx, Effects, HubChange};
use crate::store::{AccountRole, DeviceEntry, InviteHash, InviteRecord, RelayStore, StoreError};
use between_shared::crypto::SignedMembership;
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::limits::{MAX_DEVICES, MAX_INVITE_LIFETIME, MAX_PAIRING_LIFETIME};
use between_shared::protocol::{
    AccountId, DeviceId, DeviceInfo, DocId, ErrorCode, KeyEnvelope, Mailbox, RequestId,
    ServerMessage,
};
use std::time::Duration;
use tracing::info;

/// The epoch every document starts in, before its owner stores a membership list.
pub(crate) const FIRST_EPOCH: u32 = 1;

/// A duration in milliseconds, saturating (limits are far below `i64::MAX`).
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A device as another member sees it: only enabled devices, with their certificates.
fn device_infos(entries: Vec<DeviceEntry>) -> Vec<DeviceInfo> {
    entries
        .into_iter()
        .filter(|d| !d.disabled)
        .take(MAX_DEVICES)
        .map(|d| DeviceInfo {
            device: d.record.device,
            certificate: d.record.certificate,
            registered_at_ms: d.record.registered_at_ms,
        })
        .collect()
}

/// `PutPairing`: a signed-in device leaves a sealed pairing payload for a new device, for at
/// most [`MAX_PAIRING_LIFETIME`].
pub(crate) fn put_pairing(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    mailbox: Mailbox,
    payload: Vec<u8>,
    expires_at_ms: i64,
) -> Result<Effects, StoreError> {
    if let Err(refused) = ctx.enabled_me()? {
        return Ok(*refused);
    }
    if expires_at_ms <= ctx.now_ms {
        return Ok(ctx.refuse(
            request,
            None,
            AuditAction::PutPairing,
            ErrorCode::BadRequest,
            "a pairing must expire in the future; check this device's clock",
        ));
    }
    let latest = ctx.now_ms.saturating_add(millis(MAX_PAIRING_LIFETIME));
    let expires_at_ms = expires_at_ms.min(latest);
    match ctx
        .store
        .put_pairing(mailbox, &payload, ctx.now_ms, expires_at_ms)
    {
        Ok(()) => {
            let mut effects = Effects::reply(ServerMessage::Done { request });
            ctx.record(&mut effects, None, AuditAction::PutPairing);
            Ok(effects)
        }
        Err(StoreError::Conflict(conflict)) => Ok(ctx.refuse(
            request,
            None,
            AuditAction::PutPairing,
            ErrorCode::Conflict,
            conflict.to_string(),
        )),
        Err(err) => Err(err),
    }
}

/// The epoch the owner's stored membership list has reached ([`FIRST_EPOCH`] before any).
fn epoch_in_force(store: &dyn RelayStore, doc: DocId) -> Result<u32, StoreError> {
    let stored = store.membership(doc)?;
    // The list was checked against the owner's identity before it was stored; one that no
    // longer parses cannot raise the epoch.
    let listed = stored
        .and_then(|m| SignedMembership::from_bytes(&m.bytes).ok())
        .map_or(FIRST_EPOCH, |list| list.epoch());
    Ok(listed.max(FIRST_EPOCH))
}

/// `PutKeyEnvelopes`: the owner's device stores the document key of an epoch wrapped for
/// member devices. Refused unless the caller's account owns the document, every envelope is
/// for an epoch from [`FIRST_EPOCH`] up to the one the owner's signed list has reached, and
/// every recipient is an enabled device of a member. A stored envelope for the same epoch and
/// device is replaced: nobody but the owner can have stored one, and the owner must always be
/// able to overwrite. All envelopes are checked before any is stored.
pub(crate) fn put_key_envelopes(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    envelopes: Vec<KeyEnvelope>,
) -> Result<Effects, StoreError> {
    let action = AuditAction::PutKeys;
    if let Err(refused) = ctx.owner(
        request,
        doc,
        action,
        "only the devices of the client whose homework this is may give out its keys",
    )? {
        return Ok(*refused);
    }
    let current = epoch_in_force(ctx.store, doc)?;
    for envelope in &envelopes {
        if !(FIRST_EPOCH..=current).contains(&envelope.epoch) {
            let message = format!(
                "epoch {} does not exist for this document (its membership list is at epoch {current})",
                envelope.epoch
            );
            return Ok(ctx.refuse(request, Some(doc), action, ErrorCode::BadRequest, message));
        }
        let recipient = envelope.recipient;
        let allowed = match ctx.store.device(recipient)? {
            Some(entry) => !entry.disabled && ctx.store.is_member(doc, entry.record.account)?,
            None => false,
        };
        if !allowed {
            let message =
                format!("device {recipient} is not an enabled device of a member of this document");
            return Ok(ctx.refuse(request, Some(doc), action, ErrorCode::BadRequest, message));
        }
    }
    for envelope in &envelopes {
        ctx.store
            .put_key_envelope(doc, envelope.epoch, envelope.recipient, &envelope.envelope)?;
    }
    let mut effects = Effects::reply(ServerMessage::Done { request });
    ctx.record(&mut effects, Some(doc), action);
    Ok(effects)
}

/// `GetKeyEnvelopes`: a member's device fetches the envelopes wrapped for it.
pub(crate) fn get_key_envelopes(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
) -> Result<Effects, StoreError> {
    let me = match ctx.member(request, doc, AuditAction::ReadKeys)? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let found = ctx.store.key_envelopes(doc, me.device)?;
    let envelopes = found
        .into_iter()
        .map(|e| KeyEnvelope {
            epoch: e.epoch,
            recipient: me.device,
            envelope: e.bytes,
        })
        .collect();
    let mut effects = Effects::reply(ServerMessage::KeyEnvelopes {
        request,
        doc,
        envelopes,
    });
    ctx.record(&mut effects, Some(doc), AuditAction::ReadKeys);
    Ok(effects)
}

/// `PutMembership`: the owner replaces who is a member with a list its identity signed.
/// Accounts left out lose access at once: their next request is refused and their live
/// subscriptions end now (the session runs this with the document's ordering lock held and
/// carries out the [`HubChange::DropAccounts`] before releasing it).
pub(crate) fn put_membership(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
    bytes: Vec<u8>,
) -> Result<Effects, StoreError> {
    let action = AuditAction::PutMembers;
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let list = match SignedMembership::from_bytes(&bytes) {
        Ok(list) => list,
        Err(err) => {
            let message = format!("the membership list is not valid: {err}");
            return Ok(ctx.refuse(request, Some(doc), action, ErrorCode::BadRequest, message));
        }
    };
    let (serial, members) = match check_membership(ctx.store, doc, me.account, &list)? {
        Ok(accepted) => accepted,
        Err((code, message)) => {
            return Ok(ctx.refuse(request, Some(doc), action, code, message));
        }
    };
    match ctx.store.put_membership(doc, serial, &bytes, &members) {
        Ok(removed) => {
            info!(doc = %doc, serial, removed = removed.len(), "stored a membership list");
            let mut effects = Effects {
                hub: vec![HubChange::DropAccounts(doc, removed)],
                replies: vec![ServerMessage::Done { request }],
                ..Effects::default()
            };
            ctx.record(&mut effects, Some(doc), action);
            Ok(effects)
        }
        Err(StoreError::Conflict(conflict)) => Ok(ctx.refuse(
            request,
            Some(doc),
            action,
            ErrorCode::Conflict,
            conflict.to_string(),
        )),
        Err(StoreError::Invalid(reason)) => {
            Ok(ctx.refuse(request, Some(doc), action, ErrorCode::BadRequest, reason))
        }
        Err(err) => Err(err),
    }
}

/// A refusal decided while looking at the store: the code and what the device is told.
type Refusal = (ErrorCode, String);

/// The checks of a `put_membership` that need the store: the document exists and the caller's
/// account owns it, the list is signed by that account's identity and names this document, and
/// every member is a registered, enabled account in the role the list gives it. Returns the
/// serial and the member accounts, or the refusal to send.
fn check_membership(
    store: &dyn RelayStore,
    doc: DocId,
    account: AccountId,
    list: &SignedMembership,
) -> Result<Result<(u64, Vec<AccountId>), Refusal>, StoreError> {
    let Some(stats) = store.document(doc)? else {
        return Ok(Err((
            ErrorCode::UnknownDocument,
            super::UNKNOWN_DOCUMENT.to_owned(),
        )));
    };
    if stats.owner != account {
        return Ok(Err((
            ErrorCode::Forbidden,
            "only the document's owner can change who is a member".to_owned(),
        )));
    }
    let identity = store.account(account)?.map(|r| r.identity_pub);
    if identity != Some(list.owner().0) {
        return Ok(Err((
            ErrorCode::Forbidden,
            "the membership list is not signed by this account's identity key".to_owned(),
        )));
    }
    if list.doc_id() != doc {
        return Ok(Err((
            ErrorCode::BadRequest,
            "the membership list is for another document".to_owned(),
        )));
    }
    if let Err(err) = list.verify(&list.owner(), doc) {
        return Ok(Err((
            ErrorCode::Forbidden,
            format!("the membership list does not verify: {err}"),
        )));
    }
    let mut members = Vec::with_capacity(list.members().len());
    for member in list.members() {
        let role = match member.role {
            between_shared::Role::Client => AccountRole::Client,
            between_shared::Role::Therapist => AccountRole::Therapist,
        };
        match store.account_by_identity(&member.identity.0)? {
            Some(record) if record.disabled_at_ms.is_none() && record.role == role => {
                members.push(record.account);
            }
            _ => {
                return Ok(Err((
                    ErrorCode::BadRequest,
                    format!(
                        "member {} is not a registered, enabled {role} account on this relay",
                        member.identity.short_fingerprint()
                    ),
                )));
            }
        }
    }
    Ok(Ok((list.serial(), members)))
}

/// `GetMembership`: a member's device fetches the owner's signed list.
pub(crate) fn get_membership(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
) -> Result<Effects, StoreError> {
    if let Err(refused) = ctx.member(request, doc, AuditAction::ReadMembers)? {
        return Ok(*refused);
    }
    let stored = ctx.store.membership(doc)?;
    let mut effects = Effects::reply(ServerMessage::Membership {
        request,
        doc,
        membership: stored.map(|m| m.bytes),
    });
    ctx.record(&mut effects, Some(doc), AuditAction::ReadMembers);
    Ok(effects)
}

/// `LeaveDocument`: a member who is not the owner leaves a document: its account is no longer
/// a member and its devices' live subscriptions end. The signed list still names it until the
/// owner's device rotates (it notices through `get_account`).
pub(crate) fn leave_document(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    doc: DocId,
) -> Result<Effects, StoreError> {
    let action = AuditAction::LeaveDocument;
    let me = match ctx.member(request, doc, action)? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let owner = ctx.store.document(doc)?.map(|stats| stats.owner);
    if owner == Some(me.account) {
        return Ok(ctx.refuse(
            request,
            Some(doc),
            action,
            ErrorCode::Forbidden,
            "the owner cannot leave their own homework; delete it from the relay instead",
        ));
    }
    ctx.store.remove_member(doc, me.account)?;
    let mut effects = Effects {
        hub: vec![HubChange::DropAccounts(doc, vec![me.account])],
        replies: vec![ServerMessage::Done { request }],
        ..Effects::default()
    };
    ctx.record(&mut effects, Some(doc), action);
    Ok(effects)
}

/// `GetAccount`: the caller's inviter (`None`), the caller's own account, or an account that
/// shares a document with the caller; anything else is `forbidden`, unknown accounts included,
/// so the reply does not tell whether an account exists.
pub(crate) fn get_account(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    wanted: Option<AccountId>,
) -> Result<Effects, StoreError> {
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let mine = me.account;
    let target = match wanted {
        None => ctx.store.inviter_of(mine)?,
        Some(a) if a == mine || ctx.store.shares_document(mine, a)? => Some(a),
        Some(_) => None,
    };
    let record = match target {
        Some(target) => ctx.store.account(target)?,
        None => None,
    };
    let Some(record) = record else {
        let message = if wanted.is_none() {
            "no therapist invited this account"
        } else {
            "you can only look up accounts you share a document with"
        };
        return Ok(ctx.refuse(
            request,
            None,
            AuditAction::ReadAccount,
            ErrorCode::Forbidden,
            message,
        ));
    };
    let devices = ctx.store.devices_of(record.account)?;
    let mut effects = Effects::reply(ServerMessage::Account {
        request,
        account: record.account,
        identity: record.identity_pub,
        devices: device_infos(devices),
    });
    ctx.record(&mut effects, None, AuditAction::ReadAccount);
    Ok(effects)
}

/// `CreateInvite`: a therapist stores a one-time client invite (its hash), valid from now until
/// a time within [`MAX_INVITE_LIFETIME`]. Its creator becomes the client's inviter.
pub(crate) fn create_invite(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    invite_hash: [u8; 32],
    expires_at_ms: i64,
) -> Result<Effects, StoreError> {
    let action = AuditAction::CreateInvite;
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let role = ctx.store.account(me.account)?.map(|r| r.role);
    if role != Some(AccountRole::Therapist) {
        return Ok(ctx.refuse(
            request,
            None,
            action,
            ErrorCode::Forbidden,
            "only a therapist can invite a client",
        ));
    }
    let now = ctx.now_ms;
    if expires_at_ms <= now || expires_at_ms > now.saturating_add(millis(MAX_INVITE_LIFETIME)) {
        let days = MAX_INVITE_LIFETIME.as_secs() / (24 * 60 * 60);
        return Ok(ctx.refuse(
            request,
            None,
            action,
            ErrorCode::BadRequest,
            format!("an invite must expire in the future and within {days} days"),
        ));
    }
    let invite = InviteRecord {
        hash: InviteHash(invite_hash),
        kind: AccountRole::Client,
        created_by: Some(me.account),
        created_at_ms: now,
        expires_at_ms,
        label: None,
    };
    match ctx.store.create_invite(&invite) {
        Ok(()) => {
            let mut effects = Effects::reply(ServerMessage::Done { request });
            ctx.record(&mut effects, None, action);
            Ok(effects)
        }
        Err(StoreError::Conflict(conflict)) => Ok(ctx.refuse(
            request,
            None,
            action,
            ErrorCode::Conflict,
            conflict.to_string(),
        )),
        Err(err) => Err(err),
    }
}

/// `ListDevices`: the enabled devices of the caller's own account.
pub(crate) fn list_devices(ctx: &mut Ctx<'_>, request: RequestId) -> Result<Effects, StoreError> {
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    let devices = device_infos(ctx.store.devices_of(me.account)?);
    Ok(Effects::reply(ServerMessage::Devices { request, devices }))
}

/// `RevokeDevice`: removes another device of the caller's own account: refused from now on (its
/// open connections end at their next request or idle check, within seconds).
pub(crate) fn revoke_device(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    device: DeviceId,
) -> Result<Effects, StoreError> {
    let action = AuditAction::RevokeDevice;
    let me = match ctx.enabled_me()? {
        Ok(me) => me,
        Err(refused) => return Ok(*refused),
    };
    if device == me.device {
        return Ok(ctx.refuse(
            request,
            None,
            action,
            ErrorCode::Forbidden,
            "a device cannot remove itself; remove it from another of your devices",
        ));
    }
    let entry = ctx.store.device(device)?;
    if entry.is_none_or(|e| e.record.account != me.account) {
        return Ok(ctx.refuse(
            request,
            None,
            action,
            ErrorCode::Forbidden,
            "that device is not one of your account's devices",
        ));
    }
    ctx.store.disable_device(device, ctx.now_ms)?;
    info!(device = %device, "a device was removed by another device of its account");
    let mut effects = Effects::reply(ServerMessage::Done { request });
    ctx.record(&mut effects, None, action);
    Ok(effects)
}
