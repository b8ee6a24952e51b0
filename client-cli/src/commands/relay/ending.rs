//! Ending things with the relay's help: `therapist remove`, `client end` and `device remove`,
//! each confirmed first.

use super::*;

/// Asks before something that cannot be undone; `Ok(false)` if the person says no. Outside a
/// terminal it needs `--yes` and says so with `refusal`.
pub(super) fn confirm(
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
    if session.store.membership(doc.id)?.is_none() {
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
    let doc_id = doc.id;
    let rt = runtime()?;
    rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let reply = conn
            .request(
                &ClientMessage::LeaveDocument {
                    request: RequestId(1),
                    doc: doc_id,
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
    store.stop_syncing(doc.id, session.clock.now().0, true)?;
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
    let me = keys.device.device_id();
    let target = device_to_remove(session, me, device)?;
    let name = target
        .name
        .clone()
        .unwrap_or_else(|| target.device_id.short());
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
    revoke_device(session, &keys, &target)?;
    outln!("Removed the device {name}: the relay refuses it from now on, and your homework moved to new keys it never gets.");
    outln!("Your other devices (and your therapist's) receive the new keys on their next `between sync`.");
    Ok(())
}

/// The one device of this account whose id starts with `device` (at least 4 characters, so a
/// slip does not pick one); never this device (`me`), which removes itself from another.
fn device_to_remove(session: &Session, me: DeviceId, device: &str) -> Result<DeviceRecord> {
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
        .filter(|d| d.device_id.to_string().starts_with(&wanted))
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
    Ok(target)
}

/// Asks the relay to refuse `target` from now on, then moves every document this account has
/// on the relay to a new epoch without it; forgets the device only once all that is done.
fn revoke_device(session: &Session, keys: &AccountKeys, target: &DeviceRecord) -> Result<()> {
    let mut store = Store::open(session.store.path())?;
    let documents: Vec<DocId> = store
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
                    device: target.device_id,
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
        for &id in &documents {
            crate::sync::sharing::rotate(
                &mut conn,
                &mut store,
                keys,
                id,
                |_| true,
                Some(target.device_id),
            )
            .await?;
        }
        // Only now: an interrupted removal can be run again with the same device id.
        store.forget_device(target.device_id)?;
        conn.close().await;
        Ok::<_, crate::sync::sharing::SharingError>(())
    })
    .context("the device was not fully removed; run `between device remove` again when the relay can be reached")?;
    Ok(())
}
