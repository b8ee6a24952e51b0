//! Sync with a relay: `init --relay` (an account's first device with an invite, or another
//! device with a pairing code), `device add`, `sync [--watch]` and `status`.
//!
//! Only these talk to the network, and only `init --relay`, `device add` and `sync` need it;
//! `status` reads the local store. Every network failure says that what is on this device is
//! safe and what to do next.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use automerge::{AutoCommit, ChangeHash};
use between_shared::crypto::{
    ClientInvite, DeviceCertificate, DeviceKeypair, EpochKey, IdentityKeypair, InviteSecret,
    PairingSecret,
};
use between_shared::protocol::{
    limits, ClientMessage, ErrorCode, Mailbox, RequestId, ServerMessage,
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
use crate::sync::account::{hex, short_id, AccountKeys, DeviceDirectory};
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

/// `between init --relay URL (--invite CODE | --pair CODE)`.
pub(crate) fn init(
    data_dir: Option<&Path>,
    profile: &str,
    args: &InitArgs,
    relay: &str,
) -> Result<()> {
    let name = args.name.trim();
    if name.is_empty() {
        bail!("--name cannot be empty: it is how the other person sees you");
    }
    let device_name = args
        .device_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let practice_ca = args
        .ca_file
        .as_deref()
        .map(crate::sync::tls::read_ca_file)
        .transpose()?;
    let url = RelayUrl::parse(relay)?.with_practice_ca(practice_ca);
    let (dir, path) = vacant_profile(data_dir, profile)?;
    let made_from = dir.ancestors().take_while(|d| !d.exists()).last();
    let new = NewProfile {
        dir: &dir,
        path: &path,
        profile,
        name,
        device_name,
        url,
        made_from,
    };
    let role = match args.role {
        Some(RoleArg::Therapist) => Role::Therapist,
        Some(RoleArg::Client) | None => Role::Client,
    };
    match (&args.invite, &args.pair) {
        (Some(code), None) => init_first_device(&new, code, role),
        (None, Some(code)) => init_paired_device(&new, code, args.role.map(|_| role)),
        _ => bail!("with --relay, give either --invite CODE (this account's first device) or --pair CODE (another device of your account)"),
    }
}

/// What every relay `init` needs to know.
struct NewProfile<'a> {
    dir: &'a Path,
    path: &'a Path,
    profile: &'a str,
    name: &'a str,
    device_name: Option<String>,
    url: RelayUrl,
    /// The outermost folder of `dir` that did not exist before this command.
    made_from: Option<&'a Path>,
}

impl NewProfile<'_> {
    /// Removes a profile this command created and must not leave behind: the store, and the
    /// folders this command made (only if nothing else is in them).
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = self.path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(std::path::PathBuf::from(file));
        }
        self.remove_folders();
    }

    fn remove_folders(&self) {
        let mut folder = Some(self.dir);
        while let Some(dir) = folder {
            if std::fs::remove_dir(dir).is_err() || Some(dir) == self.made_from {
                break;
            }
            folder = dir.parent();
        }
    }
}

fn sync_state_json() -> Result<String> {
    Ok(serde_json::to_string(&SyncState::default())?)
}

