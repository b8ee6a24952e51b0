//! `between sync [--watch]` and `between status`.

use super::*;

/// `between sync [--watch]`.
pub(crate) fn sync(session: Session, watch: bool, json: bool) -> Result<()> {
    let keys = synced_account(&session)?;
    let path = session.store.path().to_path_buf();
    let reader = session.me.role;
    drop(session);
    let before = crate::commands::heard::before(&path)?;
    // The practice's crisis resources go into every client's homework that lacks them: the
    // ones here before, with this sync, and the ones that arrive, with a second one.
    crate::commands::risk::fill_crisis_resources(&path)?;
    let mode = if watch { Mode::Watch } else { Mode::Once };
    let (mut summary, directory) = sync_profile(&path, &keys, mode, None)?;
    if !watch && !crate::commands::risk::fill_crisis_resources(&path)?.is_empty() {
        summary.then(sync_profile(&path, &keys, Mode::Once, None)?.0);
    }
    // News comes only with what arrived: a sync that received nothing reads no homework, and
    // one that did reads each homework it changed once.
    let arrived = if summary.received.is_empty() {
        crate::commands::heard::Arrived::none()
    } else {
        crate::commands::heard::arrived(&path, &before)?
    };
    // Other people's devices are named after them ("Dr Rivera's device") where the homework
    // they sent says who they are.
    let directory = if summary.received.is_empty() {
        directory
    } else {
        crate::commands::whois::with_people(
            &Session::open_store(&path)?,
            directory,
            &arrived.homework(),
        )?
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
    out!("{}", crate::commands::heard::describe(&heard, reader));
    report_leftovers(&summary)
}

pub(super) fn summary_json(summary: &Summary, keys: &AccountKeys) -> serde_json::Value {
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

pub(super) fn report_leftovers(summary: &Summary) -> Result<()> {
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
    let labels: std::collections::HashMap<DocId, String> = store
        .documents()?
        .into_iter()
        .map(|d| (d.id, d.label))
        .collect();
    let mut out = Vec::new();
    for record in store.sync_documents()? {
        let label = labels
            .get(&record.document_id)
            .cloned()
            .unwrap_or_else(|| record.document_id.to_string());
        let state: SyncState = serde_json::from_str(&record.state)
            .with_context(|| format!("the sync state of {label}'s homework is damaged"))?;
        let bytes = store.load_document(record.document_id)?;
        let mut doc = AutoCommit::load(&bytes)
            .with_context(|| format!("{label}'s homework could not be read"))?;
        let known: Vec<ChangeHash> = state.relay_heads.iter().map(|h| ChangeHash(*h)).collect();
        out.push((label, doc.get_changes_meta(&known).len()));
    }
    Ok(out)
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
    let me = keys.device.device_id();
    let registered = record.registration == Registration::Done;
    if json {
        return status_json(&record, &keys, me, registered, &pending, &devices);
    }
    outln!("Relay:        {}", keys.relay.display);
    match (registered, record.account_id) {
        (true, Some(account)) => outln!("Account:      {}", account.short()),
        (true, None) => outln!("Account:      registered"),
        (false, _) => {
            outln!("Account:      not registered with the relay yet — run `between sync`")
        }
    }
    outln!("This device:  {}", directory.label(me));
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
    print_devices(&record, &devices, &directory, me)
}

/// `status --json`: the same facts, with every device's role and whether the relay listed it.
fn status_json(
    record: &AccountRecord,
    keys: &AccountKeys,
    me: DeviceId,
    registered: bool,
    pending: &[(String, usize)],
    devices: &[DeviceRecord],
) -> Result<()> {
    let devices: Vec<_> = devices
        .iter()
        .map(|d| {
            serde_json::json!({
                "device": d.device_id.to_string(),
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
    print_json(&serde_json::json!({
        "syncs": true,
        "relay": keys.relay.display,
        "registered": registered,
        "account": record.account_id.map(|id| id.to_string()),
        "device": me.to_string(),
        "fingerprint": keys.identity.public().fingerprint(),
        "last_sync_ms": record.last_sync_ms,
        "devices_listed_ms": record.devices_listed_ms,
        "documents": pending,
        "devices": devices,
    }))
}

/// The devices part of `status`: each device of the account with its role and when it
/// registered, this one starred, and those missing from the relay's last list marked.
fn print_devices(
    record: &AccountRecord,
    devices: &[DeviceRecord],
    directory: &DeviceDirectory,
    me: DeviceId,
) -> Result<()> {
    match record.devices_listed_ms {
        Some(at) => outln!(
            "Devices of this account (as the relay listed them at {}):",
            when(Some(at))
        ),
        None => outln!("Devices of this account (the relay has not listed them yet):"),
    }
    for device in devices {
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
            directory.label(device.device_id)
        );
    }
    Ok(())
}
