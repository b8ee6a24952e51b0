//! Size limits every decoder enforces, and suggested timings the relay enforces.
//!
//! The frame limit is checked on the raw bytes before any parsing, so a peer cannot make a decoder
//! allocate more than about one frame. The field limits are checked after parsing (and before
//! encoding, so an encoder never builds a frame its peer would refuse). The limits are chosen so that
//! every message whose fields are within their limits fits in one frame; a compile-time check below
//! keeps it that way.

use std::time::Duration;

/// Largest sealed bundle (`Push.bundle`, `Bundle.bundle`): 1 MiB.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

/// Largest part of a sealed snapshot (`PutSnapshot.snapshot`, `Snapshot.snapshot`): 1 MiB, like a
/// bundle.
pub const MAX_SNAPSHOT_BYTES: usize = MAX_BUNDLE_BYTES;

/// Most parts of one snapshot (`PutSnapshot.parts`, `Snapshot.parts`): together they hold the
/// largest sealed snapshot, 16 MiB.
pub const MAX_SNAPSHOT_PARTS: u32 = 16;

/// Largest WebSocket binary frame (one whole encoded message): the largest bundle plus 64 KiB for
/// the envelope and the other fields. Bigger frames are refused before parsing.
pub const MAX_FRAME_BYTES: usize = MAX_BUNDLE_BYTES + 64 * 1024;

/// Largest invite secret (`Register.invite`).
pub const MAX_INVITE_BYTES: usize = 256;

/// Largest device certificate (`Register.certificate`, `RegisterDevice.certificate`,
/// `DeviceInfo.certificate`).
pub const MAX_CERTIFICATE_BYTES: usize = 2 * 1024;

/// Largest sealed pairing payload (`PutPairing.payload`, `Pairing.payload`).
pub const MAX_PAIRING_PAYLOAD_BYTES: usize = 64 * 1024;

/// Largest wrapped epoch key (`KeyEnvelope.envelope`).
pub const MAX_KEY_ENVELOPE_BYTES: usize = 1024;

/// Most key envelopes in one message (`PutKeyEnvelopes`, `KeyEnvelopes`).
pub const MAX_KEY_ENVELOPES: usize = 512;

/// Most devices in one `Devices` reply.
pub const MAX_DEVICES: usize = 256;

/// Largest signed membership list (`SignedMembership` with the most members is far smaller).
pub const MAX_MEMBERSHIP_BYTES: usize = 1024;

/// Most documents in one `Documents` reply (a therapist's caseload, with room to spare).
pub const MAX_DOCUMENTS: usize = 2048;

/// Longest a client invite made by a therapist may stay valid.
pub const MAX_INVITE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Most events in one `Audit` reply (and the largest `GetAudit.limit`).
pub const MAX_AUDIT_EVENTS: usize = 512;

/// Longest relay origin (`Challenge.relay_origin`), in UTF-8 bytes (a DNS name is at most 253).
pub const MAX_ORIGIN_BYTES: usize = 255;

/// Longest human-readable error text (`Error.message`), in UTF-8 bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Room reserved per list entry and per message for keys, headers and fixed fields; generous.
const OVERHEAD_PER_ITEM: usize = 128;

// Every message within its field limits fits in a frame.
const _: () = {
    assert!(MAX_BUNDLE_BYTES + OVERHEAD_PER_ITEM * 4 < MAX_FRAME_BYTES);
    assert!(MAX_SNAPSHOT_BYTES + OVERHEAD_PER_ITEM * 4 < MAX_FRAME_BYTES);
    // The parts of a snapshot can carry the largest one the envelope seals.
    assert!(MAX_SNAPSHOT_PARTS as usize * MAX_SNAPSHOT_BYTES == crate::crypto::MAX_SEALED_SNAPSHOT);
    assert!(MAX_KEY_ENVELOPES * (MAX_KEY_ENVELOPE_BYTES + OVERHEAD_PER_ITEM) < MAX_FRAME_BYTES);
    assert!(MAX_DEVICES * (MAX_CERTIFICATE_BYTES + OVERHEAD_PER_ITEM) < MAX_FRAME_BYTES);
    assert!(MAX_DOCUMENTS * (2 * 16 + 3 * OVERHEAD_PER_ITEM) < MAX_FRAME_BYTES);
    assert!(MAX_PAIRING_PAYLOAD_BYTES + OVERHEAD_PER_ITEM * 4 < MAX_FRAME_BYTES);
    assert!(
        MAX_AUDIT_EVENTS * (super::audit::MAX_ACTION_BYTES + 3 * 16 + OVERHEAD_PER_ITEM)
            < MAX_FRAME_BYTES
    );
};

/// Suggested: how long the relay waits, after sending `Challenge`, for a `Welcome`-earning reply
/// before closing. The relay sets the real value.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Suggested: how long the relay keeps a connection on which nothing arrives (not even a ping).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Suggested: how often a device sends `Ping` (or the relay a WebSocket ping) on a quiet
/// connection, comfortably inside [`IDLE_TIMEOUT`].
pub const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Suggested: how far a sign-in timestamp may be from the relay's clock.
pub const SIGN_IN_MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Suggested: the longest a pairing payload may wait in its mailbox (`PutPairing.expires_at_ms`
/// further ahead is refused or clamped by the relay).
pub const MAX_PAIRING_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