/// `init --relay URL --invite CODE`: a new identity, this device, the shared document and the
/// client's private document, each with its first epoch key; registers with the invite, creates
/// the documents' logs and pushes them. This device creates both documents, so no other device
/// ever does (the initialisation race); the private document's key goes only to the account's
/// own devices, through pairing.
fn init_first_device(new: &NewProfile<'_>, code: &str, role: Role) -> Result<()> {
    // A therapist's invite for a client carries the relay and the therapist's commitment; the
    // admin's invites are bare codes.
    let from_therapist = match ClientInvite::parse(code) {
        Some(parsed) => {
            Some(parsed.map_err(|err| anyhow!("{err}; check the invite your therapist gave you"))?)
        }
        None => None,
    };
    if from_therapist.is_some() && role == Role::Therapist {
        bail!("this is a therapist's invite for a client; a therapist joins with the invite from the practice admin. Nothing was created on this device");
    }
    let invite = match &from_therapist {
        Some(parsed) => parsed.secret.clone(),
        None => InviteSecret::from_code(code)
            .map_err(|err| anyhow!("{err}; check the invite code you were given"))?,
    };
    let clock = Clock::from_env()?;
    let now = clock.now();
    let mut rng = rand::rng();
    let identity = IdentityKeypair::generate(&mut rng);
    let device = DeviceKeypair::generate(&mut rng);
    let certificate = identity.certify(&device.public(), role, Timestamp(real_unix_ms()));
    // The device's Automerge actor is its device id, so every change names its device.
    let actor = device.device_id().0.to_vec();
    let me = Author::new(role, new.name);
    let mut doc = HomeworkDoc::create(&actor, new.name, &me, now)?;
    let meta = doc.meta()?;
    let key = EpochKey::generate(&mut rng);
    let mut private = HomeworkDoc::create(&actor, new.name, &me, now)?;
    let private_id = private.meta()?.document_id.as_str().to_owned();
    let account = AccountRecord {
        relay_url: new.url.display.clone(),
        relay_ca_pem: new.url.practice_ca().map(str::to_owned),
        therapist_commitment: from_therapist.as_ref().map(|i| i.therapist.0),
        account_id: None,
        identity_keypair: identity.to_bytes().to_vec(),
        device_keypair: device.to_bytes().to_vec(),
        device_certificate: certificate.to_bytes().to_vec(),
        registration: Registration::Invite(invite.as_bytes().to_vec()),
        last_sync_ms: None,
        devices_listed_ms: None,
    };
    // A client's first device creates their documents (only the first device ever does, so no two
    // devices create the same document's root concurrently); a therapist starts with none and
    // receives each client's shared document from the relay.
    let documents = match role {
        Role::Therapist => Vec::new(),
        Role::Client => vec![
            NewDocument {
                id: meta.document_id.as_str().to_owned(),
                label: meta.client_name.clone(),
                created_at_ms: now.0,
                snapshot: doc.save(),
                kind: DocumentKind::Shared,
                sync: SyncRecord {
                    document_id: meta.document_id.as_str().to_owned(),
                    epoch: FIRST_EPOCH,
                    on_relay: false,
                    state: sync_state_json()?,
                    keys: vec![(FIRST_EPOCH, *key.as_bytes())],
                },
            },
            NewDocument {
                id: private_id.clone(),
                label: private_label(new.name),
                created_at_ms: now.0,
                snapshot: private.save(),
                kind: DocumentKind::Private,
                sync: new_sync_record(&private_id)?,
            },
        ],
    };
    let synced = NewSyncedProfile {
        account: account.clone(),
        documents,
        devices: vec![this_device(&certificate, new.device_name.clone())],
    };
    create_profile(new, &actor, now, role, &synced)?;
    let mut keys = AccountKeys::from_record(&account)?;

    let rt = runtime()?;
    // The relay may be starting (`between-relay serve &` just before): give it a moment.
    let conn = match rt.block_on(Connection::open_patiently(
        &new.url,
        RELAY_STARTING_PATIENCE,
    )) {
        Ok(conn) => conn,
        Err(err) => {
            new.remove();
            return Err(not_created(&err, &new.url));
        }
    };
    let registered = rt.block_on(async {
        let mut conn = conn;
        let welcome = conn
            .authenticate(Auth::Register {
                invite: &invite,
                identity: identity.public(),
                certificate: &certificate,
                device: &device,
            })
            .await?;
        Ok::<_, RelayError>((conn, welcome))
    });
    let (conn, welcome) = match registered {
        Ok(done) => done,
        Err(err @ RelayError::Refused { .. }) => {
            new.remove();
            return Err(not_created(&err, &new.url));
        }
        Err(err) => {
            return Err(anyhow!(
                "the profile '{}' was created, but registering with the relay at {} did not finish: {err}. Run `between sync` to finish registering; your homework is safe on this device",
                new.profile,
                new.url.display
            ))
        }
    };
    mark_registered(new.path, &welcome)?;
    keys.registration = Registration::Done;
    keys.account_id = Some(welcome.account.0);

    outln!(
        "Created the {} profile '{}' for {} at {}.",
        role.as_str(),
        new.profile,
        new.name,
        new.dir.display()
    );
    outln!(
        "Registered with the relay at {}: account {}, this device {}.",
        new.url.display,
        short_id(&welcome.account.to_string()),
        short_id(&device.device_id().to_string())
    );
    outln!(
        "Your identity fingerprint (compare it when asked): {}",
        identity.public().fingerprint()
    );
    let (summary, directory) = sync_profile(new.path, &keys, Mode::Once, Some((rt, conn)))
        .context("the profile was created and registered, but its first sync did not finish; run `between sync`")?;
    outln!("Synced: {}.", summary.describe(&directory));
    if let Some(invite) = &from_therapist {
        let therapist = share_with_therapist(new.path, &keys, invite)?;
        outln!("Shared your homework with the therapist who invited you. Their safety number (compare it with them, in person or on a call):");
        outln!("  {therapist}");
        outln!("Your private entries (`between entry new --private`) stay on your own devices.");
    }
    match role {
        Role::Client => outln!("Next: `between device add` pairs your phone or another computer; `between today` shows what is due."),
        Role::Therapist => outln!("Next: `between device add` pairs your other devices (laptop, phone) with this account."),
    }
    Ok(())
}

/// Shares the new profile's homework with the therapist who made `invite`, on a fresh
/// connection; returns the therapist's safety number.
fn share_with_therapist(path: &Path, keys: &AccountKeys, invite: &ClientInvite) -> Result<String> {
    let rt = runtime()?;
    let mut store = Store::open(path)?;
    rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let shared = crate::sync::sharing::share_with_inviter(
            &mut conn,
            &mut store,
            keys,
            invite.therapist,
        )
        .await?;
        conn.close().await;
        Ok::<_, crate::sync::sharing::SharingError>(shared)
    })
    .context("your profile was created and synced, but sharing it with your therapist did not finish; nothing was shared yet. `between sync` tries again")
}

/// The error for an `init` that left nothing behind.
fn not_created(err: &RelayError, url: &RelayUrl) -> anyhow::Error {
    let hint = match err {
        // The relay's own message already says what to do about the invite.
        RelayError::Refused {
            code: ErrorCode::InviteInvalid,
            ..
        } => None,
        RelayError::Unreachable { .. } | RelayError::Timeout { .. } => Some(format!(
            "check the address {} and the network, then try again",
            url.display
        )),
        _ => Some("try again, or ask whoever runs the relay".to_owned()),
    };
    match hint {
        Some(hint) => anyhow!("{err}; {hint}. Nothing was created on this device"),
        None => anyhow!("{err}. Nothing was created on this device"),
    }
}

/// The store record of this device.
fn this_device(certificate: &DeviceCertificate, name: Option<String>) -> DeviceRecord {
    DeviceRecord {
        device_id: certificate.device_id().to_string(),
        certificate: certificate.to_bytes().to_vec(),
        this_device: true,
        name,
        registered_at_ms: None,
        listed: false,
    }
}

