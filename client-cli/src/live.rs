//! A profile held open by an app: the in-process API a desktop or phone app embeds (and the
//! benchmark harness drives) instead of running `between` commands.
//!
//! [`LiveProfile::open`] loads a device profile made by `between init` (its SQLite store, keys
//! and documents) and, online, keeps it synced in the background on the caller's tokio runtime,
//! exactly as `between sync --watch` does: same sharing pass, same engine, same reconnection.
//! Two things differ. Edits arrive in process ([`LiveProfile::edit`]): each is stored (one
//! transaction) before it returns and is pushed at once, instead of being noticed by polling
//! the store. And the app learns that other devices' changes were stored through
//! [`LiveProfile::changes`], to redraw. Nothing is printed: what a command would print
//! (connected or offline, a skipped bundle, a relay rolled back, sharing that changed) arrives as
//! [`Notice`]s ([`LiveProfile::notices`]). Dropping the profile stops its background sync.
//!
//! The contract for embedders: documents are named by [`DocId`]; an edit the document
//! refuses comes back as [`LiveError::Refused`] with the document's own error (a validation
//! error says which field and why), an id this device does not sync as
//! [`LiveError::UnknownDocument`], and trouble with the store or the sync as
//! [`LiveError::Sync`] — none of them changes anything stored.

use std::path::Path;
use std::sync::Arc;

use between_shared::protocol::DocId;
use between_shared::{Author, DocError, HomeworkDoc};
use tokio::sync::{broadcast, watch, Notify};

use crate::profile::{parse_role, store_path};
use crate::store::{DocumentKind, Store};
use crate::sync::account::AccountKeys;
use crate::sync::driver::Mode;
use crate::sync::run::SyncFailure;
use crate::sync::worker::Core;
use crate::sync::{explain, refuse_if_deleted, run, share_pass};

/// Why a live profile could not open, edit, read or sync.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The profile could not be opened (missing, damaged, not set up for a relay).
    #[error("could not open the profile: {0}")]
    Profile(String),
    /// This device does not sync a document with this id.
    #[error("this device does not sync a document with the id {id}")]
    UnknownDocument {
        /// The id asked for.
        id: DocId,
    },
    /// The document refused the edit, which changed nothing: for an invalid value, a
    /// [`DocError::Invalid`] naming the field and what is allowed.
    #[error(transparent)]
    Refused(DocError),
    /// The store or the sync failed; what is stored on this device is intact.
    #[error("{0}")]
    Sync(String),
}

impl LiveError {
    fn from_driver(err: crate::sync::driver::DriverError, doc: DocId) -> Self {
        match err {
            crate::sync::driver::DriverError::UnknownDocument { .. } => {
                LiveError::UnknownDocument { id: doc }
            }
            other => LiveError::Sync(other.to_string()),
        }
    }
}

/// What kind of thing a [`Notice`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeKind {
    /// Connected to the relay (again).
    Online,
    /// Not connected; it tries again by itself, and edits keep being stored meanwhile.
    Offline,
    /// A bundle (or the relay's snapshot) could not be opened or applied and was skipped.
    Skipped,
    /// The relay serves an older state than it confirmed; everything is sent again.
    RelayRolledBack,
    /// The relay refused this device's changes; they stay here and go next time.
    Refused,
    /// A document could not be synced at all.
    Failed,
    /// Sharing changed: homework arrived, a member left or ended it, a document was deleted.
    Sharing,
    /// Changes that could not be merged (from an old damaged profile) were set aside.
    SetAside,
    /// Anything else the person should know.
    Other,
}

/// Something the person should know, as a `between` command would print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What kind of thing it is.
    pub kind: NoticeKind,
    /// In words.
    pub text: String,
}

/// One homework document the profile syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDocument {
    /// The document's id (what [`LiveProfile::edit`] and [`LiveProfile::read`] take).
    pub id: DocId,
    /// Its local name: the client's name on a therapist's device.
    pub label: String,
    /// Whether it is the client's private document (only their own devices hold it) rather
    /// than homework shared with the therapist.
    pub private: bool,
}

/// A device profile held open (see the module docs).
pub struct LiveProfile {
    core: Arc<Core>,
    me: Author,
    nudge: Arc<Notify>,
    stop: Arc<Notify>,
    changes: watch::Receiver<u64>,
    notices: broadcast::Sender<Notice>,
    /// The receiver that holds what happened before anyone subscribed, for the first one.
    first_notices: std::sync::Mutex<Option<broadcast::Receiver<Notice>>>,
    sync: Option<tokio::task::JoinHandle<Result<(), LiveError>>>,
}

