//! `between init --relay`: an account's first device with an invite, or another device of the
//! account with a pairing code.

use super::*;

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
pub(super) struct NewProfile<'a> {
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

pub(super) fn sync_state_json() -> Result<String> {
    Ok(serde_json::to_string(&SyncState::default())?)
}

/// `init --relay URL --invite CODE`: a new identity, this device, the shared document and the
/// client's private document, each with its first epoch key; registers with the invite, creates
/// the documents' logs and pushes them. This device creates both documents, so no other device
/// ever does (the initialisation race); the private document's key goes only to the account's
/// own devices, through pairing.
pub(super) fn init_first_device(new: &NewProfile<'_>, code: &str, role: Role) -> Result<()> {
    let (from_therapist, invite) = read_invite(code, role)?;
    let clock = Clock::from_env()?;
    let now = clock.now();
    let mut rng = rand::rng();
    let identity = IdentityKeypair::generate(&mut rng);
    let device = DeviceKeypair::generate(&mut rng);
    let certificate = identity.certify(&device.public(), role, Timestamp(real_unix_ms()));
    // The device's Automerge actor is its device id, so every change names its device.
    let actor = device.device_id().0.to_vec();
    let account = AccountRecord {
        therapist_commitment: from_therapist.as_ref().map(|i| i.therapist),
        ..new_account(
            new,
            &identity,
            &device,
            &certificate,
            Registration::Invite(invite.as_bytes().to_vec()),
        )
    };
    // A therapist starts with no document and receives each client's shared one from the relay.
    let documents = match role {
        Role::Therapist => Vec::new(),
        Role::Client => first_documents(new, &actor, now)?,
    };
    let synced = NewSyncedProfile {
        account: account.clone(),
        documents,
        devices: vec![this_device(&certificate, new.device_name.clone())],
    };
    create_profile(new, &actor, now, role, &synced)?;
    let mut keys = AccountKeys::from_record(&account)?;

    let rt = runtime()?;
    let (conn, welcome) = register_first(&rt, new, &invite, &identity, &certificate, &device)?;
    mark_registered(new.path, &welcome)?;
    keys.registration = Registration::Done;
    keys.account_id = Some(welcome.account);

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
        welcome.account.short(),
        device.device_id().short()
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

/// The invite `code` as the secret to register with, and (for a therapist's invite for a
/// client) what it says of the therapist; refused for the wrong role before anything is made.
fn read_invite(code: &str, role: Role) -> Result<(Option<ClientInvite>, InviteSecret)> {
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
    Ok((from_therapist, invite))
}

/// A client's first device creates both of their documents (only the first device ever does,
/// so no two devices create the same document's root concurrently): the shared homework under
/// its first epoch key, and the private document, whose key only their own devices get.
fn first_documents(new: &NewProfile<'_>, actor: &[u8], now: Timestamp) -> Result<Vec<NewDocument>> {
    let me = Author::new(Role::Client, new.name);
    let mut doc = HomeworkDoc::create(actor, new.name, &me, now)?;
    let meta = doc.meta()?;
    let key = EpochKey::generate(&mut rand::rng());
    let mut private = HomeworkDoc::create(actor, new.name, &me, now)?;
    let private_id = private.meta()?.document_id;
    Ok(vec![
        NewDocument {
            id: meta.document_id,
            label: meta.client_name.clone(),
            created_at_ms: now.0,
            snapshot: doc.save(),
            kind: DocumentKind::Shared,
            sync: SyncRecord {
                document_id: meta.document_id,
                epoch: FIRST_EPOCH,
                on_relay: false,
                state: sync_state_json()?,
                keys: vec![(FIRST_EPOCH, *key.as_bytes())],
            },
        },
        NewDocument {
            id: private_id,
            label: private_label(new.name),
            created_at_ms: now.0,
            snapshot: private.save(),
            kind: DocumentKind::Private,
            sync: new_sync_record(private_id)?,
        },
    ])
}

/// Opens the connection (patiently: the relay may be starting) and registers the account's
/// first device with its invite. A refusal removes the new profile again; any other failure
/// leaves it to finish with `between sync`.
fn register_first(
    rt: &tokio::runtime::Runtime,
    new: &NewProfile<'_>,
    invite: &InviteSecret,
    identity: &IdentityKeypair,
    certificate: &DeviceCertificate,
    device: &DeviceKeypair,
) -> Result<(Connection, Welcome)> {
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
                invite,
                identity: identity.public(),
                certificate,
                device,
            })
            .await?;
        Ok::<_, RelayError>((conn, welcome))
    });
    match registered {
        Ok(done) => Ok(done),
        Err(err @ RelayError::Refused { .. }) => {
            new.remove();
            Err(not_created(&err, &new.url))
        }
        Err(err) => Err(anyhow!(
            "the profile '{}' was created, but registering with the relay at {} did not finish: {err}. Run `between sync` to finish registering; your homework is safe on this device",
            new.profile,
            new.url.display
        )),
    }
}