/// Writes the new profile (its folder, then the store, atomically).
fn create_profile(
    new: &NewProfile<'_>,
    actor: &[u8],
    now: Timestamp,
    role: Role,
    synced: &NewSyncedProfile,
) -> Result<()> {
    std::fs::create_dir_all(new.dir)
        .with_context(|| format!("could not create the profile folder {}", new.dir.display()))?;
    let store = Store::create_synced(
        new.path,
        &ProfileRecord {
            role: role.as_str().to_owned(),
            display_name: new.name.to_owned(),
            actor_id: actor.to_vec(),
            created_at_ms: now.0,
        },
        synced,
    );
    if let Err(err) = store {
        new.remove_folders();
        return Err(err.into());
    }
    Ok(())
}

/// Records the relay's welcome in the store (outside the async runtime).
fn mark_registered(path: &Path, welcome: &Welcome) -> Result<()> {
    let mut store = Store::open(path)?;
    store.set_registered(Some(welcome.account.0))?;
    Ok(())
}

/// `init --relay URL --pair CODE`: takes the sealed payload another device of the account left
/// at the relay, certifies a new device with the account's identity, registers it and syncs
/// every document from nothing.
fn init_paired_device(new: &NewProfile<'_>, code: &str, asked_role: Option<Role>) -> Result<()> {
    let secret = PairingSecret::from_code(code)
        .map_err(|err| anyhow!("{err}; check the code shown by `between device add`"))?;
    let rt = runtime()?;
    let taken = rt.block_on(async {
        let mut conn = Connection::open_patiently(&new.url, RELAY_STARTING_PATIENCE).await?;
        let reply = conn
            .request(
                &ClientMessage::TakePairing {
                    request: RequestId(1),
                    mailbox: Mailbox(secret.mailbox()),
                },
                "the pairing",
            )
            .await?;
        Ok::<_, RelayError>((conn, reply))
    });
    let (conn, reply) = taken.map_err(|err| not_created(&err, &new.url))?;
    let sealed = match reply {
        ServerMessage::Pairing { payload, .. } => payload,
        ServerMessage::Error {
            code: ErrorCode::PairingNotFound,
            ..
        } => bail!(
            "the relay at {} has no pairing waiting for that code: it is mistyped, was already used, or has expired (codes last 24 hours). Make a new one with `between device add` on your other device. Nothing was created on this device",
            new.url.display
        ),
        ServerMessage::Error { code, message, .. } => bail!(
            "the relay refused the pairing: {message} ({code}). Nothing was created on this device"
        ),
        other => bail!(
            "the relay answered the pairing with {}; nothing was created on this device",
            other.name()
        ),
    };
    let payload = PairingPayload::open(&secret, &sealed)?;
    let identity = IdentityKeypair::from_bytes(&payload.identity_keypair)
        .map_err(|err| anyhow!("the pairing message holds a damaged identity key ({err}); make a new code with `between device add`"))?;
    if let Ok(payload_url) = RelayUrl::parse(&payload.relay_url) {
        if payload_url.display != new.url.display {
            crate::sync::driver::warn(&format!(
                "the code was made on a device that syncs through {}; this device will use {} as you asked",
                payload_url.display, new.url.display
            ));
        }
    }

    let clock = Clock::from_env()?;
    let now = clock.now();
    let mut rng = rand::rng();
    let device = DeviceKeypair::generate(&mut rng);
    let role = paired_role(&payload, &identity)?;
    if asked_role.is_some_and(|asked| asked != role) {
        bail!(
            "the pairing code comes from a {} account, not a {} one; make a new code with `between device add` (this one is used up) and pair again without --role: the new device takes the account's role. Nothing was created on this device",
            role.as_str(),
            asked_role.map_or("", Role::as_str)
        );
    }
    let certificate = identity.certify(&device.public(), role, Timestamp(real_unix_ms()));
    let actor = device.device_id().0.to_vec();

    let mut devices = vec![this_device(&certificate, new.device_name.clone())];
    for paired in &payload.devices {
        match DeviceCertificate::from_bytes(&paired.certificate)
            .and_then(|c| c.verify_owner(&identity.public()).map(|()| c))
        {
            Ok(cert) => devices.push(DeviceRecord {
                device_id: cert.device_id().to_string(),
                certificate: paired.certificate.clone(),
                this_device: false,
                name: paired.name.clone(),
                registered_at_ms: None,
                listed: false,
            }),
            Err(err) => crate::sync::driver::warn(&format!(
                "ignored a device in the pairing message: {err}"
            )),
        }
    }
    let empty = AutoCommit::new().save();
    let mut documents = Vec::new();
    if payload.documents.iter().filter(|d| d.private).count() > 1 {
        bail!("the pairing message names more than one private document; make a new code with `between device add`");
    }
    for doc in &payload.documents {
        check_paired_document(doc)?;
        documents.push(NewDocument {
            id: doc.id.clone(),
            label: doc.label.clone(),
            created_at_ms: now.0,
            snapshot: empty.clone(),
            kind: if doc.private {
                DocumentKind::Private
            } else {
                DocumentKind::Shared
            },
            sync: SyncRecord {
                document_id: doc.id.clone(),
                epoch: doc.epoch,
                on_relay: true,
                state: sync_state_json()?,
                keys: doc.keys.clone(),
            },
        });
    }
    let account = AccountRecord {
        relay_url: new.url.display.clone(),
        relay_ca_pem: new.url.practice_ca().map(str::to_owned),
        therapist_commitment: None,
        account_id: Some(payload.account_id),
        identity_keypair: payload.identity_keypair.clone(),
        device_keypair: device.to_bytes().to_vec(),
        device_certificate: certificate.to_bytes().to_vec(),
        registration: Registration::Pairing,
        last_sync_ms: None,
        devices_listed_ms: None,
    };
    let synced = NewSyncedProfile {
        account: account.clone(),
        documents,
        devices,
    };
    // The mailbox is taken now: keep what it held, so an interrupted registration can finish
    // with `between sync` instead of needing a new code.
    create_profile(new, &actor, now, role, &synced)?;
    let mut keys = AccountKeys::from_record(&account)?;

    let registered = rt.block_on(async {
        let mut conn = conn;
        let auth = || Auth::RegisterDevice {
            certificate: &certificate,
            device: &device,
        };
        match conn.authenticate(auth()).await {
            Ok(welcome) => Ok((conn, welcome)),
            Err(RelayError::Refused { code, message }) => {
                Err(RelayError::Refused { code, message })
            }
            // The connection may have timed out while the profile was written: once more.
            Err(_) => {
                let mut conn = Connection::open(&new.url).await?;
                let welcome = conn.authenticate(auth()).await?;
                Ok((conn, welcome))
            }
        }
    });
    let (conn, welcome) = match registered {
        Ok(done) => done,
        Err(err @ RelayError::Refused { .. }) => {
            new.remove();
            bail!("the relay did not accept this device: {err}. Nothing was kept on this device; make a new code with `between device add` on your other device and try again");
        }
        Err(err) => bail!(
            "this device is set up as profile '{}', but registering it with the relay at {} did not finish: {err}. Run `between sync` to finish (no new code is needed)",
            new.profile,
            new.url.display
        ),
    };
    if welcome.account.0 != payload.account_id {
        crate::sync::driver::warn(&format!(
            "the relay put this device in account {}, but the pairing came from account {}",
            welcome.account,
            hex(&payload.account_id)
        ));
    }
    mark_registered(new.path, &welcome)?;
    keys.registration = Registration::Done;
    keys.account_id = Some(welcome.account.0);

    outln!(
        "Paired this device with {}'s account on {} (this device is {}).",
        payload.display_name,
        new.url.display,
        short_id(&device.device_id().to_string())
    );
    let (summary, directory) = sync_profile(new.path, &keys, Mode::Once, Some((rt, conn)))
        .context(
            "the device was paired, but fetching the homework did not finish; run `between sync`",
        )?;
    outln!("Synced: {}.", summary.describe(&directory));
    for label in &summary.empty {
        outln!(
            "{label}'s homework has not arrived yet (has the other device run `between sync`?); run `between sync` again later."
        );
    }
    outln!(
        "Profile '{}' for {} is ready at {}. `between today` shows what is due.",
        new.profile,
        new.name,
        new.dir.display()
    );
    Ok(())
}

