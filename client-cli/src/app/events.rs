//! What the open pages hear as it happens: another device's changes stored, this app's own
//! changes (for the person's other tabs), and the sync's state for the indicator, fanned out
//! to every page's `/api/events` stream.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::real_unix_ms;
use crate::live::{LiveProfile, NoticeKind};

/// The sync indicator's state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct SyncState {
    /// `connecting` (not heard from the relay yet), `online` or `offline`.
    pub(crate) state: &'static str,
    /// The last thing the sync said, in words.
    pub(crate) detail: String,
    /// When the relay was last reached, as milliseconds since 1970.
    pub(crate) last_online_ms: Option<i64>,
}

/// One thing a page hears.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum Event {
    /// Something stored changed: redraw.
    Changed,
    /// The sync's state changed.
    Sync(SyncState),
    /// Something the person should know (a skipped bundle, sharing that changed...).
    Notice {
        /// In words.
        text: String,
    },
}

/// Fans events out to the pages and remembers the sync's state for new ones.
pub(crate) struct Hub {
    sender: broadcast::Sender<Event>,
    state: Arc<Mutex<SyncState>>,
    /// Becomes true when the app stops: the pages' streams end, so the server can.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Hub {
    /// Starts listening to `live`'s changes and notices.
    pub(crate) fn start(live: &LiveProfile) -> Self {
        let (sender, _) = broadcast::channel(64);
        let state = Arc::new(Mutex::new(SyncState {
            state: "connecting",
            detail: "connecting to the relay; everything you do is kept on this device meanwhile"
                .to_owned(),
            last_online_ms: None,
        }));
        let hub = Self {
            sender,
            state,
            stopping: tokio::sync::watch::Sender::new(false),
        };
        hub.attach(live);
        hub
    }

    /// Listens to `live` (a profile opened again, too): its changes and notices reach the
    /// pages. A listener ends when its profile closes.
    pub(crate) fn attach(&self, live: &LiveProfile) {
        let mut changes = live.changes();
        let mut notices = live.notices();
        let (out, shared) = (self.sender.clone(), self.state.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let _ = out.send(Event::Changed);
                    }
                    notice = notices.recv() => {
                        let notice = match notice {
                            Ok(notice) => notice,
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => break,
                        };
                        let state = match notice.kind {
                            NoticeKind::Online => Some(("online", Some(real_unix_ms()))),
                            NoticeKind::Offline => Some(("offline", None)),
                            _ => None,
                        };
                        match state {
                            Some((name, online_at)) => {
                                let next = {
                                    let Ok(mut current) = shared.lock() else { break };
                                    current.state = name;
                                    current.detail = notice.text;
                                    if online_at.is_some() {
                                        current.last_online_ms = online_at;
                                    }
                                    current.clone()
                                };
                                let _ = out.send(Event::Sync(next));
                            }
                            None => {
                                let _ = out.send(Event::Notice { text: notice.text });
                            }
                        }
                    }
                }
            }
        });
    }

    /// A new page's stream, and what says when the app stops.
    pub(crate) fn subscribe(
        &self,
    ) -> (
        broadcast::Receiver<Event>,
        tokio::sync::watch::Receiver<bool>,
    ) {
        (self.sender.subscribe(), self.stopping.subscribe())
    }

    /// Ends every page's stream: the app is stopping.
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// The sync's state now.
    pub(crate) fn state(&self) -> SyncState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// This app stored a change: the person's other pages redraw.
    pub(crate) fn changed(&self) {
        let _ = self.sender.send(Event::Changed);
    }
}