impl LiveProfile {
    /// Opens the profile in `dir` (a folder `between init` made). Online, it signs in, runs
    /// the sharing pass and then syncs in a background task until [`LiveProfile::close`];
    /// offline, edits are stored and leave with the next sync.
    pub async fn open(dir: &Path, online: bool) -> Result<Self, LiveError> {
        let path = store_path(dir);
        let profile_error = |err: &dyn std::fmt::Display| LiveError::Profile(format!("{err:#}"));
        let (me, keys) = {
            let store = Store::open(&path).map_err(|e| profile_error(&e))?;
            let profile = store.profile().map_err(|e| profile_error(&e))?;
            let role = parse_role(&profile.role).map_err(|e| profile_error(&e))?;
            let account = store
                .account()
                .map_err(|e| profile_error(&e))?
                .ok_or_else(|| {
                    LiveError::Profile(
                        "this profile is not set up for a relay; run `between init --relay`"
                            .to_owned(),
                    )
                })?;
            let keys = AccountKeys::from_record(&account).map_err(|e| profile_error(&e))?;
            (Author::new(role, profile.display_name), keys)
        };
        refuse_if_deleted(&path, &keys).map_err(|e| profile_error(&e))?;
        let (first, notes) = if online {
            match share_pass(&path, &keys, None).await {
                Ok(pass) => pass,
                // The relay cannot be reached now: the profile opens all the same, works
                // offline and the background sync keeps trying (its notices say so). The
                // sharing pass waits for the next time the profile is opened.
                Err(SyncFailure::Relay(err)) if !err.is_permanent() => (None, Vec::new()),
                Err(err) => {
                    return Err(LiveError::Sync(format!(
                        "{:#}",
                        explain(err, &keys.relay.display)
                    )))
                }
            }
        } else {
            (None, Vec::new())
        };
        let core = Arc::new(Core::start(path, Mode::Embedded).map_err(|e| profile_error(&e))?);
        let (changes, (notices, first_notices)) = core
            .call(move |driver| {
                for text in notes {
                    driver.tell(NoticeKind::Sharing, text);
                }
                (driver.observe(), driver.notices())
            })
            .await
            .map_err(|e| profile_error(&e))?;
        let nudge = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let sync = online.then(|| {
            let (core, nudge, stop) = (core.clone(), nudge.clone(), stop.clone());
            tokio::spawn(async move {
                let stopped = stop.notified();
                run::run(&core, &keys, Mode::Embedded, first, stopped, Some(&nudge))
                    .await
                    .map(|_| ())
                    .map_err(|err| {
                        LiveError::Sync(format!("{:#}", explain(err, &keys.relay.display)))
                    })
            })
        });
        Ok(Self {
            core,
            me,
            nudge,
            stop,
            changes,
            notices,
            first_notices: std::sync::Mutex::new(Some(first_notices)),
            sync,
        })
    }

    /// Who edits through this profile.
    pub fn me(&self) -> &Author {
        &self.me
    }

    /// The documents this device syncs.
    pub async fn documents(&self) -> Result<Vec<LiveDocument>, LiveError> {
        let docs = self
            .core
            .call(|driver| driver.documents())
            .await
            .map_err(|e| LiveError::Sync(e.to_string()))?;
        Ok(docs
            .into_iter()
            .map(|(id, label, kind)| LiveDocument {
                id,
                label,
                private: kind == DocumentKind::Private,
            })
            .collect())
    }

    /// Applies a typed edit to document `doc` as this profile's person, stores it before
    /// returning and pushes it at once when online. A refused edit changes nothing.
    pub async fn edit<T: Send + 'static>(
        &self,
        doc: DocId,
        edit: impl FnOnce(&mut HomeworkDoc, &Author) -> Result<T, DocError> + Send + 'static,
    ) -> Result<T, LiveError> {
        let me = self.me.clone();
        let value = self
            .core
            .call(move |driver| driver.edit(doc, |homework| edit(homework, &me)))
            .await
            .map_err(|e| LiveError::Sync(e.to_string()))?
            .map_err(|e| LiveError::from_driver(e, doc))?
            .map_err(LiveError::Refused)?;
        self.nudge.notify_one();
        Ok(value)
    }

    /// Reads document `doc` as stored on this device, including what `between` commands
    /// saved beside the app a moment ago.
    pub async fn read<T: Send + 'static>(
        &self,
        doc: DocId,
        read: impl FnOnce(&mut HomeworkDoc) -> T + Send + 'static,
    ) -> Result<T, LiveError> {
        let value = self
            .core
            .call(move |driver| driver.read(doc, read))
            .await
            .map_err(|e| LiveError::Sync(e.to_string()))?
            .map_err(|e| LiveError::from_driver(e, doc))?;
        // What the read took in from other processes is pushed now, as an edit is.
        self.nudge.notify_one();
        Ok(value)
    }

    /// Takes in what `between` commands (or other apps) on this device stored in the profile
    /// since, and pushes it when online; returns whether anything changed, for the app to
    /// redraw. Edits and reads do this by themselves; an app calls it now and then to notice
    /// such changes while the person only looks.
    pub async fn refresh(&self) -> Result<bool, LiveError> {
        let changed = self
            .core
            .call(|driver| driver.take_in_local())
            .await
            .map_err(|e| LiveError::Sync(e.to_string()))?
            .map_err(|e| LiveError::Sync(e.to_string()))?;
        if changed {
            self.nudge.notify_one();
        }
        Ok(changed)
    }

    /// Goes up by at least one every time changes from other devices are stored; wait on it
    /// (`changed().await`) to redraw.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// What the person should know as it happens (see [`Notice`]), from now on; what happened
    /// before the first subscriber (such as sharing news from opening) comes first to it. A
    /// subscriber that falls more than 64 notices behind misses the oldest (`Lagged`).
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        let first = self
            .first_notices
            .lock()
            .map(|mut first| first.take())
            .unwrap_or(None);
        first.unwrap_or_else(|| self.notices.subscribe())
    }

    /// Whether the background sync stopped on its own (a permanent refusal such as a removed
    /// device); [`LiveProfile::close`] then says why.
    pub fn sync_stopped(&self) -> bool {
        self.sync.as_ref().is_some_and(|task| task.is_finished())
    }

    /// Stops syncing (closing the connection cleanly) and closes the store. Returns why the
    /// background sync stopped, if it stopped on an error.
    pub async fn close(mut self) -> Result<(), LiveError> {
        self.stop.notify_one();
        match self.sync.take() {
            Some(task) => task
                .await
                .map_err(|e| LiveError::Sync(format!("the sync task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for LiveProfile {
    /// Stops the background sync (it closes its connection and ends by itself) when the app
    /// lets go of the profile without [`LiveProfile::close`].
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}
