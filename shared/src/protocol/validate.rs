//! Field limits, checked after decoding and before encoding.

use super::audit::{is_valid_action, MAX_ACTION_BYTES};
use super::error::Invalid;
use super::limits::*;
use super::messages::{AuditEvent, ClientMessage, DeviceInfo, KeyEnvelope, ServerMessage};

fn bytes(field: &'static str, value: &[u8], min: usize, max: usize) -> Result<(), Invalid> {
    length(field, "bytes", value.len(), min, max)
}

fn text(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    length(field, "bytes of UTF-8", value.len(), min, max)
}

fn items(field: &'static str, count: usize, min: usize, max: usize) -> Result<(), Invalid> {
    length(field, "entries", count, min, max)
}

/// A snapshot has 1 to [`MAX_SNAPSHOT_PARTS`] parts, and `part` is one of them.
fn snapshot_part(
    [part_field, parts_field]: [&'static str; 2],
    part: u32,
    parts: u32,
) -> Result<(), Invalid> {
    if !(1..=MAX_SNAPSHOT_PARTS).contains(&parts) {
        return Err(Invalid {
            field: parts_field,
            reason: format!("is {parts}, must be 1 to {MAX_SNAPSHOT_PARTS}"),
        });
    }
    if part >= parts {
        return Err(Invalid {
            field: part_field,
            reason: format!("is {part}, but the parts are numbered 0 to {}", parts - 1),
        });
    }
    Ok(())
}

fn length(
    field: &'static str,
    unit: &str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), Invalid> {
    if len < min {
        let reason = if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("has {len} {unit}, at least {min} needed")
        };
        return Err(Invalid { field, reason });
    }
    if len > max {
        return Err(Invalid {
            field,
            reason: format!("has {len} {unit}, at most {max} allowed"),
        });
    }
    Ok(())
}

fn envelopes(field: &'static str, list: &[KeyEnvelope], min: usize) -> Result<(), Invalid> {
    items(field, list.len(), min, MAX_KEY_ENVELOPES)?;
    list.iter().try_for_each(|e| {
        bytes(
            "key_envelope.envelope",
            &e.envelope,
            1,
            MAX_KEY_ENVELOPE_BYTES,
        )
    })
}

fn devices(list: &[DeviceInfo]) -> Result<(), Invalid> {
    items("devices.devices", list.len(), 0, MAX_DEVICES)?;
    list.iter().try_for_each(|d| {
        bytes(
            "device_info.certificate",
            &d.certificate,
            1,
            MAX_CERTIFICATE_BYTES,
        )
    })
}

fn audit_events(list: &[AuditEvent]) -> Result<(), Invalid> {
    items("audit.events", list.len(), 0, MAX_AUDIT_EVENTS)?;
    list.iter().try_for_each(|e| {
        text("audit_event.action", &e.action, 1, MAX_ACTION_BYTES)?;
        if is_valid_action(&e.action) {
            Ok(())
        } else {
            Err(Invalid {
                field: "audit_event.action",
                reason: "is not a token of a-z, 0-9, '-', '.' and ':'".to_owned(),
            })
        }
    })
}

