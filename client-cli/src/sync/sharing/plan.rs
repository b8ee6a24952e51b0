//! The decisions of the sharing pass, without IO: from what this device stores ([`LocalView`])
//! and what the relay answered about one document (its membership list, the other member's
//! account), the [`Step`]s to carry out — keep the list, record the other member's devices,
//! catch up with a new epoch, wrap the key for devices that lack it, receive a document, move to
//! a new epoch without someone who left, or stop syncing a document this account was removed
//! from. [`super::refresh`] asks the relay, calls these functions and carries the steps out.
//!
//! Nothing here trusts the relay: every list is verified against the owner this device already
//! knows, a list whose serial goes back (or that changes under the same serial) is refused, and
//! another person's device counts only when the list vouches for its certificate.

use std::collections::{HashMap, HashSet};

use between_shared::crypto::{
    DeviceCertificate, IdentityPublic, MembershipError, SignedMembership,
};
use between_shared::protocol::{AccountId, DeviceId, DeviceInfo, DocId, DocumentInfo};
use between_shared::Role;

use super::SharingError;
use crate::store::DocumentKind;

/// A device certificate, parsed and as the bytes it came in.
pub(crate) type Certificate = (DeviceCertificate, Vec<u8>);

/// What this device stores about one document, as the pass needs it.
#[derive(Debug, Clone)]
pub(crate) struct LocalDoc {
    /// Its label (a client's name, on a therapist's devices).
    pub(crate) label: String,
    /// Private or shared.
    pub(crate) kind: DocumentKind,
    /// The membership list last kept, as stored.
    pub(crate) membership: Option<Vec<u8>>,
    /// Its current epoch while it syncs; `None` once it stopped.
    pub(crate) epoch: Option<u32>,
}

/// What this device stores, as the pass needs it: who it is and its documents by id.
#[derive(Debug, Clone)]
pub(crate) struct LocalView {
    /// This account's identity.
    pub(crate) me: IdentityPublic,
    /// Client or therapist.
    pub(crate) role: Role,
    /// This account's devices other than this one, verified against its identity.
    pub(crate) own_devices: Vec<Certificate>,
    /// The documents this device stores, by id.
    pub(crate) documents: HashMap<DocId, LocalDoc>,
}

/// A membership list that checked, with the owner it was checked against.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The list.
    pub(crate) list: SignedMembership,
    /// The owner: this account for its own documents, else the one pinned on first sight.
    pub(crate) owner: IdentityPublic,
}

/// What the relay said of the other member of a document (see [`LocalView::peer_to_ask`]).
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// Their account.
    pub(crate) account: AccountId,
    /// Their identity, as the relay gave it (checked against the list before use).
    pub(crate) identity: IdentityPublic,
    /// Their devices, as the relay gave them (checked against the list before use).
    pub(crate) devices: Vec<DeviceInfo>,
    /// Whether the relay still lets this account look them up by id: `false` once they stopped
    /// sharing (a therapist's `between client end`). Asked only when
    /// [`LocalView::asks_whether_still_shared`] says so.
    pub(crate) still_shared: bool,
}

/// One thing to carry out, in order.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Stop syncing a document this account was removed from, and say so (its label).
    End {
        /// The document.
        id: DocId,
        /// What the person calls it.
        label: String,
    },
    /// The other member of this account's document stopped sharing: move it to a new epoch
    /// without them.
    Rotate {
        /// The document.
        id: DocId,
        /// Who left.
        without: IdentityPublic,
    },
    /// Remember the other member's devices the list vouches for (key wrapping and removals use
    /// them later).
    RecordPeers {
        /// Their account.
        account: AccountId,
        /// Their vouched devices.
        devices: Vec<Certificate>,
    },
    /// Keep a verified list of a document this device syncs.
    Keep {
        /// The document.
        id: DocId,
        /// The list.
        list: SignedMembership,
        /// Whether sharing with a therapist ended with this list (the views say so from then on).
        sharing_ended: bool,
    },
    /// The owner moved to a new epoch: fetch this device's keys and make `epoch` current.
    CatchUp {
        /// The document.
        info: DocumentInfo,
        /// Its owner, whose devices alone may wrap keys.
        owner: IdentityPublic,
        /// The list's epoch.
        epoch: u32,
    },
    /// Wrap the current key for those of `recipients` that lack it (an owner's step).
    Wrap {
        /// The document.
        id: DocId,
        /// This account's other devices and the vouched devices of the other member.
        recipients: Vec<Certificate>,
    },
    /// A document shared with this account arrives, once its key is wrapped for this device.
    Receive {
        /// The document.
        info: DocumentInfo,
        /// Its checked list.
        list: SignedMembership,
    },
    /// Something to tell the person.
    Warn(String),
}