/// The role of the account a pairing comes from: the one its sending device is certified for
/// (checked against the account's identity), so a therapist's new device is a therapist's.
fn paired_role(payload: &PairingPayload, identity: &IdentityKeypair) -> Result<Role> {
    payload
        .devices
        .iter()
        .filter(|d| d.sender)
        .find_map(|d| {
            DeviceCertificate::from_bytes(&d.certificate)
                .and_then(|c| c.verify_owner(&identity.public()).map(|()| c.role))
                .ok()
        })
        .ok_or_else(|| anyhow!("the pairing message does not include a valid certificate of the device that made it; make a new code with `between device add`"))
}

/// Checks a document from a pairing message before anything is written.
fn check_paired_document(doc: &PairedDocument) -> Result<()> {
    uuid::Uuid::parse_str(&doc.id)
        .map_err(|_| anyhow!("the pairing message names a document with a bad id; make a new code with `between device add`"))?;
    if !doc.keys.iter().any(|(epoch, _)| *epoch == doc.epoch) {
        bail!("the pairing message lacks the current key of {}'s homework; make a new code with `between device add`", doc.label);
    }
    Ok(())
}

/// Loads the account of a profile that syncs, refusing one that does not.
fn synced_account(session: &Session) -> Result<AccountKeys> {
    let record = session.store.account()?.ok_or_else(|| {
        anyhow!("this profile does not sync with a relay (it was made with `between init` without --relay); it works offline and moves homework with `between doc save` / `between doc merge`")
    })?;
    Ok(AccountKeys::from_record(&record)?)
}

/// The relay could not be reached (or the connection failed) for something that needs it now;
/// nothing changed. Its own type so an app can tell it from a refusal of the request.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unreachable(pub(crate) String);

/// A pairing code made for a new device of this account, with what to tell the person.
pub(crate) struct NewPairing {
    /// The code the new device types (`init --pair`).
    pub(crate) code: String,
    /// The relay the new device joins.
    pub(crate) relay: String,
    /// Until when the code works, in local time.
    pub(crate) expires: String,
    /// Whether the new device needs the practice's CA file (`--ca-file`).
    pub(crate) needs_ca_file: bool,
}