impl ClientMessage {
    /// Checks every field against its limit.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        match self {
            Self::Register {
                invite,
                certificate,
                ..
            } => {
                bytes("register.invite", invite, 1, MAX_INVITE_BYTES)?;
                bytes(
                    "register.certificate",
                    certificate,
                    1,
                    MAX_CERTIFICATE_BYTES,
                )
            }
            Self::RegisterDevice { certificate, .. } => bytes(
                "register_device.certificate",
                certificate,
                1,
                MAX_CERTIFICATE_BYTES,
            ),
            Self::PutPairing { payload, .. } => {
                bytes("put_pairing.payload", payload, 1, MAX_PAIRING_PAYLOAD_BYTES)
            }
            Self::Push { bundle, .. } => bytes("push.bundle", bundle, 1, MAX_BUNDLE_BYTES),
            Self::PutSnapshot {
                part,
                parts,
                snapshot,
                ..
            } => {
                snapshot_part(["put_snapshot.part", "put_snapshot.parts"], *part, *parts)?;
                bytes("put_snapshot.snapshot", snapshot, 1, MAX_SNAPSHOT_BYTES)
            }
            Self::PutKeyEnvelopes {
                envelopes: list, ..
            } => envelopes("put_key_envelopes.envelopes", list, 1),
            Self::GetAudit { limit, .. } => {
                if (1..=MAX_AUDIT_EVENTS).contains(&usize::try_from(*limit).unwrap_or(usize::MAX)) {
                    Ok(())
                } else {
                    Err(Invalid {
                        field: "get_audit.limit",
                        reason: format!("is {limit}, must be 1 to {MAX_AUDIT_EVENTS}"),
                    })
                }
            }
            Self::PutMembership { membership, .. } => bytes(
                "put_membership.membership",
                membership,
                1,
                MAX_MEMBERSHIP_BYTES,
            ),
            Self::SignIn { .. }
            | Self::CreateInvite { .. }
            | Self::GetAccount { .. }
            | Self::GetMembership { .. }
            | Self::ListDocuments { .. }
            | Self::DeleteDocument { .. }
            | Self::RevokeDevice { .. }
            | Self::LeaveDocument { .. }
            | Self::TakePairing { .. }
            | Self::CreateDocument { .. }
            | Self::Subscribe { .. }
            | Self::Unsubscribe { .. }
            | Self::GetKeyEnvelopes { .. }
            | Self::ListDevices { .. }
            | Self::Ping { .. } => Ok(()),
        }
    }
}

impl ServerMessage {
    /// Checks every field against its limit.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        match self {
            Self::Challenge {
                relay_origin,
                min_version,
                max_version,
                ..
            } => {
                text("challenge.relay_origin", relay_origin, 1, MAX_ORIGIN_BYTES)?;
                if min_version > max_version {
                    return Err(Invalid {
                        field: "challenge.min_version",
                        reason: format!("{min_version} is above max_version {max_version}"),
                    });
                }
                Ok(())
            }
            Self::Bundle { bundle, .. } => bytes("bundle.bundle", bundle, 1, MAX_BUNDLE_BYTES),
            Self::Snapshot {
                part,
                parts,
                snapshot,
                ..
            } => {
                snapshot_part(["snapshot.part", "snapshot.parts"], *part, *parts)?;
                bytes("snapshot.snapshot", snapshot, 1, MAX_SNAPSHOT_BYTES)
            }
            Self::Pairing { payload, .. } => {
                bytes("pairing.payload", payload, 1, MAX_PAIRING_PAYLOAD_BYTES)
            }
            Self::KeyEnvelopes {
                envelopes: list, ..
            } => envelopes("key_envelopes.envelopes", list, 0),
            Self::Devices { devices: list, .. } => devices(list),
            Self::Audit { events, .. } => audit_events(events),
            Self::Account { devices: list, .. } => devices(list),
            Self::Membership {
                membership: Some(membership),
                ..
            } => bytes("membership.membership", membership, 1, MAX_MEMBERSHIP_BYTES),
            Self::Documents { documents, .. } => {
                if documents.len() > MAX_DOCUMENTS {
                    return Err(Invalid {
                        field: "documents.documents",
                        reason: format!(
                            "has {} entries, at most {MAX_DOCUMENTS} are allowed",
                            documents.len()
                        ),
                    });
                }
                Ok(())
            }
            Self::Membership {
                membership: None, ..
            } => Ok(()),
            Self::Error { message, .. } => {
                text("error.message", message, 0, MAX_ERROR_MESSAGE_BYTES)
            }
            Self::Welcome { .. }
            | Self::Ack { .. }
            | Self::CaughtUp { .. }
            | Self::Done { .. }
            | Self::Pong { .. } => Ok(()),
        }
    }
}
