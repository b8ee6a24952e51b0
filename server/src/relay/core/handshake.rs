//! Before sign-in: signing in, registering an account or a further device, and fetching a
//! pairing payload. Everything else is refused (and, when it names a document, recorded).
//!
//! A sign-in proves possession of the registered device key by signing the connection's
//! challenge with the relay's origin and a timestamp within the allowed skew. Every refused
//! sign-in or registration ends the connection.

use super::{disabled, Ctx, Effects, Refused, SignedIn, ACCOUNT_DISABLED};
use crate::store::{AccountRole, DeviceRecord, InviteError, InviteHash, Registration, StoreError};
use between_shared::crypto::{self, DeviceCertificate, InviteSecret};
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::{
    AccountId, ClientMessage, DeviceId, DocId, ErrorCode, Mailbox, RequestId, ServerMessage,
};
use tracing::info;

/// Handles a message on a connection nobody has signed in on yet.
pub(super) fn handle(ctx: &mut Ctx<'_>, message: ClientMessage) -> Result<Effects, StoreError> {
    match message {
        ClientMessage::SignIn {
            device,
            timestamp_ms,
            signature,
        } => sign_in(ctx, device, timestamp_ms, &signature),
        ClientMessage::Register {
            invite,
            identity,
            certificate,
            timestamp_ms,
            signature,
        } => register(
            ctx,
            &invite,
            identity,
            &certificate,
            timestamp_ms,
            &signature,
        ),
        ClientMessage::RegisterDevice {
            certificate,
            timestamp_ms,
            signature,
        } => register_device(ctx, &certificate, timestamp_ms, &signature),
        ClientMessage::TakePairing { request, mailbox } => take_pairing(ctx, request, mailbox),
        other => {
            let mut effects = Effects::fatal(
                other.request(),
                ErrorCode::Unauthenticated,
                format!("sign in first; '{}' needs a signed-in device", other.name()),
            );
            // An attempt on a document's log by nobody signed in is refused and recorded too
            // (invariant 4); it names no account or device, as none was proven.
            if let Some((doc, action)) = attempt_on_document(&other) {
                ctx.conn.record(
                    &mut effects,
                    ctx.now_ms,
                    Some(doc),
                    action.refused_token().to_owned(),
                );
            }
            Ok(effects)
        }
    }
}

/// The document a request would access, and how, for recording a refused attempt.
fn attempt_on_document(message: &ClientMessage) -> Option<(DocId, AuditAction)> {
    match message {
        ClientMessage::CreateDocument { doc, .. } => Some((*doc, AuditAction::Create)),
        ClientMessage::Push { doc, .. } => Some((*doc, AuditAction::Append)),
        ClientMessage::Subscribe { doc, .. } => Some((*doc, AuditAction::Read)),
        ClientMessage::PutSnapshot { doc, .. } => Some((*doc, AuditAction::Snapshot)),
        ClientMessage::PutKeyEnvelopes { doc, .. } => Some((*doc, AuditAction::PutKeys)),
        ClientMessage::GetKeyEnvelopes { doc, .. } => Some((*doc, AuditAction::ReadKeys)),
        ClientMessage::GetAudit { doc, .. } => doc.map(|doc| (doc, AuditAction::ReadAudit)),
        ClientMessage::PutMembership { doc, .. } => Some((*doc, AuditAction::PutMembers)),
        ClientMessage::GetMembership { doc, .. } => Some((*doc, AuditAction::ReadMembers)),
        ClientMessage::DeleteDocument { doc, .. } => Some((*doc, AuditAction::DeleteDocument)),
        ClientMessage::LeaveDocument { doc, .. } => Some((*doc, AuditAction::LeaveDocument)),
        ClientMessage::SignIn { .. }
        | ClientMessage::CreateInvite { .. }
        | ClientMessage::GetAccount { .. }
        | ClientMessage::ListDocuments { .. }
        | ClientMessage::RevokeDevice { .. }
        | ClientMessage::Register { .. }
        | ClientMessage::RegisterDevice { .. }
        | ClientMessage::TakePairing { .. }
        | ClientMessage::PutPairing { .. }
        | ClientMessage::Unsubscribe { .. }
        | ClientMessage::ListDevices { .. }
        | ClientMessage::Ping { .. } => None,
    }
}