/// Seals this account's keys for a new device under a fresh pairing secret and leaves them
/// with the relay; returns the code. Nothing changes on this device.
pub(crate) fn new_pairing(session: &Session) -> Result<NewPairing> {
    let keys = synced_account(session)?;
    let Some(account_id) = keys
        .account_id
        .filter(|_| keys.registration == Registration::Done)
    else {
        bail!("this device is not registered with its relay yet; run `between sync` first");
    };
    let stored: std::collections::HashMap<String, (String, DocumentKind)> = session
        .store
        .documents()?
        .into_iter()
        .map(|d| (d.id, (d.label, d.kind)))
        .collect();
    let mut documents = Vec::new();
    for record in session.store.sync_documents()? {
        if !record.on_relay {
            bail!("the relay does not hold this profile's homework yet; run `between sync` first, then `between device add`");
        }
        let (label, kind) = stored
            .get(&record.document_id)
            .cloned()
            .unwrap_or_else(|| (record.document_id.clone(), DocumentKind::Shared));
        documents.push(PairedDocument {
            label,
            id: record.document_id,
            epoch: record.epoch,
            keys: record.keys,
            // The new device is this account's own: it holds the private document too.
            private: kind == DocumentKind::Private,
        });
    }
    let devices = session
        .store
        .devices()?
        .into_iter()
        .map(|d| PairedDevice {
            certificate: d.certificate,
            name: d.name,
            sender: d.this_device,
        })
        .collect();
    let payload = PairingPayload {
        format: PAIRING_FORMAT,
        from: FROM_EXISTING_DEVICE.to_owned(),
        relay_url: keys.relay.display.clone(),
        account_id,
        identity_keypair: keys.identity.to_bytes().to_vec(),
        display_name: session.me.name.clone(),
        devices,
        documents,
    };
    let mut rng = rand::rng();
    let secret = PairingSecret::generate(&mut rng);
    let sealed = payload.seal(&secret, &mut rng)?;
    let expires_at_ms = real_unix_ms()
        .saturating_add(i64::try_from(PAIRING_LIFETIME.as_millis()).unwrap_or(i64::MAX));
    let relay = keys.relay.display.clone();
    let rt = runtime()?;
    let reply = rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let reply = conn
            .request(
                &ClientMessage::PutPairing {
                    request: RequestId(1),
                    mailbox: Mailbox(secret.mailbox()),
                    payload: sealed,
                    expires_at_ms,
                },
                "the pairing to be stored",
            )
            .await?;
        conn.close().await;
        Ok::<_, RelayError>(reply)
    });
    match reply {
        Ok(ServerMessage::Done { .. }) => {}
        Ok(ServerMessage::Error { code, message, .. }) => bail!(
            "the relay refused to keep the pairing: {message} ({code}); try again in a moment"
        ),
        Ok(other) => bail!("the relay answered the pairing with {}", other.name()),
        Err(err) => {
            return Err(Unreachable(format!(
                "{err}; no pairing code was made. Try again when the relay can be reached"
            ))
            .into())
        }
    }
    let expires = chrono::DateTime::from_timestamp_millis(expires_at_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    Ok(NewPairing {
        code: secret.to_code(),
        relay,
        expires,
        needs_ca_file: keys.relay.practice_ca().is_some(),
    })
}

/// `between device add`: leaves a sealed pairing payload at the relay and prints its code.
pub(crate) fn device_add(session: Session) -> Result<()> {
    let NewPairing {
        code,
        relay,
        expires,
        needs_ca_file,
    } = new_pairing(&session)?;
    let ca_flag = if needs_ca_file {
        " --ca-file PRACTICE-CA.pem"
    } else {
        ""
    };
    let mut message = vec![
        format!("Pairing code: {code}"),
        String::new(),
        "On the new device, run:".to_owned(),
        format!(
            "  between init --relay {relay} --pair {code} --name \"{}\"{ca_flag}",
            session.me.name
        ),
    ];
    if !ca_flag.is_empty() {
        message.push("(with the file of your practice's certificate authority, as when you set up this device)".to_owned());
    }
    message.extend([
        String::new(),
        format!(
            "The code works once, until {expires}; this device does not need to be online then."
        ),
        "Keep it private: whoever has it can read your homework.".to_owned(),
    ]);
    hand_over(&code, &message)
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

/// An invite for a new client, as made on the relay.
pub(crate) struct NewInvite {
    /// The invite text (`RELAY#CODE`) the client's first device joins with.
    pub(crate) text: String,
    /// When it stops working (Unix milliseconds).
    pub(crate) expires_at_ms: i64,
    /// This therapist's safety number, for the client to compare.
    pub(crate) fingerprint: String,
    /// Whether the client's device needs the practice's CA file.
    pub(crate) needs_ca_file: bool,
}

/// Leaves a one-time invite for a new client with the relay (only its hash), valid for
/// `expires_in_days`; the invite carries a commitment to this therapist's identity key.
pub(crate) fn new_client_invite(session: &Session, expires_in_days: u32) -> Result<NewInvite> {
    let keys = synced_account(session)?;
    if keys.certificate.role != Role::Therapist {
        bail!("only a therapist invites clients; a client's homework is shared with the therapist who invited them");
    }
    let secret = InviteSecret::generate(&mut rand::rng());
    let expires_at_ms = real_unix_ms() + i64::from(expires_in_days) * 24 * 3_600_000;
    let invite = ClientInvite::new(
        keys.relay.display.clone(),
        secret.clone(),
        &keys.identity.public(),
    );
    let rt = runtime()?;
    let reply = rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let reply = conn
            .request(
                &ClientMessage::CreateInvite {
                    request: RequestId(1),
                    invite_hash: secret.hash(),
                    expires_at_ms,
                },
                "the invite to be stored",
            )
            .await;
        conn.close().await;
        reply
    });
    match reply {
        Ok(ServerMessage::Done { .. }) => {}
        Ok(ServerMessage::Error { code, message, .. }) => {
            bail!("the relay refused the invite: {message} ({code})")
        }
        Ok(other) => bail!("the relay answered the invite with {}", other.name()),
        Err(err) => {
            return Err(Unreachable(format!(
                "{err}; no invite was made. Try again when the relay can be reached"
            ))
            .into())
        }
    }
    Ok(NewInvite {
        text: invite.to_text(),
        expires_at_ms,
        fingerprint: keys.identity.public().fingerprint(),
        needs_ca_file: keys.relay.practice_ca().is_some(),
    })
}

