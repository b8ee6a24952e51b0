//! Several relays on one PostgreSQL database: what another relay committed reaches the devices
//! connected here, live.
//!
//! Each relay forwards its own devices' pushes to its own live devices at once ([`super::hub`]).
//! The other relays' changes arrive as notices, which their store sends inside the committing
//! transaction (`store::postgres::notice`); this task `LISTEN`s for them on a connection of its
//! own and, for each:
//!
//! - a bundle appended to a document someone here watches is read from the log once and
//!   forwarded as if it had been pushed here. A session drops a live entry its device already
//!   has and fills a gap from the log first (`log::live_step`), so a notice that arrives late,
//!   twice, or after one that was lost never shows a device the log out of order or with a hole;
//! - accounts removed from a document, or the document deleted, end the subscriptions here
//!   exactly as the committing relay ended its own.
//!
//! Notices sent while this connection is down (the database restarting, a network cut) are
//! lost. So after every (re)connection, once `LISTEN` is in place, the task catches up from the
//! store itself: for each watched document it forwards the newest entry (each session then
//! fills what it missed from the log), ends the subscriptions of accounts that are no longer
//! members, and those of a document that no longer exists.

use std::sync::Arc;
use std::time::Duration;

use between_shared::protocol::{DocId, Seq, ServerMessage};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::hub::ANOTHER_RELAY;
use super::Relay;
use crate::store::postgres::describe;
use crate::store::postgres::notice::{self, Instance, Notice, CHANNEL};
use crate::store::postgres::target::Target;
use crate::store::{Missing, StoreError};

/// Notices waiting to be handled: beyond this, the database connection waits for the task.
const BACKLOG: usize = 4096;

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows the other relays' notices on the database `target` names until `shutdown`,
/// reconnecting with back-off whenever the connection is lost.
pub(crate) async fn follow(target: Target, relay: Arc<Relay>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&target, &relay, &shutdown).await {
            Ok(()) => return,
            Err(reason) => warn!(
                %reason,
                "not hearing other relays' changes on the database; reconnecting (devices here get them at their next sync meanwhile)"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of listening: `Ok` when `shutdown` ends it, `Err` (saying why) when
/// the connection is lost.
async fn listen(
    target: &Target,
    relay: &Relay,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let (client, mut connection) = target.connect_async().await.map_err(|err| describe(&err))?;
    let (notices_tx, mut notices) = mpsc::channel::<String>(BACKLOG);
    // The connection delivers notifications only while it is polled.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if notices_tx
                        .send(notification.payload().to_owned())
                        .await
                        .is_err()
                    {
                        return "stopped listening".to_owned();
                    }
                }
                Ok(_) => {}
                Err(err) => return describe(&err),
            }
        }
        "the database closed the connection".to_owned()
    });
    let listening = client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|err| describe(&err));
    if let Err(reason) = listening {
        driver.abort();
        return Err(reason);
    }
    info!("hearing other relays' changes on the database");
    catch_up(relay).await;
    let me = Instance::this_process();
    loop {
        tokio::select! {
            payload = notices.recv() => match payload {
                Some(payload) => match notice::decode(&payload) {
                    Some((from, _)) if from == me => {}
                    Some((_, notice)) => heard(relay, notice).await,
                    None => debug!(%payload, "ignored a notice this relay does not understand"),
                },
                None => break,
            },
            () = shutdown.cancelled() => {
                driver.abort();
                return Ok(());
            }
        }
    }
    drop(client);
    Err(driver
        .await
        .unwrap_or_else(|_| "the listening task ended".to_owned()))
}

/// Carries out one notice from another relay.
async fn heard(relay: &Relay, notice: Notice) {
    match notice {
        Notice::Appended { doc, seq } => forward_entry(relay, doc, seq).await,
        Notice::MembersRemoved { doc, accounts } => {
            let _order = relay.hub.lock(doc).await;
            relay.hub.drop_accounts(doc, &accounts);
        }
        Notice::Deleted { doc } => {
            let _order = relay.hub.lock(doc).await;
            relay.hub.end_document(doc);
        }
    }
}

/// Forwards entry `seq` of `doc`, read from the log, to the devices watching it here. Nothing
/// when nobody here watches, or when the entry is no longer stored on its own (a snapshot now
/// covers it: a device that needs it gets the snapshot when it fills the gap).
async fn forward_entry(relay: &Relay, doc: DocId, seq: Seq) {
    if relay.hub.watching_accounts(doc).is_empty() || seq.0 == 0 {
        return;
    }
    let since = Seq(seq.0 - 1);
    let read = relay
        .store
        .try_call(move |store| store.bundles_since(doc, since, 1, usize::MAX))
        .await;
    let bundle = match read {
        Ok(mut bundles) => match bundles.pop() {
            Some(bundle) if bundle.seq == seq => bundle.bytes,
            _ => return,
        },
        Err(err) => {
            warn!(error = %err, "could not read an entry another relay committed; devices here get it at their next sync");
            return;
        }
    };
    let _order = relay.hub.lock(doc).await;
    relay.hub.forward(
        doc,
        ANOTHER_RELAY,
        &ServerMessage::Bundle { doc, seq, bundle },
    );
}

/// After (re)connecting: what notices may have been missed, read from the store (see the
/// module documentation).
async fn catch_up(relay: &Relay) {
    for doc in relay.hub.watched() {
        let state = relay
            .store
            .try_call(move |store| -> Result<_, StoreError> {
                let members = match store.members(doc) {
                    Ok(members) => members,
                    Err(StoreError::NotFound(Missing::Document(_))) => return Ok(None),
                    Err(err) => return Err(err),
                };
                // A document always has its owner as a member: none means it is gone.
                if members.is_empty() {
                    return Ok(None);
                }
                Ok(Some((members, store.head(doc)?)))
            })
            .await;
        match state {
            Ok(Some((members, head))) => {
                let gone: Vec<_> = relay
                    .hub
                    .watching_accounts(doc)
                    .into_iter()
                    .filter(|account| !members.contains(account))
                    .collect();
                if !gone.is_empty() {
                    heard(
                        relay,
                        Notice::MembersRemoved {
                            doc,
                            accounts: gone,
                        },
                    )
                    .await;
                }
                forward_entry(relay, doc, head).await;
            }
            Ok(None) => heard(relay, Notice::Deleted { doc }).await,
            Err(err) => {
                warn!(error = %err, "could not catch up a watched document after reconnecting")
            }
        }
    }
}