impl LocalView {
    /// Checks the list the relay serves for `info` against the owner this device knows, and
    /// against the list it kept before: a list's serial never goes back, and the same serial
    /// never comes with other content.
    pub(crate) fn check(&self, info: &DocumentInfo, bytes: &[u8]) -> Result<Checked, SharingError> {
        let id = info.doc;
        let bad = |source| SharingError::BadMembership {
            doc: id.to_string(),
            source,
        };
        let list = SignedMembership::from_bytes(bytes).map_err(bad)?;
        let known = match self
            .documents
            .get(&id)
            .and_then(|d| d.membership.as_deref())
        {
            Some(bytes) => Some(SignedMembership::from_bytes(bytes).map_err(bad)?),
            None => None,
        };
        let owner = match &known {
            Some(known) => known.owner(),
            // A client's documents are their own.
            None if self.role == Role::Client => self.me,
            // A document shared with a therapist: pin its owner now, on first sight (the
            // safety numbers of `between whois` let both compare it out of band).
            None => list.owner(),
        };
        list.verify(&owner, info.doc).map_err(bad)?;
        if let Some(previous) = &known {
            if list.serial() != previous.serial() {
                list.check_follows(previous).map_err(bad)?;
            } else if &list != previous {
                return Err(bad(MembershipError::Rollback {
                    seen: previous.serial(),
                    got: list.serial(),
                }));
            }
        }
        Ok(Checked { list, owner })
    }

    /// Whose account to look up for a checked list, if anyone's: `Some(None)` is the relay's
    /// answer for "the other member" (the inviter, for a client's own document), `Some(Some(id))`
    /// the owner's account (for a document shared with this account).
    pub(crate) fn peer_to_ask(
        &self,
        info: &DocumentInfo,
        checked: &Checked,
    ) -> Option<Option<AccountId>> {
        if checked.list.role_of(&self.me).is_none() || checked.list.members().len() < 2 {
            return None;
        }
        Some((checked.owner != self.me).then_some(info.owner))
    }

    /// Whether to ask the relay if `peer` still shares this account's document: only the owner
    /// asks, and only about someone on the list.
    pub(crate) fn asks_whether_still_shared(
        &self,
        checked: &Checked,
        peer: &IdentityPublic,
    ) -> bool {
        checked.owner == self.me && checked.list.role_of(peer).is_some()
    }

    /// What to do about one document the relay lists for this account, its list checked and
    /// the other member looked up when [`Self::peer_to_ask`] asked for it.
    pub(crate) fn steps(
        &self,
        info: &DocumentInfo,
        checked: &Checked,
        peer: Option<Peer>,
    ) -> Result<Vec<Step>, SharingError> {
        let id = info.doc;
        let local = self.documents.get(&id);
        let list = &checked.list;
        if list.role_of(&self.me).is_none() {
            // This account was removed from the document; the relay refuses it from now on.
            return Ok(self.end(id).into_iter().collect());
        }
        let mut steps = Vec::new();
        let mut recipients = Vec::new();
        if let Some(peer) = peer {
            if self.asks_whether_still_shared(checked, &peer.identity) && !peer.still_shared {
                return Ok(vec![Step::Rotate {
                    id,
                    without: peer.identity,
                }]);
            }
            if list.role_of(&peer.identity).is_some() && peer.identity != self.me {
                let (devices, ignored) = vouched(list, &peer.devices);
                steps.extend(ignored.into_iter().map(Step::Warn));
                steps.push(Step::RecordPeers {
                    account: peer.account,
                    devices: devices.clone(),
                });
                recipients = devices;
            }
        }
        let Some(local) = local else {
            steps.push(Step::Receive {
                info: info.clone(),
                list: list.clone(),
            });
            return Ok(steps);
        };
        let Some(epoch) = local.epoch else {
            return Err(SharingError::Profile(format!(
                "the document {id} does not sync"
            )));
        };
        steps.push(Step::Keep {
            id,
            list: list.clone(),
            sharing_ended: sharing_ended(local.membership.as_deref(), list),
        });
        if list.epoch() > epoch {
            steps.push(Step::CatchUp {
                info: info.clone(),
                owner: checked.owner,
                epoch: list.epoch(),
            });
        }
        if checked.owner == self.me {
            if epoch > list.epoch() {
                // A removal on this device made a new key but did not announce it: finish it
                // with the command (which knows whom to leave out), not by guessing here.
                steps.push(Step::Warn(format!(
                    "a removal started on this device did not finish for {id}; run `between therapist remove` or `between device remove` again"
                )));
                return Ok(steps);
            }
            let mut all = self.own_devices.clone();
            all.extend(recipients);
            steps.push(Step::Wrap {
                id,
                recipients: all,
            });
        }
        Ok(steps)
    }