/// Shares the new profile's homework with the therapist who made `invite`, on a fresh
/// connection; returns the therapist's safety number.
pub(super) fn share_with_therapist(
    path: &Path,
    keys: &AccountKeys,
    invite: &ClientInvite,
) -> Result<String> {
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
pub(super) fn not_created(err: &RelayError, url: &RelayUrl) -> anyhow::Error {
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

/// The account record of a new device on `new`'s relay, before the relay welcomed it.
fn new_account(
    new: &NewProfile<'_>,
    identity: &IdentityKeypair,
    device: &DeviceKeypair,
    certificate: &DeviceCertificate,
    registration: Registration,
) -> AccountRecord {
    AccountRecord {
        relay_url: new.url.display.clone(),
        relay_ca_pem: new.url.practice_ca().map(str::to_owned),
        therapist_commitment: None,
        account_id: None,
        identity_keypair: identity.to_bytes().to_vec(),
        device_keypair: device.to_bytes().to_vec(),
        device_certificate: certificate.to_bytes().to_vec(),
        registration,
        last_sync_ms: None,
        devices_listed_ms: None,
    }
}

/// The store record of this device.
pub(super) fn this_device(certificate: &DeviceCertificate, name: Option<String>) -> DeviceRecord {
    DeviceRecord {
        device_id: certificate.device_id(),
        certificate: certificate.to_bytes().to_vec(),
        this_device: true,
        name,
        registered_at_ms: None,
        listed: false,
    }
}

/// Writes the new profile (its folder, then the store, atomically).
pub(super) fn create_profile(
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
pub(super) fn mark_registered(path: &Path, welcome: &Welcome) -> Result<()> {
    let mut store = Store::open(path)?;
    store.set_registered(Some(welcome.account))?;
    Ok(())
}

/// `init --relay URL --pair CODE`: takes the sealed payload another device of the account left
/// at the relay, certifies a new device with the account's identity, registers it and syncs
/// every document from nothing.
pub(super) fn init_paired_device(
    new: &NewProfile<'_>,
    code: &str,
    asked_role: Option<Role>,
) -> Result<()> {
    let secret = PairingSecret::from_code(code)
        .map_err(|err| anyhow!("{err}; check the code shown by `between device add`"))?;
    let rt = runtime()?;
    let (conn, sealed) = take_pairing(&rt, new, &secret)?;
    let (payload, identity) = open_pairing(new, &secret, &sealed)?;

    let clock = Clock::from_env()?;
    let now = clock.now();
    let mut rng = rand::rng();
    let device = DeviceKeypair::generate(&mut rng);
    let role = paired_role(&payload, &identity)?;
    refuse_other_role(role, asked_role)?;
    let certificate = identity.certify(&device.public(), role, Timestamp(real_unix_ms()));
    let actor = device.device_id().0.to_vec();

    let mut devices = vec![this_device(&certificate, new.device_name.clone())];
    devices.extend(paired_devices(&payload, &identity));
    let documents = paired_documents(&payload, now)?;
    let account = AccountRecord {
        account_id: Some(AccountId(payload.account_id)),
        ..new_account(new, &identity, &device, &certificate, Registration::Pairing)
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

    let (conn, welcome) = register_paired(&rt, conn, new, &certificate, &device)?;
    if welcome.account != AccountId(payload.account_id) {
        crate::sync::driver::warn(&format!(
            "the relay put this device in account {}, but the pairing came from account {}",
            welcome.account,
            AccountId(payload.account_id)
        ));
    }
    mark_registered(new.path, &welcome)?;
    keys.registration = Registration::Done;
    keys.account_id = Some(welcome.account);

    outln!(
        "Paired this device with {}'s account on {} (this device is {}).",
        payload.display_name,
        new.url.display,
        device.device_id().short()
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

/// The pairing message, opened with the code's secret, and the account's identity it carries;
/// a code made on a device of another relay is said (this device uses the one asked for).
fn open_pairing(
    new: &NewProfile<'_>,
    secret: &PairingSecret,
    sealed: &[u8],
) -> Result<(PairingPayload, IdentityKeypair)> {
    let payload = PairingPayload::open(secret, sealed)?;
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
    Ok((payload, identity))
}

/// Refuses a `--role` that is not the role of the account the pairing comes from.
fn refuse_other_role(role: Role, asked_role: Option<Role>) -> Result<()> {
    if asked_role.is_some_and(|asked| asked != role) {
        bail!(
            "the pairing code comes from a {} account, not a {} one; make a new code with `between device add` (this one is used up) and pair again without --role: the new device takes the account's role. Nothing was created on this device",
            role.as_str(),
            asked_role.map_or("", Role::as_str)
        );
    }
    Ok(())
}

/// Takes the sealed pairing payload from the relay's mailbox of `secret` (it is gone from the
/// relay after this), on a connection kept for registering.
fn take_pairing(
    rt: &tokio::runtime::Runtime,
    new: &NewProfile<'_>,
    secret: &PairingSecret,
) -> Result<(Connection, Vec<u8>)> {
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
    match reply {
        ServerMessage::Pairing { payload, .. } => Ok((conn, payload)),
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
    }
}

/// The account's other devices named in the pairing message, each certificate checked against
/// the account's identity (one that does not check is left out, with a warning).
fn paired_devices(payload: &PairingPayload, identity: &IdentityKeypair) -> Vec<DeviceRecord> {
    let mut devices = Vec::new();
    for paired in &payload.devices {
        match DeviceCertificate::from_bytes(&paired.certificate)
            .and_then(|c| c.verify_owner(&identity.public()).map(|()| c))
        {
            Ok(cert) => devices.push(DeviceRecord {
                device_id: cert.device_id(),
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
    devices
}

/// The documents named in the pairing message, empty until the first sync fills them, each
/// with the keys the message carries; refused before anything is written if one does not check.
fn paired_documents(payload: &PairingPayload, now: Timestamp) -> Result<Vec<NewDocument>> {
    let empty = AutoCommit::new().save();
    let mut documents = Vec::new();
    if payload.documents.iter().filter(|d| d.private).count() > 1 {
        bail!("the pairing message names more than one private document; make a new code with `between device add`");
    }
    for doc in &payload.documents {
        check_paired_document(doc)?;
        documents.push(NewDocument {
            id: doc.id,
            label: doc.label.clone(),
            created_at_ms: now.0,
            snapshot: empty.clone(),
            kind: if doc.private {
                DocumentKind::Private
            } else {
                DocumentKind::Shared
            },
            sync: SyncRecord {
                document_id: doc.id,
                epoch: doc.epoch,
                on_relay: true,
                state: sync_state_json()?,
                keys: doc.keys.clone(),
            },
        });
    }
    Ok(documents)
}

/// Registers the new device on the connection that took the pairing (or, if that one timed
/// out while the profile was written, a new one). A refusal removes the new profile again; any
/// other failure leaves it to finish with `between sync`.
fn register_paired(
    rt: &tokio::runtime::Runtime,
    conn: Connection,
    new: &NewProfile<'_>,
    certificate: &DeviceCertificate,
    device: &DeviceKeypair,
) -> Result<(Connection, Welcome)> {
    let registered = rt.block_on(async {
        let mut conn = conn;
        let auth = || Auth::RegisterDevice {
            certificate,
            device,
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
    match registered {
        Ok(done) => Ok(done),
        Err(err @ RelayError::Refused { .. }) => {
            new.remove();
            Err(anyhow!("the relay did not accept this device: {err}. Nothing was kept on this device; make a new code with `between device add` on your other device and try again"))
        }
        Err(err) => Err(anyhow!(
            "this device is set up as profile '{}', but registering it with the relay at {} did not finish: {err}. Run `between sync` to finish (no new code is needed)",
            new.profile,
            new.url.display
        )),
    }
}

/// The role of the account a pairing comes from: the one its sending device is certified for
/// (checked against the account's identity), so a therapist's new device is a therapist's.
pub(super) fn paired_role(payload: &PairingPayload, identity: &IdentityKeypair) -> Result<Role> {
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
pub(super) fn check_paired_document(doc: &PairedDocument) -> Result<()> {
    if !doc.keys.iter().any(|(epoch, _)| *epoch == doc.epoch) {
        bail!("the pairing message lacks the current key of {}'s homework; make a new code with `between device add`", doc.label);
    }
    Ok(())
}