/// `between client invite`: a one-time invite for a new client, stored (hashed) at the relay by
/// this therapist's account. The printed invite carries the relay's address, the secret and a
/// commitment to this therapist's identity key, so the client's device shares only with this
/// therapist even if the relay lies about who that is.
pub(crate) fn client_invite(session: &Session, expires_in_days: u32, json: bool) -> Result<()> {
    let NewInvite {
        text,
        expires_at_ms,
        fingerprint,
        needs_ca_file,
    } = new_client_invite(session, expires_in_days)?;
    let expires = when(Some(expires_at_ms));
    if json {
        return print_json(&serde_json::json!({
            "invite": text,
            "expires_at_ms": expires_at_ms,
            "fingerprint": fingerprint,
        }));
    }
    let mut message = vec![
        format!("Invite for a new client (works once, until {expires}):"),
        String::new(),
        format!("  {text}"),
        String::new(),
        "Give it to your client privately. On their first device they run:".to_owned(),
        format!("  between init --invite '{text}' --name \"THEIR NAME\""),
    ];
    if needs_ca_file {
        message.push("with --ca-file and your practice's CA file, as you did.".to_owned());
    }
    message.extend([
        "Their homework is then shared with you; it arrives on your next `between sync`."
            .to_owned(),
        format!("Your safety number, for them to compare: {fingerprint}"),
    ]);
    hand_over(&text, &message)
}

/// Asks before something that cannot be undone; `Ok(false)` if the person says no. Outside a
/// terminal it needs `--yes` and says so with `refusal`.
fn confirm(
    yes: bool,
    refusal: impl FnOnce() -> String,
    question: impl FnOnce() -> String,
) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !crate::prompt::interactive() {
        bail!("{}", refusal());
    }
    dialoguer::Confirm::new()
        .with_prompt(question())
        .default(false)
        .interact()
        .context("could not read your answer")
}

/// `between therapist remove`: the client stops sharing with their therapist (see
/// [`crate::sync::sharing::remove_others`]).
pub(crate) fn therapist_remove(session: &Session, yes: bool) -> Result<()> {
    let keys = synced_account(session)?;
    if keys.certificate.role != Role::Client {
        bail!("only a client removes their therapist; to end working with a client, ask them to remove you (their homework is theirs)");
    }
    if !confirm(
        yes,
        || {
            "this removes your therapist's access to your homework; run it in a terminal to confirm, or add --yes".to_owned()
        },
        || {
            "Stop sharing your homework with your therapist? They keep what they already have, but get nothing new".to_owned()
        },
    )? {
        outln!("Nothing changed.");
        return Ok(());
    }
    let mut store = Store::open(session.store.path())?;
    let rt = runtime()?;
    let removed = rt
        .block_on(async {
            let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
            let removed =
                crate::sync::sharing::remove_others(&mut conn, &mut store, &keys).await?;
            conn.close().await;
            Ok::<_, crate::sync::sharing::SharingError>(removed)
        })
        .context("your therapist was not removed (what is on this device is unchanged, apart from a new key kept for the next try); run `between therapist remove` again when the relay can be reached")?;
    outln!(
        "Removed {} from your homework (safety number {}).",
        if removed.len() == 1 {
            "your therapist"
        } else {
            "everyone else"
        },
        removed.join(", ")
    );
    outln!("The relay refuses their devices from now on, and what you write is sealed with a new key they never get. What they already had stays on their devices.");
    outln!("Your other devices receive the new key on their next `between sync`.");
    Ok(())
}

/// `between client end NAME`: a therapist leaves a client's shared homework (see
/// `leave_document` in docs/protocol.md); the client's devices then rotate without them.
pub(crate) fn client_end(session: &Session, name: &str, yes: bool) -> Result<()> {
    let keys = synced_account(session)?;
    let doc = session.select(Some(name))?;
    if session.store.membership(&doc.id)?.is_none() {
        bail!(
            "{}'s homework is not shared with you through the relay; nothing to end",
            doc.label
        );
    }
    if !session
        .store
        .sync_documents()?
        .iter()
        .any(|r| r.document_id == doc.id)
    {
        bail!(
            "{}'s homework no longer syncs with you; nothing to end",
            doc.label
        );
    }
    if !confirm(
        yes,
        || {
            format!("this ends your access to {}'s homework; run it in a terminal to confirm, or add --yes", doc.label)
        },
        || {
            format!(
                "Stop receiving {}'s homework? Your copy stays on this device",
                doc.label
            )
        },
    )? {
        outln!("Nothing changed.");
        return Ok(());
    }
    let doc_id = uuid::Uuid::parse_str(&doc.id)
        .map_err(|_| anyhow!("the document id {} is damaged", doc.id))?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let reply = conn
            .request(
                &ClientMessage::LeaveDocument {
                    request: RequestId(1),
                    doc: between_shared::protocol::DocId(doc_id.into_bytes()),
                },
                "the end of sharing",
            )
            .await?;
        conn.close().await;
        match reply {
            ServerMessage::Done { .. }
            | ServerMessage::Error {
                code: ErrorCode::NotMember,
                ..
            } => Ok(()),
            ServerMessage::Error { code, message, .. } => {
                Err(RelayError::Refused { code, message })
            }
            other => Err(RelayError::Protocol(format!(
                "the relay answered with {}",
                other.name()
            ))),
        }
    })
    .with_context(|| {
        format!(
            "nothing changed; run `between client end {name}` again when the relay can be reached"
        )
    })?;
    let mut store = Store::open(session.store.path())?;
    store.stop_syncing(&doc.id, session.clock.now().0, true)?;
    outln!(
        "You no longer receive {}'s homework; their devices move it to a new key without you at their next sync. Your copy stays on this device.",
        doc.label
    );
    Ok(())
}

