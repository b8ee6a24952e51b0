//! The commands that work with the relay, one file per job:
//!
//! - [`join`]: `init --relay`, an account's first device with an invite, or another device of
//!   the account with a pairing code;
//! - [`pairing`]: `device add`, a pairing code for a new device;
//! - [`invites`]: `client invite`, a therapist's invite for a new client;
//! - [`ending`]: `therapist remove`, `client end` and `device remove`;
//! - [`sync`](mod@sync): `sync [--watch]`, and `status`, which reads the local store only.
//!
//! (`audit` and `delete-from-relay` are in `commands::audit` and `commands::data`.) Every
//! network failure says that what is on this device is safe and what to do next.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use automerge::{AutoCommit, ChangeHash};
use between_shared::crypto::{
    ClientInvite, DeviceCertificate, DeviceKeypair, EpochKey, IdentityKeypair, InviteSecret,
    PairingSecret,
};
use between_shared::protocol::{
    limits, AccountId, ClientMessage, DeviceId, DocId, ErrorCode, Mailbox, RequestId, ServerMessage,
};
use between_shared::sync::SyncState;
use between_shared::{Author, HomeworkDoc, Role, Timestamp};

use super::print_json;
use crate::cli::{InitArgs, RoleArg};
use crate::clock::{real_unix_ms, Clock};
use crate::profile::{new_sync_record, private_label, vacant_profile, Session};
use crate::render::plural;
use crate::store::{
    AccountRecord, DeviceRecord, DocumentKind, NewDocument, NewSyncedProfile, ProfileRecord,
    Registration, Store, SyncRecord,
};
use crate::sync::account::{AccountKeys, DeviceDirectory};
use crate::sync::connection::{
    Auth, Connection, RelayError, RelayUrl, Welcome, RELAY_STARTING_PATIENCE,
};
use crate::sync::driver::{Mode, Summary};
use crate::sync::pairing::{
    PairedDevice, PairedDocument, PairingPayload, FROM_EXISTING_DEVICE, PAIRING_FORMAT,
};
use crate::sync::{runtime, sync_profile};

/// The first epoch of a new document's keys.
const FIRST_EPOCH: u32 = 1;

/// A pairing code stays in the relay's mailbox this long (a minute under the relay's maximum,
/// so a relay whose clock runs a little behind still accepts it).
const PAIRING_LIFETIME: Duration = Duration::from_secs(limits::MAX_PAIRING_LIFETIME.as_secs() - 60);

mod ending;
mod invites;
mod join;
mod pairing;
mod sync;

pub(crate) use ending::{client_end, device_remove, therapist_remove};
pub(crate) use invites::{client_invite, new_client_invite};
pub(crate) use join::init;
pub(crate) use pairing::{device_add, new_pairing, Unreachable};
pub(crate) use sync::{pending_changes, status, sync};

/// Loads the account of a profile that syncs, refusing one that does not.
fn synced_account(session: &Session) -> Result<AccountKeys> {
    let record = session.store.account()?.ok_or_else(|| {
        anyhow!("this profile does not sync with a relay (it was made with `between init` without --relay); it works offline and moves homework with `between doc save` / `between doc merge`")
    })?;
    Ok(AccountKeys::from_record(&record)?)
}

/// Prints a value a person passes on (a pairing code, an invite) with its explanation
/// (`message`, which shows the value too). In a terminal all of it goes to standard output, as
/// one message. Otherwise standard output gets the value alone and the message goes to standard
/// error, so `CODE=$(between device add)` captures exactly the code while the person still
/// reads what to do with it.
fn hand_over(value: &str, message: &[String]) -> Result<()> {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        for line in message {
            outln!("{line}");
        }
    } else {
        outln!("{value}");
        for line in message {
            eprintln!("{line}");
        }
    }
    Ok(())
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "never".to_owned())
}