/// Whether a device's `timestamp_ms` is within `max_skew_ms` of `now_ms`. The distance is
/// computed without overflow: a timestamp near `i64::MIN` or `i64::MAX` is simply far.
pub(crate) fn fresh(now_ms: i64, timestamp_ms: i64, max_skew_ms: u64) -> bool {
    now_ms.abs_diff(timestamp_ms) <= max_skew_ms
}

/// Checks a sign-in signature: fresh timestamp, strict signature over challenge + origin.
fn check_signature(
    ctx: &Ctx<'_>,
    signing: &[u8; 32],
    timestamp_ms: i64,
    signature: &[u8; 64],
) -> Result<(), Refused> {
    let skew = u64::try_from(ctx.policy.max_skew.as_millis()).unwrap_or(u64::MAX);
    if !fresh(ctx.now_ms, timestamp_ms, skew) {
        return Err(Box::new(Effects::fatal(
            None,
            ErrorCode::StaleSignIn,
            "the sign-in is too old or from the future; check this device's clock and connect again",
        )));
    }
    let message = crypto::sign_in_message(&ctx.conn.challenge.0, &ctx.policy.origin, timestamp_ms);
    crypto::verify_device_signature(signing, &message, signature).map_err(|_| {
        Box::new(Effects::fatal(
            None,
            ErrorCode::BadSignature,
            "the sign-in signature does not verify for this relay; connect again",
        ))
    })
}

/// Parses a certificate and checks its signature and owner.
fn certificate(bytes: &[u8], identity: &[u8; 32]) -> Result<DeviceCertificate, Refused> {
    let invalid = |err: crypto::CryptoError| {
        Box::new(Effects::fatal(
            None,
            ErrorCode::BadCertificate,
            format!("the device certificate is not valid: {err}"),
        ))
    };
    let certificate = DeviceCertificate::from_bytes(bytes).map_err(invalid)?;
    certificate
        .verify_owner(&crypto::IdentityPublic(*identity))
        .map_err(invalid)?;
    Ok(certificate)
}

/// Signs the connection in and welcomes the device, recording `action`.
fn welcome(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    device: DeviceId,
    action: AuditAction,
) -> Effects {
    ctx.conn.signed_in = Some(SignedIn { account, device });
    let mut effects = Effects::reply(ServerMessage::Welcome { account, device });
    ctx.record(&mut effects, None, action);
    effects
}

/// Records a refused `action` by a device that proved nothing (or named an account).
fn refused(
    ctx: &Ctx<'_>,
    mut effects: Effects,
    account: Option<AccountId>,
    device: Option<DeviceId>,
    action: AuditAction,
) -> Effects {
    effects.audit.push(crate::store::AuditRecord {
        at_ms: ctx.now_ms,
        account,
        device,
        doc: None,
        action: action.refused_token().to_owned(),
    });
    effects
}

fn sign_in(
    ctx: &mut Ctx<'_>,
    device: DeviceId,
    timestamp_ms: i64,
    signature: &[u8; 64],
) -> Result<Effects, StoreError> {
    let Some(entry) = ctx.store.device(device)? else {
        let effects = Effects::fatal(
            None,
            ErrorCode::UnknownDevice,
            "this device is not registered with this relay; pair it again",
        );
        return Ok(refused(ctx, effects, None, None, AuditAction::SignIn));
    };
    // The signature first, so a disabled device hears why only once it proved it is that
    // device; a failed attempt is recorded on the account it claims.
    if let Err(effects) = check_signature(ctx, &entry.record.signing_pub, timestamp_ms, signature) {
        let account = Some(entry.record.account);
        return Ok(refused(
            ctx,
            *effects,
            account,
            Some(device),
            AuditAction::SignIn,
        ));
    }
    if entry.disabled {
        let account = Some(entry.record.account);
        let effects = disabled(&entry);
        return Ok(refused(
            ctx,
            effects,
            account,
            Some(device),
            AuditAction::SignIn,
        ));
    }
    Ok(welcome(
        ctx,
        entry.record.account,
        device,
        AuditAction::SignIn,
    ))
}