/// `between device remove DEVICE`: the relay refuses the device from now on, and every document
/// of this account moves to a new epoch whose key the device never gets.
pub(crate) fn device_remove(session: &Session, device: &str, yes: bool) -> Result<()> {
    let keys = synced_account(session)?;
    let me = keys.device.device_id().to_string();
    let wanted = device.trim().to_ascii_lowercase();
    if wanted.len() < 4 {
        bail!(
            "give at least the first 4 characters of the device id (`between status` lists them)"
        );
    }
    let matches: Vec<_> = session
        .store
        .devices()?
        .into_iter()
        .filter(|d| d.device_id.starts_with(&wanted))
        .collect();
    let target = match matches.as_slice() {
        [] => {
            bail!("no device of this account starts with '{wanted}'; `between status` lists them")
        }
        [one] if one.device_id == me => {
            bail!("this is the device you are using; remove it from another of your devices")
        }
        [one] => one.clone(),
        _ => bail!("'{wanted}' matches several devices; type more of the id"),
    };
    let name = target
        .name
        .clone()
        .unwrap_or_else(|| short_id(&target.device_id));
    if !confirm(
        yes,
        || {
            format!("this removes the device {name} for good; run it in a terminal to confirm, or add --yes")
        },
        || format!("Remove the device {name} for good? It will not sync again"),
    )? {
        outln!("Nothing changed.");
        return Ok(());
    }
    let device_id = target
        .device_id
        .parse::<between_shared::crypto::DeviceId>()
        .map_err(|err| anyhow!("the stored device id is damaged: {err}"))?;
    let mut store = Store::open(session.store.path())?;
    let documents: Vec<String> = store
        .sync_documents()?
        .into_iter()
        .filter(|r| r.on_relay)
        .map(|r| r.document_id)
        .collect();
    let rt = runtime()?;
    rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        match conn
            .request(
                &ClientMessage::RevokeDevice {
                    request: RequestId(1),
                    device: between_shared::protocol::DeviceId(device_id.0),
                },
                "the device to be removed",
            )
            .await?
        {
            ServerMessage::Done { .. } => {}
            ServerMessage::Error { code, message, .. } => {
                return Err(RelayError::Refused { code, message }.into())
            }
            other => {
                return Err(RelayError::Protocol(format!(
                    "the relay answered the removal with {}",
                    other.name()
                ))
                .into())
            }
        }
        for id in &documents {
            crate::sync::sharing::rotate(
                &mut conn,
                &mut store,
                &keys,
                id,
                |_| true,
                Some(&target.device_id),
            )
            .await?;
        }
        // Only now: an interrupted removal can be run again with the same device id.
        store.forget_device(&target.device_id)?;
        conn.close().await;
        Ok::<_, crate::sync::sharing::SharingError>(())
    })
    .context("the device was not fully removed; run `between device remove` again when the relay can be reached")?;
    outln!("Removed the device {name}: the relay refuses it from now on, and your homework moved to new keys it never gets.");
    outln!("Your other devices (and your therapist's) receive the new keys on their next `between sync`.");
    Ok(())
}

/// `between sync [--watch]`.
pub(crate) fn sync(session: Session, watch: bool, json: bool) -> Result<()> {
    let keys = synced_account(&session)?;
    let path = session.store.path().to_path_buf();
    let reader = session.me.role;
    drop(session);
    let before = super::heard::before(&path)?;
    // The practice's crisis resources go into every client's homework that lacks them: the
    // ones here before, with this sync, and the ones that arrive, with a second one.
    super::risk::fill_crisis_resources(&path)?;
    let mode = if watch { Mode::Watch } else { Mode::Once };
    let (mut summary, directory) = sync_profile(&path, &keys, mode, None)?;
    if !watch && !super::risk::fill_crisis_resources(&path)?.is_empty() {
        summary.then(sync_profile(&path, &keys, Mode::Once, None)?.0);
    }
    // News comes only with what arrived: a sync that received nothing reads no homework, and
    // one that did reads each homework it changed once.
    let arrived = if summary.received.is_empty() {
        super::heard::Arrived::none()
    } else {
        super::heard::arrived(&path, &before)?
    };
    // Other people's devices are named after them ("Dr Rivera's device") where the homework
    // they sent says who they are.
    let directory = if summary.received.is_empty() {
        directory
    } else {
        super::whois::with_people(&Session::open_store(&path)?, directory, &arrived.homework())?
    };
    let heard = arrived.news(reader);
    if json {
        let mut value = summary_json(&summary, &keys);
        value["news"] = serde_json::to_value(&heard)?;
        return print_json(&value);
    }
    outln!(
        "Synced with {}: {}.",
        keys.relay.display,
        summary.describe(&directory)
    );
    out!("{}", super::heard::describe(&heard, reader));
    report_leftovers(&summary)
}