    /// The documents shared with this account that the relay no longer lists (`listed`): the
    /// owner removed this account, or deleted the document. This account's own documents stay.
    pub(crate) fn unlisted(&self, listed: &HashSet<DocId>) -> Result<Vec<Step>, SharingError> {
        let mut steps = Vec::new();
        let mut ids: Vec<&DocId> = self.documents.keys().collect();
        ids.sort();
        for id in ids {
            let doc = &self.documents[id];
            if listed.contains(id) || doc.kind != DocumentKind::Shared {
                continue;
            }
            let Some(bytes) = &doc.membership else {
                continue;
            };
            let list = SignedMembership::from_bytes(bytes).map_err(|source| {
                SharingError::BadMembership {
                    doc: doc.label.clone(),
                    source,
                }
            })?;
            if list.owner() != self.me {
                steps.extend(self.end(*id));
            }
        }
        Ok(steps)
    }

    /// Stop syncing `id`, if this device stores it and still syncs it.
    fn end(&self, id: DocId) -> Option<Step> {
        let doc = self.documents.get(&id)?;
        doc.epoch.map(|_| Step::End {
            id,
            label: doc.label.clone(),
        })
    }
}

/// The certificates among `devices` that `list` vouches for; the others are left out, each
/// with a sentence saying why.
pub(crate) fn vouched(
    list: &SignedMembership,
    devices: &[DeviceInfo],
) -> (Vec<Certificate>, Vec<String>) {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for info in devices {
        let checked = DeviceCertificate::from_bytes(&info.certificate)
            .map_err(MembershipError::from)
            .and_then(|cert| {
                if cert.device_id() == info.device {
                    list.vouch_for(&cert).map(|()| cert)
                } else {
                    Err(MembershipError::NotAMemberDevice {
                        device: cert.device_id(),
                        why: "the relay filed it under another device id",
                    })
                }
            });
        match checked {
            Ok(cert) => out.push((cert, info.certificate.clone())),
            Err(err) => ignored.push(format!(
                "ignored device {} the relay listed: {err}",
                info.device
            )),
        }
    }
    (out, ignored)
}

/// The certificates among `stored` (this account's devices, as the store keeps them) that
/// `identity` signed, without this device's own.
pub(crate) fn own_devices(
    stored: impl IntoIterator<Item = Vec<u8>>,
    identity: &IdentityPublic,
    this_device: DeviceId,
) -> Vec<Certificate> {
    stored
        .into_iter()
        .filter_map(|bytes| {
            let cert = DeviceCertificate::from_bytes(&bytes).ok()?;
            (cert.verify_owner(identity).is_ok() && cert.device_id() != this_device)
                .then_some((cert, bytes))
        })
        .collect()
}

/// Whether keeping `list` ends sharing with a therapist: the list kept before (`before`) had
/// one and this one has none.
pub(crate) fn sharing_ended(before: Option<&[u8]>, list: &SignedMembership) -> bool {
    let has_therapist =
        |list: &SignedMembership| list.members().iter().any(|m| m.role == Role::Therapist);
    let had_therapist = before
        .and_then(|bytes| SignedMembership::from_bytes(bytes).ok())
        .is_some_and(|before| has_therapist(&before));
    had_therapist && !has_therapist(list)
}