fn register(
    ctx: &mut Ctx<'_>,
    invite: &[u8],
    identity: [u8; 32],
    certificate_bytes: &[u8],
    timestamp_ms: i64,
    signature: &[u8; 64],
) -> Result<Effects, StoreError> {
    let certificate = match certificate(certificate_bytes, &identity) {
        Ok(certificate) => certificate,
        Err(refusal) => return Ok(*refusal),
    };
    if let Err(refusal) = check_signature(ctx, &certificate.device.signing, timestamp_ms, signature)
    {
        return Ok(*refusal);
    }
    let Ok(invite) = <[u8; 32]>::try_from(invite) else {
        return Ok(Effects::fatal(
            None,
            ErrorCode::InviteInvalid,
            "this invite is not valid; ask for a new one",
        ));
    };
    let device = certificate.device_id();
    let account = AccountId(ctx.new_id);
    let role = match certificate.role {
        between_shared::Role::Client => AccountRole::Client,
        between_shared::Role::Therapist => AccountRole::Therapist,
    };
    let registration = Registration {
        role,
        invite: InviteHash(InviteSecret::from_bytes(invite).hash()),
        account,
        identity_pub: identity,
        device: DeviceRecord {
            device,
            account,
            signing_pub: certificate.device.signing,
            certificate: certificate.to_bytes().to_vec(),
            registered_at_ms: ctx.now_ms,
        },
    };
    match ctx.store.register_with_invite(&registration, ctx.now_ms) {
        Ok(record) => {
            info!(account = %record.account, role = %record.role, "registered an account");
            Ok(welcome(ctx, record.account, device, AuditAction::Register))
        }
        Err(InviteError::Store(StoreError::Conflict(conflict))) => Ok(Effects::fatal(
            None,
            ErrorCode::AlreadyRegistered,
            format!("{conflict}; sign in instead, or pair this device with `between init --pair`"),
        )),
        Err(InviteError::Store(err)) => Err(err),
        Err(refusal) => {
            info!(reason = refusal.reason(), "refused an invite");
            let effects = Effects::fatal(None, ErrorCode::InviteInvalid, refusal.to_string());
            Ok(refused(ctx, effects, None, None, AuditAction::Register))
        }
    }
}

fn register_device(
    ctx: &mut Ctx<'_>,
    certificate_bytes: &[u8],
    timestamp_ms: i64,
    signature: &[u8; 64],
) -> Result<Effects, StoreError> {
    let identity = match DeviceCertificate::from_bytes(certificate_bytes) {
        Ok(parsed) => parsed.owner.0,
        Err(err) => {
            return Ok(Effects::fatal(
                None,
                ErrorCode::BadCertificate,
                format!("the device certificate is not valid: {err}"),
            ))
        }
    };
    let certificate = match certificate(certificate_bytes, &identity) {
        Ok(certificate) => certificate,
        Err(refusal) => return Ok(*refusal),
    };
    if let Err(refusal) = check_signature(ctx, &certificate.device.signing, timestamp_ms, signature)
    {
        return Ok(*refusal);
    }
    let Some(account) = ctx.store.account_by_identity(&identity)? else {
        return Ok(Effects::fatal(
            None,
            ErrorCode::BadCertificate,
            "the certificate is not signed by an identity this relay knows; use an invite for a first device",
        ));
    };
    let device = certificate.device_id();
    if account.disabled_at_ms.is_some() {
        let effects = Effects::fatal(None, ErrorCode::DeviceRevoked, ACCOUNT_DISABLED);
        return Ok(refused(
            ctx,
            effects,
            Some(account.account),
            Some(device),
            AuditAction::RegisterDevice,
        ));
    }
    let record = DeviceRecord {
        device,
        account: account.account,
        signing_pub: certificate.device.signing,
        certificate: certificate.to_bytes().to_vec(),
        registered_at_ms: ctx.now_ms,
    };
    match ctx.store.register_device(&record) {
        Ok(()) => Ok(welcome(
            ctx,
            account.account,
            device,
            AuditAction::RegisterDevice,
        )),
        Err(StoreError::Conflict(conflict)) => Ok(Effects::fatal(
            None,
            ErrorCode::AlreadyRegistered,
            conflict.to_string(),
        )),
        Err(err) => Err(err),
    }
}

/// `TakePairing`: hands over (and removes) the payload waiting in a mailbox. Allowed before
/// sign-in: the new device has no keys on the relay yet.
pub(super) fn take_pairing(
    ctx: &mut Ctx<'_>,
    request: RequestId,
    mailbox: Mailbox,
) -> Result<Effects, StoreError> {
    Ok(match ctx.store.take_pairing(mailbox, ctx.now_ms)? {
        Some(payload) => Effects::reply(ServerMessage::Pairing { request, payload }),
        None => Effects::reply(ServerMessage::error(
            Some(request),
            ErrorCode::PairingNotFound,
            "no pairing waits under that code: it is wrong, expired or already used; make a new one with `between device add`",
        )),
    })
}
