//! `between device add`: a pairing code for a new device of this account, and what the new device
//! needs sealed in the relay's mailbox.

use super::*;

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
    let documents = paired_documents(session)?;
    let devices = paired_devices(session)?;
    let payload = PairingPayload {
        format: PAIRING_FORMAT,
        from: FROM_EXISTING_DEVICE.to_owned(),
        relay_url: keys.relay.display.clone(),
        account_id: account_id.0,
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
    put_pairing(&keys, &secret, sealed, expires_at_ms)?;
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

/// The documents a new device of this account receives, with their keys; refuses while the
/// relay does not hold one of them yet, as the new device could not fetch it.
fn paired_documents(session: &Session) -> Result<Vec<PairedDocument>> {
    let stored: std::collections::HashMap<DocId, (String, DocumentKind)> = session
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
            .unwrap_or_else(|| (record.document_id.to_string(), DocumentKind::Shared));
        documents.push(PairedDocument {
            label,
            id: record.document_id,
            epoch: record.epoch,
            keys: record.keys,
            // The new device is this account's own: it holds the private document too.
            private: kind == DocumentKind::Private,
        });
    }
    Ok(documents)
}

/// The devices of this account as this device knows them, so the new one trusts them at once.
fn paired_devices(session: &Session) -> Result<Vec<PairedDevice>> {
    Ok(session
        .store
        .devices()?
        .into_iter()
        .map(|d| PairedDevice {
            certificate: d.certificate,
            name: d.name,
            sender: d.this_device,
        })
        .collect())
}

/// Leaves the sealed pairing in the relay's mailbox of `secret` until `expires_at_ms`. An
/// unreachable relay is [`Unreachable`], so an app can tell it from a refusal.
fn put_pairing(
    keys: &AccountKeys,
    secret: &PairingSecret,
    sealed: Vec<u8>,
    expires_at_ms: i64,
) -> Result<()> {
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
    Ok(())
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