fn summary_json(summary: &Summary, keys: &AccountKeys) -> serde_json::Value {
    serde_json::json!({
        "relay": keys.relay.display,
        "sent_changes": summary.pushed_changes,
        "sent_bundles": summary.pushed_bundles,
        "received_bundles": summary.received,
        "skipped_bundles": summary.skipped,
        "relay_rolled_back": summary.rolled_back,
        "refused": summary.refused,
        "failed": summary.failed,
        "pending_changes": summary.pending_changes,
    })
}

fn report_leftovers(summary: &Summary) -> Result<()> {
    if summary.pending_changes > 0 {
        outln!(
            "{} still to send; they are safe on this device and will be sent next time.",
            plural(summary.pending_changes, "local change")
        );
    }
    if !summary.failed.is_empty() {
        bail!(
            "some homework could not be synced: {}",
            summary.failed.join("; ")
        );
    }
    Ok(())
}

/// The local changes of each synced document that the relay does not hold yet.
pub(crate) fn pending_changes(store: &Store) -> Result<Vec<(String, usize)>> {
    let labels: std::collections::HashMap<String, String> = store
        .documents()?
        .into_iter()
        .map(|d| (d.id, d.label))
        .collect();
    let mut out = Vec::new();
    for record in store.sync_documents()? {
        let label = labels
            .get(&record.document_id)
            .cloned()
            .unwrap_or_else(|| record.document_id.clone());
        let state: SyncState = serde_json::from_str(&record.state)
            .with_context(|| format!("the sync state of {label}'s homework is damaged"))?;
        let bytes = store.load_document(&record.document_id)?;
        let mut doc = AutoCommit::load(&bytes)
            .with_context(|| format!("{label}'s homework could not be read"))?;
        let known: Vec<ChangeHash> = state.relay_heads.iter().map(|h| ChangeHash(*h)).collect();
        out.push((label, doc.get_changes_meta(&known).len()));
    }
    Ok(out)
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

/// `between status`: the relay, registration, last sync, pending changes and devices — from
/// the local store only.
pub(crate) fn status(session: &Session, json: bool) -> Result<()> {
    let Some(record) = session.store.account()? else {
        if json {
            return print_json(&serde_json::json!({ "syncs": false }));
        }
        outln!("This profile does not sync with a relay; it works offline. Move homework with `between doc save` / `between doc merge`.");
        return Ok(());
    };
    let keys = AccountKeys::from_record(&record)?;
    let pending = pending_changes(&session.store)?;
    let devices = session.store.devices()?;
    let directory = DeviceDirectory::new(&devices);
    let me = keys.device.device_id().to_string();
    let registered = record.registration == Registration::Done;
    if json {
        let devices: Vec<_> = devices
            .iter()
            .map(|d| {
                serde_json::json!({
                    "device": d.device_id,
                    "name": d.name,
                    "role": DeviceCertificate::from_bytes(&d.certificate).ok().map(|c| c.role),
                    "this_device": d.this_device,
                    "listed_by_relay": d.listed,
                    "registered_at_ms": d.registered_at_ms,
                })
            })
            .collect();
        let pending: Vec<_> = pending
            .iter()
            .map(|(label, n)| serde_json::json!({ "document": label, "pending_changes": n }))
            .collect();
        return print_json(&serde_json::json!({
            "syncs": true,
            "relay": keys.relay.display,
            "registered": registered,
            "account": record.account_id.map(|a| hex(&a)),
            "device": me,
            "fingerprint": keys.identity.public().fingerprint(),
            "last_sync_ms": record.last_sync_ms,
            "devices_listed_ms": record.devices_listed_ms,
            "documents": pending,
            "devices": devices,
        }));
    }
    outln!("Relay:        {}", keys.relay.display);
    match (registered, record.account_id) {
        (true, Some(account)) => outln!("Account:      {}", short_id(&hex(&account))),
        (true, None) => outln!("Account:      registered"),
        (false, _) => {
            outln!("Account:      not registered with the relay yet — run `between sync`")
        }
    }
    outln!("This device:  {}", directory.label(&me));
    outln!(
        "Fingerprint:  {}",
        keys.identity.public().short_fingerprint()
    );
    outln!("Last sync:    {}", when(record.last_sync_ms));
    for (label, n) in &pending {
        if *n == 0 {
            outln!("Pending:      {label}: nothing waiting to be sent");
        } else {
            outln!(
                "Pending:      {label}: {} waiting to be sent (`between sync`)",
                plural(*n, "local change")
            );
        }
    }
    match record.devices_listed_ms {
        Some(at) => outln!(
            "Devices of this account (as the relay listed them at {}):",
            when(Some(at))
        ),
        None => outln!("Devices of this account (the relay has not listed them yet):"),
    }
    for device in &devices {
        let mark = if device.device_id == me { "*" } else { " " };
        let role = DeviceCertificate::from_bytes(&device.certificate)
            .map(|c| c.role.as_str())
            .unwrap_or("unknown role");
        let since = device
            .registered_at_ms
            .map(|ms| format!(", registered {}", when(Some(ms))))
            .unwrap_or_default();
        let gone = if record.devices_listed_ms.is_some() && !device.listed {
            " — not in the relay's last list"
        } else {
            ""
        };
        outln!(
            "  {mark} {} — {role}{since}{gone}",
            directory.label(&device.device_id)
        );
    }
    Ok(())
}
